"""Where a `Timeline` keeps its events: as rows of their fields, packed into tuples.

A recorded task run is three `StateEvent`s, each holding a `State`: six
objects every full garbage collection would walk for as long as the timeline
lives, so recording 100,000 runs made each later collection slower. The
store keeps no event: it makes a row of each event's fields (the state's in
place of the state), a tuple of strings, numbers and None that the collector
drops from its watch at its next pass, and once about `BATCH` rows are in it
packs them into one tuple, which the collector drops in turn: a collection
walking the timeline visits one object per batch.

Events come in two ways: as `StateEvent`s (`append`: flow runs, Dask
workers' runs, `Timeline.from_events`), or, while only timelines listen, as
a task run's transition in parts (`append_transition`, see
`flowcore.events.Recorder`), so that no event is built for them at all.
Either way the same fields go in a row.

Reading unpacks, once: the events come back as equal `StateEvent`s and
`State`s (equal fields, new objects; those not packed yet with the very
`State`s recorded).

    >>> store = EventStore()
    >>> store.size(), store.events()
    (0, [])
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from itertools import chain, repeat
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
_REPR_LIMIT = 80  # `short_reprs`' default
_LARGE = 10**18
_new_tuple = tuple.__new__
_current_thread = threading.current_thread


class EventStore:
    """An append-only, thread-safe list of events, kept as rows of fields (see the module).

    Each event goes in as its row and its state with one ``list +=`` of a pair, atomic
    under the GIL, so rows and states never interleave; whichever thread finds a
    batch's worth packs what is there, under a lock taken without waiting (another
    thread packing already will take these too).
    """

    __slots__ = ("_batches", "_lock", "_packed_rows", "_recent", "_unpacked", "_unpacked_batches")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Row, state, row, state...: not packed yet. Read before they are packed, events
        # give back the very `State`s recorded, as the runs' own futures hold them.
        self._recent: list[Any] = []
        self._batches: list[tuple[tuple[Any, ...], ...]] = []  # packed rows
        self._packed_rows = 0
        self._unpacked: list[StateEvent] = []  # the packed ones read back so far
        self._unpacked_batches = 0

    def size(self) -> int:
        """How many events are kept: a reader can tell whether any came since it looked."""
        with self._lock:
            return self._packed_rows + len(self._recent) // 2

    def append(self, event: StateEvent) -> None:
        recent = self._recent
        recent += (_in_a_row(event), event.state)
        if len(recent) >= 2 * BATCH:
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
        row = (
            run.id, run.name, "task", run.task.name, run.flow_run_id, None, state.timestamp_ns,
            PROCESS_ID, thread_name or _current_thread().name, run.worker,
            state.type._value_, state.name, state.timestamp_ns, state.message, state.data,
            state.exception, state.scheduled_ns, state.task_run_id, upstream_count,
            parameter_count,
        )  # fmt: skip
        recent = self._recent
        recent += (row + tail, state)
        if len(recent) >= 2 * BATCH:
            self._pack()

    def _pack(self) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._pack_recent()
            finally:
                self._lock.release()

    def _pack_recent(self) -> None:
        """Pack the rows appended so far into a batch (under the lock)."""
        recent = self._recent
        taken = recent[:]  # whole pairs: each went in with one ``+=``
        if taken:
            # Others may append meanwhile: they append at the end, past what is taken.
            del recent[: len(taken)]
            batch = tuple(taken[0::2])
            self._batches.append(batch)
            self._packed_rows += len(batch)

    def events(self) -> list[StateEvent]:
        """Every event in recording order, with the very `State`s recorded until they are
        packed, equal ones after. Packed ones are unpacked once; later calls reuse them."""
        with self._lock:
            for batch in self._batches[self._unpacked_batches :]:
                self._unpacked.extend(_unpacked(batch))
            self._unpacked_batches = len(self._batches)
            recent = self._recent[:]
        return self._unpacked + list(_unpacked(recent[0::2], recent[1::2]))


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
    of its upstream run ids and parameter items, then those. All in one tuple: the
    collector stops tracking a tuple only once the tuples inside it are untracked, one
    level at each of its passes."""
    (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, state,
        timestamp_ns, process_id, thread_name, worker, upstream_run_ids, parameters,
    ) = event  # fmt: skip
    flat = tuple(chain.from_iterable(parameters)) if parameters else ()
    return (
        run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
        process_id, thread_name, worker,
        state.type._value_, state.name, state.timestamp_ns, state.message, state.data,
        state.exception, state.scheduled_ns, state.task_run_id,
        len(upstream_run_ids), len(flat), *upstream_run_ids, *flat,
    )  # fmt: skip


def _unpacked(
    rows: Iterable[tuple[Any, ...]], states: Iterable[State] | None = None
) -> Iterator[StateEvent]:
    """The events of rows (`_in_a_row`), in order; with ``states``, the recorded states
    of those rows, else new equal ones."""
    recorded_states: Iterable[State | None] = repeat(None) if states is None else states
    for row, recorded in zip(rows, recorded_states, strict=False):
        (
            run_id, run_name, kind, name, flow_run_id, parent_flow_run_id, timestamp_ns,
            process_id, thread_name, worker,
            state_kind, state_name, state_timestamp_ns, message, data, exception, scheduled_ns,
            task_run_id, upstream_count, parameter_count,
        ) = row[:_HEAD]  # fmt: skip
        index = _HEAD + upstream_count
        upstream_run_ids = row[_HEAD:index]
        if parameter_count < 0:  # the arguments themselves, kept plain (see `_parameters`)
            parameters = short_reprs(row[index : index - parameter_count], {})
        else:
            flat = row[index : index + parameter_count]
            parameters = tuple(zip(flat[::2], flat[1::2], strict=True))
        state = recorded or new_state(
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
