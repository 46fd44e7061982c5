"""Where a `Timeline` keeps its events: packed, a batch at a time, into one flat tuple.

A recorded task run is three `StateEvent`s, each holding a `State`: six
objects every full garbage collection walks for as long as the timeline
lives, so recording 100,000 runs made each later collection slower. The
store takes events as they come and, every `BATCH` of them, packs the batch
into one tuple of their fields in a row (the state's fields in place of the
state). A tuple holding only strings, numbers and None is dropped from the
collector's watch at its next pass, and the list of batches holds one
reference per `BATCH` events: a collection walking the timeline visits
almost nothing.

Reading unpacks: the events come back as equal `StateEvent`s and `State`s
(equal fields, new objects).

    >>> store = EventStore()
    >>> len(store), store.events()
    (0, [])
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from itertools import chain
from typing import Any

from flowcore.events import StateEvent
from flowcore.states import State, StateType

__all__ = ["BATCH", "EventStore"]

BATCH = 64
"""Events taken as they come before they are packed together."""

_HEAD = 20  # the fixed fields of a packed event; its upstream ids and parameters follow
_new_tuple = tuple.__new__
_set_field = object.__setattr__


class EventStore:
    """An append-only, thread-safe list of events, packed in batches (see the module).

    Appending is a `collections.deque` append, atomic under the GIL; whichever
    thread finds a full batch packs it, under a lock taken without waiting
    (another thread packing already will take this batch too).
    """

    __slots__ = ("_batches", "_lock", "_recent", "_unpacked")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: deque[StateEvent] = deque()  # as they came, not packed yet
        self._batches: list[tuple[Any, ...]] = []  # `BATCH` events each, packed
        self._unpacked: list[StateEvent] = []  # the packed ones read back so far

    def __len__(self) -> int:
        with self._lock:
            return len(self._batches) * BATCH + len(self._recent)

    def append(self, event: StateEvent) -> None:
        recent = self._recent
        recent.append(event)
        if len(recent) >= BATCH and self._lock.acquire(blocking=False):
            try:
                while len(recent) >= BATCH:
                    # The oldest first, one thread at a time: the recording order stays.
                    self._batches.append(_packed([recent.popleft() for _ in range(BATCH)]))
            finally:
                self._lock.release()

    def events(self) -> list[StateEvent]:
        """Every event in recording order. Unpacked once; later calls reuse that."""
        with self._lock:
            for batch in self._batches[len(self._unpacked) // BATCH :]:
                self._unpacked.extend(_unpacked(batch))
            return self._unpacked + list(self._recent)  # C-level: no other thread runs


def _packed(events: list[StateEvent]) -> tuple[Any, ...]:
    """The events as one flat tuple: per event its fields, the state's fields in place of
    the state, the counts of its upstream run ids and parameter items, then those in a
    row. Flat, because the collector stops tracking a tuple only once the tuples inside
    it are untracked, and checks the outer one first."""
    packed: list[Any] = []
    for (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
        timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
    ) in events:  # fmt: skip
        flat_parameters = tuple(chain.from_iterable(parameters)) if parameters else ()
        packed += (
            run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
            process_id, thread_name, worker,
            state.type._value_, state.name, state.timestamp_ns, state.message, state.data,
            state.exception, state.scheduled_ns, state.task_run_id,
            len(upstream_run_ids), len(flat_parameters),
        )  # fmt: skip
        if upstream_run_ids:
            packed += upstream_run_ids
        if flat_parameters:
            packed += flat_parameters
    return tuple(packed)


def _unpacked(batch: tuple[Any, ...]) -> Iterator[StateEvent]:
    """The events of a `_packed` batch, in order."""
    index = 0
    while index < len(batch):
        (
            run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
            process_id, thread_name, worker,
            state_kind, state_name, state_timestamp_ns, message, data, exception, scheduled_ns,
            task_run_id, upstream_count, parameter_count,
        ) = batch[index : index + _HEAD]  # fmt: skip
        index += _HEAD
        upstream_run_ids = batch[index : index + upstream_count]
        index += upstream_count
        flat = batch[index : index + parameter_count]
        index += parameter_count
        state = State(
            StateType(state_kind), state_name, state_timestamp_ns, message, data, exception,
            scheduled_ns,
        )  # fmt: skip
        if task_run_id is not None:
            _set_field(state, "task_run_id", task_run_id)
        parameters = tuple(zip(flat[::2], flat[1::2], strict=True))
        yield _new_tuple(
            StateEvent,
            (
                run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
                timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
            ),
        )  # fmt: skip
