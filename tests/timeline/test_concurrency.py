from __future__ import annotations

from event_builders import TimelineBuilder, at

from pytest_flows.timeline.concurrency import (
    ConcurrencyWindow,
    concurrency_profile,
    critical_path,
    peak_concurrency,
    start_order,
)


def diamond() -> TimelineBuilder:
    return (
        TimelineBuilder()
        .task("extract-0", running=(0, 10))
        .task("short-0", running=(10, 15), upstream=["extract-0"])
        .task("long-0", running=(10, 40), upstream=["extract-0"])
        .task("load-0", running=(40, 45), upstream=["short-0", "long-0"])
    )


def test_profile_lists_windows_of_the_same_running_runs() -> None:
    runs = diamond().build().runs
    assert concurrency_profile(runs) == (
        ConcurrencyWindow(at(0), at(10), ("extract-0",)),
        ConcurrencyWindow(at(10), at(15), ("long-0", "short-0")),
        ConcurrencyWindow(at(15), at(40), ("long-0",)),
        ConcurrencyWindow(at(40), at(45), ("load-0",)),
    )
    assert peak_concurrency(runs) == 2
    assert peak_concurrency(()) == 0


def test_start_order_breaks_equal_start_times_by_recording_order() -> None:
    assert start_order(diamond().build().runs) == ["extract-0", "short-0", "long-0", "load-0"]


def test_critical_path_follows_the_longest_running_chain_of_dependencies() -> None:
    path = critical_path(diamond().build().runs)
    assert [run.run_name for run in path] == ["extract-0", "long-0", "load-0"]


def test_critical_path_of_independent_runs_is_the_longest_run() -> None:
    runs = TimelineBuilder().task("a-0", running=(0, 5)).task("b-0", running=(0, 9)).build().runs
    assert [run.run_name for run in critical_path(runs)] == ["b-0"]
    assert critical_path(()) == ()
