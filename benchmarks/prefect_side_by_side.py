"""Prefect 3 side by side: the same flow of N trivial tasks, when prefect is installed.

Prefect is an optional extra for this comparison only; nothing else needs
it. Prefect's flow submits N runs of a trivial task with ``.submit`` on its
``ThreadPoolTaskRunner`` and collects their results; flowcore's does the same
on the `ConcurrentTaskRunner`. Without prefect the section is a note.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from benchmarks.measure import interleaved
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
    section.rows.append(
        Row(f"flowcore concurrent, N={n:,}", "µs/task", samples["flowcore"].scaled(MICRO / n),
            f"Prefect 3 ThreadPoolTaskRunner, N={n:,}", samples["prefect"].scaled(MICRO / n))
    )  # fmt: skip
    return section
