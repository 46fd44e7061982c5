"""An event loop in a daemon thread, fed task runs from other threads in batches.

A sync flow that submits async task runs hands each one to an event loop
running in another thread. Crossing threads once per run (waking the loop,
waiting for it to take the run) costs many times what a short run does, so
the hand-offs are batched:

- `LoopThread.start_soon(run)` appends the run to a batch and returns its
  `ResultHandle` at once. Only the first run of a batch wakes the loop (one
  thread-safe call); the others find that wake-up pending and just append.
- On the loop, ``_drain`` takes the whole batch and starts one task per run.
  A run with upstream runs waits for them there: the last one to end wakes it,
  with no thread waiting on anything.
- Each task sets its run's handle when the run ends (or cancels it).
- `LoopThread.close(cancel)`: wait for the runs; or cancel them, runs still in
  a batch at once from the closing thread, and wait at most
  `CANCEL_WAIT_SECONDS` for the loop to stop (a body may block it).

On asyncio each run is a plain `asyncio.Task`: an anyio task group's
``start_soon`` costs several times more per task. On trio each run is a task
of an anyio task group.

    >>> from flowcore import flow, task
    >>> from flowcore.task_runners import AsyncTaskRunner
    >>> @task
    ... async def double(x):
    ...     return 2 * x
    >>> @flow(task_runner=AsyncTaskRunner())
    ... def doubles():
    ...     return [double(x) for x in range(3)]   # one batch, one wake-up of the loop
    >>> doubles()
    [0, 2, 4]
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from flowcore.task_runners.base import when_upstream_done
from flowcore.threads import ResultHandle, SyncBodyThreads

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["CANCEL_WAIT_SECONDS", "LoopThread"]

CANCEL_WAIT_SECONDS = 0.5
"""How long a cancelling shutdown waits for an event loop to stop before leaving it
(a task body blocking its loop, with ``time.sleep`` in an async function, say)."""

_Batch = list[tuple["TaskRun", ResultHandle["State"]]]
_StartTasks = Callable[[_Batch], None]


class LoopThread:
    """An event loop in a daemon thread, started on first use; see the module docstring."""

    def __init__(self, backend: str = "asyncio") -> None:
        self.backend = backend
        self._lock = threading.Lock()  # guards the batch, the flags and the start
        self._batch: _Batch = []
        self._drain_pending = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_error: BaseException | None = None
        # Set on the loop once it runs:
        self._call_soon: Callable[..., object] = _not_started
        self._start_tasks: _StartTasks = _not_started
        # asyncio's runs not yet ended, by handle: to cancel them, and to wait for them.
        self._tasks: dict[ResultHandle[State], Any] = {}
        self._cancelled_class: type[BaseException] = BaseException
        self._stopping: anyio.Event | None = None
        self._group: TaskGroup | None = None
        self._loop_thread_id: int | None = None
        self._body_threads = SyncBodyThreads()  # for the sync bodies of its runs

    @property
    def closed(self) -> bool:
        """Whether `close` was called: runs handed over since are cancelled at once."""
        return self._closed

    def start_soon(self, run: TaskRun) -> ResultHandle[State]:
        """Run ``run`` on the loop once its upstream runs are done; its handle, whose result
        is the run's final state (cancelled if the loop closes first)."""
        handle: ResultHandle[State] = ResultHandle()
        lock = self._lock
        lock.acquire()  # not a `with`: costs half as much, once per run
        try:
            if self._closed:
                handle.cancel()  # no callbacks yet: nothing runs under the lock
                return handle
            if self._thread is None:
                self._start()
            self._batch.append((run, handle))
            if self._drain_pending:
                return handle
            self._drain_pending = True
        finally:
            lock.release()
        if not self._call(self._drain):  # the loop died: nothing will take the batch
            self._drop_batch()
        return handle

    def close(self, cancel: bool = False) -> None:
        """Stop the loop once its runs are done; or (``cancel``) cancel them and wait for
        the loop at most `CANCEL_WAIT_SECONDS` (its thread is a daemon)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if cancel:  # runs never started: cancelled here, whatever the loop is doing
            self._drop_batch()
        if thread is not None and self._call(self._stop, cancel):
            thread.join(CANCEL_WAIT_SECONDS if cancel else None)
        self._body_threads.shutdown(cancel)

    def _drop_batch(self) -> None:
        """Close, and cancel the runs of the batch (never started)."""
        with self._lock:
            self._closed = True
            dropped, self._batch = self._batch, []
        for _run, handle in dropped:
            handle.cancel()

    # --- the loop's thread -------------------------------------------------------------

    def _start(self) -> None:
        """Under ``_lock``: start the loop's thread and wait until it takes runs."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name=f"flowcore-{self.backend}-loop", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._start_error is not None:
            self._closed = True
            self._thread = None
            raise RuntimeError(f"could not start a {self.backend} event loop") from (
                self._start_error
            )

    def _run_loop(self, ready: threading.Event) -> None:
        try:
            anyio.run(self._host, ready, backend=self.backend)
        except BaseException as error:  # reported by `_start` if the loop never ran
            if not ready.is_set():
                self._start_error = error
            else:
                raise
        finally:
            ready.set()

    async def _host(self, ready: threading.Event) -> None:
        """The loop's main task: holds the task group until `close`, then waits for (or
        cancels) the runs."""
        self._stopping = anyio.Event()
        self._cancelled_class = anyio.get_cancelled_exc_class()
        self._loop_thread_id = threading.get_ident()
        async with anyio.create_task_group() as group:
            self._group = group
            self._call_soon, self._start_tasks = self._native_hooks(group)
            ready.set()
            await self._stopping.wait()
            while self._tasks:  # asyncio's runs, which the group does not wait for
                await _all_done(list(self._tasks.values()))

    def _native_hooks(self, group: TaskGroup) -> tuple[Callable[..., object], _StartTasks]:
        """The loop's own thread-safe ``call_soon``, and how a batch of runs becomes tasks."""
        if self.backend == "asyncio":
            return self._asyncio_hooks()
        import trio

        def start_in_group(batch: _Batch) -> None:
            for run, handle in batch:
                group.start_soon(self._execute, run, handle)

        return trio.lowlevel.current_trio_token().run_sync_soon, start_in_group

    def _asyncio_hooks(self) -> tuple[Callable[..., object], _StartTasks]:
        import asyncio

        loop = asyncio.get_running_loop()
        create_task, execute, tasks = loop.create_task, self._execute, self._tasks

        def start_tasks(batch: _Batch) -> None:
            for run, handle in batch:
                # Forgotten by `_execute` when the run ends: cheaper than a done callback,
                # which asyncio would schedule as one more step of the loop.
                tasks[handle] = create_task(execute(run, handle))

        return loop.call_soon_threadsafe, start_tasks

    def _call(self, fn: Callable[..., object], *args: Any) -> bool:
        """Have the loop call ``fn(*args)`` soon, from any thread; False if the loop is gone."""
        with contextlib.suppress(RuntimeError):  # asyncio's closed loop, trio's RunFinishedError
            self._call_soon(fn, *args)
            return True
        return False

    def _drain(self) -> None:
        """On the loop: start a task for every run of the batch."""
        with self._lock:
            batch, self._batch = self._batch, []
            self._drain_pending = False
        self._start_tasks(batch)

    def _stop(self, cancel: bool) -> None:
        """On the loop: let `_host` end, first cancelling every run if ``cancel``."""
        if cancel:
            for handle, task in list(self._tasks.items()):
                task.cancel()
                handle.cancel()  # a task cancelled before it started never runs `_execute`
            if self._group is not None:
                self._group.cancel_scope.cancel()
        if self._stopping is not None:
            self._stopping.set()

    async def _execute(self, run: TaskRun, handle: ResultHandle[State]) -> None:
        """One run, as a task on the loop: wait for its upstream runs, execute it, and
        set its handle."""
        try:
            if run.upstream:
                await self._upstream_done(run)
            threads = None if run.is_async else self._body_threads.pool()
            state = await run.execute_async(threads=threads)
        except BaseException as error:
            if isinstance(error, self._cancelled_class):
                handle.cancel()
                raise
            handle.set_exception(error)  # the machinery failed: the run ends CRASHED
        else:
            handle.set_result(state)
        finally:
            self._tasks.pop(handle, None)

    async def _upstream_done(self, run: TaskRun) -> None:
        """Wait until every upstream run of ``run`` is done, woken by the last to end."""
        if all(upstream.done() for upstream in run.upstream):
            return
        finished = anyio.Event()
        when_upstream_done(run, partial(self._call_on_loop, finished.set))
        await finished.wait()

    def _call_on_loop(self, fn: Callable[[], object]) -> None:
        if threading.get_ident() == self._loop_thread_id:
            fn()
        else:
            self._call(fn)


def _not_started(*_args: object) -> None:
    raise RuntimeError("the event loop has not started")


async def _all_done(tasks: list[Any]) -> None:
    import asyncio

    await asyncio.wait(tasks)
