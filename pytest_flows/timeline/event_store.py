"""Where a `Timeline` keeps its events: packed in batches into plain tuples.

A recorded task run is three `StateEvent`s, each holding a `State`: six
objects the garbage collector walks in every full collection for as long as
the timeline lives, so a long recording made each later collection slower
(recording 100,000 runs cost more per run than recording 1,000). The store
takes events as they come and, every `BATCH` of them, packs each into a
plain tuple of its fields, the state's fields in place of the state. Tuples
holding only strings, numbers and None are dropped from the collector's
watch at its next pass; packed events cost it nothing after that.

Reading unpacks: the events come back as equal `StateEvent`s and `State`s
(equal fields, new objects).

    >>> store = EventStore()
    >>> len(store), store.events()
    (0, [])
"""

from __future__ import annotations

import threading
from collections import deque
from itertools import chain
from typing import Any

from flowcore.events import StateEvent
from flowcore.states import State, StateType

__all__ = ["BATCH", "EventStore"]

BATCH = 64
"""Events taken as they come before they are packed together."""

_HEAD = 19  # the fixed fields of a packed event; its upstream ids and parameters follow
_new_tuple = tuple.__new__
_set_field = object.__setattr__


class EventStore:
    """An append-only, thread-safe list of events, packed in batches (see the module).

    Appending is a `collections.deque` append, atomic under the GIL; whichever
    thread finds a full batch packs it, under a lock taken without waiting
    (another thread packing already will take this batch too).
    """

    __slots__ = ("_lock", "_packed", "_recent", "_unpacked")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: deque[StateEvent] = deque()  # as they came, not packed yet
        self._packed: list[tuple[Any, ...]] = []
        self._unpacked: list[StateEvent] = []  # the packed ones read back so far

    def __len__(self) -> int:
        with self._lock:
            return len(self._packed) + len(self._recent)

    def append(self, event: StateEvent) -> None:
        recent = self._recent
        recent.append(event)
        if len(recent) >= BATCH and self._lock.acquire(blocking=False):
            try:
                while len(recent) >= BATCH:
                    # The oldest first, one thread at a time: the recording order stays.
                    self._packed.extend(_packed([recent.popleft() for _ in range(BATCH)]))
            finally:
                self._lock.release()

    def events(self) -> list[StateEvent]:
        """Every event in recording order. Unpacked once; later calls reuse that."""
        with self._lock:
            done = len(self._unpacked)
            new = self._packed[done:]
            recent = list(self._recent)  # C-level: no other thread runs meanwhile
            unpacked = list(map(_unpack, new))
            self._unpacked.extend(unpacked)
            return self._unpacked + recent


def _packed(events: list[StateEvent]) -> list[tuple[Any, ...]]:
    """Each event as one flat tuple: its fields, the state's fields in place of the state,
    then its upstream run ids and its parameters' names and reprs, in a row. Flat, because
    the collector stops tracking a tuple only once the tuples inside it are untracked,
    and it checks the outer one first: each level of nesting would cost another pass."""
    packed: list[tuple[Any, ...]] = []
    for (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
        timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
    ) in events:  # fmt: skip
        head: tuple[Any, ...] = (
            run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
            process_id, thread_name, worker,
            state.type._value_, state.name, state.timestamp_ns, state.message, state.data,
            state.exception, state.scheduled_ns, state.task_run_id,
            len(upstream_run_ids),
        )  # fmt: skip
        if upstream_run_ids or parameters:
            head += upstream_run_ids + tuple(chain.from_iterable(parameters))
        packed.append(head)
    return packed


def _unpack(packed: tuple[Any, ...]) -> StateEvent:
    (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
        process_id, thread_name, worker,
        state_kind, state_name, state_timestamp_ns, message, data, exception, scheduled_ns,
        task_run_id, upstream_count,
    ) = packed[:_HEAD]  # fmt: skip
    state = State(
        StateType(state_kind), state_name, state_timestamp_ns, message, data, exception,
        scheduled_ns,
    )  # fmt: skip
    if task_run_id is not None:
        _set_field(state, "task_run_id", task_run_id)
    upstream_run_ids = packed[_HEAD : _HEAD + upstream_count]
    flat = packed[_HEAD + upstream_count :]
    parameters = tuple(zip(flat[::2], flat[1::2], strict=True))
    return _new_tuple(
        StateEvent,
        (
            run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
            timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
        ),
    )  # fmt: skip
