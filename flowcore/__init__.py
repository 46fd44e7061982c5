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
through (`flowcore.events`).
"""

from flowcore.errors import (
    FlowcoreError,
    FlowcoreUsageError,
    FlowTimeoutError,
    InvalidArgument,
    RunCancelled,
    RunCrashed,
    TaskTimeoutError,
    UpstreamFailed,
)
from flowcore.events import StateEvent, Subscription, subscribe
from flowcore.flows import Flow, flow
from flowcore.futures import TaskFuture
from flowcore.states import State, StateType
from flowcore.task_engine import TaskRun
from flowcore.tasks import Task, task, unmapped

__all__ = [
    "Flow",
    "FlowTimeoutError",
    "FlowcoreError",
    "FlowcoreUsageError",
    "InvalidArgument",
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
    "flow",
    "subscribe",
    "task",
    "unmapped",
]
