"""The Dask runner: its own LocalCluster, an existing scheduler, dependencies, worker events."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from flowcore import FlowcoreUsageError, InvalidArgument, flow, task  # noqa: E402
from flowcore.context import current_flow_run  # noqa: E402
from flowcore.task_runners import DaskTaskRunner  # noqa: E402


@task
def add(x, y):
    return x + y


@task
def where():
    return os.getpid()


@task
async def async_where():
    return os.getpid()


@pytest.fixture
def dask_runner(make_runner) -> DaskTaskRunner:
    return make_runner("dask")


WORKER_FLAGS = ("--no-nanny", "--no-dashboard")


def _dependencies_of(key, dask_scheduler=None):
    return sorted(dependency.key for dependency in dask_scheduler.tasks[key].dependencies)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_default_runner_starts_and_closes_its_own_local_cluster(events):
    before = set(multiprocessing.active_children())

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 1}))
    def pipeline():
        return add(1, 2), where()

    total, worker_pid = pipeline()
    assert total == 3
    assert worker_pid != os.getpid()
    assert events.of("add-0")[-1].worker.startswith("tcp://127.0.0.1:")
    deadline = time.monotonic() + 10
    while set(multiprocessing.active_children()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(multiprocessing.active_children()) - before == set()


def test_worker_events_carry_worker_address_pid_and_timestamps(dask_runner, dask_cluster, events):
    @flow(task_runner=dask_runner)
    def pipeline():
        return where(), async_where()

    pids = set(pipeline())
    with distributed.Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        worker_pids = client.run(os.getpid)
    assert pids <= set(worker_pids.values())
    for name in ("where-0", "async_where-0"):
        pending, *remote = events.of(name)
        assert pending.worker is None
        assert pending.process_id == os.getpid()
        for event in remote:
            assert event.worker in worker_pids
            assert event.process_id == worker_pids[event.worker]
            assert event.thread_name != threading.current_thread().name
        assert [e.state.name for e in remote] == ["Running", "Completed"]
        assert remote[0].timestamp_ns >= pending.timestamp_ns


def test_dependencies_are_dask_dependencies_with_unique_keys(dask_runner):
    @flow(task_runner=dask_runner)
    def pipeline():
        first = add(1, 1)
        second = add(first, 1)
        second.wait()
        runner = current_flow_run().runner
        keys = {run_id: future.key for run_id, future in runner._futures.items()}
        dependencies = runner.client.run_on_scheduler(_dependencies_of, key=keys[second.run_id])
        return keys[first.run_id], keys[second.run_id], dependencies, second

    first_key, second_key, dependencies, value = pipeline()
    assert value == 3
    assert first_key.startswith("add-0-")
    assert second_key.startswith("add-1-")
    assert dependencies == [first_key]


def test_runner_connects_to_a_scheduler_and_worker_started_apart(tmp_path):
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        **common,
    )
    worker = None
    try:
        worker = subprocess.Popen(
            [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "2", *WORKER_FLAGS],
            **common,
        )
        with distributed.Client(address, timeout="30s", set_as_default=False) as client:
            client.wait_for_workers(1, timeout=30)

        @flow(task_runner=DaskTaskRunner(address=address))
        def pipeline():
            return add(add(1, 2), 3), where()

        total, pid = pipeline()
        assert total == 6
        assert pid == worker.pid
    finally:
        for process in (worker, scheduler):  # the worker first, while its scheduler answers
            if process is not None:
                _stop(process)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def test_unreachable_address_fails_in_bounded_time_with_a_clear_message():
    address = f"tcp://127.0.0.1:{_free_port()}"

    @flow(task_runner=DaskTaskRunner(address=address, client_kwargs={"timeout": "2s"}))
    def pipeline():
        return add(1, 2)

    started = time.monotonic()
    with pytest.raises(
        FlowcoreUsageError, match=f"could not reach a Dask scheduler at '{address}' within 2s"
    ):
        pipeline()
    assert time.monotonic() - started < 15


def test_unpicklable_task_is_refused_naming_it(dask_runner):
    lock = threading.Lock()

    @task
    def holds_a_lock():
        with lock:
            return 1

    @flow(task_runner=dask_runner)
    def pipeline():
        return holds_a_lock()

    with pytest.raises(InvalidArgument, match="task 'holds_a_lock' cannot be pickled"):
        pipeline()


def test_address_and_cluster_class_together_are_refused():
    with pytest.raises(InvalidArgument, match=r"give either address .* or cluster_class"):
        DaskTaskRunner(address="tcp://127.0.0.1:8786", cluster_class="distributed.LocalCluster")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"address": 8786}, "address must be a string like 'tcp://host:8786', got 8786"),
        ({"client_kwargs": []}, r"client_kwargs must be a dict, got \[\]"),
        ({"cluster_kwargs": "x"}, "cluster_kwargs must be a dict, got 'x'"),
        (
            {"heartbeat_timeout": float("inf")},
            "heartbeat_timeout must be a finite number of seconds > 0, got inf",
        ),
        ({"heartbeat_timeout": 0}, "heartbeat_timeout must be a finite number of seconds > 0"),
        ({"push_outcomes": "yes"}, "push_outcomes must be True, False or None .*, got 'yes'"),
    ],
)
def test_bad_dask_options_state_the_rule(options, message):
    with pytest.raises(InvalidArgument, match=message):
        DaskTaskRunner(**options)


def test_cluster_class_that_cannot_be_imported_says_so():
    @flow(task_runner=DaskTaskRunner(cluster_class="nowhere.Cluster"))
    def pipeline():
        return 1

    with pytest.raises(
        InvalidArgument, match=r"cluster_class 'nowhere\.Cluster' could not be imported"
    ):
        pipeline()


def test_missing_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)

    @flow(task_runner=DaskTaskRunner())
    def pipeline():
        return 1

    with pytest.raises(FlowcoreUsageError, match=r"pip install 'pytest-flows\[dask\]'"):
        pipeline()


def test_client_of_an_unstarted_runner_says_it_is_not_started():
    with pytest.raises(FlowcoreUsageError, match="has not been started"):
        DaskTaskRunner().client  # noqa: B018


def test_repr_shows_where_it_runs():
    assert repr(DaskTaskRunner(address="tcp://h:1")) == "DaskTaskRunner(address='tcp://h:1')"


@task
def nap(seconds):
    time.sleep(seconds)
    return seconds


def test_a_run_that_ends_after_shutdown_settles_without_stalling_dask_callbacks(dask_cluster):
    """Dask calls the done callbacks of every client in the process on one thread. A
    callback that asked its (closed) client for the outcome there would wait forever
    and stall every later Dask future in the process."""
    from flowcore import RunCrashed
    from flowcore.clock import real_clock
    from flowcore.states import State, StateType
    from flowcore.task_engine import TaskRun

    runner = DaskTaskRunner(address=dask_cluster.scheduler_address)
    runner.start()
    run = TaskRun(nap, (1.0,), {}, (), "id-nap-0", "nap-0", None, real_clock)
    run.record(State(StateType.PENDING, "Pending", real_clock.now_ns()))
    handle = runner.submit(run)
    runner.shutdown()  # while nap-0 still sleeps on a worker

    with pytest.raises(RunCrashed, match="the Dask runner shut down before 'nap-0' ended"):
        handle.result(timeout=30)
    with distributed.Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        called = threading.Event()
        later = client.submit(int, 1)
        later.add_done_callback(lambda _: called.set())
        assert called.wait(30), "Dask's callback thread is stuck"
