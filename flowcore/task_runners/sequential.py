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

In an async flow, ``await load.submit(x)`` runs the task to its end before
giving its future, so submitted runs go one at a time. An awaited call runs
in the coroutine that awaits it, like any coroutine: calls gathered or
started in a task group interleave at their awaits, as in Prefect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcore.futures import DoneHandle
from flowcore.task_runners.base import TaskRunner
from flowcore.threads import SyncBodyThreads

if TYPE_CHECKING:
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["SequentialTaskRunner"]


class SequentialTaskRunner(TaskRunner):
    """Runs each task run to its end as soon as it is submitted."""

    name = "sequential"
    runs_one_at_a_time = True
    runs_at_submission = True
    may_block_to_start_or_stop = False  # stopping its threads is never waited for

    _body_threads: SyncBodyThreads | None = None  # an async flow's sync bodies, on first use

    def submit(self, run: TaskRun) -> DoneHandle:
        return DoneHandle(run.execute())

    async def submit_async(self, run: TaskRun) -> State:
        if run.is_async:
            return await run.execute_async()
        if self._body_threads is None:
            self._body_threads = SyncBodyThreads()
        return await run.execute_async(threads=self._body_threads.pool())

    def shutdown(self, cancel: bool = False) -> None:
        if self._body_threads is not None:
            self._body_threads.shutdown(cancel)
