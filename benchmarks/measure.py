"""Timing: run candidates interleaved, many times, and summarise as median and range.

Candidates measured against each other are run in turns (a, b, a, b, ...)
rather than one after the other, so drift in machine load hits them alike.

    >>> samples = interleaved({"fast": lambda: None, "slow": lambda: sum(range(100))}, repeats=3)
    >>> samples["fast"].count
    3
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Sample", "interleaved", "time_once"]


@dataclass(frozen=True)
class Sample:
    """A summary of repeated measurements: median, min, max and how many."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Sample:
        values = list(values)
        if not values:
            raise ValueError("Sample.of() needs at least one value, got none")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def scaled(self, factor: float) -> Sample:
        """The same sample in another unit (``factor`` times every value)."""
        return Sample(self.median * factor, self.low * factor, self.high * factor, self.count)

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "count": self.count}


def time_once(function: Callable[[], object]) -> float:
    """Seconds one call of ``function`` takes, after a garbage collection."""
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def collector_off(function: Callable[[], object]) -> Callable[[], object]:
    """``function`` with Python's garbage collector off while it runs: set beside the
    same call with it on, shows what the collector's walks of live objects cost."""

    def call() -> object:
        gc.disable()
        try:
            return function()
        finally:
            gc.enable()

    return call


def interleaved(
    candidates: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Sample]:
    """Seconds per call of each candidate, timed in turns ``repeats`` times after ``warmup``."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        for function in candidates.values():
            function()
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, function in candidates.items():
            seconds[name].append(time_once(function))
    return {name: Sample.of(values) for name, values in seconds.items()}
