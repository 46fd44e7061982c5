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
- `Recorder`: what a subscriber that keeps events (a timeline) may add to take
  task-run transitions as their parts (`record_transition`), for the engine to
  skip building events when nobody else listens.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from flowcore.parameters import short_reprs
from flowcore.states import State

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = [
    "PROCESS_ID",
    "Recorder",
    "RunKind",
    "StateEvent",
    "Subscription",
    "capture_events",
    "publish",
    "subscribe",
    "task_event",
]

RunKind = Literal["flow", "task"]

_new_tuple = tuple.__new__
PROCESS_ID = os.getpid()
"""The process id the events of this process carry (read once, at import)."""


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


class Recorder(Protocol):
    """A subscriber that keeps events, and can take a task run's transition as its parts.

    ``subscribe(recorder.record)`` subscribes it as any other; while every
    subscriber is a recorder's ``record`` and no capture is active, the engine
    calls ``record_transition`` instead of building a `StateEvent` for each
    task-run transition (the three of a run cost a fifth of a sequential run).
    The recorder must then keep what the event would have said, to rebuild it
    equal when read: ``run``'s identity, ``state``, the thread's current name
    (``thread_name``, when the runner gives one, else ``threading.current_thread()
    .name``), `PROCESS_ID`, and on the ``first`` transition of the run its
    upstream run ids and the short reprs of its arguments, as
    `task_event` puts them.
    """

    def record(self, event: StateEvent) -> object: ...

    def record_transition(
        self, run: TaskRun, state: State, first: bool, thread_name: str | None
    ) -> object: ...


_subscribers: tuple[Subscriber, ...] = ()
# ``(subscribed callback, its recorder's record_transition)`` for every subscriber, while
# each is a recorder's ``record``; empty otherwise. The engine reads it on every transition.
_recorders: tuple[tuple[Subscriber, Callable[..., object]], ...] = ()
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
        with _subscribers_lock:
            if not self._closed:
                self._closed = True
                remaining = list(_subscribers)
                remaining.remove(self.callback)
                _set_subscribers(tuple(remaining))
                if self.callback not in remaining:
                    _failed_subscribers.discard(id(self.callback))

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def subscribe(callback: Subscriber) -> Subscription:
    """Call ``callback(event)`` for every state transition from now on.

    The callback runs in the thread of the transition, so it must be quick
    and thread-safe. When it is the ``record`` method of a `Recorder` (a
    timeline), task-run transitions may reach it as their parts instead
    (see `Recorder`); what it keeps is the same. An exception it raises never
    disturbs the run, whatever the warning filters: the first one is logged (logger
    ``flowcore.events``, with its traceback), later ones of the same
    subscriber are dropped silently, and the subscriber keeps receiving
    events.
    """
    if not callable(callback):
        raise TypeError(f"subscribe() needs a callable taking a StateEvent, got {callback!r}")
    with _subscribers_lock:
        _set_subscribers((*_subscribers, callback))
    return Subscription(callback)


def _set_subscribers(subscribers: tuple[Subscriber, ...]) -> None:
    """Replace the subscribers (under ``_subscribers_lock``), and say which take parts."""
    global _subscribers, _recorders, _record_transition
    recorders: list[tuple[Subscriber, Callable[..., object]]] = []
    for callback in subscribers:
        owner = getattr(callback, "__self__", None)
        takes_parts = getattr(owner, "record_transition", None)
        is_record = getattr(callback, "__func__", None) is getattr(type(owner), "record", None)
        if takes_parts is None or not is_record:
            recorders = []
            break
        recorders.append((callback, takes_parts))
    _recorders = ()  # never a moment with the new subscribers and the old recorders
    _subscribers = subscribers
    _record_transition = recorders[0][1] if len(recorders) == 1 else record_transition
    _recorders = tuple(recorders)


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
            _report_failure(callback, event.state.name, event.run_name, error)


def record_transition(run: TaskRun, state: State, first: bool, thread_name: str | None) -> None:
    """Hand a task run's transition, as its parts, to every recorder; what the engine calls
    (as ``_record_transition``) while ``_recorders`` is set and no capture is active."""
    for callback, record in _recorders:
        try:
            record(run, state, first, thread_name)
        except Exception as error:  # a broken subscriber must not break runs
            _report_failure(callback, state.name, run.name, error)


# What the engine calls with a task run's transition while only recorders listen: the
# one recorder's ``record_transition`` itself when there is one (one call less on each of
# the three transitions of a run; the engine then reports its errors with
# `transition_failed`), else `record_transition`.
_record_transition: Callable[[TaskRun, State, bool, str | None], object] = record_transition


def transition_failed(run: TaskRun, state: State, error: Exception) -> None:
    """Report the error the one recorder raised on a transition (see `_record_transition`)."""
    recorders = _recorders
    if recorders:
        _report_failure(recorders[0][0], state.name, run.name, error)


def _report_failure(callback: Subscriber, state_name: str, run_name: str, error: Exception) -> None:
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
        state_name,
        run_name,
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


def task_event(run: TaskRun, state: State, first: bool, thread_name: str | None) -> StateEvent:
    """The event of task run ``run`` entering ``state`` (its ``first`` transition carries
    its upstream run ids and the short reprs of its arguments)."""
    # Built as a plain tuple in StateEvent's field order: three events per
    # run, and the NamedTuple's keyword constructor costs 0.5 µs more each.
    return _new_tuple(
        StateEvent,
        (
            run.id,  # run_id
            run.name,  # run_name
            "task",  # kind
            run.task.name,  # name
            run.flow_run_id,  # flow_run_id
            None,  # parent_flow_run_id
            state,  # state
            state.timestamp_ns,  # timestamp_ns
            PROCESS_ID,  # process_id
            thread_name or threading.current_thread().name,  # thread_name
            run.worker,  # worker
            run.upstream_ids if first else (),  # upstream_run_ids
            short_reprs(run.args, run.kwargs) if first else (),  # parameters
        ),
    )
