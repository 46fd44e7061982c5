"""One run as a timeline saw it: `RunRecord`, rebuilt from that run's state events.

- `RunRecord`: the run's identity, state history, RUNNING intervals and
  where it ran; derived times (`start_ns`, `end_ns`, `running_ns`) and
  `describe_states()`.
- `record_from_events(entries, horizon_ns)`: builds a record from the run's
  events, each with its position in the recording order.
- `overlaps(a, b)`, `overlap_ns(a, b)`: did two runs RUN at the same time,
  and for how long.

Times are nanoseconds since the epoch. A run still RUNNING counts as running
until ``horizon_ns`` (the timeline's last event).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from flowcore.events import RunKind, StateEvent
from flowcore.states import State, StateType

__all__ = ["Interval", "RunRecord", "overlap_ns", "overlaps", "record_from_events"]


class Interval(NamedTuple):
    """One RUNNING stretch of a run, in ns on the recording clock."""

    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class RunRecord:
    """One flow or task run as the timeline saw it.

    ``states`` is the run's history in order; ``running_intervals`` holds one
    ``(start_ns, end_ns)`` per RUNNING stretch (a retried run has several).
    ``process_id``, ``thread_name`` and ``worker`` say where it first ran
    (None when it never ran). ``state_order`` gives, for each state, its
    event's position in the timeline's recording order; it breaks ties
    between equal timestamps (a virtual clock).

        >>> timeline.run("load-0").state_types  # doctest: +SKIP
        (StateType.PENDING, StateType.RUNNING, StateType.COMPLETED)
    """

    run_id: str
    run_name: str
    kind: RunKind
    name: str
    flow_run_id: str | None
    parent_flow_run_id: str | None
    states: tuple[State, ...]
    running_intervals: tuple[Interval, ...]
    process_id: int | None = None
    thread_name: str | None = None
    worker: str | None = None
    upstream_run_ids: tuple[str, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    state_order: tuple[int, ...] = field(default=(), compare=False, repr=False)

    @property
    def state_types(self) -> tuple[StateType, ...]:
        return tuple(state.type for state in self.states)

    @property
    def final_state(self) -> State:
        """The latest state: the final one once the run has ended. Equal in its fields to
        the state the run recorded, not that object (see `Timeline.events`)."""
        return self.states[-1]

    @property
    def is_finished(self) -> bool:
        return self.final_state.ends_run()

    @property
    def first_ns(self) -> int:
        """When the run was first seen (its first state)."""
        return self.states[0].timestamp_ns

    @property
    def start_ns(self) -> int | None:
        """When it first started RUNNING; None if it never ran."""
        return self.running_intervals[0].start_ns if self.running_intervals else None

    @property
    def end_ns(self) -> int | None:
        """When it reached its final state; None while it has not ended."""
        return self.final_state.timestamp_ns if self.is_finished else None

    @property
    def running_ns(self) -> int:
        """Total time spent RUNNING, over all attempts."""
        return sum(end - start for start, end in self.running_intervals)

    @property
    def parent_run_id(self) -> str | None:
        """The flow run this run belongs to: its flow, or a subflow's caller."""
        if self.kind == "task":
            return self.flow_run_id
        if self.parent_flow_run_id is not None:
            return self.parent_flow_run_id
        return self.flow_run_id if self.flow_run_id != self.run_id else None

    @property
    def start_position(self) -> int:
        """Recording position of its first RUNNING event (0 if unknown); breaks start ties."""
        if StateType.RUNNING not in self.state_types or not self.state_order:
            return 0
        return self.state_order[self.state_types.index(StateType.RUNNING)]

    def describe_states(self) -> str:
        """The history as text: ``PENDING -> RUNNING -> FAILED(TimedOut)``."""
        return " -> ".join(_describe_state(state) for state in self.states)


def _describe_state(state: State) -> str:
    default_name = state.type.value.capitalize()
    return state.type.value if state.name == default_name else f"{state.type.value}({state.name})"


def overlap_ns(a: RunRecord, b: RunRecord) -> int:
    """How long ``a`` and ``b`` were RUNNING at the same time, in nanoseconds."""
    total = 0
    for a_start, a_end in a.running_intervals:
        for b_start, b_end in b.running_intervals:
            total += max(0, min(a_end, b_end) - max(a_start, b_start))
    return total


def overlaps(a: RunRecord, b: RunRecord) -> bool:
    """Whether ``a`` and ``b`` were RUNNING at once (touching ends do not count).

    >>> overlaps(timeline.run("load-0"), timeline.run("load-1"))  # doctest: +SKIP
    True
    """
    return any(
        a_end > b_start and b_end > a_start
        for a_start, a_end in a.running_intervals
        for b_start, b_end in b.running_intervals
    )


def record_from_events(entries: Sequence[tuple[int, StateEvent]], horizon_ns: int) -> RunRecord:
    """The record of one run from its ``(recording position, event)`` pairs, in order."""
    events = [event for _, event in entries]
    first = events[0]
    states = tuple(event.state for event in events)
    ran = next((e for e in events if e.state.type is StateType.RUNNING), None)
    upstream = next((e.upstream_run_ids for e in events if e.upstream_run_ids), ())
    parameters = next((e.parameters for e in events if e.parameters), ())
    parent = next((e.parent_flow_run_id for e in events if e.parent_flow_run_id), None)
    return RunRecord(
        run_id=first.run_id,
        run_name=first.run_name,
        kind=first.kind,
        name=first.name,
        flow_run_id=first.flow_run_id,
        parent_flow_run_id=parent,
        states=states,
        running_intervals=_running_intervals(states, horizon_ns),
        process_id=ran.process_id if ran else None,
        thread_name=ran.thread_name if ran else None,
        worker=ran.worker if ran else None,
        upstream_run_ids=tuple(dict.fromkeys(upstream)),
        parameters=dict(parameters),
        state_order=tuple(position for position, _ in entries),
    )


def _running_intervals(states: Sequence[State], horizon_ns: int) -> tuple[Interval, ...]:
    intervals: list[Interval] = []
    started: int | None = None
    for state in states:
        if started is not None:
            intervals.append(Interval(started, max(started, state.timestamp_ns)))
            started = None
        if state.type is StateType.RUNNING:
            started = state.timestamp_ns
    if started is not None:
        intervals.append(Interval(started, max(started, horizon_ns)))
    return tuple(intervals)
