from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest
from event_builders import TimelineBuilder

from pytest_flows.pictures.context import PictureContext
from pytest_flows.pictures.html import save_html, to_html
from pytest_flows.timeline import Timeline

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def pipeline() -> Timeline:
    return (
        TimelineBuilder()
        .flow("pipeline-0", running=(0, 100))
        .task("extract-0", running=(5, 30), pending=2)
        .task("extract-1", running=[(5, 15), (40, 60)], pending=2)
        .task("transform-0", running=(60, 80), upstream=["extract-0", "extract-1"])
        .task("report-0", upstream=["transform-0"], pending=60, end=80, message="x < y & <b>")
        .flow("publish-0", running=(80, 95), parent="pipeline-0")
        .task("upload-0", running=(82, 90), final="CRASHED")
        .build()
    )


def parse(page: str) -> ET.Element:
    return ET.fromstring(page)


def run_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "run" in g.get("class", "").split()]


def test_page_is_well_formed_xhtml_with_inline_svg_and_no_script() -> None:
    page = to_html(pipeline())
    root = parse(page)
    assert root.tag == f"{XHTML}html"
    assert root.find(f"{XHTML}body/{SVG}svg") is not None
    assert root.find(f".//{XHTML}style") is not None
    assert "<script" not in page
    assert "http://" not in page.replace('"http://www.w3.org/', "")


def test_one_group_per_run_identified_by_its_run_name() -> None:
    timeline = pipeline()
    names = [g.get("data-run-name", "") for g in run_groups(parse(to_html(timeline)))]
    assert sorted(names) == sorted(run.run_name for run in timeline.runs)


def test_rows_are_grouped_under_their_flow_runs() -> None:
    names = [g.get("data-run-name") for g in run_groups(parse(to_html(pipeline())))]
    assert names == [
        "pipeline-0",
        "extract-0",
        "extract-1",
        "transform-0",
        "report-0",
        "publish-0",
        "upload-0",
    ]


def test_shapes_are_coloured_by_state_with_a_final_state_marker() -> None:
    groups = {g.get("data-run-name"): g for g in run_groups(parse(to_html(pipeline())))}
    extract = [r.get("class") for r in groups["extract-1"].iter(f"{SVG}rect")]
    assert extract == [
        "pending",
        "running attempt-failed",
        "scheduled",
        "running",
        "end completed",
    ]
    assert "state-crashed" in groups["upload-0"].get("class", "").split()
    upload = [r.get("class") for r in groups["upload-0"].iter(f"{SVG}rect")]
    assert upload == ["running attempt-failed", "end crashed"]  # pending for no time: no rect
    assert groups["report-0"].get("data-state") == "FAILED"


def test_a_microsecond_failed_attempt_shows_in_a_ten_second_chart() -> None:
    timeline = (
        TimelineBuilder()
        .task("long-0", running=(0, 10_000))
        .task("flaky-0", running=[(5_000, 5_000.001), (5_000.002, 5_000.003)])
        .build()
    )
    groups = {g.get("data-run-name"): g for g in run_groups(parse(to_html(timeline)))}
    rects = [r for r in groups["flaky-0"].iter(f"{SVG}rect") if "end" not in r.get("class", "")]
    assert [r.get("class") for r in rects] == ["running attempt-failed", "scheduled", "running"]
    spans = [(float(r.get("x", "")), float(r.get("width", ""))) for r in rects]
    assert all(width >= 3 for _, width in spans)
    assert all(x + width <= next_x for (x, width), (next_x, _) in pairwise(spans))


def test_runs_that_did_not_complete_show_their_final_state_after_the_bar() -> None:
    groups = {g.get("data-run-name"): g for g in run_groups(parse(to_html(pipeline())))}
    outcomes = {
        name: [t.text for t in group.iter(f"{SVG}text") if t.get("class") == "outcome"]
        for name, group in groups.items()
    }
    assert outcomes["report-0"] == ["FAILED (UpstreamFailed)"]
    assert outcomes["upload-0"] == ["CRASHED"]
    assert outcomes["extract-1"] == []


def test_legend_names_every_colour_used_and_the_arrows() -> None:
    page = to_html(pipeline())
    legend = next(p for p in parse(page).iter(f"{XHTML}p") if "legend" in p.get("class", ""))
    swatches = [
        span.get("class", "").split()[1]
        for span in legend.iter(f"{XHTML}span")
        if "swatch" in span.get("class", "")
    ]
    assert swatches[:8] == [
        "pending",
        "running",
        "attempt-failed",
        "scheduled",
        "completed",
        "failed",
        "crashed",
        "cancelled",
    ]
    assert "dependency" in "".join(legend.itertext())


def test_every_run_and_shape_has_hover_text_with_times() -> None:
    groups = {g.get("data-run-name"): g for g in run_groups(parse(to_html(pipeline())))}
    title = groups["extract-1"].find(f"{SVG}title")
    assert title is not None
    assert title.text == (
        "extract-1 (task extract): PENDING at 2ms → RUNNING at 5ms → "
        "SCHEDULED (AwaitingRetry) at 15ms → RUNNING (Retrying) at 40ms → COMPLETED at 60ms; "
        "ran in MainThread (pid 100)"
    )
    for rect in groups["extract-1"].iter(f"{SVG}rect"):
        assert rect.find(f"{SVG}title") is not None


def test_text_is_escaped() -> None:
    page = to_html(pipeline())
    assert "x &lt; y &amp; &lt;b&gt;" in page
    report = next(g for g in run_groups(parse(page)) if g.get("data-run-name") == "report-0")
    texts = [t.text for t in report.iter(f"{SVG}title")]
    assert "report-0: FAILED (UpstreamFailed): x < y & <b>" in texts


def test_one_arrow_per_dependency_edge() -> None:
    root = parse(to_html(pipeline()))
    arrows = [p for p in root.iter(f"{SVG}path") if "dependency" in p.get("class", "").split()]
    edges = {(p.get("data-from"), p.get("data-to")) for p in arrows}
    assert len(arrows) == 3
    assert edges == {
        ("extract-0", "transform-0"),
        ("extract-1", "transform-0"),
        ("transform-0", "report-0"),
    }


def test_arrows_run_from_the_upstream_end_to_the_downstream_start() -> None:
    root = parse(to_html(pipeline()))
    arrow = next(
        p
        for p in root.iter(f"{SVG}path")
        if (p.get("data-from"), p.get("data-to")) == ("extract-0", "transform-0")
    )
    rects = {g.get("data-run-name"): list(g.iter(f"{SVG}rect")) for g in run_groups(root)}
    upstream_end = rects["extract-0"][-1]  # the final-state marker, 4 px wide at the end time
    downstream_start = next(r for r in rects["transform-0"] if r.get("class") == "running")
    route = arrow.get("d", "").split()
    start_x = float(route[0].removeprefix("M").split(",")[0])
    assert start_x == pytest.approx(float(upstream_end.get("x", "0")) + 2)
    assert route[-1] == f"H{downstream_start.get('x')}"
    assert arrow.get("marker-end") == "url(#arrow)"


def test_arrows_follow_the_gap_above_the_downstream_row() -> None:
    root = parse(to_html(pipeline()))
    groups = run_groups(root)
    rows = {g.get("data-run-name"): index for index, g in enumerate(groups)}
    arrow = next(
        p
        for p in root.iter(f"{SVG}path")
        if (p.get("data-from"), p.get("data-to")) == ("extract-0", "transform-0")
    )
    stripes = {float(r.get("y", "")) for r in root.iter(f"{SVG}rect") if r.get("class") == "stripe"}
    row_height = 24
    top_of_transform = 36 + rows["transform-0"] * row_height
    moves = arrow.get("d", "").split()
    assert [move[0] for move in moves] == ["M", "H", "V", "H", "V", "H"]
    assert float(moves[2][1:]) == top_of_transform  # along the gap between rows
    assert top_of_transform in stripes or top_of_transform - row_height in stripes


def test_hovering_a_run_highlights_its_arrows_and_the_runs_they_join_without_scripts() -> None:
    page = to_html(pipeline())
    root = parse(page)
    classes = {g.get("data-run-name"): g.get("class", "").split() for g in run_groups(root)}
    transform = next(c for c in classes["transform-0"] if c[0] == "r" and c[1:].isdigit())
    report = next(c for c in classes["report-0"] if c[0] == "r" and c[1:].isdigit())
    hovered = f"svg:has(g.{transform}:hover)"
    assert f"{hovered} path.from-{transform}, {hovered} path.to-{transform} {{" in page
    assert f"{hovered} g.{report} text.label" in page
    assert "<script" not in page
    markers = {m.get("id") for m in root.iter(f"{SVG}marker")}
    assert markers == {"arrow", "arrow-hot"}


def test_time_axis_has_ticks_at_round_durations() -> None:
    root = parse(to_html(pipeline()))
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "axis")
    ticks = [g for g in axis.iter(f"{SVG}g") if g.get("class") == "tick"]
    labels = [t.text for tick in ticks for t in tick.iter(f"{SVG}text")]
    titles = [t.text for t in axis.iter(f"{SVG}text") if t.get("class") == "axis-title"]
    assert titles == ["time since the first event →"]
    assert labels == [
        "0",
        "10ms",
        "20ms",
        "30ms",
        "40ms",
        "50ms",
        "60ms",
        "70ms",
        "80ms",
        "90ms",
        "100ms",
    ]


def test_critical_path_runs_are_marked() -> None:
    groups = run_groups(parse(to_html(pipeline())))
    critical = [g.get("data-run-name") for g in groups if "critical" in g.get("class", "")]
    assert critical == ["extract-1", "transform-0"]


def test_single_run_renders() -> None:
    timeline = TimelineBuilder().task("only-0", running=(0, 1)).build()
    assert len(run_groups(parse(to_html(timeline)))) == 1


def test_empty_timeline_renders_an_empty_chart() -> None:
    assert run_groups(parse(to_html(Timeline()))) == []


def test_a_thousand_runs_render_quickly_in_a_taller_picture_with_readable_labels() -> None:
    builder = TimelineBuilder().flow("big-0", running=(0, 2000))
    for index in range(1000):
        upstream = [f"t-{index - 1}"] if index else []
        builder.task(f"t-{index}", running=(index, index + 5), upstream=upstream)
    timeline = builder.build()
    started = time.perf_counter()
    page = to_html(timeline)
    assert time.perf_counter() - started < 5  # generous: it takes well under a second
    root = parse(page)
    assert len(run_groups(root)) == 1001
    small = parse(to_html(pipeline())).find(f".//{SVG}svg")
    big = root.find(f".//{SVG}svg")
    assert small is not None
    assert big is not None
    assert int(big.get("height", "0")) > 5 * int(small.get("height", "0"))
    label_sizes = {t.get("font-size") for t in root.iter(f"{SVG}text") if t.get("class") == "label"}
    assert label_sizes == {"10"}
    bottom_labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "bottom-tick"]
    assert bottom_labels[0] == "0"
    assert len(bottom_labels) >= 5


def test_a_short_chart_has_its_axis_labels_only_on_top() -> None:
    root = parse(to_html(pipeline()))
    assert [t for t in root.iter(f"{SVG}text") if t.get("class") == "bottom-tick"] == []


def test_save_writes_the_page_and_timeline_save_picks_it_by_suffix(tmp_path: Path) -> None:
    timeline = pipeline()
    assert save_html(timeline, tmp_path / "a.html").read_text(encoding="utf-8") == to_html(timeline)
    saved = timeline.save(tmp_path / "b.html")
    assert saved.read_text(encoding="utf-8") == timeline.to_html()


def test_context_titles_the_page_after_the_test_and_highlights_the_named_runs() -> None:
    context = PictureContext(
        test="tests/test_etl.py::test_order",
        runner="deterministic",
        seed=42,
        failure="expected extract-0 before transform-0, but:\n  - <no>",
        highlighted=frozenset({"extract-0", "transform-0"}),
    )
    root = parse(to_html(pipeline(), context=context))
    assert root.findtext(f"{XHTML}head/{XHTML}title") == (
        "Flow timeline: tests/test_etl.py::test_order"
    )
    body = root.find(f"{XHTML}body")
    assert body is not None
    heading, subtitle, failure = list(body)[:3]
    assert heading.text == "Flow timeline: tests/test_etl.py::test_order"
    assert subtitle.text == "runner=deterministic · seed=42"
    assert failure.get("class") == "failure"
    assert failure.text == "expected extract-0 before transform-0, but:\n  - <no>"
    bands = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "highlight"]
    assert [r.get("data-run-name") for r in bands] == ["extract-0", "transform-0"]


def test_without_context_nothing_is_highlighted() -> None:
    page = to_html(pipeline())
    assert 'class="highlight"' not in page
    assert 'class="failure"' not in page
