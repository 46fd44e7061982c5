"""Where a `Timeline` keeps its events: as their fields in a row, packed into flat tuples.

A recorded task run is three `StateEvent`s, each holding a `State`: six
objects every full garbage collection would walk for as long as the timeline
lives, so recording 100,000 runs made each later collection slower. The
store keeps no event and makes no object per event: it appends each event's
fields (the state's in place of the state) to one flat list, and once the
list holds about `BATCH` events it packs them into one tuple. A tuple
holding only strings, numbers and None is dropped from the collector's
watch at its next pass, and the list of batches holds one reference per
batch: a collection walking the timeline visits almost nothing, and
recording adds nothing to the count of new objects that sets off the
collector's passes.

Events come in two ways: as `StateEvent`s (`append`: flow runs, Dask
workers' runs, `Timeline.from_events`), or, while only timelines listen, as
a task run's transition in parts (`append_transition`, see
`flowcore.events.Recorder`), so that no event is built for them at all.
Either way the same fields go in a row.

Reading unpacks each event once, into an equal `StateEvent` and `State`
(equal fields, new objects), and gives the same objects on every later read.

    >>> store = EventStore()
    >>> store.size(), store.events()
    (0, [])
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

from flowcore.events import PROCESS_ID, StateEvent
from flowcore.parameters import short_reprs
from flowcore.states import State, StateType, new_state

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = ["BATCH", "EventStore"]

BATCH = 64
"""Events appended before they are packed together."""

_HEAD = 20  # the fields of an event in a row before its upstream run ids and parameters
_BATCH_ITEMS = BATCH * _HEAD
_REPR_LIMIT = 80  # `short_reprs`' default
_LARGE = 10**18
_new_tuple = tuple.__new__
_current_thread = threading.current_thread


class EventStore:
    """An append-only, thread-safe list of events, kept as fields in a row (see the module).

    Each event's fields go in with one ``list +=`` of a tuple, atomic under the
    GIL, so events never interleave; whichever thread finds a batch's worth
    packs what is there, under a lock taken without waiting (another thread
    packing already will take these too).
    """

    __slots__ = ("_batches", "_lock", "_packed_items", "_read", "_read_items", "_recent")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: list[Any] = []  # fields in a row, not packed yet
        self._batches: list[tuple[Any, ...]] = []  # packed, whole events each
        self._packed_items = 0
        self._read: list[StateEvent] = []  # the events read so far, for later reads
        self._read_items = 0  # how many fields in a row those were

    def size(self) -> int:
        """How many fields are kept: it grows with every event, so a reader can tell
        whether anything was recorded since it last looked."""
        with self._lock:
            return self._packed_items + len(self._recent)

    def append(self, event: StateEvent) -> None:
        recent = self._recent
        recent += _in_a_row(event)
        if len(recent) >= _BATCH_ITEMS:
            self._pack()

    def append_transition(
        self, run: TaskRun, state: State, first: bool, thread_name: str | None
    ) -> None:
        """Append the event `flowcore.events.task_event` would make of this transition (the
        `flowcore.events.Recorder` contract), without making it."""
        if first:
            upstream_run_ids = run.upstream_ids
            parameters, parameter_count = _parameters(run)
            upstream_count = len(upstream_run_ids)
            tail = upstream_run_ids + parameters
        else:
            upstream_count = parameter_count = 0
            tail = ()  # adding it costs nothing: a tuple plus () is that tuple
        fields = (
            run.id, run.name, "task", run.task.name, run.flow_run_id, None, state.timestamp_ns,
            PROCESS_ID, thread_name or _current_thread().name, run.worker,
            state.type._value_, state.name, state.timestamp_ns, state.message, state.data,
            state.exception, state.scheduled_ns, state.task_run_id, upstream_count,
            parameter_count,
        )  # fmt: skip
        recent = self._recent
        recent += fields + tail
        if len(recent) >= _BATCH_ITEMS:
            self._pack()

    def _pack(self) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._pack_recent()
            finally:
                self._lock.release()

    def _pack_recent(self) -> None:
        """Pack what was appended so far into a batch (under the lock)."""
        recent = self._recent
        packed = tuple(recent)  # whole events: each went in with one ``+=``
        if packed:
            # Others may append meanwhile: they append at the end, past what is packed.
            del recent[: len(packed)]
            self._batches.append(packed)
            self._packed_items += len(packed)

    def events(self) -> list[StateEvent]:
        """Every event in recording order. Each is unpacked at its first read; later reads
        give the same objects."""
        with self._lock:
            unread = self._unread()
            self._read.extend(_unpacked(unread))
            self._read_items += len(unread)
            return self._read[:]

    def _unread(self) -> tuple[Any, ...]:
        """The fields of the events not read yet, in a row (under the lock)."""
        skip, parts = self._read_items, []
        for batch in self._batches:
            if skip >= len(batch):
                skip -= len(batch)
            else:
                parts.append(batch[skip:])
                skip = 0
        parts.append(tuple(self._recent)[skip:])  # whole events, as in `_pack_recent`
        return tuple(chain.from_iterable(parts))


def _parameters(run: TaskRun) -> tuple[tuple[Any, ...], int]:
    """What a run's first event keeps of its arguments, in a row, and their count:
    negative when they are the arguments themselves, kept plain.

    Plain arguments are kept as they are, and their reprs made when read: the
    repr of a small number, a short string, a float, True or None is the same
    then as now, and making it now cost 8% of a recorded run. Any other
    argument is repr'd now, as the event has it: it may change later.
    """
    args = run.args
    if not run.kwargs:
        for value in args:
            kind = type(value)
            if kind is int:
                if not -_LARGE < value < _LARGE:  # a huge int's repr may depend on a setting
                    break
            elif kind is str:
                if len(value) > _REPR_LIMIT:  # keep no long text alive
                    break
            elif kind is not float and kind is not bool and value is not None:
                break
        else:
            return args, -len(args)
    flat = tuple(chain.from_iterable(short_reprs(args, run.kwargs)))
    return flat, len(flat)


def _in_a_row(event: StateEvent) -> tuple[Any, ...]:
    """An event's fields in a row: its own, the state's in place of the state, the counts
    of its upstream run ids and parameter items, then those. In a row, because the
    collector stops tracking a tuple only once the tuples inside it are untracked, and
    checks the outer one first (one more collection for each level)."""
    (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
        timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
    ) = event  # fmt: skip
    flat = tuple(chain.from_iterable(parameters)) if parameters else ()
    fields = (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
        process_id, thread_name, worker,
        state.type._value_, state.name, state.timestamp_ns, state.message, state.data,
        state.exception, state.scheduled_ns, state.task_run_id,
        len(upstream_run_ids), len(flat),
    )  # fmt: skip
    return fields + upstream_run_ids + flat


def _unpacked(items: tuple[Any, ...]) -> Iterator[StateEvent]:
    """The events of fields in a row (`_in_a_row`), in order."""
    index = 0
    while index < len(items):
        (
            run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
            process_id, thread_name, worker,
            state_kind, state_name, state_timestamp_ns, message, data, exception, scheduled_ns,
            task_run_id, upstream_count, parameter_count,
        ) = items[index : index + _HEAD]  # fmt: skip
        index += _HEAD
        upstream_run_ids = items[index : index + upstream_count]
        index += upstream_count
        if parameter_count < 0:  # the arguments themselves, kept plain (see `_parameters`)
            parameters = short_reprs(items[index : index - parameter_count], {})
            index -= parameter_count
        else:
            flat = items[index : index + parameter_count]
            parameters = tuple(zip(flat[::2], flat[1::2], strict=True))
            index += parameter_count
        state = new_state(
            StateType(state_kind), state_name, state_timestamp_ns, message, data, exception,
            scheduled_ns, task_run_id,
        )  # fmt: skip
        yield _new_tuple(
            StateEvent,
            (
                run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
                timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
            ),
        )  # fmt: skip
