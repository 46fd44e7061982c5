"""The event seam: every state transition of every run, published to subscribers.

This is the one way to watch flowcore from outside (the pytest plugin uses
nothing else). Each transition of a flow or task run becomes a `StateEvent`
and is handed to every subscriber, synchronously, in the thread where the
transition happened; a run's events arrive in the order they happened.
Transitions on Dask workers are sent back to the client and published there,
with the worker's timestamps, process, thread and address.

    >>> seen = []
    >>> with subscribe(seen.append):
    ...     pass  # run flows here
    >>> seen
    []

Concepts to functions:

- `subscribe(callback)` -> `Subscription`: start receiving; ``close()`` or
  leave the ``with`` block to stop.
- `publish(event)`: hand an event to the subscribers (the engine does this;
  runners that execute runs elsewhere call it through ``TaskRun.record``).
- `capture_events()`: for runners executing runs out of process: collect the
  events of the runs executed in this context instead of publishing them.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Literal, NamedTuple

from flowcore.states import State

__all__ = ["RunKind", "StateEvent", "Subscription", "capture_events", "publish", "subscribe"]

RunKind = Literal["flow", "task"]


class StateEvent(NamedTuple):
    """One transition of one run: an immutable record, read by field name.

    ``name`` is the task's or flow's name, ``run_name`` the run's
    (``"load-0"``). ``flow_run_id`` is the flow run a task run belongs to;
    for a flow run, ``parent_flow_run_id`` is the flow run it was called from
    (a subflow). ``worker`` is the Dask worker's address, or None. The
    PENDING event of a task run also carries ``upstream_run_ids`` (the runs it
    waits for) and ``parameters`` (its arguments, as short reprs).

    A NamedTuple rather than a frozen dataclass: three events are built per
    recorded task run, and a frozen dataclass sets each of its 13 fields
    through ``object.__setattr__`` (1.8 µs an event here, against 0.6 µs).
    """

    run_id: str
    run_name: str
    kind: RunKind
    name: str
    flow_run_id: str | None
    parent_flow_run_id: str | None
    state: State
    timestamp_ns: int
    process_id: int
    thread_name: str
    worker: str | None = None
    upstream_run_ids: tuple[str, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()


Subscriber = Callable[[StateEvent], object]

_subscribers: tuple[Subscriber, ...] = ()
_subscribers_lock = threading.Lock()
_failed_subscribers: set[int] = set()  # ids of subscribed callbacks whose error was reported
_capture: contextvars.ContextVar[list[StateEvent] | None] = contextvars.ContextVar(
    "flowcore_capture", default=None
)


class Subscription:
    """A live subscription; a context manager that unsubscribes on exit."""

    def __init__(self, callback: Subscriber) -> None:
        self.callback = callback
        self._closed = False

    def close(self) -> None:
        """Stop receiving events. Closing twice does nothing."""
        global _subscribers
        with _subscribers_lock:
            if not self._closed:
                self._closed = True
                remaining = list(_subscribers)
                remaining.remove(self.callback)
                _subscribers = tuple(remaining)
                if self.callback not in remaining:
                    _failed_subscribers.discard(id(self.callback))

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def subscribe(callback: Subscriber) -> Subscription:
    """Call ``callback(event)`` for every state transition from now on.

    The callback runs in the thread of the transition, so it must be quick
    and thread-safe. An exception it raises never disturbs the run, whatever
    the warning filters: the first one is logged (logger
    ``flowcore.events``, with its traceback), later ones of the same
    subscriber are dropped silently, and the subscriber keeps receiving
    events.
    """
    global _subscribers
    if not callable(callback):
        raise TypeError(f"subscribe() needs a callable taking a StateEvent, got {callback!r}")
    with _subscribers_lock:
        _subscribers = (*_subscribers, callback)
    return Subscription(callback)


def has_subscribers() -> bool:
    """Whether anyone listens; lets the engine skip building events."""
    return bool(_subscribers) or _capture.get() is not None


def publish(event: StateEvent) -> None:
    """Hand ``event`` to every subscriber (or to the active capture)."""
    captured = _capture.get()
    if captured is not None:
        captured.append(event)
        return
    for callback in _subscribers:
        try:
            callback(event)
        except Exception as error:  # a broken subscriber must not break runs
            _report_failure(callback, event, error)


def _report_failure(callback: Subscriber, event: StateEvent, error: Exception) -> None:
    """Log the first exception of each subscriber; a log record, unlike a warning,
    cannot be turned into an exception by the warning filters."""
    with _subscribers_lock:
        if id(callback) in _failed_subscribers:
            return
        _failed_subscribers.add(id(callback))
    import logging  # here: most processes never need it, and it adds to `import flowcore`

    logging.getLogger("flowcore.events").error(
        "event subscriber %r raised %s on the %s event of run %r; the run goes on, and later "
        "errors of this subscriber are not reported",
        callback,
        type(error).__name__,
        event.state.name,
        event.run_name,
        exc_info=error,
    )


@contextlib.contextmanager
def capture_events() -> Iterator[list[StateEvent]]:
    """Collect the events published in this context into a list, instead of publishing.

    A runner that executes a run in another process wraps the execution in
    this, sends the list back, and records each event in the client.
    """
    events: list[StateEvent] = []
    token = _capture.set(events)
    try:
        yield events
    finally:
        _capture.reset(token)
