"""Timelines: every flow and task run of a test, rebuilt from state events.

A `Timeline` subscribes to flowcore's event seam and keeps each `StateEvent`
(packed, see `event_store`).
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
  `Timeline.from_events(events)` builds one from recorded events. A timeline
  is a `flowcore.events.Recorder`: while only timelines listen, the engine
  hands it task-run transitions as parts (`record_transition`) instead of
  building events.
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

The pieces live in their own modules and are re-exported here: `RunRecord`,
`overlaps`, `overlap_ns` in `run_record`; `RunRef`, `RunNotFound` and run
lookup in `run_lookup`; `ConcurrencyWindow`, profiles and the critical path
in `concurrency`.

Times are nanoseconds since the epoch, as in the events; the timeline's zero
(`origin_ns`) is its first event. A run still RUNNING when the timeline is
read counts as running until the timeline's last event (`horizon_ns`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowcore.events import StateEvent
from flowcore.states import State, StateType
from pytest_flows.timeline import concurrency
from pytest_flows.timeline.concurrency import ConcurrencyWindow
from pytest_flows.timeline.event_store import EventStore
from pytest_flows.timeline.lookup import RunNotFound, RunRef, find_run, qualified_name
from pytest_flows.timeline.records import RunRecord, overlap_ns, overlaps, record_from_events

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = [
    "ConcurrencyWindow",
    "RunNotFound",
    "RunRecord",
    "RunRef",
    "Timeline",
    "overlap_ns",
    "overlaps",
]


class Timeline:
    """The recorded runs of a test, with queries, assertions and exports.

    >>> timeline = Timeline.from_events(recorded_events)  # doctest: +SKIP
    >>> timeline.assert_parallel("load-0", "load-1")  # doctest: +SKIP
    >>> print(timeline.render_gantt(width=80))  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events = EventStore()
        # What the engine calls, as a `flowcore.events.Recorder`, instead of building an
        # event while only timelines listen; ``events`` gives that event back equal. The
        # store's own method: one call less per transition.
        self.record_transition: Callable[[TaskRun, State, bool, str | None], None] = (
            self._events.append_transition
        )
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
        self._events.append(event)

    @property
    def events(self) -> tuple[StateEvent, ...]:
        """Every event recorded, in recording order (equal to those recorded, not the
        same objects: the timeline keeps them packed, see `event_store`)."""
        return tuple(self._events.events())

    # -- runs ---------------------------------------------------------------

    @property
    def runs(self) -> tuple[RunRecord, ...]:
        """Every run, in order of its first event."""
        size = self._events.size()
        with self._lock:
            kept, records = self._cache
            if kept == size:
                return records
        # Built from every event so far: perhaps more than ``size`` says, if some are
        # recorded meanwhile; the next read then builds again.
        records = self._build(self._events.events())
        with self._lock:
            self._cache = (size, records)
        return records

    @staticmethod
    def _build(events: Sequence[StateEvent]) -> tuple[RunRecord, ...]:
        if not events:
            return ()
        horizon = max(event.state.timestamp_ns for event in events)
        by_run: dict[str, list[tuple[int, StateEvent]]] = {}
        for position, event in enumerate(events):
            by_run.setdefault(event.run_id, []).append((position, event))
        return tuple(record_from_events(entries, horizon) for entries in by_run.values())

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
        __tracebackhide__ = True
        return find_run(ref, self.runs)

    def qualified_name(self, run: RunRecord) -> str:
        """``flow-run-name/run-name``, unique where run names repeat across flow runs."""
        return qualified_name(run, self.runs)

    # -- concurrency --------------------------------------------------------

    def concurrency_profile(
        self, runs: Iterable[RunRef] | None = None
    ) -> tuple[ConcurrencyWindow, ...]:
        """The stretches of time with at least one run RUNNING, and which ones.

        Counts task runs unless ``runs`` says which. An interval ending where
        another starts does not overlap it.
        """
        return concurrency.concurrency_profile(self._records(runs))

    def peak_concurrency(self, runs: Iterable[RunRef] | None = None) -> int:
        """The most task runs (or ``runs``) RUNNING at one moment."""
        return concurrency.peak_concurrency(self._records(runs))

    def start_order(self, runs: Iterable[RunRef] | None = None) -> list[str]:
        """Run names of the task runs (or ``runs``) that ran, by when they started."""
        return concurrency.start_order(self._records(runs))

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
        return concurrency.critical_path(self.task_runs)

    # -- assertions and exports (delegating) --------------------------------

    def assert_parallel(self, *runs: RunRef) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_parallel

        assert_parallel(self, *runs)

    def assert_sequential(self, *runs: RunRef) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_sequential

        assert_sequential(self, *runs)

    def assert_before(self, first: RunRef, then: RunRef) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_before

        assert_before(self, first, then)

    def assert_max_concurrency(self, limit: int) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_max_concurrency

        assert_max_concurrency(self, limit)

    def assert_min_concurrency(self, minimum: int) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_min_concurrency

        assert_min_concurrency(self, minimum)

    def assert_states(self, run: RunRef, expected: Iterable[str | StateType]) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_states

        assert_states(self, run, expected)

    def assert_all_completed(self) -> None:
        __tracebackhide__ = True
        from pytest_flows.timeline.assertions import assert_all_completed

        assert_all_completed(self)

    def render_gantt(self, runs: Iterable[RunRef] | None = None, width: int | None = None) -> str:
        from pytest_flows.pictures.gantt import render_gantt

        return render_gantt(self, runs, width)

    def to_chrome_trace(self) -> dict[str, Any]:
        from pytest_flows.pictures.chrome_trace import to_chrome_trace

        return to_chrome_trace(self)

    def to_html(self) -> str:
        from pytest_flows.pictures.html import to_html

        return to_html(self)

    def save(self, path: str | Path) -> Path:
        """Write the timeline: ``.json`` as a Chrome trace, ``.html`` as a picture."""
        from pytest_flows.pictures.chrome_trace import save_chrome_trace
        from pytest_flows.pictures.html import save_html

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
