"""pytest plugin: seeds for the deterministic runner, replay tokens, and exploring schedules.

Options (each with an ini twin; the command line wins):

- ``--flow-seed=N`` (ini ``flow_seed``): the session seed. ``last`` reuses
  the previous session's, kept in pytest's cache. Without it a seed is drawn
  once per session, in `pytest_configure`, and handed to pytest-xdist
  workers, so every worker uses it. Each test's own seed (`seed_for`) is
  derived from the session seed and its node id: a test's schedule does not
  depend on which other tests ran.
- ``--flow-replay=TOKEN`` (ini ``flow_replay``): run each selected test once,
  with its flows under the schedule the token names (from a failure report);
  tests marked ``flow_concurrent`` are skipped, as under the deterministic
  runner.

Marker ``@pytest.mark.flow_explore(schedules=200, strategy="random",
depth=3, bound=1000, seed=None, shrink=True, check_determinism=False)`` runs
a (sync) test under many schedules with `pytest_flows.explore`; it fails at
the first failing schedule with its replay token. Fixtures are set up once
for all schedules. A failing test that ran under the deterministic runner,
or under a replayed or explored schedule, gets a report section with the
command line that replays it::

    ------------------------------ flows replay ------------------------------
    pytest 'tests/test_race.py::test_counter' --flow-replay=choices-01

Fixture ``flow_virtual_time``: while a test freezes time with freezegun,
each move of a virtual clock moves the frozen clock too, so tasks reading
``datetime.now()`` or ``time.time()`` see virtual time pass.
"""

from __future__ import annotations

import datetime
import hashlib
import inspect
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_flows.deterministic.exploration import STRATEGIES, ScheduleFailed, explore, replay
from pytest_flows.deterministic.schedules import InvalidToken, strategy_from_token
from pytest_flows.deterministic.virtual_clock import on_advance
from pytest_flows.printable import printable
from pytest_flows.runner_choice import concurrent_skip_reason
from pytest_flows.timeline.timeline import Timeline

__all__ = ["failing_schedule_timeline", "seed_for", "session_seed"]

CACHE_KEY = "flows/seed"
_SEED = pytest.StashKey[int]()
_SEEDED_TESTS = pytest.StashKey[set[str]]()
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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flows")
    group.addoption(
        "--flow-seed",
        dest="flow_seed",
        metavar="N|last",
        default=None,
        help="session seed of the deterministic runner ('last': the previous session's)",
    )
    group.addoption(
        "--flow-replay",
        dest="flow_replay",
        metavar="TOKEN",
        default=None,
        help="run each test once under the schedule a replay token names",
    )
    parser.addini("flow_seed", "default for --flow-seed", default=None)
    parser.addini("flow_replay", "default for --flow-replay", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "flow_explore(schedules=200, strategy='random', depth=3, bound=1000, seed=None): "
        "run this test's flows under many schedules of the deterministic runner",
    )
    config.stash[_SEEDED_TESTS] = set()
    config.stash[_CUT_SEARCHES] = []
    config.stash[_SEED] = _resolve_seed(config)
    token = _replay_token(config)
    if token is not None:
        try:
            strategy_from_token(token)
        except InvalidToken as error:
            raise pytest.UsageError(f"--flow-replay: {error}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker uses the controller's session seed."""
    node.workerinput["flow_seed"] = session_seed(node.config)


def session_seed(config: pytest.Config) -> int:
    """The session seed of the deterministic runner (resolved once, in `pytest_configure`)."""
    if _SEED not in config.stash:
        config.stash[_SEED] = _resolve_seed(config)
    return config.stash[_SEED]


def seed_for(config: pytest.Config, nodeid: str) -> int:
    """The seed of one test: derived from the session seed and ``nodeid`` alone.

    >>> int.from_bytes(hashlib.sha256(b"7:tests/test_a.py::test_b").digest()[:4], "big")
    1853212740
    """
    if _SEEDED_TESTS in config.stash:
        config.stash[_SEEDED_TESTS].add(nodeid)
    digest = hashlib.sha256(f"{session_seed(config)}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _resolve_seed(config: pytest.Config) -> int:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "flow_seed" in workerinput:
        return int(workerinput["flow_seed"])
    value = config.getoption("flow_seed") or config.getini("flow_seed")
    if not value:
        seed = secrets.randbelow(10**6)
    elif str(value).strip() == "last":
        seed = _last_seed(config)
    else:
        try:
            seed = int(str(value).strip())
        except ValueError:
            raise pytest.UsageError(
                f"--flow-seed must be an integer or 'last', got {value!r}"
            ) from None
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if workerinput is None and cache is not None:
        cache.set(CACHE_KEY, seed)
    return seed


def _last_seed(config: pytest.Config) -> int:
    cache = getattr(config, "cache", None)
    cached = cache.get(CACHE_KEY, None) if cache is not None else None
    if not isinstance(cached, int):
        raise pytest.UsageError(
            "--flow-seed=last reuses the previous session's seed from pytest's cache, and none "
            "is there (first run, cache cleared, or -p no:cacheprovider); run once without it"
        )
    return cached


def _replay_token(config: pytest.Config) -> str | None:
    value = config.getoption("flow_replay") or config.getini("flow_replay")
    return str(value).strip() if value else None


# --- running a test under other schedules ---------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``--flow-replay`` runs flows one at a time: skip tests that need runs to overlap."""
    marker = item.get_closest_marker("flow_concurrent")
    if marker is not None and _replay_token(item.config) is not None:
        pytest.skip(concurrent_skip_reason("deterministic", marker))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    __tracebackhide__ = True
    marker = pyfuncitem.get_closest_marker("flow_explore")
    token = _replay_token(pyfuncitem.config)
    if marker is None and token is None:
        return None
    target = _sync_target(pyfuncitem)
    if token is not None:
        pyfuncitem.stash[_REPLAY_TOKEN] = token
        replay(token, target)
        return True
    assert marker is not None
    options = _explore_options(marker, pyfuncitem)
    try:
        result = explore(target, **options)
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


def failing_schedule_timeline(item: pytest.Item) -> Timeline | None:
    """The runs of the schedule an explored test failed under (None if it did not)."""
    return item.stash.get(_FAILING_SCHEDULE, None)


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


# --- reporting -------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        fragment = _replay_fragment(item)
        if fragment is not None:
            report.sections.append(("flows replay", printable(fragment)))
    return report


def _replay_fragment(item: pytest.Item) -> str | None:
    """The command line that replays a failed test, if its flows ran on a seeded schedule."""
    quoted = f"pytest '{item.nodeid}'"
    token = item.stash.get(_REPLAY_TOKEN, None)
    if token is not None:
        return f"{quoted} --flow-replay={token}"
    if item.nodeid not in item.config.stash.get(_SEEDED_TESTS, set()):
        return None
    runner = item.config.getoption("flow_runner", None) or "deterministic"
    runner_option = f" --flow-runner={runner}" if runner in ("deterministic", "all") else ""
    return f"{quoted}{runner_option} --flow-seed={session_seed(item.config)}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash.get(_CUT_SEARCHES, []):
        terminalreporter.write_line(f"flows: {printable(line)}")


# --- freezegun -------------------------------------------------------------------


@pytest.fixture
def flow_virtual_time() -> Iterator[None]:
    """Make a time frozen by freezegun move with the deterministic runner's virtual clock.

    def test_stamps_follow_virtual_time(flow_virtual_time):
        with freezegun.freeze_time("2024-01-01"):
            stamped_flow()   # tasks read datetime.now(): 60 s apart across a retry
    """
    try:
        from freezegun import api as freezegun_api
    except ImportError:
        pytest.fail("flow_virtual_time needs freezegun: pip install freezegun", pytrace=False)

    def follow(delta_ns: int) -> None:
        factories = freezegun_api.freeze_factories
        if factories:
            factories[-1].tick(datetime.timedelta(microseconds=delta_ns / 1000))

    remove = on_advance(follow)
    try:
        yield
    finally:
        remove()
