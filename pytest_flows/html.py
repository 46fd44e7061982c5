"""A timeline as one self-contained HTML page: an SVG Gantt chart, no scripts.

`to_html(timeline)` returns the page, `save_html(timeline, path)` writes it.
The page is well-formed XHTML (it parses as XML) with inline CSS and SVG,
and needs no network and no JavaScript:

- one row per run, grouped under its flow run as in the text chart; each run
  is an SVG group ``<g class="run ..." data-run-name="load-0">`` whose shapes
  are coloured by state (``pending``, ``scheduled``, ``running``) with a
  marker for the final state (``completed``, ``failed``, ...);
- hovering a run or a shape shows its ``<title>``: run name, states, times;
- a time axis with ticks at round durations;
- one arrow (``<path class="dependency">``) per dependency edge, from the
  upstream run's end to the downstream run's start;
- the runs on the critical path carry the class ``critical``.

Rows shrink from 24 to 8 pixels as runs are added, then the picture grows,
so 1 to 1000 runs stay legible.

    >>> page = to_html(timeline)  # doctest: +SKIP
    >>> save_html(timeline, "flows.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from flowcore.states import StateType
from pytest_flows.gantt import format_ns, nested_runs
from pytest_flows.timeline import RunRecord, Timeline

__all__ = ["save_html", "to_html"]

LABEL_WIDTH = 240
CHART_WIDTH = 960
AXIS_HEIGHT = 36
PADDING = 12

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 18px; margin: 0 0 8px; }
p.totals { margin: 4px 0; font-size: 13px; }
span.swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
  vertical-align: middle; }
svg text { font-size: 11px; fill: #333; }
svg .tick line { stroke: #ddd; }
svg .run:hover rect { stroke: #000; stroke-width: 0.5; }
svg .critical text.label { font-weight: bold; }
svg .dependency { fill: none; stroke: #888; stroke-width: 1; opacity: 0.7; }
.pending { fill: #cfd8dc; background: #cfd8dc; }
.scheduled { fill: #ffca28; background: #ffca28; }
.running { fill: #42a5f5; background: #42a5f5; }
.completed { fill: #2e7d32; background: #2e7d32; }
.failed { fill: #c62828; background: #c62828; }
.crashed { fill: #6a1b9a; background: #6a1b9a; }
.cancelled { fill: #616161; background: #616161; }
"""


def to_html(timeline: Timeline, title: str = "Flow timeline") -> str:
    """The timeline as a self-contained HTML page (a string)."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
            "<head>",
            '<meta charset="utf-8"/>',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{escape(title)}</h1>",
            _totals(timeline),
            _legend(),
            _svg(timeline),
            "</body>",
            "</html>",
        ]
    )


def save_html(timeline: Timeline, path: str | Path) -> Path:
    """Write the page for ``timeline`` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(to_html(timeline), encoding="utf-8")
    return path


def _totals(timeline: Timeline) -> str:
    path = timeline.critical_path()
    names = " → ".join(run.run_name for run in path) or "(no task runs)"
    return (
        f'<p class="totals">{len(timeline.runs)} runs · wall {format_ns(timeline.wall_ns)} · '
        f"work {format_ns(timeline.work_ns)} · peak parallelism {timeline.peak_concurrency()} · "
        f"average parallelism {timeline.average_parallelism:.2f}</p>\n"
        f'<p class="totals">critical path: {escape(names)} '
        f"({format_ns(sum(run.running_ns for run in path))})</p>"
    )


def _legend() -> str:
    items = "".join(
        f'<span class="swatch {kind.value.lower()}"></span>{kind.value.lower()}'
        for kind in StateType
    )
    return f'<p class="totals">{items}</p>'


class _Layout:
    """Where a time and a row land in the picture."""

    def __init__(self, timeline: Timeline, rows: int) -> None:
        self.origin_ns = timeline.origin_ns
        self.span_ns = max(1, timeline.horizon_ns - timeline.origin_ns)
        self.row_height = max(8, min(24, 720 // max(1, rows)))
        self.height = AXIS_HEIGHT + rows * self.row_height + PADDING
        self.width = LABEL_WIDTH + CHART_WIDTH + PADDING

    def x(self, time_ns: int) -> float:
        return round(LABEL_WIDTH + (time_ns - self.origin_ns) * CHART_WIDTH / self.span_ns, 2)

    def y(self, row: int) -> int:
        return AXIS_HEIGHT + row * self.row_height

    def middle(self, row: int) -> float:
        return self.y(row) + self.row_height / 2


def _svg(timeline: Timeline) -> str:
    rows = nested_runs(timeline.runs)
    layout = _Layout(timeline, len(rows))
    critical = {run.run_id for run in timeline.critical_path()}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width}" '
        f'height="{layout.height}" viewBox="0 0 {layout.width} {layout.height}">',
        '<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#888"/></marker></defs>',
        _axis(layout),
    ]
    font = min(11, layout.row_height - 2)
    for row, (depth, run) in enumerate(rows):
        parts.append(_run_group(run, row, depth, layout, font, run.run_id in critical))
    parts.append(_dependencies([run for _, run in rows], layout))
    parts.append("</svg>")
    return "\n".join(parts)


def _axis(layout: _Layout) -> str:
    step = _tick_step(layout.span_ns)
    parts = ['<g class="axis">']
    for offset in range(0, layout.span_ns + 1, step):
        x = layout.x(layout.origin_ns + offset)
        parts.append(
            f'<g class="tick"><line x1="{x}" y1="{AXIS_HEIGHT - 6}" x2="{x}" '
            f'y2="{layout.height - PADDING}"/><text x="{x}" y="{AXIS_HEIGHT - 10}" '
            f'text-anchor="middle">{escape(format_ns(offset))}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)


def _tick_step(span_ns: int) -> int:
    """A round step (1, 2 or 5 times a power of ten ns) giving at most ~10 ticks."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if span_ns / (factor * magnitude) <= 10:
                return factor * magnitude
        magnitude *= 10


def _run_group(
    run: RunRecord, row: int, depth: int, layout: _Layout, font: int, critical: bool
) -> str:
    final = run.final_state
    classes = f"run {run.kind} state-{final.type.value.lower()}" + (" critical" if critical else "")
    top, height = layout.y(row) + 1, layout.row_height - 2
    hover = f"{run.run_name} ({run.kind} {run.name}): " + " → ".join(
        f"{_state_label(state.type.value, state.name)} at "
        f"{format_ns(state.timestamp_ns - layout.origin_ns)}"
        for state in run.states
    )
    parts = [
        f'<g class="{classes}" data-run-id="{escape(run.run_id)}" '
        f'data-run-name="{escape(run.run_name)}" data-state="{final.type.value}">',
        f"<title>{escape(hover)}</title>",
        f'<text class="label" x="{6 + 12 * depth}" y="{layout.middle(row) + font / 3:.1f}" '
        f'font-size="{font}">{escape(run.run_name)}</text>',
    ]
    for index, state in enumerate(run.states):
        if state.is_final():
            continue
        until = run.states[index + 1].timestamp_ns if index + 1 < len(run.states) else None
        end_ns = until if until is not None else layout.origin_ns + layout.span_ns
        x, x_end = layout.x(state.timestamp_ns), layout.x(end_ns)
        label = f"{run.run_name}: {_state_label(state.type.value, state.name)} " + (
            f"{format_ns(state.timestamp_ns - layout.origin_ns)} to "
            f"{format_ns(end_ns - layout.origin_ns)}"
        )
        parts.append(
            f'<rect class="{state.type.value.lower()}" x="{x}" y="{top}" '
            f'width="{max(1.0, round(x_end - x, 2))}" height="{height}">'
            f"<title>{escape(label)}</title></rect>"
        )
    if final.is_final():
        label = f"{run.run_name}: {_state_label(final.type.value, final.name)}"
        if final.message:
            label += f": {final.message}"
        parts.append(
            f'<rect class="end {final.type.value.lower()}" x="{layout.x(final.timestamp_ns) - 1.5}"'
            f' y="{top}" width="3" height="{height}"><title>{escape(label)}</title></rect>'
        )
    parts.append("</g>")
    return "".join(parts)


def _state_label(type_name: str, name: str) -> str:
    return type_name if name.upper() == type_name else f"{type_name} ({name})"


def _dependencies(runs: Sequence[RunRecord], layout: _Layout) -> str:
    row_of = {run.run_id: row for row, run in enumerate(runs)}
    by_id = {run.run_id: run for run in runs}
    parts = ['<g class="dependencies">']
    for row, run in enumerate(runs):
        for upstream_id in run.upstream_run_ids:
            upstream = by_id.get(upstream_id)
            if upstream is None:
                continue
            x1 = layout.x(upstream.end_ns or upstream.final_state.timestamp_ns)
            x2 = layout.x(
                run.start_ns if run.start_ns is not None else run.final_state.timestamp_ns
            )
            y1, y2 = layout.middle(row_of[upstream_id]), layout.middle(row)
            bend = max(12.0, abs(x2 - x1) / 3)
            parts.append(
                f'<path class="dependency" data-from="{escape(upstream.run_name)}" '
                f'data-to="{escape(run.run_name)}" marker-end="url(#arrow)" '
                f'd="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"/>'
            )
    parts.append("</g>")
    return "\n".join(parts)
