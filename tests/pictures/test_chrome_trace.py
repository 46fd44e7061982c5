from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from event_builders import TimelineBuilder

from pytest_flows.pictures.chrome_trace import save_chrome_trace, to_chrome_trace
from pytest_flows.timeline import Timeline


def pipeline() -> Timeline:
    return (
        TimelineBuilder()
        .flow("pipeline-0", running=(0, 100))
        .task("load-0", running=(10, 40), pending=5, parameters={"x": "1"})
        .task("load-1", running=[(10, 20), (30, 50)], pending=5, final="FAILED", message="boom")
        .task("load-2", running=(15, 25))
        .task("save-0", upstream=["load-1"], pending=5, end=50)
        .task("late-0", running=(40, 70), worker="tcp://127.0.0.1:4000", process_id=222)
        .flow("sub-0", running=(60, 90), parent="pipeline-0")
        .task("leaf-0", running=(65, 85))
        .build()
    )


def slices(trace: dict[str, Any], category: str | None = None) -> list[dict[str, Any]]:
    return [
        event
        for event in trace["traceEvents"]
        if event["ph"] == "X" and (category is None or event["cat"] == category)
    ]


def test_trace_has_the_chrome_trace_top_level_shape() -> None:
    trace = to_chrome_trace(pipeline())
    assert trace["displayTimeUnit"] == "ms"
    assert isinstance(trace["traceEvents"], list)
    json.loads(json.dumps(trace))


def test_every_event_has_the_required_keys_and_types() -> None:
    for event in to_chrome_trace(pipeline())["traceEvents"]:
        assert isinstance(event["name"], str)
        assert event["ph"] in {"X", "M", "i"}
        assert isinstance(event["pid"], int)
        assert isinstance(event["tid"], int)
        assert isinstance(event["args"], dict)
        if event["ph"] == "X":
            assert isinstance(event["ts"], float)
            assert isinstance(event["dur"], float)
            assert event["dur"] >= 0
            assert isinstance(event["cat"], str)


def test_each_running_stretch_is_a_slice_in_microseconds_from_the_first_event() -> None:
    load = next(s for s in slices(to_chrome_trace(pipeline())) if s["name"] == "load-0")
    assert (load["ts"], load["dur"]) == (10_000.0, 30_000.0)
    assert load["cat"] == "task"
    assert load["args"]["parameters"] == {"x": "1"}
    assert load["args"]["state"] == "Completed"


def test_retries_are_separate_slices_with_the_wait_between_them() -> None:
    trace = to_chrome_trace(pipeline())
    attempts = [s for s in slices(trace, "task") if s["name"] == "load-1"]
    assert [(s["ts"], s["dur"], s["args"]["attempt"]) for s in attempts] == [
        (10_000.0, 10_000.0, 1),
        (30_000.0, 20_000.0, 2),
    ]
    assert [s["args"]["state"] for s in attempts] == ["AwaitingRetry", "Failed"]
    assert attempts[1]["args"]["message"] == "boom"
    (wait,) = slices(trace, "retry-wait")
    assert (wait["ts"], wait["dur"], wait["tid"]) == (20_000.0, 10_000.0, attempts[0]["tid"])


def test_flow_runs_are_slices_enclosing_their_task_runs() -> None:
    trace = to_chrome_trace(pipeline())
    flows = {s["name"]: s for s in slices(trace, "flow")}
    assert set(flows) == {"pipeline-0", "sub-0"}
    leaf = next(s for s in slices(trace, "task") if s["name"] == "leaf-0")
    sub = flows["sub-0"]
    assert sub["ts"] <= leaf["ts"]
    assert leaf["ts"] + leaf["dur"] <= sub["ts"] + sub["dur"]


def test_no_two_slices_overlap_on_one_lane() -> None:
    by_lane: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for event in slices(to_chrome_trace(pipeline())):
        by_lane[(event["pid"], event["tid"])].append((event["ts"], event["ts"] + event["dur"]))
    for spans in by_lane.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start


def test_one_lane_per_concurrently_running_run() -> None:
    trace = to_chrome_trace(pipeline())
    local = [s for s in slices(trace, "task") if s["pid"] == 1]
    assert len({s["tid"] for s in local}) == 3  # load-0, load-1 and load-2 overlap


def test_metadata_names_processes_and_lanes() -> None:
    trace = to_chrome_trace(pipeline())
    metadata = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    processes = {e["pid"]: e["args"]["name"] for e in metadata if e["name"] == "process_name"}
    assert processes == {1: "process 100", 2: "worker tcp://127.0.0.1:4000 (process 222)"}
    lanes = {(e["pid"], e["tid"]) for e in metadata if e["name"] == "thread_name"}
    used = {(s["pid"], s["tid"]) for s in slices(trace)}
    assert used <= lanes


def test_run_that_never_ran_is_an_instant_event() -> None:
    trace = to_chrome_trace(pipeline())
    (instant,) = [e for e in trace["traceEvents"] if e["ph"] == "i"]
    assert instant["name"] == "save-0 (UpstreamFailed)"
    assert instant["ts"] == 50_000.0
    assert instant["args"]["state_type"] == "FAILED"


def test_empty_timeline_gives_a_valid_empty_trace() -> None:
    trace = to_chrome_trace(Timeline())
    assert slices(trace) == []
    json.dumps(trace)


def test_save_writes_json_and_timeline_save_picks_it_by_suffix(tmp_path: Path) -> None:
    timeline = pipeline()
    written = save_chrome_trace(timeline, tmp_path / "a.json")
    assert json.loads(written.read_text(encoding="utf-8")) == to_chrome_trace(timeline)
    saved = timeline.save(tmp_path / "b.json")
    assert json.loads(saved.read_text(encoding="utf-8")) == timeline.to_chrome_trace()


def recorded_flows() -> Timeline:
    """A real recording: concurrent task runs, a retried one, a failure and a subflow."""
    from flowcore import events, flow, task
    from flowcore.task_runners import ConcurrentTaskRunner

    attempts: list[int] = []

    @task
    def square(x: int) -> int:
        return x * x

    @task(retries=1, retry_delay_seconds=0)
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")
        return x

    @task
    def broken(values: list[int]) -> int:
        raise ValueError(f"cannot add {values}")

    @flow(task_runner=ConcurrentTaskRunner(max_workers=4))
    def inner(n: int) -> list[int]:
        return [square(x).result() for x in range(n)]

    @flow(task_runner=ConcurrentTaskRunner(max_workers=4))
    def outer() -> None:
        futures = [square(x) for x in range(6)]
        retried = flaky(3)
        broken([*futures, retried, *inner(2)])

    timeline = Timeline()
    with events.subscribe(timeline.record):
        outer(return_state=True)
    return timeline


def test_trace_of_real_flows_is_structurally_valid() -> None:
    timeline = recorded_flows()
    trace = json.loads(json.dumps(to_chrome_trace(timeline)))
    runs = slices(trace, "task") + slices(trace, "flow")
    assert len(runs) == sum(len(run.running_intervals) for run in timeline.runs)
    assert len(slices(trace, "retry-wait")) == 1
    by_lane: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for event in slices(trace):
        assert event["dur"] >= 0
        start_ns = round(event["ts"] * 1000)
        by_lane[(event["pid"], event["tid"])].append(
            (start_ns, start_ns + round(event["dur"] * 1000))
        )
    for spans in by_lane.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start
    named = {(e["pid"], e["tid"]) for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert set(by_lane) <= named
    flows = {s["name"]: s for s in slices(trace, "flow")}
    for task_slice in slices(trace, "task"):
        owner = flows["outer-0"]
        assert owner["ts"] <= task_slice["ts"] <= owner["ts"] + owner["dur"]
