"""Task arguments: find the futures in them, and later put results in their place.

When a task is submitted, `extract_upstream` walks its arguments (into lists,
tuples, sets and dicts), replaces each `TaskFuture` by an `UpstreamRef` to its
run id, and returns the futures found: those are the run's dependencies. When
the run starts, `resolve` swaps each ref for the upstream run's result
(`resolve_to_states`, for its final state). The
arguments a runner holds are therefore plain data plus refs, and can be
pickled and sent to another process.

    >>> from flowcore.states import Completed
    >>> args = ([UpstreamRef("r1"), 2],)
    >>> resolve(args, {"r1": Completed(0, data=1)})
    ([1, 2],)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowcore.states import State

__all__ = ["UpstreamRef", "extract_upstream", "resolve", "resolve_to_states", "short_reprs"]

_CONTAINERS = (list, tuple, set, frozenset, dict)
_IMMUTABLE = (tuple, frozenset)


@dataclass(frozen=True, slots=True)
class UpstreamRef:
    """Stands for the result of the run ``run_id`` inside a run's arguments."""

    run_id: str


# What a tuple of arguments must not hold to be kept as it is: a future (a ref,
# when resolving) or a container (which would be searched and copied). The
# futures' tuple is made on first use, as flowcore.futures imports this module.
_REF_KINDS = (UpstreamRef, *_CONTAINERS)
_FUTURE_KINDS: tuple[type[Any], ...] = ()


def _future_kinds() -> tuple[type[Any], ...]:
    """(`TaskFuture`, *containers), TaskFuture imported on first use."""
    global _FUTURE_KINDS
    if not _FUTURE_KINDS:
        from flowcore.futures import TaskFuture

        _FUTURE_KINDS = (TaskFuture, *_CONTAINERS)
    return _FUTURE_KINDS


def extract_upstream(value: Any, found: dict[str, Any]) -> Any:
    """``value`` with each future replaced by its ref; futures go into ``found`` by run id."""
    return _extract(value, found, _future_kinds())


def _extract(value: Any, found: dict[str, Any], kinds: tuple[type[Any], ...]) -> Any:
    if isinstance(value, kinds[0]):  # kinds[0] is TaskFuture
        run_id = value.run_id
        found[run_id] = value
        return UpstreamRef(run_id)
    if not isinstance(value, _CONTAINERS) or not value:
        return value
    if isinstance(value, _IMMUTABLE) and _holds_none_of(value, kinds):
        return value  # the usual argument tuple: a rebuilt one would differ only in identity
    if isinstance(value, dict):
        return {key: _extract(item, found, kinds) for key, item in value.items()}
    items = [_extract(item, found, kinds) for item in value]
    if type(value) is list:
        return items
    return _rebuilt(value, items)


def _holds_none_of(items: Any, kinds: tuple[type[Any], ...]) -> bool:
    """Whether no item is one of ``kinds``."""
    for item in items:  # noqa: SIM110 -- a loop: cheaper than any(<generator>) on every call
        if isinstance(item, kinds):
            return False
    return True


def _rebuilt(value: Any, items: list[Any]) -> Any:
    """A container like ``value`` (not a plain list) holding ``items``."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*items)
    return type(value)(items)


def resolve(value: Any, upstream_states: Mapping[str, State]) -> Any:
    """``value`` with each `UpstreamRef` replaced by its run's result."""
    return _substitute(value, lambda ref: upstream_states[ref.run_id].data)


def resolve_to_states(value: Any, upstream_states: Mapping[str, State]) -> Any:
    """``value`` with each `UpstreamRef` replaced by its run's final `State`."""
    return _substitute(value, lambda ref: upstream_states[ref.run_id])


def _substitute(value: Any, replace: Callable[[UpstreamRef], Any]) -> Any:
    if isinstance(value, UpstreamRef):
        return replace(value)
    if not isinstance(value, _CONTAINERS) or not value:
        return value
    if isinstance(value, _IMMUTABLE) and _holds_none_of(value, _REF_KINDS):
        return value
    if isinstance(value, dict):
        return {key: _substitute(item, replace) for key, item in value.items()}
    items = [_substitute(item, replace) for item in value]
    if type(value) is list:
        return items
    return _rebuilt(value, items)


def short_reprs(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int = 80
) -> tuple[tuple[str, str], ...]:
    """Short ``repr``s of arguments for events and pictures: ``(("0", "[1, 2]"), ("x", "3"))``."""
    pairs = [(str(index), _short(value, limit)) for index, value in enumerate(args)]
    if kwargs:
        pairs.extend((key, _short(value, limit)) for key, value in kwargs.items())
    return tuple(pairs)


def _short(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as error:  # a broken __repr__ must not break a run
        text = f"<unreprable {type(value).__name__}: {error!r}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
