from __future__ import annotations

import pytest
from event_builders import TimelineBuilder

from pytest_flows.pictures.gantt import format_ns, render_gantt
from pytest_flows.timeline import Timeline


def pipeline() -> Timeline:
    """Retries, a failure, an upstream failure, a subflow, a crash and a cancellation."""
    return (
        TimelineBuilder()
        .flow("pipeline-0", running=(0, 120))
        .task("extract-0", running=(5, 30), pending=2, thread="pool-0")
        .task("extract-1", running=[(5, 15), (40, 60)], pending=2, thread="pool-1")
        .task(
            "transform-0", running=(30, 70), upstream=["extract-0"], thread="pool-0", final="FAILED"
        )
        .task("report-0", upstream=["transform-0"], pending=30, end=70)
        .flow("publish-0", running=(75, 115), pending=72, parent="pipeline-0")
        .task("upload-0", running=(80, 110), thread="pool-1", final="CRASHED")
        .task("notify-0", running=(80, 90), thread="pool-0", final="CANCELLED")
        .build()
    )


PIPELINE_AT_80 = """\
run           lane 0                                                       120ms
pipeline-0    T1   |==========================================================]|
  extract-0   T2   |..============]                                            |
  extract-1   T3   |..=====~~~~~~~~~~~~==========]                             |
  transform-0 T2   |              ====================X                        |
  report-0    -    |              ....................X                        |
  publish-0   T1   |                                   .====================]  |
    upload-0  T3   |                                       ===============!    |
    notify-0  T2   |                                       =====/              |
wall 120ms | work 135ms | peak parallelism 2 | average parallelism 1.12
critical path: extract-0 -> transform-0 (65ms)
legend: . pending  = running  ~ awaiting retry  ] completed  X failed  ! crashed
  / cancelled
lanes: T1 MainThread  T2 pool-0  T3 pool-1"""

PIPELINE_AT_40 = """\
run        lane 0                  120ms
pipeline-0 T1   |=====================]|
  ext..t-0 T2   |=====]                |
  ext..t-1 T3   |==~~~~~====]          |
  tra..m-0 T2   |     =======X         |
  report-0 -    |     .......X         |
  pub..h-0 T1   |             ========]|
    up..-0 T3   |              ======! |
    no..-0 T2   |              ==/     |
wall 120ms | work 135ms |
  peak parallelism 2 |
  average parallelism 1.12
critical path: extract-0 ->
  transform-0 (65ms)
legend: . pending  = running
  ~ awaiting retry  ] completed
  X failed  ! crashed  / cancelled
lanes: T1 MainThread  T2 pool-0
  T3 pool-1"""

SUBSET_AT_60 = """\
run         lane 2ms                                    70ms
extract-1   T1   |.======~~~~~~~~~~~~~~~============]      |
transform-0 T2   |                ========================X|
wall 120ms | work 135ms | peak parallelism 2 |
  average parallelism 1.12
critical path: extract-0 -> transform-0 (65ms)
legend: . pending  = running  ~ awaiting retry  ] completed
  X failed  ! crashed  / cancelled
lanes: T1 pool-1  T2 pool-0"""


def test_chart_shows_retries_failures_upstream_failures_and_subflows() -> None:
    assert render_gantt(pipeline(), width=80) == PIPELINE_AT_80


def test_chart_squeezes_into_the_minimum_width() -> None:
    chart = render_gantt(pipeline(), width=40)
    assert chart == PIPELINE_AT_40
    assert max(len(line) for line in chart.splitlines()) <= 40


def test_chart_of_some_runs_spans_only_their_time_but_keeps_timeline_times() -> None:
    assert render_gantt(pipeline(), ["extract-1", "transform-0"], width=60) == SUBSET_AT_60


def test_every_line_fits_the_width_asked_for() -> None:
    for width in (40, 57, 80, 133):
        lines = render_gantt(pipeline(), width=width).splitlines()
        assert max(len(line) for line in lines) <= width
        bars = lines[1:9]
        assert all(len(line) == width for line in bars)


def test_chart_is_the_same_text_for_the_same_events() -> None:
    events = pipeline().events
    charts = {render_gantt(Timeline.from_events(events), width=72) for _ in range(5)}
    assert len(charts) == 1


def test_timeline_method_renders_the_same_chart() -> None:
    timeline = pipeline()
    assert timeline.render_gantt(width=80) == render_gantt(timeline, width=80)


def test_default_width_is_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    lines = render_gantt(pipeline()).splitlines()
    assert len(lines[1]) == 90


def test_default_width_is_at_least_forty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    lines = render_gantt(pipeline()).splitlines()
    assert len(lines[1]) == 40


def test_width_below_forty_is_refused_with_the_rule() -> None:
    with pytest.raises(ValueError, match="width >= 40 columns, got 39"):
        render_gantt(pipeline(), width=39)


def test_empty_timeline_renders_a_note() -> None:
    assert render_gantt(Timeline(), width=60) == "(no runs recorded)"


def test_lane_names_the_dask_worker_or_the_thread_and_process_when_several() -> None:
    timeline = (
        TimelineBuilder()
        .task("a-0", running=(0, 10), thread="main", process_id=1)
        .task("b-0", running=(0, 10), thread="pool-3", process_id=2)
        .task("c-0", running=(0, 10), worker="tcp://10.0.0.5:8786", process_id=3)
        .build()
    )
    lines = render_gantt(timeline, width=100).splitlines()
    assert lines[1].startswith("a-0 T1   |")
    assert lines[2].startswith("b-0 T2   |")
    assert lines[3].startswith("c-0 W1   |")
    assert lines[-1] == "lanes: T1 pid 1 main  T2 pid 2 pool-3  W1 10.0.0.5:8786"


def test_lanes_whose_names_differ_only_in_the_middle_get_distinct_ids() -> None:
    threads = ["ThreadPoolExecutor-0_0", "ThreadPoolExecutor-1_0", "ThreadPoolExecutor-0_0"]
    builder = TimelineBuilder()
    for index, thread in enumerate(threads):
        builder.task(f"task-{index}", running=(0, 10), thread=thread)
    lines = render_gantt(builder.build(), width=40).splitlines()
    assert [line.split()[1] for line in lines[1:4]] == ["T1", "T2", "T1"]
    legend = "\n".join(lines[lines.index(next(x for x in lines if x.startswith("lanes:"))) :])
    assert "T1 ThreadPoolExecutor-0_0" in legend
    assert "T2 ThreadPoolExecutor-1_0" in legend


def test_run_shorter_than_a_column_still_shows_its_final_state() -> None:
    timeline = (
        TimelineBuilder()
        .task("long-0", running=(0, 1000))
        .task("blip-0", running=(500, 500.001))
        .build()
    )
    blip = render_gantt(timeline, width=60).splitlines()[2]
    assert blip.count("]") == 1


@pytest.mark.parametrize(
    ("duration_ns", "text"),
    [
        (0, "0"),
        (999, "999ns"),
        (1_500, "1.5us"),
        (12_500_000, "12.5ms"),
        (999_000_000, "999ms"),
        (2_000_000_000, "2s"),
        (250_000_000_000, "250s"),
        (-3_000_000, "-3ms"),
    ],
)
def test_durations_are_written_in_a_readable_unit(duration_ns: int, text: str) -> None:
    assert format_ns(duration_ns) == text


def test_a_run_that_never_ran_is_marked_and_its_upstream_named() -> None:
    from flowcore import flow, subscribe, task

    @task
    def extract() -> None:
        raise ValueError("bad")

    @task
    def load(value: object) -> object:
        return value

    @flow
    def etl() -> None:
        load(extract())

    timeline = Timeline()
    with subscribe(timeline.record):
        etl(return_state=True)
    chart = render_gantt(timeline, width=100)
    row = next(line for line in chart.splitlines() if line.lstrip().startswith("load-0"))
    assert row.rstrip("|").rstrip().endswith("?")
    assert "? never ran" in chart
    assert (
        "never ran: load-0: Upstream task run 'extract-0' did not reach a 'COMPLETED' state."
        in chart.splitlines()
    )


def test_runs_named_to_highlight_are_marked_and_the_mark_explained() -> None:
    chart = render_gantt(pipeline(), width=80, highlight=["extract-1", "upload-0", "nope-0"])
    lines = chart.splitlines()
    marked = [line.split()[1] for line in lines[1:9] if line.startswith("> ")]
    assert marked == ["extract-1", "upload-0"]
    assert lines[1].startswith("  pipeline-0 ")
    assert lines[-1] == "> marks the runs the failed assertion named"
    assert all(len(line) == 80 for line in lines[1:9])


def test_nothing_to_highlight_leaves_the_chart_unmarked() -> None:
    assert render_gantt(pipeline(), width=80, highlight=["nope-0"]) == PIPELINE_AT_80
