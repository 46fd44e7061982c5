"""Task arguments: find the futures in them, and later put results in their place.

When a task is submitted, `extract_upstream` walks its arguments (into lists,
tuples, sets and dicts), replaces each `TaskFuture` by an `UpstreamRef` to its
run id, and returns the futures found: those are the run's dependencies. When
the run starts, `resolve` swaps each ref for the upstream run's result
(`resolve_to_states`, for its final state). The
arguments a runner holds are therefore plain data plus refs, and can be
pickled and sent to another process.

Only the containers on the way to a future are rebuilt: an argument that
holds no future reaches the task as the very object the caller passed (as in
Prefect 3), so a task that mutates a shared dict mutates the caller's.

    >>> from flowcore.states import Completed
    >>> args = ([UpstreamRef("r1"), 2],)
    >>> resolve(args, {"r1": Completed(0, data=1)})
    ([1, 2],)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowcore.annotations import allow_failure, quote
from flowcore.states import State

__all__ = [
    "UpstreamRef",
    "extract_upstream",
    "resolve",
    "resolve_flow_parameters",
    "resolve_or_states",
    "resolve_to_states",
    "short_reprs",
]

_CONTAINERS = (list, tuple, set, frozenset, dict)
# Values of these exact types hold no future, so an argument tuple of them alone is
# kept without a search: a set lookup per item, where isinstance tries seven kinds.
_ATOMS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_IMMUTABLE = (tuple, frozenset)


@dataclass(frozen=True, slots=True)
class UpstreamRef:
    """Stands for the result of the run ``run_id`` inside a run's arguments.

    ``tolerate_failure`` (from `flowcore.annotations.allow_failure`): the run
    starts even if that upstream did not complete, and receives its exception.
    """

    run_id: str
    tolerate_failure: bool = False

    def __repr__(self) -> str:
        tolerant = ", tolerate_failure=True" if self.tolerate_failure else ""
        return f"UpstreamRef(run_id={self.run_id!r}{tolerant})"


# What a tuple of arguments must not hold to be kept as it is: a future (a ref,
# when resolving) or a container (which would be searched and copied). The
# futures' tuple is made on first use, as flowcore.futures imports this module.
_REF_KINDS = (UpstreamRef, *_CONTAINERS)
_FUTURE_KINDS: tuple[type[Any], ...] = ()


def _future_kinds() -> tuple[type[Any], ...]:
    """(`TaskFuture`, the annotations, *containers), TaskFuture imported on first use."""
    global _FUTURE_KINDS
    if not _FUTURE_KINDS:
        from flowcore.futures import TaskFuture

        _FUTURE_KINDS = (TaskFuture, allow_failure, quote, *_CONTAINERS)
    return _FUTURE_KINDS


def extract_upstream(value: Any, found: dict[str, Any], tolerated: set[str] | None = None) -> Any:
    """``value`` with each future replaced by its ref; futures go into ``found`` by run id.

    Containers that hold no future, however deep, are returned as the same
    objects: a task that mutates a dict it was given mutates the caller's.
    Only the containers on the way to a future are rebuilt. A `quote`d value
    is passed as it is, unsearched; the ids of futures wrapped in
    `allow_failure` also go into ``tolerated``.
    """
    if type(value) is tuple:
        for item in value:  # the usual argument tuple, of plain values: the hot path
            if type(item) not in _ATOMS:
                break
        else:
            return value
    kinds = _future_kinds()
    if type(value) is tuple and _holds_none_of(value, kinds):
        return value
    extraction = _Extraction(kinds, found, tolerated)
    if type(value) is tuple:  # futures passed as they are, among plain values: no walk
        flat = _replaced_in_flat_tuple(value, kinds[0], extraction.ref)
        if flat is not None:
            return flat
    return extraction.walk(value)


def _replaced_in_flat_tuple(
    value: tuple[Any, ...], target: type[Any], replace: Callable[[Any], Any]
) -> tuple[Any, ...] | None:
    """``value`` with each item of exactly the type ``target`` replaced by ``replace(item)``
    (the very tuple if there is none), provided every other item is a plain value (see
    `_ATOMS`); None for any other tuple, which the full walk then takes."""
    items = []
    replaced = False
    for item in value:
        kind = type(item)
        if kind is target:
            item = replace(item)
            replaced = True
        elif kind not in _ATOMS:
            return None
        items.append(item)
    return tuple(items) if replaced else value


def _holds_none_of(items: Any, kinds: tuple[type[Any], ...]) -> bool:
    """Whether no item is one of ``kinds``."""
    for item in items:  # noqa: SIM110 -- a loop: cheaper than any(<generator>) on every call
        if isinstance(item, kinds):
            return False
    return True


def _rebuilt(value: Any, items: list[Any]) -> Any:
    """A container like ``value`` holding ``items`` (a dict's items are pairs)."""
    if isinstance(value, dict):
        return dict(items)
    if type(value) is list:
        return items
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return type(value)(*items)
    return type(value)(items)


def resolve(value: Any, upstream_states: Mapping[str, State]) -> Any:
    """``value`` with each `UpstreamRef` replaced by its run's result (its exception, for
    a ref that tolerates the failure of a run that did not complete)."""

    def result(ref: UpstreamRef) -> Any:
        state = upstream_states[ref.run_id]
        if ref.tolerate_failure and not state.is_completed():
            return state.result(raise_on_failure=False)
        return state.data

    if type(value) is tuple:  # refs as they are, among plain values (the usual args): no walk
        flat = _replaced_in_flat_tuple(value, UpstreamRef, result)
        if flat is not None:
            return flat
    return _Substitution(UpstreamRef, _REF_KINDS, result).walk(value)


def resolve_or_states(value: Any, upstream_states: Mapping[str, State]) -> Any:
    """``value`` with each `UpstreamRef` replaced by its run's result if it completed, else
    by its final `State`."""

    def result_or_state(ref: UpstreamRef) -> Any:
        state = upstream_states[ref.run_id]
        return state.data if state.is_completed() else state

    return _Substitution(UpstreamRef, _REF_KINDS, result_or_state).walk(value)


def resolve_to_states(value: Any, upstream_states: Mapping[str, State]) -> Any:
    """``value`` with each `UpstreamRef` replaced by its run's final `State`."""
    return _Substitution(UpstreamRef, _REF_KINDS, lambda ref: upstream_states[ref.run_id]).walk(
        value
    )


def resolve_flow_parameters(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A flow's arguments with futures (passed to a subflow, usually) replaced by their
    results, once their runs are final; raises the failure of one that did not complete."""
    found: dict[str, Any] = {}
    args = extract_upstream(args, found)
    if kwargs:
        kwargs = extract_upstream(kwargs, found)
    if not found:
        return args, kwargs
    states = {run_id: future.wait() or future.state for run_id, future in found.items()}
    for state in states.values():
        if not state.is_completed():
            state.result()  # raises the upstream failure
    return resolve(args, states), resolve(kwargs, states)


class _Substitution:
    """One walk of a value that replaces every ``target`` in it by ``replace(target)``.

    Lists, tuples, sets, frozensets and dicts are searched, however deep. A
    container is rebuilt only if something inside it was replaced; otherwise
    the walk gives back the very same object. A container met again inside
    itself (a list holding itself) is left as it is there.
    """

    __slots__ = ("_kinds", "_open", "_replace", "_target")

    def __init__(
        self, target: type[Any], kinds: tuple[type[Any], ...], replace: Callable[[Any], Any]
    ) -> None:
        self._target = target
        self._kinds = kinds  # the target and every container kind
        self._replace = replace
        self._open: set[int] = set()  # ids of the containers being walked

    def walk(self, value: Any) -> Any:
        if isinstance(value, self._target):
            return self._replace(value)
        if not isinstance(value, _CONTAINERS) or not value:
            return value
        if isinstance(value, _IMMUTABLE) and _holds_none_of(value, self._kinds):
            return value  # the usual argument tuple: nothing inside to search
        key = id(value)
        if key in self._open:
            return value
        self._open.add(key)
        try:
            return self._walk_items(value)
        finally:
            self._open.discard(key)

    def _walk_items(self, value: Any) -> Any:
        changed = False
        items: list[Any] = []
        walk, atoms = self.walk, _ATOMS  # plain values are kept without a call to walk
        if isinstance(value, dict):
            for key, item in value.items():
                new = item if type(item) in atoms else walk(item)
                changed = changed or new is not item
                items.append((key, new))
        else:
            for item in value:
                new = item if type(item) in atoms else walk(item)
                changed = changed or new is not item
                items.append(new)
        return _rebuilt(value, items) if changed else value


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


class _Extraction(_Substitution):
    """The walk of `extract_upstream`: futures become refs; `quote` and `allow_failure`
    are unwrapped on the way."""

    __slots__ = ("_found", "_tolerant", "_tolerated")

    def __init__(
        self, kinds: tuple[type[Any], ...], found: dict[str, Any], tolerated: set[str] | None
    ) -> None:
        super().__init__(kinds[0], kinds, self.ref)
        self._found = found
        self._tolerated = tolerated
        self._tolerant = False

    def walk(self, value: Any) -> Any:
        if isinstance(value, quote):
            return value.value
        if isinstance(value, allow_failure):
            outer, self._tolerant = self._tolerant, True
            try:
                return self.walk(value.value)
            finally:
                self._tolerant = outer
        return super().walk(value)

    def ref(self, future: Any) -> UpstreamRef:
        """The ref standing for ``future``, which goes into ``found`` (its id into
        ``tolerated`` too, inside an ``allow_failure``)."""
        run_id = future.run_id
        self._found[run_id] = future
        if self._tolerant and self._tolerated is not None:
            self._tolerated.add(run_id)
        return UpstreamRef(run_id, self._tolerant)
