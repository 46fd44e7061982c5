"""The watchdog: notices a Dask scheduler or worker that stops answering.

    watchdog = Watchdog(client, timeout=30, on_scheduler_lost=..., on_worker_lost=...)
    watchdog.close()

A process that is frozen (stopped, swapping, deadlocked) keeps its TCP
connections open, so neither the client nor the scheduler ever sees an
error: the runs waiting on it would wait forever. The watchdog asks the
scheduler who it is, on its own thread, ``timeout / 4`` after each answer:

- no answer for ``timeout`` seconds: ``on_scheduler_lost(message)``, once,
  and the watchdog stops;
- a worker whose heartbeat (the scheduler's ``last_seen`` of it) has not
  moved for ``timeout`` seconds of our clock: ``on_worker_lost(address,
  keys, message)`` with the keys it was running, once per worker.

Every call it makes to the scheduler is bounded by what is left of
``timeout``, so closing it never waits on a frozen peer.

Its thread starts when its first question is due, ``timeout / 4`` after
the watchdog itself (a timer on the client's event loop until then): a
flow run that ends sooner, as a test's flow does, never starts one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Watchdog"]

_SHORTEST_WAIT_SECONDS = 0.05


class Watchdog:
    """Watches the scheduler of ``client`` and its workers on a daemon thread."""

    def __init__(
        self,
        client: Any,
        timeout: float,
        on_scheduler_lost: Callable[[str], None],
        on_worker_lost: Callable[[str, list[str], str], None],
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._on_scheduler_lost = on_scheduler_lost
        self._on_worker_lost = on_worker_lost
        self._stopped = threading.Event()
        self._heartbeats: dict[str, tuple[Any, float]] = {}  # address -> (last_seen, since)
        self._lost_workers: set[str] = set()
        self._since = time.monotonic()
        self._timer: Any = None
        client.loop.add_callback(self._start_later)  # the loop's calls are thread-safe

    def close(self) -> None:
        """Stop watching; returns at once (the thread ends within its current call's bound)."""
        self._stopped.set()
        with contextlib.suppress(RuntimeError):  # the client's loop is closed: no timer left
            self._client.loop.add_callback(self._cancel_timer)

    def _start_later(self) -> None:
        """On the client's event loop: start the thread when its first question is due."""
        if not self._stopped.is_set():
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._timeout / 4, self._start_thread)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _start_thread(self) -> None:
        if not self._stopped.is_set():
            thread = threading.Thread(target=self._run, name="flowcore-dask-watchdog", daemon=True)
            thread.start()

    def _run(self) -> None:
        last_answer = self._since
        while True:  # its first question is due as it starts
            left = last_answer + self._timeout - time.monotonic()
            try:
                identity = self._ask(self._client.scheduler.identity, left, n_workers=-1)
            except Exception as error:
                if self._stopped.is_set():
                    return
                if time.monotonic() - last_answer >= self._timeout:
                    self._stopped.set()
                    self._on_scheduler_lost(self._silence(error))
                    return
            else:
                last_answer = time.monotonic()
                for address in self._frozen_workers(identity.get("workers", {}), last_answer):
                    self._report_worker(address)
            if self._stopped.wait(self._timeout / 4):
                return

    def _ask(self, call: Callable[..., Any], seconds: float, **kwargs: Any) -> Any:
        wait = max(seconds, _SHORTEST_WAIT_SECONDS)
        return self._client.sync(call, callback_timeout=wait, **kwargs)

    def _silence(self, error: BaseException) -> str:
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return (
            f"the Dask scheduler at {self._client.scheduler.address!r} did not answer for "
            f"{self._timeout:g} s (heartbeat_timeout; last: {detail})"
        )

    def _frozen_workers(self, workers: dict[str, Any], now: float) -> list[str]:
        """Workers whose heartbeat has not moved for ``timeout`` seconds, not reported yet."""
        frozen = []
        for address, info in workers.items():
            seen = info.get("last_seen")
            previous = self._heartbeats.get(address)
            if previous is None or previous[0] != seen:
                self._heartbeats[address] = (seen, now)
            elif now - previous[1] >= self._timeout and address not in self._lost_workers:
                frozen.append(address)
        return frozen

    def _report_worker(self, address: str) -> None:
        keys: list[str] = []
        with contextlib.suppress(Exception):  # the scheduler froze meanwhile: no keys
            processing = self._ask(
                self._client.scheduler.processing, self._timeout, workers=[address]
            )
            keys = [str(key) for key in processing.get(address, ())]
        self._lost_workers.add(address)
        message = (
            f"the Dask worker at {address!r} stopped answering: no heartbeat for "
            f"{self._timeout:g} s (heartbeat_timeout)"
        )
        self._on_worker_lost(address, keys, message)
