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


def test_parallel_example_runs_both_tasks_at_the_same_time():
    pytest.importorskip("distributed")
    output, elapsed = _run("parallel_flow.py", timeout=120)
    values = output.split()  # "\r"-separated; text mode turns them into newlines
    assert values.count("AAAA") == 15
    assert values.count("BBBB") == 10
    last_a = len(values) - 1 - values[::-1].index("AAAA")
    assert values.index("BBBB") < last_a  # the two tasks' output interleaves
    assert elapsed < 11  # well under the 12.5 s the two tasks take one after the other
