"""The deterministic runner against the sequential runner, on a 10-task flow.

Each schedule is one run of a small flow (five independent runs, then five
that each depend on one of them) under ``DeterministicTaskRunner(seed=s)``
for a new seed ``s``; the reference is the same flow under the sequential
runner. Both are timed in turns (`interleaved`), each turn running the
flow ``sizes.schedules`` times.

| row                                  | figure                        | goal        |
|--------------------------------------|-------------------------------|-------------|
| 10-task flow, deterministic          | µs per flow, vs sequential    | ≤ 2x        |
| schedules of a 10-task flow          | flows per second              | ≥ 3,000/s   |
| async 10-task flow, deterministic    | µs per flow, vs sequential    | ≤ 2x        |
| hand-off to the worker thread        | µs per round trip, vs a call  | (a bound)   |
| schedules explored by ``explore()``  | schedules per second          |             |

The first row is the goal as a ratio (lower is better: time per flow); the
second shows the same measurement as schedules explored per second (higher
is better): it can never pass the sequential runner's own rate, beside it, and
a note says what ratio 3,000/s would take. The async flow runs all its flows
in one ``asyncio.run`` on either side, so the figure is the runners', not the
event loop's start. The last row is what every sync flow's schedule pays at
least once: its sync bodies run on the runner's worker thread (so that one
blocked on another thread can be given up), and the waiting thread hands the
steps to it and waits for them. Skipped, with a note, while pytest_flows does
not provide the runner. The last row explores the same flow with
``explore(schedules=N)``, as a test does (one runner per schedule, made by the
exploration, instead of one made by the caller and one per flow run), against
the sequential runner's N flows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from benchmarks.measure import Sample, interleaved
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes, identity_async_task, identity_task
from flowcore import flow
from flowcore.task_runners import SequentialTaskRunner, TaskRunner

__all__ = ["deterministic_runner_class", "run"]

MICRO = 1e6


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


def ten_task_async_flow(runner: TaskRunner) -> Callable[[], Any]:
    """The same graph as an async flow of async tasks: five gathered, then five more."""

    @flow(name="ten_tasks_async", task_runner=runner)
    async def ten_tasks_async() -> list[Any]:
        first = await asyncio.gather(*[identity_async_task(i) for i in range(5)])
        return list(await asyncio.gather(*[identity_async_task(x) for x in first]))

    return ten_tasks_async


def schedules(make_runner: Callable[[int], TaskRunner], count: int) -> Callable[[], None]:
    """``count`` runs of the 10-task flow, a new runner (seed) each time."""

    def run_all() -> None:
        for seed in range(count):
            ten_task_flow(make_runner(seed))()

    return run_all


def async_schedules(make_runner: Callable[[int], TaskRunner], count: int) -> Callable[[], None]:
    """``count`` runs of the async 10-task flow in one event loop, a new runner each time."""

    async def run_all() -> None:
        for seed in range(count):
            await ten_task_async_flow(make_runner(seed))()

    return lambda: asyncio.run(run_all())


def explorations(count: int) -> Callable[[], None]:
    """``explore`` of the 10-task flow under ``count`` seeded random schedules."""
    from pytest_flows.deterministic.exploration import explore

    target = ten_task_flow(SequentialTaskRunner())  # every flow run follows the schedule

    def run_all() -> None:
        explore(target, schedules=count, seed=0)

    return run_all


def _nothing() -> None:
    """The trivial function both sides of the hand-off row run."""


def hand_offs(count: int) -> Callable[[], None]:
    """``count`` round trips to a deterministic runner's worker thread, each running a
    trivial function there, as a sync flow's schedule hands its steps over."""
    from pytest_flows.deterministic.sync_worker import acquire_worker, release_worker

    def run_all() -> None:
        worker = acquire_worker()
        try:
            for _ in range(count):
                worker.start(_nothing)
                worker.wait(5.0)
        finally:
            release_worker(worker)

    return run_all


def calls(count: int) -> Callable[[], None]:
    """``count`` calls of the same trivial function on this thread."""

    def run_all() -> None:
        for _ in range(count):
            _nothing()

    return run_all


def per_flow_row(
    name: str, samples: dict[str, Sample], count: int, goal: Goal | None = None
) -> Row:
    """µs per flow under the deterministic runner against the sequential runner."""
    scale = MICRO / count
    return Row(
        name,
        "µs/flow",
        samples["deterministic"].scaled(scale),
        "sequential runner",
        samples["sequential"].scaled(scale),
        goal,
    )


def per_second(sample: Sample, count: int) -> Sample:
    """Flows per second from seconds per ``count`` flows (the fastest turn is the highest)."""
    return Sample(count / sample.median, count / sample.high, count / sample.low, sample.count)


def run(sizes: Sizes) -> Section:
    section = Section("deterministic", "Deterministic runner vs the sequential runner")
    runner_class = deterministic_runner_class()
    if runner_class is None:
        section.notes.append("skipped: pytest_flows.DeterministicTaskRunner is not importable yet")
        return section
    count, repeats = sizes.schedules, sizes.repeats

    def deterministic(seed: int) -> TaskRunner:
        runner: TaskRunner = runner_class(seed=seed)
        return runner

    def sequential(_seed: int) -> TaskRunner:
        return SequentialTaskRunner()

    sync = interleaved(
        {
            "deterministic": schedules(deterministic, count),
            "sequential": schedules(sequential, count),
        },
        repeats,
    )
    section.rows.append(
        per_flow_row("10-task flow, deterministic", sync, count, Goal("ratio_at_most", 2.0, "≤ 2x"))
    )
    section.rows.append(
        Row("schedules of a 10-task flow", "runs/s", per_second(sync["deterministic"], count),
            "sequential runner", per_second(sync["sequential"], count),
            Goal("at_least", 3000, "≥ 3000/s"))
    )  # fmt: skip
    async_samples = interleaved(
        {
            "deterministic": async_schedules(deterministic, count),
            "sequential": async_schedules(sequential, count),
        },
        repeats,
    )
    section.rows.append(
        per_flow_row(
            "async 10-task flow, deterministic",
            async_samples,
            count,
            Goal("ratio_at_most", 2.0, "≤ 2x"),
        )
    )
    trips = interleaved({"hand-off": hand_offs(count), "call": calls(count)}, repeats)
    section.rows.append(
        Row("hand-off to the worker thread", "µs/trip", trips["hand-off"].scaled(MICRO / count),
            "a call on this thread", trips["call"].scaled(MICRO / count))
    )  # fmt: skip
    explored = interleaved(
        {"explore": explorations(count), "sequential": schedules(sequential, count)}, repeats
    )
    section.rows.append(
        Row("schedules explored by explore()", "runs/s", per_second(explored["explore"], count),
            "sequential runner", per_second(explored["sequential"], count))
    )  # fmt: skip
    sequential_rate = count / sync["sequential"].median
    section.notes.append(
        f"schedules/s cannot pass the sequential runner's {sequential_rate:,.0f}/s here; "
        f"3,000/s would take a ratio of {sequential_rate / 3000:.2f}x or less"
    )
    section.notes.append(
        f"{count} flows per turn (seeds 0..{count - 1}), {repeats} turns each side, in turns; "
        "µs/flow: lower is better, the ratio is deterministic / sequential; runs/s: higher is "
        "better"
    )
    return section
