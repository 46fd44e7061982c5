"""Per-task overhead of each local runner against the raw baseline doing the same work.

| runner          | flowcore flow of N tasks             | raw baseline                            |
|-----------------|--------------------------------------|-----------------------------------------|
| sequential      | ``SequentialTaskRunner``             | a plain loop of calls                   |
| concurrent      | ``ConcurrentTaskRunner``             | ``ThreadPoolExecutor.submit``+``result``|
| async           | async flow, ``AsyncTaskRunner``      | ``asyncio.gather`` in ``asyncio.run``   |
| deterministic   | ``DeterministicTaskRunner(seed=0)``  | a plain loop of calls                   |
| async from sync | sync flow of async tasks, async or   | ``asyncio.gather`` of the same          |
|                 | concurrent runner                    | coroutines                              |
| sync on a loop  | async flow of sync tasks, concurrent | ``run_in_executor`` calls gathered, on  |
|                 | or async runner; sync flow of sync   | a 40-thread ThreadPoolExecutor (the     |
|                 | tasks, async runner                  | sync flow: ``submit``+``result``)       |

The async-from-sync rows cross threads: the flow's thread hands each run to
the runner's event loop, whose thread runs it. The sync-on-a-loop rows run
each sync body in a worker thread from an event loop (the runner's pool of
threads, reused from run to run). The thread-pool row sets the
pool under the concurrent runner (`flowcore.threads.WorkerThreads`) against
``ThreadPoolExecutor`` on the same plain function, with no flowcore run at all:
what the runner's own machinery costs, apart from the run record.

Both sides include their setup: the flow run starts and shuts down its
runner, the baseline creates its pool or event loop. Figures are µs per task.
The fixed cost of an empty flow call is measured too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from benchmarks.deterministic import deterministic_runner_class
from benchmarks.measure import interleaved
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import (
    Sizes,
    async_flow,
    identity,
    identity_async,
    identity_async_task,
    identity_task,
    sync_flow,
)
from flowcore import flow
from flowcore.task_runners import (
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskRunner,
)
from flowcore.threads import WorkerThreads

__all__ = ["run"]

MICRO = 1e6


def plain_loop(n: int) -> list[Any]:
    return [identity(i) for i in range(n)]


def thread_pool(n: int) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor() as pool:
        futures = [pool.submit(identity, i) for i in range(n)]
        return [future.result() for future in futures]


def worker_threads(n: int) -> list[Any]:
    """`thread_pool` with the concurrent runner's pool in place of ThreadPoolExecutor."""
    pool = WorkerThreads(None, name="benchmark")
    try:
        handles = [pool.submit(identity, i) for i in range(n)]
        return [handle.result() for handle in handles]
    finally:
        pool.shutdown()


def sync_flow_of_async_tasks(runner: TaskRunner) -> Callable[[int], list[Any]]:
    """A sync flow on ``runner`` submitting ``n`` trivial async runs; their results."""

    @flow(name="many_async_from_sync", task_runner=runner)
    def many(n: int) -> list[Any]:
        return [identity_async_task(i) for i in range(n)]

    return many


def async_flow_of_sync_tasks(runner: TaskRunner) -> Callable[[int], list[Any]]:
    """An async flow on ``runner`` gathering ``n`` trivial sync runs; run with asyncio.run."""

    @flow(name="many_sync_on_a_loop", task_runner=runner)
    async def many(n: int) -> list[Any]:
        return list(await asyncio.gather(*[identity_task(i) for i in range(n)]))

    return lambda n: asyncio.run(many(n))


def executor_gather(n: int) -> list[Any]:
    """``n`` calls in a 40-thread pool (anyio's limit, and the runners'), awaited at once."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            calls = [loop.run_in_executor(pool, identity, i) for i in range(n)]
            return list(await asyncio.gather(*calls))

    return asyncio.run(main())


def asyncio_gather(n: int) -> list[Any]:
    async def main() -> list[Any]:
        return list(await asyncio.gather(*[identity_async(i) for i in range(n)]))

    return asyncio.run(main())


def deterministic_runner() -> Any | None:
    """``DeterministicTaskRunner(seed=0)``, or None while pytest_flows lacks it."""
    runner_class = deterministic_runner_class()
    return None if runner_class is None else runner_class(seed=0)


def per_task_row(
    name: str,
    flowcore_run: Callable[[int], object],
    baseline_name: str,
    baseline: Callable[[int], object],
    n: int,
    repeats: int,
    goal: Goal | None,
) -> Row:
    """Time ``flowcore_run(n)`` and ``baseline(n)`` in turns; µs per task."""
    samples = interleaved(
        {"flowcore": lambda: flowcore_run(n), "baseline": lambda: baseline(n)}, repeats
    )
    return Row(
        f"{name}, N={n:,}",
        "µs/task",
        samples["flowcore"].scaled(MICRO / n),
        baseline_name,
        samples["baseline"].scaled(MICRO / n),
        goal,
    )


def empty_flow_row(runner_name: str, runner: Any, repeats: int) -> Row:
    """The fixed cost of calling a flow whose body does nothing, against a plain call."""

    def nothing() -> None:
        return None

    empty = flow(name="empty", task_runner=runner)(nothing)
    calls = 100

    def flows() -> None:
        for _ in range(calls):
            empty()

    def plain_calls() -> None:
        for _ in range(calls):
            nothing()

    samples = interleaved({"flow": flows, "call": plain_calls}, repeats)
    return Row(
        f"empty flow call, {runner_name}",
        "µs",
        samples["flow"].scaled(MICRO / calls),
        "plain call",
        samples["call"].scaled(MICRO / calls),
    )


def run(sizes: Sizes) -> Section:
    section = Section("runners", "Per-task overhead of each runner vs its raw baseline")
    n, repeats = sizes.runner_tasks, sizes.repeats
    cases = [
        ("sequential", sync_flow(SequentialTaskRunner()), "plain loop", plain_loop,
         Goal("overhead_at_most", 10.0, "≤ +10 µs")),
        ("concurrent", sync_flow(ConcurrentTaskRunner()), "ThreadPoolExecutor", thread_pool,
         Goal("ratio_at_most", 1.5, "≤ 1.5x")),
        ("async", async_flow(AsyncTaskRunner()), "asyncio.gather", asyncio_gather,
         Goal("ratio_at_most", 2.0, "≤ 2x")),
        ("async tasks from a sync flow, AsyncTaskRunner",
         sync_flow_of_async_tasks(AsyncTaskRunner()), "asyncio.gather", asyncio_gather,
         Goal("ratio_at_most", 4.0, "≤ 4x")),
        ("async tasks from a sync flow, ConcurrentTaskRunner",
         sync_flow_of_async_tasks(ConcurrentTaskRunner()), "asyncio.gather", asyncio_gather,
         Goal("ratio_at_most", 4.0, "≤ 4x")),
        ("sync tasks in an async flow, ConcurrentTaskRunner",
         async_flow_of_sync_tasks(ConcurrentTaskRunner()), "run_in_executor", executor_gather,
         None),
        ("sync tasks in an async flow, AsyncTaskRunner",
         async_flow_of_sync_tasks(AsyncTaskRunner()), "run_in_executor", executor_gather, None),
        ("sync tasks in a sync flow, AsyncTaskRunner", sync_flow(AsyncTaskRunner()),
         "ThreadPoolExecutor", thread_pool, None),
        ("WorkerThreads, plain functions", worker_threads, "ThreadPoolExecutor", thread_pool,
         None),
    ]  # fmt: skip
    deterministic = deterministic_runner()
    if deterministic is None:
        section.notes.append(
            "deterministic: skipped, pytest_flows.DeterministicTaskRunner is not importable yet"
        )
    else:
        cases.append(("deterministic", sync_flow(deterministic), "plain loop", plain_loop, None))
    for name, flowcore_run, baseline_name, baseline, goal in cases:
        section.rows.append(
            per_task_row(name, flowcore_run, baseline_name, baseline, n, repeats, goal)
        )
    for name, runner in (
        ("sequential", SequentialTaskRunner()),
        ("concurrent", ConcurrentTaskRunner()),
        ("async", AsyncTaskRunner()),
    ):
        section.rows.append(empty_flow_row(name, runner, repeats))
    section.notes.append(
        "overhead = flowcore minus baseline, µs per task; each side includes its own setup "
        "(flow run + runner start/shutdown vs pool/loop creation)"
    )
    section.notes.append(
        "WorkerThreads row: the concurrent runner's pool and handles on plain functions, no "
        "run record; what separates the concurrent row from it is the core's work per run"
    )
    return section
