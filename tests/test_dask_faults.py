"""Dask peers that stop answering, and cancelling while a task is busy: bounded, never a hang.

A frozen process (SIGSTOP) keeps its connections open, so nothing errors: the
runner's watchdog must notice within ``heartbeat_timeout``. These tests
freeze real processes: a ``dask scheduler`` and a ``dask worker`` (no
nanny, so the worker is the process frozen) started as subprocesses, one
pair per test since a frozen one cannot be reused; each is killed in a
finally.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
psutil = pytest.importorskip("psutil")

from flowcore import FlowcoreUsageError, StateType, flow, task  # noqa: E402
from flowcore.context import current_flow_run  # noqa: E402
from flowcore.task_runners import DaskTaskRunner  # noqa: E402

HEARTBEAT_TIMEOUT = 2.0
# Generous: the machine is shared and loaded; the point is "bounded", not "fast".
DETECTION_BOUND_SECONDS = HEARTBEAT_TIMEOUT + 15
FLOW_BOUND_SECONDS = 90
WORKER_FLAGS = ("--no-nanny", "--no-dashboard")


@task
def nap(directory: str) -> int:
    """Reports its process id, then sleeps far longer than any test waits."""
    Path(directory, "pid.tmp").write_text(str(os.getpid()))
    Path(directory, "pid.tmp").rename(Path(directory, "pid"))
    time.sleep(30)
    return 1


@task
def after(value: int) -> int:
    return value + 1


@pytest.fixture(autouse=True)
def _ship_this_module() -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _end(process: subprocess.Popen[bytes]) -> None:
    """Kill a process, frozen or not (SIGKILL ends a stopped process too)."""
    process.kill()
    process.wait(timeout=30)


@pytest.fixture
def scheduler_and_worker(
    tmp_path: Path,
) -> Iterator[tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """A ``dask scheduler`` and one single-threaded ``dask worker`` with no nanny."""
    dask_command = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet: dict[str, Any] = {
        "cwd": tmp_path,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
    }
    scheduler = subprocess.Popen(
        [dask_command, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        **quiet,
    )
    worker = subprocess.Popen(
        [dask_command, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", *WORKER_FLAGS],
        **quiet,
    )
    try:
        with distributed.Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=FLOW_BOUND_SECONDS)
        yield address, scheduler, worker
    finally:
        _end(worker)
        _end(scheduler)


def _when_running(directory: Path, then: Callable[[int], None]) -> concurrent.futures.Future[float]:
    """On a thread: once ``nap`` reports its pid, call ``then(pid)``; the future gives when."""

    def wait_then_act() -> float:
        deadline = time.monotonic() + FLOW_BOUND_SECONDS
        while not (directory / "pid").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the task never started")
            time.sleep(0.02)
        then(int((directory / "pid").read_text()))
        return time.monotonic()

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="freezer")
    future = pool.submit(wait_then_act)
    pool.shutdown(wait=False)
    return future


def _bounded(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()`` and when it returned, failing the test if it takes far too long."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            value = future.result(timeout=FLOW_BOUND_SECONDS)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"the flow did not end within {FLOW_BOUND_SECONDS}s")
        return value, time.monotonic()


def _nap_then_after(runner: DaskTaskRunner, directory: Path) -> Any:
    @flow(task_runner=runner)
    def pipeline() -> Any:
        first = nap.submit(str(directory))
        return first.wait(), after.submit(first).wait()

    return pipeline


def test_a_frozen_scheduler_crashes_the_waiting_runs_naming_it_within_the_bound(
    scheduler_and_worker: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    address, scheduler, _ = scheduler_and_worker
    runner = DaskTaskRunner(address=address, heartbeat_timeout=HEARTBEAT_TIMEOUT)
    pipeline = _nap_then_after(runner, tmp_path)
    frozen = _when_running(tmp_path, lambda _pid: os.kill(scheduler.pid, signal.SIGSTOP))

    state, ended = _bounded(lambda: pipeline(return_state=True))

    assert ended - frozen.result(timeout=1) < DETECTION_BOUND_SECONDS
    assert state.type is not StateType.COMPLETED
    for run_state in state.result(raise_on_failure=False):
        assert run_state.type is StateType.CRASHED
        assert f"the Dask scheduler at '{address}' did not answer for 2 s" in run_state.message


def test_a_frozen_worker_crashes_its_run_naming_it_and_the_downstream_never_runs(
    scheduler_and_worker: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    tmp_path: Path,
    events: Any,
) -> None:
    address, _, worker = scheduler_and_worker
    runner = DaskTaskRunner(address=address, heartbeat_timeout=HEARTBEAT_TIMEOUT)
    pipeline = _nap_then_after(runner, tmp_path)
    frozen = _when_running(tmp_path, lambda pid: os.kill(pid, signal.SIGSTOP))

    state, ended = _bounded(lambda: pipeline(return_state=True))

    assert ended - frozen.result(timeout=1) < DETECTION_BOUND_SECONDS
    assert int((tmp_path / "pid").read_text()) == worker.pid
    napped, downstream = state.result(raise_on_failure=False)
    assert napped.type is StateType.CRASHED
    assert "the Dask worker at 'tcp://127.0.0.1:" in napped.message
    assert "stopped answering: no heartbeat for 2 s (heartbeat_timeout)" in napped.message
    assert downstream.name == "NotReady"
    assert "'nap-0'" in downstream.message
    assert events.state_names("after-0") == ["Pending", "NotReady"]


def test_a_frozen_scheduler_does_not_hold_up_shutdown_with_cancel(
    scheduler_and_worker: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    address, scheduler, _ = scheduler_and_worker
    seen: dict[str, Any] = {}

    @flow(task_runner=DaskTaskRunner(address=address))  # the default heartbeat_timeout
    def pipeline() -> None:
        napping = nap.submit(str(tmp_path))
        _when_running(tmp_path, lambda _pid: os.kill(scheduler.pid, signal.SIGSTOP)).result(
            timeout=FLOW_BOUND_SECONDS
        )
        runner = current_flow_run().runner
        started = time.monotonic()
        runner.shutdown(cancel=True)
        seen["took"] = time.monotonic() - started
        seen["nap"] = napping.wait(timeout=FLOW_BOUND_SECONDS)

    _bounded(lambda: pipeline(return_state=True))
    assert seen["took"] < 2
    assert seen["nap"].type is StateType.CANCELLED


def test_shutdown_with_cancel_kills_busy_worker_processes_at_once(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 1}))
    def pipeline() -> None:
        runner = current_flow_run().runner
        seen["workers"] = [psutil.Process(pid) for pid in runner.client.run(os.getpid).values()]
        napping = nap.submit(str(tmp_path))
        _when_running(tmp_path, lambda _pid: None).result(timeout=FLOW_BOUND_SECONDS)
        with pytest.raises(concurrent.futures.TimeoutError):
            napping._handle.result(timeout=0.1)  # the runner's handle honours its timeout
        started = time.monotonic()
        runner.shutdown(cancel=True)
        seen["took"] = time.monotonic() - started
        seen["nap"] = napping.wait(timeout=FLOW_BOUND_SECONDS)

    _bounded(lambda: pipeline(return_state=True))
    assert seen["took"] < 2
    assert seen["nap"].type is StateType.CANCELLED
    assert seen["workers"]
    for process in seen["workers"]:
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_a_frozen_scheduler_fails_start_within_the_connect_timeout_naming_it(
    scheduler_and_worker: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
) -> None:
    address, scheduler, _ = scheduler_and_worker
    os.kill(scheduler.pid, signal.SIGSTOP)

    @flow(task_runner=DaskTaskRunner(address=address, client_kwargs={"timeout": "2s"}))
    def pipeline() -> int:
        return after(1)

    started = time.monotonic()
    with pytest.raises(FlowcoreUsageError) as raised:
        _bounded(pipeline)
    assert time.monotonic() - started < 2 + 10
    assert str(raised.value).startswith(
        f"could not reach a Dask scheduler at '{address}' within 2s (TimeoutError: no handshake"
    )


def test_a_flow_timeout_bounds_a_flow_whose_scheduler_froze(
    scheduler_and_worker: tuple[str, subprocess.Popen[bytes], subprocess.Popen[bytes]],
    tmp_path: Path,
    events: Any,
) -> None:
    """The flow's own timeout ends it, long before the watchdog's heartbeat would."""
    address, scheduler, _ = scheduler_and_worker
    runner = DaskTaskRunner(address=address, heartbeat_timeout=600)

    @flow(task_runner=runner, timeout_seconds=FLOW_TIMEOUT_SECONDS)
    def pipeline() -> Any:
        return nap.submit(str(tmp_path))

    frozen = _when_running(tmp_path, lambda _pid: os.kill(scheduler.pid, signal.SIGSTOP))
    state, _ = _bounded(lambda: pipeline(return_state=True))

    frozen.result(timeout=1)
    assert (state.type, state.name) == (StateType.FAILED, "TimedOut"), state
    flow_events = events.of("pipeline-0", kind="flow")
    running = next(e.timestamp_ns for e in flow_events if e.state.is_running())
    took = (flow_events[-1].timestamp_ns - running) / 1e9
    assert took < FLOW_TIMEOUT_SECONDS + TIMEOUT_MARGIN_SECONDS, f"took {took:.2f}s"
    assert events.state_types("nap-0")[-1] is StateType.CANCELLED


FLOW_TIMEOUT_SECONDS = 3.0
TIMEOUT_MARGIN_SECONDS = 2.0  # the cancelling shutdown (< 1 s) on a loaded machine
