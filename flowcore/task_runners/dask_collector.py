"""The collector: one thread per Dask runner that brings its runs' outcomes back.

    collector = Collector(collect_batch)     # collect_batch(items) runs on its thread
    collector.offer(item)                    # from a Dask done callback: never waits
    collector.close(timeout)                 # after everything offered so far is collected

Dask calls every done callback of every client in the process on one shared
thread. A callback that waited there (for a result, for the scheduler) would
hold up the callbacks of every other Dask future in the process, and one that
asked a client closed meanwhile would wait forever: the client's event loop
is gone and silently drops the request. So the runner's done callback only
`offer`s the finished Dask future to this collector, and all talking to the
client happens on the collector's own thread, while the client is open.

Items offered while the collector thread is busy are collected together, as
one batch: one round trip to the scheduler for many runs.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

from flowcore.task_runners.dask_outcomes import Finished, crash_unsettled

__all__ = ["Collector"]


class Collector:
    """Calls ``collect_batch`` on its own thread with what was offered, in batches."""

    def __init__(self, collect_batch: Callable[[list[Finished]], None]) -> None:
        self._collect_batch = collect_batch
        self._queue: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._open = True
        self._thread = threading.Thread(target=self._run, name="flowcore-dask-results", daemon=True)
        self._thread.start()

    def offer(self, item: Finished) -> bool:
        """Queue ``item`` for the collector thread; False once the collector is closed."""
        with self._lock:
            if self._open:
                self._queue.put(item)
            return self._open

    def close(self, timeout: float) -> list[Finished]:
        """Accept nothing more and wait up to ``timeout`` seconds for the thread to
        collect everything offered before. Returns what it did not get to."""
        with self._lock:
            if self._open:
                self._open = False
                self._queue.put(None)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return []
        left: list[Finished] = []
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if item is not None:
                    left.append(item)
        self._queue.put(None)  # still the thread's last item, whenever it gets there
        return left

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._queue.get_nowait())
            items = [item for item in batch if item is not None]
            if items:
                try:
                    self._collect_batch(items)
                except BaseException as error:  # the thread goes on; the runs end CRASHED
                    crash_unsettled(items, error)
            if len(items) < len(batch):
                return
