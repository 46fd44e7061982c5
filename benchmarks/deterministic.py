"""The deterministic runner: how many schedules of a 10-task flow it explores per second.

Each schedule is one run of a small flow (five independent runs, then five
that each depend on one of them) under ``DeterministicTaskRunner(seed=s)``
for a new seed ``s``. The same flow under the sequential runner is the
reference. The goal is 1000 schedules in at most a second. Skipped, with a
note, while pytest_flows does not provide the runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.measure import Sample
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes, identity_task
from flowcore import flow
from flowcore.task_runners import SequentialTaskRunner, TaskRunner

__all__ = ["deterministic_runner_class", "run"]


def deterministic_runner_class() -> Any | None:
    """``DeterministicTaskRunner`` from pytest_flows, or None while it does not exist."""
    try:
        from pytest_flows import DeterministicTaskRunner  # type: ignore[attr-defined]
    except ImportError:
        try:
            from pytest_flows.deterministic import DeterministicTaskRunner
        except ImportError:
            return None
    return DeterministicTaskRunner


def ten_task_flow(runner: TaskRunner) -> Callable[[], Any]:
    """Five independent runs and five runs each waiting on one of them."""

    @flow(name="ten_tasks", task_runner=runner)
    def ten_tasks() -> list[Any]:
        first = [identity_task(i) for i in range(5)]
        return [identity_task(future) for future in first]

    return ten_tasks


def schedules_per_second(make_runner: Callable[[int], TaskRunner], schedules: int) -> float:
    """Runs of the 10-task flow per second, a new runner (seed) each time."""
    start = time.perf_counter()
    for seed in range(schedules):
        ten_task_flow(make_runner(seed))()
    return schedules / (time.perf_counter() - start)


def run(sizes: Sizes) -> Section:
    section = Section("deterministic", "Deterministic runner: schedules explored per second")
    runner_class = deterministic_runner_class()
    if runner_class is None:
        section.notes.append(
            "skipped: pytest_flows.DeterministicTaskRunner is not importable yet"
        )
        return section
    repeats = max(1, sizes.repeats // 2)
    explored = [
        schedules_per_second(lambda seed: runner_class(seed=seed), sizes.schedules)
        for _ in range(repeats)
    ]
    reference = [
        schedules_per_second(lambda _seed: SequentialTaskRunner(), sizes.schedules)
        for _ in range(repeats)
    ]
    section.rows.append(
        Row("schedules of a 10-task flow", "runs/s", Sample.of(explored),
            "sequential runner", Sample.of(reference), Goal("at_least", 1000, "≥ 1000/s"))
    )  # fmt: skip
    section.notes.append(
        f"{sizes.schedules} schedules (seeds 0..{sizes.schedules - 1}) per measurement; "
        "a higher figure is better here"
    )
    return section
