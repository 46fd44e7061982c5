"""The runner of each test: ``--flow-runner``, ``all``, and the ``flow_runner`` marker.

- ``--flow-runner=NAME``: every flow run in the session uses that runner
  (`flowcore.task_runners.override_task_runner`, one ``duplicate()`` per
  flow run); ``all`` runs each flow test once per runner (``test_x[dask]``).
- ``@pytest.mark.flow_runner("sequential")`` pins a test or module to a
  runner (``flow_runner("all")``: once per runner); the marker wins.
- ``@pytest.mark.flow_concurrent(reason)`` marks a test that needs runs to
  overlap: it is skipped under a runner that runs one at a time.

Fixture ``flow_runner``: the runner in force, or None when flows keep their
own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowcore import Flow, Task
from flowcore.task_runners import TaskRunner, override_task_runner
from flowcore.task_runners.base import DASK_RUNNER_NAME
from pytest_flows.deterministic.runner import DeterministicTaskRunner
from pytest_flows.plugin.dask_session import session_runner, ship_test_modules
from pytest_flows.plugin.options import configured_runner
from pytest_flows.plugin.runner_choice import (
    ALL,
    RUNNER_NAMES,
    build_runner,
    check_runner_name,
    concurrent_skip_reason,
)
from pytest_flows.plugin.seeds import seed_for

__all__ = ["runner_name"]

_FIXTURES = {"flow_runner", "flow_timeline", "dask_cluster", "dask_client"}
_RUNNER_KEY = pytest.StashKey[str | None]()


def pytest_configure(config: pytest.Config) -> None:
    name = configured_runner(config)
    if name is not None:
        try:
            check_runner_name(name)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    config.stash[_RUNNER_KEY] = name


def runner_name(config: pytest.Config) -> str | None:
    """The session's runner name (``all`` included), or None when flows keep their own."""
    return config.stash[_RUNNER_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``all`` (option or marker): one test per runner, ``test_x[dask]``; a marker wins."""
    marker = metafunc.definition.get_closest_marker("flow_runner")
    if marker is not None:
        wanted = marker.args == (ALL,)
    else:
        wanted = runner_name(metafunc.config) == ALL and _is_flow_test(metafunc)
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
    name = runner_name(request.config)
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
    if _flows_runner_name == DeterministicTaskRunner.name:
        seed = seed_for(request.config, request.node.nodeid)
    if _flows_runner_name == DASK_RUNNER_NAME:
        ship_test_modules(_test_modules(request))
        return session_runner(request.config)
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
    if marker is not None and runner.runs_one_at_a_time:
        pytest.skip(concurrent_skip_reason(name, marker))
    with override_task_runner(runner):
        yield
