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
    import_repeats: int
    suite_tests: int
    suite_repeats: int
    schedules: int
    dask_workers: int
    dask_processes: bool


SIZES = {
    "full": Sizes("full", 10_000, 1_000, 7, (1_000, 10_000, 100_000), 3, 10_000, 10, 200, 3, 1_000, 2, True),
    "quick": Sizes("quick", 2_000, 200, 5, (1_000, 10_000), 3, 2_000, 5, 200, 1, 200, 2, True),
    "tiny": Sizes("tiny", 50, 10, 2, (50, 200), 2, 50, 2, 6, 1, 10, 1, False),
}
