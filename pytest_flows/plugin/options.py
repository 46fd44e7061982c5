"""Every option of the plugin, with its ini twin (the command line wins), and the markers.

- ``--flow-runner=NAME`` (ini ``flow_runner``, env ``PYTEST_FLOW_RUNNER``):
  every flow on that runner; ``all``: each flow test once per runner.
- ``--dask-address=tcp://HOST:PORT`` (``dask_address``): Dask runs on that
  scheduler instead of the session's LocalCluster.
- ``--flow-seed=N`` or ``last`` (``flow_seed``): the deterministic runner's
  session seed.
- ``--flow-replay=TOKEN`` (``flow_replay``): each test once, under that schedule.
- ``--flow-timeline-dir=DIR`` (``flow_timeline_dir``): failing tests'
  timelines written there; ``--flow-timeline=all`` (``flow_timeline``): every
  test's.
- ``--flow-check-leaks`` (``flow_check_leaks``): opt-in; fail a test that
  leaves threads or child processes behind.

Markers: ``flow_runner(name)``, ``flow_concurrent(reason)``,
``flow_explore(schedules=..., strategy=..., ...)``.
"""

from __future__ import annotations

import os

import pytest

from pytest_flows.plugin.runner_choice import ENVIRONMENT_VARIABLE, RUNNER_NAMES

__all__ = ["TIMELINE_MODES", "check_leaks", "configured_runner", "replay_token"]

TIMELINE_MODES = ("failed", "all")


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
    _add_report_options(group)
    for name, help_text in (
        ("flow_runner", "default for --flow-runner"),
        ("dask_address", "default for --dask-address"),
        ("flow_seed", "default for --flow-seed"),
        ("flow_replay", "default for --flow-replay"),
        ("flow_timeline_dir", "default for --flow-timeline-dir"),
    ):
        parser.addini(name, help_text, default=None)
    parser.addini("flow_timeline", "default for --flow-timeline (failed or all)", default="failed")
    parser.addini("flow_check_leaks", "default for --flow-check-leaks", type="bool", default=False)


def _add_report_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--flow-timeline-dir",
        dest="flow_timeline_dir",
        default=None,
        help="write the timeline (Chrome trace + HTML picture) of failing flow tests here",
    )
    group.addoption(
        "--flow-timeline",
        dest="flow_timeline",
        default=None,
        choices=TIMELINE_MODES,
        help="which tests' timelines --flow-timeline-dir receives: failed (default) or all",
    )
    group.addoption(
        "--flow-check-leaks",
        dest="flow_check_leaks",
        action="store_true",
        default=None,
        help="fail a test that leaves threads, child processes or Dask clients behind.",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "flow_runner(name): run this test's flows with the named task runner",
        "flow_concurrent(reason): the test needs task runs to overlap; it is skipped "
        "under the sequential and deterministic runners",
        "flow_explore(schedules=200, strategy='random', depth=3, bound=1000, seed=None): "
        "run this test's flows under many schedules of the deterministic runner",
    ):
        config.addinivalue_line("markers", line)


def configured_runner(config: pytest.Config) -> str | None:
    """The runner name asked for: the option, then the environment, then the ini key."""
    value = (
        config.getoption("flow_runner")
        or os.environ.get(ENVIRONMENT_VARIABLE)
        or config.getini("flow_runner")
    )
    return str(value) if value else None


def replay_token(config: pytest.Config) -> str | None:
    """The ``--flow-replay`` token, if any."""
    value = config.getoption("flow_replay") or config.getini("flow_replay")
    return str(value).strip() if value else None


def check_leaks(config: pytest.Config) -> bool:
    """Whether ``--flow-check-leaks`` (or its ini key) is on."""
    enabled = config.getoption("flow_check_leaks")
    if enabled is None:
        enabled = bool(config.getini("flow_check_leaks"))
    return bool(enabled)
