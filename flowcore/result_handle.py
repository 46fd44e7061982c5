"""`ResultHandle`: the outcome of a call made in another thread.

Shaped like `concurrent.futures.Future` but lighter: a runner hands the core one
per run, so its cost is paid per task (see `flowcore.threads`, whose pool gives them).

    >>> handle = ResultHandle()
    >>> handle.set_result(3)
    >>> handle.done(), handle.result()
    (True, 3)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ResultHandle"]

T = TypeVar("T")

_PENDING, _RUNNING, _CANCELLED, _FINISHED = range(4)  # in this order: done is >= _CANCELLED

_HANDLE_LOCK = threading.Lock()
"""Guards the state changes of every `ResultHandle`. Each holds it for a few attribute
writes, so one lock shared by all costs less than the Condition a `concurrent.futures.Future`
makes per future: that Condition is most of a Future's cost, and a run pays it per task."""
_lock_handles, _unlock_handles = _HANDLE_LOCK.acquire, _HANDLE_LOCK.release


class ResultHandle(Generic[T]):
    """The outcome of a call made in another thread: `concurrent.futures.Future`'s
    ``done``, ``cancelled``, ``result``, ``exception``, ``add_done_callback`` and ``cancel``,
    and for whoever makes the call, ``set_running_or_notify_cancel``, ``set_result`` and
    ``set_exception`` (which do nothing once the handle is done).

    Lighter than a Future: no lock of its own; a thread that blocks in ``result`` makes
    the lock it waits on, and only then.

        >>> handle = ResultHandle()
        >>> handle.add_done_callback(lambda done: print("got", done.result()))
        >>> handle.set_result(3)
        got 3
    """

    __slots__ = ("_callbacks", "_error", "_state", "_value")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[ResultHandle[T]], object]] | None = None

    def __repr__(self) -> str:
        state = ("pending", "running", "cancelled", "finished")[self._state]
        return f"<ResultHandle {state}>"

    def done(self) -> bool:
        return self._state >= _CANCELLED

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self, timeout: float | None = None) -> T:
        """The call's value, or what it raised; TimeoutError after ``timeout`` seconds,
        `concurrent.futures.CancelledError` if it was cancelled."""
        error = self.exception(timeout)
        if error is not None:
            raise error
        return self._value  # type: ignore[no-any-return]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """What the call raised (None if it returned), waited for as ``result`` is."""
        if self._state < _CANCELLED:
            self._wait(timeout)
        if self._state == _CANCELLED:
            from concurrent.futures import CancelledError  # imported only when raised

            raise CancelledError()
        return self._error

    def add_done_callback(self, fn: Callable[[ResultHandle[T]], object]) -> None:
        """Call ``fn(handle)`` once the handle is done: now if it is, else in the thread
        that finishes it."""
        _lock_handles()
        try:
            if self._state < _CANCELLED:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        finally:
            _unlock_handles()
        fn(self)

    def cancel(self) -> bool:
        """Cancel the call if it has not started; whether the handle is now cancelled."""
        with _HANDLE_LOCK:
            if self._state != _PENDING:
                return self._state == _CANCELLED
            self._state = _CANCELLED
            callbacks, self._callbacks = self._callbacks, None
        self._call_back(callbacks)
        return True

    # --- for whoever makes the call ------------------------------------------

    def set_running_or_notify_cancel(self) -> bool:
        """Mark the call started (it can no longer be cancelled); False if it was cancelled."""
        _lock_handles()  # not a `with`: costs half as much, on every run
        try:
            if self._state == _PENDING:
                self._state = _RUNNING
                return True
            return False
        finally:
            _unlock_handles()

    def set_result(self, value: T) -> None:
        _lock_handles()
        try:
            if self._state >= _CANCELLED:
                return
            self._value = value
            self._state = _FINISHED
            callbacks, self._callbacks = self._callbacks, None
        finally:
            _unlock_handles()
        self._call_back(callbacks)

    def set_exception(self, error: BaseException) -> None:
        with _HANDLE_LOCK:
            if self._state >= _CANCELLED:
                return
            self._error = error
            self._state = _FINISHED
            callbacks, self._callbacks = self._callbacks, None
        self._call_back(callbacks)

    def _call_back(self, callbacks: list[Callable[[ResultHandle[T]], object]] | None) -> None:
        """Call the callbacks of a handle just done, outside the lock, in this thread. One
        that raises is logged, as `concurrent.futures` does, and the others still called."""
        if callbacks is None:
            return
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                import logging  # only now: logging is a cost to every `import flowcore`

                logging.getLogger("flowcore").exception("callback of %r raised", self)

    def _wait(self, timeout: float | None) -> None:
        waiter = threading.Lock()
        waiter.acquire()
        self.add_done_callback(lambda _handle: waiter.release())
        # Interruptible by Ctrl-C in the main thread, as a Future's wait is.
        if not waiter.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError(f"the call did not finish within {timeout}s")
