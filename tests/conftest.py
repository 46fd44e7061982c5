"""Shared fixtures for flowcore's tests: every runner, one Dask cluster, recorded events.

- ``runner``: parametrized over flowcore's runners (`RUNNER_NAMES`); a fresh
  runner instance per test. The Dask one talks to the plugin's session
  LocalCluster (its ``dask_cluster`` fixture), started once per process.
- ``make_runner(name)``: the same runners on demand.
- ``events``: an `EventLog` subscribed to flowcore's events for the test.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowcore import StateEvent, StateType, subscribe
from flowcore.task_runners import (
    RUNNER_NAMES,
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskRunner,
)

NON_SEQUENTIAL = tuple(name for name in RUNNER_NAMES if name != SequentialTaskRunner.name)


class EventLog:
    """The StateEvents published while a test runs, with small queries over them."""

    def __init__(self) -> None:
        self.events: list[StateEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: StateEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, run_name: str, kind: str = "task") -> list[StateEvent]:
        found = [e for e in self.events if e.run_name == run_name and e.kind == kind]
        assert found, f"no events for {kind} run {run_name!r}; runs: {self.run_names(kind)}"
        return found

    def run_names(self, kind: str = "task") -> list[str]:
        names: list[str] = []
        for event in self.events:
            if event.kind == kind and event.run_name not in names:
                names.append(event.run_name)
        return names

    def state_names(self, run_name: str, kind: str = "task") -> list[str]:
        return [event.state.name for event in self.of(run_name, kind)]

    def state_types(self, run_name: str, kind: str = "task") -> list[StateType]:
        return [event.state.type for event in self.of(run_name, kind)]

    def running_interval(self, run_name: str, kind: str = "task") -> tuple[int, int]:
        """From the first RUNNING transition to the final one, in ns."""
        runs = self.of(run_name, kind)
        start = next(e.timestamp_ns for e in runs if e.state.type is StateType.RUNNING)
        end = next(e.timestamp_ns for e in runs if e.state.type.is_final)
        return start, end

    def overlap(self, first: str, second: str, kind: str = "task") -> bool:
        a_start, a_end = self.running_interval(first, kind)
        b_start, b_end = self.running_interval(second, kind)
        return a_start < b_end and b_start < a_end

    def max_concurrency(self, kind: str = "task") -> int:
        """Most runs of ``kind`` RUNNING at one time."""
        points: list[tuple[int, int]] = []
        for name in self.run_names(kind):
            runs = self.of(name, kind)
            if not any(e.state.type is StateType.RUNNING for e in runs):
                continue
            start, end = self.running_interval(name, kind)
            points += [(start, 1), (end, -1)]
        current = peak = 0
        for _, step in sorted(points, key=lambda point: (point[0], point[1])):
            current += step
            peak = max(peak, current)
        return peak


@pytest.fixture
def events() -> Iterator[EventLog]:
    log = EventLog()
    with subscribe(log):
        yield log


def _pickle_test_module_by_value(request: pytest.FixtureRequest) -> None:
    """Tasks defined in a test module must unpickle on workers that cannot import it."""
    import cloudpickle

    module = sys.modules[request.module.__name__]
    cloudpickle.register_pickle_by_value(module)


@pytest.fixture
def make_runner(request: pytest.FixtureRequest) -> Callable[[str], TaskRunner]:
    def make(name: str) -> TaskRunner:
        if name == "sequential":
            return SequentialTaskRunner()
        if name == "concurrent":
            return ConcurrentTaskRunner()
        if name == "async":
            return AsyncTaskRunner()
        if name == "dask":
            from flowcore.task_runners import DaskTaskRunner

            pytest.importorskip("distributed")
            cluster = request.getfixturevalue("dask_cluster")
            _pickle_test_module_by_value(request)
            # Pushing outcomes, as under --flow-runner=dask (tests/test_dask_pushes.py runs
            # flows both ways): the test cluster lives no longer than this session.
            return DaskTaskRunner(address=cluster.scheduler_address, push_outcomes=True)
        raise ValueError(f"unknown runner {name!r}")

    return make


@pytest.fixture(params=RUNNER_NAMES)
def runner_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runner(runner_name: str, make_runner: Callable[[str], TaskRunner]) -> TaskRunner:
    return make_runner(runner_name)


@contextlib.contextmanager
def switching_threads_often() -> Iterator[None]:
    """Threads switch every few bytecodes meanwhile: a race between them shows at once."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.fixture(scope="module")
def fragile_cluster() -> Iterator[Any]:
    """One single-threaded worker behind a Nanny; a killed task is not rerun by Dask."""
    distributed = pytest.importorskip("distributed")
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        )
    try:
        yield cluster
    finally:
        cluster.close()
