"""The async runner: every run is a task on one anyio event loop.

Async task bodies run on the loop; sync bodies are handed to worker threads
so they do not block it. In an async flow the loop is the flow's own; in a
sync flow the runner starts one in a background thread (asyncio by default,
``backend="trio"`` when trio is installed) and stops it at the end.

    >>> import asyncio
    >>> from flowcore import flow, task
    >>> @task
    ... async def fetch(n):
    ...     await asyncio.sleep(0.1)
    ...     return n
    >>> @flow(task_runner=AsyncTaskRunner())
    ... def fetch_all():
    ...     return [fetch(n) for n in range(3)]
    >>> fetch_all()
    [0, 1, 2]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowcore.errors import InvalidArgument
from flowcore.task_runners.base import TaskRunner
from flowcore.task_runners.loop_thread import LoopThread
from flowcore.threads import SyncBodyThreads

if TYPE_CHECKING:
    from flowcore.futures import RunHandle
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["AsyncTaskRunner"]

BACKENDS = ("asyncio", "trio")


class AsyncTaskRunner(TaskRunner):
    """Runs every task run as a task on one anyio event loop."""

    name = "async"
    # In an async flow its runs go to the flow's own loop: the loop thread is
    # never started, so stopping is at once.
    may_block_to_start_or_stop = False

    def __init__(self, backend: str = "asyncio") -> None:
        if backend not in BACKENDS:
            raise InvalidArgument(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend == "trio" and not _trio_installed():
            raise InvalidArgument("backend 'trio' needs the trio package: pip install trio")
        self.backend = backend
        self._loop = LoopThread(backend)  # a sync flow's runs
        self._body_threads = SyncBodyThreads()  # an async flow's sync bodies

    def __repr__(self) -> str:
        return f"AsyncTaskRunner(backend={self.backend!r})"

    def duplicate(self) -> AsyncTaskRunner:
        return AsyncTaskRunner(self.backend)

    def start(self) -> None:
        if self._loop.closed:
            self._loop = LoopThread(self.backend)

    def submit(self, run: TaskRun) -> RunHandle:
        return self._loop.start_soon(run)

    async def submit_async(self, run: TaskRun) -> State:
        if run.is_async:
            return await run.execute_async()
        return await run.execute_async(threads=self._body_threads.pool())

    def shutdown(self, cancel: bool = False) -> None:
        self._body_threads.shutdown(cancel)
        self._loop.close(cancel)

    def __getstate__(self) -> dict[str, Any]:
        return {"backend": self.backend}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["backend"])  # type: ignore[misc]


def _trio_installed() -> bool:
    import importlib.util  # here, not at the top: only a trio backend needs it

    return importlib.util.find_spec("trio") is not None
