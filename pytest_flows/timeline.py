"""Timelines: every flow and task run of a test, rebuilt from state events.

A `Timeline` subscribes to flowcore's event seam and keeps each `StateEvent`.
From them it rebuilds one `RunRecord` per run (its state history, when it
ran, where) and answers questions about them: what overlapped, how many task
runs ran at once, which chain of dependencies was the critical path.

    >>> from flowcore import events
    >>> timeline = Timeline()
    >>> with events.subscribe(timeline.record):
    ...     pass  # run flows here
    >>> timeline.runs
    ()

Concepts to names:

- `Timeline.record(event)`: the subscriber callback (thread-safe);
  `Timeline.from_events(events)` builds one from recorded events.
- `Timeline.runs`, `task_runs`, `flow_runs`: the `RunRecord`s, in order of
  their first event. `Timeline.run(ref)` finds one by run name
  (``"load-0"``), task or flow name (when it ran once), future, run id or
  record; `RunNotFound` (a `LookupError`) when it is missing or ambiguous.
- `overlaps(a, b)`, `overlap_ns(a, b)`: did two runs RUN at the same time.
- `Timeline.peak_concurrency()`, `concurrency_profile()`, `start_order()`.
- Totals: `wall_ns`, `work_ns`, `average_parallelism`, `critical_path()`.
- Assertions (`assert_parallel`, ...) and exports (`render_gantt`,
  `to_chrome_trace`, `to_html`, `save`) are methods delegating to the
  `assertions`, `gantt`, `chrome_trace` and `html` modules.

Times are nanoseconds since the epoch, as in the events; the timeline's zero
(`origin_ns`) is its first event. A run still RUNNING when the timeline is
read counts as running until the timeline's last event (`horizon_ns`).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from flowcore.events import RunKind, StateEvent
from flowcore.states import State, StateType

__all__ = [
    "ConcurrencyWindow",
    "RunNotFound",
    "RunRecord",
    "RunRef",
    "Timeline",
    "overlap_ns",
    "overlaps",
]


class RunNotFound(LookupError):
    """No run, or more than one, matches a reference given to `Timeline.run`."""


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
    running_intervals: tuple[tuple[int, int], ...]
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
        """The latest state: the final one once the run has ended."""
        return self.states[-1]

    @property
    def is_finished(self) -> bool:
        return self.final_state.is_final()

    @property
    def first_ns(self) -> int:
        """When the run was first seen (its first state)."""
        return self.states[0].timestamp_ns

    @property
    def start_ns(self) -> int | None:
        """When it first started RUNNING; None if it never ran."""
        return self.running_intervals[0][0] if self.running_intervals else None

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

    def describe_states(self) -> str:
        """The history as text: ``PENDING -> RUNNING -> FAILED(TimedOut)``."""
        return " -> ".join(_describe_state(state) for state in self.states)


def _describe_state(state: State) -> str:
    default_name = state.type.value.capitalize()
    return state.type.value if state.name == default_name else f"{state.type.value}({state.name})"


RunRef: TypeAlias = "str | RunRecord | Any"
"""A run name, task/flow name, run id, `RunRecord`, or a future (has ``run_id``)."""


@dataclass(frozen=True)
class ConcurrencyWindow:
    """A stretch of time during which the same runs were RUNNING."""

    start_ns: int
    end_ns: int
    run_names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.run_names)


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


def _running_intervals(states: Sequence[State], horizon_ns: int) -> tuple[tuple[int, int], ...]:
    intervals: list[tuple[int, int]] = []
    started: int | None = None
    for state in states:
        if started is not None:
            intervals.append((started, max(started, state.timestamp_ns)))
            started = None
        if state.type is StateType.RUNNING:
            started = state.timestamp_ns
    if started is not None:
        intervals.append((started, max(started, horizon_ns)))
    return tuple(intervals)


def _build_record(entries: Sequence[tuple[int, StateEvent]], horizon_ns: int) -> RunRecord:
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


class Timeline:
    """The recorded runs of a test, with queries, assertions and exports.

    >>> timeline = Timeline.from_events(recorded_events)  # doctest: +SKIP
    >>> timeline.assert_parallel("load-0", "load-1")  # doctest: +SKIP
    >>> print(timeline.render_gantt(width=80))  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[StateEvent] = []
        self._cache: tuple[int, tuple[RunRecord, ...]] = (0, ())

    @classmethod
    def from_events(cls, events: Iterable[StateEvent]) -> Timeline:
        """A timeline holding ``events``, in the order given."""
        timeline = cls()
        for event in events:
            timeline.record(event)
        return timeline

    def record(self, event: StateEvent) -> None:
        """Keep ``event``; safe to call from any thread (a subscriber callback)."""
        if not isinstance(event, StateEvent):
            raise TypeError(f"Timeline.record() takes a flowcore StateEvent, got {event!r}")
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> tuple[StateEvent, ...]:
        with self._lock:
            return tuple(self._events)

    # -- runs ---------------------------------------------------------------

    @property
    def runs(self) -> tuple[RunRecord, ...]:
        """Every run, in order of its first event."""
        with self._lock:
            count, records = self._cache
            if count == len(self._events):
                return records
            events = list(self._events)
        records = self._build(events)
        with self._lock:
            self._cache = (len(events), records)
        return records

    @staticmethod
    def _build(events: Sequence[StateEvent]) -> tuple[RunRecord, ...]:
        if not events:
            return ()
        horizon = max(event.state.timestamp_ns for event in events)
        by_run: dict[str, list[tuple[int, StateEvent]]] = {}
        for position, event in enumerate(events):
            by_run.setdefault(event.run_id, []).append((position, event))
        return tuple(_build_record(entries, horizon) for entries in by_run.values())

    @property
    def task_runs(self) -> tuple[RunRecord, ...]:
        return tuple(run for run in self.runs if run.kind == "task")

    @property
    def flow_runs(self) -> tuple[RunRecord, ...]:
        return tuple(run for run in self.runs if run.kind == "flow")

    def run(self, ref: RunRef) -> RunRecord:
        """The run ``ref`` names.

        ``ref`` is a run name (``"load-0"``; ``"pipeline-0/load-0"`` when two
        flow runs both have a ``load-0``), a task or flow name that ran
        exactly once (``"load"``), a run id, a `RunRecord`, or a future.
        Raises `RunNotFound`, listing the runs there are, otherwise.
        """
        runs = self.runs
        if isinstance(ref, RunRecord) or (not isinstance(ref, str) and hasattr(ref, "run_id")):
            matches = [run for run in runs if run.run_id == ref.run_id]
            return self._one(matches, f"run id {ref.run_id!r} (from {ref!r})", runs)
        if not isinstance(ref, str):
            raise TypeError(
                "a run reference is a run name, task name, run id, RunRecord or future "
                f"(anything with .run_id), got {ref!r}"
            )
        for matcher in (_by_run_id, _by_run_name, _by_qualified_name, _by_name):
            matches = matcher(ref, runs)
            if matches:
                return self._one(matches, repr(ref), runs)
        return self._one([], repr(ref), runs)

    def _one(self, matches: list[RunRecord], wanted: str, runs: Sequence[RunRecord]) -> RunRecord:
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(self.qualified_name(run) for run in matches)
            raise RunNotFound(
                f"{wanted} matches {len(matches)} runs ({names}); name exactly one of them"
            )
        known = [run.run_name for run in runs]
        if not known:
            raise RunNotFound(f"no run matches {wanted}: the timeline recorded no runs")
        close = difflib.get_close_matches(wanted.strip("'\""), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RunNotFound(f"no run matches {wanted}; runs recorded: {', '.join(known)}.{hint}")

    def qualified_name(self, run: RunRecord) -> str:
        """``flow-run-name/run-name``, unique where run names repeat across flow runs."""
        parent_id = run.parent_run_id
        parent = next((r for r in self.runs if r.run_id == parent_id), None)
        return f"{parent.run_name}/{run.run_name}" if parent else run.run_name

    # -- concurrency --------------------------------------------------------

    def concurrency_profile(
        self, runs: Iterable[RunRef] | None = None
    ) -> tuple[ConcurrencyWindow, ...]:
        """The stretches of time with at least one run RUNNING, and which ones.

        Counts task runs unless ``runs`` says which. An interval ending where
        another starts does not overlap it.
        """
        records = self._records(runs)
        points: list[tuple[int, int, str]] = []
        for record in records:
            for start, end in record.running_intervals:
                if end > start:
                    points.append((start, 1, record.run_name))
                    points.append((end, 0, record.run_name))
        points.sort(key=lambda point: (point[0], point[1]))  # ends before starts
        windows: list[ConcurrencyWindow] = []
        active: list[str] = []
        for index, (time_ns, is_start, name) in enumerate(points):
            if is_start:
                active.append(name)
            else:
                active.remove(name)
            next_ns = points[index + 1][0] if index + 1 < len(points) else time_ns
            if not active or next_ns == time_ns:
                continue
            names = tuple(sorted(active))
            if windows and windows[-1].end_ns == time_ns and windows[-1].run_names == names:
                time_ns = windows.pop().start_ns
            windows.append(ConcurrencyWindow(time_ns, next_ns, names))
        return tuple(windows)

    def peak_concurrency(self, runs: Iterable[RunRef] | None = None) -> int:
        """The most task runs (or ``runs``) RUNNING at one moment."""
        return max((window.count for window in self.concurrency_profile(runs)), default=0)

    def start_order(self, runs: Iterable[RunRef] | None = None) -> list[str]:
        """Run names of the task runs (or ``runs``) that ran, by when they started."""
        started = [record for record in self._records(runs) if record.start_ns is not None]
        started.sort(key=lambda record: (record.start_ns, _start_position(record)))
        return [record.run_name for record in started]

    def overlaps(self, a: RunRef, b: RunRef) -> bool:
        return overlaps(self.run(a), self.run(b))

    def overlap_ns(self, a: RunRef, b: RunRef) -> int:
        return overlap_ns(self.run(a), self.run(b))

    def _records(self, runs: Iterable[RunRef] | None) -> list[RunRecord]:
        return list(self.task_runs) if runs is None else [self.run(ref) for ref in runs]

    # -- totals -------------------------------------------------------------

    @property
    def origin_ns(self) -> int:
        """The timeline's zero: its first event (0 when empty)."""
        return min((run.first_ns for run in self.runs), default=0)

    @property
    def horizon_ns(self) -> int:
        """The timeline's last event (0 when empty)."""
        return max((state.timestamp_ns for run in self.runs for state in run.states), default=0)

    @property
    def wall_ns(self) -> int:
        """From the first event to the last."""
        return self.horizon_ns - self.origin_ns

    @property
    def work_ns(self) -> int:
        """Time spent RUNNING, summed over task runs."""
        return sum(run.running_ns for run in self.task_runs)

    @property
    def average_parallelism(self) -> float:
        """Work divided by wall time; 0.0 for an empty or instantaneous timeline."""
        wall = self.wall_ns
        return self.work_ns / wall if wall > 0 else 0.0

    def critical_path(self) -> tuple[RunRecord, ...]:
        """The chain of task runs, along ``upstream_run_ids``, with the most running time."""
        tasks = self.task_runs
        by_id = {run.run_id: run for run in tasks}
        best: dict[str, tuple[int, tuple[RunRecord, ...]]] = {}
        for run in _upstream_first(tasks, by_id):
            chains = [best[upstream] for upstream in run.upstream_run_ids if upstream in best]
            length, chain = max(chains, key=lambda item: item[0], default=(0, ()))
            best[run.run_id] = (length + run.running_ns, (*chain, run))
        return max(best.values(), key=lambda item: item[0], default=(0, ()))[1]

    # -- assertions and exports (delegating) --------------------------------

    def assert_parallel(self, *runs: RunRef) -> None:
        from pytest_flows.assertions import assert_parallel

        assert_parallel(self, *runs)

    def assert_sequential(self, *runs: RunRef) -> None:
        from pytest_flows.assertions import assert_sequential

        assert_sequential(self, *runs)

    def assert_before(self, first: RunRef, then: RunRef) -> None:
        from pytest_flows.assertions import assert_before

        assert_before(self, first, then)

    def assert_max_concurrency(self, limit: int) -> None:
        from pytest_flows.assertions import assert_max_concurrency

        assert_max_concurrency(self, limit)

    def assert_min_concurrency(self, minimum: int) -> None:
        from pytest_flows.assertions import assert_min_concurrency

        assert_min_concurrency(self, minimum)

    def assert_states(self, run: RunRef, expected: Iterable[str | StateType]) -> None:
        from pytest_flows.assertions import assert_states

        assert_states(self, run, expected)

    def assert_all_completed(self) -> None:
        from pytest_flows.assertions import assert_all_completed

        assert_all_completed(self)

    def render_gantt(self, runs: Iterable[RunRef] | None = None, width: int | None = None) -> str:
        from pytest_flows.gantt import render_gantt

        return render_gantt(self, runs, width)

    def to_chrome_trace(self) -> dict[str, Any]:
        from pytest_flows.chrome_trace import to_chrome_trace

        return to_chrome_trace(self)

    def to_html(self) -> str:
        from pytest_flows.html import to_html

        return to_html(self)

    def save(self, path: str | Path) -> Path:
        """Write the timeline: ``.json`` as a Chrome trace, ``.html`` as a picture."""
        from pytest_flows.chrome_trace import save_chrome_trace
        from pytest_flows.html import save_html

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            return save_chrome_trace(self, path)
        if suffix in (".html", ".htm"):
            return save_html(self, path)
        raise ValueError(
            f"Timeline.save() picks the format by suffix: .json (Chrome trace) or "
            f".html (picture), got {str(path)!r}"
        )


def _by_run_id(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    return [run for run in runs if run.run_id == ref]


def _by_run_name(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    return [run for run in runs if run.run_name == ref]


def _by_qualified_name(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    parent_name, _, run_name = ref.rpartition("/")
    if not parent_name:
        return []
    parents = {run.run_id for run in runs if run.run_name == parent_name}
    return [run for run in runs if run.run_name == run_name and run.parent_run_id in parents]


def _by_name(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    return [run for run in runs if run.name == ref]


def _start_position(record: RunRecord) -> int:
    index = record.state_types.index(StateType.RUNNING)
    return record.state_order[index] if record.state_order else 0


def _upstream_first(runs: Sequence[RunRecord], by_id: dict[str, RunRecord]) -> list[RunRecord]:
    """``runs`` ordered so that each comes after its upstream runs (Kahn's algorithm)."""
    waiting = {
        run.run_id: sum(1 for upstream in run.upstream_run_ids if upstream in by_id) for run in runs
    }
    downstream: dict[str, list[str]] = {}
    for run in runs:
        for upstream in run.upstream_run_ids:
            if upstream in by_id:
                downstream.setdefault(upstream, []).append(run.run_id)
    ready = [run.run_id for run in runs if waiting[run.run_id] == 0]
    ordered: list[RunRecord] = []
    while ready:
        run_id = ready.pop(0)
        ordered.append(by_id[run_id])
        for child in downstream.get(run_id, []):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return ordered
