"""Futures: waiting, results, states, callbacks, and how a runner's handle settles a run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

import pytest
from conftest import NON_SEQUENTIAL

from flowcore import (
    FlowcoreUsageError,
    RunCrashed,
    StateType,
    TaskFuture,
    as_completed,
    flow,
    task,
    wait,
)
from flowcore.clock import real_clock
from flowcore.errors import RunCancelled
from flowcore.futures import CANCELLED, DoneHandle, settle
from flowcore.states import Completed, State
from flowcore.task_engine import TaskRun
from flowcore.task_runners import TaskRunner


@task
def nap(seconds):
    time.sleep(seconds)
    return seconds


@task
def fail():
    raise ValueError("failed run")


def _run(name: str = "nap-0") -> TaskRun:
    run = TaskRun(nap, (0,), {}, (), f"id-{name}", name, None, real_clock)
    run.record(State(StateType.PENDING, "Pending", real_clock.now_ns()))
    return run


@pytest.mark.parametrize("runner_name", NON_SEQUENTIAL)
def test_wait_with_a_timeout_gives_none_and_result_raises_timeout(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = nap.submit(0.4)
        assert future.wait(timeout=0.01) is None
        with pytest.raises(TimeoutError, match=r"task run 'nap-0' did not finish within 0\.01s"):
            future.result(timeout=0.01)
        assert not future.done()
        assert future.wait().is_completed()
        assert future.done()
        return future.result(timeout=1)

    assert pipeline() == 0.4


def test_state_and_repr_follow_the_run(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = nap.submit(0)
        future.wait()
        return repr(future), future.state.type, future.run_name

    assert pipeline() == ("<TaskFuture nap-0 COMPLETED>", StateType.COMPLETED, "nap-0")


def test_done_callbacks_run_once_the_run_is_final(runner: TaskRunner):
    seen = []

    @flow(task_runner=runner)
    def pipeline():
        future = nap.submit(0.05)
        future.add_done_callback(lambda f: seen.append(f.state.type))
        future.wait()
        future.add_done_callback(lambda f: seen.append("late"))

    pipeline()
    assert seen == [StateType.COMPLETED, "late"]


def test_result_of_a_failed_future_raises_and_can_give_the_exception(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = fail.submit()
        error = future.result(raise_on_failure=False)
        with pytest.raises(ValueError, match="failed run"):
            future.result()
        return type(error)

    assert pipeline(return_state=True).result(raise_on_failure=False) is ValueError


def test_awaiting_a_future_in_an_async_flow_gives_its_result(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        future = await nap.submit(0.01)
        assert isinstance(future, TaskFuture)
        state = await future.wait_async()
        return await future, state.is_completed(), await future.result_async()

    assert asyncio.run(pipeline()) == (0.01, True, 0.01)


def test_settle_records_the_final_state_the_handle_gives():
    run = _run()
    final = Completed(real_clock.now_ns(), data=3)
    assert settle(run, DoneHandle(final)) is final
    assert run.history[-1] is final


def test_a_handle_that_raises_crashes_the_run():
    run = _run()
    handle: concurrent.futures.Future[State] = concurrent.futures.Future()
    handle.set_exception(OSError("worker died"))
    state = settle(run, handle)
    assert state.type is StateType.CRASHED
    assert state.message == "Task run 'nap-0' crashed: OSError: worker died"
    assert isinstance(state.exception, RunCrashed)
    assert isinstance(state.exception.__cause__, OSError)


def test_a_cancelled_handle_cancels_the_run():
    run = _run()
    state = settle(run, CANCELLED)
    assert state.type is StateType.CANCELLED
    assert isinstance(state.exception, RunCancelled)
    assert "'nap-0' was cancelled" in state.message


def test_a_handle_that_gives_no_final_state_crashes_the_run():
    state = settle(_run(), DoneHandle("not a state"))
    assert state.is_crashed()
    assert "instead of a final State" in state.message


def test_settling_a_final_run_keeps_its_state():
    run = _run()
    settle(run, DoneHandle(Completed(1, data=1)))
    assert settle(run, CANCELLED).is_completed()
    assert len(run.history) == 2


def test_future_not_handed_to_a_runner_cannot_be_waited_on():
    future = TaskFuture(_run())
    with pytest.raises(FlowcoreUsageError, match=r"has not started yet.*`await future`"):
        future.wait()


# --- wait and as_completed (Prefect 3's prefect.futures) ------------------------------


@task
def nap_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.mark.parametrize("runner_name", NON_SEQUENTIAL)
def test_as_completed_yields_futures_in_the_order_their_runs_ended(
    runner_name: str, make_runner: Any
) -> None:
    @flow(task_runner=make_runner(runner_name))
    def pipeline() -> list[float]:
        futures = [nap_for.submit(0.6), nap_for.submit(0.05)]
        return [future.result() for future in as_completed(futures)]

    assert pipeline() == [0.05, 0.6]


def test_wait_gives_done_and_not_done_futures(runner: TaskRunner) -> None:
    @flow(task_runner=runner)
    def pipeline() -> tuple[list[float], int]:
        futures = [nap_for.submit(0.01), nap_for.submit(0.02)]
        done, not_done = wait(futures)
        return sorted(f.result() for f in done), len(not_done)

    assert pipeline() == ([0.01, 0.02], 0)


def test_wait_and_as_completed_honour_their_timeouts() -> None:
    released = threading.Event()

    @task
    def blocked() -> None:
        released.wait(10)

    @flow
    def pipeline() -> tuple[int, str]:
        future = blocked.submit()
        try:
            _, not_done = wait([future], timeout=0.1)
            with pytest.raises(TimeoutError, match=r"did not end within 0\.1s") as caught:
                list(as_completed([future], timeout=0.1))
            return len(not_done), str(caught.value)
        finally:
            released.set()

    not_done, message = pipeline()
    assert not_done == 1
    assert "'blocked-0'" in message


def test_as_completed_under_the_deterministic_runner_follows_virtual_time() -> None:
    from pytest_flows import DeterministicTaskRunner

    @task
    async def tick(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @flow(task_runner=DeterministicTaskRunner(seed=5))
    def pipeline() -> list[float]:
        futures = [tick.submit(30.0), tick.submit(2.5), tick.submit(7.0)]
        return [future.result() for future in as_completed(futures)]

    assert pipeline() == [2.5, 7.0, 30.0]


def test_a_run_ending_after_its_waiting_loop_stopped_does_not_block_the_ending_thread():
    """A flow interrupted while awaiting a run stops its loop; the run then ends in another
    thread (Dask's callback thread, which the interpreter joins at exit). Telling the
    stopped loop must not wait for it."""
    from flowcore.threads import ResultHandle

    run = _run()
    handle: ResultHandle[State] = ResultHandle()
    future = TaskFuture(run)
    future.attach(handle)

    async def wait_then_give_up() -> None:
        waiting = asyncio.ensure_future(future.wait_async())
        await asyncio.sleep(0.05)  # its wake-up is registered
        waiting.cancel()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(wait_then_give_up())  # the loop is now stopped, not closed
        ender = threading.Thread(target=handle.set_result, args=(Completed(),), daemon=True)
        ender.start()
        ender.join(5)
        assert not ender.is_alive(), "the thread ending the run waits for a stopped loop"
        assert future.state.is_completed()
    finally:
        loop.close()
