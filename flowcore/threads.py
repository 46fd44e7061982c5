"""Threads for sync task bodies that a stopping flow can leave behind.

Python cannot stop a thread from outside. When a flow run must stop at once
(Ctrl-C, its timeout), a sync task body busy in ``time.sleep(30)`` is
abandoned: its run ends now, and its thread finishes the body on its own.
That only works if nobody joins the thread: `concurrent.futures` joins its
pool's threads at interpreter exit, and anyio's worker threads are joined
when their event loop closes, so either would hold Ctrl-C for those 30 s.
The threads here are daemon threads that are never joined on a cancelling
shutdown.

- `WorkerThreads`: a pool shaped like ``ThreadPoolExecutor`` (``submit``
  gives a `concurrent.futures.Future`), whose ``shutdown(cancel=True)``
  drops queued work and returns at once.
- `run_sync_in_thread`: await a sync call from an event loop (asyncio or
  trio) without blocking it; cancelling the await abandons the call.
- `call_within`: call a cleanup function, waiting for it at most so long.

    >>> pool = WorkerThreads(max_workers=2, name="example")
    >>> pool.submit(sum, [1, 2]).result()
    3
    >>> pool.shutdown(cancel=True)
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["WorkerThreads", "call_within", "run_sync_in_thread"]

T = TypeVar("T")

_WorkItem = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class WorkerThreads:
    """A pool of at most ``max_workers`` daemon threads (default: cpu count + 4, at most 32)."""

    def __init__(self, max_workers: int | None, name: str) -> None:
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self.name = name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` in a pool thread; its future. RuntimeError after shutdown."""
        # Imported here: it pulls in logging, a cost to every `import flowcore`.
        from concurrent.futures import Future

        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"cannot submit to {self.name!r}: it was shut down")
            self._queue.put((future, fn, args))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self.max_workers:
                self._start_thread()
        return future

    def shutdown(self, cancel: bool = False) -> None:
        """Stop taking work. ``cancel=False``: finish what was submitted and join the
        threads. ``cancel=True``: cancel what has not started and return at once; bodies
        still running are left to finish in their daemon threads."""
        with self._lock:
            self._closed = True
        if cancel:
            self._cancel_queued()
        self._queue.put(None)  # each thread that meets it puts it back for the next
        if not cancel:
            for thread in self._threads:
                thread.join()

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as error:  # handed to whoever waits on the future
                    future.set_exception(error)
            del item, future, fn, args  # let go of the run before waiting for the next
            self._idle.release()

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()


async def run_sync_in_thread(
    fn: Callable[[], T], limiter: anyio.CapacityLimiter | None = None, name: str = "flowcore-sync"
) -> T:
    """``fn()`` in a new daemon thread, awaited without blocking the event loop.

    At most ``limiter``'s count of calls at once (anyio's default thread
    limiter if None). The call sees the caller's context variables. If the
    awaiting task is cancelled, the call is abandoned: the await ends at
    once and the thread finishes on its own.
    """
    if limiter is None:
        import anyio.to_thread  # here, not at the top: it adds to every `import flowcore`

        limiter = anyio.to_thread.current_default_thread_limiter()
    async with limiter:
        return await _in_new_thread(fn, name)


async def _in_new_thread(fn: Callable[[], T], name: str) -> T:
    import anyio.from_thread
    import anyio.lowlevel

    finished = anyio.Event()
    token = anyio.lowlevel.current_token()
    context = contextvars.copy_context()
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, context.run(fn)))
        except BaseException as error:  # handed to the awaiting task
            outcome.append((False, error))
        # If the loop is gone, nobody waits for this call any more.
        with contextlib.suppress(anyio.RunFinishedError):
            anyio.from_thread.run_sync(finished.set, token=token)

    threading.Thread(target=target, name=name, daemon=True).start()
    await finished.wait()
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def call_within(seconds: float, fn: Callable[[], object], name: str) -> bool:
    """Call ``fn()`` in a daemon thread and wait for it at most ``seconds``.

    True if it returned in time (what it raised is raised here); False if it
    is still running, left to finish on its own. For cleanups that must not
    hold a stopping flow: closing an event loop whose task blocks it, say.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as error:  # raised in the caller instead
            errors.append(error)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return False
    if errors:
        raise errors[0]
    return True
