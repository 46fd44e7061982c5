"""The deterministic task runner: one step at a time, in an order a seed chooses.

`DeterministicTaskRunner(seed=None)` runs a flow's task runs one thing at a
time on a `DeterministicEventLoop`:

- a run becomes ready when its upstream runs are done; which ready run
  starts next is the seed's choice (with no seed: submission order);
- async runs are coroutines on that loop, so at every await the seed also
  chooses which coroutine resumes (``asyncio.sleep``, ``Event``, ``Lock``,
  ``Queue`` work as usual); sync runs execute whole, one at a time;
- time is virtual (`VirtualClock`): sleeps, timeouts and retry delays jump
  instead of waiting, and every timestamp comes from the virtual clock, so
  the same seed gives the same timeline, bit for bit;
- a deadlock (nothing can run, something still waits) ends the waiting runs
  CRASHED with a `DeadlockError` naming them and the schedule so far; a sync
  body that blocks on another thread is reported (`SyncBodyBlocked`).

    >>> import asyncio
    >>> from flowcore import flow, task
    >>> @task
    ... async def tick(name):
    ...     await asyncio.sleep(60)
    ...     return name
    >>> @flow(task_runner=DeterministicTaskRunner(seed=7))
    ... def ticks():
    ...     return [tick("a"), tick("b")]
    >>> ticks()   # two virtual minutes, no real ones
    ['a', 'b']

Work is done lazily: a sync flow's runs execute when the flow waits for a
result (``future.result()``, or the flow's end). In an async flow, runs
awaited on the flow's loop are collected until that loop has nothing else
to do, then run together on the deterministic loop.

The loop's steps, sync bodies included, run on one pooled worker thread
while the waiting thread watches the clock: one hand-off between threads
per wait rather than one per run, and a sync body still running after
``sync_wait_limit`` seconds is given up (its run ends `SyncBodyBlocked`)
while the other runs go on.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowcore.context import current_flow_run
from flowcore.errors import InvalidArgument
from flowcore.task_runners.base import TaskRunner
from pytest_flows.deadlocks import DeadlockError, deadlock_message
from pytest_flows.deterministic_loop import DeterministicEventLoop
from pytest_flows.schedules import PROCESS_LABEL, Schedule, strategy_for_seed
from pytest_flows.sync_worker import (
    SyncBodyBlocked,
    SyncWorker,
    acquire_worker,
    blocked_message,
    release_worker,
)

if TYPE_CHECKING:
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["DeadlockError", "DeterministicTaskRunner"]

_MAX_DEFERRALS = 1000


class RunHandle:
    """The Future-like handle of one run; waiting on it drives the runner."""

    __slots__ = ("_callbacks", "_cancelled", "_done", "_error", "_runner", "_state", "run", "task")

    def __init__(self, runner: DeterministicTaskRunner, run: TaskRun) -> None:
        self._runner = runner
        self.run = run
        self.task: asyncio.Task[None] | None = None
        self._done = self._cancelled = False
        self._state: State | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[RunHandle], object]] = []

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self, timeout: float | None = None) -> State | None:
        if not self._done:
            self._runner._drive_until(self)
        if self._error is not None:
            raise self._error
        return self._state

    def add_done_callback(self, fn: Callable[[RunHandle], object], /) -> None:
        if self._done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def finish(self, state: State | None, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._state, self._error, self._done = state, error, True
        self._runner._pending.pop(self.run.id, None)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def cancel(self) -> None:
        self._cancelled = True
        self.finish(None)


class DeterministicTaskRunner(TaskRunner):
    """Runs task runs one step at a time in a seeded order, on virtual time (see module docs)."""

    name = "deterministic"
    concurrency = "concurrent"

    def __init__(
        self,
        seed: int | None = None,
        *,
        sync_wait_limit: float = 5.0,
        schedule: Schedule | None = None,
    ) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InvalidArgument(f"seed must be an integer or None, got {seed!r}")
        if not sync_wait_limit > 0:
            raise InvalidArgument(f"sync_wait_limit must be > 0 seconds, got {sync_wait_limit!r}")
        self.seed = seed
        self.sync_wait_limit = sync_wait_limit
        self._shared = schedule
        self.schedule = schedule if schedule is not None else Schedule(strategy_for_seed(seed))
        self.clock = self.schedule.clock
        self._loop: DeterministicEventLoop | None = None
        self._worker: SyncWorker | None = None
        # The sync body running on the worker, and since when (time.monotonic()).
        self._body: tuple[RunHandle, float] | None = None
        self._body_lock = threading.Lock()
        self._pending: dict[str, RunHandle] = {}
        self._drive_lock = threading.RLock()
        self._driver_scheduled = False

    def __repr__(self) -> str:
        return f"DeterministicTaskRunner(seed={self.seed!r})"

    def duplicate(self) -> DeterministicTaskRunner:
        """A runner for one flow run: a fresh schedule from the seed on this runner's clock
        (so successive flows follow each other in time), except that an exploration's runs
        and a subflow's share the schedule in force."""
        schedule = self._shared
        parent = current_flow_run()
        parent_runner = parent.runner if parent is not None else None
        if schedule is None and isinstance(parent_runner, DeterministicTaskRunner):
            schedule = parent_runner.schedule
        if schedule is None:
            schedule = Schedule(strategy_for_seed(self.seed), self.schedule.clock)
        return DeterministicTaskRunner(
            self.seed, sync_wait_limit=self.sync_wait_limit, schedule=schedule
        )

    # --- the protocol ---------------------------------------------------

    def submit(self, run: TaskRun) -> RunHandle:
        handle = self._register(run)
        pending = [future for future in run.upstream if not future.done()]
        if not pending:
            self._make_ready(handle)
            return handle
        remaining = [len(pending)]

        def upstream_done(_future: object) -> None:
            remaining[0] -= 1
            if remaining[0] == 0:
                self._make_ready(handle)

        for future in pending:
            future.add_done_callback(upstream_done)
        return handle

    async def submit_async(self, run: TaskRun) -> State:
        try:
            flow_loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InvalidArgument(
                "DeterministicTaskRunner runs async flows on asyncio only; run the flow with "
                "asyncio.run(...) or anyio's asyncio backend"
            ) from None
        handle = self._register(run)
        self._make_ready(handle)
        finished = flow_loop.create_future()
        # Runs finish on the worker thread that steps the loop.
        handle.add_done_callback(lambda _h: flow_loop.call_soon_threadsafe(_resolve, finished))
        self._schedule_driver(flow_loop, 0)
        try:
            await finished
        except asyncio.CancelledError:
            self._cancel_pending([handle])
            raise
        state = handle.result()
        assert state is not None
        return state

    def shutdown(self, cancel: bool = False) -> None:
        if self._pending:
            self._cancel_pending(list(self._pending.values()))
        if self._worker is not None:
            release_worker(self._worker)
            self._worker = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # --- running --------------------------------------------------------

    def _event_loop(self) -> DeterministicEventLoop:
        if self._loop is None:
            self._loop = DeterministicEventLoop(self.schedule, self.sync_wait_limit)
        return self._loop

    def _register(self, run: TaskRun) -> RunHandle:
        handle = RunHandle(self, run)
        self._pending[run.id] = handle
        return handle

    def _make_ready(self, handle: RunHandle) -> None:
        if handle.done():  # ended by a deadlock or a shutdown while it waited for upstream runs
            return
        loop = self._event_loop()
        context = contextvars.copy_context()
        context.run(PROCESS_LABEL.set, handle.run.name)
        if handle.run.is_async:
            handle.task = context.run(loop.create_task, self._run_async(handle))
        else:
            loop.call_soon(self._run_sync, handle, context=context)

    def _run_sync(self, handle: RunHandle) -> None:
        """A sync run's step, on the worker thread: the body, watched by `_await_steps`."""
        body = (handle, time.monotonic())
        with self._body_lock:
            self._body = body
        state: State | None = None
        error: BaseException | None = None
        loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)  # as in any thread: asyncio.run() works in it
        try:
            state = handle.run.execute()
        except Exception as machinery_error:  # the body's errors are states
            error = machinery_error
        finally:
            asyncio.events._set_running_loop(loop)
            with self._body_lock:
                given_up = self._body is not body
                if not given_up:
                    self._body = None
        if not given_up:  # else its run ended SyncBodyBlocked meanwhile
            handle.finish(state, error)

    async def _run_async(self, handle: RunHandle) -> None:
        try:
            state = await handle.run.execute_async()
        except asyncio.CancelledError:
            return  # unwound after a deadlock or a shutdown; its handle is settled already
        handle.finish(state)

    def _drive_until(self, handle: RunHandle) -> None:
        """Sync flows: run steps until ``handle`` is done (or report the deadlock)."""
        if not self._drive(handle.done):
            self._deadlock()

    def _drive(self, done: Callable[[], bool]) -> bool:
        """Run the loop's steps until ``done()``, on the worker thread (so sync bodies run
        where the loop runs, with no hand-off between threads per run); False when
        nothing can run any more before that."""
        with self._drive_lock:
            loop = self._event_loop()
            while True:
                if self._worker is None:
                    self._worker = acquire_worker()
                worker = self._worker
                worker.start(functools.partial(_steps_until, loop, worker, done))
                outcome = self._await_steps(worker)
                if outcome is None:  # a body was given up: go on with another worker
                    continue
                succeeded, value = outcome
                if succeeded:
                    return bool(value)
                raise value

    def _await_steps(self, worker: SyncWorker) -> tuple[bool, Any] | None:
        """The outcome of the steps ``worker`` runs, or None once a sync body on it has
        run for ``sync_wait_limit`` seconds: that run then ends `SyncBodyBlocked`."""
        limit = self.sync_wait_limit
        timeout = limit
        while True:
            outcome = worker.wait(timeout)
            if outcome is not None:
                return outcome
            with self._body_lock:
                body = self._body
                running_for = time.monotonic() - body[1] if body is not None else 0.0
                overdue = body is not None and running_for >= limit
                if overdue:  # given up, together, so that the body's step stops there
                    self._body = None
                    self._worker = None
                    worker.broken = True
            if body is None or not overdue:
                timeout = limit - running_for
                continue
            where = worker.give_up()
            handle = body[0]
            handle.finish(None, SyncBodyBlocked(blocked_message(handle.run.name, limit, where)))
            return None

    def _schedule_driver(self, flow_loop: asyncio.AbstractEventLoop, deferrals: int) -> None:
        if not self._driver_scheduled:
            self._driver_scheduled = True
            flow_loop.call_soon(self._drive_async, flow_loop, deferrals)

    def _drive_async(self, flow_loop: asyncio.AbstractEventLoop, deferrals: int) -> None:
        """Async flows: once the flow's loop has nothing else ready (every gathered call has
        submitted its run), run every pending run to its end."""
        self._driver_scheduled = False
        if not self._pending or self._loop is None:
            return
        if _has_ready(flow_loop) and deferrals < _MAX_DEFERRALS:
            self._schedule_driver(flow_loop, deferrals + 1)
            return
        if self._drive(lambda: not self._pending):
            return
        if _has_ready(flow_loop):  # the flow may yet submit what unblocks them
            self._schedule_driver(flow_loop, 0)
        elif _next_timer(flow_loop) is not None:
            flow_loop.call_at(_next_timer(flow_loop) or 0.0, self._schedule_driver, flow_loop, 0)
        else:
            self._deadlock()

    def _deadlock(self) -> None:
        blocked = list(self._pending.values())
        error = DeadlockError(
            deadlock_message(blocked, self.schedule), [h.run.name for h in blocked]
        )
        self._cancel_pending(blocked, error)

    def _cancel_pending(self, handles: list[RunHandle], error: BaseException | None = None) -> None:
        for handle in handles:
            if error is not None:
                handle.finish(None, error)
            else:
                handle.cancel()
        tasks = [h.task for h in handles if h.task is not None and not h.task.done()]
        if tasks and self._loop is not None:
            self._loop.cancel_all(tasks)


def _steps_until(
    loop: DeterministicEventLoop, worker: SyncWorker, done: Callable[[], bool]
) -> bool:
    """On ``worker``: the loop's steps until ``done()``, or until the worker is given up."""
    return loop.run_until(lambda: worker.broken or done())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _has_ready(loop: asyncio.AbstractEventLoop) -> bool:
    return bool(getattr(loop, "_ready", ()))


def _next_timer(loop: asyncio.AbstractEventLoop) -> float | None:
    timers = [timer.when() for timer in getattr(loop, "_scheduled", ()) if not timer.cancelled()]
    return min(timers) if timers else None
