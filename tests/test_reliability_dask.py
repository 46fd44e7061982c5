"""Dask faults: a worker killed under a run, a scheduler that goes away mid-flow.

These tests kill processes, so they use clusters of their own, never the
shared one: a LocalCluster with one worker behind a Nanny (which restarts a
killed worker) and ``allowed-failures`` 0 (the scheduler gives up on a task
the first time its worker dies, instead of rerunning it three times), and a
``dask scheduler`` subprocess to kill.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
cloudpickle = pytest.importorskip("cloudpickle")

from flowcore import RunCrashed, State, StateType, flow, task  # noqa: E402
from flowcore.task_runners import DaskTaskRunner  # noqa: E402

# Generous bounds: a flow whose worker or scheduler dies must end well within them.
FLOW_BOUND_SECONDS = 60


@task
def victim(directory: str) -> int:
    """Reports its worker's pid, then waits to be killed (the first time only)."""
    attempted = Path(directory, "attempted")
    if attempted.exists():
        return 2
    attempted.touch()
    Path(directory, "pid.tmp").write_text(str(os.getpid()))
    Path(directory, "pid.tmp").rename(Path(directory, "pid"))
    time.sleep(FLOW_BOUND_SECONDS)
    return 1


@task(retries=1)
def victim_with_retries(directory: str) -> int:
    return victim.fn(directory)


@task
def after(value: int) -> int:
    return value * 10


@task
def add(x: int, y: int) -> int:
    return x + y


@pytest.fixture(autouse=True)
def _ship_this_module() -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture
def fragile_client(fragile_cluster: Any) -> Iterator[Any]:
    with distributed.Client(fragile_cluster, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=FLOW_BOUND_SECONDS)
        yield client


def _kill_when_reported(directory: Path, sent: list[int]) -> threading.Thread:
    """A thread that SIGKILLs the process whose pid the task writes to ``directory/pid``."""

    def kill() -> None:
        deadline = time.monotonic() + FLOW_BOUND_SECONDS
        pid_file = directory / "pid"
        while not pid_file.exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        sent.append(pid)

    killer = threading.Thread(target=kill, name="worker-killer")
    killer.start()
    return killer


def _bounded(call: Callable[[], Any]) -> Any:
    """``call()``, failing the test (instead of hanging it) if it takes far too long."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            return future.result(timeout=FLOW_BOUND_SECONDS)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"the flow did not end within {FLOW_BOUND_SECONDS}s")


def test_killed_worker_crashes_its_run_and_the_dependents_never_run(
    fragile_client: Any, tmp_path: Path, events: Any
) -> None:
    worker_pids = set(fragile_client.run(os.getpid).values())

    @flow(task_runner=DaskTaskRunner(address=fragile_client.scheduler.address))
    def pipeline() -> Any:
        doomed = victim(str(tmp_path))
        return doomed, after(doomed)

    killed: list[int] = []
    killer = _kill_when_reported(tmp_path, killed)
    state: State = _bounded(lambda: pipeline(return_state=True))
    killer.join()

    assert killed
    assert killed[0] in worker_pids
    assert state.is_failed()
    assert state.message == "1/2 states failed."  # the dependent never started
    doomed, dependent = state.result(raise_on_failure=False)
    assert doomed.type is StateType.CRASHED
    assert "KilledWorker" in doomed.message
    assert isinstance(doomed.exception, RunCrashed)
    assert dependent.name == "NotReady"
    assert "'victim-0'" in dependent.message
    assert events.state_names("after-0") == ["Pending", "NotReady"]
    with pytest.raises(RunCrashed, match="victim-0"):
        state.result()
    _wait_for_the_restarted_worker(fragile_client, killed[0])


def _wait_for_the_restarted_worker(client: Any, killed_pid: int) -> None:
    """The Nanny starts a new worker for the killed one: wait until it serves, so that the
    next test (and the leak check) finds the cluster as it was."""
    deadline = time.monotonic() + FLOW_BOUND_SECONDS
    while time.monotonic() < deadline:
        client.wait_for_workers(1, timeout=FLOW_BOUND_SECONDS)
        pids = set(client.run(os.getpid).values())
        if pids and killed_pid not in pids:
            return
        time.sleep(0.1)
    pytest.fail(f"the Nanny did not restart the killed worker within {FLOW_BOUND_SECONDS}s")


def test_killed_worker_run_is_resubmitted_when_the_task_has_retries(
    fragile_client: Any, tmp_path: Path, events: Any
) -> None:
    @flow(task_runner=DaskTaskRunner(address=fragile_client.scheduler.address))
    def pipeline() -> Any:
        survivor = victim_with_retries(str(tmp_path))
        return survivor, after(survivor)

    killed: list[int] = []
    killer = _kill_when_reported(tmp_path, killed)
    result = _bounded(pipeline)
    killer.join()

    assert killed
    assert result == (2, 20)
    # The first attempt's RUNNING happened on the killed worker and was lost with it.
    names = events.state_names("victim_with_retries-0")
    assert names == ["Pending", "AwaitingRetry", "Running", "Completed"]
    resubmitted = events.of("victim_with_retries-0")[1].state
    assert "resubmitting 'victim_with_retries-0' after its Dask worker died" in resubmitted.message
    assert events.state_names("after-0")[-1] == "Completed"


def test_cluster_recovers_after_a_killed_worker(fragile_client: Any, tmp_path: Path) -> None:
    @flow(task_runner=DaskTaskRunner(address=fragile_client.scheduler.address))
    def doomed() -> Any:
        return victim(str(tmp_path))

    killed: list[int] = []
    killer = _kill_when_reported(tmp_path, killed)
    assert _bounded(lambda: doomed(return_state=True)).type is StateType.FAILED
    killer.join()

    fragile_client.wait_for_workers(1, timeout=FLOW_BOUND_SECONDS)
    new_pids = set(fragile_client.run(os.getpid).values())
    assert killed[0] not in new_pids

    @flow(task_runner=DaskTaskRunner(address=fragile_client.scheduler.address))
    def healthy() -> int:
        return add(add(1, 2), 3)

    assert _bounded(healthy) == 6


# --- the scheduler goes away -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=30)


@pytest.fixture
def doomed_scheduler(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``dask scheduler`` subprocess with one worker, for a test to kill."""
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
        [
            dask_command,
            "worker",
            address,
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--no-nanny",
            "--no-dashboard",
        ],
        **quiet,
    )
    try:
        with distributed.Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=FLOW_BOUND_SECONDS)
        yield address, scheduler
    finally:
        _stop(worker)
        _stop(scheduler)


def test_lost_scheduler_crashes_the_runs_in_bounded_time_with_a_clear_message(
    doomed_scheduler: tuple[str, subprocess.Popen[bytes]], tmp_path: Path, events: Any
) -> None:
    address, scheduler = doomed_scheduler

    @flow(task_runner=DaskTaskRunner(address=address))
    def pipeline() -> Any:
        started = victim(str(tmp_path))
        return started, after(started)

    def kill_scheduler() -> None:
        deadline = time.monotonic() + FLOW_BOUND_SECONDS
        while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        scheduler.kill()

    killer = threading.Thread(target=kill_scheduler, name="scheduler-killer")
    killer.start()
    started = time.monotonic()
    state: State = _bounded(lambda: pipeline(return_state=True))
    killer.join()

    assert time.monotonic() - started < FLOW_BOUND_SECONDS
    assert state.is_failed()
    for run_state in state.result(raise_on_failure=False):
        assert run_state.type is StateType.CRASHED
        assert f"the Dask client lost its scheduler at '{address}'" in run_state.message
    assert events.state_types("victim-0")[-1] is StateType.CRASHED
