"""Futures: the handle a flow gets for each task run it submits.

    future = load.submit(1)      # inside a flow
    future.state                 # the run's latest State
    future.wait(timeout=5)       # its final State, or None if not done in time
    future.result()              # its result; raises the run's exception

A `TaskFuture` wraps the handle its task runner returned (anything shaped
like `concurrent.futures.Future`). When that handle finishes, the run's final
state is settled: a run the runner cancelled ends CANCELLED, a handle that
raised (a worker died, the runner broke) ends the run CRASHED.

In an async flow, ``await future`` (or ``await future.wait_async()``) waits
without blocking the event loop. `wait` and `as_completed` wait for several
futures, as Prefect 3's ``prefect.futures`` does.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import anyio

from flowcore.errors import FlowcoreUsageError, RunCancelled, RunCrashed
from flowcore.states import State, StateType
from flowcore.task_engine import TaskRun
from flowcore.threads import call_soon_on_this_loop

if TYPE_CHECKING:
    from flowcore.context import FlowRun

__all__ = [
    "CANCELLED",
    "DoneAndNotDoneFutures",
    "DoneHandle",
    "RunHandle",
    "TaskFuture",
    "as_completed",
    "settle",
    "wait",
]


class RunHandle(Protocol):
    """What a task runner's ``submit`` returns: the shape of `concurrent.futures.Future`."""

    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self, timeout: float | None = None) -> Any: ...
    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...


class DoneHandle:
    """A handle that is finished from the start: for runners that ran the run already.

    >>> DoneHandle("state").result()
    'state'
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def result(self, timeout: float | None = None) -> Any:
        return self._value

    def add_done_callback(self, fn: Callable[[Any], object], /) -> None:
        fn(self)


class _CancelledHandle(DoneHandle):
    def cancelled(self) -> bool:
        return True


CANCELLED = _CancelledHandle(None)
"""A handle for a run that was cancelled before it started: ``settle(run, CANCELLED)``."""


def settle(run: TaskRun, handle: RunHandle) -> State:
    """The final state of ``run`` once ``handle`` is done, recording it if the runner did not."""
    if run.state is not None and run.state.ends_run():
        return run.state
    now = run.clock.now_ns()
    if handle.cancelled():
        message = f"Task run {run.name!r} was cancelled before it finished."
        error = RunCancelled(message)
        return run.record(State(StateType.CANCELLED, "Cancelled", now, message, exception=error))
    try:
        outcome = handle.result()
    except BaseException as error:  # the machinery failed, not the task body
        message = f"Task run {run.name!r} crashed: {type(error).__name__}: {error}"
        crash = RunCrashed(message)
        crash.__cause__ = error
        return run.record(State(StateType.CRASHED, "Crashed", now, message, exception=crash))
    if isinstance(outcome, State) and outcome.ends_run():
        return run.record(outcome)
    message = f"Task runner returned {outcome!r} for {run.name!r} instead of a final State."
    crash = RunCrashed(message)
    return run.record(State(StateType.CRASHED, "Crashed", now, message, exception=crash))


_FINISHED_LOCK = threading.Lock()
"""The lock every finished `TaskFuture` shares (see ``TaskFuture._finish``)."""


class TaskFuture:
    """The future of one task run; see the module docstring."""

    # A flow keeps every future it submitted until it ends, so each one is
    # kept small: the callback list is made on first use, the flow run is
    # told of the end directly (not through a callback), and the runner's
    # handle and the future's own lock are let go once the run is final.
    __slots__ = ("_callbacks", "_done", "_flow_run", "_handle", "_lock", "run")

    def __init__(self, run: TaskRun, flow_run: FlowRun | None = None) -> None:
        """``flow_run``, if given, hears of the run's end first (``FlowRun.on_task_done``)."""
        self.run = run
        self._flow_run = flow_run
        self._handle: RunHandle | None = None
        self._done = False
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[TaskFuture], object]] | None = None

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def run_name(self) -> str:
        return self.run.name

    @property
    def flow_run_id(self) -> str | None:
        return self.run.flow_run_id

    @property
    def state(self) -> State:
        """The run's latest state."""
        return self.run.state  # type: ignore[return-value]  # a submitted run has one

    def __repr__(self) -> str:
        return f"<TaskFuture {self.run.name} {self.state.type.value}>"

    def done(self) -> bool:
        """Whether the run has reached its final state."""
        if self._done:
            return True
        handle = self._handle
        if handle is not None and handle.done():
            self._finish()
            return True
        return self._done  # another thread may have finished it (and let go of the handle)

    def wait(self, timeout: float | None = None) -> State | None:
        """Block until the run is final and return its state; None if ``timeout`` passes first."""
        if not self._done:
            handle = self._handle
            if handle is None:
                if self._done:  # finished by another thread meanwhile
                    return self.state
                raise FlowcoreUsageError(
                    f"{self!r} has not started yet: its run starts in the async flow's task "
                    f"group, which waits for the event loop this call is blocking. In an async "
                    f"flow, await it: `await future` or `await future.result_async()`."
                )
            try:
                handle.result(timeout)
            except Exception as error:
                if not handle.done():
                    if timeout is not None:  # timed out waiting (its error type varies)
                        return None
                    self._runner_failed(error)  # it gave up on the run without ending it
            self._finish()
        return self.run.state  # as ``self.state``, a Python call less

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The run's result; raises its exception if it failed, TimeoutError after ``timeout``."""
        state = self.wait(timeout)
        if state is None:
            raise TimeoutError(
                f"task run {self.run.name!r} did not finish within {timeout}s; it is "
                f"{self.state.type.value}"
            )
        return state.result(raise_on_failure=raise_on_failure)

    async def wait_async(self) -> State:
        """Wait for the final state without blocking the event loop (asyncio or trio).

        In an async flow a future from ``.submit()`` may not have reached its
        runner yet (its run starts in the flow's task group); waiting for it
        then simply waits until it has run.
        """
        if self.done():
            return self.state
        finished = anyio.Event()
        call_soon = call_soon_on_this_loop()
        loop_thread = threading.get_ident()

        def wake(_future: TaskFuture) -> None:
            if threading.get_ident() == loop_thread:
                finished.set()
                return
            # Scheduled without waiting for the loop to run it: a loop stopped meanwhile
            # (its flow interrupted) would block this thread for good, and the thread may
            # be one the interpreter joins at exit (Dask's callback thread). A closed
            # loop raises RuntimeError: nobody waits any more.
            with contextlib.suppress(RuntimeError):
                call_soon(finished.set)

        self.add_done_callback(wake)
        await finished.wait()
        return self.state

    async def result_async(self, raise_on_failure: bool = True) -> Any:
        """The run's result, awaited: ``await future.result_async()``."""
        return (await self.wait_async()).result(raise_on_failure=raise_on_failure)

    def __await__(self) -> Any:
        return self.result_async().__await__()

    def add_done_callback(self, fn: Callable[[TaskFuture], object]) -> None:
        """Call ``fn(future)`` when the run is final (at once if it is)."""
        with self._lock:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    # --- for the core ---------------------------------------------------

    def attach(self, handle: RunHandle) -> None:
        self._handle = handle
        # What its add_done_callback would do at once, minus a call or two (three, for
        # the sequential runner's handle, done by its type).
        if type(handle) is DoneHandle or handle.done():
            self._finish()
        else:
            handle.add_done_callback(self._on_handle_done)

    def _on_handle_done(self, _handle: object) -> None:
        self._finish()

    def abandon(self, state: State) -> None:
        """End the run now with ``state`` (CANCELLED or CRASHED), whatever its runner
        still does with it: for a flow run that stops early. What the run records
        later is dropped; a run already final keeps its state."""
        if self._done:
            return
        with self._lock:
            if self._done:
                return
            self.run.record(state)
            callbacks = self._mark_done()
        self._call_back(callbacks)

    def _runner_failed(self, error: Exception) -> None:
        """The runner's handle raised before the run ended: the run ends CRASHED."""
        message = f"Task run {self.run.name!r} crashed: its runner failed: {error!r}"
        crash = RunCrashed(message)
        crash.__cause__ = error
        now = self.run.clock.now_ns()
        self.abandon(State(StateType.CRASHED, "Crashed", now, message, exception=crash))

    def _finish(self) -> None:
        if self._done:
            return
        lock = self._lock
        lock.acquire()  # not a `with`: costs half as much, once per run
        try:
            if self._done:
                return
            if self._handle is None:
                raise RuntimeError(f"{self!r} finished before it was handed to a task runner")
            state = self.run.state
            if state is None or not state.ends_run():  # most runs recorded their end already
                settle(self.run, self._handle)
            callbacks = self._mark_done()
        finally:
            lock.release()
        self._call_back(callbacks)

    def _mark_done(self) -> list[Callable[[TaskFuture], object]] | None:
        """Under ``_lock``: the future is done; returns the callbacks to call."""
        self._done = True
        self._handle = None
        callbacks, self._callbacks = self._callbacks, None
        # Once done, the lock only guards a read of ``_done``, so all finished
        # futures can share one: a lock per live run is one more object for
        # the garbage collector to walk. (A thread already waiting for the old
        # lock gets it once released, and sees ``_done``.)
        self._lock = _FINISHED_LOCK
        return callbacks

    def _call_back(self, callbacks: list[Callable[[TaskFuture], object]] | None) -> None:
        flow_run, self._flow_run = self._flow_run, None
        if flow_run is not None:
            # Told once, then let go: the flow run's ledger holds only unfinished
            # runs, so a finished run is freed as soon as nobody else holds it.
            flow_run.on_task_done(self)
        if callbacks is not None:
            for callback in callbacks:
                callback(self)


class DoneAndNotDoneFutures(NamedTuple):
    """What `wait` gives: the futures whose runs ended, and the others."""

    done: set[TaskFuture]
    not_done: set[TaskFuture]


_POLL_SECONDS = 0.05


def wait(futures: Iterable[TaskFuture], timeout: float | None = None) -> DoneAndNotDoneFutures:
    """Wait until every run of ``futures`` has ended, or ``timeout`` seconds pass (Prefect 3's
    ``prefect.futures.wait``).

        >>> from flowcore import flow, task
        >>> @task
        ... def square(x):
        ...     return x * x
        >>> @flow
        ... def squares():
        ...     done, not_done = wait([square(n) for n in range(3)])
        ...     return sorted(f.result() for f in done), not_done
        >>> squares()
        ([0, 1, 4], set())
    """
    pending = list(dict.fromkeys(futures))
    end = None if timeout is None else _monotonic() + timeout
    for future in pending:
        future.wait(None if end is None else max(0.0, end - _monotonic()))
    done = {future for future in pending if future.done()}
    return DoneAndNotDoneFutures(done, set(pending) - done)


def as_completed(
    futures: Iterable[TaskFuture], timeout: float | None = None
) -> Iterator[TaskFuture]:
    """Yield each future as its run ends, in the order the runs ended (by the time of their
    final states); TimeoutError if some have not ended after ``timeout`` seconds (Prefect 3's
    ``prefect.futures.as_completed``)."""
    pending = list(dict.fromkeys(futures))
    end = None if timeout is None else _monotonic() + timeout
    while pending:
        ended = [future for future in pending if future.done()]
        if not ended:
            if end is not None and _monotonic() >= end:
                names = ", ".join(repr(future.run_name) for future in pending)
                raise TimeoutError(f"task runs {names} did not end within {timeout}s")
            # Waiting on one future drives runners that run lazily (the deterministic one).
            pending[0].wait(_POLL_SECONDS)
            continue
        ended.sort(key=lambda future: future.state.timestamp_ns)
        for future in ended:
            pending.remove(future)
            yield future


_monotonic = time.monotonic
