"""Running a test under other schedules: the ``flow_explore`` marker and ``--flow-replay``.

- ``--flow-replay=TOKEN`` (ini ``flow_replay``): run each selected test once,
  with its flows under the schedule the token names (from a failure report);
  tests marked ``flow_concurrent`` are skipped, as under the deterministic
  runner.
- ``@pytest.mark.flow_explore(schedules=200, strategy="random", depth=3,
  bound=1000, seed=None, shrink=True, check_determinism=False)`` runs a
  (sync) test under many schedules with `pytest_flows.explore`; it fails at
  the first failing schedule with its replay token. Fixtures are set up once
  for all schedules.

Each schedule's runs are recorded apart (`ScheduleTimelines`), never
overlaid on one axis: `replay_token_of(item)` and `explored_timelines(item)`
tell the reports what to show (the failing schedule's runs, else the last
schedule's) and the peak parallelism of any one schedule;
`cut_searches(config)` lists explorations cut short by their bound.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from flowcore.events import subscribe
from pytest_flows.deterministic.exploration import STRATEGIES, ScheduleFailed, explore, replay
from pytest_flows.deterministic.runner import DeterministicTaskRunner
from pytest_flows.deterministic.schedules import InvalidToken, strategy_from_token
from pytest_flows.plugin.options import replay_token
from pytest_flows.plugin.runner_choice import concurrent_skip_reason
from pytest_flows.plugin.seeds import seed_for
from pytest_flows.timeline.timeline import Timeline

__all__ = ["ScheduleTimelines", "cut_searches", "explored_timelines", "replay_token_of"]

_REPLAY_TOKEN = pytest.StashKey[str]()
_CUT_SEARCHES = pytest.StashKey[list[str]]()
_SCHEDULES = pytest.StashKey["ScheduleTimelines"]()
_EXPLORE_OPTIONS = (
    "schedules",
    "strategy",
    "depth",
    "bound",
    "seed",
    "shrink",
    "check_determinism",
)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CUT_SEARCHES] = []
    token = replay_token(config)
    if token is not None:
        try:
            strategy_from_token(token)
        except InvalidToken as error:
            raise pytest.UsageError(f"--flow-replay: {error}") from None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``--flow-replay`` runs flows one at a time: skip tests that need runs to overlap."""
    marker = item.get_closest_marker("flow_concurrent")
    if marker is not None and replay_token(item.config) is not None:
        pytest.skip(concurrent_skip_reason(DeterministicTaskRunner.name, marker))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    __tracebackhide__ = True
    marker = pyfuncitem.get_closest_marker("flow_explore")
    token = replay_token(pyfuncitem.config)
    if token is not None:
        pyfuncitem.stash[_REPLAY_TOKEN] = token
        replay(token, _sync_target(pyfuncitem))
        return True
    if marker is None:
        return None
    options = _explore_options(marker, pyfuncitem)
    schedules = pyfuncitem.stash[_SCHEDULES] = ScheduleTimelines()
    try:
        result = explore(schedules.recording(_sync_target(pyfuncitem)), **options)
    except ScheduleFailed as failed:
        failure = failed.exploration.failure
        if failure is not None:
            pyfuncitem.stash[_REPLAY_TOKEN] = failure.token
            schedules.failing = Timeline.from_events(failure.events)
        raise
    if result.cut_by_bound:
        pyfuncitem.config.stash[_CUT_SEARCHES].append(f"{pyfuncitem.nodeid}: {result.summary()}")
    return True


def _sync_target(item: pytest.Function) -> Callable[[], Any]:
    """The test function, called with its fixtures' values; TypeError for an async test."""
    function = item.obj
    if inspect.iscoroutinefunction(function):
        raise TypeError(
            f"{item.name} is async; flow_explore and --flow-replay run sync test "
            "functions. Make it sync and run async flows inside it with asyncio.run(...)"
        )
    parameters = inspect.signature(function).parameters
    arguments = {name: item.funcargs[name] for name in parameters if name in item.funcargs}

    def target() -> Any:
        __tracebackhide__ = True
        return function(**arguments)

    return target


def _explore_options(marker: pytest.Mark, item: pytest.Function) -> dict[str, Any]:
    if marker.args:
        raise pytest.UsageError(
            f"flow_explore takes keyword arguments only ({', '.join(_EXPLORE_OPTIONS)}), "
            f"got positional {marker.args!r} on {item.nodeid}"
        )
    unknown = sorted(set(marker.kwargs) - set(_EXPLORE_OPTIONS))
    if unknown:
        raise pytest.UsageError(
            f"flow_explore got unknown argument(s) {', '.join(unknown)} on {item.nodeid}. "
            f"Valid: {', '.join(_EXPLORE_OPTIONS)}"
        )
    options = dict(marker.kwargs)
    if options.get("strategy", "random") not in STRATEGIES:
        raise pytest.UsageError(
            f"flow_explore strategy {options['strategy']!r} on {item.nodeid} is not a strategy. "
            f"Valid: {', '.join(STRATEGIES)}"
        )
    if options.get("seed") is None:
        options["seed"] = seed_for(item.config, item.nodeid)
    return options


def replay_token_of(item: pytest.Item) -> str | None:
    """The token of the schedule the test ran (replayed) or failed (explored) under."""
    return item.stash.get(_REPLAY_TOKEN, None)


def explored_timelines(item: pytest.Item) -> ScheduleTimelines | None:
    """The per-schedule timelines of an explored test (None if it was not explored)."""
    return item.stash.get(_SCHEDULES, None)


class ScheduleTimelines:
    """An exploration's runs, one schedule at a time.

    ``recording(target)`` wraps the test so that each call (one schedule)
    records into a fresh `Timeline`; only the last is kept, with the highest
    peak parallelism of any one schedule; ``count`` is how many ran (the
    replays of a failing one included). ``failing`` is the failing
    schedule's replay, set when one failed.
    """

    def __init__(self) -> None:
        self.count = 0
        self.last: Timeline | None = None
        self.failing: Timeline | None = None
        self._earlier_peak = 0

    def recording(self, target: Callable[[], Any]) -> Callable[[], Any]:
        def one_schedule() -> Any:
            __tracebackhide__ = True
            if self.last is not None:
                self._earlier_peak = max(self._earlier_peak, self.last.peak_concurrency())
            self.count += 1
            self.last = Timeline()
            with subscribe(self.last.record):
                return target()

        return one_schedule

    @property
    def shown(self) -> Timeline | None:
        """The schedule a report shows: the failing one, else the last one run."""
        return self.failing or self.last

    @property
    def peak(self) -> int:
        """The most runs that ran at once within any one schedule."""
        last = self.last.peak_concurrency() if self.last is not None else 0
        return max(self._earlier_peak, last)

    def caption(self) -> str:
        """Which schedule's runs a picture shows, out of how many."""
        which = "the failing schedule" if self.failing is not None else "the last schedule"
        return f"runs of {which} alone (each schedule on its own axis)"


def cut_searches(config: pytest.Config) -> list[str]:
    """One line per explored test whose search its ``bound`` cut short."""
    return config.stash.get(_CUT_SEARCHES, [])
