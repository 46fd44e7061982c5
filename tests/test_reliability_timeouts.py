"""Timeouts under every runner: sync and async tasks in sync and async flows, flows,
and the helper threads of timed-out sync bodies, which end instead of running forever.

What can be interrupted is documented in `flowcore.timeouts`: Python code at
its next bytecode, a blocking C call (``time.sleep``) only once it returns,
an async body at its next await.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flowcore import FlowTimeoutError, StateType, TaskTimeoutError, flow, task
from flowcore.task_runners import TaskRunner

GRACE_SECONDS = 10


@task(timeout_seconds=0.2)
def spins() -> None:
    while True:
        pass


@task(timeout_seconds=0.2)
def sleeps() -> int:
    time.sleep(1.5)
    return 1


@task(timeout_seconds=0.2)
async def awaits() -> int:
    await asyncio.sleep(3)
    return 1


@task
def quick() -> int:
    return 1


def _helper_threads(run_name: str) -> list[threading.Thread]:
    """The helper threads that run ``run_name``'s body under a timeout (``<caller>:<run>``)."""
    return [t for t in threading.enumerate() if t.name.endswith(f":{run_name}") and t.is_alive()]


def _wait_until_gone(run_name: str) -> list[str]:
    deadline = time.monotonic() + GRACE_SECONDS
    while _helper_threads(run_name) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [t.name for t in _helper_threads(run_name)]


@pytest.mark.parametrize("body", [spins, sleeps, awaits], ids=lambda t: t.name)
def test_task_timeout_in_a_sync_flow_fails_the_run_on_time(
    runner: TaskRunner, events: Any, body: Any
) -> None:
    @flow(task_runner=runner)
    def pipeline() -> Any:
        return body(), quick()

    started = time.monotonic()
    state = pipeline(return_state=True)
    assert time.monotonic() - started < GRACE_SECONDS
    timed_out, other = state.result(raise_on_failure=False)
    assert timed_out.name == "TimedOut"
    assert isinstance(timed_out.exception, TaskTimeoutError)
    assert f"'{body.name}-0' exceeded its timeout of 0.2s" in str(timed_out.exception)
    assert other.is_completed()
    assert _wait_until_gone(f"{body.name}-0") == []


@pytest.mark.parametrize("body", [spins, sleeps, awaits], ids=lambda t: t.name)
def test_task_timeout_in_an_async_flow_fails_the_run_on_time(
    runner: TaskRunner, events: Any, body: Any
) -> None:
    @flow(task_runner=runner)
    async def pipeline() -> Any:
        return await body.submit(), await quick.submit()

    state = asyncio.run(pipeline(return_state=True))
    assert state.is_failed()
    assert events.state_names(f"{body.name}-0")[-1] == "TimedOut"
    assert events.state_types("quick-0")[-1] is StateType.COMPLETED
    assert _wait_until_gone(f"{body.name}-0") == []


def test_timed_out_busy_sync_task_thread_is_stopped_not_leaked() -> None:
    """The helper thread of a pure-Python loop is stopped at its next bytecode."""
    from flowcore.task_runners import ConcurrentTaskRunner

    @flow(task_runner=ConcurrentTaskRunner())
    def pipeline() -> Any:
        return spins()

    with pytest.raises(TaskTimeoutError):
        pipeline()
    assert _wait_until_gone("spins-0") == []


def test_timed_out_sleeping_sync_task_thread_ends_when_its_sleep_returns() -> None:
    @flow
    def pipeline() -> Any:
        return sleeps()

    started = time.monotonic()
    with pytest.raises(TaskTimeoutError):
        pipeline()
    assert time.monotonic() - started < 1.2  # reported on time, before the 1.5 s sleep returns
    assert _wait_until_gone("sleeps-0") == []


def test_sync_flow_timeout_stops_its_body_thread_and_fails_the_flow(
    runner: TaskRunner, events: Any
) -> None:
    @flow(task_runner=runner, timeout_seconds=0.3)
    def pipeline() -> None:
        quick()
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(FlowTimeoutError, match=r"exceeded its timeout of 0\.3s"):
        pipeline()
    assert time.monotonic() - started < GRACE_SECONDS
    assert events.state_names("pipeline-0", "flow")[-1] == "TimedOut"
    assert _wait_until_gone("pipeline-0") == []


def test_async_flow_timeout_cancels_its_awaiting_runs(runner: TaskRunner, events: Any) -> None:
    @flow(task_runner=runner, timeout_seconds=0.3)
    async def pipeline() -> None:
        await awaits.with_options(timeout_seconds=None)()

    with pytest.raises(FlowTimeoutError):
        asyncio.run(pipeline())
    assert events.state_names("pipeline-0", "flow")[-1] == "TimedOut"
    assert events.state_types("awaits-0")[-1] is not StateType.RUNNING


# --- a flow's timeout bounds the whole flow run -----------------------------------

FLOW_TIMEOUT = 0.5
BOUND = FLOW_TIMEOUT + 1.0  # the call returns within the timeout and a cancelling shutdown
ALL_RUNNERS = ["sequential", "concurrent", "async", "dask", "deterministic"]
released = threading.Event()  # lets abandoned sync bodies end once a test has looked


@pytest.fixture
def any_runner(request: pytest.FixtureRequest, make_runner: Any) -> Iterator[TaskRunner]:
    name = request.param
    if name == "deterministic":
        from pytest_flows import DeterministicTaskRunner

        yield DeterministicTaskRunner(seed=1)
    else:
        yield make_runner(name)
    released.set()  # the bodies left running end now, before the leak check
    released.clear()


@task
def lingers() -> int:
    """Ten seconds, or until the test releases it (in-process runners)."""
    released.wait(10)
    return 1


@task
def lingers_remotely() -> int:
    time.sleep(3)  # on a Dask worker, out of the test's reach
    return 1


@task
async def lingers_async() -> int:
    await asyncio.sleep(10)
    return 1


def _slow_task(runner: TaskRunner) -> Any:
    return lingers_remotely if runner.name == "dask" else lingers


def _returns_future(runner: TaskRunner) -> Any:
    slow = _slow_task(runner)

    @flow(task_runner=runner, timeout_seconds=FLOW_TIMEOUT)
    def returns_future() -> Any:
        return slow.submit()

    return returns_future


def _returns_none(runner: TaskRunner) -> Any:
    slow = _slow_task(runner)

    @flow(task_runner=runner, timeout_seconds=FLOW_TIMEOUT)
    def returns_none() -> None:
        slow.submit()

    return returns_none


@pytest.mark.parametrize("any_runner", ALL_RUNNERS, indirect=True)
@pytest.mark.parametrize("shape", [_returns_future, _returns_none], ids=["future", "none"])
def test_flow_timeout_bounds_the_wait_for_its_task_runs(
    any_runner: TaskRunner, shape: Any, events: Any
) -> None:
    pipeline = shape(any_runner)
    started = time.monotonic()
    state = pipeline(return_state=True)
    elapsed = time.monotonic() - started
    assert (state.type, state.name) == (StateType.FAILED, "TimedOut"), state
    assert isinstance(state.exception, FlowTimeoutError)
    assert elapsed < BOUND, f"returned after {elapsed:.2f}s"
    slow_run = events.run_names()[0]
    final = [e.state for e in events.of(slow_run) if e.state.type.is_final]
    assert len(final) == 1, final
    assert final[0].type in (StateType.CANCELLED, StateType.CRASHED), final[0]
    assert "timed out" in (final[0].message or ""), final[0].message


@pytest.mark.parametrize("any_runner", ALL_RUNNERS, indirect=True)
def test_async_flow_timeout_bounds_awaiting_an_async_task(
    any_runner: TaskRunner, events: Any
) -> None:
    @flow(task_runner=any_runner, timeout_seconds=FLOW_TIMEOUT)
    async def awaits_one() -> int:
        return await lingers_async()  # type: ignore[no-any-return]

    started = time.monotonic()
    state = asyncio.run(awaits_one(return_state=True))
    assert time.monotonic() - started < BOUND
    assert (state.type, state.name) == (StateType.FAILED, "TimedOut"), state
    final = [e.state for e in events.of("lingers_async-0") if e.state.type.is_final]
    ended = [StateType.CANCELLED], [StateType.CRASHED]
    if any_runner.name == "deterministic":
        # Its ten seconds are virtual: the run completes at once, in virtual time past the
        # flow's timeout, which the flow's end then sees on the runner's clock.
        ended = ([StateType.COMPLETED],)
    assert [s.type for s in final] in ended, final


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_a_subflow_timeout_fails_its_parent_without_timing_it_out(
    make_runner: Any, runner_name: str
) -> None:
    @flow(task_runner=make_runner(runner_name), timeout_seconds=FLOW_TIMEOUT)
    def child() -> None:
        lingers.submit()

    @flow(task_runner=make_runner(runner_name), timeout_seconds=30)
    def parent() -> None:
        child()

    try:
        state = parent(return_state=True)
    finally:
        released.set()
        released.clear()
    assert (state.type, state.name) == (StateType.FAILED, "Failed"), state
    assert isinstance(state.exception, FlowTimeoutError)


def test_a_retried_flow_ends_the_runs_of_its_timed_out_attempt(events: Any) -> None:
    attempts = []

    @task
    def slow_then_quick() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            released.wait(10)
        return len(attempts)

    @flow(timeout_seconds=FLOW_TIMEOUT, retries=1)
    def pipeline() -> Any:
        return slow_then_quick.submit()

    try:
        state = pipeline(return_state=True)
    finally:
        released.set()
        released.clear()
    assert state.is_completed(), state
    assert state.result() == 2
    assert events.state_names("pipeline-0", kind="flow")[-2:] == ["Retrying", "Completed"]
    first, second = "slow_then_quick-0", "slow_then_quick-1"
    assert events.state_names(first)[-1] == "Cancelled"
    assert events.state_names(second)[-1] == "Completed"
