"""How runs of a timeline shared time: concurrency windows, start order, critical path.

Pure functions over `RunRecord`s; `Timeline` exposes them as methods.

- `ConcurrencyWindow`: a stretch of time with the same set of runs RUNNING.
- `concurrency_profile(records)`: the windows, in time order;
  `peak_concurrency(records)`: the most runs RUNNING at one moment.
- `start_order(records)`: run names by when each first started RUNNING.
- `critical_path(task_runs)`: the dependency chain with the most running time.

    >>> [w.count for w in concurrency_profile(timeline.task_runs)]  # doctest: +SKIP
    [1, 2, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pytest_flows.timeline.records import RunRecord

__all__ = [
    "ConcurrencyWindow",
    "concurrency_profile",
    "critical_path",
    "peak_concurrency",
    "start_order",
]


@dataclass(frozen=True)
class ConcurrencyWindow:
    """A stretch of time during which the same runs were RUNNING."""

    start_ns: int
    end_ns: int
    run_names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.run_names)


class _Point(NamedTuple):
    """A run starting or ending RUNNING."""

    time_ns: int
    is_start: bool
    run_name: str


class _Chain(NamedTuple):
    """Runs along dependencies, and their summed running time."""

    running_ns: int
    runs: tuple[RunRecord, ...]


def concurrency_profile(records: Sequence[RunRecord]) -> tuple[ConcurrencyWindow, ...]:
    """The stretches of time with at least one of ``records`` RUNNING, and which ones.

    An interval ending where another starts does not overlap it.
    """
    points: list[_Point] = []
    for record in records:
        for start, end in record.running_intervals:
            if end > start:
                points.append(_Point(start, True, record.run_name))
                points.append(_Point(end, False, record.run_name))
    points.sort(key=lambda point: (point.time_ns, point.is_start))  # ends before starts
    windows: list[ConcurrencyWindow] = []
    active: list[str] = []
    for index, (time_ns, is_start, name) in enumerate(points):
        if is_start:
            active.append(name)
        else:
            active.remove(name)
        next_ns = points[index + 1].time_ns if index + 1 < len(points) else time_ns
        if not active or next_ns == time_ns:
            continue
        names = tuple(sorted(active))
        if windows and windows[-1].end_ns == time_ns and windows[-1].run_names == names:
            time_ns = windows.pop().start_ns
        windows.append(ConcurrencyWindow(time_ns, next_ns, names))
    return tuple(windows)


def peak_concurrency(records: Sequence[RunRecord]) -> int:
    """The most of ``records`` RUNNING at one moment (0 when none ran)."""
    return max((window.count for window in concurrency_profile(records)), default=0)


def start_order(records: Sequence[RunRecord]) -> list[str]:
    """Run names of the ``records`` that ran, by when they started (ties: recording order)."""
    started = [record for record in records if record.start_ns is not None]
    started.sort(key=lambda record: (record.start_ns, record.start_position))
    return [record.run_name for record in started]


def critical_path(task_runs: Sequence[RunRecord]) -> tuple[RunRecord, ...]:
    """The chain of runs, along ``upstream_run_ids``, with the most running time."""
    by_id = {run.run_id: run for run in task_runs}
    best: dict[str, _Chain] = {}
    for run in _upstream_first(task_runs, by_id):
        chains = [best[upstream] for upstream in run.upstream_run_ids if upstream in best]
        longest = max(chains, key=lambda chain: chain.running_ns, default=_Chain(0, ()))
        best[run.run_id] = _Chain(longest.running_ns + run.running_ns, (*longest.runs, run))
    return max(best.values(), key=lambda chain: chain.running_ns, default=_Chain(0, ())).runs


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
