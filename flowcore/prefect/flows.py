"""Flows as each Prefect flavour ends them.

Prefect 2.20 decides the final state of a flow whose body returned None from
its task runs (FAILED ``"1/3 states failed."`` when one failed, and calling
it raises that failure); flowcore follows those rules natively. Prefect 3.9
ends such a flow COMPLETED, without a message, and calling it returns None,
whatever its task runs did. `PrefectFlow` follows the flavour active when the
flow is defined:

    >>> from flowcore.prefect.flavour import set_active_version
    >>> set_active_version(3)
    >>> @flow
    ... def nothing():
    ...     return None
    >>> state = nothing(return_state=True)
    >>> state.type.value, state.message
    ('COMPLETED', '')
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from flowcore.context import current_flow_run
from flowcore.flows import Flow, _check_options
from flowcore.hooks import FLOW_HOOKS
from flowcore.options import FLOW_OPTIONS, IGNORED_FLOW_OPTIONS
from flowcore.prefect.flavour import active_version
from flowcore.states import Completed
from flowcore.task_runners import ConcurrentTaskRunner

__all__ = ["PrefectFlow", "ThreadPoolTaskRunner", "flow", "none_return", "positional_hooks"]

FLOW_HOOK_ARGUMENTS = ("flow", "flow_run", "state")
TASK_HOOK_ARGUMENTS = ("task", "task_run", "state")


class ThreadPoolTaskRunner(ConcurrentTaskRunner):
    """Prefect 3's name for the thread-pool runner, its flows' default."""


class PrefectFlow(Flow[Any, Any]):
    """A flowcore `Flow` whose None return ends it as the active flavour does."""

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        if options.get("task_runner") is None and active_version() == 3:
            options["task_runner"] = ThreadPoolTaskRunner()
        if (
            options.get("name") is None
        ):  # Prefect's default name: "nightly_report" → "nightly-report"
            options["name"] = getattr(fn, "__name__", type(fn).__name__).replace("_", "-")
        if active_version() == 3:
            options.update(positional_hooks(options, FLOW_HOOKS))
        super().__init__(fn, **options)
        self.fn = _none_return_as_flavour(fn, self.is_async)

    def with_options(self, **options: Any) -> PrefectFlow:
        changed = super().with_options(**options)
        settings = {key: getattr(changed, key) for key in FLOW_OPTIONS}
        return PrefectFlow(self.__wrapped__, **settings)


def _none_return_as_flavour(fn: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """``fn``, a None return ended as the flavour does (see `none_return`)."""
    if is_async:

        @functools.wraps(fn)
        async def ends_async(*args: Any, **kwargs: Any) -> Any:
            return none_return(await fn(*args, **kwargs))

        return ends_async

    @functools.wraps(fn)
    def ends(*args: Any, **kwargs: Any) -> Any:
        return none_return(fn(*args, **kwargs))

    return ends


def none_return(value: Any) -> Any:
    """What a flow body's return value stands for in the active flavour.

    Prefect 3: None is a plain ``Completed()``. Prefect 2.20: None from a flow
    that ran no task is ``Completed()`` with no message; otherwise the
    task runs decide (flowcore's own rule).
    """
    if value is not None:
        return value
    flow_run = current_flow_run()
    if active_version() == 3 or (flow_run is not None and not flow_run.task_runs.started):
        return Completed()
    return None


def positional_hooks(
    options: dict[str, Any], names: Iterable[str], order: tuple[str, ...] = FLOW_HOOK_ARGUMENTS
) -> dict[str, Any]:
    """Prefect 3 calls state hooks positionally: ``hook(flow, flow_run, state)``."""
    return {
        name: [_called_positionally(hook, order) for hook in options[name]]
        for name in names
        if options.get(name)
    }


def _called_positionally(hook: Callable[..., Any], order: tuple[str, ...]) -> Callable[..., Any]:
    @functools.wraps(hook)
    def positional(**arguments: Any) -> Any:
        return hook(*(arguments[name] for name in order))

    return positional


def flow(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """``@flow`` or ``@flow(...)``: a `PrefectFlow`; the options are flowcore's `flow`'s."""
    _check_options(options, "@flow")
    settings = {key: value for key, value in options.items() if key not in IGNORED_FLOW_OPTIONS}
    if fn is None:
        return lambda function: PrefectFlow(function, **settings)
    return PrefectFlow(fn, **settings)
