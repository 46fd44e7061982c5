"""Memory per recorded run, and what recording a timeline costs in time.

- Retained memory: with a `pytest_flows.timeline.Timeline` subscribed, a
  sequential flow of N trivial tasks runs under tracemalloc; what is still
  allocated afterwards (the timeline's events, states and names) divided by
  N is the memory per recorded task run. The peak during the flow run,
  unrecorded, is reported too (the engine's own working memory per task).
- Recording cost: the same flow timed in turns with no subscriber, with a
  no-op subscriber (events are built but dropped), and with a Timeline.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from benchmarks.measure import Sample, collector_off, interleaved
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes, sync_flow
from flowcore import subscribe
from flowcore.task_runners import ConcurrentTaskRunner, SequentialTaskRunner

__all__ = ["run"]

MICRO = 1e6


def timeline_class() -> Any | None:
    try:
        from pytest_flows.timeline import Timeline
    except ImportError:
        return None
    return Timeline


def traced_bytes(function: Callable[[], object]) -> tuple[int, int]:
    """(bytes still allocated after ``function()``, peak bytes during it), from tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        function()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before, peak - before


def memory_rows(timeline_type: Any, n: int, repeats: int) -> list[Row]:
    many = sync_flow(SequentialTaskRunner())
    many(n)  # warm up caches (names, code objects) outside the measurement
    retained, peaks = [], []
    for _ in range(max(1, repeats // 2)):
        timeline = timeline_type()

        def recorded(timeline: Any = timeline) -> None:
            with subscribe(timeline.record):
                many(n)

        kept, _ = traced_bytes(recorded)
        retained.append(kept / n)
        _, peak = traced_bytes(lambda: many(n))
        peaks.append(peak / n)
        del timeline
    return [
        Row(f"retained per recorded task run, N={n:,}", "B/run", Sample.of(retained),
            goal=Goal("at_most", 2048, "≤ 2 KB")),
        Row(f"peak per task run while a flow runs, unrecorded, N={n:,}", "B/run", Sample.of(peaks)),
    ]  # fmt: skip


def recording_rows(
    timeline_type: Any, runner_name: str, runner: Any, sizes: Sizes, n: int, detail: bool = True
) -> list[Row]:
    """Recording into a Timeline against not recording, N tasks, the collector on; with
    ``detail``, also a no-op subscriber and both with the collector off."""
    many = sync_flow(runner)

    def with_subscriber(make: Callable[[], Callable[[Any], object]]) -> Callable[[], None]:
        def call() -> None:
            with subscribe(make()):
                many(n)

        return call

    candidates = {
        "off": lambda: many(n),
        "timeline": with_subscriber(lambda: timeline_type().record),
    }
    if detail:
        candidates.update({
            "noop": with_subscriber(lambda: lambda event: None),
            "off, no gc": collector_off(lambda: many(n)),
            "timeline, no gc": collector_off(with_subscriber(lambda: timeline_type().record)),
        })  # fmt: skip
    repeats = sizes.repeats if n <= 10_000 else max(2, sizes.repeats // 2)
    samples = interleaved(candidates, repeats)
    per_task = {name: sample.scaled(MICRO / n) for name, sample in samples.items()}
    rows = [
        Row(f"{runner_name}, recording into a Timeline, N={n:,}", "µs/task", per_task["timeline"],
            "not recording", per_task["off"], Goal("ratio_at_most", 1.25, "≤ 1.25x")),
    ]  # fmt: skip
    if detail:
        rows += [
            Row(f"{runner_name}, events built, no-op subscriber, N={n:,}", "µs/task",
                per_task["noop"], "not recording", per_task["off"]),
            Row(f"{runner_name}, recording into a Timeline, garbage collector off, N={n:,}",
                "µs/task", per_task["timeline, no gc"], "not recording, collector off",
                per_task["off, no gc"]),
        ]  # fmt: skip
    return rows


def run(sizes: Sizes) -> Section:
    section = Section("memory", "Memory per recorded run, and recording on vs off")
    timeline_type = timeline_class()
    if timeline_type is None:
        section.notes.append("skipped: pytest_flows.timeline.Timeline is not importable")
        return section
    section.rows.extend(memory_rows(timeline_type, sizes.memory_tasks, sizes.repeats))
    for n in sizes.recording_tasks:
        first = n == sizes.recording_tasks[0]
        sequential = SequentialTaskRunner()
        rows = recording_rows(timeline_type, "sequential", sequential, sizes, n, first)
        section.rows.extend(rows)
    concurrent = ConcurrentTaskRunner()
    section.rows.extend(
        recording_rows(timeline_type, "concurrent", concurrent, sizes, sizes.memory_tasks)
    )
    section.notes.append(
        "a recorded task run is 3 events (Pending, Running, Completed); retained = what the "
        "Timeline keeps after the flow run ends"
    )
    return section
