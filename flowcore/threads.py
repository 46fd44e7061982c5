"""Threads for sync task bodies that a stopping flow can leave behind.

Python cannot stop a thread from outside. When a flow run must stop at once
(Ctrl-C, its timeout), a sync task body busy in ``time.sleep(30)`` is
abandoned: its run ends now, and its thread finishes the body on its own.
That only works if nobody joins the thread: `concurrent.futures` joins its
pool's threads at interpreter exit, and anyio's worker threads are joined
when their event loop closes, so either would hold Ctrl-C for those 30 s.
The threads here are daemon threads that are never joined on a cancelling
shutdown.

- `ResultHandle` (from `flowcore.result_handle`): the outcome of a call made
  in another thread, shaped like `concurrent.futures.Future` but lighter.
- `WorkerThreads`: a pool shaped like ``ThreadPoolExecutor`` (``submit``
  gives a `ResultHandle`), whose ``shutdown(cancel=True)`` drops queued work
  and returns at once.
- `run_sync_in_thread`: await a sync call from an event loop (asyncio or
  trio) without blocking it, in a new thread or a pool's; cancelling the
  await abandons the call. `SyncBodyThreads`: the pool a runner keeps for
  that, which it stops without waiting.
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
from typing import Any, TypeVar

import anyio

from flowcore.result_handle import ResultHandle

__all__ = [
    "ResultHandle", "SyncBodyThreads", "WorkerThreads", "call_soon_on_this_loop", "call_within",
    "run_sync_in_thread",
]  # fmt: skip

T = TypeVar("T")


_WorkItem = tuple[ResultHandle[Any], Callable[..., Any], tuple[Any, ...]]


class WorkerThreads:
    """A pool of at most ``max_workers`` daemon threads (default: cpu count + 4, at most 32)."""

    def __init__(self, max_workers: int | None, name: str) -> None:
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self.name = name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        # One item per thread waiting for work. list.append and list.pop are each atomic
        # under the GIL, where a Semaphore takes a Condition (Python code) both ways,
        # once per run on each side.
        self._idle: list[None] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> ResultHandle[T]:
        """Run ``fn(*args)`` in a pool thread; its handle. RuntimeError after shutdown."""
        handle: ResultHandle[T] = ResultHandle()
        self.submit_to(handle, fn, *args)
        return handle

    def submit_to(self, handle: ResultHandle[T], fn: Callable[..., T], *args: Any) -> None:
        """Run ``fn(*args)`` in a pool thread, its outcome set on ``handle`` (a handle given
        out before the call could be made: a run waiting for its upstream runs, say)."""
        lock = self._lock
        lock.acquire()  # not a `with`: costs half as much, once per run
        try:
            if self._closed:
                raise RuntimeError(f"cannot submit to {self.name!r}: it was shut down")
            self._queue.put((handle, fn, args))
            if self._idle:
                self._idle.pop()  # a waiting thread takes the call (only this lock's holder pops)
            elif len(self._threads) < self.max_workers:
                self._start_thread()
        finally:
            lock.release()

    def shutdown(self, cancel: bool = False, wait: bool = True) -> None:
        """Stop taking work. ``cancel=False``: finish what was submitted and join the
        threads. ``cancel=True``: cancel what has not started and return at once; bodies
        still running are left to finish in their daemon threads. ``wait=False``: return
        at once either way; each thread ends once it has no more work."""
        with self._lock:
            self._closed = True
        if cancel:
            self._cancel_queued()
        self._queue.put(None)  # each thread that meets it puts it back for the next
        if wait and not cancel:
            for thread in self._threads:
                thread.join()

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)  # first: running, it counts itself idle against these
        try:
            thread.start()
        except BaseException:
            self._threads.remove(thread)
            raise

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)
                return
            handle, fn, args = item
            if not handle.set_running_or_notify_cancel():
                del item, handle, fn, args
                self._now_idle()
                continue
            try:
                succeeded, value = True, fn(*args)
            except BaseException as error:  # handed to whoever waits on the handle
                succeeded, value = False, error
            # Idle before the end is told: what a caller submits on hearing of it finds
            # this thread (once done telling), instead of starting another one.
            self._now_idle()
            if succeeded:
                handle.set_result(value)
            else:
                handle.set_exception(value)
            del item, handle, fn, args, value  # let go of the run before waiting for the next

    def _now_idle(self) -> None:
        """Count this thread as waiting for work. A call queued while every thread was busy
        took no count, so the thread that takes it adds one too many: the counts stop at
        the number of threads (the pool, at its maximum then, starts no more anyway)."""
        if len(self._idle) < len(self._threads):
            self._idle.append(None)

    def _cancel_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[0].cancel()


class SyncBodyThreads:
    """A runner's threads for the sync bodies of its runs on an event loop: a `WorkerThreads`
    pool started on first use, reused from run to run, stopped without waiting (a body a
    cancelled await left running finishes in its daemon thread; idle threads end at once).

        >>> threads = SyncBodyThreads(max_workers=4)
        >>> threads.pool().submit(abs, -3).result()
        3
        >>> threads.shutdown()
    """

    def __init__(self, max_workers: int = 40, name: str = "flowcore-sync") -> None:
        self.max_workers = max_workers  # 40: anyio's default limit, `run_sync_in_thread`'s
        self.name = name
        self._pool: WorkerThreads | None = None

    def pool(self) -> WorkerThreads:
        """The pool, started now if it is not (call from the loop's thread)."""
        if self._pool is None:
            self._pool = WorkerThreads(self.max_workers, self.name)
        return self._pool

    def __getstate__(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "name": self.name, "_pool": None}

    def shutdown(self, cancel: bool = False) -> None:
        """Stop the pool, if started, without waiting; a later `pool` starts a new one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(cancel=cancel, wait=False)


async def run_sync_in_thread(
    fn: Callable[[], T],
    limiter: anyio.CapacityLimiter | None = None,
    name: str = "flowcore-sync",
    threads: WorkerThreads | None = None,
) -> T:
    """``fn()`` in a thread of ``threads`` (else a new daemon thread), awaited without
    blocking the event loop. A pool's threads are reused: a new one costs about 300 µs
    of CPU here. At most ``limiter``'s count of calls at once (anyio's default thread
    limiter if None). The call sees the caller's context variables. If the awaiting
    task is cancelled, the call is abandoned: the await ends at once and the thread
    finishes the call on its own.
    """
    if limiter is None:
        import anyio.to_thread  # here, not at the top: it adds to every `import flowcore`

        limiter = anyio.to_thread.current_default_thread_limiter()
    async with limiter:
        if threads is None:
            return await _in_new_thread(fn, name)
        return await _in_pool(fn, threads)


async def _in_pool(fn: Callable[[], T], threads: WorkerThreads) -> T:
    finished = anyio.Event()
    call_soon = call_soon_on_this_loop()

    def wake(_handle: object) -> None:
        # As in `_in_new_thread`: scheduled without waiting; a closed loop raises.
        with contextlib.suppress(RuntimeError):
            call_soon(finished.set)

    handle = threads.submit(contextvars.copy_context().run, fn)
    handle.add_done_callback(wake)
    try:
        await finished.wait()
    except BaseException:
        handle.cancel()  # abandoned: if not started yet, it never will be
        raise
    return handle.result()  # type: ignore[no-any-return]


async def _in_new_thread(fn: Callable[[], T], name: str) -> T:
    finished = anyio.Event()
    call_soon = call_soon_on_this_loop()
    context = contextvars.copy_context()
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, context.run(fn)))
        except BaseException as error:  # handed to the awaiting task
            outcome.append((False, error))
        # Scheduled without waiting for the loop to run it: a loop that stopped
        # meanwhile (its flow was interrupted) would leave this thread blocked for
        # good. A closed one raises RuntimeError: nobody waits for this call any more.
        with contextlib.suppress(RuntimeError):
            call_soon(finished.set)

    threading.Thread(target=target, name=name, daemon=True).start()
    await finished.wait()
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def call_soon_on_this_loop() -> Callable[[Callable[[], object]], object]:
    """How another thread has this event loop (asyncio's or trio's) call a function soon."""
    import sniffio  # anyio's own dependency

    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    import asyncio

    return asyncio.get_running_loop().call_soon_threadsafe


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
