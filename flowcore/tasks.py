"""Tasks: functions whose calls inside a flow become task runs.

    >>> @task(retries=2, retry_delay_seconds=1)
    ... def load(x):
    ...     return x * 2
    >>> load(3)             # outside a flow: runs in place
    6
    >>> load.fn(3)          # the plain function
    6

Inside a sync flow, ``load(3)`` (or ``load.submit(3)``) submits a run to the
flow's task runner and returns a `TaskFuture` at once; ``load.map([1, 2])``
submits one run per item. Futures in the arguments, also inside lists,
tuples and dicts, are resolved to their results and make the new run wait
for them; ``wait_for=[...]`` adds ordering without data. Inside an async flow
the same calls return awaitables: ``await load(3)`` gives the result.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from flowcore import submission
from flowcore.annotations import unmapped
from flowcore.errors import UnknownOption
from flowcore.hooks import TASK_HOOKS, check_hooks
from flowcore.options import (
    IGNORED_TASK_OPTIONS,
    TASK_CALL_OPTIONS,
    TASK_OPTIONS,
    check_count,
    check_delays,
    check_flag,
    check_no_reserved_parameters,
    check_tags,
    check_timeout,
)
from flowcore.run_logging import print_to_run_logger
from flowcore.run_names import RunNameTemplate, check_run_name_template

__all__ = ["Task", "task", "unmapped"]

P = ParamSpec("P")
R = TypeVar("R")

_NOT_MAPPED = (str, bytes, bytearray)


class Task(Generic[P, R]):
    """A function made into a task by `@task`; see the module docstring."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float | Sequence[float] = 0,
        timeout_seconds: float | None = None,
        tags: Iterable[str] = (),
        log_prints: bool | None = None,
        task_run_name: RunNameTemplate = None,
        on_completion: Iterable[Callable[..., Any]] | None = None,
        on_failure: Iterable[Callable[..., Any]] | None = None,
        on_running: Iterable[Callable[..., Any]] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function to wrap, got {fn!r} ({type(fn).__name__})")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        check_no_reserved_parameters(fn, TASK_CALL_OPTIONS, f"task {self.name!r}")
        self.retries = check_count("retries", retries)
        self.retry_delay_seconds = check_delays(retry_delay_seconds)
        self.timeout_seconds = check_timeout(timeout_seconds)
        self.tags = frozenset(check_tags(tags))
        self.log_prints: bool | None = check_flag("log_prints", log_prints)
        self.task_run_name = check_run_name_template(task_run_name, "task_run_name")
        self.on_completion, self.on_failure, self.on_running = on_completion, on_failure, on_running
        self.hooks = check_hooks(
            {"on_completion": on_completion, "on_failure": on_failure, "on_running": on_running},
            TASK_HOOKS,
            f"task {self.name!r}",
        )
        if log_prints:
            print_to_run_logger()
        self.is_async = inspect.iscoroutinefunction(fn)
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name!r}>"

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        delays = self.retry_delay_seconds
        if isinstance(delays, tuple):
            return delays[min(attempt, len(delays) - 1)] if delays else 0.0
        return delays

    def with_options(self, **options: Any) -> Task[P, R]:
        """A copy of this task with some options changed: ``load.with_options(retries=3)``."""
        _check_options(options, "with_options()")
        settings: dict[str, Any] = {key: getattr(self, key) for key in TASK_OPTIONS}
        settings.update((key, value) for key, value in options.items() if key in TASK_OPTIONS)
        return Task(self.fn, **settings)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Outside a flow: run now and return the result. In a flow: submit (see `submit`)."""
        return submission.call_task(self, args, kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Submit a run to the current flow's task runner.

        Returns a `TaskFuture` in a sync flow, an awaitable giving one in an
        async flow. ``return_state=True`` waits and gives the final `State`;
        ``wait_for=[futures]`` makes the run wait for runs it takes no data
        from.
        """
        return submission.submit_task(self, args, kwargs, explicit=True)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Submit one run per item of the iterable arguments, zipped.

        Arguments wrapped in `unmapped`, and those that are not iterable
        (strings count as not iterable), are passed whole to every run. A
        future given as an argument is waited for and its result mapped over.
        Returns a list of futures (of states with ``return_state=True``).
        """
        return submission.map_task(self, args, kwargs)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay_seconds: float | Sequence[float] = 0,
    timeout_seconds: float | None = None,
    tags: Iterable[str] = (),
    **prefect_options: Any,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Make a function a task: ``@task`` or ``@task(name=..., retries=..., ...)``.

    Options: ``name``, ``retries`` (>= 0), ``retry_delay_seconds`` (>= 0, or a
    list of delays, one per retry), ``timeout_seconds`` (> 0), ``tags``.
    Prefect-only options that change nothing here (``log_prints``,
    ``cache_key_fn``, ...) are accepted and ignored.

    >>> @task(name="double", retries=1)
    ... def twice(x):
    ...     return 2 * x
    >>> twice.name, twice.retries
    ('double', 1)
    """
    _check_options(options, "@task")
    settings = {key: value for key, value in options.items() if key not in IGNORED_TASK_OPTIONS}
    if fn is None:
        return lambda function: Task(function, **settings)
    return Task(fn, **settings)


def _check_options(options: dict[str, Any], where: str) -> None:
    unknown = sorted(set(options) - set(TASK_OPTIONS) - IGNORED_TASK_OPTIONS)
    if unknown:
        raise UnknownOption(
            f"{where} got an unexpected keyword argument {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(TASK_OPTIONS)}"
        )


def is_mappable(value: Any) -> bool:
    """Whether `Task.map` iterates over ``value`` (strings and bytes are whole)."""
    return isinstance(value, Iterable) and not isinstance(value, _NOT_MAPPED)
