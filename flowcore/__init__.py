"""flowcore: a minimal flow/task core in the style of Prefect 2.

    from flowcore import flow, task

    @task
    def double(x):
        return 2 * x

    @flow
    def doubles(xs):
        return [double(x) for x in xs]   # each call submits a run; futures resolved on return

Concepts to modules: tasks (`flowcore.tasks`), flows (`flowcore.flows`),
states (`flowcore.states`), futures (`flowcore.futures`), task runners
(`flowcore.task_runners`), and the event seam every state transition goes
through (`flowcore.events`). What Prefect flow code uses besides: run
loggers and ``log_prints`` (`flowcore.run_logging`), state hooks
(`flowcore.hooks`), `allow_failure` / `quote` / `unmapped`
(`flowcore.annotations`), run names from templates (`flowcore.run_names`),
`get_run_context` (`flowcore.context`).
"""

from flowcore.annotations import allow_failure, quote, unmapped
from flowcore.context import get_run_context
from flowcore.errors import (
    FlowcoreError,
    FlowcoreUsageError,
    FlowTimeoutError,
    InvalidArgument,
    MissingContextError,
    RunCancelled,
    RunCrashed,
    TaskTimeoutError,
    UpstreamFailed,
)
from flowcore.events import StateEvent, Subscription, subscribe
from flowcore.flows import Flow, flow
from flowcore.futures import TaskFuture, as_completed, wait
from flowcore.run_logging import get_run_logger
from flowcore.states import State, StateType
from flowcore.task_engine import TaskRun
from flowcore.tasks import Task, task

__version__ = "0.1.0"

__all__ = [
    "Flow",
    "FlowTimeoutError",
    "FlowcoreError",
    "FlowcoreUsageError",
    "InvalidArgument",
    "MissingContextError",
    "RunCancelled",
    "RunCrashed",
    "State",
    "StateEvent",
    "StateType",
    "Subscription",
    "Task",
    "TaskFuture",
    "TaskRun",
    "TaskTimeoutError",
    "UpstreamFailed",
    "__version__",
    "allow_failure",
    "as_completed",
    "flow",
    "get_run_context",
    "get_run_logger",
    "quote",
    "subscribe",
    "task",
    "unmapped",
    "wait",
]
