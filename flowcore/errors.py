"""Exceptions flowcore raises, all under `FlowcoreError`.

Misuse of the API raises `FlowcoreUsageError` (also a `ValueError` or
`TypeError` where the rule is about a value's range or type); the failures of
runs are `UpstreamFailed`, `TaskTimeoutError`, `FlowTimeoutError`,
`RunCrashed` and `RunCancelled`.
"""

from __future__ import annotations

__all__ = [
    "CancelledRun",
    "FailedRun",
    "FlowTimeoutError",
    "FlowcoreError",
    "FlowcoreUsageError",
    "InvalidArgument",
    "MissingContextError",
    "MissingResult",
    "NoFlowRun",
    "RunCancelled",
    "RunCrashed",
    "TaskTimeoutError",
    "UnfinishedRun",
    "UnknownOption",
    "UpstreamFailed",
]


class FlowcoreError(Exception):
    """Base class of every error flowcore raises itself."""


class FlowcoreUsageError(FlowcoreError):
    """The API was used in a way it does not support; the message says how to fix it."""


class InvalidArgument(FlowcoreUsageError, ValueError):
    """An argument's value breaks a rule (a range, a type, a known name)."""


class UnknownOption(InvalidArgument, TypeError):
    """A task or flow got an option it does not take: a TypeError too, as Python's own
    "unexpected keyword argument" (and Prefect's) is."""


class NoFlowRun(FlowcoreUsageError, RuntimeError):
    """Something that needs a running flow (``task.submit()``, ``task.map()``) was called
    outside one: a RuntimeError too, as in Prefect."""


class MissingContextError(FlowcoreUsageError):
    """Something that needs a running task or flow run (`get_run_logger`,
    `get_run_context`) was called outside one: call it inside a @task or @flow body,
    or use ``logging.getLogger(__name__)`` there."""


class UpstreamFailed(FlowcoreError):
    """A run never started because a run it depends on did not complete."""


class TaskTimeoutError(FlowcoreError, TimeoutError):
    """A task run took longer than its ``timeout_seconds``."""


class FlowTimeoutError(FlowcoreError, TimeoutError):
    """A flow run took longer than its ``timeout_seconds``."""


class RunCrashed(FlowcoreError):
    """The machinery running a task broke (a worker died, a runner failed)."""


class RunCancelled(FlowcoreError):
    """A run was cancelled before it finished, e.g. because its flow stopped."""


class MissingResult(FlowcoreError):
    """A result was asked of a run that has none."""


class FailedRun(MissingResult):
    """The result of a failed or crashed state that carries no exception of its own
    (a state a flow body made, ``Failed(message=...)``): the message is the state's."""


class CancelledRun(MissingResult):
    """The result of a cancelled state that carries no exception of its own."""


class UnfinishedRun(MissingResult):
    """The result of a run that has not finished (PENDING, SCHEDULED, RUNNING)."""
