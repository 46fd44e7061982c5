from __future__ import annotations

import pytest
from event_builders import TimelineBuilder

from flowcore.states import StateType
from pytest_flows.timeline import RunNotFound, Timeline
from pytest_flows.timeline.assertions import (
    assert_all_completed,
    assert_before,
    assert_max_concurrency,
    assert_min_concurrency,
    assert_parallel,
    assert_sequential,
    assert_states,
)


def fan_out() -> Timeline:
    """load-0 and load-1 overlap; load-1 retried; save-0 upstream-failed; late-0 runs alone."""
    return (
        TimelineBuilder()
        .flow("pipeline-0", running=(0, 100))
        .task("load-0", running=(10, 40), pending=5)
        .task("load-1", running=[(10, 20), (30, 50)], pending=5, final="FAILED", message="boom")
        .task("save-0", upstream=["load-1"], pending=5, end=50)
        .task("late-0", running=(60, 70))
        .build()
    )


def completed_chain() -> Timeline:
    return (
        TimelineBuilder()
        .flow("chain-0", running=(0, 40))
        .task("a-0", running=(0, 10))
        .task("b-0", running=(10, 20), upstream=["a-0"])
        .task("c-0", running=(25, 30), upstream=["b-0"])
        .build()
    )


def failure(check: object, *args: object) -> str:
    with pytest.raises(AssertionError) as error:
        check(*args)  # type: ignore[operator]
    return str(error.value)


def test_parallel_passes_when_every_pair_overlapped() -> None:
    assert_parallel(fan_out(), "load-0", "load-1")


def test_parallel_failure_names_the_pair_and_the_gap_with_a_chart() -> None:
    message = failure(assert_parallel, fan_out(), "load-0", "late-0")
    assert message.startswith("expected load-0, late-0 to run in parallel, but:")
    assert "late-0 started 20ms after load-0 stopped running" in message
    assert message.splitlines()[4].startswith("load-0 ")  # the chart's first run row
    assert "legend:" in message


def test_parallel_failure_explains_a_run_that_never_ran() -> None:
    message = failure(assert_parallel, fan_out(), "load-0", "save-0")
    assert "save-0 never ran (PENDING -> FAILED(UpstreamFailed))" in message


def test_parallel_does_not_count_runs_that_only_touch() -> None:
    timeline = TimelineBuilder().task("a-0", running=(0, 10)).task("b-0", running=(10, 20)).build()
    message = failure(assert_parallel, timeline, "a-0", "b-0")
    assert "b-0 started 0 after a-0 stopped running" in message


def test_parallel_needs_at_least_two_distinct_runs() -> None:
    with pytest.raises(ValueError, match=r"at least 2 runs to compare, got 1: \('load-0',\)"):
        assert_parallel(fan_out(), "load-0")
    with pytest.raises(ValueError, match="distinct runs, got load-0 twice"):
        assert_parallel(fan_out(), "load-0", "load-0")


def test_sequential_passes_for_runs_one_after_another_in_order() -> None:
    assert_sequential(completed_chain(), "a-0", "b-0", "c-0")


def test_sequential_failure_says_how_long_runs_overlapped() -> None:
    message = failure(assert_sequential, fan_out(), "load-0", "load-1")
    assert "expected load-0 -> load-1 to run one after another, but:" in message
    assert "load-1 started 30ms before load-0 ended" in message
    assert "load-0 ran 10ms to 40ms; load-1 ran 10ms to 20ms, 30ms to 50ms" in message


def test_sequential_failure_reports_the_wrong_order() -> None:
    message = failure(assert_sequential, completed_chain(), "c-0", "a-0")
    assert "a-0 started 30ms before c-0 ended" in message


def test_sequential_failure_reports_overlap_between_non_neighbours() -> None:
    timeline = (
        TimelineBuilder()
        .task("a-0", running=(0, 30))
        .task("b-0", running=(0, 0))
        .task("c-0", running=(20, 40))
        .build()
    )
    message = failure(assert_sequential, timeline, "a-0", "b-0", "c-0")
    assert "a-0 and c-0 overlapped for 10ms" in message


def test_sequential_failure_reports_runs_that_never_ran() -> None:
    message = failure(assert_sequential, fan_out(), "load-1", "save-0")
    assert "save-0 never ran" in message


def test_sequential_accepts_equal_timestamps_in_recording_order() -> None:
    builder = TimelineBuilder().task("a-0", running=(5, 5)).task("b-0", running=(5, 5))
    assert_sequential(builder.build(), "a-0", "b-0")
    message = failure(assert_sequential, builder.build(), "b-0", "a-0")
    assert "a-0 started 0 before b-0 ended" in message


def test_before_passes_when_the_first_ended_before_the_second_started() -> None:
    assert_before(completed_chain(), "a-0", "c-0")


def test_before_failure_shows_both_runs() -> None:
    message = failure(assert_before, fan_out(), "late-0", "load-0")
    assert message.startswith("expected late-0 to end before load-0 started:")
    assert "load-0 started 60ms before late-0 ended" in message
    chart_rows = [line.split()[0] for line in message.splitlines()[4:6]]
    assert chart_rows == ["load-0", "late-0"]


def test_before_failure_when_the_first_never_ended() -> None:
    builder = TimelineBuilder().task("a-0", running=(0, 10)).task("b-0", running=(20, 30))
    events = [e for e in builder.events() if not (e.run_name == "a-0" and e.state.is_final())]
    message = failure(assert_before, Timeline.from_events(events), "a-0", "b-0")
    assert "a-0 never ended; it is RUNNING" in message


def test_max_concurrency_passes_at_the_peak() -> None:
    assert_max_concurrency(fan_out(), 2)


def test_max_concurrency_failure_names_the_runs_and_when() -> None:
    message = failure(assert_max_concurrency, fan_out(), 1)
    assert message.startswith("expected at most 1 task run RUNNING at once, but 2 were:")
    assert "load-0, load-1 from 10ms to 20ms" in message


def test_min_concurrency_passes_when_enough_ran_at_once() -> None:
    assert_min_concurrency(fan_out(), 2)


def test_min_concurrency_failure_reports_the_most_that_ran_together() -> None:
    message = failure(assert_min_concurrency, fan_out(), 3)
    assert message.startswith("expected at least 3 task runs RUNNING at once, but at most 2 were:")


def test_min_concurrency_failure_when_nothing_ran() -> None:
    message = failure(assert_min_concurrency, Timeline(), 1)
    assert "no task run ever ran" in message


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_concurrency_limits_must_be_whole_numbers_of_at_least_one(bad: object) -> None:
    with pytest.raises(ValueError, match=rf"whole number of runs >= 1, got {bad!r}"):
        assert_max_concurrency(fan_out(), bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"assert_min_concurrency\(\) needs"):
        assert_min_concurrency(fan_out(), bad)  # type: ignore[arg-type]


def test_states_accepts_names_in_any_case_and_state_types() -> None:
    assert_states(fan_out(), "load-0", ["PENDING", "running", StateType.COMPLETED])


def test_states_failure_shows_expected_and_actual_history_and_message() -> None:
    message = failure(assert_states, fan_out(), "load-1", ["PENDING", "RUNNING", "COMPLETED"])
    assert "expected PENDING -> RUNNING -> COMPLETED" in message
    assert (
        "got      PENDING -> RUNNING -> SCHEDULED(AwaitingRetry) -> RUNNING(Retrying) -> FAILED"
        in message
    )
    assert "final state message: boom" in message


def test_states_refuses_unknown_state_names_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'DONE' is not a state type\. Valid: PENDING, SCHEDULED"):
        assert_states(fan_out(), "load-0", ["PENDING", "DONE"])


def test_unknown_run_is_a_lookup_error_not_an_assertion() -> None:
    with pytest.raises(RunNotFound):
        assert_states(fan_out(), "nothing-0", ["PENDING"])


def test_all_completed_passes_when_every_run_completed() -> None:
    assert_all_completed(completed_chain())


def test_all_completed_failure_lists_each_run_that_did_not_complete() -> None:
    message = failure(assert_all_completed, fan_out())
    assert message.startswith("expected all 5 runs to complete, but 2 did not:")
    assert "  - load-1: FAILED: boom" in message
    assert "  - save-0: FAILED (UpstreamFailed)" in message


def test_all_completed_fails_on_an_empty_timeline() -> None:
    assert "recorded no runs" in failure(assert_all_completed, Timeline())


def test_timeline_methods_delegate_to_the_assertions() -> None:
    timeline = fan_out()
    timeline.assert_parallel("load-0", "load-1")
    timeline.assert_before("load-0", "late-0")
    timeline.assert_sequential("load-0", "late-0")
    timeline.assert_max_concurrency(2)
    timeline.assert_min_concurrency(2)
    timeline.assert_states("late-0", ["PENDING", "RUNNING", "COMPLETED"])
    completed_chain().assert_all_completed()
    with pytest.raises(AssertionError, match="to run in parallel"):
        timeline.assert_parallel("load-0", "late-0")


# --- tracebacks ------------------------------------------------------------------

SEQUENTIAL_SUITE = """
from flowcore import flow, task
from flowcore.task_runners import SequentialTaskRunner


@task
def load(x):
    return x


@flow(task_runner=SequentialTaskRunner())
def pipeline():
    return [load(1), load(2)]


def test_loads_overlap(flow_timeline):
    pipeline()
    flow_timeline.assert_parallel("load-0", "load-1")


def test_unknown_run(flow_timeline):
    pipeline()
    flow_timeline.assert_before("load-0", "lood-1")


def test_function_form(flow_timeline):
    from pytest_flows import assert_max_concurrency

    pipeline()
    assert_max_concurrency(flow_timeline, 0)
"""


def test_failing_assertion_traceback_shows_the_users_line_and_no_plugin_frame(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_suite=SEQUENTIAL_SUITE)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            '>       flow_timeline.assert_parallel("load-0", "load-1")',
            "E       AssertionError: expected load-0, load-1 to run in parallel, but:",
            "test_suite.py:17: AssertionError",
            '>       flow_timeline.assert_before("load-0", "lood-1")',
            "E       pytest_flows.timeline.lookup.RunNotFound: no run matches 'lood-1'*",
            "test_suite.py:22: RunNotFound",
            ">       assert_max_concurrency(flow_timeline, 0)",
            "E       ValueError: assert_max_concurrency() needs a whole number of runs >= 1, got 0",
            "test_suite.py:29: ValueError",
        ]
    )
    output = result.stdout.str()
    assert "pytest_flows/" not in output
    assert "__tracebackhide__" not in output
