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
the worker process, for a task run on Dask. A flow that times out cancels the
task runs it submitted that have not started; those already running end by
their own timeouts or when their bodies return.
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["call_with_timeout", "interrupt_thread"]

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
