"""The pictures of a failing test name it and point at its failure, through pytester."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

SUITE = """
from flowcore import flow, task


@task
def load(x):
    return x


@task
def other(x):
    return x


@flow
def etl():
    return [load(1), load(2), other(3)]


def test_states_of_load(flow_timeline):
    etl()
    flow_timeline.assert_states("load-0", ["PENDING", "RUNNING", "FAILED"])
"""

STEM = "test_suite.py__test_states_of_load"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def result(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_suite=SUITE)
    outcome = pytester.runpytest(
        "--flow-runner=deterministic", "--flow-seed=7", "--flow-timeline-dir=timelines"
    )
    outcome.assert_outcomes(failed=1)
    return outcome


def test_text_chart_marks_the_run_the_assertion_named(result: pytest.RunResult) -> None:
    result.stdout.fnmatch_lines(
        [
            "*- flow timeline -*",
            "  etl-0 *",
            ">   load-0 *",
            "    load-1 *",
            "> marks the runs the failed assertion named",
        ]
    )


def test_html_names_test_runner_seed_and_failure_and_highlights_the_named_run(
    result: pytest.RunResult, pytester: pytest.Pytester
) -> None:
    page = ET.fromstring((pytester.path / "timelines" / f"{STEM}.html").read_text())
    text = "".join(page.itertext())
    assert "Flow timeline: test_suite.py::test_states_of_load" in text
    assert "runner=deterministic · seed=7" in text
    failure = next(e for e in page.iter() if e.get("class") == "failure")
    assert (failure.text or "").splitlines() == [
        "unexpected states for load-0:",
        "  - expected PENDING -> RUNNING -> FAILED",
        "  - got      PENDING -> RUNNING -> COMPLETED",
    ]
    highlighted = [
        e.get("data-run-name") for e in page.iter(f"{SVG}rect") if e.get("class") == "highlight"
    ]
    assert highlighted == ["load-0"]


def test_chrome_trace_names_test_runner_seed_and_highlights_the_named_run(
    result: pytest.RunResult, pytester: pytest.Pytester
) -> None:
    trace = json.loads((pytester.path / "timelines" / f"{STEM}.trace.json").read_text())
    other = trace["otherData"]
    assert (other["test"], other["runner"], other["seed"]) == (
        "test_suite.py::test_states_of_load",
        "deterministic",
        7,
    )
    assert other["highlighted_runs"] == ["load-0"]
    marked = {e["name"] for e in trace["traceEvents"] if e.get("args", {}).get("highlighted")}
    assert marked == {"load-0"}
