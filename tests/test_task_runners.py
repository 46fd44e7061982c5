"""Task runners: the behaviours of Prefect's own runner test suite, under all four runners,
plus the runner protocol, options and pickling.

Concurrency is read from the recorded transitions: two runs ran at the same
time when their RUNNING intervals overlap.
"""

from __future__ import annotations

import asyncio
import contextvars
import pickle
import threading
import time
from pathlib import Path

import anyio
import pytest
from conftest import NON_SEQUENTIAL, switching_threads_often

from flowcore import StateType, TaskFuture, flow, task
from flowcore.task_runners import (
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    DoneHandle,
    SequentialTaskRunner,
    TaskRunner,
    override_task_runner,
)

SLEEP = 0.3


@task
def sync_sleep(seconds=SLEEP):
    time.sleep(seconds)
    return "slept"


@task
async def async_sleep(seconds=SLEEP):
    await anyio.sleep(seconds)
    return "slept"


@task
def quick(value=None):
    return value


@task
async def async_quick(value=None):
    return value


@task
def bad():
    raise ValueError("this task fails")


# --- successful and failing flows ---------------------------------------------------


def test_successful_flow_run(runner: TaskRunner):
    @task
    def task_a():
        return "a"

    @task
    def task_b():
        return "b"

    @task
    def task_c(b):
        return b + "c"

    @flow(task_runner=runner)
    def pipeline():
        a = task_a.submit()
        b = task_b.submit()
        c = task_c.submit(b)
        return a, b, c

    a, b, c = pipeline(return_state=True).result()
    assert (a, b, c) == ("a", "b", "bc")


def test_failing_flow_run_gives_upstream_failed_dependents(runner: TaskRunner, events):
    @task
    def task_b():
        raise RuntimeError("This task failed!")

    @task
    def task_c(b):
        return b + "c"

    @task
    def task_d(c):
        return c

    @flow(task_runner=runner)
    def pipeline():
        a = quick.submit("a")
        b = task_b.submit()
        c = task_c.submit(b)
        d = task_d.submit(c)
        return a, b, c, d

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert state.message == "1/4 states failed."  # runs that never started do not count
    with pytest.raises(RuntimeError, match="This task failed!"):
        state.result()
    assert events.state_types("quick-0")[-1] is StateType.COMPLETED
    assert events.state_names("task_b-0")[-1] == "Failed"
    for name, upstream in (("task_c-0", "task_b-0"), ("task_d-0", "task_c-0")):
        assert events.state_names(name) == ["Pending", "NotReady"]
        assert f"Upstream task run {upstream!r}" in events.of(name)[-1].state.message


# --- sync tasks ---------------------------------------------------------------------


def test_sync_tasks_run_sequentially_with_the_sequential_runner(events):
    @flow(task_runner=SequentialTaskRunner())
    def pipeline():
        sync_sleep.submit(0.05)
        quick.submit()

    pipeline()
    assert not events.overlap("sync_sleep-0", "quick-0")
    assert events.running_interval("sync_sleep-0")[1] <= events.running_interval("quick-0")[0]


@task
def meet(here: str, there: str, timeout: float = 30.0) -> bool:
    """Mark ``here`` and wait for ``there``: only runs that overlap both return True.

    Files, not timing, show the overlap, so it works across Dask worker
    processes and on a slow machine alike.
    """
    Path(here).touch()
    deadline = time.monotonic() + timeout
    while not Path(there).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@task
async def meet_async(here: str, there: str, timeout: float = 30.0) -> bool:
    """`meet` for async tasks: waits without blocking the event loop."""
    Path(here).touch()
    deadline = time.monotonic() + timeout
    while not Path(there).exists():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@pytest.mark.parametrize("runner_name", NON_SEQUENTIAL)
def test_sync_tasks_run_concurrently_with_non_sequential_runners(
    runner: TaskRunner, events, tmp_path
):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")

    @flow(task_runner=runner)
    def pipeline():
        return [meet.submit(a, b), meet.submit(b, a)]

    assert pipeline() == [True, True]
    assert events.overlap("meet-0", "meet-1")


# --- async tasks --------------------------------------------------------------------


def test_async_tasks_run_sequentially_with_the_sequential_runner(events):
    @flow(task_runner=SequentialTaskRunner())
    async def pipeline():
        await async_sleep.submit(0.05)
        await async_quick.submit()

    asyncio.run(pipeline())
    assert (
        events.running_interval("async_sleep-0")[1] <= events.running_interval("async_quick-0")[0]
    )


@pytest.mark.parametrize("runner_name", NON_SEQUENTIAL)
def test_async_tasks_run_concurrently_with_non_sequential_runners(
    runner: TaskRunner, events, tmp_path
):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")

    @flow(task_runner=runner)
    async def pipeline():
        first = await meet_async.submit(a, b)
        second = await meet_async.submit(b, a)
        return [await first, await second]

    assert asyncio.run(pipeline()) == [True, True]
    assert events.overlap("meet_async-0", "meet_async-1")


@pytest.mark.parametrize("runner_name", NON_SEQUENTIAL)
def test_async_tasks_in_a_sync_flow_run_concurrently(runner: TaskRunner, events, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")

    @flow(task_runner=runner)
    def pipeline():
        return [meet_async.submit(a, b), meet_async.submit(b, a)]

    assert pipeline() == [True, True]
    assert events.overlap("meet_async-0", "meet_async-1")


def test_async_tasks_run_concurrently_in_a_task_group_under_every_runner(
    runner: TaskRunner, events
):
    @flow(task_runner=runner)
    async def pipeline():
        async with anyio.create_task_group() as group:
            group.start_soon(async_sleep)
            group.start_soon(async_quick)

    asyncio.run(pipeline())
    # Started second, the quick one did not wait for the slow one to end.
    assert events.running_interval("async_quick-0")[1] < events.running_interval("async_sleep-0")[1]


def test_gathered_calls_in_an_async_flow_run_concurrently_under_every_runner(
    runner: TaskRunner, events, tmp_path
):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")

    @flow(task_runner=runner)
    async def pipeline():
        return await asyncio.gather(meet_async(a, b), meet(b, a))

    assert asyncio.run(pipeline()) == [True, True]
    assert events.overlap("meet_async-0", "meet-0")


# --- subflows --------------------------------------------------------------------------


def test_sync_subflows_run_sequentially_under_every_runner(runner: TaskRunner, events):
    @flow
    def first():
        time.sleep(0.05)

    @flow
    def second():
        pass

    @flow(task_runner=runner)
    def parent():
        first()
        second()

    parent()
    assert (
        events.running_interval("first-0", "flow")[1]
        <= events.running_interval("second-0", "flow")[0]
    )


def test_async_subflows_run_concurrently_in_a_task_group_under_every_runner(
    runner: TaskRunner, events
):
    @flow
    async def slow():
        await anyio.sleep(SLEEP)

    @flow
    async def fast():
        pass

    @flow(task_runner=runner)
    async def parent():
        async with anyio.create_task_group() as group:
            group.start_soon(slow)
            group.start_soon(fast)

    asyncio.run(parent())
    # Started second, the fast one did not wait for the slow one to end.
    assert (
        events.running_interval("fast-0", "flow")[1] < events.running_interval("slow-0", "flow")[1]
    )


# --- timeouts ----------------------------------------------------------------------------


def test_sync_task_timeout(runner: TaskRunner, events):
    @task(timeout_seconds=0.2)
    def too_slow():
        time.sleep(1)
        return 42

    @task
    def dependent(value):
        return 1764

    @task
    def independent():
        return 74088

    @flow(task_runner=runner)
    def pipeline():
        a = too_slow.submit()
        b = dependent.submit(a)
        c = independent.submit()
        return a, b, c

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert events.state_names("too_slow-0")[-1] == "TimedOut"
    assert events.state_names("dependent-0") == ["Pending", "NotReady"]
    assert events.state_types("independent-0")[-1] is StateType.COMPLETED


def test_async_task_timeout(runner: TaskRunner, events):
    @task(timeout_seconds=0.2)
    async def too_slow():
        await asyncio.sleep(2)
        return 42

    @task
    async def dependent(value):
        return 1764

    @task
    async def independent():
        return 74088

    @flow(task_runner=runner)
    async def pipeline():
        a = await too_slow.submit()
        b = await dependent.submit(a)
        c = await independent.submit()
        return a, b, c

    state = asyncio.run(pipeline(return_state=True))
    assert state.is_failed()
    assert events.state_names("too_slow-0")[-1] == "TimedOut"
    assert events.state_names("dependent-0") == ["Pending", "NotReady"]
    assert events.state_types("independent-0")[-1] is StateType.COMPLETED


# --- pickling ----------------------------------------------------------------------------


def test_runner_is_usable_after_pickling(runner: TaskRunner):
    restored = pickle.loads(pickle.dumps(runner))
    assert type(restored) is type(runner)

    @flow(task_runner=restored)
    def pipeline():
        return quick(1), async_quick(2)

    assert pipeline() == (1, 2)


def test_started_runner_pickles(runner: TaskRunner):
    runner.start()
    try:
        restored = pickle.loads(pickle.dumps(runner))
    finally:
        runner.shutdown()

    @flow(task_runner=restored)
    def pipeline():
        return quick(3)

    assert pipeline() == 3


# --- the protocol and options ---------------------------------------------------------------


class InlineRunner(TaskRunner):
    name = "inline"
    runs_one_at_a_time = True
    runs_at_submission = True

    def submit(self, run):
        return DoneHandle(run.execute())


def test_a_runner_of_your_own_needs_only_submit(events):
    @flow(task_runner=InlineRunner)
    def pipeline():
        first = quick(1)
        return quick(first), async_quick(2)

    assert pipeline() == (1, 2)

    @flow(task_runner=InlineRunner())
    async def async_pipeline():
        return await quick(5)

    assert asyncio.run(async_pipeline()) == 5


def test_runner_without_submit_says_what_to_implement():
    class Broken(TaskRunner):
        pass

    @flow(task_runner=Broken)
    def pipeline():
        return quick(1)

    with pytest.raises(NotImplementedError, match=r"Broken must implement submit\(run\)"):
        pipeline()


def test_override_task_runner_replaces_every_flows_runner(events):
    @flow(task_runner=ConcurrentTaskRunner())
    def pipeline():
        sync_sleep.submit(0.1)
        sync_sleep.submit(0.1)

    with override_task_runner(SequentialTaskRunner()):
        pipeline()
    assert not events.overlap("sync_sleep-0", "sync_sleep-1")


def test_flow_accepts_a_runner_class_or_instance_and_rejects_others():
    assert isinstance(flow(task_runner=SequentialTaskRunner)(lambda: 1).task_runner, TaskRunner)
    with pytest.raises(ValueError, match="task_runner must be a TaskRunner instance or class"):
        flow(task_runner="dask")(lambda: 1)


@pytest.mark.parametrize("max_workers", [0, -1, 1.5, True, "2"])
def test_concurrent_runner_rejects_bad_max_workers(max_workers):
    with pytest.raises(
        ValueError, match=f"max_workers must be an integer >= 1 or None, got {max_workers!r}"
    ):
        ConcurrentTaskRunner(max_workers=max_workers)


def test_concurrent_runner_max_workers_limits_overlap(events):
    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    def pipeline():
        for _ in range(3):
            sync_sleep.submit(0.02)

    pipeline()
    assert events.max_concurrency() == 1


def test_async_runner_rejects_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of asyncio, trio, got 'curio'"):
        AsyncTaskRunner(backend="curio")


def test_async_runner_runs_on_trio():
    pytest.importorskip("trio")

    @flow(task_runner=AsyncTaskRunner(backend="trio"))
    def pipeline():
        return async_quick(1), quick(2)

    assert pipeline() == (1, 2)


def test_future_of_each_runner_is_a_task_future(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        future = quick.submit(1)
        assert isinstance(future, TaskFuture)
        assert future.wait().is_completed()
        return future.state.result()

    assert pipeline() == 1


def test_concurrent_runner_starts_ten_sync_runs_at_once_by_default(events) -> None:
    """As Prefect 2's ConcurrentTaskRunner: up to anyio's default thread limit (40)."""
    barrier = threading.Barrier(10, timeout=20)

    @task
    def meet(index: int) -> int:
        barrier.wait()  # passes only once all ten run at the same time
        return index

    @flow(task_runner=ConcurrentTaskRunner())
    def pipeline() -> list[int]:
        return [meet(index) for index in range(10)]

    assert pipeline() == list(range(10))
    assert events.max_concurrency() == 10


class _WhereStarted(SequentialTaskRunner):
    """Notes the thread its start and shutdown run in; may block, says its flag."""

    may_block_to_start_or_stop = True

    def __init__(self) -> None:
        self.seen: list[str] = []

    def duplicate(self) -> _WhereStarted:
        return self  # one runner to look at after the flow run

    def start(self) -> None:
        self.seen.append(threading.current_thread().name)

    def shutdown(self, cancel: bool = False) -> None:
        self.seen.append(threading.current_thread().name)


class _StartsAtOnce(_WhereStarted):
    may_block_to_start_or_stop = False


@pytest.mark.parametrize("runner_class", [_WhereStarted, _StartsAtOnce])
def test_an_async_flow_starts_and_stops_its_runner_off_its_loop_only_if_that_may_block(
    runner_class: type[_WhereStarted],
) -> None:
    runner = runner_class()

    @flow(task_runner=runner)
    async def quick_async() -> int:
        return 1

    async def main() -> tuple[int, str]:
        return await quick_async(), threading.current_thread().name

    value, loop_thread = asyncio.run(main())
    assert value == 1
    on_the_loop = [name == loop_thread for name in runner.seen]
    assert on_the_loop == [not runner.may_block_to_start_or_stop] * 2


def test_the_built_in_in_process_runners_start_and_stop_at_once() -> None:
    """In an async flow they have nothing to start or join: no thread hand-off."""
    assert not SequentialTaskRunner.may_block_to_start_or_stop
    assert not ConcurrentTaskRunner.may_block_to_start_or_stop
    assert not AsyncTaskRunner.may_block_to_start_or_stop
    from pytest_flows.deterministic import DeterministicTaskRunner

    assert not DeterministicTaskRunner.may_block_to_start_or_stop
    assert TaskRunner.may_block_to_start_or_stop  # a runner of your own, unless it says so


# --- threads for sync bodies ---------------------------------------------------------


@task
def where() -> threading.Thread:
    return threading.current_thread()


def _body_threads_alive(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before`` still alive after a grace period to end."""
    deadline = time.monotonic() + 10
    while True:
        alive = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_sync_tasks_awaited_in_turn_in_an_async_flow_reuse_one_thread(runner: TaskRunner):
    """A new thread per sync body cost about 300 µs of CPU each: the runner keeps a pool."""
    before = set(threading.enumerate())

    @flow(task_runner=runner)
    async def pipeline() -> list[threading.Thread]:
        return [await where() for _ in range(10)]

    threads = asyncio.run(pipeline())
    assert len(set(threads)) == 1, threads
    assert threads[0] is not threading.current_thread()
    assert _body_threads_alive(before) == []


def test_sync_tasks_in_turn_in_a_sync_flow_reuse_one_thread_under_the_async_runner():
    before = set(threading.enumerate())

    @flow(task_runner=AsyncTaskRunner())
    def pipeline() -> list[threading.Thread]:
        futures = [where()]
        for _ in range(9):
            futures.append(where(wait_for=[futures[-1]]))
        return futures

    threads = pipeline()
    assert len(set(threads)) == 1, threads
    assert _body_threads_alive(before) == []


def test_a_body_submitting_from_many_threads_at_once_leaves_no_pool_thread_behind():
    """The concurrent runner makes its pool on first use: one pool, however many threads
    submit at that moment (a second one would never be shut down, its threads left)."""
    before = set(threading.enumerate())

    @flow(task_runner=ConcurrentTaskRunner())
    def submits_from_threads() -> None:
        start = threading.Barrier(8)

        def submit() -> None:
            start.wait(10)
            quick.submit(1)

        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(submit,))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    with switching_threads_often():
        for _ in range(20):
            submits_from_threads()
    assert _body_threads_alive(before) == []
