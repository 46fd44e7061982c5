"""Prefect 3 side by side: the same flow of N trivial tasks, when prefect is installed.

Prefect is an optional extra for this comparison only; nothing else needs
it. Prefect's flow submits N runs of a trivial task with ``.submit`` on its
``ThreadPoolTaskRunner`` and collects their results; flowcore's does the same
on the `ConcurrentTaskRunner`. An empty flow call is timed on both, and the
time it takes to enter Prefect's test harness once. Without prefect the
section is a note.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

from benchmarks.measure import Sample, interleaved
from benchmarks.report import Row, Section
from benchmarks.workload import Sizes, identity, sync_flow
from flowcore.task_runners import ConcurrentTaskRunner

__all__ = ["run"]

MICRO = 1e6


def prefect_flow() -> Callable[[int], list[Any]]:
    """A Prefect 3 flow submitting ``n`` runs of a trivial task and returning their results."""
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    prefect_identity = task(identity)

    @flow(task_runner=ThreadPoolTaskRunner())
    def many(n: int) -> list[Any]:
        futures = [prefect_identity.submit(i) for i in range(n)]
        return [future.result() for future in futures]

    return many


def prefect_empty_flow() -> Callable[[], Any]:
    from prefect import flow

    @flow
    def empty() -> None:
        return None

    return empty


def flowcore_empty_flow() -> Callable[[], Any]:
    from flowcore import flow

    @flow(task_runner=ConcurrentTaskRunner())
    def empty() -> None:
        return None

    return empty


def harness_start_seconds() -> float | None:
    """Seconds to enter Prefect's test harness (a temporary database and API server)."""
    try:
        from prefect.testing.utilities import prefect_test_harness
    except ImportError:
        return None
    start = time.perf_counter()
    with prefect_test_harness():
        entered = time.perf_counter() - start
    return entered


def run(sizes: Sizes) -> Section:
    section = Section("prefect", "Prefect 3 side by side (same flow of N tasks)")
    if importlib.util.find_spec("prefect") is None:
        section.notes.append("skipped: prefect is not installed (optional: pip install prefect)")
        return section
    n = max(10, sizes.dask_tasks // 2)
    flowcore_many, prefect_many = sync_flow(ConcurrentTaskRunner()), prefect_flow()
    samples = interleaved(
        {"flowcore": lambda: flowcore_many(n), "prefect": lambda: prefect_many(n)},
        max(1, sizes.repeats // 2),
    )
    # Prefect is the measured side here, flowcore the baseline: the ratio reads
    # "Prefect takes this many times as long".
    section.rows.append(
        Row(f"Prefect 3 ThreadPoolTaskRunner, N={n:,}", "µs/task",
            samples["prefect"].scaled(MICRO / n),
            f"flowcore concurrent, N={n:,}", samples["flowcore"].scaled(MICRO / n))
    )  # fmt: skip
    empty = interleaved(
        {"flowcore": flowcore_empty_flow(), "prefect": prefect_empty_flow()},
        max(1, sizes.repeats // 2),
    )
    section.rows.append(
        Row("Prefect 3 empty flow call", "ms", empty["prefect"].scaled(1e3),
            "flowcore empty flow call", empty["flowcore"].scaled(1e3))
    )  # fmt: skip
    harness = harness_start_seconds()
    if harness is not None:
        section.rows.append(Row("entering prefect_test_harness()", "s", Sample.of([harness])))
    return section
