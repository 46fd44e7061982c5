"""Timeline files of flow tests and the session summary line, through pytester."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_flows.plugin.reports import file_stem

SUITE = """
import threading

import pytest
from flowcore import flow, task
from flowcore.task_runners import ConcurrentTaskRunner

barrier = threading.Barrier(2, timeout=10)


@task
def meet(x):
    barrier.wait()
    return x


@flow(task_runner=ConcurrentTaskRunner())
def meeting():
    return [meet(1), meet(2)]


def test_flow_passes():
    assert meeting() == [1, 2]


def test_flow_fails():
    meeting()
    assert False, "after the flow"


def test_fails_without_flows():
    assert False
"""


def write_ini(pytester: pytest.Pytester, **keys: str) -> None:
    lines = [
        "[pytest]",
        "addopts = -p no:hypothesispytest",
        "asyncio_default_fixture_loop_scope = function",
    ]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    pytester.makeini("\n".join(lines) + "\n")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    write_ini(pytester)
    pytester.makepyfile(test_timeline_suite=SUITE)
    return pytester


def written(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def test_timeline_dir_receives_trace_and_picture_of_failing_flow_tests_only(
    suite: pytest.Pytester,
) -> None:
    result = suite.runpytest("--flow-timeline-dir=timelines")
    result.assert_outcomes(passed=1, failed=2)
    directory = suite.path / "timelines"
    assert written(directory) == [
        "test_timeline_suite.py__test_flow_fails.html",
        "test_timeline_suite.py__test_flow_fails.trace.json",
    ]
    trace = json.loads(
        (directory / "test_timeline_suite.py__test_flow_fails.trace.json").read_text()
    )
    names = {event.get("name") for event in trace["traceEvents"]}
    assert {"meet-0", "meet-1"} <= names
    picture = (directory / "test_timeline_suite.py__test_flow_fails.html").read_text()
    assert "<svg" in picture
    assert "meet-1" in picture
    result.stdout.fnmatch_lines(
        [
            "*- flows -*",
            "flows: 2 flow runs and 4 task runs recorded, peak parallelism 2",
            "flow timeline written: timelines/test_timeline_suite.py__test_flow_fails.trace.json",
            "flow timeline written: timelines/test_timeline_suite.py__test_flow_fails.html",
        ]
    )


def test_summary_escapes_control_characters_in_the_paths_it_names(
    suite: pytest.Pytester,
) -> None:
    result = suite.runpytest("--flow-timeline-dir=time\x1b[31mlines\u202e")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["flow timeline written: time\\x1b[[]31mlines\\u202e/*.html"])
    assert "\x1b" not in result.stdout.str()
    assert "\u202e" not in result.stdout.str()


def test_flow_timeline_all_writes_every_flow_test(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--flow-timeline-dir=timelines", "--flow-timeline=all")
    result.assert_outcomes(passed=1, failed=2)
    assert written(suite.path / "timelines") == [
        "test_timeline_suite.py__test_flow_fails.html",
        "test_timeline_suite.py__test_flow_fails.trace.json",
        "test_timeline_suite.py__test_flow_passes.html",
        "test_timeline_suite.py__test_flow_passes.trace.json",
    ]
    assert result.stdout.str().count("flow timeline written: ") == 4


def test_ini_keys_set_the_timeline_dir_and_mode(suite: pytest.Pytester) -> None:
    write_ini(suite, flow_timeline_dir="from-ini", flow_timeline="all")
    suite.runpytest().assert_outcomes(passed=1, failed=2)
    assert len(written(suite.path / "from-ini")) == 4


def test_options_win_over_the_ini_keys(suite: pytest.Pytester) -> None:
    write_ini(suite, flow_timeline_dir="from-ini", flow_timeline="all")
    suite.runpytest("--flow-timeline-dir=from-option", "--flow-timeline=failed")
    assert written(suite.path / "from-ini") == []
    assert len(written(suite.path / "from-option")) == 2


def test_no_files_without_a_timeline_dir(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--flow-timeline=all")
    result.assert_outcomes(passed=1, failed=2)
    assert "flow timeline written" not in result.stdout.str()
    assert not list(suite.path.rglob("*.trace.json"))


def test_unknown_timeline_mode_in_the_ini_is_a_usage_error(suite: pytest.Pytester) -> None:
    write_ini(suite, flow_timeline="some")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: flow_timeline must be one of failed, all, got 'some'"])


def test_unknown_timeline_mode_option_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--flow-timeline=some")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--flow-timeline: invalid choice: 'some'*"])


def test_no_summary_line_when_no_flow_ran(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_timeline_suite="def test_plain(): pass")
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    assert "flow runs and" not in result.stdout.str()
    assert "- flows -" not in result.stdout.str()


def test_summary_and_files_are_whole_under_xdist(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_timeline_suite=SUITE
        + """
@pytest.mark.parametrize("n", range(4))
def test_many(n):
    assert meeting() == [1, 2]
"""
    )
    result = suite.runpytest("-n", "2", "--flow-timeline-dir=timelines", "--flow-timeline=all")
    result.assert_outcomes(passed=5, failed=2)
    files = written(suite.path / "timelines")
    assert len(files) == 12
    assert "test_timeline_suite.py__test_many-3.trace.json" in files
    result.stdout.fnmatch_lines(
        ["flows: 6 flow runs and 12 task runs recorded, peak parallelism 2"]
    )
    assert result.stdout.str().count("flow timeline written: ") == 12


def test_tests_whose_ids_differ_only_in_unusual_characters_get_separate_files(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_timeline_suite=SUITE
        + """
@pytest.mark.parametrize("label", ["a b", "a?b", "a*b"])
def test_labelled(label):
    meeting()
"""
    )
    suite.runpytest("--flow-timeline-dir=timelines", "--flow-timeline=all", "-k", "labelled")
    assert len(written(suite.path / "timelines")) == 6


def test_file_stem_keeps_a_simple_test_id_readable() -> None:
    assert file_stem("tests/test_x.py::test_y[dask]") == "tests_test_x.py__test_y-dask"
    assert file_stem("tests/test_x.py::TestZ::test_y") == "tests_test_x.py__TestZ__test_y"


def test_file_stem_is_a_safe_and_bounded_file_name() -> None:
    stem = file_stem("tests/test_x.py::test_y[" + "é/\\:*?<>| " * 50 + "]")
    assert len(stem) <= 200
    assert all(char.isascii() and (char.isalnum() or char in "_.-") for char in stem)
    assert file_stem("t.py::test[" + "a" * 300 + "1]") != file_stem(
        "t.py::test[" + "a" * 300 + "2]"
    )
