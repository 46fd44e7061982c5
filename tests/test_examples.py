"""The seed's two examples, run as scripts, behave as the seed says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, timeout: float) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=EXAMPLES,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_async_example_prints_the_gathered_tasks_interleaved():
    output = _run("async_flow.py", timeout=60)
    assert output == "1 2 a 6 b 7 c 8 d 9 "


def _run_output(script: str, timeout: float) -> str:
    """Run ``script`` (killed after ``timeout`` seconds); its standard output."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=EXAMPLES,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0
    finally:
        process.kill()
        process.wait()
    return output.decode()


@pytest.fixture(scope="module")
def parallel_output() -> str:
    """The parallel example's output, run once for the tests that read it."""
    pytest.importorskip("distributed")
    return _run_output("parallel_flow.py", timeout=120)


def test_parallel_example_runs_both_tasks_at_the_same_time(parallel_output: str):
    output = parallel_output
    # Two worker processes write to one pipe: a value and its "\r" are separate
    # writes, so another process's value may land between them.
    assert output.count("AAAA") == 15
    assert output.count("BBBB") == 10
    # The order of the output shows the overlap, whatever the machine's load: one
    # after the other, all of one task's values would come before the other's.
    assert output.index("BBBB") < output.rindex("AAAA")
    assert output.index("AAAA") < output.rindex("BBBB")


def test_parallel_example_ends_its_output_with_a_newline(parallel_output: str):
    assert parallel_output.endswith("\r\n")  # the shell's prompt starts on a line of its own
