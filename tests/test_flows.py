"""Flows: calling them, their options, subflows, and many flow runs at once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time

import pytest

from flowcore import (
    Flow,
    FlowcoreUsageError,
    FlowTimeoutError,
    InvalidArgument,
    State,
    TaskFuture,
    flow,
    task,
)
from flowcore.task_runners import ConcurrentTaskRunner, TaskRunner


@task
def double(x):
    return 2 * x


@task
async def async_double(x):
    await asyncio.sleep(0)
    return 2 * x


@task
def nap(seconds):
    time.sleep(seconds)
    return seconds


@task
def fail(message="boom"):
    raise ValueError(message)


# --- calling a flow -------------------------------------------------------------------


def test_sync_flow_returns_its_value_with_futures_resolved(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline(x):
        return {"one": double(x), "plain": x, "many": [double(x + 1), async_double(x)]}

    assert pipeline(1) == {"one": 2, "plain": 1, "many": [4, 2]}


def test_flow_that_raises_raises_to_the_caller(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        double(1)
        raise KeyError("in the body")

    with pytest.raises(KeyError, match="in the body"):
        pipeline()


def test_return_state_gives_the_final_state(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return double(21)

    state = pipeline(return_state=True)
    assert isinstance(state, State)
    assert state.is_completed()
    assert state.result() == 42

    @flow(task_runner=runner)
    def failing():
        raise ValueError("nope")

    failed = failing(return_state=True)
    assert failed.is_failed()
    assert "ValueError: nope" in failed.message
    assert isinstance(failed.result(raise_on_failure=False), ValueError)


def test_async_flow_call_gives_an_awaitable_of_its_value(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline(x):
        return await double(x)

    call = pipeline(4)
    assert inspect.iscoroutine(call)
    assert asyncio.run(call) == 8
    state = asyncio.run(pipeline(1, return_state=True))
    assert state.is_completed()
    assert state.result() == 2


def test_async_flow_that_raises_raises_to_the_awaiter(runner: TaskRunner):
    @flow(task_runner=runner)
    async def pipeline():
        raise ValueError("async body")

    with pytest.raises(ValueError, match="async body"):
        asyncio.run(pipeline())


def test_async_flow_called_without_awaiting_warns_naming_the_flow():
    @flow(name="never_awaited")
    async def pipeline():
        return 1

    call = pipeline()
    with pytest.warns(RuntimeWarning, match=r"never_awaited.*was never awaited"):
        del call  # the last reference: the coroutine is finalized here


def test_task_call_in_an_async_flow_not_awaited_warns_naming_the_task():
    @flow
    async def pipeline():
        double(1)

    with pytest.warns(RuntimeWarning, match=r"double.*was never awaited"):
        asyncio.run(pipeline())


def test_flow_waits_for_every_run_it_submitted(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        nap.submit(0.2)
        double.submit(1)

    pipeline()
    flow_end = events.of(events.run_names("flow")[-1], "flow")[-1]
    for name in ("nap-0", "double-0"):
        assert events.running_interval(name)[1] <= flow_end.timestamp_ns


def test_future_result_inside_the_flow_gives_the_value(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = double(5)
        assert isinstance(future, TaskFuture)
        return future.result() + 1

    assert pipeline() == 11


def test_futures_passed_to_a_subflow_are_resolved(runner: TaskRunner):
    @flow
    def child(values):
        return sum(values)

    @flow(task_runner=runner)
    def parent():
        return child([double(1), double(2)])

    assert parent() == 6


# --- subflows --------------------------------------------------------------------------


def test_subflow_is_a_child_flow_run_with_its_own_runs(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def child(x):
        return double(x)

    @flow(task_runner=runner)
    def parent():
        return child(1), child(2), double(3)

    assert parent() == (2, 4, 6)
    parent_id = events.of(events.run_names("flow")[0], "flow")[0].run_id
    children = [e for e in events.events if e.kind == "flow" and e.name == "child"]
    assert {e.run_name for e in children} == {"child-0", "child-1"}
    assert all(e.parent_flow_run_id == parent_id for e in children)
    child_ids = {e.run_id for e in children}
    doubles = [e for e in events.events if e.kind == "task" and e.state.is_pending()]
    assert sorted(e.flow_run_id in child_ids for e in doubles) == [False, True, True]


def test_failed_subflow_fails_the_parent_with_its_exception(runner: TaskRunner):
    @flow
    def child():
        fail("child failed")

    @flow(task_runner=runner)
    def parent():
        child(return_state=True)

    state = parent(return_state=True)
    assert state.is_failed()
    assert state.message == "1/1 states failed."
    with pytest.raises(ValueError, match="child failed"):
        state.result()


def test_async_subflows_gathered_run_concurrently(events):
    @flow
    async def child(seconds):
        await asyncio.sleep(seconds)
        return seconds

    @flow
    async def parent():
        return await asyncio.gather(child(0.3), child(0.3))

    assert asyncio.run(parent()) == [0.3, 0.3]
    assert events.overlap("child-0", "child-1", "flow")


def test_flow_called_inside_a_task_raises_a_clear_error():
    @flow
    def inner():
        return 1

    @task
    def calls_a_flow():
        return inner()

    @flow
    def outer():
        return calls_a_flow()

    with pytest.raises(FlowcoreUsageError, match="'inner' was called from inside task run"):
        outer()


# --- many flow runs at once --------------------------------------------------------------


def test_flow_runs_in_threads_stay_isolated(runner: TaskRunner):
    @flow(task_runner=runner)
    def numbered(n):
        futures = [double.submit(n) for _ in range(3)]
        time.sleep(0.05)
        return [future.run_name for future in futures], [future.result() for future in futures]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(numbered, range(4)))
    for n, (names, values) in enumerate(outcomes):
        assert names == ["double-0", "double-1", "double-2"]
        assert values == [2 * n] * 3


def test_flow_runs_in_asyncio_tasks_stay_isolated(runner: TaskRunner, events):
    @flow(task_runner=runner)
    async def pipeline(n):
        futures = [await double.submit(n), await async_double.submit(n)]
        await asyncio.sleep(0.05)
        return [future.run_name for future in futures], [await future for future in futures]

    async def main():
        return await asyncio.gather(*(pipeline(n) for n in range(4)))

    outcomes = asyncio.run(main())
    for n, (names, values) in enumerate(outcomes):
        assert names == ["double-0", "async_double-0"]
        assert values == [2 * n, 2 * n]
    flow_ids = {e.run_id for e in events.events if e.kind == "flow"}
    assert len(flow_ids) == 4
    per_flow = {}
    for event in events.events:
        if event.kind == "task" and event.state.is_pending():
            per_flow.setdefault(event.flow_run_id, []).append(event.run_name)
    assert sorted(per_flow) == sorted(flow_ids)
    assert all(sorted(names) == ["async_double-0", "double-0"] for names in per_flow.values())


def test_future_of_another_flow_run_is_rejected():
    kept = []

    @flow
    def keeps():
        kept.append(double(2))

    @flow
    def uses():
        return double(kept[0])

    keeps()
    with pytest.raises(InvalidArgument, match=r"belongs to another flow run.*future\.result\(\)"):
        uses()


# --- options ----------------------------------------------------------------------------------


def test_flow_options_are_kept():
    runner = ConcurrentTaskRunner(max_workers=2)

    @flow(name="renamed", task_runner=runner, timeout_seconds=5, retries=1, log_prints=True)
    def work():
        pass

    assert isinstance(work, Flow)
    assert (work.name, work.task_runner, work.timeout_seconds, work.retries) == (
        "renamed",
        runner,
        5.0,
        1,
    )
    changed = work.with_options(name="again", retries=2)
    assert (changed.name, changed.retries, work.retries) == ("again", 2, 1)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"retries": -1}, InvalidArgument, "retries must be >= 0, got -1"),
        ({"timeout_seconds": -2}, InvalidArgument, "timeout_seconds must be a finite number"),
        ({"retry_delay_seconds": -1}, InvalidArgument, r"retry_delay_seconds must .*>= 0 .*got -1"),
        ({"retires": 1}, InvalidArgument, r"unexpected keyword argument 'retires'; valid: name"),
    ],
)
def test_bad_flow_options_state_the_rule_and_the_value(options, error, message):
    with pytest.raises(error, match=message):
        flow(**options)(lambda: None)


def test_non_callable_to_flow_is_rejected():
    with pytest.raises(TypeError, match=r"@flow needs a function to wrap, got 'x' \(str\)"):
        flow("x")


def test_flow_timeout_fails_the_flow_run(runner: TaskRunner):
    @flow(task_runner=runner, timeout_seconds=0.2)
    def slow():
        while True:  # never ends unless the timeout stops it
            pass

    start = time.monotonic()
    state = slow(return_state=True)
    assert time.monotonic() - start < 3
    assert state.is_failed()
    assert state.name == "TimedOut"
    with pytest.raises(FlowTimeoutError, match=r"exceeded its timeout of 0\.2s"):
        state.result()


def test_async_flow_timeout_fails_the_flow_run(runner: TaskRunner):
    @flow(task_runner=runner, timeout_seconds=0.2)
    async def slow():
        await asyncio.sleep(2)

    state = asyncio.run(slow(return_state=True))
    assert state.name == "TimedOut"
    assert isinstance(state.exception, FlowTimeoutError)


def test_flow_retries_rerun_the_body(runner: TaskRunner, events):
    attempts = []

    @flow(task_runner=runner, retries=2, retry_delay_seconds=0.01)
    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return len(attempts)

    assert flaky() == 3
    name = events.run_names("flow")[-1]
    assert events.state_names(name, "flow") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_flow_run_names_are_numbered_per_flow(events):
    @flow(name="uniquely_named_flow")
    def pipeline():
        return None

    pipeline()
    pipeline()
    assert events.run_names("flow") == ["uniquely_named_flow-0", "uniquely_named_flow-1"]
