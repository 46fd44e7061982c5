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
from collections.abc import Callable
from typing import Any

from flowcore.flows import Flow, _check_options
from flowcore.options import FLOW_OPTIONS, IGNORED_FLOW_OPTIONS
from flowcore.prefect.flavour import active_version
from flowcore.states import Completed
from flowcore.task_runners import ConcurrentTaskRunner

__all__ = ["PrefectFlow", "ThreadPoolTaskRunner", "flow"]


class ThreadPoolTaskRunner(ConcurrentTaskRunner):
    """Prefect 3's name for the thread-pool runner, its flows' default."""


class PrefectFlow(Flow[Any, Any]):
    """A flowcore `Flow` whose None return ends it as the active flavour does."""

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        if options.get("task_runner") is None and active_version() == 3:
            options["task_runner"] = ThreadPoolTaskRunner()
        super().__init__(fn, **options)
        if active_version() == 3:
            self.fn = _none_is_completed(fn, self.is_async)

    def with_options(self, **options: Any) -> PrefectFlow:
        changed = super().with_options(**options)
        settings = {key: getattr(changed, key) for key in FLOW_OPTIONS}
        return PrefectFlow(self.__wrapped__, **settings)


def _none_is_completed(fn: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """``fn``, a None return replaced by a plain ``Completed()`` state (Prefect 3)."""
    if is_async:

        @functools.wraps(fn)
        async def ends_async(*args: Any, **kwargs: Any) -> Any:
            value = await fn(*args, **kwargs)
            return Completed() if value is None else value

        return ends_async

    @functools.wraps(fn)
    def ends(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        return Completed() if value is None else value

    return ends


def flow(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """``@flow`` or ``@flow(...)``: a `PrefectFlow`; the options are flowcore's `flow`'s."""
    _check_options(options, "@flow")
    settings = {key: value for key, value in options.items() if key not in IGNORED_FLOW_OPTIONS}
    if fn is None:
        return lambda function: PrefectFlow(function, **settings)
    return PrefectFlow(fn, **settings)
