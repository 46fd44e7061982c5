"""Exceptions flowcore raises, all under `FlowcoreError`.

Misuse of the API raises `FlowcoreUsageError` (also a `ValueError` or
`TypeError` where the rule is about a value's range or type); the failures of
runs are `UpstreamFailed`, `TaskTimeoutError`, `FlowTimeoutError`,
`RunCrashed` and `RunCancelled`.
"""

from __future__ import annotations

__all__ = [
    "FlowTimeoutError",
    "FlowcoreError",
    "FlowcoreUsageError",
    "InvalidArgument",
    "MissingContextError",
    "MissingResult",
    "RunCancelled",
    "RunCrashed",
    "TaskTimeoutError",
    "UpstreamFailed",
]


class FlowcoreError(Exception):
    """Base class of every error flowcore raises itself."""


class FlowcoreUsageError(FlowcoreError):
    """The API was used in a way it does not support; the message says how to fix it."""


class InvalidArgument(FlowcoreUsageError, ValueError):
    """An argument's value breaks a rule (a range, a type, a known name)."""


class MissingContextError(FlowcoreUsageError):
    """Something that needs a running task or flow run was called outside one."""


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
