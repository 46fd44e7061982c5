"""Tasks: calling, submitting and mapping them, in and out of flows, under every runner."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from collections.abc import Callable
from typing import Any

import pytest

from flowcore import (
    FlowcoreUsageError,
    InvalidArgument,
    State,
    Task,
    TaskFuture,
    flow,
    task,
    unmapped,
)
from flowcore.task_runners import TaskRunner

Pair = namedtuple("Pair", ["left", "right"])


@task
def add(x, y=0):
    return x + y


@task
def double(x):
    return 2 * x


@task
async def async_double(x):
    await asyncio.sleep(0)
    return 2 * x


@task
def total(values):
    return sum(values)


@task
def describe(value):
    return repr(value)


@task
def fail(message="boom"):
    raise ValueError(message)


@task
def identity(value):
    return value


# --- outside a flow ----------------------------------------------------------


def test_task_called_outside_a_flow_runs_in_place():
    assert add(1, 2) == 3
    assert double.fn(4) == 8


def test_async_task_called_outside_a_flow_gives_a_coroutine_of_its_result():
    assert asyncio.run(async_double(3)) == 6


def test_task_called_outside_a_flow_with_return_state_gives_the_state():
    state = add(1, 2, return_state=True)
    assert isinstance(state, State)
    assert state.is_completed()
    assert state.result() == 3


def test_task_failing_outside_a_flow_raises_its_exception():
    with pytest.raises(ValueError, match="boom"):
        fail()


def test_submit_outside_a_flow_says_a_flow_is_needed():
    with pytest.raises(FlowcoreUsageError, match=r"add.submit\(\) needs a running flow"):
        add.submit(1)


def test_map_outside_a_flow_says_a_flow_is_needed():
    with pytest.raises(FlowcoreUsageError, match=r"add.map\(\) needs a running flow"):
        add.map([1, 2])


# --- in a sync flow ------------------------------------------------------------


def test_call_in_a_flow_submits_and_returns_a_future(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = double(2)
        assert isinstance(future, TaskFuture)
        explicit = double.submit(3)
        assert isinstance(explicit, TaskFuture)
        return future.result(), explicit.result()

    assert pipeline() == (4, 6)


def test_futures_as_arguments_are_resolved_and_make_dependencies(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        first = double(1)
        second = add(first, y=double(2))
        return add(second, 10)

    assert pipeline() == 16
    add_0 = events.of("add-0")[0]
    assert set(add_0.upstream_run_ids) == {
        events.of("double-0")[0].run_id,
        events.of("double-1")[0].run_id,
    }
    assert events.running_interval("double-0")[1] <= events.running_interval("add-0")[0]
    assert events.running_interval("add-0")[1] <= events.running_interval("add-1")[0]


def test_futures_inside_lists_tuples_dicts_are_resolved(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        a, b = double(1), double(2)
        return (
            total([a, b, 3]),
            identity((a, {"b": b, "plain": 1})),
            identity(Pair(a, [b])),
        )

    assert pipeline() == (9, (2, {"b": 4, "plain": 1}), Pair(2, [4]))
    assert len(events.of("total-0")[0].upstream_run_ids) == 2
    assert len(events.of("identity-0")[0].upstream_run_ids) == 2


def test_wait_for_orders_runs_without_passing_data(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        first = double(1)
        return add(5, wait_for=[first])

    assert pipeline() == 5
    assert events.of("add-0")[0].upstream_run_ids == (events.of("double-0")[0].run_id,)
    assert events.running_interval("double-0")[1] <= events.running_interval("add-0")[0]


def test_wait_for_rejects_what_is_not_a_future(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        add(1, wait_for=[3])

    with pytest.raises(InvalidArgument, match="wait_for takes task futures"):
        pipeline()


def test_map_submits_one_run_per_item(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        futures = add.map([1, 2, 3], y=unmapped(10))
        assert all(isinstance(future, TaskFuture) for future in futures)
        return futures

    assert pipeline() == [11, 12, 13]
    assert events.run_names() == ["add-0", "add-1", "add-2"]


def test_map_passes_strings_and_unmapped_lists_whole(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return describe.map(["a", "b"]), add.map([[1], [2]], unmapped([0]))

    assert pipeline() == (["'a'", "'b'"], [[1, 0], [2, 0]])


def test_map_over_a_future_maps_over_its_result(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        items = identity([1, 2, 3])
        return double.map(items)

    assert pipeline() == [2, 4, 6]


def test_map_with_return_state_gives_states(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        states = double.map([1, 2], return_state=True)
        assert all(isinstance(state, State) for state in states)
        return [state.result() for state in states]

    assert pipeline() == [2, 4]


def test_map_rejects_iterables_of_different_lengths(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        add.map([1, 2], [1])

    with pytest.raises(
        InvalidArgument, match="different lengths: argument 0 has 2, argument 1 has 1"
    ):
        pipeline()


def test_map_needs_something_to_map_over(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        add.map(1, unmapped([2]))

    with pytest.raises(InvalidArgument, match="at least one iterable"):
        pipeline()


def test_call_with_return_state_in_a_flow_waits_and_gives_the_state(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        good = double(1, return_state=True)
        bad = fail(return_state=True)
        assert isinstance(good, State)
        assert isinstance(bad, State)
        return good.is_completed(), bad.is_failed(), type(bad.result(raise_on_failure=False))

    assert pipeline() == (True, True, ValueError)


def test_async_task_in_a_sync_flow_runs_under_every_runner(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        first = async_double(1)
        return async_double(first), double(first)

    assert pipeline() == (4, 4)


# --- in an async flow ------------------------------------------------------------


def test_call_in_an_async_flow_gives_an_awaitable_of_the_result(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        call = double(2)
        assert not isinstance(call, TaskFuture)
        return await call + await async_double(3)

    assert asyncio.run(pipeline()) == 10


def test_submit_in_an_async_flow_gives_a_future_to_await(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        first = await double.submit(2)
        assert isinstance(first, TaskFuture)
        second = await add.submit(first, 1)
        third = await async_double.submit(second)
        return await third

    assert asyncio.run(pipeline()) == 10


def test_map_in_an_async_flow_gives_futures(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        futures = await add.map([1, 2], y=unmapped(1))
        return [await future for future in futures]

    assert asyncio.run(pipeline()) == [2, 3]


def test_async_flow_returning_futures_gives_their_results(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        return [await double.submit(1), await async_double.submit(2)]

    assert asyncio.run(pipeline()) == [2, 4]


# --- misuse ---------------------------------------------------------------------


@task
def outer_task():
    return double(1)


def test_task_called_from_a_task_raises_a_clear_error(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return outer_task()

    with pytest.raises(
        FlowcoreUsageError, match=r"called from inside task run 'outer_task-0'.*\.fn"
    ):
        pipeline()


def test_task_called_from_a_task_outside_a_flow_raises_a_clear_error():
    with pytest.raises(FlowcoreUsageError, match="tasks cannot be called from tasks"):
        outer_task()


# --- options ----------------------------------------------------------------------


def test_task_options_are_kept():
    @task(name="renamed", retries=2, retry_delay_seconds=[1, 2], timeout_seconds=3, tags=["a"])
    def work():
        pass

    assert isinstance(work, Task)
    assert (work.name, work.retries, work.retry_delay_seconds, work.timeout_seconds) == (
        "renamed",
        2,
        (1.0, 2.0),
        3.0,
    )
    assert work.tags == frozenset({"a"})
    assert [work.retry_delay(attempt) for attempt in range(3)] == [1.0, 2.0, 2.0]


def test_prefect_only_task_options_are_accepted():
    @task(log_prints=True, cache_key_fn=None, persist_result=False)
    def work():
        return 1

    assert work() == 1


def test_negative_retries_are_rejected_with_the_value():
    with pytest.raises(InvalidArgument, match="retries must be >= 0, got -1"):
        task(retries=-1)(lambda: None)


def test_non_callable_to_task_is_rejected():
    with pytest.raises(TypeError, match=r"@task needs a function to wrap, got 3 \(int\)"):
        task(3)


def test_unknown_task_option_is_rejected_listing_valid_ones():
    with pytest.raises(
        InvalidArgument, match=r"unexpected keyword argument 'retires'; valid: name, retries"
    ):
        task(retires=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout_seconds": -1}, "timeout_seconds must be a finite number of seconds > 0"),
        ({"timeout_seconds": 0}, "timeout_seconds must be a finite number of seconds > 0"),
        ({"retry_delay_seconds": -0.5}, r"retry_delay_seconds must be .*>= 0 .*got -0\.5"),
        ({"retry_delay_seconds": [1, -2]}, r"retry_delay_seconds must be .*>= 0 .*got -2"),
        ({"retries": 1.5}, "retries must be an integer >= 0, got 1.5"),
        ({"tags": "a"}, "tags must be an iterable of strings"),
    ],
)
def test_bad_task_options_state_the_rule_and_the_value(options, message):
    with pytest.raises(InvalidArgument, match=message):
        task(**options)(lambda: None)


def test_with_options_copies_and_changes_options():
    changed = double.with_options(name="twice", retries=1)
    assert (changed.name, changed.retries, changed.fn) == ("twice", 1, double.fn)
    assert (double.name, double.retries) == ("double", 0)
    with pytest.raises(InvalidArgument, match="unexpected keyword argument"):
        double.with_options(retires=1)
    with pytest.raises(InvalidArgument, match="retries must be >= 0, got -3"):
        double.with_options(retries=-3)


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_a_task_mutates_the_very_dict_and_list_its_caller_passed(
    make_runner: Callable[[str], Any], runner_name: str
) -> None:
    @task
    def tally(counts: dict[str, int], seen: list[int], item: int) -> None:
        counts["n"] = counts.get("n", 0) + 1
        seen.append(item)

    counts: dict[str, int] = {}
    seen: list[int] = []

    @flow(task_runner=make_runner(runner_name))
    def tally_all() -> None:
        for item in range(3):
            tally(counts, seen, item)

    tally_all()
    assert counts == {"n": 3}
    assert sorted(seen) == [0, 1, 2]


def test_a_self_referencing_argument_reaches_the_task_whole() -> None:
    @task
    def length(items: list[Any]) -> int:
        return len(items)

    looped: list[Any] = [1]
    looped.append(looped)

    @flow
    def measure() -> int:
        return length(looped)

    assert measure() == 2
