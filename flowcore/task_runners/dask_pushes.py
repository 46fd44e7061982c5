"""Outcomes the workers push: a run's end known without a round trip to fetch it.

    pushes = Pushes.of(client)          # one per client, subscribed to its topic once
    pushes.expect(key)                  # before submitting the Dask task ``key``
    client.submit(..., push_to=pushes.topic)
    packed = pushes.take(key)           # in the Dask future's done callback: bytes or None
    pushes.forget(keys)                 # at the runner's shutdown

    push_outcome(topic, packed)         # on the worker, before the task returns

Fetching a finished task's result is a round trip from the client through
the scheduler to the worker and back (`client.gather`), after the scheduler
has already told the client the task finished. A test's flow of a few
tasks waits for one such fetch after each of them. Instead, a worker sends a
small outcome as a Dask event (`Worker.log_event`) just before its task
returns; the scheduler relays it to the client on the stream that then
carries "the task finished", so by the time Dask calls the future's done
callback, its outcome is already here. Larger outcomes (over
``PUSH_LIMIT_BYTES``) and every task that did not return are still
fetched.

The scheduler keeps the last events of every topic (1,000:
``distributed.admin.low-level-log-length``) for as long as it lives, so only
runners on a cluster of their own push (see `DaskTaskRunner`), one topic per
client: a shared scheduler is not made to keep anyone's outcomes.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = ["PUSH_LIMIT_BYTES", "Pushes", "push_outcome"]

# What the scheduler may keep per client is at most the last 1,000 pushed
# outcomes: 16 MB at this size. A test's outcome is about 1 KB.
PUSH_LIMIT_BYTES = 16 * 1024
_MARK = "flowcore-outcome"
# By client id; an entry goes with its client, which holds its pushes (as its handler).
_by_client: weakref.WeakValueDictionary[str, Pushes] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


class Pushes:
    """The outcomes pushed to one client, kept for the runs that expect them."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self._lock = threading.Lock()
        self._expected: dict[str, bytes | None] = {}

    @classmethod
    def of(cls, client: Any) -> Pushes:
        """The pushes of ``client``, subscribing it to its topic on first use (the
        subscription travels before any task submitted after it, on the same stream)."""
        with _registry_lock:
            pushes = _by_client.get(client.id)
            if pushes is None:
                pushes = _by_client[client.id] = Pushes(f"flowcore-outcomes-{client.id}")
                # The client holds the handler, so these pushes live as long as it does.
                client.subscribe_topic(pushes.topic, pushes.receive)
            return pushes

    def expect(self, key: str) -> None:
        """Keep what is pushed for ``key`` until it is taken or forgotten."""
        with self._lock:
            self._expected[key] = None

    def receive(self, event: tuple[float, Any]) -> None:
        """Dask's handler of the topic's events, on the client's event loop: keep it."""
        message = event[1]
        key = message[_MARK]
        with self._lock:
            if key in self._expected:
                self._expected[key] = message["packed"]

    def take(self, key: str) -> bytes | None:
        """The outcome pushed for ``key`` (None if none was), and stop expecting it."""
        with self._lock:
            return self._expected.pop(key, None)

    def forget(self, keys: list[str]) -> None:
        """Stop expecting ``keys``: their runner is gone."""
        with self._lock:
            for key in keys:
                self._expected.pop(key, None)


def push_outcome(topic: str, packed: bytes) -> None:
    """On a worker, in a task: send a small ``packed`` outcome of this task to the
    client subscribed to ``topic``. A large one is left to be fetched."""
    if len(packed) > PUSH_LIMIT_BYTES:
        return
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(topic, {_MARK: worker.get_current_task(), "packed": packed})
