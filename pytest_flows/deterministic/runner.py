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

The waiting thread steps the loop itself up to a step that may block (a sync
body, a wait for a thread); the steps then go on on a pooled worker thread
while it watches the clock: no hand-off between threads for async runs, one
per wait (not per run) for sync runs, and a sync body still running after
``sync_wait_limit`` seconds is given up (its run ends `SyncBodyBlocked`)
while the others go on. Whichever thread runs a step, the schedule is the same.
"""

from __future__ import annotations

import _thread
import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from flowcore.context import current_flow_run
from flowcore.errors import InvalidArgument
from flowcore.task_runners.base import TaskRunner, when_upstream_done
from pytest_flows.deterministic.async_flows import AsyncFlowDriver
from pytest_flows.deterministic.deadlocks import DeadlockError, deadlock_message
from pytest_flows.deterministic.handles import RunHandle, in_turn
from pytest_flows.deterministic.loop import DeterministicEventLoop, give_back_loop, take_loop
from pytest_flows.deterministic.schedules import PROCESS_LABEL, Schedule, strategy_for_seed
from pytest_flows.deterministic.sync_worker import (
    HERE_STEPS,
    STEPPING_HERE,
    RunningBody,
    SteppingHere,
    SyncBodyBlocked,
    SyncWorker,
    acquire_worker,
    blocked_message,
    release_worker,
)

if TYPE_CHECKING:
    from flowcore.futures import TaskFuture
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["DeadlockError", "DeterministicTaskRunner"]


class DeterministicTaskRunner(TaskRunner):
    """Runs task runs one step at a time in a seeded order, on virtual time (see module docs)."""

    name = "deterministic"
    runs_one_at_a_time = True
    may_block_to_start_or_stop = False  # a cancelling stop, which may, is called apart

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
        self._body: RunningBody | None = None
        self._body_lock = threading.Lock()
        self._pending: dict[str, RunHandle] = {}
        self._drive_lock = _thread.RLock()  # threading.RLock() is this, after a call
        self._async_flows = AsyncFlowDriver(self)
        self._closed = False
        # Who steps the loop now (a worker or the waiting thread; under _body_lock), and the
        # worker whose outcome no driver has read yet (a timed-out wait left it to the next).
        self._stepping: SyncWorker | SteppingHere | None = None
        self._outcome_due: SyncWorker | None = None
        self._gave_up_a_body = False

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

    def start(self) -> None:
        self._closed = False

    def submit(self, run: TaskRun) -> RunHandle:
        handle = RunHandle(self, run)
        self._pending[run.id] = handle
        if run.upstream:
            when_upstream_done(run, functools.partial(self._make_ready, handle))
        else:  # what when_upstream_done would do at once, without its call and partial
            self._make_ready(handle)
        return handle

    async def submit_async(self, run: TaskRun) -> State:
        return await self._async_flows.submit(run)

    def shutdown(self, cancel: bool = False) -> None:
        """End every run without an outcome CANCELLED and free the loop and its thread at once:
        whoever steps it (a worker in a blocked sync body, say) unwinds it after its step."""
        with self._body_lock:
            self._closed = True
            stepping = self._stepping
            in_body = self._body is not None
            if isinstance(stepping, SyncWorker):
                stepping.broken = True  # its steps stop at the next one
                self._body = None  # a body running now is given up: its outcome is dropped
        handles = list(self._pending.values())
        for handle in handles:
            handle.cancel()
        if stepping is not None:  # it stops at its next step, then unwinds and closes the loop
            if isinstance(stepping, SyncWorker):
                stepping.retire(interrupt=in_body, wake=(True, True))
                self._worker = None
            self._loop = None
            self._release()  # a worker left idle (the waiting thread steps) goes to the pool
            return
        try:
            if handles:
                self._unwind([h.task for h in handles if h.task is not None])
        finally:
            self._release()

    # --- running --------------------------------------------------------

    def _event_loop(self) -> DeterministicEventLoop:
        if self._loop is None:
            self._loop = take_loop(self.schedule, self.sync_wait_limit)
        return self._loop

    def _make_ready(self, handle: RunHandle) -> None:
        if handle.finished:  # ended by a deadlock or a shutdown while it waited for upstream runs
            return
        loop = self._loop or self._event_loop()
        run = handle.run
        context = contextvars.copy_context()
        context.run(PROCESS_LABEL.set, run.name)
        if run.is_async:
            handle.task = context.run(loop.create_task, self._run_async(handle))
        else:
            loop.call_soon_blocking(self._run_sync, handle, context=context)

    def _run_sync(self, handle: RunHandle) -> None:
        """A sync run's step, on the worker thread: the body, watched by `_await_steps`."""
        if handle.finished:  # cancelled while it waited for its turn
            return
        body = tuple.__new__(RunningBody, (handle, time.monotonic()))  # without a call to __new__
        self._body = body  # one store, seen whole by `_await_steps` (no lock needed to set it)
        state: State | None = None
        error: BaseException | None = None
        try:
            state = handle.run.execute()
        except Exception as machinery_error:  # the body's errors are states
            error = machinery_error
        finally:
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

    def wait_all(
        self,
        futures: Sequence[TaskFuture],
        interrupted: Callable[[], bool],
        timeout: float | None = None,
    ) -> None:
        """A sync flow's remaining runs in one drive, stopping where waiting for each in
        turn would (`in_turn`; see `TaskRunner.wait_all`)."""
        done = in_turn(futures, interrupted, self._pending)
        try:
            self._drive_until(done, timeout)
        except TimeoutError:  # the flow's own wait reports its timeout (a `with suppress`
            return  # costs three calls per flow run)

    def _drive_until(self, done: Callable[[], bool], timeout: float | None = None) -> None:
        """Sync flows: run steps until ``done()`` (or report the deadlock); raises
        `TimeoutError` if that takes over ``timeout`` real seconds."""
        if not self._drive(done, timeout):
            self._guarded(self._deadlock)

    def _drive(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Run the loop's steps until ``done()``, here up to a step that may block, then on
        the worker; False when nothing can run any more before that. After ``timeout`` real
        seconds: `TimeoutError`, the steps going on (a later call waits for them;
        `shutdown` abandons them)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._drive_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            raise TimeoutError(f"{self!r} was busy for {timeout}s with another wait")
        try:
            hand_off = False
            while not done() and not self._closed:
                if not hand_off and self._outcome_due is None:
                    stepped = self._steps_here(done)
                    if stepped is False:  # nothing can run
                        return done()
                    hand_off = stepped is None
                    continue
                hand_off = False
                worker = self._outcome_due or self._start_steps(done)
                outcome = self._await_steps(worker, deadline, timeout)
                self._outcome_due = None
                if outcome is None or self._closed:  # a body given up, or shut down
                    continue
                succeeded, value = outcome
                if not succeeded:  # the loop's own machinery failed
                    self._crash(value)
                elif not value:
                    return done()
            return True
        finally:
            self._drive_lock.release()

    def _steps_here(self, done: Callable[[], bool]) -> bool | None:
        """Steps on this thread until ``done()`` (True) or nothing can run (False); None at a
        step for the worker: a sync body, a wait for a thread, the `HERE_STEPS`-th step."""
        loop = self._loop or self._event_loop()
        if loop.next_step_may_block():  # a sync body whichever is picked: the worker picks
            return None
        with self._body_lock:
            self._stepping = STEPPING_HERE
        try:
            return loop.run_here_until(lambda: self._closed or done(), HERE_STEPS)
        except Exception as error:  # the loop's own machinery failed
            self._crash(error)
            return True
        finally:
            with self._body_lock:
                current = self._stepping is STEPPING_HERE
                if current:
                    self._stepping = None
                orphaned = current and self._closed
            if orphaned:  # shut down meanwhile: as a worker would, unwind the loop
                loop.abandon()

    def _start_steps(self, done: Callable[[], bool]) -> SyncWorker:
        loop = self._event_loop()
        if self._worker is None:
            self._worker = acquire_worker()
        worker = self._worker
        with self._body_lock:
            self._stepping = worker
        self._outcome_due = worker
        worker.start(functools.partial(self._steps, loop, worker, done))
        return worker

    def _steps(self, loop: DeterministicEventLoop, worker: SyncWorker, done: Any) -> bool:
        """On ``worker``: the loop's steps until ``done()``, or until the worker is given up."""
        try:
            return loop.run_until(done, worker)  # stops once the worker is given up
        finally:
            with self._body_lock:
                current = self._stepping is worker
                if current:
                    self._stepping = None
                orphaned = current and self._closed
            if orphaned:  # shut down while stepping: nobody else will unwind this loop
                loop.abandon()

    def _await_steps(
        self, worker: SyncWorker, deadline: float | None, timeout: float | None
    ) -> tuple[bool, Any] | None:
        """The outcome of the steps ``worker`` runs, or None once a sync body on it has
        run for ``sync_wait_limit`` seconds: that run then ends `SyncBodyBlocked`."""
        limit = self.sync_wait_limit
        wait = limit
        while True:
            if deadline is not None:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self!r}: runs not done within {timeout}s")
                wait = min(wait, deadline - time.monotonic())
            outcome = worker.wait(max(wait, 0.0))
            if outcome is not None:
                return outcome
            with self._body_lock:
                body = self._body
                running_for = time.monotonic() - body.since if body is not None else 0.0
                overdue = body is not None and running_for >= limit
                if overdue:  # given up, together, so that the body's step stops there
                    self._body = self._stepping = self._worker = None
                    worker.broken = True
                    self._gave_up_a_body = True
            if body is None or not overdue:
                wait = limit - running_for
                continue
            where = worker.give_up()
            handle = body.handle
            handle.finish(None, SyncBodyBlocked(blocked_message(handle.run.name, limit, where)))
            return None

    def _deadlock(self) -> None:
        blocked = list(self._pending.values())
        message = deadlock_message(blocked, self.schedule)
        self._cancel_pending(blocked, DeadlockError(message, [h.run.name for h in blocked]))

    def _guarded(self, action: Callable[[], object]) -> None:
        """``action()``; should the runner's own machinery fail in it, every pending run
        ends CRASHED with that error (rather than the flow waiting for ever)."""
        try:
            action()
        except Exception as error:
            self._crash(error)

    def _crash(self, error: BaseException) -> None:
        """The runner failed internally: its pending runs end with ``error`` (CRASHED), and
        the loop, in an unknown state, is unwound as far as it goes and replaced."""
        for handle in list(self._pending.values()):
            handle.finish(None, error)
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.abandon()

    def _cancel_pending(self, handles: list[RunHandle], error: BaseException | None = None) -> None:
        for handle in handles:
            if error is not None:
                handle.finish(None, error)
            else:
                handle.cancel()
        self._unwind([h.task for h in handles if h.task is not None])

    def _unwind(self, tasks: list[asyncio.Task[None]]) -> None:
        """Cancel the async bodies of ``tasks`` still going and step them until unwound."""
        tasks = [task for task in tasks if not task.done()]
        if tasks and self._loop is not None:
            self._loop.cancel_all(tasks)

    def _release(self) -> None:
        """Give the worker back to the pool and close the loop."""
        worker, self._worker = self._worker, None
        if worker is not None:
            if self._outcome_due is worker:  # its last outcome was never read: not reusable
                worker.retire()
            release_worker(worker)
        loop, self._loop = self._loop, None
        if loop is not None:  # a body given up may yet wake in it: closed, not kept
            give_back_loop(loop, reusable=not self._gave_up_a_body)
