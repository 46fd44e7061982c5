"""Wrappers that change how a task call treats one of its arguments (as Prefect's).

- `unmapped(value)`: `Task.map` passes ``value`` whole to every run instead
  of iterating over it.
- `allow_failure(future)`: the run waits for ``future``'s run but starts even
  if it did not complete; it then receives that run's exception (its result
  if it completed) in place of the future.
- `quote(value)`: ``value`` is passed as it is, never searched for futures:
  futures inside it are neither waited for nor resolved, and a large
  collection is not walked.

    >>> from flowcore import flow, task
    >>> @task
    ... def fails():
    ...     raise ValueError("bad row")
    >>> @task
    ... def report(outcome):
    ...     return f"upstream gave {outcome!r}"
    >>> @flow
    ... def pipeline():
    ...     return report(allow_failure(fails()))
    >>> pipeline()
    "upstream gave ValueError('bad row')"
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["allow_failure", "quote", "unmapped"]

T = TypeVar("T")


class _Annotation(Generic[T]):
    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def unwrap(self) -> T:
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value

    def __hash__(self) -> int:
        return hash((type(self), id(self.value)))


class unmapped(_Annotation[T]):
    """Marks a `Task.map` argument to be passed whole to every run, not iterated."""

    __slots__ = ()


class allow_failure(_Annotation[T]):
    """The run starts even if this upstream run did not complete (see the module docstring)."""

    __slots__ = ()


class quote(_Annotation[T]):
    """Pass the value as it is: not searched for futures (see the module docstring)."""

    __slots__ = ()

    def unquote(self) -> T:
        """The wrapped value (Prefect's spelling of ``unwrap``)."""
        return self.value
