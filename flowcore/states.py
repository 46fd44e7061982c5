"""States: where a flow or task run stands, as immutable records.

A run moves through a few `StateType`s::

    PENDING ─► RUNNING ─► COMPLETED
                  │  ▲
                  ▼  │ (retry)
              SCHEDULED
                  │
                  ▼
     FAILED (the body raised) / CRASHED (the machinery broke) / CANCELLED

A run whose upstream did not complete never starts: it stays PENDING, in a
state named ``NotReady`` (as in Prefect) whose message and exception
(`flowcore.errors.UpstreamFailed`) name that upstream. It is not final, yet
it ends the run: `State.ends_run` is true for it and for the final states.

Each transition is a new `State`; a run keeps them all as its history. The
helpers at the bottom (`Pending`, `Running`, `Completed`, ...) build states with
the conventional names, e.g. ``Failed(name="TimedOut")``.

    >>> state = Completed(timestamp_ns=0, data=42)
    >>> state.is_completed(), state.result()
    (True, 42)

The helpers take keywords as Prefect's do, the timestamp defaulting to now:
``Completed(message="done", data=3)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "NotReady",
    "Pending",
    "Running",
    "Scheduled",
    "State",
    "StateType",
    "new_state",
]


class StateType(enum.Enum):
    """The kind of a state; the final ones end a run."""

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    def __str__(self) -> str:
        return self.value


# A tuple, not a set: ``in`` then compares by identity first, where a set
# would hash the member (a Python-level ``Enum.__hash__``) on every check.
_FINAL = (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED)
_COMPLETED = StateType.COMPLETED  # a module constant: an Enum's attribute reads slowly


_FIELDS = (
    "type", "name", "timestamp_ns", "message", "data", "exception", "scheduled_ns", "task_run_id",
)  # fmt: skip


class _Fields:
    """A `State`'s fields as slots, and writable: every `State` is made as one of these,
    which then takes the `State` class (see `new_state`)."""

    __slots__ = (*_FIELDS, "__weakref__")  # a State can be weakly referred to, as before

    type: StateType
    name: str
    timestamp_ns: int
    message: str
    data: Any
    exception: BaseException | None
    scheduled_ns: int | None
    task_run_id: str | None


@dataclass(frozen=True, eq=False, init=False)
class State(_Fields):
    """One point in a run's life: its type, a name, when, and what came of it.

    ``data`` holds the return value of a completed run; ``exception`` the
    error of a failed or crashed one. ``scheduled_ns`` is set on a SCHEDULED
    state: when the next attempt starts. ``task_run_id`` is set when a task
    run records the state (Prefect's ``state_details.task_run_id``): a flow
    body returning such a state hands its run's verdict on, where a state it
    made itself is its own.

        >>> State(StateType.COMPLETED, "Completed", 0, data=42).result()
        42
    """

    # The fields are `_Fields`' slots (this class adds none, so a `_Fields` can become a
    # State): reading one costs a quarter of reading an instance dict's field that a
    # State's default left out, and a run reads about 30.
    __slots__ = ()

    type: StateType
    name: str
    timestamp_ns: int
    message: str
    data: Any
    exception: BaseException | None
    scheduled_ns: int | None
    task_run_id: str | None

    def __new__(
        cls,
        type: StateType,
        name: str,
        timestamp_ns: int,
        message: str = "",
        data: Any = None,
        exception: BaseException | None = None,
        scheduled_ns: int | None = None,
        task_run_id: str | None = None,
    ) -> State:
        fields = (type, name, timestamp_ns, message, data, exception, scheduled_ns, task_run_id)
        if cls is State:
            return new_state(*fields)
        state = object.__new__(cls)  # a subclass: perhaps another layout
        for field, value in zip(_FIELDS, fields, strict=True):
            object.__setattr__(state, field, value)
        return state

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields (a frozen object cannot take them back one by one)."""
        return (type(self), tuple([getattr(self, field) for field in _FIELDS]))

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's return value; raises the run's exception if it did not complete.

        With ``raise_on_failure=False`` a state that did not complete gives
        its data if it has any (a failed flow run's returned states), else its
        exception, instead of raising, as in Prefect.
        """
        if self.type is _COMPLETED:
            return self.data
        error = self.exception or _missing_result_error(self)
        if raise_on_failure:
            raise error
        return error if self.data is None else self.data

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_final(self) -> bool:
        return self.type.is_final

    def is_not_ready(self) -> bool:
        """Whether the run never started because an upstream run did not complete."""
        return self.type is StateType.PENDING and self.exception is not None

    def ends_run(self) -> bool:
        """Whether nothing more will happen to the run: a final state, or NotReady."""
        return self.type in _FINAL or (
            self.type is StateType.PENDING and self.exception is not None
        )

    def __repr__(self) -> str:
        detail = f", message={self.message!r}" if self.message else ""
        if self.type is StateType.COMPLETED:
            detail += f", result={_short_repr(self.data)}"
        return f"{self.name}(type={self.type.value}{detail})"


def new_state(
    type: StateType,
    name: str,
    timestamp_ns: int,
    message: str = "",
    data: Any = None,
    exception: BaseException | None = None,
    scheduled_ns: int | None = None,
    task_run_id: str | None = None,
) -> State:
    """``State(type, name, ...)``, a Python call cheaper: how the engine makes its states.

    A State is frozen: its ``__setattr__`` refuses, and ``object.__setattr__`` costs 3x
    what making a State does. So the fields are set on a `_Fields`, as fast as on any
    plain object, which then becomes a State: both classes have the same slots.

        >>> new_state(StateType.RUNNING, "Running", 5, task_run_id="run-1").task_run_id
        'run-1'
    """
    state = _Fields()
    state.type = type
    state.name = name
    state.timestamp_ns = timestamp_ns
    state.message = message
    state.data = data
    state.exception = exception
    state.scheduled_ns = scheduled_ns
    state.task_run_id = task_run_id
    state.__class__ = State
    return state  # type: ignore[return-value]  # a State now


def _missing_result_error(state: State) -> BaseException:
    """What ``result()`` raises for a state that did not complete and has no exception."""
    from flowcore.errors import CancelledRun, FailedRun, UnfinishedRun

    if state.type is StateType.FAILED or state.type is StateType.CRASHED:
        return FailedRun(state.message or f"run is in state {state.name} ({state.type.value})")
    if state.type is StateType.CANCELLED:
        return CancelledRun(state.message or f"run was cancelled ({state.name})")
    return UnfinishedRun(f"Run is in {state.type.value} state, its result is not available.")


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _now(timestamp_ns: int | None) -> int:
    """The given timestamp, or now: ``Completed(message="done")`` as in Prefect."""
    if timestamp_ns is not None:
        return timestamp_ns
    from flowcore.clock import real_clock

    return real_clock.now_ns()


def NotReady(timestamp_ns: int, message: str, exception: BaseException) -> State:
    """The state of a run that never started: an upstream run did not complete."""
    return State(StateType.PENDING, "NotReady", timestamp_ns, message, exception=exception)


def Pending(timestamp_ns: int | None = None, name: str = "Pending", **fields: Any) -> State:
    return State(StateType.PENDING, name, _now(timestamp_ns), **fields)


def Scheduled(timestamp_ns: int | None = None, name: str = "Scheduled", **fields: Any) -> State:
    return State(StateType.SCHEDULED, name, _now(timestamp_ns), **fields)


def Running(timestamp_ns: int | None = None, name: str = "Running", **fields: Any) -> State:
    return State(StateType.RUNNING, name, _now(timestamp_ns), **fields)


def Completed(timestamp_ns: int | None = None, name: str = "Completed", **fields: Any) -> State:
    return State(StateType.COMPLETED, name, _now(timestamp_ns), **fields)


def Failed(timestamp_ns: int | None = None, name: str = "Failed", **fields: Any) -> State:
    return State(StateType.FAILED, name, _now(timestamp_ns), **fields)


def Crashed(timestamp_ns: int | None = None, name: str = "Crashed", **fields: Any) -> State:
    return State(StateType.CRASHED, name, _now(timestamp_ns), **fields)


def Cancelled(timestamp_ns: int | None = None, name: str = "Cancelled", **fields: Any) -> State:
    return State(StateType.CANCELLED, name, _now(timestamp_ns), **fields)
