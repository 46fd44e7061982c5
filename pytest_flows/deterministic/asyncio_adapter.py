"""Every use of asyncio's private internals, in one place, checked on each supported Python.

asyncio has no public API for running a loop one callback at a time, so the
deterministic runner leans on CPython's `asyncio.BaseEventLoop` internals.
They live here and nowhere else; ``tests/deterministic/test_asyncio_adapter.py``
runs this module on every supported Python (3.10 to 3.13).

| what the runner needs                       | here              | internal used          |
|---------------------------------------------|-------------------|------------------------|
| a loop it steps itself                      | `SteppedLoopBase` | ``_ready``, ``_run``   |
| a ready step's cancellation seen by it      | `SteppedLoopBase` | ``_call_soon``         |
| a step that may block, told from the others | `SteppedLoopBase` | ``_ready``             |
| timers kept in its own heap                 | `SteppedLoopBase` | ``_scheduled``         |
| a thread waking the loop                    | `SteppedLoopBase` | ``_write_to_self``     |
| the run a step belongs to                   | `step_value`      | ``Handle._context``    |
| the same, per step, without a Python call   | `context_of_step` | ``Handle._context``    |
| a step run without `Handle._run`'s own call | `SteppedLoopBase` | ``Handle._callback``   |
| a sync body free to call ``asyncio.run``    | `no_running_loop` | ``_set_running_loop``  |
| the same, per step, without a generator     | `set_running_loop`| ``_set_running_loop``  |
| this thread's running loop, or None         | `running_loop`    | ``_get_running_loop``  |
| an async flow's loop: anything ready?       | `has_ready`       | ``_ready``             |
| an async flow's loop: its next timer        | `next_timer`      | ``_scheduled``         |

`check_drivable(loop)` refuses, with `UnsupportedEventLoop`, an async flow's
loop that lacks those internals (uvloop, or any loop not built on
`asyncio.BaseEventLoop`), saying what to use instead.

This module imports only the standard library.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import asyncio.format_helpers
import contextlib
import contextvars
import operator
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "SteppedLoopBase",
    "UnsupportedEventLoop",
    "check_drivable",
    "context_of_step",
    "has_ready",
    "next_timer",
    "no_running_loop",
    "running_as",
    "running_loop",
    "set_running_loop",
    "step_context",
    "step_value",
]


class UnsupportedEventLoop(TypeError):
    """An async flow runs on an event loop the deterministic runner cannot drive."""


def check_drivable(loop: asyncio.AbstractEventLoop) -> None:
    """Raise `UnsupportedEventLoop` unless ``loop`` is built on `asyncio.BaseEventLoop`."""
    if isinstance(loop, asyncio.BaseEventLoop) and isinstance(getattr(loop, "_ready", None), deque):
        return
    raise UnsupportedEventLoop(
        f"DeterministicTaskRunner drives async flows on asyncio's own event loops only; "
        f"this flow runs on {type(loop).__module__}.{type(loop).__qualname__}, which does not "
        "expose the ready queue and timers it needs. Run the flow with asyncio.run(...) "
        "(without uvloop) or anyio's asyncio backend"
    )


def has_ready(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether an asyncio loop (see `check_drivable`) has a callback ready to run."""
    return bool(loop._ready)  # type: ignore[attr-defined]


def next_timer(loop: asyncio.AbstractEventLoop) -> float | None:
    """The deadline (``loop.time()``) of an asyncio loop's next live timer, if any."""
    timers = [timer.when() for timer in loop._scheduled if not timer.cancelled()]  # type: ignore[attr-defined]
    return min(timers) if timers else None


running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio.events._get_running_loop
"""This thread's running loop, or None."""
set_running_loop: Callable[[asyncio.AbstractEventLoop | None], None] = (
    asyncio.events._set_running_loop
)
"""Make a loop (or None) this thread's running loop: for a step run per sync body, where
`no_running_loop` would cost a generator per run."""


@contextlib.contextmanager
def no_running_loop() -> Iterator[None]:
    """No loop counts as running in this thread meanwhile (so ``asyncio.run`` works)."""
    previous = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(previous)


@contextlib.contextmanager
def running_as(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """``loop`` counts as this thread's running loop meanwhile."""
    previous = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(loop)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(previous)


def step_context(step: asyncio.Handle) -> contextvars.Context | None:
    """The context a ready step runs in (None for a handle without one)."""
    return getattr(step, "_context", None)


context_of_step: Callable[[asyncio.Handle], contextvars.Context] = operator.attrgetter("_context")
"""The context a step of a `SteppedLoopBase` runs in (each has one, asyncio's handles too),
read without a Python call: the loop labels every step it runs by it."""


def step_value(step: asyncio.Handle, variable: contextvars.ContextVar[Any], default: Any) -> Any:
    """``variable``'s value in the context ``step`` runs in (``default`` if unset, or for a
    handle without a context): `step_context` and a lookup, in one call per step."""
    context = getattr(step, "_context", None)
    return default if context is None else context.get(variable, default)


class SteppedLoopBase(asyncio.BaseEventLoop):
    """An asyncio loop whose owner runs the ready steps itself, one at a time.

    Subclasses keep their own timers (`set_timer_handle` builds one),
    implement ``note_cancelled()`` (a ready step or timer was cancelled) and
    ``on_wakeup()`` (another thread called ``call_soon_threadsafe``), and
    step with `ready_steps`, `run_step`, `is_cancelled`, `mark_due`.
    ``only_blocking_steps`` stays True while nothing but `call_soon_blocking` has
    made a ready step or a timer (no coroutine, future or timer ever used the loop).
    """

    only_blocking_steps = True

    def note_cancelled(self) -> None:
        raise NotImplementedError

    def on_wakeup(self) -> None:
        raise NotImplementedError

    # --- what the subclass uses ------------------------------------------

    def ready_steps(self) -> deque[asyncio.Handle]:
        """The steps ready to run, in the order they became ready (mutable)."""
        ready: deque[asyncio.Handle] = self._ready  # type: ignore[attr-defined]
        return ready

    @staticmethod
    def run_step(step: asyncio.Handle) -> None:
        """Run one ready step, as the loop itself would (errors go to the handler)."""
        step._run()

    def run_step_switching(
        self, step: asyncio.Handle, running: asyncio.AbstractEventLoop | None
    ) -> asyncio.AbstractEventLoop | None:
        """`run_step` with this loop as the thread's running loop, or with none for a step
        that may block (a sync body, which may then call ``asyncio.run`` as in any thread).
        ``running`` is the thread's running loop now; returns the one the step leaves. It is
        switched only when it changes: each switch is a system call (asyncio records the
        process id), and a sync flow's steps, all sync bodies, then need none."""
        wanted = None if type(step) is _BlockingHandle else self
        if wanted is not running:
            asyncio.events._set_running_loop(wanted)
        try:  # `Handle._run`, written out: a call less per step
            step._context.run(step._callback, *step._args)  # type: ignore[attr-defined]
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as error:
            _report_step_error(step, error)
        return wanted

    @staticmethod
    def is_cancelled(step: asyncio.Handle) -> bool:
        return bool(step._cancelled)

    def call_soon_blocking(
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        """``call_soon``, for a step that may block its thread (a sync body): `is_blocking`
        tells it from the steps of coroutines, which return at their next await."""
        if self._closed:  # type: ignore[attr-defined]  # as `check_open`, a call less per run
            raise RuntimeError("Event loop is closed")
        # The runner's own steps (one per sync run) need no creation traceback.
        return self._append_handle(_BlockingHandle, callback, args, context)

    @staticmethod
    def is_blocking(step: asyncio.Handle) -> bool:
        """Whether ``step`` was made by `call_soon_blocking`."""
        return type(step) is _BlockingHandle

    def check_open(self) -> None:
        """RuntimeError if the loop is closed."""
        self._check_closed()  # type: ignore[attr-defined]

    def set_timer_handle(
        self, when: float, callback: Callable[..., object], args: Any, context: Any
    ) -> asyncio.TimerHandle:
        """A timer handle for ``when``, marked as set (so cancelling it reaches the loop)."""
        self.only_blocking_steps = False
        timer = asyncio.TimerHandle(when, callback, args, self, context)
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    @staticmethod
    def mark_due(timer: asyncio.TimerHandle) -> None:
        """A timer leaves the loop's timers for its ready steps."""
        timer._scheduled = False  # type: ignore[attr-defined]

    # --- what asyncio calls ------------------------------------------------

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        # asyncio's, written out (a task's every step is one): one call instead of four.
        # In debug mode, or closed, asyncio's own checks and errors apply.
        if self._debug or self._closed:  # type: ignore[attr-defined]
            return super().call_soon(callback, *args, context=context)
        self.only_blocking_steps = False
        return self._append_handle(_ReadyHandle, callback, args, context)

    def _append_handle(
        self, kind: type, callback: Callable[..., object], args: Any, context: Any
    ) -> asyncio.Handle:
        """A ready step of ``kind``: asyncio.Handle's __init__ written out, without asking
        the loop for its debug mode (the caller knows it is off)."""
        handle: Any = _new_handle(kind)  # its slots are asyncio's private ones
        handle._callback, handle._args, handle._loop = callback, args, self
        handle._context = context if context is not None else contextvars.copy_context()
        handle._cancelled = False
        handle._repr = handle._source_traceback = None
        self._ready.append(handle)  # type: ignore[attr-defined]
        made: asyncio.Handle = handle
        return made

    def _call_soon(
        self, callback: Callable[..., object], args: Any, context: Any
    ) -> asyncio.Handle:
        # As asyncio's, with a handle that tells the loop when it is cancelled.
        self.only_blocking_steps = False
        handle = _ReadyHandle(callback, args, self, context)
        if handle._source_traceback:  # type: ignore[attr-defined]
            del handle._source_traceback[-1]  # type: ignore[attr-defined]
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        super()._timer_handle_cancelled(handle)  # type: ignore[misc]
        self.note_cancelled()

    def _write_to_self(self) -> None:
        self.on_wakeup()

    def _process_events(self, event_list: Any) -> None:
        """No selector: nothing to process."""


def _report_step_error(step: Any, error: BaseException) -> None:
    """What `asyncio.Handle._run` does with an error its callback raised: the loop's
    exception handler hears of it, and the loop goes on."""
    source = asyncio.format_helpers._format_callback_source(step._callback, step._args)
    context = {"message": f"Exception in callback {source}", "exception": error, "handle": step}
    if step._source_traceback:
        context["source_traceback"] = step._source_traceback
    step._loop.call_exception_handler(context)


class _ReadyHandle(asyncio.Handle):
    """A ready step (``call_soon``) that tells its loop when it is cancelled."""

    __slots__ = ()

    def cancel(self) -> None:
        if not self._cancelled:
            self._loop.note_cancelled()  # type: ignore[attr-defined]
        super().cancel()


class _BlockingHandle(_ReadyHandle):
    """A ready step that may block its thread (`SteppedLoopBase.call_soon_blocking`)."""

    __slots__ = ()


_new_handle = object.__new__
