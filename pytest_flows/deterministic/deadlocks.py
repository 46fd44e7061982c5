"""Deadlocks under the deterministic runner: what is stuck, where, and how it got there.

When no step can run and some runs have not finished, they never will: each
waits for something no step will do (an `asyncio.Event` no one sets, a lock
held by a run that waits in turn, an upstream run that is itself stuck).
The runner ends them with a `DeadlockError` whose message names each one,
where it waits, and the latest steps of the schedule:

    Deadlock: nothing can run, and 1 task run still waits:
      - 'waiter-0' awaits Event.wait() at test_flows.py:12 in waiter
    Schedule so far (seed 3): waiter-0 → setter-0 x2 → waiter-0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flows.deterministic.schedules import Schedule

__all__ = ["DeadlockError", "deadlock_message"]

_LIBRARY_DIRS = tuple(
    os.sep + name + os.sep for name in ("asyncio", "anyio", "flowcore", "pytest_flows")
)


class DeadlockError(RuntimeError):
    """Nothing could run under the deterministic runner, and ``blocked`` runs still waited."""

    def __init__(self, message: str, blocked: Sequence[str]) -> None:
        super().__init__(message)
        self.blocked = tuple(blocked)


def deadlock_message(handles: Sequence[Any], schedule: Schedule) -> str:
    """The message of a `DeadlockError` for the runs of ``handles`` (see the module docstring)."""
    count = len(handles)
    runs = "1 task run still waits" if count == 1 else f"{count} task runs still wait"
    lines = [f"Deadlock: nothing can run, and {runs}:"]
    lines += [f"  - {_describe(handle)}" for handle in handles]
    trace = schedule.describe_trace() or "no steps"
    lines.append(f"Schedule so far (schedule {schedule.token()}): {trace}")
    return "\n".join(lines)


def _describe(handle: Any) -> str:
    run = handle.run
    task = handle.task
    if task is None:
        waiting = [future.run_name for future in run.upstream if not future.done()]
        if waiting:
            return f"{run.name!r} waits for upstream run(s) {', '.join(map(repr, waiting))}"
        return f"{run.name!r} has not started"
    frames = _await_chain(task.get_coro())
    if not frames:
        return f"{run.name!r} is suspended"
    innermost = frames[-1]
    awaiting = _qualified(innermost)
    user = next((f for f in reversed(frames) if not _is_library(f.f_code.co_filename)), None)
    if user is None:
        return f"{run.name!r} awaits {awaiting}"
    place = f"{os.path.basename(user.f_code.co_filename)}:{user.f_lineno} in {user.f_code.co_name}"
    if user is innermost:
        return f"{run.name!r} waits at {place}"
    return f"{run.name!r} awaits {awaiting} at {place}"


def _await_chain(awaitable: Any) -> list[Any]:
    """The frames of a suspended coroutine and of everything it awaits, outermost first."""
    frames = []
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return frames


def _qualified(frame: Any) -> str:
    """``Event.wait()``: the function's qualified name (rebuilt from ``self`` before 3.11)."""
    code = frame.f_code
    name = getattr(code, "co_qualname", None)
    if name is None:
        owner = frame.f_locals.get("self")
        name = f"{type(owner).__name__}.{code.co_name}" if owner is not None else code.co_name
    return f"{name}()"


def _is_library(filename: str) -> bool:
    return any(directory in filename for directory in _LIBRARY_DIRS)
