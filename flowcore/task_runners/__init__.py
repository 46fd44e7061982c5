"""Task runners: where and when a flow's task runs execute.

| name         | class                  | what it does                                        |
|--------------|------------------------|-----------------------------------------------------|
| `sequential` | `SequentialTaskRunner` | runs each call at submission, in the caller         |
| `concurrent` | `ConcurrentTaskRunner` | sync tasks in a thread pool, async on an event loop |
| `async`      | `AsyncTaskRunner`      | every run as a task on one anyio event loop         |
| `dask`       | `DaskTaskRunner`       | runs on a `distributed` cluster                     |

`TaskRunner` is the protocol a runner of your own implements (see
`flowcore.task_runners.base`). The Dask runner is imported on first use, so
``import flowcore`` never imports Dask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowcore.futures import DoneHandle
from flowcore.task_runners.asynchronous import AsyncTaskRunner
from flowcore.task_runners.base import (
    DASK_RUNNER_NAME,
    TaskRunner,
    interrupt_thread,
    override_task_runner,
    restart_run_names,
    when_upstream_done,
)
from flowcore.task_runners.concurrent import ConcurrentTaskRunner
from flowcore.task_runners.sequential import SequentialTaskRunner

if TYPE_CHECKING:
    from flowcore.task_runners.dask import DaskTaskRunner

__all__ = [
    "RUNNER_NAMES",
    "AsyncTaskRunner",
    "ConcurrentTaskRunner",
    "DaskTaskRunner",
    "DoneHandle",
    "SequentialTaskRunner",
    "TaskRunner",
    "interrupt_thread",
    "override_task_runner",
    "restart_run_names",
    "when_upstream_done",
]

RUNNER_NAMES = (
    SequentialTaskRunner.name,
    ConcurrentTaskRunner.name,
    AsyncTaskRunner.name,
    DASK_RUNNER_NAME,
)
"""The names of flowcore's runners, as the table above lists them."""


def __getattr__(name: str) -> Any:
    if name == "DaskTaskRunner":
        from flowcore.task_runners.dask import DaskTaskRunner

        return DaskTaskRunner
    raise AttributeError(f"module 'flowcore.task_runners' has no attribute {name!r}")
