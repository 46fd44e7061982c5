"""The pytest plugin: rerun flow tests under any runner, record their timelines.

Options (each with an ini twin):

- ``--flow-runner=NAME`` (ini ``flow_runner``, env ``PYTEST_FLOW_RUNNER``):
  every flow run in the session uses that runner; ``all`` runs each flow
  test once per runner (``test_x[dask]``).
- ``--dask-address=tcp://HOST:PORT`` (ini ``dask_address``): Dask runs go to
  that scheduler instead of the session's own LocalCluster.

Markers: ``flow_runner("sequential")`` pins a test or module to a runner
(``flow_runner("all")``: once per runner);
``flow_concurrent(reason)`` marks a test that needs runs to overlap (skipped
under the sequential and deterministic runners).

Fixtures: ``flow_runner`` (the runner in force, or None when flows keep
their own), ``flow_timeline`` (every run of the test, see
`pytest_flows.timeline.Timeline`), ``dask_cluster`` and ``dask_client``.

Each test's runs are recorded through flowcore's event seam; a failing test
that recorded runs gets a "flow timeline" section in its report (for a
``flow_explore`` test, the failing schedule's runs alone). Everything the
plugin prints is `pytest_flows.printable.printable`: names and messages from
user code never reach the terminal with their control characters raw.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from flowcore import Flow, Task
from flowcore.context import restart_run_names
from flowcore.events import subscribe
from flowcore.task_runners import TaskRunner, override_task_runner
from pytest_flows.dask_session import DaskSession, SessionDaskRunner, ship_test_modules
from pytest_flows.printable import printable
from pytest_flows.runner_choice import (
    ALL,
    ENVIRONMENT_VARIABLE,
    RUNNER_NAMES,
    build_runner,
    check_runner_name,
    concurrent_skip_reason,
)
from pytest_flows.seeding import failing_schedule_timeline, seed_for, session_seed
from pytest_flows.timeline.timeline import Timeline

_FIXTURES = {"flow_runner", "flow_timeline", "dask_cluster", "dask_client"}
# Runners under which no two task runs execute at the same time.
_ONE_AT_A_TIME = ("sequential", "deterministic")
_TIMELINE_KEY = pytest.StashKey[Timeline]()
_RUNNER_KEY = pytest.StashKey[str | None]()
_DASK_KEY = pytest.StashKey[DaskSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flows", "flowcore flows")
    group.addoption(
        "--flow-runner",
        dest="flow_runner",
        default=None,
        help=f"run every flow with this task runner: {', '.join(RUNNER_NAMES)}, all "
        f"(each flow test once per runner) or module:Class. Env: {ENVIRONMENT_VARIABLE}.",
    )
    group.addoption(
        "--dask-address",
        dest="dask_address",
        default=None,
        help="run Dask flows on the scheduler at this address (tcp://HOST:PORT) "
        "instead of a LocalCluster started for the session.",
    )
    parser.addini("flow_runner", "default for --flow-runner", default=None)
    parser.addini("dask_address", "default for --dask-address", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "flow_runner(name): run this test's flows with the named task runner"
    )
    config.addinivalue_line(
        "markers",
        "flow_concurrent(reason): the test needs task runs to overlap; it is skipped "
        "under the sequential and deterministic runners",
    )
    name = _configured_runner(config)
    if name is not None:
        try:
            check_runner_name(name)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    config.stash[_RUNNER_KEY] = name
    address = config.getoption("dask_address") or config.getini("dask_address") or None
    config.stash[_DASK_KEY] = DaskSession(address)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_DASK_KEY, None)
    if session is not None:
        session.close()


def _configured_runner(config: pytest.Config) -> str | None:
    value = (
        config.getoption("flow_runner")
        or os.environ.get(ENVIRONMENT_VARIABLE)
        or config.getini("flow_runner")
    )
    return str(value) if value else None


def pytest_report_header(config: pytest.Config) -> str:
    return printable(_header(config))


def _header(config: pytest.Config) -> str:
    name = config.stash[_RUNNER_KEY]
    if name is None:
        return "flows: runner=declared (each flow uses its own task runner)"
    options = f"--flow-runner={name}"
    if name == "deterministic":
        seed = session_seed(config)
        return f"flows: runner={name}, seed={seed} (replay: {options} --flow-seed={seed})"
    return f"flows: runner={name} (replay: {options})"


# --- choosing the runner per test --------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``all`` (option or marker): one test per runner, ``test_x[dask]``; a marker wins."""
    marker = metafunc.definition.get_closest_marker("flow_runner")
    if marker is not None:
        wanted = marker.args == (ALL,)
    else:
        wanted = metafunc.config.stash[_RUNNER_KEY] == ALL and _is_flow_test(metafunc)
    if wanted:
        metafunc.parametrize(
            "_flows_runner_name", RUNNER_NAMES, ids=RUNNER_NAMES, indirect=True, scope="function"
        )


def _is_flow_test(metafunc: pytest.Metafunc) -> bool:
    """Tests that use a flows fixture, or live in a module defining or importing flows/tasks."""
    if _FIXTURES & set(metafunc.fixturenames):
        return True
    module = metafunc.module
    return module is not None and any(
        isinstance(value, (Flow, Task)) for value in vars(module).values()
    )


@pytest.fixture
def _flows_runner_name(request: pytest.FixtureRequest) -> str | None:
    """The runner name for this test: ``all``'s parameter, then the marker, then the option."""
    param = getattr(request, "param", None)
    if param is not None:
        return str(param)
    marker = request.node.get_closest_marker("flow_runner")
    if marker is not None:
        pinned = _marker_runner(marker)
        return None if pinned == ALL else pinned
    name = request.config.stash[_RUNNER_KEY]
    return None if name == ALL else name


def _marker_runner(marker: pytest.Mark) -> str:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(
            f"@pytest.mark.flow_runner takes one runner name, got {marker.args!r}"
        )
    try:
        return check_runner_name(marker.args[0])
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture
def flow_runner(
    request: pytest.FixtureRequest, _flows_runner_name: str | None
) -> TaskRunner | None:
    """The task runner every flow of this test uses, or None when flows keep their own."""
    if _flows_runner_name is None:
        return None
    seed = None
    if _flows_runner_name == "deterministic":
        seed = seed_for(request.config, request.node.nodeid)
    if _flows_runner_name == "dask":
        ship_test_modules(_test_modules(request))
        return SessionDaskRunner(request.config.stash[_DASK_KEY])
    return build_runner(_flows_runner_name, seed=seed)


def _test_modules(request: pytest.FixtureRequest) -> list[Any]:
    modules = [request.module] if request.module is not None else []
    plugins = request.config.pluginmanager.get_plugins()
    modules += [p for p in plugins if str(getattr(p, "__file__", "")).endswith("conftest.py")]
    return modules


@pytest.fixture(autouse=True)
def _flows_runner_override(
    request: pytest.FixtureRequest, _flows_runner_name: str | None
) -> Iterator[None]:
    name = _flows_runner_name
    if name is None:
        yield
        return
    runner: TaskRunner = request.getfixturevalue("flow_runner")
    marker = request.node.get_closest_marker("flow_concurrent")
    if marker is not None and (name in _ONE_AT_A_TIME or runner.concurrency == "sequential"):
        pytest.skip(concurrent_skip_reason(name, marker))
    with override_task_runner(runner):
        yield


# --- recording -------------------------------------------------------------------


def timeline_of(item: pytest.Item) -> Timeline | None:
    """The timeline recorded for a test item, if it ran."""
    return item.stash.get(_TIMELINE_KEY, None)


def reported_timeline_of(item: pytest.Item) -> Timeline | None:
    """The timeline a failing test's report shows: every run the test recorded, except
    for an explored test that failed, whose report shows the failing schedule's runs alone."""
    failing = failing_schedule_timeline(item)
    return failing if failing is not None else timeline_of(item)


@pytest.fixture(autouse=True)
def _flows_recorder(request: pytest.FixtureRequest) -> Iterator[Timeline]:
    timeline = Timeline()
    request.node.stash[_TIMELINE_KEY] = timeline
    restart_run_names()  # each test's flow runs are named from -0
    with subscribe(timeline.record):
        yield timeline


@pytest.fixture
def flow_timeline(_flows_recorder: Timeline) -> Timeline:
    """Every flow and task run of this test, with states, times and where each ran.

    Example::

        def test_loads_overlap(flow_timeline):
            pipeline()
            flow_timeline.assert_parallel("load-0", "load-1")
            flow_timeline.assert_before("load-0", "summarize-0")
    """
    return _flows_recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    timeline = reported_timeline_of(item)
    if report.failed and timeline is not None and timeline.runs:
        report.sections.append(("flow timeline", timeline.render_gantt()))
    return report


# --- Dask ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dask_cluster(request: pytest.FixtureRequest) -> Any:
    """The session's LocalCluster (started on first use), or None with ``--dask-address``."""
    session = request.config.stash[_DASK_KEY]
    session.address  # noqa: B018 - starts the cluster when there is none yet
    return session.cluster


@pytest.fixture(scope="session")
def dask_client(request: pytest.FixtureRequest) -> Any:
    """A `distributed.Client` of the session's scheduler."""
    return request.config.stash[_DASK_KEY].client
