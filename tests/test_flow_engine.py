"""The flow engine: Prefect 2's final-state rules, waiting for runs, interrupts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from flowcore import StateType, flow, task
from flowcore.task_runners import SequentialTaskRunner, TaskRunner


@task
def succeed(value=1):
    return value


@task
def fail(message="boom"):
    raise ValueError(message)


@task
def fail_slowly(message):
    time.sleep(0.1)
    raise ValueError(message)


@task
def fail_at_once(message):
    raise TypeError(message)


@task
def nap(seconds):
    time.sleep(seconds)
    return seconds


@task
def interrupt():
    raise KeyboardInterrupt


@task
async def async_interrupt():
    raise KeyboardInterrupt


# --- final states ------------------------------------------------------------------


def test_body_that_raises_fails_the_flow_with_that_exception(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        succeed()
        raise LookupError("from the body")

    state = pipeline(return_state=True)
    assert state.type is StateType.FAILED
    assert state.message == "Flow run encountered an exception. LookupError: from the body"
    assert isinstance(state.exception, LookupError)


def test_returned_futures_decide_the_final_state(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return succeed(1), fail("returned")

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert state.message == "1/2 states failed."
    with pytest.raises(ValueError, match="returned"):
        pipeline()


def test_returned_states_decide_the_final_state_as_in_prefect(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return [succeed(1, return_state=True), fail(return_state=True)]

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert state.message == "1/2 states failed."

    @flow(task_runner=runner)
    def mixed():  # states beside plain data are data, as in Prefect 2.20
        return [succeed(1, return_state=True), fail(return_state=True), 3]

    state = mixed(return_state=True)
    assert state.is_completed(), state
    assert [item.type for item in state.result()[:2]] == [StateType.COMPLETED, StateType.FAILED]

    @flow(task_runner=runner)
    def completing():
        return {"a": succeed(1, return_state=True), "b": 2}

    result = completing()
    assert result["a"].result() == 1
    assert result["b"] == 2


def test_returning_a_single_state_gives_its_value(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return succeed(7, return_state=True)

    assert pipeline() == 7


def test_returning_none_fails_when_any_run_failed(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        succeed()
        succeed()
        fail("one of three")

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert state.message == "1/3 states failed."
    with pytest.raises(ValueError, match="one of three"):
        pipeline()


def test_returning_none_completes_when_every_run_completed(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        succeed()
        succeed()

    state = pipeline(return_state=True)
    assert state.is_completed()
    assert state.result() is None


def test_returning_plain_data_completes_even_if_a_run_failed(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        fail()
        return "data"

    state = pipeline(return_state=True)
    assert state.is_completed()
    assert state.result() == "data"


def test_failed_flow_raises_the_first_failed_runs_exception(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        fail_slowly("submitted first")
        fail_at_once("submitted second")

    with pytest.raises(ValueError, match="submitted first"):
        pipeline()


def test_async_flow_final_state_follows_the_same_rules(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        await succeed.submit()
        await fail.submit("async")

    state = asyncio.run(pipeline(return_state=True))
    assert state.is_failed()
    assert state.message == "1/2 states failed."
    with pytest.raises(ValueError, match="async"):
        asyncio.run(pipeline())


# --- waiting ---------------------------------------------------------------------


def test_flow_waits_for_runs_even_when_its_body_raises(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        nap(0.2)
        raise RuntimeError("early exit")

    with pytest.raises(RuntimeError, match="early exit"):
        pipeline()
    assert events.state_types("nap-0")[-1] is StateType.COMPLETED
    flow_end = events.of(events.run_names("flow")[-1], "flow")[-1].timestamp_ns
    assert events.running_interval("nap-0")[1] <= flow_end


def test_flow_state_history_is_pending_running_final(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        return succeed()

    pipeline()
    name = events.run_names("flow")[-1]
    assert events.state_names(name, "flow") == ["Pending", "Running", "Completed"]


# --- interrupts --------------------------------------------------------------------


def _extra_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since ``before`` that are still alive, after giving them time to end."""
    deadline = time.monotonic() + 5
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.02)


def _warm_up(runner: TaskRunner) -> None:
    """Start whatever process-wide machinery the runner's library keeps (Dask's IO loop)."""

    @flow(task_runner=runner)
    def warm():
        return succeed()

    warm()


def test_keyboard_interrupt_in_a_task_stops_the_flow_and_leaks_no_thread(
    runner: TaskRunner, events
):
    _warm_up(runner)
    before = set(threading.enumerate())

    @flow(task_runner=runner)
    def pipeline():
        interrupt()
        for _ in range(50):
            nap(0.01)

    with pytest.raises(KeyboardInterrupt):
        pipeline()
    name = events.run_names("flow")[-1]
    assert events.state_types(name, "flow")[-1] is StateType.CRASHED
    assert events.state_types("interrupt-0")[-1] is StateType.CRASHED
    assert _extra_threads(before) == []


def test_keyboard_interrupt_in_an_async_task_stops_an_async_flow(runner: TaskRunner, events):
    _warm_up(runner)
    before = set(threading.enumerate())

    @flow(task_runner=runner)
    async def pipeline():
        await async_interrupt()
        await nap(0.01)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(pipeline())
    name = events.run_names("flow")[-1]
    assert events.state_types(name, "flow")[-1] is StateType.CRASHED
    assert "nap-0" not in events.run_names()
    assert _extra_threads(before) == []


def test_keyboard_interrupt_in_a_subflow_reaches_the_caller(runner: TaskRunner):
    @flow(task_runner=runner)
    def child():
        interrupt()

    @flow(task_runner=runner)
    def parent():
        child()
        succeed()

    with pytest.raises(KeyboardInterrupt):
        parent()


class _RunnerThatCannotStart(SequentialTaskRunner):
    name = "broken-start"

    def __init__(self) -> None:
        self.shutdowns: list[bool] = []

    def duplicate(self) -> _RunnerThatCannotStart:
        return self  # the test looks at the very runner the flow run used

    def start(self) -> None:
        raise ConnectionError("scheduler at tcp://127.0.0.1:1 is not answering")

    def shutdown(self, cancel: bool = False) -> None:
        self.shutdowns.append(cancel)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_flow_run_whose_runner_cannot_start_ends_crashed_with_its_error(
    is_async: bool, events
) -> None:
    runner = _RunnerThatCannotStart()
    if is_async:

        @flow(task_runner=runner)
        async def pipeline():
            return await succeed()

        state = asyncio.run(pipeline(return_state=True))
    else:

        @flow(task_runner=runner)
        def pipeline():
            return succeed()

        state = pipeline(return_state=True)
    assert (state.type, state.name) == (StateType.CRASHED, "Crashed")
    assert isinstance(state.exception, ConnectionError)
    assert "could not start its task runner" in state.message
    assert "tcp://127.0.0.1:1" in state.message
    assert events.state_names("pipeline-0", kind="flow")[-1] == "Crashed"
    assert runner.shutdowns == [True]  # whatever part of it started is released
    with pytest.raises(ConnectionError, match="not answering"):
        state.result()


def test_a_runner_that_fails_to_shut_down_crashes_a_completed_flow_run() -> None:
    class FailsAtShutdown(SequentialTaskRunner):
        def shutdown(self, cancel: bool = False) -> None:
            raise OSError("cluster would not close")

    @flow(task_runner=FailsAtShutdown())
    def pipeline():
        return succeed()

    state = pipeline(return_state=True)
    assert state.type is StateType.CRASHED
    assert "failed to shut down: OSError: cluster would not close" in state.message


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_an_async_flow_whose_body_raises_still_waits_for_the_runs_it_submitted(
    make_runner, runner_name: str, events
) -> None:
    @task
    async def slow_ok():
        await asyncio.sleep(0.1)
        return 1

    @flow(task_runner=make_runner(runner_name))
    async def pipeline():
        await slow_ok.submit()
        raise ValueError("the body fails after submitting")

    state = asyncio.run(pipeline(return_state=True))
    assert state.type is StateType.FAILED
    assert isinstance(state.exception, ValueError)
    assert events.state_names("slow_ok-0")[-1] == "Completed"
