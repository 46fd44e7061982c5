"""The calls ``task.map(...)`` makes: one per item of the iterable arguments, zipped.

    >>> from flowcore import unmapped
    >>> map_calls("add", ([1, 2], unmapped([0])), {"z": "ab"})
    [((1, [0]), {'z': 'ab'}), ((2, [0]), {'z': 'ab'})]

Futures given as arguments are waited for and their results mapped over, as
flowcore's own ``map`` does in a sync flow.
"""

from __future__ import annotations

from typing import Any

from flowcore.annotations import unmapped
from flowcore.errors import InvalidArgument
from flowcore.futures import TaskFuture
from flowcore.tasks import is_mappable

__all__ = ["map_calls"]

Call = tuple[tuple[Any, ...], dict[str, Any]]


def map_calls(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Call]:
    """The (args, kwargs) of each mapped run; InvalidArgument for nothing or unequal lengths."""
    named: list[tuple[int | str, Any]] = [*enumerate(args), *kwargs.items()]
    resolved = [
        (key, value.result() if isinstance(value, TaskFuture) else value) for key, value in named
    ]
    columns = {
        key: list(value)
        for key, value in resolved
        if not isinstance(value, unmapped) and is_mappable(value)
    }
    if not columns:
        raise InvalidArgument(
            f"{name}.map() needs at least one iterable argument to map over, got "
            f"{[value for _, value in named]!r}"
        )
    lengths = {len(items) for items in columns.values()}
    if len(lengths) > 1:
        detail = ", ".join(f"{key!r} has {len(items)}" for key, items in columns.items())
        raise InvalidArgument(f"{name}.map() got iterables of different lengths: {detail}")
    calls: list[Call] = []
    for index in range(lengths.pop()):
        call_args: list[Any] = []
        call_kwargs: dict[str, Any] = {}
        for key, value in resolved:
            item = columns[key][index] if key in columns else _whole(value)
            if isinstance(key, int):
                call_args.append(item)
            else:
                call_kwargs[key] = item
        calls.append((tuple(call_args), call_kwargs))
    return calls


def _whole(value: Any) -> Any:
    return value.value if isinstance(value, unmapped) else value
