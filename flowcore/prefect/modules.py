"""The modules Prefect mode serves, and what each holds in each flavour.

`SERVED` maps a module name to a function of the flavour (2 or 3) giving the
module's names. Every name is backed by flowcore:

    >>> sorted(SERVED["prefect.utilities.annotations"](3))
    ['allow_failure', 'quote', 'unmapped']
    >>> "ThreadPoolTaskRunner" in SERVED["prefect.task_runners"](2)
    False

`PACKAGES` are the served names that have submodules.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flowcore import annotations as markers
from flowcore import context as flowcore_context
from flowcore import errors, run_logging, states
from flowcore import task_runners as runners
from flowcore.prefect import futures
from flowcore.prefect.flows import PrefectFlow, ThreadPoolTaskRunner, flow
from flowcore.prefect.tasks import PrefectTask, task

__all__ = ["PACKAGES", "SERVED", "VERSION_STRINGS"]

# What ``prefect.__version__`` says: the Prefect release the flavour was measured against.
VERSION_STRINGS = {2: "2.20.27", 3: "3.9.1"}
PACKAGES = frozenset({"prefect", "prefect.utilities", "prefect.testing", "prefect_dask"})


def _top_level(version: int) -> dict[str, Any]:
    names: dict[str, Any] = {
        "__version__": VERSION_STRINGS[version],
        "flow": flow,
        "task": task,
        "Flow": PrefectFlow,
        "Task": PrefectTask,
        "State": states.State,
        "get_run_logger": run_logging.get_run_logger,
        "allow_failure": markers.allow_failure,
        "unmapped": markers.unmapped,
    }
    return names


def _task_runners(version: int) -> dict[str, Any]:
    names: dict[str, Any] = {"ConcurrentTaskRunner": runners.ConcurrentTaskRunner}
    if version == 2:
        names.update(SequentialTaskRunner=runners.SequentialTaskRunner)
        names.update(BaseTaskRunner=runners.TaskRunner)
    else:
        names.update(ThreadPoolTaskRunner=ThreadPoolTaskRunner)
        names.update(TaskRunner=runners.TaskRunner)
    return names


def _futures(version: int) -> dict[str, Any]:
    names: dict[str, Any] = {"PrefectFuture": futures.PrefectFuture}
    if version == 3:
        names.update(
            PrefectFutureList=futures.PrefectFutureList,
            wait=futures.wait,
            as_completed=futures.as_completed,
        )
    return names


def _states(version: int) -> dict[str, Any]:
    return {name: getattr(states, name) for name in states.__all__}


def _context(version: int) -> dict[str, Any]:
    return {
        "get_run_context": flowcore_context.get_run_context,
        "FlowRunContext": flowcore_context.FlowRunContext,
        "TaskRunContext": flowcore_context.TaskRunContext,
    }


def _logging(version: int) -> dict[str, Any]:
    return {"get_run_logger": run_logging.get_run_logger, "get_logger": _get_logger}


def _get_logger(name: str | None = None) -> logging.Logger:
    """Prefect's ``get_logger``: a logger under ``flowcore`` (``prefect`` is not imported)."""
    return logging.getLogger("flowcore" if name is None else f"flowcore.{name}")


def _exceptions(version: int) -> dict[str, Any]:
    return {
        "PrefectException": errors.FlowcoreError,
        "MissingContextError": errors.MissingContextError,
        "CrashedRun": errors.RunCrashed,
        "CancelledRun": errors.RunCancelled,
        "UpstreamTaskError": errors.UpstreamFailed,
        "MissingResult": errors.MissingResult,
    }


def _annotations(version: int) -> dict[str, Any]:
    return {
        "allow_failure": markers.allow_failure,
        "quote": markers.quote,
        "unmapped": markers.unmapped,
    }


def _dask(version: int) -> dict[str, Any]:
    return {"DaskTaskRunner": runners.DaskTaskRunner}


def _nothing(version: int) -> dict[str, Any]:
    return {}


@contextlib.contextmanager
def prefect_test_harness(*args: Any, **kwargs: Any) -> Iterator[None]:
    """Prefect's test harness starts a server; flowcore needs none, so this does nothing."""
    yield


def _testing(version: int) -> dict[str, Any]:
    return {"prefect_test_harness": prefect_test_harness}


SERVED: dict[str, Callable[[int], dict[str, Any]]] = {
    "prefect": _top_level,
    "prefect.flows": lambda version: {"flow": flow, "Flow": PrefectFlow},
    "prefect.tasks": lambda version: {"task": task, "Task": PrefectTask},
    "prefect.task_runners": _task_runners,
    "prefect.futures": _futures,
    "prefect.states": _states,
    "prefect.context": _context,
    "prefect.logging": _logging,
    "prefect.exceptions": _exceptions,
    "prefect.utilities": _nothing,
    "prefect.utilities.annotations": _annotations,
    "prefect.testing": _nothing,
    "prefect.testing.utilities": _testing,
    "prefect_dask": _dask,
    "prefect_dask.task_runners": _dask,
}
