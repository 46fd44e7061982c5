"""What a flow run keeps of its task runs: the unfinished ones, and the tally of the others.

A flow of many runs must not keep a record of each completed run nobody holds:
those are freed as they end (no reference cycle waits for the garbage
collector). The verdicts that need every run still see every run: a body
returning None is decided by all of them, counted, with the first failure
in submission order.
"""

from __future__ import annotations

import contextvars
import subprocess
import sys
import threading
from typing import Any

import pytest
from conftest import switching_threads_often

from flowcore import StateType, flow, task
from flowcore.states import Completed, State
from flowcore.task_runners import (
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskRunner,
)

IN_PROCESS_RUNNERS = [SequentialTaskRunner, ConcurrentTaskRunner, AsyncTaskRunner]


# Run in a fresh interpreter: the plugin's own recording of this test keeps
# every event (and so every result) for the test's report.
FREED_AND_HELD = """
import gc, sys, weakref
from flowcore import flow, task
from flowcore.states import State
from flowcore.task_runners import {runner}

class Payload:
    pass

payloads = []

@task
def make():
    payload = Payload()
    payloads.append(weakref.ref(payload))
    return payload

@task
def identity(x):
    return x

@flow(task_runner={runner}())
def drops_its_futures():
    for _ in range(50):
        make.submit().wait()

@flow(task_runner={runner}())
def keeps_its_futures():
    futures = [identity.submit(i) for i in range(2000)]
    for future in futures:
        future.wait()
    gc.collect()  # what a run compacted is let go: count what stays
    held.append(sum(1 for item in gc.get_objects() if type(item) is State))
    return futures

gc.collect()
gc.disable()
assert drops_its_futures(return_state=True).is_completed()
alive = sum(1 for ref in payloads if ref() is not None)
gc.enable()
gc.collect()
print("alive", alive, "after a collection", sum(1 for ref in payloads if ref() is not None))
held = []
assert keeps_its_futures() == list(range(2000))
print("states held", held[0])
"""


@pytest.mark.parametrize("runner", IN_PROCESS_RUNNERS)
def test_runs_are_freed_as_they_end_and_a_live_run_holds_one_state(
    runner: type[TaskRunner],
) -> None:
    """With the collector off, the results of 50 completed runs nobody holds are freed by
    the end of the flow run: a collection frees none more (no reference cycle keeps them;
    a worker thread may hold the last one it ran until it takes another). A flow holding
    2,000 finished futures holds one State per run (its final one), not one per
    transition."""
    script = FREED_AND_HELD.format(runner=runner.__name__)
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    alive, after_collection = int(lines[0].split()[1]), int(lines[0].split()[-1])
    assert alive == after_collection <= 1, lines
    held = int(lines[1].split()[-1])
    assert 2000 <= held < 2010, lines


@pytest.mark.parametrize("runner", IN_PROCESS_RUNNERS)
def test_history_rebuilds_every_state_in_order(runner: type[TaskRunner]) -> None:
    attempts = iter([ValueError("first"), None])

    @task(retries=1, retry_delay_seconds=0)
    def flaky() -> int:
        error = next(attempts)
        if error is not None:
            raise error
        return 7

    @flow(task_runner=runner())
    def once() -> Any:
        return flaky.submit()

    seen: list[Any] = []
    from flowcore import subscribe

    with subscribe(seen.append):
        future_state = once(return_state=True)
    assert future_state.result() == 7
    events = [event.state for event in seen if event.kind == "task"]
    run_id = next(event.run_id for event in seen if event.kind == "task")
    names = ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]
    assert [state.name for state in events] == names
    assert all(state.task_run_id == run_id for state in events)


@pytest.mark.parametrize("runner", IN_PROCESS_RUNNERS)
def test_none_return_counts_every_run_and_names_the_first_failure_submitted(
    runner: type[TaskRunner],
) -> None:
    """The run submitted first fails last in time: its error is still the flow's, as when
    every future was kept."""
    second_failed = threading.Event()

    @task
    def ok(x: int) -> int:
        return x

    @task
    def first_fails() -> None:
        second_failed.wait(10)
        raise ValueError("submitted first")

    @task
    def second_fails() -> None:
        second_failed.set()
        raise KeyError("submitted second")

    @flow(task_runner=runner())
    def returns_none() -> None:
        for i in range(300):
            ok.submit(i)
        if runner is SequentialTaskRunner:  # one at a time: the first cannot wait for the second
            second_failed.set()
        first_fails.submit()
        second_fails.submit()

    state = returns_none(return_state=True)
    assert state.type is StateType.FAILED
    assert state.message == "2/302 states failed."
    with pytest.raises(ValueError, match="submitted first"):
        state.result()


def test_a_state_the_body_made_is_its_own_even_after_runs_were_freed() -> None:
    @task
    def ok() -> int:
        return 1

    @flow
    def done() -> State:
        for _ in range(10):
            ok.submit().wait()
        return Completed(message="done")

    state = done(return_state=True)
    assert state.is_completed()
    assert state.message == "done"


def test_a_run_state_returned_by_the_body_decides_the_flow_run() -> None:
    @task
    def bad() -> None:
        raise ValueError("boom")

    @flow
    def hands_on() -> State:
        return bad.submit().wait()

    state = hands_on(return_state=True)
    assert state.type is StateType.FAILED
    assert state.message == "1/1 states failed."


@pytest.mark.parametrize("runner", IN_PROCESS_RUNNERS)
def test_runs_submitted_from_threads_of_the_body_are_all_counted(runner: type[TaskRunner]) -> None:
    @task
    def maybe_fails(x: int) -> int:
        if x % 100 == 0:
            raise ValueError(x)
        return x

    @flow(task_runner=runner())
    def submits_from_threads() -> None:
        start = threading.Barrier(8)

        def submit_some(offset: int) -> None:
            start.wait(10)
            for x in range(offset, offset + 250):
                maybe_fails.submit(x)

        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(submit_some, 250 * i))
            for i in range(8)
        ]  # each with the flow run's context, as a body must hand it to threads of its own
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    with switching_threads_often():
        state = submits_from_threads(return_state=True)
    assert state.message == "20/2000 states failed."
