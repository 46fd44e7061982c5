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
from flowcore.errors import InvalidArgument

__all__ = ["Task", "task", "unmapped"]

P = ParamSpec("P")
R = TypeVar("R")

_NOT_MAPPED = (str, bytes, bytearray)


class unmapped:
    """Marks a `Task.map` argument to be passed whole to every run, not iterated."""

    def __init__(self, value: Any) -> None:
        self.value = value


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
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function to wrap, got {fn!r} ({type(fn).__name__})")
        self.fn = fn
        self.name = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        self.retries = _check_count("retries", retries)
        self.retry_delay_seconds = _check_delays(retry_delay_seconds)
        self.timeout_seconds = _check_timeout(timeout_seconds)
        self.tags = frozenset(_check_tags(tags))
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
        known = {"name", "retries", "retry_delay_seconds", "timeout_seconds", "tags"}
        unknown = sorted(set(options) - known - submission.IGNORED_TASK_OPTIONS)
        if unknown:
            raise InvalidArgument(
                f"unknown task option(s) {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(sorted(known))}"
            )
        settings: dict[str, Any] = {
            "name": self.name,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "timeout_seconds": self.timeout_seconds,
            "tags": self.tags,
        }
        settings.update((key, value) for key, value in options.items() if key in known)
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
    unknown = sorted(
        set(options)
        - {"name", "retries", "retry_delay_seconds", "timeout_seconds", "tags"}
        - submission.IGNORED_TASK_OPTIONS
    )
    if unknown:
        raise InvalidArgument(
            f"@task got unknown option(s) {', '.join(map(repr, unknown))}; valid: name, retries, "
            "retry_delay_seconds, timeout_seconds, tags"
        )
    ignored = submission.IGNORED_TASK_OPTIONS
    settings = {key: value for key, value in options.items() if key not in ignored}
    if fn is None:
        return lambda function: Task(function, **settings)
    return Task(fn, **settings)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer >= 0, got {value!r}")
    if value < 0:
        raise InvalidArgument(f"{name} must be >= 0, got {value}")
    return value


def _check_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{name} must be a number of seconds >= 0, got {value!r}")
    if not value >= 0:  # also rejects NaN
        raise InvalidArgument(f"{name} must be >= 0, got {value}")
    return float(value)


def _check_delays(value: Any) -> float | tuple[float, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(_check_seconds("retry_delay_seconds", item) for item in value)
    return _check_seconds("retry_delay_seconds", value)


def _check_timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"timeout_seconds must be a number of seconds > 0, got {value!r}")
    if not value > 0:  # also rejects NaN
        raise InvalidArgument(f"timeout_seconds must be > 0 (or None for no timeout), got {value}")
    return float(value)


def _check_tags(tags: Any) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidArgument(f"tags must be an iterable of strings, got {tags!r}")
    checked: list[str] = list(tags)
    for tag in checked:
        if not isinstance(tag, str):
            raise InvalidArgument(f"tags must be strings, got {tag!r} in {checked!r}")
    return checked


def is_mappable(value: Any) -> bool:
    """Whether `Task.map` iterates over ``value`` (strings and bytes are whole)."""
    return isinstance(value, Iterable) and not isinstance(value, _NOT_MAPPED)
