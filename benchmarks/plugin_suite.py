"""Plugin overhead: a generated suite of small flow tests under each ``--flow-runner``.

In a temporary directory, two suites of the same tests are written:

- ``test_flows_*.py``: each test calls a flow of three tasks and checks its result;
- ``test_direct_*.py``: each test calls the same functions, undecorated.

Each is timed as a whole ``pytest -p no:cacheprovider -q`` session in a fresh
interpreter, without the caller's ``PYTEST_*`` environment variables: the
direct suite, the flow suite with its declared runner, and the flow suite
under ``--flow-runner=NAME`` for every runner. A runner the
plugin does not accept yet (a usage error) is reported as unavailable. Under
``dask``, a generated conftest counts the LocalClusters started: the plugin
should start one per session, never one per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import Sample
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes

__all__ = ["run", "write_suite"]

TESTS_PER_FILE = 20

FUNCTIONS = '''
def add(x, y):
    return x + y


def double(x):
    return 2 * x


def combine(a, b):
    return a + b
'''

FLOWS = f'''
from flowcore import flow, task
{FUNCTIONS}

add, double, combine = task(add), task(double), task(combine)


@flow
def pipeline(x):
    return combine(add(x, 1), double(x))
'''

DIRECT = f'''{FUNCTIONS}

def pipeline(x):
    return combine(add(x, 1), double(x))
'''

CONFTEST = '''
import os

import pytest

if os.environ.get("BENCH_CLUSTER_COUNT_FILE"):
    import distributed

    _init = distributed.LocalCluster.__init__

    def _counting_init(self, *args, **kwargs):
        with open(os.environ["BENCH_CLUSTER_COUNT_FILE"], "a") as out:
            out.write("started\\n")
        _init(self, *args, **kwargs)

    distributed.LocalCluster.__init__ = _counting_init


@pytest.fixture(scope="session")
def raw_dask_client():
    """A client of a cluster like the plugin's session one: what Dask itself costs."""
    from pytest_flows.plugin.dask_session import DaskSession

    session = DaskSession(None)
    yield session.client
    session.close()
'''


RAW_DASK_TEST = """

def test_pipeline_{i}(raw_dask_client):
    first = raw_dask_client.submit(add, {i}, 1, pure=False)
    second = raw_dask_client.submit(double, {i}, pure=False)
    assert raw_dask_client.submit(combine, first, second, pure=False).result() == {result}
"""


def write_suite(directory: Path, tests: int) -> None:
    """Write ``tests`` flow tests, as many direct tests, and as many tests submitting the
    same functions to Dask themselves (``test_rawdask_*``) into ``directory``."""
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "conftest.py").write_text(CONFTEST)
    (directory / "flows_under_test.py").write_text(FLOWS)
    (directory / "functions_under_test.py").write_text(DIRECT)
    for kind, module in (("flows", "flows_under_test"), ("direct", "functions_under_test")):
        for first in range(0, tests, TESTS_PER_FILE):
            numbers = range(first, min(first + TESTS_PER_FILE, tests))
            body = "".join(
                f"\n\ndef test_pipeline_{i}():\n    assert pipeline({i}) == {3 * i + 1}\n"
                for i in numbers
            )
            path = directory / f"test_{kind}_{first // TESTS_PER_FILE}.py"
            path.write_text(f"from {module} import pipeline\n{body}")
    for first in range(0, tests, TESTS_PER_FILE):
        numbers = range(first, min(first + TESTS_PER_FILE, tests))
        body = "".join(RAW_DASK_TEST.format(i=i, result=3 * i + 1) for i in numbers)
        path = directory / f"test_rawdask_{first // TESTS_PER_FILE}.py"
        path.write_text(f"from functions_under_test import add, combine, double\n{body}")


def pytest_session(
    directory: Path, selection: str, *options: str, env: dict[str, str] | None = None
) -> tuple[float, str]:
    """Seconds one pytest session on ``test_<selection>_*`` takes, and its output on failure."""
    files = sorted(str(path) for path in directory.glob(f"test_{selection}_*.py"))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *options, *files]
    start = time.perf_counter()
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    completed = subprocess.run(
        command, cwd=directory, capture_output=True, text=True, env={**clean, **(env or {})}
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        return seconds, (completed.stdout + completed.stderr)[-600:]
    return seconds, ""


def runner_rows(directory: Path, sizes: Sizes, direct: Sample, section: Section) -> None:
    for name in sizes.suite_runners:
        _, failure = pytest_session(directory, "flows", f"--flow-runner={name}", "--co")
        if failure:
            first_line = failure.strip().splitlines()[-1] if failure.strip() else "?"
            section.notes.append(f"--flow-runner={name}: unavailable ({first_line})")
            continue
        if name == "dask":
            dask_rows(directory, sizes, section)
            continue
        seconds = []
        for _ in range(sizes.suite_repeats):
            took, failure = pytest_session(directory, "flows", f"--flow-runner={name}")
            if failure:
                section.notes.append(f"--flow-runner={name}: tests failed: {failure!r}")
                break
            seconds.append(took)
        if seconds:
            section.rows.append(
                Row(f"{sizes.suite_tests} flow tests, --flow-runner={name}", "s",
                    Sample.of(seconds), "direct calls", direct)
            )  # fmt: skip


def dask_rows(directory: Path, sizes: Sizes, section: Section) -> None:
    """The dask session against the direct one timed in turns, and what bounds it: the same
    sessions with one test selected (cluster start and close, imports, collection), the
    cost of each further test, and tests submitting the same functions to a cluster like
    the session's themselves (Dask's own cost). A generated conftest counts the
    LocalClusters started."""
    count_file = directory / "clusters-dask.txt"
    env = {"BENCH_CLUSTER_COUNT_FILE": str(count_file)}
    one = ("-k", "test_pipeline_0")
    times: dict[str, list[float]] = {
        key: [] for key in ("direct", "dask", "rawdask", "direct 1", "dask 1", "rawdask 1")
    }
    for _ in range(sizes.suite_repeats):
        count_file.unlink(missing_ok=True)
        times["direct"].append(pytest_session(directory, "direct")[0])
        took, failure = pytest_session(directory, "flows", "--flow-runner=dask", env=env)
        if failure:
            section.notes.append(f"--flow-runner=dask: tests failed: {failure!r}")
            return
        times["dask"].append(took)
        took, failure = pytest_session(directory, "rawdask")
        if failure:
            section.notes.append(f"raw Dask tests failed: {failure!r}")
            return
        times["rawdask"].append(took)
        times["direct 1"].append(pytest_session(directory, "direct", *one)[0])
        times["dask 1"].append(pytest_session(directory, "flows", "--flow-runner=dask", *one)[0])
        times["rawdask 1"].append(pytest_session(directory, "rawdask", *one)[0])
    sample = {key: Sample.of(values) for key, values in times.items()}
    further = sizes.suite_tests - 1
    per_test = {
        side: Sample.of(
            [(whole - first) * 1e3 / further
             for whole, first in zip(times[side], times[f"{side} 1"], strict=True)]
        )
        for side in ("direct", "dask", "rawdask")
    }  # fmt: skip
    started = len(count_file.read_text().splitlines()) if count_file.exists() else 0
    section.rows.extend([
        Row(f"{sizes.suite_tests} flow tests, --flow-runner=dask", "s", sample["dask"],
            "direct calls", sample["direct"], Goal("ratio_at_most", 2.5, "≤ 2.5x")),
        Row("1 flow test of those, --flow-runner=dask (cluster start and close)", "s",
            sample["dask 1"], "direct calls", sample["direct 1"]),
        Row("each further flow test, --flow-runner=dask", "ms", per_test["dask"],
            "direct calls", per_test["direct"]),
        Row(f"{sizes.suite_tests} tests submitting the same 3 functions to Dask themselves", "s",
            sample["rawdask"], "direct calls", sample["direct"]),
        Row("each further flow test, --flow-runner=dask / the same test on Dask itself", "ms",
            per_test["dask"], "raw Dask", per_test["rawdask"]),
        Row("LocalCluster starts per session, --flow-runner=dask", "clusters",
            Sample.of([started]), goal=Goal("at_most", 1, "≤ 1")),
    ])  # fmt: skip


def run(sizes: Sizes) -> Section:
    section = Section("plugin", "pytest sessions: generated flow tests vs direct calls")
    with tempfile.TemporaryDirectory(prefix="flow-suite-") as name:
        directory = Path(name)
        write_suite(directory, sizes.suite_tests)
        direct_times, flow_times = [], []
        for _ in range(sizes.suite_repeats):
            took, failure = pytest_session(directory, "direct")
            direct_times.append(took)
            took, failure = pytest_session(directory, "flows")
            if failure:
                section.notes.append(f"flow suite failed: {failure!r}")
                return section
            flow_times.append(took)
        direct = Sample.of(direct_times)
        section.rows.append(
            Row(f"{sizes.suite_tests} flow tests, declared runner", "s", Sample.of(flow_times),
                "direct calls", direct)
        )  # fmt: skip
        runner_rows(directory, sizes, direct, section)
    section.notes.append(
        "whole sessions in fresh interpreters, start-up included; the dask session includes "
        "starting its LocalCluster"
    )
    return section
