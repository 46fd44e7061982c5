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
started on first use. In an async flow they run on the flow's own loop, and
sync runs go to worker threads (at most ``max_workers`` at once).

A flow that stops early (Ctrl-C, its timeout) shuts the runner down with
``cancel=True``: runs not started are cancelled, async bodies are cancelled
at their next await, and sync bodies still running are abandoned to their
daemon threads (`flowcore.threads`), never waited for.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import anyio

from flowcore.errors import InvalidArgument
from flowcore.futures import CANCELLED, settle
from flowcore.task_runners.base import TaskRunner, when_upstream_done
from flowcore.threads import WorkerThreads, call_within

if TYPE_CHECKING:
    import concurrent.futures

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

CANCEL_WAIT_SECONDS = 0.5
"""How long a cancelling shutdown waits for an event loop to stop before leaving it
(a task body blocking its loop, with ``time.sleep`` in an async function, say)."""


def check_max_workers(max_workers: Any) -> int | None:
    if max_workers is None:
        return None
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InvalidArgument(f"max_workers must be an integer >= 1 or None, got {max_workers!r}")
    return max_workers


class LoopThread:
    """An event loop in a background thread, started on first use (anyio's blocking portal)."""

    def __init__(self, backend: str = "asyncio") -> None:
        self.backend = backend
        self._stack: contextlib.ExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None

    def portal(self) -> anyio.from_thread.BlockingPortal:
        if self._portal is None:
            # Imported on first use: anyio.from_thread is the largest part of
            # `import flowcore` otherwise.
            import anyio.from_thread

            self._stack = contextlib.ExitStack()
            self._portal = self._stack.enter_context(
                anyio.from_thread.start_blocking_portal(self.backend)
            )
        return self._portal

    def close(self, cancel: bool = False) -> None:
        """Stop the loop: once its tasks are done, or (``cancel``) cancelling them and
        waiting at most `CANCEL_WAIT_SECONDS` (the loop's thread is a daemon)."""
        if self._stack is None or self._portal is None:
            return
        stack, portal = self._stack, self._portal
        self._stack = self._portal = None
        if not cancel:
            stack.close()
            return

        def cancel_and_close() -> None:
            with contextlib.suppress(RuntimeError):  # the loop stopped already
                portal.call(portal.stop, True)
            stack.close()

        call_within(CANCEL_WAIT_SECONDS, cancel_and_close, "flowcore-loop-closer")


class ConcurrentTaskRunner(TaskRunner):
    """Runs task runs concurrently in threads (sync) and on an event loop (async)."""

    name = "concurrent"

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = check_max_workers(max_workers)
        self._pool: WorkerThreads | None = None
        self._loop = LoopThread()
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
            return self._loop.portal().start_task_soon(run_when_ready, run)
        if not run.upstream:
            return self._thread_pool().submit(run.execute)
        import concurrent.futures  # on first use: it pulls in logging, a cost to every import

        handle: concurrent.futures.Future[State] = concurrent.futures.Future()
        when_upstream_done(run, lambda: self._start_in_pool(run, handle))
        return handle

    async def submit_async(self, run: TaskRun) -> State:
        if run.is_async:
            return await run.execute_async()
        if self._limiter is None and self.max_workers is not None:
            self._limiter = anyio.CapacityLimiter(self.max_workers)
        return await run.execute_async(limiter=self._limiter)

    def shutdown(self, cancel: bool = False) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(cancel=cancel)
            self._pool = None
        self._loop.close(cancel)
        self._limiter = None

    def __getstate__(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_workers"])  # type: ignore[misc]

    def _thread_pool(self) -> WorkerThreads:
        if self._pool is None:
            workers = self.max_workers or DEFAULT_MAX_WORKERS
            self._pool = WorkerThreads(workers, name="flowcore-concurrent")
        return self._pool

    def _start_in_pool(self, run: TaskRun, handle: concurrent.futures.Future[State]) -> None:
        if not handle.set_running_or_notify_cancel():
            return
        try:
            if self._closed:
                raise RuntimeError("runner shut down")
            inner = self._thread_pool().submit(run.execute)
        except RuntimeError:  # the runner shut down before the upstream runs finished
            handle.set_result(settle(run, CANCELLED))
            return
        inner.add_done_callback(lambda done: _copy_outcome(run, done, handle))


async def run_when_ready(run: TaskRun) -> State:
    """Wait (on the loop) for the upstream runs of ``run``, then execute it there."""
    for upstream in run.upstream:
        await upstream.wait_async()
    return await run.execute_async()


def _copy_outcome(
    run: TaskRun, source: concurrent.futures.Future[State], target: concurrent.futures.Future[State]
) -> None:
    if source.cancelled():
        target.set_result(settle(run, CANCELLED))
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())
