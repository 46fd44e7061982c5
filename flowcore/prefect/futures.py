"""Futures as each Prefect flavour hands them out.

- `PrefectFutureList` (3.x): what ``task.map(...)`` returns, a list with
  ``wait()`` and ``result()`` over all its futures:

      >>> PrefectFutureList([]).result()
      []

- `PrefectFuture`: a `TaskFuture` that is not awaitable, as Prefect's futures
  are not (``inspect.isawaitable(task.submit(1))`` is False in both flavours).
- `AwaitableResultFuture` (2.x): the future of an async task submitted in an
  async flow, whose ``result()`` is awaited (``await future.result()``), as
  in Prefect 2.20. It is a `TaskFuture` in every other respect, so passing
  it to another task still makes a dependency.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from flowcore.futures import TaskFuture, as_completed, wait

__all__ = [
    "AwaitableResultFuture",
    "PrefectFuture",
    "PrefectFutureList",
    "as_completed",
    "as_prefect_future",
    "wait",
]


class PrefectFuture(TaskFuture):
    """A `TaskFuture` that cannot be awaited, as Prefect's; see the module docstring."""

    __slots__ = ()
    __await__ = None  # type: ignore[assignment]


class PrefectFutureList(list[TaskFuture]):
    """Prefect 3's list of futures from ``map``: ``.wait()``, ``.result()``."""

    def wait(self, timeout: float | None = None) -> None:
        wait(self, timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        return [
            future.result(timeout=timeout, raise_on_failure=raise_on_failure) for future in self
        ]


class AwaitableResultFuture(PrefectFuture):
    """A `TaskFuture` whose ``result()`` gives an awaitable (Prefect 2, async tasks)."""

    __slots__ = ()

    def result(
        self, timeout: float | None = None, raise_on_failure: bool = True
    ) -> Coroutine[Any, Any, Any]:
        return self.result_async(raise_on_failure=raise_on_failure)


def as_prefect_future(future: TaskFuture, awaitable_result: bool = False) -> TaskFuture:
    """The same future as Prefect hands it out (only its class changes)."""
    future.__class__ = AwaitableResultFuture if awaitable_result else PrefectFuture
    return future
