"""Run names from ``task_run_name`` / ``flow_run_name``, as Prefect makes them.

Either a format string over the call's parameters, ``"load-{x}"`` (defaults
included), or a callable taking no arguments that returns the name::

    @task(task_run_name="load-{table}")
    def load(table, limit=10): ...       # load("users") runs as 'load-users'

A task run's name is made when the run is submitted; a parameter that is a
future is formatted as its result if its run has completed by then, else the
run keeps its counted name (``load-3``). Without a template, runs are named
by counting per flow run (``load-0``, ``load-1``, ...).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from flowcore.errors import InvalidArgument

__all__ = ["RunNameTemplate", "check_run_name_template", "format_run_name"]

RunNameTemplate = str | Callable[[], str] | None


def check_run_name_template(value: Any, option: str) -> RunNameTemplate:
    if value is None or isinstance(value, str) or callable(value):
        return value  # type: ignore[no-any-return]
    raise InvalidArgument(
        f"{option} must be a format string such as 'load-{{x}}' or a callable giving the "
        f"name, got {value!r}"
    )


def format_run_name(
    template: RunNameTemplate, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any
) -> str | None:
    """The name ``template`` gives a call of ``fn``; None to keep the counted name."""
    if template is None:
        return None
    if not isinstance(template, str):
        name = template()
        if not isinstance(name, str):
            raise InvalidArgument(f"the run name callable {template!r} returned {name!r}")
        return name
    parameters = _parameters(fn, args, kwargs)
    if parameters is None:
        return None
    try:
        return template.format(**parameters)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise InvalidArgument(
            f"run name template {template!r} does not fit the parameters "
            f"{sorted(parameters)}: {type(error).__name__}: {error}"
        ) from None


def _parameters(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any
) -> dict[str, Any] | None:
    from flowcore.futures import TaskFuture

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None  # the call itself will report the mismatch
    bound.apply_defaults()
    parameters = dict(bound.arguments)
    for key, value in parameters.items():
        if isinstance(value, TaskFuture):
            if not value.done() or not value.state.is_completed():
                return None
            parameters[key] = value.state.data
    return parameters
