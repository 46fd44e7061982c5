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

`replay_token_of(item)` and `failing_schedule_timeline(item)` tell the
reports what to show; `cut_searches(config)` lists explorations cut short by
their bound.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from pytest_flows.deterministic.exploration import STRATEGIES, ScheduleFailed, explore, replay
from pytest_flows.deterministic.runner import DeterministicTaskRunner
from pytest_flows.deterministic.schedules import InvalidToken, strategy_from_token
from pytest_flows.plugin.options import replay_token
from pytest_flows.plugin.runner_choice import concurrent_skip_reason
from pytest_flows.plugin.seeds import seed_for
from pytest_flows.timeline.timeline import Timeline

__all__ = ["cut_searches", "failing_schedule_timeline", "replay_token_of"]

_REPLAY_TOKEN = pytest.StashKey[str]()
_CUT_SEARCHES = pytest.StashKey[list[str]]()
_FAILING_SCHEDULE = pytest.StashKey[Timeline]()
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
    try:
        result = explore(_sync_target(pyfuncitem), **options)
    except ScheduleFailed as failed:
        failure = failed.exploration.failure
        if failure is not None:
            pyfuncitem.stash[_REPLAY_TOKEN] = failure.token
            pyfuncitem.stash[_FAILING_SCHEDULE] = Timeline.from_events(failure.events)
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


def failing_schedule_timeline(item: pytest.Item) -> Timeline | None:
    """The runs of the schedule an explored test failed under (None if it did not)."""
    return item.stash.get(_FAILING_SCHEDULE, None)


def cut_searches(config: pytest.Config) -> list[str]:
    """One line per explored test whose search its ``bound`` cut short."""
    return config.stash.get(_CUT_SEARCHES, [])
