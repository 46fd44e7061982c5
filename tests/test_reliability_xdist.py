"""pytest-xdist with the Dask runner, timelines written to one directory and the leak check
all at once: each worker gets its own cluster (no port shared), every test its own files
(no name shared, even for same-named tests in two modules), nothing is left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("xdist")

MODULE = """
import json
import os
from pathlib import Path

import pytest
from flowcore import flow, task


@task
def square(x):
    return x * x


@flow
def squares(n):
    return [square(x) for x in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_squares(n, flow_runner, dask_cluster, request):
    assert squares(n) == [x * x for x in range(n)]
    record = {
        "test": request.node.nodeid,
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "scheduler": dask_cluster.scheduler_address,
        "runner": flow_runner.name,
    }
    name = request.node.nodeid.replace("/", "_").replace(":", "_").replace("[", "_").strip("]")
    Path(os.environ["RECORDS_DIR"], name + ".json").write_text(json.dumps(record))
"""


def test_xdist_dask_and_timeline_dir_have_no_port_or_file_clash(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = pytester.path / "records"
    records.mkdir()
    monkeypatch.setenv("RECORDS_DIR", str(records))
    pytester.makepyfile(test_alpha=MODULE, test_beta=MODULE)
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--flow-runner=dask",
        "--flow-timeline-dir=timelines",
        "--flow-timeline=all",
        "--flow-check-leaks",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=6)

    seen = [json.loads(path.read_text()) for path in records.iterdir()]
    assert len(seen) == 6
    assert {record["runner"] for record in seen} == {"dask"}
    schedulers: dict[str, set[str]] = {}
    for record in seen:
        schedulers.setdefault(record["worker"], set()).add(record["scheduler"])
    assert len(schedulers) == 2, "the tests did not spread over both xdist workers"
    assert all(len(addresses) == 1 for addresses in schedulers.values())
    addresses = [next(iter(found)) for found in schedulers.values()]
    assert len(set(addresses)) == 2, f"the xdist workers shared a scheduler port: {addresses}"

    written = sorted(path.name for path in (pytester.path / "timelines").iterdir())
    assert len(written) == 12  # a trace and a picture per test, none overwritten
    assert len(set(written)) == 12
    for module in ("test_alpha", "test_beta"):
        for n in (1, 2, 3):
            assert f"{module}.py__test_squares-{n}.trace.json" in written
            assert f"{module}.py__test_squares-{n}.html" in written
    for name in written:
        if name.endswith(".json"):
            trace = json.loads(Path(pytester.path, "timelines", name).read_text())
            assert trace["traceEvents"]
