"""Property tests: random task graphs with random failures, under every runner.

For any DAG and any set of failing tasks, each run ends as the graph implies:
a failing task FAILED, every descendant of a failure UpstreamFailed, every
other run COMPLETED; and the recorded timeline puts each completed upstream
before its completed downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcore import State, flow, subscribe, task
from flowcore.task_runners import TaskRunner
from pytest_flows import DeterministicTaskRunner, Timeline

MAX_TASKS = 7


@task
def node(index: int, fails: bool, *upstream: int) -> int:
    if fails:
        raise ValueError(f"node {index} fails")
    return index


@st.composite
def graphs(draw: Any) -> tuple[int, list[tuple[int, ...]], frozenset[int]]:
    """``size`` tasks; ``parents[i]`` are earlier tasks i depends on; ``failing`` raise."""
    size = draw(st.integers(min_value=1, max_value=MAX_TASKS))
    parents = [
        tuple(sorted(draw(st.sets(st.integers(0, index - 1), max_size=3)))) if index else ()
        for index in range(size)
    ]
    failing = draw(st.frozensets(st.integers(0, size - 1), max_size=2))
    return size, parents, failing


def _expected(parents: list[tuple[int, ...]], failing: frozenset[int]) -> list[str]:
    names: list[str] = []
    for index, ups in enumerate(parents):
        if any(names[up] != "Completed" for up in ups):
            names.append("NotReady")
        elif index in failing:
            names.append("Failed")
        else:
            names.append("Completed")
    return names


def _fields(state: State) -> tuple[object, ...]:
    """A state's fields: a timeline gives equal states, not the runs' own objects."""
    return (state.type, state.name, state.timestamp_ns, state.message, state.task_run_id)


def _check_graph(
    runner: TaskRunner, size: int, parents: list[tuple[int, ...]], failing: frozenset[int]
) -> None:
    @flow(task_runner=runner)
    def graph() -> list[Any]:
        futures: list[Any] = []
        for index in range(size):
            ups = [futures[up] for up in parents[index]]
            futures.append(node.submit(index, index in failing, *ups))
        return futures

    timeline = Timeline()
    with subscribe(timeline.record):
        state: State = graph(return_state=True)
    run_states = [timeline.run(f"node-{index}").final_state for index in range(size)]
    if not state.is_completed():  # a failed flow's data: the returned futures' states
        returned = state.result(raise_on_failure=False)
        assert [_fields(s) for s in returned] == [_fields(s) for s in run_states]
    expected = _expected(parents, failing)
    assert [s.name for s in run_states] == expected
    assert state.is_completed() == (expected.count("Completed") == size)
    for index, ups in enumerate(parents):
        for up in ups:
            if expected[index] == "Completed":
                timeline.assert_before(f"node-{up}", f"node-{index}")
            if expected[index] == "NotReady" and expected[up] != "Completed":
                assert "did not reach a 'COMPLETED' state" in (run_states[index].message or "")


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
        database=None,
    )


@pytest.mark.parametrize(
    ("runner_name", "examples"),
    [("sequential", 25), ("concurrent", 25), ("async", 25), ("deterministic", 25), ("dask", 4)],
)
def test_random_graph_final_states_follow_the_graph(
    make_runner: Callable[[str], TaskRunner], runner_name: str, examples: int
) -> None:
    if runner_name == "deterministic":
        runner: TaskRunner = DeterministicTaskRunner(seed=7)
    else:
        runner = make_runner(runner_name)

    @_settings(examples)
    @given(graphs())
    def check(drawn: tuple[int, list[tuple[int, ...]], frozenset[int]]) -> None:
        _check_graph(runner, *drawn)

    check()
