"""Prefect 2 flow scripts run with only their import lines changed, and behave as under Prefect 2.

The scripts in ``prefect_scripts/`` are written for Prefect 2; each test
rewrites their imports (``prefect`` and ``prefect_dask`` -> ``flowcore``),
runs them as scripts, and compares their output with what Prefect 2 prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent / "prefect_scripts"
IMPORTS = {
    "from prefect_dask import": "from flowcore.task_runners import",
    "from prefect.task_runners import": "from flowcore.task_runners import",
    "from prefect import": "from flowcore import",
}


def to_flowcore(source: str) -> str:
    """The script with its Prefect import lines pointed at flowcore, nothing else changed."""
    lines = []
    for line in source.splitlines(keepends=True):
        for prefect, flowcore in IMPORTS.items():
            if line.startswith(prefect + " "):
                line = line.replace(prefect, flowcore, 1)
        lines.append(line)
    return "".join(lines)


def run_script(name: str, tmp_path: Path, *args: str) -> list[str]:
    source = (SCRIPTS / name).read_text()
    rewritten = to_flowcore(source)
    changed = [
        (old, new)
        for old, new in zip(source.splitlines(), rewritten.splitlines(), strict=True)
        if old != new
    ]
    assert changed
    assert all(old.startswith("from prefect") for old, _ in changed)
    script = tmp_path / name
    script.write_text(rewritten)
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


@pytest.mark.parametrize("runner", ["sequential", "concurrent", "dask"])
def test_pipeline_script_gives_prefect_2_results_states_and_exceptions(runner, tmp_path):
    if runner == "dask":
        pytest.importorskip("distributed")
    output = run_script("pipeline.py", tmp_path, runner, str(tmp_path / "attempts"))
    assert output == [
        "{'squares': [0, 1, 4, 9], 'shifted': [10, 11, 14, 19], 'retried': 'ok after 3', "
        "'sum': 14}",
        "True 1/2 states failed.",
        "True 9 True",
        "raised ValueError('extraction failed')",
    ]


def test_async_script_gives_prefect_2_output(tmp_path):
    output = run_script("async_pipeline.py", tmp_path)
    assert output == [
        "fetched a",
        "fetched fast",
        "fetched slow",
        "A-SLOW-FAST",
        "fetched ok",
        "True 1/2 states failed.",
    ]


def test_rewriting_touches_only_prefect_imports():
    source = "from prefect import flow\nfrom prefect_dask import DaskTaskRunner\nx = 'prefect'\n"
    assert to_flowcore(source) == (
        "from flowcore import flow\nfrom flowcore.task_runners import DaskTaskRunner\n"
        "x = 'prefect'\n"
    )
