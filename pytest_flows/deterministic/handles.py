"""The handle of one run under the deterministic runner: waiting on it drives the runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowcore.futures import TaskFuture
    from flowcore.states import State
    from flowcore.task_engine import TaskRun
    from pytest_flows.deterministic.runner import DeterministicTaskRunner

__all__ = ["RunHandle", "in_turn"]


class RunHandle:
    """The Future-like handle of one run; waiting on it drives the runner."""

    __slots__ = (
        "_callbacks",
        "_cancelled",
        "_error",
        "_runner",
        "_state",
        "finished",
        "run",
        "task",
    )

    def __init__(self, runner: DeterministicTaskRunner, run: TaskRun) -> None:
        self._runner = runner
        self.run = run
        self.task: asyncio.Task[None] | None = None
        self.finished = self._cancelled = False  # `done()`, read without a call
        # `_state` and `_error` are set when it finishes, and read only then.
        self._callbacks: list[Callable[[RunHandle], object]] = []

    def done(self) -> bool:
        return self.finished

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self, timeout: float | None = None) -> State | None:
        """The run's final state (None if cancelled), driving the runner until it is done;
        `TimeoutError` if it is not done within ``timeout`` real seconds."""
        if not self.finished:
            self._runner._drive_until(self.done, timeout)
        if not self.finished:
            raise RuntimeError(
                f"task run {self.run.name!r} has no outcome: its DeterministicTaskRunner was "
                "shut down while it ran"
            )
        if self._error is not None:
            raise self._error
        return self._state

    def add_done_callback(self, fn: Callable[[RunHandle], object], /) -> None:
        if self.finished:
            fn(self)
        else:
            self._callbacks.append(fn)

    def finish(self, state: State | None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self._state, self._error, self.finished = state, error, True
        self._runner._pending.pop(self.run.id, None)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def cancel(self) -> None:
        self._cancelled = True
        self.finish(None)


def in_turn(
    futures: Sequence[TaskFuture],
    interrupted: Callable[[], bool],
    handles: Mapping[str, RunHandle] | None = None,
) -> Callable[[], bool]:
    """A ``done()`` for driving the runner that is true exactly where waiting for each of
    ``futures`` in turn would stop: all are done, or one in order is done and then
    ``interrupted()`` (a run ended by Ctrl-C) is true. Driving to it once gives the same
    schedule as waiting in turn, with one hand-off between threads instead of one per
    future.

    ``handles`` (optional) are the runner's unfinished handles by run id: a future whose
    handle is among them is then done exactly when its handle is, read without a call. (A
    flow run also ends its futures itself, but only once it has stopped waiting: a worker
    still stepping for it then stops at the runner's shutdown that follows.)"""
    position, count = 0, len(futures)
    known = [handles.get(future.run.id) for future in futures] if handles else [None] * count
    stopped = False  # at an interrupt: for good, however often the driver asks again

    def done() -> bool:
        nonlocal position, stopped
        while position < count and not stopped:
            handle = known[position]
            if handle is None:
                if not futures[position].done():
                    break
            elif not handle.finished:
                break
            position += 1
            stopped = interrupted()
        return stopped or position == count

    return done
