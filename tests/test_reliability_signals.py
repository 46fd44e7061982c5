"""Ctrl-C, for real: SIGINT to a process whose flow is stuck in its task runs.

A terminal sends SIGINT to the whole foreground process group, so the tests
do too. Whatever the runner and the flow kind, the process must end within
`BOUND_SECONDS` of the signal, with the flow run and its task runs CRASHED,
KeyboardInterrupt reported, no second Ctrl-C needed, and no process of its
own (a Dask worker, say) left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

BOUND_SECONDS = 2.0
SURVIVOR_GRACE_SECONDS = 5.0
SCRIPT = Path(__file__).with_name("interrupted_flow.py")
RUNNERS = ["sequential", "concurrent", "async", "dask", "deterministic"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        cwd=Path(__file__).parent.parent,
    )


def _wait_for_line(process: subprocess.Popen[str], wanted: str, seconds: float) -> list[str]:
    """Lines of stdout up to one containing ``wanted``; fails after ``seconds``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if wanted in line:
            return lines
    pytest.fail(f"no {wanted!r} within {seconds}s; got {lines!r}")


def _interrupt_and_time(process: subprocess.Popen[str]) -> tuple[float, str, str]:
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    time.sleep(0.3)  # let every body get going
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    try:
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    elapsed = time.monotonic() - sent
    # Helpers such as multiprocessing's resource tracker end when they see their parent
    # gone: give them a moment, then nothing of the family may be left.
    _, alive = psutil.wait_procs(family[1:], timeout=SURVIVOR_GRACE_SECONDS)
    survivors = [f"{p.pid} {_command(p)}" for p in alive if _running(p)]
    assert not survivors, f"left behind: {survivors}"
    return elapsed, out, err


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())[:200]
    except psutil.Error:
        return "?"


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("runner_name", RUNNERS)
def test_ctrl_c_stops_a_stuck_flow_at_once(runner_name: str, kind: str) -> None:
    if runner_name == "dask":
        pytest.importorskip("distributed")
    process = _start(str(SCRIPT), runner_name, kind)
    try:
        before = _wait_for_line(process, "started", 60)
        elapsed, out, err = _interrupt_and_time(process)
    finally:
        process.kill()
        process.wait()
    finals = [line.split() for line in before + out.splitlines() if line.startswith("final")]
    assert elapsed < BOUND_SECONDS, f"exited {elapsed:.2f}s after SIGINT\n{err[-3000:]}"
    assert "KeyboardInterrupt" in err, err[-3000:]
    assert ["final", "flow", finals[-1][2], "CRASHED"] == finals[-1], finals
    task_finals = {name: state for _, kind_, name, state in finals if kind_ == "task"}
    # In a sync flow the sequential runner runs each task as it is submitted: the second
    # never starts.
    only_first = runner_name == "sequential" and kind == "sync"
    expected = {"stuck-0"} if only_first else {"stuck-0", "stuck_async-0"}
    assert set(task_finals) == expected, finals
    assert set(task_finals.values()) == {"CRASHED"}, finals


def test_ctrl_c_stops_a_pytest_run_stuck_in_a_flow(tmp_path: Path) -> None:
    test_file = tmp_path / "test_stuck.py"
    test_file.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(SCRIPT.parent)!r})\n"
        "from interrupted_flow import main\n"
        "def test_stuck():\n"
        "    main('concurrent', 'sync')\n"
    )
    process = _start(
        "-m", "pytest", "-s", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", str(test_file)
    )
    try:
        _wait_for_line(process, "started", 60)
        elapsed, out, _ = _interrupt_and_time(process)
    finally:
        process.kill()
        process.wait()
    assert elapsed < BOUND_SECONDS, f"pytest exited {elapsed:.2f}s after SIGINT\n{out[-3000:]}"
    assert "KeyboardInterrupt" in out, out[-3000:]
    assert process.returncode == 2, out[-3000:]  # pytest's "interrupted"
