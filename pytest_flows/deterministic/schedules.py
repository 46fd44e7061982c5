"""Schedules: who decides which ready step runs next, and the record of what was decided.

At every step the deterministic event loop has a list of ready steps (a run
to start, a coroutine to resume). When there is more than one, it asks the
`Schedule`, which asks its strategy:

- `InOrder`: always the first (submission order, FIFO wake-ups);
- `Seeded(seed)`: uniformly at random from a seeded generator;
- `Pct(seed, depth, steps)`: probabilistic concurrency testing: random
  priorities per run, lowered at ``depth - 1`` random decision points;
- `Replay(choices)`: exactly the given choices, then in order.

The schedule records each decision (the index chosen and how many there
were), so any execution can be replayed from its choices alone. A
`token()` names a schedule in a few characters, and `strategy_from_token`
turns a token back into a strategy:

    >>> Seeded(1234).token()
    'random-1234'
    >>> strategy_from_token("choices-0102").choices
    (0, 1, 0, 2)

Each step belongs to a run (the label ``PROCESS_LABEL`` carries in the
step's context: the run name, or ``"flow"``); PCT gives priorities per label.
"""

from __future__ import annotations

import _random
import contextvars
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pytest_flows.deterministic.asyncio_adapter import step_value
from pytest_flows.deterministic.virtual_clock import VirtualClock

__all__ = [
    "PROCESS_LABEL",
    "InOrder",
    "InvalidToken",
    "Pct",
    "Replay",
    "Schedule",
    "Seeded",
    "Strategy",
    "strategy_for_seed",
    "strategy_from_token",
]

PROCESS_LABEL: contextvars.ContextVar[str] = contextvars.ContextVar(
    "pytest_flows_process", default="flow"
)
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class InvalidToken(ValueError):
    """A replay token that does not name a schedule."""


class Strategy(Protocol):
    def choose(self, ready: Sequence[Any], decision: int) -> int:
        """The index in ``ready`` (two or more steps) of the step to run at ``decision``."""
        ...

    def token(self) -> str:
        """The short name of this strategy's schedule (see `strategy_from_token`)."""
        ...


def label_of(step: Any) -> str:
    """The run a ready step belongs to (an `asyncio.Handle`'s context label)."""
    return step_value(step, PROCESS_LABEL, "flow")  # type: ignore[no-any-return]


class InOrder:
    """Always the first ready step: submission order."""

    def choose(self, ready: Sequence[Any], decision: int) -> int:
        return 0

    def token(self) -> str:
        return "inorder"


class Seeded:
    """A uniformly random ready step, from ``random.Random(seed)``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        # Seeded at the first decision: a runner that only hands its seed on (the template
        # a flow run duplicates), or a flow with nothing to choose, never pays for it. The
        # C generator `random.Random` is built on, seeded by an int exactly as it is: the
        # same draws, without the Python layer's seed() in between.
        self._random: _random.Random | None = None

    def choose(self, ready: Sequence[Any], decision: int) -> int:
        return int(self.uniform() * len(ready))

    @property
    def uniform(self) -> Callable[[], float]:
        """The generator's ``random()``, drawn from for every choice: the event loop draws
        from it itself, one C call per decision instead of a call of `choose`."""
        generator = self._random
        if generator is None:
            generator = self._random = _random.Random(self.seed)
        return generator.random

    def token(self) -> str:
        return f"random-{self.seed}"


class Pct:
    """Probabilistic concurrency testing (Burckhardt et al., 2010).

    Each run gets a random priority when first seen; the highest-priority
    ready run goes next. At ``depth - 1`` decisions drawn among the first
    ``steps`` the run about to go is pushed below every other. A bug that
    needs ``depth`` ordering constraints is found with probability at least
    1 / (runs * steps ** (depth - 1)) per schedule.
    """

    def __init__(self, seed: int, depth: int, steps: int) -> None:
        self.seed, self.depth, self.steps = seed, depth, steps
        self._random = random.Random(seed)
        span = range(max(steps, 1))
        count = min(max(depth - 1, 0), len(span))
        points = sorted(self._random.sample(span, count))
        self._change_points = {point: rank for rank, point in enumerate(points)}
        self._priority: dict[str, float] = {}

    def choose(self, ready: Sequence[Any], decision: int) -> int:
        labels = [label_of(step) for step in ready]
        for label in labels:
            if label not in self._priority:
                self._priority[label] = self.depth + self._random.random()
        best = max(labels, key=self._priority.__getitem__)
        rank = self._change_points.get(decision)
        if rank is not None:
            self._priority[best] = rank / max(self.depth, 1)
            best = max(labels, key=self._priority.__getitem__)
        return labels.index(best)

    def token(self) -> str:
        return f"pct-{self.depth}-{self.steps}-{self.seed}"


class Replay:
    """Exactly ``choices`` at the first decisions, then the first ready step."""

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = tuple(choices)

    def choose(self, ready: Sequence[Any], decision: int) -> int:
        if decision < len(self.choices):
            return min(self.choices[decision], len(ready) - 1)
        return 0

    def token(self) -> str:
        choices = list(self.choices)
        while choices and choices[-1] == 0:
            choices.pop()
        if not choices:
            return "inorder"
        if all(choice < len(_DIGITS) for choice in choices):
            return "choices-" + "".join(_DIGITS[choice] for choice in choices)
        return "choices-" + ".".join(str(choice) for choice in choices)


def strategy_for_seed(seed: int | None) -> Strategy:
    """In order without a seed, `Seeded` with one."""
    return InOrder() if seed is None else Seeded(seed)


def strategy_from_token(token: str) -> Strategy:
    """The strategy a token names: ``random-N``, ``pct-D-K-N``, ``choices-…`` or ``inorder``."""
    kind, _, rest = token.strip().partition("-")
    try:
        if kind == "inorder" and not rest:
            return InOrder()
        if kind == "random":
            return Seeded(int(rest))
        if kind == "pct":
            depth, steps, seed = (int(part) for part in rest.split("-"))
            return Pct(seed, depth, steps)
        if kind == "choices":
            if "." in rest:
                return Replay([int(part) for part in rest.split(".")])
            return Replay([_DIGITS.index(char) for char in rest])
    except ValueError:
        pass
    raise InvalidToken(
        f"{token!r} is not a replay token. Valid forms: random-SEED, pct-DEPTH-STEPS-SEED, "
        f"choices-DIGITS (base 36), inorder"
    )


class Schedule:
    """One execution's decisions: the strategy that makes them and the record of them.

    Shared by every flow run of one execution (subflows included), with one
    virtual clock. ``decisions`` and ``widths`` list, for each decision, the
    index chosen and the number of ready steps; ``trace`` holds the labels
    of the latest steps run (for error messages).
    """

    def __init__(self, strategy: Strategy | None = None, clock: VirtualClock | None = None) -> None:
        self.strategy: Strategy = strategy if strategy is not None else InOrder()
        self.clock = clock if clock is not None else VirtualClock()
        self.decisions: list[int] = []
        self.widths: list[int] = []
        self.trace: deque[str] = deque(maxlen=40)
        self.steps = 0

    def __repr__(self) -> str:
        return f"<Schedule {self.strategy.token()} decisions={len(self.decisions)}>"

    def pick(self, ready: Sequence[Any]) -> int:
        """The index of the ready step to run next."""
        width = len(ready)
        if width == 1:
            return 0
        choice = self.strategy.choose(ready, len(self.decisions))
        self.decisions.append(choice)
        self.widths.append(width)
        return choice

    def token(self) -> str:
        """The token that replays this execution exactly."""
        return self.strategy.token()

    def choices_token(self) -> str:
        """A token replaying the decisions made so far, whatever the strategy."""
        return Replay(self.decisions).token()

    def preemptions(self) -> int:
        """How many decisions did not take the first ready step."""
        return sum(1 for choice in self.decisions if choice)

    def describe_trace(self) -> str:
        """The latest steps as ``a-0 → b-0 x2 → a-0``."""
        parts: list[str] = []
        previous, count = "", 0
        for label in [*self.trace, ""]:
            if label == previous:
                count += 1
                continue
            if previous:
                parts.append(previous if count == 1 else f"{previous} x{count}")
            previous, count = label, 1
        shown = " → ".join(parts)
        return shown if self.steps <= len(self.trace) else f"… → {shown}"
