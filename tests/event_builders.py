"""Build timelines with exact timestamps, for tests of timelines and their renderings.

    >>> timeline = (
    ...     TimelineBuilder()
    ...     .flow("pipeline-0", running=(0, 100))
    ...     .task("load-0", running=(10, 40))
    ...     .task("load-1", running=[(10, 20), (30, 50)], final="FAILED")
    ...     .task("save-0", upstream=["load-1"], final="FAILED", end=50)
    ...     .build()
    ... )

Times are given in milliseconds from ``origin_ns`` and become nanoseconds.
A task with several running intervals is a retried run: between two
intervals it waits in SCHEDULED(AwaitingRetry), and later attempts are
RUNNING(Retrying). A task without running intervals never ran: it goes
PENDING -> final state at ``end`` (by default FAILED(UpstreamFailed) when it
has upstream runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from flowcore.events import RunKind, StateEvent
from flowcore.states import State, StateType
from pytest_flows.timeline import Timeline

MS = 1_000_000
ORIGIN_NS = 1_700_000_000_000_000_000

Interval = tuple[float, float]


@dataclass(frozen=True)
class FakeFuture:
    """What a test holds instead of a flowcore TaskFuture: a run id and name."""

    run_id: str
    run_name: str


def at(ms: float) -> int:
    """``ms`` milliseconds after the builder's origin, in nanoseconds."""
    return ORIGIN_NS + round(ms * MS)


class TimelineBuilder:
    """Collect runs with fixed timestamps, then `build` a `Timeline` (or `events`)."""

    def __init__(self, process_id: int = 100) -> None:
        self.process_id = process_id
        self._events: list[StateEvent] = []
        self._ids: dict[str, str] = {}
        self._current_flow: str | None = None
        self._count = 0
        self._names: dict[str, str] = {}

    def future(self, run_name: str) -> FakeFuture:
        return FakeFuture(self._ids[run_name], run_name)

    def run_id(self, run_name: str) -> str:
        return self._ids[run_name]

    def flow(
        self,
        run_name: str,
        running: Interval | Sequence[Interval] | None = (0, 100),
        *,
        pending: float | None = None,
        final: str | StateType = "COMPLETED",
        final_name: str | None = None,
        parent: str | None = None,
        name: str | None = None,
        thread: str = "MainThread",
    ) -> TimelineBuilder:
        """Add a flow run; the tasks added next belong to it (``parent``: a subflow)."""
        parent_id = self._ids[parent] if parent else None
        self._add(
            "flow",
            run_name,
            running,
            pending=pending,
            final=final,
            final_name=final_name,
            flow_run_id=None,
            parent_flow_run_id=parent_id,
            name=name,
            where=(self.process_id, thread, None),
        )
        self._current_flow = run_name
        return self

    def task(
        self,
        run_name: str,
        running: Interval | Sequence[Interval] | None = None,
        *,
        pending: float | None = None,
        end: float | None = None,
        final: str | StateType | None = None,
        final_name: str | None = None,
        message: str = "",
        flow: str | None = None,
        upstream: Iterable[str] = (),
        parameters: Mapping[str, str] | None = None,
        name: str | None = None,
        thread: str = "MainThread",
        process_id: int | None = None,
        worker: str | None = None,
    ) -> TimelineBuilder:
        """Add a task run of the current flow run (or of ``flow``)."""
        upstream_names = tuple(upstream)
        if final is None:
            final = "COMPLETED" if running is not None else "FAILED"
        if running is None and final_name is None and upstream_names:
            final_name = "UpstreamFailed"
        flow_name = flow or self._current_flow
        self._add(
            "task",
            run_name,
            running,
            pending=pending,
            end=end,
            final=final,
            final_name=final_name,
            message=message,
            flow_run_id=self._ids[flow_name] if flow_name else None,
            parent_flow_run_id=None,
            name=name,
            where=(process_id or self.process_id, thread, worker),
            upstream_run_ids=tuple(self._ids[n] for n in upstream_names),
            parameters=tuple((parameters or {}).items()),
        )
        return self

    def events(self) -> list[StateEvent]:
        """The events so far, ordered by timestamp (ties keep the order added)."""
        return sorted(self._events, key=lambda event: event.timestamp_ns)

    def build(self) -> Timeline:
        return Timeline.from_events(self.events())

    def _add(
        self,
        kind: RunKind,
        run_name: str,
        running: Interval | Sequence[Interval] | None,
        *,
        pending: float | None,
        final: str | StateType,
        final_name: str | None,
        flow_run_id: str | None,
        parent_flow_run_id: str | None,
        name: str | None,
        where: tuple[int, str, str | None],
        end: float | None = None,
        message: str = "",
        upstream_run_ids: tuple[str, ...] = (),
        parameters: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._count += 1
        run_id = f"id-{self._count}-{run_name}"
        self._ids[run_name] = run_id  # the latest run of that name
        self._names[run_id] = run_name
        owner_id = flow_run_id or parent_flow_run_id
        if owner_id:
            self._ids[f"{self._names[owner_id]}/{run_name}"] = run_id
        intervals = _intervals(running)
        first_ms = intervals[0][0] if intervals else end
        if first_ms is None:
            raise ValueError(f"{run_name}: a run that never ran needs end=, got end=None")
        states = _states(intervals, pending if pending is not None else first_ms, end)
        final_type = StateType(final) if isinstance(final, str) else final
        final_ms = intervals[-1][1] if intervals else first_ms if end is None else end
        states.append(
            State(
                final_type,
                final_name or final_type.value.capitalize(),
                at(final_ms),
                message=message,
            )
        )
        process_id, thread, worker = where
        for index, state in enumerate(states):
            self._events.append(
                StateEvent(
                    run_id=run_id,
                    run_name=run_name,
                    kind=kind,
                    name=name or run_name.rsplit("-", 1)[0],
                    flow_run_id=flow_run_id if kind == "task" else None,
                    parent_flow_run_id=parent_flow_run_id,
                    state=state,
                    timestamp_ns=state.timestamp_ns,
                    process_id=process_id,
                    thread_name=thread,
                    worker=worker,
                    upstream_run_ids=upstream_run_ids if index == 0 else (),
                    parameters=parameters if index == 0 else (),
                )
            )


def _intervals(running: Interval | Sequence[Interval] | None) -> list[Interval]:
    if running is None:
        return []
    if len(running) == 2 and all(isinstance(value, (int, float)) for value in running):
        start, end = running
        return [(float(start), float(end))]  # type: ignore[arg-type]
    return [(float(start), float(end)) for start, end in running]  # type: ignore[misc]


def _states(intervals: list[Interval], pending_ms: float, end: float | None) -> list[State]:
    states = [State(StateType.PENDING, "Pending", at(pending_ms))]
    for attempt, (start, _stop) in enumerate(intervals):
        if attempt:
            previous_end = intervals[attempt - 1][1]
            states.append(
                State(
                    StateType.SCHEDULED,
                    "AwaitingRetry",
                    at(previous_end),
                    scheduled_ns=at(start),
                )
            )
        states.append(State(StateType.RUNNING, "Retrying" if attempt else "Running", at(start)))
    return states
