"""The work being measured: trivial tasks, flows of N of them, and how big N is per mode.

The tasks do as little as possible (return their argument) so that what is
measured is the machinery around them. They live at module level so the
Dask runner can pickle them by reference and workers can import them.

- `identity` / `identity_async`: the plain functions (the raw baselines call these).
- `identity_task` / `identity_async_task`: the same as flowcore tasks.
- `sync_flow(runner)`: a flow submitting N runs of `identity_task` and returning their futures.
- `async_flow(runner)`: an async flow gathering N awaited runs of `identity_async_task`.
- `Sizes` / `SIZES`: N and repeat counts for the full, quick and tiny modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowcore import flow, task
from flowcore.task_runners import RUNNER_NAMES as CORE_RUNNER_NAMES
from flowcore.task_runners import TaskRunner

__all__ = [
    "SIZES",
    "Sizes",
    "async_flow",
    "identity",
    "identity_async",
    "identity_async_task",
    "identity_task",
    "sync_flow",
]


def identity(x: Any) -> Any:
    """The trivial task body."""
    return x


async def identity_async(x: Any) -> Any:
    """The trivial async task body."""
    return x


identity_task = task(identity)
identity_async_task = task(identity_async)


def sync_flow(runner: TaskRunner) -> Callable[[int], list[Any]]:
    """A flow on ``runner`` that submits ``n`` trivial runs and returns their results."""

    @flow(name="many", task_runner=runner)
    def many(n: int) -> list[Any]:
        return [identity_task(i) for i in range(n)]

    return many


def async_flow(runner: TaskRunner) -> Callable[[int], list[Any]]:
    """An async flow on ``runner`` gathering ``n`` trivial async runs; called with asyncio.run."""

    @flow(name="many_async", task_runner=runner)
    async def many_async(n: int) -> list[Any]:
        return list(await asyncio.gather(*[identity_async_task(i) for i in range(n)]))

    return lambda n: asyncio.run(many_async(n))


@dataclass(frozen=True)
class Sizes:
    """How many tasks and repeats each benchmark uses."""

    mode: str
    runner_tasks: int
    dask_tasks: int
    repeats: int
    scaling_tasks: tuple[int, ...]
    scaling_repeats: int
    memory_tasks: int
    recording_tasks: tuple[int, ...]
    import_repeats: int
    suite_tests: int
    suite_repeats: int
    suite_runners: tuple[str, ...]
    schedules: int
    dask_workers: int
    dask_processes: bool


RUNNER_NAMES = CORE_RUNNER_NAMES

SIZES = {
    "full": Sizes(
        "full", runner_tasks=10_000, dask_tasks=1_000, repeats=7,
        scaling_tasks=(1_000, 10_000, 100_000), scaling_repeats=3, memory_tasks=10_000,
        recording_tasks=(10_000, 100_000),
        import_repeats=10, suite_tests=200, suite_repeats=3, suite_runners=RUNNER_NAMES,
        schedules=1_000, dask_workers=2, dask_processes=True,
    ),
    "quick": Sizes(
        "quick", runner_tasks=2_000, dask_tasks=200, repeats=5,
        scaling_tasks=(1_000, 10_000), scaling_repeats=3, memory_tasks=2_000,
        recording_tasks=(10_000,),
        import_repeats=5, suite_tests=200, suite_repeats=1, suite_runners=RUNNER_NAMES,
        schedules=200, dask_workers=2, dask_processes=True,
    ),
    "tiny": Sizes(
        "tiny", runner_tasks=50, dask_tasks=10, repeats=2,
        scaling_tasks=(50, 200), scaling_repeats=2, memory_tasks=50,
        recording_tasks=(50,),
        import_repeats=2, suite_tests=6, suite_repeats=1, suite_runners=("sequential",),
        schedules=10, dask_workers=1, dask_processes=False,
    ),
}  # fmt: skip
