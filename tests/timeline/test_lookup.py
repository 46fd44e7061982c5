from __future__ import annotations

import pytest
from event_builders import TimelineBuilder

from pytest_flows.timeline.lookup import RunNotFound, find_run, qualified_name
from pytest_flows.timeline.records import RunRecord


def two_flow_runs() -> tuple[TimelineBuilder, tuple[RunRecord, ...]]:
    builder = (
        TimelineBuilder()
        .flow("etl-0", running=(0, 50))
        .task("load-0", running=(5, 10))
        .flow("etl-1", running=(50, 100))
        .task("load-0", running=(55, 60))
        .task("save-0", running=(60, 70))
    )
    return builder, builder.build().runs


def test_finds_by_run_name_task_name_run_id_future_and_record() -> None:
    builder, runs = two_flow_runs()
    save = find_run("save-0", runs)
    assert find_run("save", runs) is save
    assert find_run(save.run_id, runs) is save
    assert find_run(builder.future("save-0"), runs) is save
    assert find_run(save, runs) is save


def test_a_name_repeated_across_flow_runs_is_named_through_its_flow_run() -> None:
    _, runs = two_flow_runs()
    with pytest.raises(RunNotFound, match=r"matches 2 runs \(etl-0/load-0, etl-1/load-0\)"):
        find_run("load-0", runs)
    second = find_run("etl-1/load-0", runs)
    assert qualified_name(second, runs) == "etl-1/load-0"


def test_a_missing_run_lists_the_runs_and_suggests_a_close_name() -> None:
    _, runs = two_flow_runs()
    with pytest.raises(
        RunNotFound, match=r"runs recorded: etl-0, load-0, .* Did you mean 'save-0'"
    ):
        find_run("sav-0", runs)
    with pytest.raises(RunNotFound, match="the timeline recorded no runs"):
        find_run("save-0", ())


def test_a_reference_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"a run reference is a run name.*got 42"):
        find_run(42, ())
