"""The thread the deterministic runner steps its loop on, with a bounded wait.

The deterministic runner runs one thing at a time, so two sync tasks that
wait for each other through threads (one waits on a `threading.Event` the
other sets) can never both make progress: the first blocks for ever. To say
so instead of hanging, the runner's steps from the first sync body on execute
on a `SyncWorker` thread while the caller waits, boundedly, for each body (the
caller runs the steps before that itself: `STEPPING_HERE`, up to `HERE_STEPS`
of them, as an async step returns at its next await). A body
that overstays is given up (`give_up`: it keeps its thread, which is
interrupted if it ever wakes) and `blocked_message` says where it is stuck and
why that cannot work under this runner.

    >>> worker = acquire_worker()
    >>> worker.start(lambda: 6 * 7)
    >>> worker.wait(timeout=5.0)
    (True, 42)
    >>> release_worker(worker)

Workers are pooled across runners, so a thousand flow runs do not start a
thousand threads.
"""

from __future__ import annotations

import linecache
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from flowcore.timeouts import interrupt_thread

__all__ = [
    "HERE_STEPS",
    "STEPPING_HERE",
    "RunningBody",
    "SteppingHere",
    "SyncBodyBlocked",
    "SyncWorker",
    "acquire_worker",
    "blocked_message",
    "idle_threads",
    "release_worker",
]


class SyncBodyBlocked(RuntimeError):
    """A sync task body did not return within the deterministic runner's wait limit."""


class RunningBody(NamedTuple):
    """The sync body running on a worker (its run's handle), and since when
    (`time.monotonic`): the runner gives it up past its wait limit."""

    handle: Any
    since: float


HERE_STEPS = 1000
"""How many steps a waiting thread runs itself before it hands the rest to a worker, so
that an async flow's loop sees its timeout and Ctrl-C between slices of a long run."""


class SteppingHere:
    """Who steps the loop while the waiting thread does so itself, up to a step that may
    block: a sync body is left for a `SyncWorker`."""

    def __repr__(self) -> str:
        return "STEPPING_HERE"


STEPPING_HERE = SteppingHere()


class SyncWorker:
    """A daemon thread that runs one function at a time for its caller."""

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[Callable[[], Any]] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self.broken = False
        self._thread = threading.Thread(
            target=self._serve, name="flowcore-deterministic", daemon=True
        )
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self, function: Callable[[], Any]) -> None:
        """Begin ``function()`` on the worker thread; `wait` gives its outcome."""
        self._inbox.put(function)

    def wait(self, timeout: float) -> tuple[bool, Any] | None:
        """``(True, value)`` or ``(False, error)`` of the function started, or None if it
        is still going after ``timeout`` seconds."""
        try:
            return self._outbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def give_up(self) -> str:
        """Abandon this worker, stuck in a body; it is interrupted (`SyncBodyBlocked`)
        should it ever wake. Returns where it is stuck."""
        self.broken = True
        where = self._where()
        interrupt_thread(self._thread, SyncBodyBlocked)
        return where

    def retire(self, *, interrupt: bool = False, wake: tuple[bool, Any] | None = None) -> None:
        """Abandon this worker without waiting for it: its thread ends once its current
        function returns (at once if idle). ``interrupt`` raises `SyncBodyBlocked` in a
        body it is stuck in, should it ever wake; ``wake`` is handed to whoever `wait`s."""
        self.broken = True
        if interrupt:
            interrupt_thread(self._thread, SyncBodyBlocked)
        self._inbox.put(_nothing)  # an idle thread wakes, sees it is broken, and ends
        if wake is not None:
            self._outbox.put(wake)

    def _serve(self) -> None:
        while True:
            function = self._inbox.get()
            try:
                outcome = (True, function())
            except BaseException as error:  # handed back to the caller, whatever it is
                outcome = (False, error)
            self._outbox.put(outcome)
            if self.broken:  # given up: nobody waits for it any more
                return

    def _where(self) -> str:
        frame = sys._current_frames().get(self._thread.ident or -1)
        innermost = None
        while frame is not None:
            filename = frame.f_code.co_filename
            if innermost is None and not filename.endswith(("sync_worker.py",)):
                innermost = frame
            if not _is_library(filename):
                line = linecache.getline(filename, frame.f_lineno).strip()
                return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}: {line}"
            frame = frame.f_back
        if innermost is not None:
            return f"{innermost.f_code.co_filename}:{innermost.f_lineno}"
        return "an unknown place"


def _nothing() -> None:
    """What a retired worker's thread is given to wake it up."""


def _is_library(filename: str) -> bool:
    return any(
        part in filename for part in ("threading.py", "queue.py", "/flowcore/", "/pytest_flows/")
    )


def blocked_message(label: str, limit: float, where: str) -> str:
    """Why the sync run ``label``, stuck at ``where`` for ``limit`` seconds, was given up."""
    return (
        f"sync task run {label!r} did not return within {limit:g}s under DeterministicTaskRunner; "
        f"it is at {where}. The deterministic runner runs one task at a time, so sync tasks "
        "that wait for each other through threads (threading.Event, Lock, queue.Queue, ...) "
        "cannot make progress under it. Use async tasks with asyncio primitives, which it "
        "interleaves, or another runner (--flow-runner=concurrent). If the task is only slow, "
        f"raise DeterministicTaskRunner(sync_wait_limit=...) (now {limit:g}s)."
    )


_idle: list[SyncWorker] = []
_idle_lock = threading.Lock()


def acquire_worker() -> SyncWorker:
    """An idle worker from the pool, or a new one."""
    with _idle_lock:
        if _idle:
            return _idle.pop()
    return SyncWorker()


def release_worker(worker: SyncWorker) -> None:
    """Give ``worker`` back to the pool (a broken one is dropped: its thread is stuck)."""
    if not worker.broken:
        with _idle_lock:
            _idle.append(worker)


def idle_threads() -> list[threading.Thread]:
    """The threads of the pooled idle workers (they wait for the next run; not leaks)."""
    with _idle_lock:
        return [worker.thread for worker in _idle]
