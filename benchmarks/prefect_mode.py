"""Prefect mode side by side: one suite of N flow tests of unchanged Prefect code.

The suite, written in a temporary directory: ``flows.py`` defines a Prefect
flow of three tasks (``from prefect import flow, task``), ``conftest.py``
enters ``prefect_test_harness()`` once per session (Prefect's documented way
to test flows), and N tests each call the flow and check its result.

- **Prefect mode**: ``pytest --flow-prefect`` on that suite, in this
  interpreter's environment (prefect is not installed there: flowcore serves
  it, and the harness does nothing).
- **Real Prefect** (optional): the same suite in the venv named by
  ``BENCHMARK_PREFECT_VENV`` (e.g. ``/work/prefect/p3``), with its pytest if
  it has one, else a minimal runner that enters the harness once and calls
  every ``test_*`` function (that venv then needs no pytest). Without the
  variable the row is skipped with a note.

    BENCHMARK_PREFECT_VENV=/work/prefect/p3 python -m benchmarks --only prefect_mode
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import Sample
from benchmarks.report import Row, Section
from benchmarks.workload import Sizes

__all__ = ["VENV_VARIABLE", "run", "write_suite"]

VENV_VARIABLE = "BENCHMARK_PREFECT_VENV"
SESSION_TIMEOUT = 600.0

FLOWS = """
from prefect import flow, task


@task
def double(x):
    return 2 * x


@task
def add(x, y):
    return x + y


@flow
def pipeline(x):
    return add(double(x), x + 1)
"""

CONFTEST = """
import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(autouse=True, scope="session")
def prefect_backend():
    with prefect_test_harness():
        yield
"""

# Runs the suite without pytest: the harness once, then every test function.
MINIMAL_RUNNER = """
import importlib, pathlib, sys
from prefect.testing.utilities import prefect_test_harness

sys.path.insert(0, ".")
with prefect_test_harness():
    for path in sorted(pathlib.Path(".").glob("test_*.py")):
        module = importlib.import_module(path.stem)
        for name in sorted(vars(module)):
            if name.startswith("test_"):
                getattr(module, name)()
"""


def write_suite(directory: Path, tests: int) -> None:
    """``flows.py``, ``conftest.py`` and ``tests`` tests in files of 20."""
    (directory / "flows.py").write_text(FLOWS)
    (directory / "conftest.py").write_text(CONFTEST)
    (directory / "run_without_pytest.py").write_text(MINIMAL_RUNNER)
    for first in range(0, tests, 20):
        body = "".join(
            f"\n\ndef test_pipeline_{i}():\n    assert pipeline({i}) == {3 * i + 1}\n"
            for i in range(first, min(first + 20, tests))
        )
        (directory / f"test_flows_{first // 20}.py").write_text(
            f"from flows import pipeline\n{body}"
        )


def timed(command: list[str], directory: Path) -> float:
    """Seconds ``command`` takes in ``directory``; RuntimeError with its output if it fails."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    clean.update(PREFECT_HOME=str(directory / ".prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    start = time.perf_counter()
    completed = subprocess.run(
        command, cwd=directory, capture_output=True, text=True, env=clean,
        timeout=SESSION_TIMEOUT, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr)[-600:]
        raise RuntimeError(f"{' '.join(command)} failed:\n{output}")
    return seconds


def prefect_command(venv: Path) -> list[str]:
    python = venv / "bin" / "python"
    if (venv / "bin" / "pytest").exists():
        return [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    return [str(python), "run_without_pytest.py"]


def run(sizes: Sizes) -> Section:
    section = Section("prefect_mode", "Prefect mode: N flow tests of unchanged Prefect code")
    tests, repeats = sizes.suite_tests, max(1, sizes.suite_repeats)
    with tempfile.TemporaryDirectory(prefix="prefect-mode-bench-") as name:
        directory = Path(name)
        write_suite(directory, tests)
        mode = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--flow-prefect"]
        ours = Sample.of(timed(mode, directory) for _ in range(repeats))
        venv = os.environ.get(VENV_VARIABLE)
        if not venv:
            section.rows.append(Row(f"pytest --flow-prefect, {tests} tests", "s", ours))
            section.notes.append(
                f"real Prefect side skipped: set {VENV_VARIABLE}=<venv with prefect>"
            )
            return section
        theirs = Sample.of(timed(prefect_command(Path(venv)), directory) for _ in range(repeats))
    section.rows.append(
        Row(f"prefect_test_harness() + real Prefect, {tests} tests", "s", theirs,
            f"pytest --flow-prefect, {tests} tests", ours)
    )  # fmt: skip
    return section
