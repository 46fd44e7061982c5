"""flowcore.task_runners.loop_thread: async runs handed from a sync flow to an event loop
in batches, under the async and concurrent runners."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest

from flowcore import StateType, flow, task
from flowcore.clock import real_clock
from flowcore.states import State
from flowcore.task_engine import TaskRun
from flowcore.task_runners import AsyncTaskRunner, ConcurrentTaskRunner, TaskRunner
from flowcore.task_runners.loop_thread import LoopThread

BATCH = 1_000


@task
async def double(x: int) -> int:
    return 2 * x


@task
async def add(x: int, y: int) -> int:
    await anyio.sleep(0)  # suspends once: the run goes back to the loop mid-body
    return x + y


@task
async def fail() -> None:
    raise ValueError("this run fails")


@task
def sync_double(x: int) -> int:
    return 2 * x


def make_run(body: Any, *args: Any) -> TaskRun:
    """A PENDING run of ``body``, outside any flow: for driving a LoopThread directly."""
    run = TaskRun(body, args, {}, (), f"id-{id(args)}", f"{body.name}-x", None, real_clock)
    run.record(State(StateType.PENDING, "Pending", real_clock.now_ns()))
    return run


def loop_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.endswith("-loop")]


@pytest.fixture(params=["async", "concurrent"])
def loop_runner(request: pytest.FixtureRequest) -> TaskRunner:
    return AsyncTaskRunner() if request.param == "async" else ConcurrentTaskRunner()


# --- through flows --------------------------------------------------------------------


def test_a_batch_of_a_thousand_async_runs_from_a_sync_flow_all_complete(loop_runner):
    futures: list[Any] = []

    @flow(task_runner=loop_runner)
    def pipeline() -> list[int]:
        futures.extend(double.submit(x) for x in range(BATCH))
        return futures

    assert pipeline() == [2 * x for x in range(BATCH)]
    for future in futures:
        assert [state.name for state in future.run.history] == ["Pending", "Running", "Completed"]
    assert len({future.run_name for future in futures}) == BATCH


def test_runs_interleaved_with_a_failing_run_keep_their_states(loop_runner, events):
    @flow(task_runner=loop_runner)
    def pipeline() -> None:
        for x in range(200):
            double(x)
            if x == 100:
                failed = fail()
                double(failed)  # never starts: its upstream failed
        add(double(1), double(2))  # waits on the loop for two runs of the same batch

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert state.message == "1/205 states failed."
    assert events.state_names("fail-0") == ["Pending", "Running", "Failed"]
    assert events.state_names("double-101") == ["Pending", "NotReady"]
    assert "Upstream task run 'fail-0'" in events.of("double-101")[-1].state.message
    for index in (*range(101), *range(102, 203)):
        assert events.state_names(f"double-{index}") == ["Pending", "Running", "Completed"]
    assert events.of("add-0")[-1].state.result() == 6


def test_states_are_recorded_as_runs_end_not_at_the_end_of_the_flow(loop_runner):
    @flow(task_runner=loop_runner)
    def pipeline() -> bool:
        first = double(1)
        first.wait()
        ended_while_the_flow_runs = first.state.is_completed()
        second = double(first)  # submitted after its upstream ended: starts at once
        return ended_while_the_flow_runs and second.result() == 4

    assert pipeline()


def test_an_async_run_waits_on_the_loop_for_a_sync_run_in_the_pool(events):
    @flow(task_runner=ConcurrentTaskRunner())
    def pipeline() -> list[int]:
        sync_runs = [sync_double(x) for x in range(50)]
        return [add(run, 1) for run in sync_runs]

    assert pipeline() == [2 * x + 1 for x in range(50)]
    for index in range(50):
        assert events.state_names(f"add-{index}") == ["Pending", "Running", "Completed"]


def test_async_runs_from_a_sync_flow_run_on_trio():
    pytest.importorskip("trio")

    @flow(task_runner=AsyncTaskRunner(backend="trio"))
    def pipeline() -> list[int]:
        doubled = [double(x) for x in range(200)]
        return [add(run, x) for x, run in enumerate(doubled)]

    assert pipeline() == [3 * x for x in range(200)]


def test_a_flow_leaves_no_loop_thread_behind(loop_runner):
    before = set(loop_threads())

    @flow(task_runner=loop_runner)
    def pipeline() -> list[Any]:
        return [double(x) for x in range(100)]

    pipeline()
    assert set(loop_threads()) == before


def test_a_runner_shut_down_starts_a_new_loop_when_started_again(loop_runner):
    for _ in range(2):
        with loop_runner:
            handle = loop_runner.submit(make_run(double, 2))
            assert handle.result(timeout=10).result() == 4


# --- the LoopThread itself ------------------------------------------------------------


def test_closing_with_cancel_cancels_the_pending_batch_at_once():
    release = threading.Event()
    blocking = threading.Event()

    @task
    async def block_the_loop() -> None:
        blocking.set()
        release.wait(10)  # holds the loop's thread: no batch is taken meanwhile

    before = set(loop_threads())
    loop = LoopThread()
    blocker = loop.start_soon(make_run(block_the_loop))
    blocking.wait(10)
    pending = [loop.start_soon(make_run(double, x)) for x in range(100)]
    threads = set(loop_threads()) - before
    loop.close(cancel=True)  # the loop is blocked: the batch is cancelled from here
    assert all(handle.cancelled() for handle in pending)
    release.set()
    blocker.result(timeout=10)
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)


def test_closing_with_cancel_cancels_runs_waiting_on_the_loop():
    @task
    async def forever() -> None:
        await anyio.sleep_forever()

    loop = LoopThread()
    handles = [loop.start_soon(make_run(forever)) for _ in range(20)]
    loop.close(cancel=True)
    assert all(handle.cancelled() for handle in handles)


def test_closing_without_cancel_waits_for_every_run_handed_over():
    loop = LoopThread()
    handles = [loop.start_soon(make_run(add, x, 1)) for x in range(300)]
    loop.close()
    assert [handle.result(timeout=0).result() for handle in handles] == [x + 1 for x in range(300)]


def test_a_loop_that_cannot_start_says_so_and_takes_no_runs():
    loop = LoopThread(backend="no-such-backend")
    with pytest.raises(RuntimeError, match="could not start a no-such-backend event loop"):
        loop.start_soon(make_run(double, 1))
    assert loop.closed
    assert loop.start_soon(make_run(double, 1)).cancelled()


def test_a_run_handed_to_a_closed_loop_is_cancelled_without_starting_a_loop():
    loop = LoopThread()
    loop.close()
    before = set(loop_threads())
    handle = loop.start_soon(make_run(double, 1))
    assert handle.cancelled()
    assert set(loop_threads()) == before


def test_a_runner_shut_down_cancels_async_runs_then_runs_them_once_started_again(
    loop_runner: TaskRunner,
) -> None:
    """A sync flow's async runs go to the runner's loop thread: once the runner is shut
    down they are cancelled without a loop being started, and a runner started again
    runs them on a new loop, which its next shutdown stops."""
    before = set(loop_threads())
    loop_runner.start()
    loop_runner.shutdown()
    assert loop_runner.submit(make_run(double, 1)).cancelled()
    assert set(loop_threads()) == before

    loop_runner.start()
    try:
        handle = loop_runner.submit(make_run(double, 2))
        assert handle.result(timeout=10).result() == 4
    finally:
        loop_runner.shutdown()
    deadline = time.monotonic() + 10
    while set(loop_threads()) != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(loop_threads()) == before
