"""Virtual time in integer nanoseconds: every sleep, timeout and retry delay reaches its deadline.

The durations are any floats (Hypothesis) plus the ones that used to stop
the deterministic loop one float ulp short of a timer's deadline. Every flow
runs in a daemon thread with a bound, so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import anyio
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flowcore import flow, task
from flowcore.states import StateType
from flowcore.task_runners import override_task_runner
from pytest_flows.deterministic import DeterministicTaskRunner
from pytest_flows.deterministic.loop import DeterministicEventLoop
from pytest_flows.deterministic.schedules import Schedule
from pytest_flows.deterministic.virtual_clock import VirtualClock, seconds_to_ns

BOUND = 30.0
"""Real seconds any one flow below may take on a loaded machine (each takes milliseconds)."""

LISTED = (0.1, 0.2, 2.7, 1e-3, 1 / 3, 0.0, 1e9)
durations = st.one_of(
    st.sampled_from(LISTED),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
)
offsets = st.integers(min_value=0, max_value=10**15)
"""How far the clock has gone before the timer is set (time already read, slept)."""

flow_settings = settings(max_examples=25, deadline=None)


def within(seconds: float, target: Callable[[], Any]) -> Any:
    """``target()`` run in a daemon thread, failing the test if it takes over ``seconds``."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, target()))
        except BaseException as error:
            outcome.append((False, error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds}s: the deterministic runner hangs")
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


def under_runner(runner: DeterministicTaskRunner, call: Callable[[], Any]) -> Any:
    with override_task_runner(runner):
        return call()


# --- seconds to nanoseconds ------------------------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
@example(0.1)
@example(1 / 3)
def test_seconds_to_ns_is_the_nearest_whole_nanosecond(seconds: float) -> None:
    exact = Fraction(seconds) * 10**9
    assert abs(seconds_to_ns(seconds) - exact) <= Fraction(1, 2)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
@example(0.1)
@example(2.7)
def test_seconds_to_ns_not_below_reads_back_at_least_the_seconds(seconds: float) -> None:
    ns = seconds_to_ns(seconds, not_below=True)
    assert ns / 10**9 >= seconds
    assert ns - seconds_to_ns(seconds) in (0, 1)


@pytest.mark.parametrize("seconds", [math.inf, -math.inf, math.nan])
def test_seconds_to_ns_refuses_what_is_not_a_finite_duration(seconds: float) -> None:
    with pytest.raises(ValueError, match=r"finite durations only, got .* seconds"):
        seconds_to_ns(seconds)


@given(durations, offsets)
def test_clock_sleeps_whole_nanoseconds(seconds: float, offset_ns: int) -> None:
    clock = VirtualClock()
    clock.advance_to_ns(offset_ns)
    clock.sleep(seconds)
    assert clock.elapsed_ns == offset_ns + seconds_to_ns(seconds)


# --- the loop's timers -------------------------------------------------------------


def loop_at(offset_ns: int) -> DeterministicEventLoop:
    clock = VirtualClock()
    clock.advance_to_ns(offset_ns)
    return DeterministicEventLoop(Schedule(clock=clock))


@given(durations, offsets)
def test_asyncio_sleep_ends_exactly_at_its_deadline(seconds: float, offset_ns: int) -> None:
    loop = loop_at(offset_ns)
    try:
        sleeper = loop.create_task(asyncio.sleep(seconds, result="woke"))
        assert loop.run_until(sleeper.done)
        assert sleeper.result() == "woke"
        assert loop.virtual_clock.elapsed_ns == offset_ns + seconds_to_ns(seconds)
    finally:
        loop.close()


async def timed_out(kind: str, seconds: float) -> bool:
    """Whether a ``seconds`` timeout of ``kind`` around a longer sleep fired."""
    longer = seconds * 2 + 1
    try:
        if kind == "wait_for":
            await asyncio.wait_for(asyncio.sleep(longer), seconds)
        elif kind == "timeout":
            async with asyncio.timeout(seconds):
                await asyncio.sleep(longer)
        else:
            with anyio.fail_after(seconds):
                await anyio.sleep(longer)
    except TimeoutError:
        return True
    return False


@pytest.mark.parametrize("kind", ["wait_for", "timeout", "fail_after"])
@given(seconds=durations, offset_ns=offsets)
def test_timeouts_fire_at_their_deadline(kind: str, seconds: float, offset_ns: int) -> None:
    loop = loop_at(offset_ns)
    try:
        waiter = loop.create_task(timed_out(kind, seconds))
        assert loop.run_until(waiter.done)
        assert waiter.result() is True
        if kind == "wait_for":  # a delay: call_later, exact to the nanosecond
            expected_ns = offset_ns + seconds_to_ns(seconds)
        else:  # a deadline the library computes in floats: loop.time() + seconds
            expected_ns = seconds_to_ns(offset_ns / 10**9 + seconds, not_below=True)
        assert loop.virtual_clock.elapsed_ns == expected_ns
    finally:
        loop.close()


def test_a_timer_set_for_ever_never_fires_and_the_loop_says_nothing_can_run() -> None:
    loop = loop_at(0)
    try:
        sleeper = loop.create_task(asyncio.sleep(math.inf))
        assert loop.run_until(sleeper.done) is False
        assert loop.time() == 0
        sleeper.cancel()
        loop.run_until(sleeper.done)
    finally:
        loop.close()


def test_a_timer_deadline_that_is_not_a_number_is_refused() -> None:
    loop = loop_at(0)
    try:
        with pytest.raises(ValueError, match="deadline must be a number of seconds, got nan"):
            loop.call_at(math.nan, print)
        with pytest.raises(ValueError, match="delay must be a number of seconds, got nan"):
            loop.call_later(math.nan, print)
    finally:
        loop.close()


# --- flows: sleeps, task timeouts, retry delays ------------------------------------


def nap_task(seconds: float) -> Any:
    @task
    async def nap() -> float:
        await asyncio.sleep(seconds)
        await anyio.sleep(seconds)
        return seconds

    return nap


@flow_settings
@given(durations)
def test_sync_flow_with_an_async_task_sleeping_completes(seconds: float) -> None:
    nap = nap_task(seconds)

    @flow
    def napping() -> float:
        return nap()

    runner = DeterministicTaskRunner()
    state = within(BOUND, lambda: under_runner(runner, lambda: napping(return_state=True)))
    assert state.type is StateType.COMPLETED, state.message
    assert runner.clock.elapsed_ns >= 2 * seconds_to_ns(seconds)


@flow_settings
@given(durations)
def test_async_flow_with_an_async_task_sleeping_completes(seconds: float) -> None:
    nap = nap_task(seconds)

    @flow
    async def napping() -> float:
        return await nap()

    runner = DeterministicTaskRunner()
    run = lambda: asyncio.run(napping(return_state=True))  # noqa: E731
    state = within(BOUND, lambda: under_runner(runner, run))
    assert state.type is StateType.COMPLETED, state.message
    assert runner.clock.elapsed_ns >= 2 * seconds_to_ns(seconds)


@flow_settings
@given(st.sampled_from(LISTED[:5]) | st.floats(min_value=1e-9, max_value=1e6))
def test_task_timeout_fires_in_virtual_time(seconds: float) -> None:
    @task(timeout_seconds=seconds)
    async def overstays() -> None:
        await asyncio.sleep(seconds * 2 + 1)

    @flow
    def timing_out() -> str:
        return overstays(return_state=True).name

    runner = DeterministicTaskRunner()
    assert within(BOUND, lambda: under_runner(runner, timing_out)) == "TimedOut"
    assert runner.clock.elapsed_ns >= seconds_to_ns(seconds)
    assert runner.clock.elapsed_ns < seconds_to_ns(seconds * 2 + 1)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync task", "async task"])
@flow_settings
@given(seconds=durations)
def test_retry_delays_pass_in_virtual_time(is_async: bool, seconds: float) -> None:
    attempts: list[int] = []

    def fail_first() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first attempt fails")
        return "second"

    async def fail_first_async() -> str:
        return fail_first()

    flaky = task(retries=1, retry_delay_seconds=seconds)(
        fail_first_async if is_async else fail_first
    )

    @flow
    def retrying() -> str:
        return flaky()

    runner = DeterministicTaskRunner()
    assert within(BOUND, lambda: under_runner(runner, retrying)) == "second"
    assert runner.clock.elapsed_ns >= seconds_to_ns(seconds)
