"""The sequential runner: each run executes at submission, in the caller, one at a time.

    >>> from flowcore import flow, task
    >>> @task
    ... def double(x):
    ...     return 2 * x
    >>> @flow(task_runner=SequentialTaskRunner())
    ... def doubles():
    ...     return [double(1), double(2)]
    >>> doubles()
    [2, 4]

In an async flow the runs still go one at a time: gathered calls queue up
behind a lock instead of interleaving at their awaits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from flowcore.futures import DoneHandle
from flowcore.task_runners.base import TaskRunner

if TYPE_CHECKING:
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["SequentialTaskRunner"]


class SequentialTaskRunner(TaskRunner):
    """Runs each task run to its end as soon as it is submitted."""

    name = "sequential"
    concurrency = "sequential"

    def __init__(self) -> None:
        self._lock: anyio.Lock | None = None

    def submit(self, run: TaskRun) -> DoneHandle:
        return DoneHandle(run.execute())

    async def submit_async(self, run: TaskRun) -> State:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            return await run.execute_async()

    def __getstate__(self) -> dict[str, object]:
        return {"_lock": None}
