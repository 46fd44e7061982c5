"""A flow's final state from what its body returned: Prefect 2.20's rules, as measured.

Each case states what prefect 2.20.27 gave for the same flow (``.submit()``
calls, the same return value), recorded with ``return_state=True``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from flowcore import StateType, flow, task
from flowcore.states import Completed, Failed


@task
def ok() -> int:
    return 1


@task
def bad() -> None:
    raise ValueError("x")


@task
def after(value: Any) -> Any:
    return value


def _returns(value_of: Any) -> Any:
    @flow
    def pipeline() -> Any:
        return value_of()

    return pipeline(return_state=True)


class Pair(NamedTuple):
    first: Any
    second: Any


class Futures(list):  # type: ignore[type-arg]
    """A list subclass: data to Prefect, not a collection of runs."""


def _twice(future: Any) -> list[Any]:
    return [future, future, ok.submit()]


@pytest.mark.parametrize(
    ("returned", "kind", "message"),
    [
        # Prefect 2.20: Failed '1/1 states failed.'
        (lambda: bad.submit(), StateType.FAILED, "1/1 states failed."),
        # Completed 'All states completed.'
        (lambda: ok.submit(), StateType.COMPLETED, "All states completed."),
        (lambda: [ok.submit(), ok.submit()], StateType.COMPLETED, "All states completed."),
        # Failed '1/2 states failed.'
        (lambda: [bad.submit(), ok.submit()], StateType.FAILED, "1/2 states failed."),
        # a mix of futures and plain data is data: Completed None
        (lambda: (bad.submit(), ok.submit(), "bar"), StateType.COMPLETED, ""),
        # a dict is data, even of futures only: Completed None
        (lambda: {"a": bad.submit()}, StateType.COMPLETED, ""),
        # an empty list is data: Completed None
        (lambda: [], StateType.COMPLETED, ""),
        # a state the body made itself is the flow run's: Completed 'hi'
        (lambda: Completed(message="hi"), StateType.COMPLETED, "hi"),
        (lambda: Failed(message="by hand"), StateType.FAILED, "by hand"),
        # Failed '1/2 states failed.', for a tuple and a set alike
        (lambda: (ok.submit(), bad.submit()), StateType.FAILED, "1/2 states failed."),
        (lambda: {ok.submit(), bad.submit()}, StateType.FAILED, "1/2 states failed."),
        # each item counts, a future returned twice too: Failed '2/3 states failed.'
        (lambda: _twice(bad.submit()), StateType.FAILED, "2/3 states failed."),
        (lambda: _twice(bad.submit(return_state=True)), StateType.FAILED, "2/3 states failed."),
        # a namedtuple, a frozenset and a list subclass of futures are data: Completed None
        (lambda: Pair(ok.submit(), bad.submit()), StateType.COMPLETED, ""),
        (lambda: frozenset([ok.submit(), bad.submit()]), StateType.COMPLETED, ""),
        (lambda: Futures([ok.submit(), bad.submit()]), StateType.COMPLETED, ""),
    ],
    ids=[
        "failed-future",
        "future",
        "list-of-futures",
        "list-with-a-failure",
        "mixed-tuple",
        "dict",
        "empty-list",
        "own-completed-state",
        "own-failed-state",
        "tuple-with-a-failure",
        "set-with-a-failure",
        "a-failed-future-twice",
        "a-failed-state-twice",
        "namedtuple",
        "frozenset",
        "list-subclass",
    ],
)
def test_the_returned_value_decides_as_in_prefect(returned: Any, kind: Any, message: str) -> None:
    state = _returns(returned)
    assert (state.type, state.message) == (kind, message)


def test_none_decides_by_every_run_and_not_ready_runs_do_not_count_as_failed() -> None:
    @flow
    def one_failure_one_dependent() -> None:
        after.submit(bad.submit())

    @flow
    def all_fine() -> None:
        ok.submit()

    state = one_failure_one_dependent(return_state=True)
    assert (state.type, state.message) == (StateType.FAILED, "1/2 states failed.")
    state = all_fine(return_state=True)
    assert (state.type, state.message) == (StateType.COMPLETED, "All states completed.")


def test_a_failed_subflow_counts_among_the_states_of_a_flow_returning_none() -> None:
    @flow
    def child() -> None:
        bad.submit()

    @flow
    def parent() -> None:
        child(return_state=True)
        ok.submit()

    state = parent(return_state=True)
    assert (state.type, state.message) == (StateType.FAILED, "1/2 states failed.")


def test_data_keeps_results_of_completed_runs_and_states_of_the_others() -> None:
    state = _returns(lambda: {"good": ok.submit(), "bad": bad.submit(), "plain": 3})
    data = state.result()
    assert data["good"] == 1
    assert data["plain"] == 3
    assert data["bad"].type is StateType.FAILED


def test_the_data_of_returned_runs_keeps_the_shape_of_what_was_returned() -> None:
    assert _returns(lambda: (ok.submit(), after.submit(2))).result() == (1, 2)
    assert _returns(lambda: {ok.submit(), after.submit(2)}).result() == {1, 2}
    returned = _returns(lambda: _twice(after.submit(5)))
    assert (returned.message, returned.result()) == ("All states completed.", [5, 5, 1])
    # data: each future in place of its result, or of its state if it did not complete
    pair = _returns(lambda: Pair(ok.submit(), bad.submit())).result()
    assert type(pair) is Pair
    assert (pair.first, pair.second.type) == (1, StateType.FAILED)


def test_a_failed_flow_gives_the_states_in_the_order_returned() -> None:
    state = _returns(lambda: [ok.submit(), bad.submit(), ok.submit(return_state=True)])
    kinds = [item.type for item in state.data]
    assert kinds == [StateType.COMPLETED, StateType.FAILED, StateType.COMPLETED]
    assert isinstance(state.exception, ValueError)
