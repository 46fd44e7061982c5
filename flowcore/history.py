"""How a task run keeps the states before its latest: flat, where the collector cannot see.

A flow of many runs keeps every run alive until it ends, and every object a
run owns is one more for each full garbage collection to walk. A run's
PENDING and RUNNING states carry nothing but a type, a name and a time, so
once a later state follows, `compact` turns each into three items of one
flat tuple of strings and ints, which the collector stops tracking at its
next pass (it would not while the tuple held other tuples). `expand` gives
the `State`s back, equal to the recorded ones.

    >>> from flowcore.states import Pending
    >>> earlier = compact(Pending(timestamp_ns=5))
    >>> earlier
    ('PENDING', 'Pending', 5)
    >>> [state.name for state in expand(earlier, "run-1")]
    ['Pending']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flowcore.states import State, StateType, new_state

__all__ = ["compact", "expand"]


def compact(state: State) -> tuple[Any, ...]:
    """A state as `TaskRun` keeps it once a later one follows, three items to add to the
    flat ``_earlier`` tuple: a plain state (no message, data, exception or schedule, as
    PENDING and RUNNING are) as its type's value, name and timestamp, so the garbage
    collector stops tracking the tuple (it would not while the tuple held other tuples);
    any other as the `State` itself and two Nones."""
    if (
        state.message == ""
        and state.data is None
        and state.exception is None
        and state.scheduled_ns is None
    ):
        # ``_value_``, the enum's plain attribute: ``.value`` is a property, slower.
        return (state.type._value_, state.name, state.timestamp_ns)
    return (state, None, None)


def expand(earlier: tuple[Any, ...], run_id: str) -> Iterator[State]:
    """The `State`s of a flat tuple of `compact` items, in order."""
    for index in range(0, len(earlier), 3):
        kind, name, timestamp_ns = earlier[index : index + 3]
        if isinstance(kind, State):
            yield kind
            continue
        yield new_state(StateType(kind), name, timestamp_ns, task_run_id=run_id)
