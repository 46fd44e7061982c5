from __future__ import annotations

import threading

import pytest
from event_builders import MS, ORIGIN_NS, TimelineBuilder, at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcore import events
from flowcore.events import StateEvent
from flowcore.states import StateType
from pytest_flows.timeline import (
    ConcurrencyWindow,
    RunNotFound,
    RunRecord,
    Timeline,
    overlap_ns,
    overlaps,
)


def pipeline() -> TimelineBuilder:
    return (
        TimelineBuilder()
        .flow("pipeline-0", running=(0, 100))
        .task("load-0", running=(10, 40), pending=5, thread="pool-0", parameters={"x": "1"})
        .task("load-1", running=[(10, 20), (30, 50)], pending=5, thread="pool-1", final="FAILED")
        .task("save-0", upstream=["load-1"], pending=5, end=50)
    )


def test_timeline_records_published_events_as_a_subscriber() -> None:
    timeline = Timeline()
    with events.subscribe(timeline.record):
        for event in pipeline().events():
            events.publish(event)
    assert [run.run_name for run in timeline.runs] == ["pipeline-0", "load-0", "load-1", "save-0"]


def test_record_rejects_what_is_not_a_state_event() -> None:
    with pytest.raises(TypeError, match="StateEvent, got 'load-0'"):
        Timeline().record("load-0")  # type: ignore[arg-type]


def test_runs_are_ordered_by_first_event_and_split_by_kind() -> None:
    timeline = (
        TimelineBuilder()
        .flow("f-0", running=(5, 50))
        .task("b-0", running=(6, 9), pending=1)
        .build()
    )
    assert [run.run_name for run in timeline.runs] == ["b-0", "f-0"]
    assert [run.run_name for run in timeline.task_runs] == ["b-0"]
    assert [run.run_name for run in timeline.flow_runs] == ["f-0"]


def test_run_record_holds_history_times_and_where_it_ran() -> None:
    builder = TimelineBuilder().flow("pipeline-0", running=(0, 100))
    builder.task("load-0", running=(10, 40), pending=5, thread="pool-0", parameters={"x": "1"})
    builder.task("save-0", running=(45, 50), upstream=["load-0"], worker="tcp://w:1")
    timeline = builder.build()
    load = timeline.run("load-0")
    assert load.state_types == (StateType.PENDING, StateType.RUNNING, StateType.COMPLETED)
    assert load.final_state.type is StateType.COMPLETED
    assert (load.first_ns, load.start_ns, load.end_ns) == (at(5), at(10), at(40))
    assert load.running_intervals == ((at(10), at(40)),)
    assert load.running_ns == 30 * MS
    assert (load.process_id, load.thread_name, load.worker) == (100, "pool-0", None)
    assert load.parameters == {"x": "1"}
    assert load.kind == "task"
    assert load.name == "load"
    assert load.flow_run_id == builder.run_id("pipeline-0")
    assert load.parent_run_id == builder.run_id("pipeline-0")
    save = timeline.run("save-0")
    assert save.upstream_run_ids == (builder.run_id("load-0"),)
    assert save.worker == "tcp://w:1"


def test_retried_run_has_one_running_interval_per_attempt() -> None:
    load = pipeline().build().run("load-1")
    assert load.running_intervals == ((at(10), at(20)), (at(30), at(50)))
    assert load.running_ns == 30 * MS
    assert load.describe_states() == (
        "PENDING -> RUNNING -> SCHEDULED(AwaitingRetry) -> RUNNING(Retrying) -> FAILED"
    )


def test_run_that_never_ran_has_no_start_and_no_place() -> None:
    save = pipeline().build().run("save-0")
    assert save.start_ns is None
    assert save.running_intervals == ()
    assert save.end_ns == at(50)
    assert save.final_state.name == "UpstreamFailed"
    assert (save.process_id, save.thread_name) == (None, None)


def test_run_still_running_counts_as_running_until_the_last_event() -> None:
    builder = TimelineBuilder().task("slow-0", running=(0, 10)).task("hung-0", running=(2, 3))
    timeline = Timeline.from_events(
        e
        for e in builder.events()
        if e.run_name != "hung-0" or e.state.type is not StateType.COMPLETED
    )
    hung = timeline.run("hung-0")
    assert not hung.is_finished
    assert hung.end_ns is None
    assert hung.running_intervals == ((at(2), at(10)),)


def test_subflow_belongs_to_the_flow_run_that_called_it() -> None:
    builder = TimelineBuilder().flow("outer-0", running=(0, 50))
    builder.flow("inner-0", running=(10, 40), parent="outer-0").task("leaf-0", running=(20, 30))
    timeline = builder.build()
    assert timeline.run("inner-0").parent_run_id == builder.run_id("outer-0")
    assert timeline.run("leaf-0").parent_run_id == builder.run_id("inner-0")
    assert timeline.run("outer-0").parent_run_id is None


def test_run_is_found_by_run_name_task_name_future_record_and_id() -> None:
    builder = pipeline()
    timeline = builder.build()
    save = timeline.run("save-0")
    assert timeline.run("save") is save
    assert timeline.run(builder.future("save-0")) is save
    assert timeline.run(save) is save
    assert timeline.run(builder.run_id("save-0")) is save


def test_task_name_that_ran_several_times_is_ambiguous_and_lists_its_runs() -> None:
    with pytest.raises(
        RunNotFound, match=r"'load' matches 2 runs \(pipeline-0/load-0, pipeline-0/load-1\)"
    ):
        pipeline().build().run("load")


def test_run_names_repeated_across_flow_runs_are_told_apart_by_flow_run_name() -> None:
    builder = TimelineBuilder().flow("a-0", running=(0, 10)).task("load-0", running=(1, 2))
    builder.flow("b-0", running=(20, 30)).task("load-0", running=(21, 22))
    timeline = builder.build()
    with pytest.raises(RunNotFound, match="a-0/load-0, b-0/load-0"):
        timeline.run("load-0")
    assert timeline.run("b-0/load-0").start_ns == at(21)


def test_missing_run_error_lists_the_recorded_runs_and_suggests_the_closest() -> None:
    with pytest.raises(RunNotFound) as error:
        pipeline().build().run("lod-0")
    message = str(error.value)
    assert "no run matches 'lod-0'" in message
    assert "pipeline-0, load-0, load-1, save-0" in message
    assert "Did you mean 'load-0'?" in message
    assert isinstance(error.value, LookupError)


def test_looking_up_a_run_in_an_empty_timeline_says_nothing_was_recorded() -> None:
    with pytest.raises(RunNotFound, match="recorded no runs"):
        Timeline().run("load-0")


def test_future_of_an_unrecorded_run_is_not_found() -> None:
    class Future:
        run_id = "nope"

    with pytest.raises(RunNotFound, match="run id 'nope'"):
        pipeline().build().run(Future())


def test_reference_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="got 42"):
        pipeline().build().run(42)


def test_overlap_is_strict_so_touching_runs_do_not_overlap() -> None:
    timeline = TimelineBuilder().task("a-0", running=(0, 10)).task("b-0", running=(10, 20)).build()
    a, b = timeline.run("a-0"), timeline.run("b-0")
    assert not overlaps(a, b)
    assert overlap_ns(a, b) == 0
    assert not timeline.overlaps("a-0", "b-0")


def test_overlap_counts_every_attempt_of_a_retried_run() -> None:
    timeline = pipeline().build()
    assert timeline.overlap_ns("load-0", "load-1") == 20 * MS
    assert overlaps(timeline.run("load-1"), timeline.run("load-0"))


def test_peak_concurrency_counts_task_runs_running_at_once() -> None:
    timeline = pipeline().build()
    assert timeline.peak_concurrency() == 2
    assert timeline.peak_concurrency(["load-0", "save-0"]) == 1


def test_run_ending_when_another_starts_does_not_add_to_concurrency() -> None:
    builder = TimelineBuilder()
    for index in range(5):
        builder.task(f"step-{index}", running=(index * 10, index * 10 + 10))
    assert builder.build().peak_concurrency() == 1


def test_concurrency_profile_lists_windows_with_the_runs_running() -> None:
    assert pipeline().build().concurrency_profile() == (
        ConcurrencyWindow(at(10), at(20), ("load-0", "load-1")),
        ConcurrencyWindow(at(20), at(30), ("load-0",)),
        ConcurrencyWindow(at(30), at(40), ("load-0", "load-1")),
        ConcurrencyWindow(at(40), at(50), ("load-1",)),
    )


def test_concurrency_profile_merges_windows_with_the_same_runs() -> None:
    timeline = TimelineBuilder().task("a-0", running=(0, 10)).task("b-0", running=(5, 5)).build()
    assert timeline.concurrency_profile() == (ConcurrencyWindow(at(0), at(10), ("a-0",)),)


def test_empty_timeline_has_zero_totals() -> None:
    timeline = Timeline()
    assert timeline.runs == ()
    assert timeline.peak_concurrency() == 0
    assert (timeline.wall_ns, timeline.work_ns, timeline.average_parallelism) == (0, 0, 0.0)
    assert timeline.critical_path() == ()
    assert timeline.origin_ns == 0


def test_start_order_lists_task_runs_that_ran_by_start_time() -> None:
    timeline = (
        TimelineBuilder()
        .task("c-0", running=(30, 40))
        .task("a-0", running=(10, 20))
        .task("b-0", running=(10, 15))
        .task("never-0", upstream=["a-0"], end=20)
        .build()
    )
    assert timeline.start_order() == ["a-0", "b-0", "c-0"]


def test_start_order_breaks_equal_timestamps_by_recording_order() -> None:
    builder = TimelineBuilder().task("second-0", running=(0, 0)).task("first-0", running=(0, 0))
    ordered = sorted(builder.events(), key=lambda e: e.run_name != "first-0")
    assert Timeline.from_events(ordered).start_order() == ["first-0", "second-0"]


def test_totals_measure_wall_time_work_and_average_parallelism() -> None:
    timeline = pipeline().build()
    assert timeline.origin_ns == ORIGIN_NS
    assert timeline.horizon_ns == at(100)
    assert timeline.wall_ns == 100 * MS
    assert timeline.work_ns == 60 * MS
    assert timeline.average_parallelism == pytest.approx(0.6)


def test_critical_path_is_the_dependency_chain_with_most_running_time() -> None:
    timeline = (
        TimelineBuilder()
        .task("extract-0", running=(0, 10))
        .task("extract-1", running=(0, 30))
        .task("transform-0", running=(10, 20), upstream=["extract-0"])
        .task("transform-1", running=(30, 35), upstream=["extract-1"])
        .task("report-0", running=(35, 45), upstream=["transform-0", "transform-1"])
        .build()
    )
    path = [run.run_name for run in timeline.critical_path()]
    assert path == ["extract-1", "transform-1", "report-0"]


def test_critical_path_handles_a_chain_of_a_thousand_runs() -> None:
    builder = TimelineBuilder()
    for index in range(1000):
        builder.task(
            f"t-{index}", running=(index, index + 1), upstream=[f"t-{index - 1}"] * bool(index)
        )
    assert len(builder.build().critical_path()) == 1000


def test_recording_from_many_threads_keeps_every_event() -> None:
    builder = TimelineBuilder()
    for index in range(200):
        builder.task(f"t-{index}", running=(index, index + 5))
    all_events = builder.events()
    timeline = Timeline()

    def record_all(part: list[StateEvent]) -> None:
        for event in part:
            timeline.record(event)

    threads = [threading.Thread(target=record_all, args=(all_events[k::8],)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(timeline.events) == len(all_events)
    assert len(timeline.task_runs) == 200


def test_runs_reflect_events_recorded_after_a_previous_query() -> None:
    builder = pipeline()
    timeline = Timeline()
    for event in builder.events()[:3]:
        timeline.record(event)
    first = len(timeline.runs)
    for event in builder.events()[3:]:
        timeline.record(event)
    assert first < len(timeline.runs) == 4


def test_run_records_are_immutable() -> None:
    record = pipeline().build().run("load-0")
    with pytest.raises(AttributeError):
        record.run_name = "other"  # type: ignore[misc]
    assert isinstance(record, RunRecord)


def test_save_rejects_an_unknown_suffix_naming_the_valid_ones(tmp_path: object) -> None:
    with pytest.raises(ValueError, match=r"\.json \(Chrome trace\) or \.html .*'timeline\.txt'"):
        pipeline().build().save("timeline.txt")


intervals = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 20)).map(lambda p: (p[0], p[0] + p[1])),
    min_size=1,
    max_size=12,
)


# A loaded machine (2 cores, several suites at once) can stall any example
# for seconds: the check is what each example computes, not how fast.
UNDER_LOAD = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@UNDER_LOAD
@given(intervals)
def test_peak_concurrency_matches_counting_at_every_start(spans: list[tuple[int, int]]) -> None:
    builder = TimelineBuilder()
    for index, (start, end) in enumerate(spans):
        builder.task(f"t-{index}", running=(start, end))
    expected = max(
        (sum(1 for s, e in spans if s <= t < e) for t, _ in spans),
        default=0,
    )
    assert builder.build().peak_concurrency() == expected


def test_property_tests_have_no_deadline_a_loaded_machine_could_miss() -> None:
    property_tests = [
        value
        for name, value in globals().items()
        if name.startswith("test_") and hasattr(value, "hypothesis")
    ]
    assert property_tests
    for test in property_tests:
        assert test._hypothesis_internal_use_settings.deadline is None, test.__name__
