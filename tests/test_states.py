"""States: immutable records of where a run stands."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import weakref

import pytest

from flowcore import State, StateType
from flowcore.errors import MissingResult
from flowcore.states import (
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Pending,
    Running,
    Scheduled,
    new_state,
)


def test_completed_state_gives_its_result():
    state = Completed(timestamp_ns=1, data=42)
    assert state.is_completed()
    assert state.is_final()
    assert state.result() == 42


def test_failed_state_raises_its_exception_or_gives_it():
    error = ValueError("bad")
    state = Failed(timestamp_ns=1, exception=error, message="it failed")
    with pytest.raises(ValueError, match="bad") as caught:
        state.result()
    assert caught.value is error
    assert state.result(raise_on_failure=False) is error


def test_failed_state_with_data_gives_the_data_without_raising():
    inner = Failed(timestamp_ns=1, exception=ValueError("x"))
    state = Failed(timestamp_ns=2, exception=ValueError("x"), data=[inner])
    assert state.result(raise_on_failure=False) == [inner]


def test_state_without_result_says_why():
    from flowcore.errors import CancelledRun, FailedRun, UnfinishedRun

    with pytest.raises(UnfinishedRun, match=r"Run is in PENDING state, its result is not"):
        Pending(timestamp_ns=1).result()
    with pytest.raises(FailedRun, match=r"^gave up$"):  # Prefect's: the state's message
        Failed(message="gave up").result()
    with pytest.raises(CancelledRun, match=r"^stopped$"):
        Cancelled(message="stopped").result()
    assert issubclass(FailedRun, MissingResult)


@pytest.mark.parametrize(
    ("builder", "type_", "check"),
    [
        (Pending, StateType.PENDING, "is_pending"),
        (Scheduled, StateType.SCHEDULED, "is_scheduled"),
        (Running, StateType.RUNNING, "is_running"),
        (Completed, StateType.COMPLETED, "is_completed"),
        (Failed, StateType.FAILED, "is_failed"),
        (Crashed, StateType.CRASHED, "is_crashed"),
        (Cancelled, StateType.CANCELLED, "is_cancelled"),
    ],
)
def test_state_builders_give_the_conventional_type_and_name(builder, type_, check):
    state = builder(timestamp_ns=5)
    assert state.type is type_
    assert state.name == type_.value.capitalize()
    assert getattr(state, check)()
    assert state.is_final() == (
        type_ in {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
    )


def test_final_types_are_the_four_ends():
    assert {t for t in StateType if t.is_final} == {
        StateType.COMPLETED,
        StateType.FAILED,
        StateType.CRASHED,
        StateType.CANCELLED,
    }
    assert str(StateType.RUNNING) == "RUNNING"


def test_states_are_immutable():
    state = Running(timestamp_ns=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.name = "Other"  # type: ignore[misc]
    made = new_state(StateType.RUNNING, "Running", 1, task_run_id="run-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.task_run_id = "run-2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        made.extra = 1  # type: ignore[attr-defined]


def _fields(state: State) -> tuple[object, ...]:
    return tuple(getattr(state, field.name) for field in dataclasses.fields(state))


def test_new_state_makes_the_state_the_class_makes():
    error = ValueError("bad")
    made = new_state(StateType.FAILED, "Failed", 7, "it failed", 3, error, 9, "run-1")
    expected = State(StateType.FAILED, "Failed", 7, "it failed", 3, error, 9, "run-1")
    assert type(made) is State
    assert _fields(made) == _fields(expected)
    assert _fields(new_state(StateType.RUNNING, "Running", 1)) == (
        *(StateType.RUNNING, "Running", 1),
        *("", None, None, None, None),
    )


@pytest.mark.parametrize(
    "copied", [copy.copy, copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))]
)
def test_a_state_copies_and_pickles_with_every_field(copied):
    state = new_state(StateType.SCHEDULED, "AwaitingRetry", 1, "retry 1", [1], None, 5, "run-1")
    again = copied(state)
    assert again is not state
    assert type(again) is State
    assert _fields(again) == _fields(state)


def test_a_state_is_hashable_by_identity_and_weakly_referable():
    state = new_state(StateType.COMPLETED, "Completed", 1, data=[1])
    again = copy.copy(state)
    assert len({state, again, state}) == 2
    assert weakref.ref(state)() is state


def test_replace_gives_a_state_with_the_field_changed():
    state = new_state(StateType.COMPLETED, "Completed", 1, data=2, task_run_id="run-1")
    renamed = dataclasses.replace(state, name="Cached")
    assert (renamed.name, renamed.data, renamed.task_run_id) == ("Cached", 2, "run-1")


def test_a_subclass_of_state_is_made_as_itself():
    class Marked(State):
        pass

    state = Marked(StateType.RUNNING, "Running", 1, task_run_id="run-1")
    assert type(state) is Marked
    assert (state.name, state.message, state.task_run_id) == ("Running", "", "run-1")
    assert type(pickle.loads(pickle.dumps(State(StateType.RUNNING, "R", 1)))) is State


def test_repr_shows_type_message_and_short_result():
    assert (
        repr(Failed(1, name="TimedOut", message="late")) == "TimedOut(type=FAILED, message='late')"
    )
    long = repr(Completed(1, data="x" * 100))
    assert long.startswith("Completed(type=COMPLETED, result='xxx")
    assert long.endswith("...)")
    assert isinstance(State(StateType.RUNNING, "Running", 0), State)
