"""Exploring interleavings: run a flow, or any callable running flows, under many schedules.

``explore(target)`` calls ``target()`` once per schedule with every flow run
on a `DeterministicTaskRunner` following that schedule, and stops at the
first schedule under which it raises (a flow that fails raises when called).
Strategies:

- ``"random"``: ``schedules`` seeded random schedules;
- ``"pct"``: probabilistic concurrency testing with ``depth``: good at bugs
  that need a few specific orderings among many steps;
- ``"exhaustive"``: every distinct schedule, depth first, for small task
  graphs with few await points; at most ``bound`` schedules, and the
  result says whether the bound cut the search.

A failure is reported with a replay token; shrinking first looks for a
schedule with fewer preemptions that fails the same way. Replay it with
``replay(token, target)`` or ``pytest --flow-replay=TOKEN``:

    >>> import asyncio
    >>> from flowcore import flow, task
    >>> counter = {"value": 0}
    >>> @task
    ... async def increment():
    ...     value = counter["value"]
    ...     await asyncio.sleep(0)              # another task may run here
    ...     counter["value"] = value + 1
    >>> @flow
    ... def two_increments():
    ...     counter["value"] = 0
    ...     increment(), increment()
    >>> def check():
    ...     two_increments()
    ...     assert counter["value"] == 2, f"lost update: {counter['value']}"
    >>> result = explore(check, strategy="exhaustive", raise_on_failure=False)
    >>> result.failure.token   # both read 0 before either writes, even in submission order
    'inorder'
    >>> replay(result.failure.token, check)
    Traceback (most recent call last):
    AssertionError: lost update: 1

`check_deterministic(target)` runs one schedule twice and raises
`NondeterminismError` when the two timelines differ.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowcore.errors import InvalidArgument
from flowcore.events import StateEvent
from pytest_flows.deterministic.executions import (
    Execution,
    NondeterminismError,
    check_deterministic,
    execute,
)
from pytest_flows.deterministic.schedules import Pct, Replay, Seeded, strategy_from_token
from pytest_flows.printable import printable

__all__ = [
    "STRATEGIES",
    "Exploration",
    "Failure",
    "NondeterminismError",
    "ScheduleFailed",
    "check_deterministic",
    "explore",
    "replay",
]

STRATEGIES = ("random", "pct", "exhaustive")
_SHRINK_BUDGET = 200


@dataclass(frozen=True)
class Failure:
    """The first failing schedule: its replay token, its error, and where it was found.

    ``events`` are the state events of the failing schedule's replay alone.
    """

    token: str
    found_token: str
    schedule_number: int
    preemptions: int
    error: BaseException
    trace: str
    events: tuple[StateEvent, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class Exploration:
    """What `explore` did: how many schedules, whether it covered all, the failure if any."""

    strategy: str
    seed: int
    schedules_run: int
    distinct_schedules: int
    complete: bool
    cut_by_bound: bool
    failure: Failure | None

    def summary(self) -> str:
        """One paragraph for a person: what ran, and what to do next."""
        text = (
            f"explored {self.schedules_run} schedule(s) ({self.distinct_schedules} distinct) "
            f"with strategy {self.strategy!r}, seed {self.seed}"
        )
        if self.complete:
            text += "; that is every schedule"
        if self.cut_by_bound:
            text += "; the bound cut the exhaustive search before it covered every schedule"
        failure = self.failure
        if failure is None:
            return text + "; all passed."
        error = failure.error
        text += (
            f"; schedule {failure.schedule_number} failed: "
            f"{printable(f'{type(error).__name__}: {error}')}\n"
            f"Replay it: pytest --flow-replay={failure.token}  (or pytest_flows.replay"
            f"({failure.token!r}, target))"
        )
        if failure.token != failure.found_token:
            text += f"\nShrunk from {failure.found_token} to {failure.preemptions} preemption(s)."
        return text + f"\nSteps: {printable(failure.trace)}"


class ScheduleFailed(AssertionError):
    """A schedule under which the explored target failed; ``exploration`` has the details."""

    def __init__(self, exploration: Exploration) -> None:
        super().__init__(exploration.summary())
        self.exploration = exploration


def explore(
    target: Callable[[], Any],
    *,
    schedules: int = 200,
    strategy: str = "random",
    depth: int = 3,
    seed: int | None = None,
    bound: int = 1000,
    shrink: bool = True,
    check_determinism: bool = False,
    raise_on_failure: bool = True,
) -> Exploration:
    """Call ``target()`` under many schedules; see the module docstring.

    ``target`` takes no arguments (``lambda: my_flow(1, 2)``); it may be an
    async flow or return an awaitable. Raises `ScheduleFailed` (an
    AssertionError) at the first failing schedule unless ``raise_on_failure``
    is false; the returned `Exploration` then carries the failure.
    """
    __tracebackhide__ = True
    _check(schedules, strategy, depth, bound)
    seed = secrets.randbelow(10**6) if seed is None else seed
    if check_determinism:
        check_deterministic(target, seed=seed)
    if strategy == "exhaustive":
        found, run, complete = _exhaustive(target, bound)
    else:
        found, run = _sampled(target, strategy, schedules, depth, seed)
        complete = False
    failure = None
    if found is not None:
        execution, number = found
        failure = _failure(target, execution, number, shrink)
    exploration = Exploration(
        strategy=strategy,
        seed=seed,
        schedules_run=len(run),
        distinct_schedules=len(set(run)),
        complete=complete,
        cut_by_bound=strategy == "exhaustive" and not complete and failure is None,
        failure=failure,
    )
    if failure is not None and raise_on_failure:
        raise ScheduleFailed(exploration) from failure.error
    return exploration


def replay(token: str, target: Callable[[], Any]) -> Any:
    """Call ``target()`` once under the schedule ``token`` names; its value, or its error."""
    __tracebackhide__ = True
    execution = execute(target, strategy_from_token(token))
    if execution.error is not None:
        raise execution.error
    return execution.value


def _check(schedules: int, strategy: str, depth: int, bound: int) -> None:
    if strategy not in STRATEGIES:
        raise InvalidArgument(
            f"{strategy!r} is not an exploration strategy. Valid: {', '.join(STRATEGIES)}"
        )
    for name, value in (("schedules", schedules), ("depth", depth), ("bound", bound)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be an integer >= 1, got {value!r}")


Found = tuple[Execution, int]


def _sampled(
    target: Callable[[], Any], strategy: str, schedules: int, depth: int, seed: int
) -> tuple[Found | None, list[tuple[int, ...]]]:
    run: list[tuple[int, ...]] = []
    steps = 0
    if strategy == "pct":  # PCT picks its change points among the decisions of a typical run
        steps = len(execute(target, Replay(())).schedule.decisions)
    for number in range(schedules):
        chooser = (
            Seeded(seed + number) if strategy == "random" else Pct(seed + number, depth, steps)
        )
        execution = execute(target, chooser)
        run.append(tuple(execution.schedule.decisions))
        if execution.error is not None:
            return (execution, number + 1), run
    return None, run


def _exhaustive(
    target: Callable[[], Any], bound: int
) -> tuple[Found | None, list[tuple[int, ...]], bool]:
    run: list[tuple[int, ...]] = []
    prefix: list[int] = []
    while len(run) < bound:
        execution = execute(target, Replay(prefix))
        decisions, widths = execution.schedule.decisions, execution.schedule.widths
        run.append(tuple(decisions))
        if execution.error is not None:
            return (execution, len(run)), run, False
        position = len(decisions) - 1
        while position >= 0 and decisions[position] >= widths[position] - 1:
            position -= 1
        if position < 0:
            return None, run, True
        prefix = [*decisions[:position], decisions[position] + 1]
    return None, run, False


def _failure(target: Callable[[], Any], found: Execution, number: int, shrink: bool) -> Failure:
    best = _shrink(target, found) if shrink else found
    token = best.schedule.token() if best is found else best.schedule.choices_token()
    again = execute(target, strategy_from_token(token), record=True)
    if again.error is None:
        raise NondeterminismError(
            f"schedule {token} failed once ({type(best.error).__name__}: {best.error}) and "
            "passed when replayed: the target does something the deterministic runner does "
            "not control (real threads, the wall clock, unseeded randomness, or state kept "
            "between calls)"
        ) from best.error
    assert best.error is not None
    return Failure(
        token=token,
        found_token=found.schedule.token(),
        schedule_number=number,
        preemptions=best.schedule.preemptions(),
        error=best.error,
        trace=best.schedule.describe_trace(),
        events=again.events,
    )


def _shrink(target: Callable[[], Any], found: Execution) -> Execution:
    """A failing schedule with fewer preemptions (choices other than the first ready step)
    that fails with the same kind of error: drop the later preemptions, undo single ones,
    then try every schedule with a single preemption, within a budget of executions."""
    shrinker = _Shrinker(target, found)
    improved = True
    while improved and shrinker.budget > 0:
        decisions = shrinker.best.schedule.decisions
        preempted = [i for i, choice in enumerate(decisions) if choice]
        improved = any(shrinker.attempt(decisions[:i]) for i in preempted) or any(
            shrinker.attempt([*decisions[:i], 0, *decisions[i + 1 :]]) for i in preempted
        )
    if shrinker.best.schedule.preemptions() > 1:
        widths = execute(target, Replay(())).schedule.widths
        any(
            shrinker.attempt([0] * position + [choice])
            for position, width in enumerate(widths)
            for choice in range(1, width)
        )
    return shrinker.best


class _Shrinker:
    def __init__(self, target: Callable[[], Any], found: Execution) -> None:
        self.target, self.best, self.kind = target, found, type(found.error)
        self.budget = _SHRINK_BUDGET

    def attempt(self, choices: list[int]) -> bool:
        """Execute ``choices``; keep them if they fail alike with fewer preemptions."""
        if self.budget <= 0:
            return False
        self.budget -= 1
        candidate = execute(self.target, Replay(choices))
        fewer = candidate.schedule.preemptions() < self.best.schedule.preemptions()
        if isinstance(candidate.error, self.kind) and fewer:
            self.best = candidate
            return True
        return False
