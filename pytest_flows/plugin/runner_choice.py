"""Which task runner a test's flows use: names, validation, construction.

``--flow-runner`` takes one of `RUNNER_NAMES`, ``all`` (each flow test once
per runner), or ``module:Class`` for a runner class of your own. The choice
is resolved in this order: the command line, then the ``PYTEST_FLOW_RUNNER``
environment variable, then the ``flow_runner`` ini key; without any, flows
keep the runners they declare.

    >>> check_runner_name("dask")
    'dask'
    >>> check_runner_name("dsak")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: 'dsak' is not a valid flow runner. Valid: sequential, concurrent, ...
"""

from __future__ import annotations

import importlib
from typing import Any

from flowcore.task_runners import RUNNER_NAMES as CORE_RUNNER_NAMES
from flowcore.task_runners import (
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskRunner,
)
from flowcore.task_runners.base import DASK_RUNNER_NAME
from pytest_flows.deterministic.runner import DeterministicTaskRunner
from pytest_flows.printable import printable

__all__ = [
    "ALL",
    "ENVIRONMENT_VARIABLE",
    "RUNNER_NAMES",
    "build_runner",
    "check_runner_name",
    "concurrent_skip_reason",
    "load_runner_class",
]

RUNNER_NAMES = (*CORE_RUNNER_NAMES, DeterministicTaskRunner.name)
ALL = "all"
ENVIRONMENT_VARIABLE = "PYTEST_FLOW_RUNNER"


def check_runner_name(name: str) -> str:
    """``name`` if it names a runner, ``all`` or a loadable ``module:Class``; else ValueError."""
    if name in RUNNER_NAMES or name == ALL:
        return name
    if ":" in name:
        load_runner_class(name)
        return name
    raise ValueError(
        f"{name!r} is not a valid flow runner. Valid: {', '.join(RUNNER_NAMES)}, all, "
        "or module:Class"
    )


def load_runner_class(spec: str) -> type[TaskRunner]:
    """The `TaskRunner` subclass named by ``"module:Class"``; ValueError saying what is wrong."""
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"flow runner {spec!r}: module {module_name!r} could not be imported ({error})"
        ) from error
    runner_class = getattr(module, class_name, None)
    if runner_class is None:
        raise ValueError(f"flow runner {spec!r}: module {module_name!r} has no {class_name!r}")
    if not (isinstance(runner_class, type) and issubclass(runner_class, TaskRunner)):
        raise ValueError(
            f"flow runner {spec!r} is not a runner: {runner_class!r} must be a subclass of "
            "flowcore.task_runners.TaskRunner"
        )
    return runner_class


def build_runner(
    name: str, *, dask_address: str | None = None, seed: int | None = None
) -> TaskRunner:
    """A runner for ``name``; Dask runners use the scheduler at ``dask_address``."""
    simple: dict[str, type[TaskRunner]] = {
        runner.name: runner
        for runner in (SequentialTaskRunner, ConcurrentTaskRunner, AsyncTaskRunner)
    }
    if name in simple:
        return simple[name]()
    if name == DeterministicTaskRunner.name:
        return DeterministicTaskRunner(seed=seed)
    if name == DASK_RUNNER_NAME:  # imported on first use
        from flowcore.task_runners.dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return load_runner_class(name)()


def concurrent_skip_reason(runner: str, marker: Any) -> str:
    """Why a ``flow_concurrent(reason)`` test (``marker``) is skipped under ``runner``."""
    reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
    return printable(
        f"needs concurrent task runs, and the {runner} runner runs one at a time: {reason}"
    )
