"""Scaling: cost per task as the flow grows from 1k to 100k tasks.

Per-task cost must stay flat: no dependency tracking that grows with the
number of runs, no lists scanned per submission. For each runner the cost
per task at every N is reported against its cost at the smallest N; the goal
is the largest N within 1.2x of the smallest.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.measure import collector_off, interleaved
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes, async_flow, sync_flow
from flowcore.task_runners import AsyncTaskRunner, ConcurrentTaskRunner, SequentialTaskRunner

__all__ = ["run"]

MICRO = 1e6

FLOWS: dict[str, Callable[[], Callable[[int], object]]] = {
    "sequential": lambda: sync_flow(SequentialTaskRunner()),
    "concurrent": lambda: sync_flow(ConcurrentTaskRunner()),
    "async": lambda: async_flow(AsyncTaskRunner()),
}


def collector_off_flow(many: Callable[[int], object]) -> Callable[[int], object]:
    """``many(n)`` with the garbage collector off while it runs."""
    return lambda n: collector_off(lambda: many(n))()


def recorded(many: Callable[[int], object]) -> Callable[[int], object]:
    """``many(n)`` recorded into a new `pytest_flows.timeline.Timeline`."""
    from flowcore import subscribe
    from pytest_flows.timeline import Timeline

    def call(n: int) -> object:
        with subscribe(Timeline().record):
            return many(n)

    return call


def scaling_rows(
    name: str, many: Callable[[int], object], sizes: Sizes, judged: bool = True
) -> list[Row]:
    """Cost per task of ``many(n)`` at every N of the mode, relative to the smallest N;
    ``judged`` rows carry the goal."""
    ns = sizes.scaling_tasks
    samples = interleaved(
        {str(n): (lambda n=n: many(n)) for n in ns}, sizes.scaling_repeats, warmup=0
    )
    smallest = samples[str(ns[0])].scaled(MICRO / ns[0])
    rows = []
    for n in ns[1:]:
        goal = Goal("ratio_at_most", 1.2, "≤ 1.2x") if judged and n == ns[-1] else None
        rows.append(
            Row(f"{name}, N={n:,}", "µs/task", samples[str(n)].scaled(MICRO / n),
                f"N={ns[0]:,}", smallest, goal)
        )  # fmt: skip
    return rows


def run(sizes: Sizes) -> Section:
    section = Section("scaling", "Cost per task as N grows (flat is the goal)")
    for name, make in FLOWS.items():
        section.rows.extend(scaling_rows(name, make(), sizes))
    many = FLOWS["sequential"]()
    section.rows.extend(
        scaling_rows("sequential, recording into a Timeline", recorded(many), sizes)
    )
    section.rows.extend(
        scaling_rows(
            "sequential, garbage collector off", collector_off_flow(many), sizes, judged=False
        )
    )
    section.notes.append(
        f"N = {', '.join(f'{n:,}' for n in sizes.scaling_tasks)}; "
        f"{sizes.scaling_repeats} runs each, in turns; baseline = the same runner at the smallest N"
    )
    return section
