"""One execution of a target under one schedule, and the check that it is repeatable.

`execute(target, strategy)` calls ``target()`` with every flow run it starts
on a `DeterministicTaskRunner` sharing one `Schedule` (so subflows and
successive flows draw from the same sequence of decisions), and returns an
`Execution`: the schedule as decided, the value or the error, and (when
asked to record) the timeline as ``(run, state type, state name,
timestamp)`` entries and the state events themselves.

    >>> from flowcore import flow
    >>> @flow
    ... def empty():
    ...     return 1
    >>> from pytest_flows.deterministic.schedules import Seeded
    >>> execute(empty, Seeded(3)).value
    1

`check_deterministic(target, seed=0)` executes the same schedule twice and
raises `NondeterminismError` when the timelines differ.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowcore import events
from flowcore.events import StateEvent
from flowcore.states import State
from flowcore.task_runners import override_task_runner
from pytest_flows.deterministic.runner import DeterministicTaskRunner
from pytest_flows.deterministic.schedules import Schedule, Strategy, strategy_for_seed
from pytest_flows.printable import printable

__all__ = ["Execution", "NondeterminismError", "TimelineEntry", "check_deterministic", "execute"]

TimelineEntry = tuple[str, str, str, int]
"""A transition as ``(run, state type, state name, timestamp_ns)``; a flow run is named by
its flow (flow run names count up from call to call), a task run by its run name."""


class NondeterminismError(AssertionError):
    """The same schedule gave different timelines (or a different outcome) twice."""


@dataclass
class Execution:
    """What one call of the target under one schedule did."""

    schedule: Schedule
    value: Any
    error: BaseException | None
    timeline: tuple[TimelineEntry, ...]
    events: tuple[StateEvent, ...] = ()


def execute(target: Callable[[], Any], strategy: Strategy, record: bool = False) -> Execution:
    """Call ``target()`` once with every flow run following ``strategy``; see the module docs."""
    schedule = Schedule(strategy)
    runner = DeterministicTaskRunner(schedule=schedule)
    timeline: list[TimelineEntry] = []
    recorded: list[StateEvent] = []
    value: Any = None
    error: BaseException | None = None
    with override_task_runner(runner), _recording(timeline, recorded, record):
        try:
            value = _call(target)
        except Exception as failure:  # the outcome under study, whatever it is
            error = failure
    return Execution(schedule, value, error, tuple(timeline), tuple(recorded))


def check_deterministic(
    target: Callable[[], Any], *, seed: int | None = 0, runs: int = 2
) -> tuple[TimelineEntry, ...]:
    """Execute ``target`` ``runs`` times under the schedule of ``seed``; the timeline when all
    runs agree, else `NondeterminismError` naming the first difference."""
    first = execute(target, strategy_for_seed(seed), record=True)
    for number in range(2, runs + 1):
        other = execute(target, strategy_for_seed(seed), record=True)
        _compare(first, other, number, first.schedule.token())
    return first.timeline


def _compare(first: Execution, other: Execution, number: int, token: str) -> None:
    outcome = (type(first.error), str(first.error)), (type(other.error), str(other.error))
    if first.timeline == other.timeline and outcome[0] == outcome[1]:
        return
    index = next(
        (
            i
            for i, pair in enumerate(zip(first.timeline, other.timeline, strict=False))
            if pair[0] != pair[1]
        ),
        min(len(first.timeline), len(other.timeline)),
    )
    ran = [_entry(first.timeline, index), _entry(other.timeline, index)]
    if first.timeline == other.timeline:
        ran = [
            printable(f"{outcome[0][0].__name__}: {outcome[0][1]}"),
            printable(f"{outcome[1][0].__name__}: {outcome[1][1]}"),
        ]
        where = "the timelines agree but the outcomes differ"
    else:
        where = f"the timelines differ first at transition {index}"
    raise NondeterminismError(
        f"schedule {token} is not deterministic: run 1 and run {number} differ; {where}:\n"
        f"  run 1:        {ran[0]}\n  run {number}:{' ' * (8 - len(str(number)))}{ran[1]}\n"
        "Something the deterministic runner does not control changes the outcome: real "
        "threads, the wall clock, unseeded randomness, or state kept between calls."
    )


def _entry(timeline: tuple[TimelineEntry, ...], index: int) -> str:
    return repr(timeline[index]) if index < len(timeline) else "(no more transitions)"


class _recording:
    def __init__(
        self, timeline: list[TimelineEntry], recorded: list[StateEvent], active: bool
    ) -> None:
        self.timeline, self.recorded, self.active = timeline, recorded, active
        self.subscription: events.Subscription | None = None

    def __enter__(self) -> None:
        if self.active:
            self.subscription = events.subscribe(self._record)

    def __exit__(self, *exc_info: object) -> None:
        if self.subscription is not None:
            self.subscription.close()

    def _record(self, event: StateEvent) -> None:
        self.recorded.append(event)
        run = event.name if event.kind == "flow" else event.run_name
        state = event.state
        self.timeline.append((run, state.type.value, state.name, event.timestamp_ns))


def _call(target: Callable[[], Any]) -> Any:
    value = target()
    if inspect.isawaitable(value):
        value = asyncio.run(_await(value))
    if isinstance(value, State) and not value.is_completed():
        value.result()  # raises the failure
    return value


async def _await(awaitable: Any) -> Any:
    return await awaitable
