"""Flows: functions whose task calls are runs on a task runner.

    >>> from flowcore import task
    >>> @task
    ... def add(x, y):
    ...     return x + y
    >>> @flow
    ... def pipeline():
    ...     three = add(1, 2)       # a TaskFuture
    ...     return add(three, 4)    # waits for `three`; the future is resolved on return
    >>> pipeline()
    7
    >>> pipeline(return_state=True).is_completed()
    True

A sync flow runs when called; an async flow's call gives an awaitable. A flow
called inside a flow is a subflow, with its own task runner.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Generic, ParamSpec, TypeVar, overload

from flowcore.errors import InvalidArgument, UnknownOption
from flowcore.hooks import FLOW_HOOKS, check_hooks
from flowcore.options import (
    FLOW_CALL_OPTIONS,
    FLOW_OPTIONS,
    IGNORED_FLOW_OPTIONS,
    check_count,
    check_flag,
    check_no_reserved_parameters,
    check_seconds,
    check_timeout,
)
from flowcore.run_logging import print_to_run_logger
from flowcore.run_names import RunNameTemplate, check_run_name_template
from flowcore.task_runners.base import TaskRunner

__all__ = ["Flow", "flow"]

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Generic[P, R]):
    """A function made into a flow by `@flow`; see the module docstring."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        task_runner: TaskRunner | type[TaskRunner] | None = None,
        timeout_seconds: float | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        log_prints: bool | None = None,
        flow_run_name: RunNameTemplate = None,
        **hooks: Iterable[Callable[..., Any]] | None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function to wrap, got {fn!r} ({type(fn).__name__})")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        check_no_reserved_parameters(fn, FLOW_CALL_OPTIONS, f"flow {self.name!r}")
        self.task_runner = _check_runner(task_runner)
        self.timeout_seconds = check_timeout(timeout_seconds)
        self.retries = check_count("retries", retries)
        self.retry_delay_seconds = check_seconds("retry_delay_seconds", retry_delay_seconds)
        self.log_prints: bool | None = check_flag("log_prints", log_prints)
        self.flow_run_name = check_run_name_template(flow_run_name, "flow_run_name")
        unknown = sorted(set(hooks) - set(FLOW_HOOKS))
        if unknown:
            raise UnknownOption(
                f"Flow got an unexpected keyword argument {unknown}; valid: {FLOW_OPTIONS}"
            )
        for option in FLOW_HOOKS:
            setattr(self, option, hooks.get(option))
        self.hooks = check_hooks(hooks, FLOW_HOOKS, f"flow {self.name!r}")
        if log_prints:
            print_to_run_logger()
        self.is_async = inspect.iscoroutinefunction(fn)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}>"

    def with_options(self, **options: Any) -> Flow[P, R]:
        """A copy of this flow with some options changed."""
        _check_options(options, "with_options()")
        settings = {key: getattr(self, key) for key in FLOW_OPTIONS}
        settings.update((k, v) for k, v in options.items() if k not in IGNORED_FLOW_OPTIONS)
        return Flow(self.fn, **settings)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the flow (sync) or return an awaitable that runs it (async).

        Gives the return value with futures resolved, or raises the failure;
        ``return_state=True`` gives the final `State` instead.
        """
        flow_engine = _flow_engine()
        return_state = bool(kwargs.pop("return_state", False))
        if self.is_async:
            coroutine = flow_engine.run_flow_async(self, args, kwargs, return_state)
            # Python's "coroutine ... was never awaited" warning then names the flow.
            named: Any = coroutine
            named.__qualname__ = f"{self.name} (an async flow: await it to run it)"
            return coroutine
        return flow_engine.run_flow_sync(self, args, kwargs, return_state)


@functools.cache
def _flow_engine() -> ModuleType:
    """`flowcore.flow_engine`, imported at the first flow call rather than with flowcore (it
    imports asyncio); cached, as a ``from`` import in the call cost 0.3 µs a flow run."""
    from flowcore import flow_engine

    return flow_engine


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    task_runner: TaskRunner | type[TaskRunner] | None = None,
    timeout_seconds: float | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    **prefect_options: Any,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Make a function a flow: ``@flow`` or ``@flow(name=..., task_runner=..., ...)``.

    Options: ``name``, ``task_runner`` (a runner instance or class; default
    `ConcurrentTaskRunner`), ``timeout_seconds`` (> 0), ``retries`` (>= 0),
    ``retry_delay_seconds``. Prefect-only options such as ``log_prints`` are
    accepted and change nothing.
    """
    _check_options(options, "@flow")
    settings = {k: v for k, v in options.items() if k not in IGNORED_FLOW_OPTIONS}
    if fn is None:
        return lambda function: Flow(function, **settings)
    return Flow(fn, **settings)


def _check_options(options: dict[str, Any], where: str) -> None:
    unknown = sorted(set(options) - set(FLOW_OPTIONS) - IGNORED_FLOW_OPTIONS)
    if unknown:
        raise UnknownOption(
            f"{where} got an unexpected keyword argument {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(FLOW_OPTIONS)}"
        )


def _check_runner(runner: Any) -> TaskRunner:
    from flowcore.task_runners.concurrent import ConcurrentTaskRunner

    if runner is None:
        return ConcurrentTaskRunner()
    if isinstance(runner, type) and issubclass(runner, TaskRunner):
        return runner()
    if isinstance(runner, TaskRunner):
        return runner
    raise InvalidArgument(
        f"task_runner must be a TaskRunner instance or class (e.g. ConcurrentTaskRunner()), "
        f"got {runner!r}"
    )
