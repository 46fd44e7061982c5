"""The seed's two examples, run as scripts, behave as the seed says."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=EXAMPLES,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, elapsed


def test_async_example_prints_the_gathered_tasks_interleaved():
    output, _ = _run("async_flow.py", timeout=60)
    assert output == "1 2 a 6 b 7 c 8 d 9 "


def _run_timing_output(script: str, timeout: float) -> tuple[str, float, float]:
    """Run ``script``; its output, its wall time, and the time from its first output to its last."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=EXAMPLES,
    )
    assert process.stdout is not None
    chunks: list[bytes] = []
    first = last = 0.0
    try:
        while chunk := process.stdout.read1(4096):
            last = time.monotonic()
            first = first or last
            chunks.append(chunk)
            assert last - started < timeout, "the example did not finish in time"
        assert process.wait(timeout=timeout) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    return b"".join(chunks).decode(), time.monotonic() - started, last - first


def test_parallel_example_runs_both_tasks_at_the_same_time():
    pytest.importorskip("distributed")
    output, elapsed, printing = _run_timing_output("parallel_flow.py", timeout=120)
    # Two worker processes write to one pipe: a value and its "\r" are separate
    # writes, so another process's value may land between them.
    assert output.count("AAAA") == 15
    assert output.count("BBBB") == 10
    assert output.index("BBBB") < output.rindex("AAAA")  # the two tasks' output interleaves
    # One after the other the tasks take 12.5 s; side by side 7.5 s. The first
    # bound leaves out the cluster's start, which a busy machine can slow down.
    assert printing < 9.5
    assert elapsed < 20
