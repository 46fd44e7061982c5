"""An explored test's timelines: one schedule at a time, never overlaid."""

from __future__ import annotations

import json

import pytest

from flowcore import flow, task
from pytest_flows.plugin.exploring import ScheduleTimelines

RACE = """
import asyncio

import pytest
from flowcore import flow, task

counter = {"value": 0}


@task
async def increment(lock):
    async with lock:
        value = counter["value"]
        await asyncio.sleep(0)
        counter["value"] = value + 1


@flow
def two_increments():
    counter["value"] = 0
    lock = asyncio.Lock()
    increment(lock), increment(lock)


@pytest.mark.flow_explore(schedules=30, strategy="random")
def test_counter():
    two_increments()
    assert counter["value"] == {expected}
"""

STEM = "test_race.py__test_counter"


@pytest.fixture
def race(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest -p no:randomly\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    return pytester


def test_a_passing_exploration_pictures_its_last_schedule_alone(race: pytest.Pytester) -> None:
    race.makepyfile(test_race=RACE.replace("{expected}", "2"))
    result = race.runpytest("--flow-timeline=all", "--flow-timeline-dir=timelines")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["flows: 30 flow runs and 60 task runs recorded, peak parallelism 2"]
    )
    trace = json.loads((race.path / "timelines" / f"{STEM}.trace.json").read_text())
    running = sorted({e["name"] for e in trace["traceEvents"] if e.get("ph") == "X"})
    assert running[:2] == ["increment-0", "increment-1"]
    assert len(running) == 3
    assert running[2].startswith("two_increments-")
    assert trace["otherData"]["schedule"] == (
        "runs of the last schedule alone (each schedule on its own axis)"
    )


def test_a_failing_exploration_section_shows_one_schedule_and_says_which(
    race: pytest.Pytester,
) -> None:
    race.makepyfile(test_race=RACE.replace("{expected}", "3"))
    result = race.runpytest()
    result.assert_outcomes(failed=1)
    section = result.stdout.str().split("- flow timeline -")[1]
    assert section.count("two_increments-") == 1
    assert "runs of the failing schedule alone (each schedule on its own axis):" in section


def test_each_call_records_a_schedule_of_its_own() -> None:
    @task
    def step(value: int) -> int:
        return value

    @flow
    def steps(count: int) -> list[int]:
        return [step(index) for index in range(count)]

    schedules = ScheduleTimelines()
    recording = schedules.recording(lambda: steps(2))
    for _ in range(3):
        recording()
    assert schedules.count == 3
    assert schedules.shown is not None
    assert len(schedules.shown.flow_runs) == 1
    assert len(schedules.shown.task_runs) == 2
    assert schedules.peak == 1


def test_flow_runner_all_pictures_each_runner_on_its_own(race: pytest.Pytester) -> None:
    race.makepyfile(
        test_each="""
        from flowcore import flow, task

        @task
        def step(value):
            return value

        @flow
        def steps():
            return [step(1), step(2)]

        def test_steps():
            assert steps() == [1, 2]
        """
    )
    result = race.runpytest("--flow-runner=all", "--flow-timeline=all", "--flow-timeline-dir=out")
    outcomes = result.parseoutcomes()
    traces = sorted((race.path / "out").glob("*.trace.json"))
    assert len(traces) == outcomes["passed"] >= 4
    for path in traces:
        trace = json.loads(path.read_text())
        runner = trace["otherData"]["runner"]
        assert path.name == f"test_each.py__test_steps-{runner}.trace.json"
        flows = {e["name"] for e in trace["traceEvents"] if e.get("cat") == "flow"}
        assert flows == {"steps-0"}
