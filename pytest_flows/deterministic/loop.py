"""An asyncio event loop that runs one step at a time, in the order a schedule chooses.

`DeterministicEventLoop` is a real asyncio loop (tasks, futures,
``asyncio.sleep``, ``Event``, ``Lock``, ``Queue``, anyio on asyncio all work
on it) with two differences from the standard one:

- when several callbacks are ready, the `Schedule` picks which runs next,
  instead of first-in first-out; so the order in which coroutines resume at
  their awaits is the schedule's;
- time is virtual: ``loop.time()`` reads a `VirtualClock`, and when nothing
  is ready the clock jumps to the next timer's deadline instead of waiting.
  Timers due at the same instant fire in the order they were set. Deadlines
  are whole nanoseconds, like the clock: ``call_later(delay)`` is due exactly
  ``delay`` (to the nearest ns) after now, ``call_at(when)`` at the first ns
  where ``time() >= when``, and a timer set for ``inf`` never fires.

It never blocks on I/O. The loop is stepped, not run forever:
``run_until(done)`` runs steps until ``done()`` is true, and returns False if
nothing can run any more before that (everything left is waiting for
something no step will do: a deadlock, for the caller to report).

    >>> import asyncio
    >>> loop = DeterministicEventLoop(Schedule())
    >>> task = loop.create_task(asyncio.sleep(3600, result="done"))
    >>> loop.run_until(task.done)
    True
    >>> task.result(), loop.time()
    ('done', 3600.0)
    >>> loop.close()
"""

from __future__ import annotations

import asyncio
import atexit
import heapq
import itertools
import math
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from pytest_flows.deterministic.asyncio_adapter import (
    SteppedLoopBase,
    context_of_step,
    running_loop,
    set_running_loop,
)
from pytest_flows.deterministic.schedules import PROCESS_LABEL, InOrder, Schedule, Seeded
from pytest_flows.deterministic.virtual_clock import NS_PER_SECOND, seconds_to_ns

__all__ = ["DeterministicEventLoop", "LoopInvariantBroken", "give_back_loop", "take_loop"]

_NEVER = math.inf
"""The deadline of a timer set for an infinite time: it sorts after every other."""


class _Timer(NamedTuple):
    """A timer in the loop's heap: by deadline, then in the order timers were set."""

    due_ns: float  # virtual ns since the clock's start, or _NEVER
    order: int
    handle: asyncio.TimerHandle


class _NotStopped:
    """The stopper of a `run_until` given none: never broken."""

    broken = False


_NOT_STOPPED = _NotStopped()


class LoopInvariantBroken(RuntimeError):
    """The deterministic loop found itself in a state it should never reach (a bug in it)."""


class DeterministicEventLoop(SteppedLoopBase):
    """See the module docstring."""

    def __init__(self, schedule: Schedule, thread_wait_limit: float = 5.0) -> None:
        super().__init__()
        self.schedule = schedule
        self.virtual_clock = schedule.clock
        self.thread_wait_limit = thread_wait_limit
        self._timers: list[_Timer] = []
        self._timer_order = itertools.count()
        self._threads_pending = 0
        # Made by the first `run_in_executor`: only then may a stepping thread wait for a
        # thread to wake it (most loops never do, and a condition is made in Python).
        self._woken: threading.Condition | None = None
        # Steps cancelled since the ready list was last cleaned: while none
        # were, it holds no cancelled step and need not be searched.
        self._cancelled_since_cleaning = 0
        # A step `run_until(here=...)` picked but left for a thread that may block.
        self._held: asyncio.Handle | None = None
        self._stepping_here = False  # the thread in run_until is one that must not block

    # --- what asyncio asks of a loop -------------------------------------

    def time(self) -> float:
        return self.virtual_clock.loop_time()

    def note_cancelled(self) -> None:
        """A step was cancelled: the next collection cleans the ready list."""
        self._cancelled_since_cleaning += 1

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:
        if math.isnan(when):
            raise ValueError(f"a timer's deadline must be a number of seconds, got {when!r}")
        if math.isinf(when):
            due_ns = _NEVER if when > 0 else 0
        else:
            due_ns = seconds_to_ns(when, not_below=True)
        return self._set_timer(due_ns, when, callback, args, context)

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        if math.isnan(delay):
            raise ValueError(f"a timer's delay must be a number of seconds, got {delay!r}")
        now_ns = self.virtual_clock.elapsed_ns
        if math.isinf(delay):
            due_ns: float = _NEVER if delay > 0 else now_ns
        else:
            due_ns = now_ns + max(seconds_to_ns(delay), 0)
        when = _NEVER if due_ns == _NEVER else due_ns / NS_PER_SECOND
        return self._set_timer(due_ns, when, callback, args, context)

    def _set_timer(
        self, due_ns: float, when: float, callback: Callable[..., object], args: Any, context: Any
    ) -> asyncio.TimerHandle:
        self.check_open()
        timer = self.set_timer_handle(when, callback, args, context)
        heapq.heappush(self._timers, _Timer(due_ns, next(self._timer_order), timer))
        return timer

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> Any:
        self.only_blocking_steps = False
        if self._woken is None:  # before the thread starts, so that it finds it to notify
            self._woken = threading.Condition()
        future = super().run_in_executor(executor, func, *args)
        self._threads_pending += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: object) -> None:
        self._threads_pending -= 1

    def on_wakeup(self) -> None:  # a thread called call_soon_threadsafe
        woken = self._woken
        if woken is not None:  # else no stepping thread waits for one: nothing to notify
            with woken:
                woken.notify_all()

    # --- stepping -------------------------------------------------------

    def run_until(self, done: Callable[[], bool], stopper: Any = None) -> bool:
        """Run steps until ``done()``, or until ``stopper.broken`` (a worker given up) if a
        ``stopper`` is given (read before each step without a call); False when nothing can
        run and it is still not done."""
        return bool(self._run(done, 0, stopper or _NOT_STOPPED))  # never None: it may block

    def run_here_until(self, done: Callable[[], bool], max_steps: int) -> bool | None:
        """`run_until`, for a thread that must not block (the one that waits): it stops,
        returning None, before a step that may block (`call_soon_blocking`: a sync body,
        held back to run first at the next `run_until`), before waiting for a thread the
        loop started, or after ``max_steps`` steps. `run_until` then goes on exactly where
        this stopped: the same steps, in the same order, as if it had not."""
        return self._run(done, max_steps)

    def next_step_may_block(self) -> bool:
        """Whether the next step is sure to be one that may block: every ready step is one,
        and collecting would add none. `run_here_until` would only pick it and stop."""
        ready = self.ready_steps()
        if not ready or self._cancelled_since_cleaning:
            return False
        if self.only_blocking_steps:  # every step is a sync body, and no timer was ever set
            return True
        timers = self._timers
        if timers and timers[0].due_ns <= self.virtual_clock.elapsed_ns:
            return False
        return all(map(self.is_blocking, ready))

    def _run(self, done: Callable[[], bool], here: int, stopper: Any = _NOT_STOPPED) -> bool | None:
        """`run_until` (``here`` 0) or `run_here_until` (``here`` steps at most)."""
        self._stepping_here = bool(here)
        if self._held is not None and here:  # picked already, by a call with `here`
            return None
        previous = running = running_loop()
        try:
            held, self._held = self._held, None
            if held is not None and not self.is_cancelled(held):
                running = self.run_step_switching(held, running)
            ready = self.ready_steps()
            schedule = self.schedule
            decisions, widths, trace = schedule.decisions, schedule.widths, schedule.trace
            strategy = schedule.strategy
            uniform = strategy.uniform if type(strategy) is Seeded else None  # its `choose`
            choose = strategy.choose
            timers, steps_left = self._timers, here
            while not stopper.broken and not done():
                if here:
                    if not steps_left:
                        return None
                    steps_left -= 1
                # Collecting is needed only when a step was cancelled, nothing is ready, or a
                # timer is due (one set for no delay); checked here, not by a call per step.
                collect = (
                    not ready
                    or self._cancelled_since_cleaning
                    or (timers and timers[0].due_ns <= self.virtual_clock.elapsed_ns)
                )
                if collect and not self._collect_ready():
                    return None if here and self._threads_pending > 0 else False
                width = len(ready)
                if width == 1:
                    handle = ready.popleft()
                else:  # `Schedule.pick`, written out: a call less per decision (two, seeded)
                    index = int(uniform() * width) if uniform else choose(ready, len(decisions))
                    decisions.append(index)
                    widths.append(width)
                    handle = ready[index]
                    del ready[index]
                schedule.steps += 1
                trace.append(context_of_step(handle).get(PROCESS_LABEL, "flow"))  # `label_of`
                if here and self.is_blocking(handle):
                    self._held = handle
                    return None
                running = self.run_step_switching(handle, running)
            return True
        finally:
            if running is not previous:
                set_running_loop(previous)

    def has_pending_work(self) -> bool:
        """Whether a step is ready or a timer is set."""
        live = (not timer.handle.cancelled() for timer in self._timers)
        return self._held is not None or bool(self.ready_steps()) or any(live)

    def _collect_ready(self) -> bool:
        """Drop cancelled steps, move due timers to the ready list (jumping the clock to the
        next deadline when nothing is ready); False when there is nothing to run."""
        ready = self.ready_steps()
        if self._cancelled_since_cleaning:  # not a search per step: that made runs quadratic
            self._cancelled_since_cleaning = 0
            if any(self.is_cancelled(handle) for handle in ready):
                kept = [handle for handle in ready if not self.is_cancelled(handle)]
                ready.clear()
                ready.extend(kept)
        timers = self._timers
        while timers and timers[0].handle.cancelled():
            heapq.heappop(timers)
        if not ready:
            if not timers or timers[0].due_ns == _NEVER:
                return self._wait_for_threads()
            self.virtual_clock.advance_to_ns(int(timers[0].due_ns))
        now_ns = self.virtual_clock.elapsed_ns
        while timers and timers[0].due_ns <= now_ns:
            timer = heapq.heappop(timers).handle
            if not timer.cancelled():
                self.mark_due(timer)
                ready.append(timer)
        if not ready:
            raise LoopInvariantBroken(
                f"the clock reached the next timer's deadline ({timers[0].due_ns} ns) "
                f"but the timer is not due at {now_ns} ns"
            )
        return True

    def _wait_for_threads(self) -> bool:
        """Nothing ready and no timer: wait (boundedly) for a thread the loop started,
        unless the stepping thread must not block."""
        woken = self._woken
        if self._threads_pending <= 0 or self._stepping_here or woken is None:
            return False
        with woken:
            woken.wait_for(lambda: bool(self.ready_steps()), self.thread_wait_limit)
        return bool(self.ready_steps())

    def cancel_all(self, tasks: list[asyncio.Task[Any]], max_steps: int = 10_000) -> None:
        """Cancel ``tasks`` and run (in order) until they have unwound, or ``max_steps``."""
        for task in tasks:
            task.cancel()
        schedule = self.schedule
        strategy, recorded = schedule.strategy, len(schedule.decisions)
        schedule.strategy = InOrder()
        steps = itertools.count()
        try:
            self.run_until(lambda: all(t.done() for t in tasks) or next(steps) >= max_steps)
        finally:  # unwinding is not part of the schedule
            schedule.strategy = strategy
            del schedule.decisions[recorded:], schedule.widths[recorded:]

    def abandon(self) -> None:
        """Cancel and unwind every task left, then close: for a loop its runner gave up,
        on a thread nobody waits for, so nothing is raised."""
        try:
            self.cancel_all([task for task in asyncio.all_tasks(self) if not task.done()])
        except Exception:  # nobody is left to tell
            pass
        finally:
            self.close()

    def close(self) -> None:
        self._timers.clear()
        self._held = None
        super().close()


# --- loops kept for the next runner -------------------------------------------

SPARE_LOOPS = 4
"""How many clean loops are kept for later runners (one per thread running flows at once)."""
_spare: list[DeterministicEventLoop] = []


def take_loop(schedule: Schedule, thread_wait_limit: float) -> DeterministicEventLoop:
    """A loop following ``schedule``: a spare one a finished flow left clean, or a new one
    (building an asyncio loop was 1.6% of a sync 10-task flow's schedule, in instructions)."""
    try:
        loop = _spare.pop()  # atomic: runners on other threads take others
    except IndexError:
        return DeterministicEventLoop(schedule, thread_wait_limit)
    loop.schedule, loop.virtual_clock = schedule, schedule.clock
    loop.thread_wait_limit = thread_wait_limit
    return loop


def give_back_loop(loop: DeterministicEventLoop, reusable: bool = True) -> None:
    """Close ``loop``, or keep it for `take_loop` if ``reusable`` (no thread may still step
    it), only sync bodies ever ran on it and nothing is left on it: then nothing from its
    flow can reach the next one's."""
    clean = (  # with only sync bodies, no timer, thread or task was ever started on it
        reusable
        and loop.only_blocking_steps
        and loop._held is None
        and not loop.ready_steps()
        and not loop.is_closed()
        and len(_spare) < SPARE_LOOPS
    )
    if not clean:
        loop.close()
        return
    loop._cancelled_since_cleaning = 0  # cancelled sync bodies, all gone from the ready list
    _spare.append(loop)


@atexit.register
def _close_spare_loops() -> None:
    while _spare:
        _spare.pop().close()
