"""Timeouts for synchronous code.

Python cannot stop a thread from outside. `call_with_timeout` runs the
function in a helper thread and waits at most ``seconds``; when time is up it
raises the given timeout error in the caller at once, and asks the helper
thread to stop by raising the same error inside it
(``PyThreadState_SetAsyncExc``, see `interrupt_thread`). That request lands
at the thread's next Python bytecode. So a timed-out run is reported FAILED
(``TimedOut``) on time, and its thread ends as soon as the code it runs lets
it; it is never left running forever unless the body itself never returns
from C.

What a timeout can and cannot interrupt:

============================================  =====================================
body                                          after the timeout
============================================  =====================================
async task or flow, at an ``await``           cancelled there at once
sync, busy in Python code                     stopped at its next bytecode
sync, in a C call (``time.sleep``, a socket   stops when that call returns; the
read, ``lock.acquire()``, numpy)              error is raised then and the thread
                                              ends
sync, in a C call that never returns (a read  cannot be stopped: the (daemon)
without a timeout, a deadlock)                thread lives until the process ends
sync body that catches the timeout error and  keeps running; don't catch
goes on                                       ``BaseException`` broadly
============================================  =====================================

The same holds for a sync flow's body (`flowcore.flow_engine`) and, inside
the worker process, for a task run on Dask.

A flow's timeout bounds the whole flow run: its body, waiting for its task
runs and resolving its return value all share one `Deadline`. When it
passes, the flow run ends FAILED (``TimedOut``) at once; its task runs
without a final state end CANCELLED, and their runner is shut down without
waiting for them (a sync body still running is abandoned to its daemon
thread and stops by its own timeout or when it returns).
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flowcore.errors import FlowTimeoutError

if TYPE_CHECKING:
    from flowcore.clock import Clock

__all__ = ["Deadline", "call_with_timeout", "interrupt_thread"]

T = TypeVar("T")


def interrupt_thread(thread: threading.Thread, error: type[BaseException]) -> bool:
    """Ask ``thread`` to raise ``error`` at its next bytecode; False if it already ended."""
    if thread.ident is None or not thread.is_alive():
        return False
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(error)
    )
    return bool(changed == 1)


def call_with_timeout(
    function: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    seconds: float,
    error: type[BaseException],
    message: str,
    thread_name: str,
) -> T:
    """``function(*args, **kwargs)``, or ``error(message)`` after ``seconds``.

    The call runs in a helper thread with a copy of the caller's context
    variables; whatever it raises is raised here.
    """
    outcome: list[Any] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome.append((True, context.run(function, *args, **kwargs)))
        except BaseException as failure:  # handed to the caller, whatever it is
            outcome.append((False, failure))

    thread = threading.Thread(target=target, name=thread_name, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        interrupt_thread(thread, error)
        raise error(message)
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


class Deadline:
    """When a flow run's timeout runs out, on the real clock and on its runner's clock.

    Waits are bounded by `remaining` real seconds. `passed` also reads the
    runner's clock: under a virtual clock (the deterministic runner's),
    sleeps that jump past the timeout end the flow run as real ones would.

    >>> from flowcore.clock import real_clock
    >>> deadline = Deadline(60, real_clock, "flow 'etl' exceeded its timeout of 60s")
    >>> 59 < deadline.remaining() <= 60, deadline.passed()
    (True, False)

    `timed_out` gives the `FlowTimeoutError` to raise; the engine tells its
    own timeout from a subflow's (raised in the body) by identity: ``error
    is deadline.error``.
    """

    # Captured at import: freezegun's frozen monotonic clock must not stop a timeout.
    _monotonic = staticmethod(time.monotonic)

    def __init__(self, seconds: float, clock: Clock, message: str) -> None:
        self.seconds = seconds
        self.message = message
        self.error: FlowTimeoutError | None = None
        self._clock = clock
        self._real_end = self._monotonic() + seconds
        self._clock_end_ns = clock.now_ns() + round(seconds * 1e9)

    def remaining(self) -> float:
        """Real seconds left, 0 once passed."""
        return max(0.0, self._real_end - self._monotonic())

    def passed(self) -> bool:
        """Whether the timeout has run out, in real time or on the runner's clock."""
        return self._monotonic() >= self._real_end or self._clock.now_ns() >= self._clock_end_ns

    def timed_out(self) -> FlowTimeoutError:
        """The error of this timeout (one instance, however often asked)."""
        if self.error is None:
            self.error = FlowTimeoutError(self.message)
        return self.error
