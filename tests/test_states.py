"""States: immutable records of where a run stands."""

from __future__ import annotations

import dataclasses

import pytest

from flowcore import State, StateType
from flowcore.errors import MissingResult
from flowcore.states import Cancelled, Completed, Crashed, Failed, Pending, Running, Scheduled


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


def test_repr_shows_type_message_and_short_result():
    assert (
        repr(Failed(1, name="TimedOut", message="late")) == "TimedOut(type=FAILED, message='late')"
    )
    long = repr(Completed(1, data="x" * 100))
    assert long.startswith("Completed(type=COMPLETED, result='xxx")
    assert long.endswith("...)")
    assert isinstance(State(StateType.RUNNING, "Running", 0), State)
