"""The event seam: every transition, once per subscriber, in per-run order, with where it ran."""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import pytest
from conftest import EventLog

from flowcore import StateEvent, events, flow, subscribe, task
from flowcore.events import capture_events, publish
from flowcore.task_runners import TaskRunner
from pytest_flows.timeline import Timeline


@task(retries=1, retry_delay_seconds=0.01)
def sometimes(fail):
    if fail:
        raise ValueError("no")
    return "yes"


@task
def after(value):
    return value


def _pipeline(runner: TaskRunner):
    @flow(task_runner=runner)
    def pipeline():
        good = sometimes.submit(False)
        bad = sometimes.submit(True)
        after.submit(good)
        after.submit(bad)
        return [good, bad]

    return pipeline


def test_every_transition_is_published_once_to_each_subscriber_in_run_order(runner: TaskRunner):
    first, second = EventLog(), EventLog()
    with subscribe(first), subscribe(second):
        state = _pipeline(runner)(return_state=True)
    assert state.is_failed()
    assert [(e.run_id, e.state.name) for e in first.events] == [
        (e.run_id, e.state.name) for e in second.events
    ]
    assert first.state_names("sometimes-0") == ["Pending", "Running", "Completed"]
    assert first.state_names("sometimes-1") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    assert first.state_names("after-0") == ["Pending", "Running", "Completed"]
    assert first.state_names("after-1") == ["Pending", "NotReady"]
    for name in first.run_names():
        runs = first.of(name)
        assert [e.timestamp_ns for e in runs] == sorted(e.timestamp_ns for e in runs)
        assert all(e.timestamp_ns == e.state.timestamp_ns for e in runs)
        assert len({e.run_id for e in runs}) == 1


def test_task_events_carry_names_ids_and_where_they_ran(runner: TaskRunner, runner_name, events):
    _pipeline(runner)(return_state=True)
    flow_run = events.of(events.run_names("flow")[0], "flow")
    assert [e.state.name for e in flow_run] == ["Pending", "Running", "Failed"]
    assert flow_run[0].parent_flow_run_id is None
    pending = events.of("after-0")[0]
    assert pending.upstream_run_ids == (events.of("sometimes-0")[0].run_id,)
    assert pending.parameters == (("0", f"UpstreamRef(run_id={pending.upstream_run_ids[0]!r})"),)
    for event in events.events:
        if event.kind != "task":
            continue
        assert event.name in {"sometimes", "after"}
        assert event.flow_run_id == flow_run[0].run_id
        # On Dask only PENDING happens in the client; the rest on a worker.
        ran_elsewhere = runner_name == "dask" and (
            not event.state.is_pending() or event.state.is_not_ready()
        )
        if ran_elsewhere:
            assert event.worker is not None
            assert event.process_id != os.getpid()
        else:
            assert event.process_id == os.getpid()
            assert event.worker is None
        assert event.thread_name


def test_sequential_runs_are_published_from_the_flows_thread(events):
    from flowcore.task_runners import SequentialTaskRunner

    _pipeline(SequentialTaskRunner())(return_state=True)
    threads = {e.thread_name for e in events.events}
    assert threads == {threading.current_thread().name}


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_a_raising_subscriber_is_reported_once_and_never_disturbs_runs(
    runner_name: str, make_runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def broken(event: StateEvent) -> None:
        calls.append(event)
        raise RuntimeError("subscriber bug")

    @flow(task_runner=make_runner(runner_name))
    def pipeline():
        return [after(1), after(2)]

    log = EventLog()
    # Warnings as errors, as in this project's own configuration: nothing may reach the run.
    with warnings.catch_warnings(), subscribe(broken), subscribe(log):
        warnings.simplefilter("error")
        state = pipeline(return_state=True)
    assert state.is_completed(), state
    assert state.result() == [1, 2]
    assert len(calls) == len(log.events) == 9  # it kept receiving every event
    reports = [r for r in caplog.records if r.name == "flowcore.events"]
    assert len(reports) == 1
    assert "subscriber bug" in caplog.text
    assert "the run goes on" in reports[0].getMessage()


def test_subscribe_needs_a_callable_and_close_is_idempotent():
    with pytest.raises(TypeError, match="subscribe\\(\\) needs a callable"):
        subscribe("not callable")  # type: ignore[arg-type]
    log = EventLog()
    subscription = subscribe(log)
    subscription.close()
    subscription.close()
    after(1)
    assert log.events == []


def test_captured_events_are_not_published():
    log = EventLog()
    with subscribe(log), capture_events() as captured:
        after(1)
    assert log.events == []
    assert [e.state.name for e in captured] == ["Pending", "Running", "Completed"]
    with subscribe(log):
        for event in captured:
            publish(event)
    assert [e.state.name for e in log.events] == ["Pending", "Running", "Completed"]


class _BrokenRecorder:
    """A `Recorder` whose ``record_transition`` raises."""

    def __init__(self) -> None:
        self.calls = 0

    def record(self, event: StateEvent) -> None:
        pass

    def record_transition(self, *parts: object) -> None:
        self.calls += 1
        raise RuntimeError("recorder bug")


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "beside-a-timeline"])
def test_a_raising_recorder_is_reported_once_and_never_disturbs_runs(
    alone: bool, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = _BrokenRecorder()
    with events._subscribers_lock:
        others = events._subscribers
        events._set_subscribers((recorder.record,) if alone else (*others, recorder.record))
    try:
        assert events._recorders, "a recorder is taken for one"
        results = [after(1), after(2)]
    finally:
        with events._subscribers_lock:
            events._set_subscribers(others)
    assert results == [1, 2]
    assert recorder.calls == 6  # it kept receiving every transition
    reports = [r for r in caplog.records if r.name == "flowcore.events"]
    assert len(reports) == 1
    assert "recorder bug" in caplog.text


def test_task_transitions_reach_recorders_as_parts_only_while_nothing_else_listens() -> None:
    log = EventLog()
    recorder = Timeline()
    with subscribe(recorder.record):
        taking_parts = bool(events._recorders)
        with subscribe(log):
            assert not events._recorders  # a plain subscriber: events are built for all
            after(1)
        assert bool(events._recorders) == taking_parts
    with subscribe(lambda event: None):
        assert not events._recorders
    task_events = [event for event in recorder.events if event.kind == "task"]
    assert [event.state.name for event in task_events] == ["Pending", "Running", "Completed"]
    assert [event[:6] + event[7:] for event in task_events] == [
        event[:6] + event[7:] for event in log.events
    ]


def test_captured_events_are_built_even_when_only_recorders_listen() -> None:
    timeline = Timeline()
    with subscribe(timeline.record), capture_events() as captured:
        after(1)
    assert [e.state.name for e in captured] == ["Pending", "Running", "Completed"]
    assert timeline.events == ()
