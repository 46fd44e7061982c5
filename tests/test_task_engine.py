"""The task engine: a run's lifecycle, retries, timeouts, upstream failures, run names."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from flowcore import (
    FlowcoreUsageError,
    StateType,
    TaskTimeoutError,
    UpstreamFailed,
    flow,
    task,
)
from flowcore.task_runners import TaskRunner


class AttemptCounter:
    """Counts attempts in a file, so it also works on Dask worker processes."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        path.write_text("0")

    def next(self) -> int:
        count = int(Path(self.path).read_text()) + 1
        Path(self.path).write_text(str(count))
        return count


@task(retries=2, retry_delay_seconds=0.01)
def flaky(counter, succeed_on):
    if counter.next() < succeed_on:
        raise RuntimeError("not yet")
    return "done"


@task(retries=2, retry_delay_seconds=[0.01, 0.02])
async def async_flaky(counter, succeed_on):
    await asyncio.sleep(0)
    if counter.next() < succeed_on:
        raise RuntimeError("not yet")
    return "done"


@task
def succeed(value=1):
    return value


@task
def fail(message="boom"):
    raise ValueError(message)


@task
def downstream(value):
    return value


@task(timeout_seconds=0.2)
def too_slow():
    time.sleep(1)


@task(timeout_seconds=0.2)
def busy_too_long():
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pass


@task(timeout_seconds=0.2)
async def async_too_slow():
    await asyncio.sleep(5)


@task(timeout_seconds=0.1, retries=1)
def times_out_twice():
    time.sleep(0.5)


# --- histories and retries ------------------------------------------------------------


def test_successful_run_history(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        future = succeed.submit()
        future.wait()
        return [state.name for state in future.run.history]

    assert pipeline() == ["Pending", "Running", "Completed"]
    assert events.state_names("succeed-0") == ["Pending", "Running", "Completed"]


@pytest.mark.parametrize("flaky_task", [flaky, async_flaky], ids=["sync", "async"])
def test_retries_until_success_record_every_attempt(
    runner: TaskRunner, events, tmp_path, flaky_task
):
    counter = AttemptCounter(tmp_path / "attempts")

    @flow(task_runner=runner)
    def pipeline():
        future = flaky_task.submit(counter, succeed_on=3)
        future.wait()
        return future.result(), [state.name for state in future.run.history]

    result, history = pipeline()
    expected = [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert result == "done"
    assert history == expected
    name = f"{flaky_task.name}-0"
    assert events.state_names(name) == expected
    scheduled = [e.state for e in events.of(name) if e.state.type is StateType.SCHEDULED]
    assert all(s.scheduled_ns is not None and s.scheduled_ns >= s.timestamp_ns for s in scheduled)
    assert "retry 1 of 2" in scheduled[0].message
    assert isinstance(scheduled[0].exception, RuntimeError)


def test_retries_exhausted_fail_with_the_last_exception(runner: TaskRunner, events, tmp_path):
    counter = AttemptCounter(tmp_path / "attempts")

    @flow(task_runner=runner)
    def pipeline():
        return flaky(counter, succeed_on=10)

    with pytest.raises(RuntimeError, match="not yet"):
        pipeline()
    assert events.state_names("flaky-0") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    assert int(Path(counter.path).read_text()) == 3


def test_retry_delay_is_waited_out(events, tmp_path):
    counter = AttemptCounter(tmp_path / "attempts")
    slow_retry = flaky.with_options(retries=1, retry_delay_seconds=0.2)

    @flow
    def pipeline():
        return slow_retry(counter, succeed_on=2)

    assert pipeline() == "done"
    runs = events.of("flaky-0")
    waiting = next(e for e in runs if e.state.is_scheduled())
    retrying = next(e for e in runs if e.state.name == "Retrying")
    assert retrying.timestamp_ns - waiting.timestamp_ns >= 0.2e9


# --- failures ----------------------------------------------------------------------------


def test_result_of_a_failed_run_raises_the_original_exception(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = fail.submit("original")
        with pytest.raises(ValueError, match="original") as caught:
            future.result()
        state = future.wait()
        return type(caught.value), state.name, state.message

    error_type, name, message = pipeline(return_state=True).result()
    assert error_type is ValueError
    assert name == "Failed"
    assert message == "Task run encountered an exception ValueError: original"  # Prefect's words


def test_dependents_of_a_failed_run_never_run_and_name_it(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        bad = fail.submit()
        after = downstream.submit(bad)
        later = downstream.submit(after)
        return after.wait(), later.wait()

    after, later = pipeline(return_state=True).result(raise_on_failure=False)
    for state, upstream in ((after, "fail-0"), (later, "downstream-0")):
        assert state.type is StateType.PENDING
        assert state.name == "NotReady"
        assert isinstance(state.exception, UpstreamFailed)
        assert f"Upstream task run {upstream!r} did not reach a 'COMPLETED' state" in state.message
    assert events.state_names("downstream-0") == ["Pending", "NotReady"]
    assert events.state_names("downstream-1") == ["Pending", "NotReady"]


def test_wait_for_a_failed_run_also_stops_the_dependent(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        bad = fail.submit()
        succeed.submit(wait_for=[bad])

    with pytest.raises(ValueError, match="boom"):
        pipeline()
    assert events.state_names("succeed-0") == ["Pending", "NotReady"]


# --- timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slow_task", [too_slow, busy_too_long, async_too_slow], ids=["sleep", "busy", "async"]
)
def test_timed_out_run_fails_as_timed_out_and_stops_its_dependents(
    runner: TaskRunner, events, slow_task
):
    @flow(task_runner=runner)
    def pipeline():
        slow = slow_task.submit()
        downstream.submit(slow)
        succeed.submit(5)

    started = time.monotonic()
    state = pipeline(return_state=True)
    # Generous: the busy and async bodies would take 5 s if the timeout did not stop them.
    assert time.monotonic() - started < 2.5
    assert state.is_failed()
    with pytest.raises(TaskTimeoutError, match=r"exceeded its timeout of 0\.2s"):
        state.result()
    name = f"{slow_task.name}-0"
    assert events.state_names(name) == ["Pending", "Running", "TimedOut"]
    assert events.state_names("downstream-0") == ["Pending", "NotReady"]
    assert events.state_types("succeed-0")[-1] is StateType.COMPLETED


def test_timed_out_run_is_retried(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        times_out_twice()

    with pytest.raises(TaskTimeoutError):
        pipeline()
    assert events.state_names("times_out_twice-0") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "TimedOut",
    ]


def test_timed_out_run_outside_a_flow_raises():
    with pytest.raises(TaskTimeoutError, match="'too_slow-"):
        too_slow()


# --- run names ----------------------------------------------------------------------------


def test_run_names_are_deterministic_in_submission_order(runner: TaskRunner, events):
    @flow(task_runner=runner)
    def pipeline():
        futures = [succeed.submit(n) for n in range(3)]
        futures += succeed.map([3, 4])
        futures.append(fail.submit())
        futures.append(succeed(5))
        return [future.run_name for future in futures]

    expected = [f"succeed-{n}" for n in range(5)] + ["fail-0", "succeed-5"]
    assert pipeline(return_state=True).result(raise_on_failure=False) == expected
    assert sorted(events.run_names()) == sorted(expected)
    for n, name in enumerate(expected[:5]):
        assert events.of(name)[0].parameters[0] == ("0", str(n))


def test_run_names_start_over_in_each_flow_run(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        return succeed.submit().run_name

    assert [pipeline(), pipeline()] == ["succeed-0", "succeed-0"]


def test_run_outside_a_flow_has_a_history_and_no_flow(events):
    succeed(3)
    [name] = events.run_names()
    assert name.startswith("succeed-")
    assert events.state_names(name) == ["Pending", "Running", "Completed"]
    assert all(e.flow_run_id is None for e in events.of(name))


def test_task_run_from_a_task_is_refused_with_the_outer_runs_name():
    @task
    def inner():
        return 1

    @task
    def outer():
        return inner.submit()

    @flow
    def pipeline():
        return outer()

    with pytest.raises(
        FlowcoreUsageError, match=r"'inner' was called from inside task run 'outer-0'"
    ):
        pipeline()
