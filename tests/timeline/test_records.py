from __future__ import annotations

from event_builders import TimelineBuilder, at

from flowcore.states import StateType
from pytest_flows.timeline.records import RunRecord, overlap_ns, overlaps, record_from_events


def retried_run() -> RunRecord:
    events = TimelineBuilder().task("load-0", running=[(10, 20), (30, 50)], pending=5).events()
    return record_from_events(list(enumerate(events)), horizon_ns=at(100))


def test_record_from_events_keeps_history_and_one_interval_per_attempt() -> None:
    record = retried_run()
    assert record.state_types == (
        StateType.PENDING,
        StateType.RUNNING,
        StateType.SCHEDULED,
        StateType.RUNNING,
        StateType.COMPLETED,
    )
    assert record.running_intervals == ((at(10), at(20)), (at(30), at(50)))
    assert record.running_ns == at(20) - at(10) + at(50) - at(30)
    assert (record.start_ns, record.end_ns) == (at(10), at(50))
    assert record.state_order == (0, 1, 2, 3, 4)
    assert record.start_position == 1


def test_a_run_still_running_counts_until_the_horizon() -> None:
    events = TimelineBuilder().task("load-0", running=(10, 20)).events()[:-1]  # no final state
    record = record_from_events(list(enumerate(events)), horizon_ns=at(70))
    assert record.running_intervals == ((at(10), at(70)),)
    assert record.end_ns is None
    assert not record.is_finished


def test_describe_states_names_only_non_default_state_names() -> None:
    assert retried_run().describe_states() == (
        "PENDING -> RUNNING -> SCHEDULED(AwaitingRetry) -> RUNNING(Retrying) -> COMPLETED"
    )


def test_overlap_sums_the_shared_running_time_and_touching_ends_do_not_overlap() -> None:
    timeline = (
        TimelineBuilder()
        .task("a-0", running=[(0, 10), (20, 30)])
        .task("b-0", running=(5, 25))
        .task("c-0", running=(30, 40))
        .build()
    )
    a, b, c = timeline.runs
    assert overlap_ns(a, b) == at(10) - at(5) + at(25) - at(20)
    assert overlaps(a, b)
    assert overlap_ns(a, c) == 0
    assert not overlaps(a, c)
