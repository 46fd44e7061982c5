"""The concurrent runner (the default): sync runs in a thread pool, async runs on an event loop.

    >>> import time
    >>> from flowcore import flow, task
    >>> @task
    ... def nap(seconds):
    ...     time.sleep(seconds)
    >>> @flow(task_runner=ConcurrentTaskRunner(max_workers=4))
    ... def naps():
    ...     for _ in range(4):
    ...         nap(0.2)         # the four naps overlap
    >>> naps()

In a sync flow, async task runs share one event loop in a background thread,
started on first use, which they reach in batches
(`flowcore.task_runners.loop_thread`). In an async flow they run on the
flow's own loop, and sync runs go to worker threads (at most ``max_workers``
at once).

A flow that stops early (Ctrl-C, its timeout) shuts the runner down with
``cancel=True``: runs not started are cancelled, async bodies are cancelled
at their next await, and sync bodies still running are abandoned to their
daemon threads (`flowcore.threads`), never waited for.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from flowcore.errors import InvalidArgument
from flowcore.futures import CANCELLED, settle
from flowcore.task_runners.base import TaskRunner, when_upstream_done
from flowcore.task_runners.loop_thread import CANCEL_WAIT_SECONDS, LoopThread
from flowcore.threads import ResultHandle, SyncBodyThreads, WorkerThreads

if TYPE_CHECKING:
    from flowcore.futures import RunHandle
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = [
    "CANCEL_WAIT_SECONDS",
    "DEFAULT_MAX_WORKERS",
    "ConcurrentTaskRunner",
    "LoopThread",
    "check_max_workers",
]

DEFAULT_MAX_WORKERS = 40
"""Sync runs at once without ``max_workers``: anyio's default thread limit, as under
Prefect 2's ConcurrentTaskRunner (ten sync tasks all start at once)."""


def check_max_workers(max_workers: Any) -> int | None:
    if max_workers is None:
        return None
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidArgument(f"max_workers must be an integer >= 1 or None, got {max_workers!r}")
    return max_workers


class ConcurrentTaskRunner(TaskRunner):
    """Runs task runs concurrently in threads (sync) and on an event loop (async)."""

    name = "concurrent"
    # In an async flow its runs go to the flow's own loop and to threads that stop
    # without being waited for: the pool and the loop thread are never started, so
    # stopping is at once.
    may_block_to_start_or_stop = False

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = check_max_workers(max_workers)
        # Each made on first use: most flows need one of the three, or none.
        self._pool: WorkerThreads | None = None  # a sync flow's sync runs
        self._loop: LoopThread | None = None  # a sync flow's async runs
        # An async flow's sync bodies: stopped without waiting, unlike the pool.
        self._body_threads: SyncBodyThreads | None = None
        # Guards the three: a flow body may submit from threads of its own, and a second
        # pool or loop made at the same time would never be shut down (its threads leaked).
        self._lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"ConcurrentTaskRunner(max_workers={self.max_workers})"

    def duplicate(self) -> ConcurrentTaskRunner:
        return ConcurrentTaskRunner(self.max_workers)

    def start(self) -> None:
        self._closed = False

    def submit(self, run: TaskRun) -> RunHandle:
        if run.is_async:
            return self._event_loop().start_soon(run)
        if not run.upstream:
            return self._thread_pool().submit(run.execute)
        handle: ResultHandle[State] = ResultHandle()
        when_upstream_done(run, partial(self._start_in_pool, run, handle))
        return handle

    async def submit_async(self, run: TaskRun) -> State:
        if run.is_async:
            return await run.execute_async()
        if self._limiter is None and self.max_workers is not None:
            self._limiter = anyio.CapacityLimiter(self.max_workers)
        if self._body_threads is None:  # on the flow's loop: one thread, no race
            self._body_threads = SyncBodyThreads(self.max_workers or DEFAULT_MAX_WORKERS)
        return await run.execute_async(limiter=self._limiter, threads=self._body_threads.pool())

    def shutdown(self, cancel: bool = False) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            loop, self._loop = self._loop, None
            body_threads, self._body_threads = self._body_threads, None
        if pool is not None:
            pool.shutdown(cancel=cancel)
        if body_threads is not None:
            body_threads.shutdown(cancel)
        if loop is not None:
            loop.close(cancel)
        self._limiter = None

    def __getstate__(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_workers"])  # type: ignore[misc]

    def _thread_pool(self) -> WorkerThreads:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self!r} was shut down: it takes no more runs")
                if self._pool is None:
                    workers = self.max_workers or DEFAULT_MAX_WORKERS
                    self._pool = WorkerThreads(workers, name="flowcore-concurrent")
                pool = self._pool
        return pool

    def _event_loop(self) -> LoopThread:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._closed:  # shut down: a loop that cancels what it is handed
                    loop = LoopThread()
                    loop.close()
                    return loop
                if self._loop is None:
                    self._loop = LoopThread()
                loop = self._loop
        return loop

    def _start_in_pool(self, run: TaskRun, handle: ResultHandle[State]) -> None:
        """Once the upstream runs of ``run`` are done: queue it in the pool, its outcome set
        on the handle the core already holds."""
        try:
            if self._closed:
                raise RuntimeError("runner shut down")
            self._thread_pool().submit_to(handle, run.execute)
        except RuntimeError:  # the runner shut down before the upstream runs finished
            handle.set_result(settle(run, CANCELLED))
