"""A timeline as one self-contained HTML page: an SVG Gantt chart, no scripts.

`to_html(timeline)` returns the page, `save_html(timeline, path)` writes it.
The page is well-formed XHTML (it parses as XML) with inline CSS and SVG,
and needs no network and no JavaScript:

- one row per run, grouped under its flow run as in the text chart; each run
  is an SVG group ``<g class="run ..." data-run-name="load-0">`` whose shapes
  are coloured by state (``pending``, ``scheduled``, ``running``) with a
  marker for the final state (``completed``, ``failed``, ...); a RUNNING
  stretch that ended in a failure or a retry also has the class
  ``attempt-failed`` (drawn red), and a run that did not complete has its
  final state written after its bar; every stretch is at least
  `MIN_STRETCH` pixels wide, so a failed attempt shows at any scale;
- hovering a run or a shape shows its ``<title>``: run name, states, times,
  and where it ran;
- a time axis with ticks at round durations, and a legend;
- one arrow (``<path class="dependency">``) per dependency edge, from the
  upstream run's end to the downstream run's start, along the gaps between
  rows, with an arrowhead; hovering a run highlights its arrows and the
  runs they join (CSS only, `html_arrows`);
- the runs on the critical path carry the class ``critical`` (bold label);
- with a `PictureContext` (the plugin passes one for a failing test): the
  test's node id in the title, its runner and seed under it, the failed
  assertion's message (``<pre class="failure">``) at the top, and a yellow
  band (``<rect class="highlight">``) behind the rows of the runs it named.

Rows shrink from 24 to 12 pixels as runs are added, then the picture grows
(a 10-pixel font at the smallest), so 1 to 1000 runs stay legible; past 30
rows the axis labels are repeated under the chart.

    >>> page = to_html(timeline)  # doctest: +SKIP
    >>> save_html(timeline, "flows.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from flowcore.states import StateType
from pytest_flows.pictures.context import PictureContext
from pytest_flows.pictures.gantt import format_ns, nested_runs
from pytest_flows.pictures.html_arrows import MARKERS, dependency_arrows, row_class
from pytest_flows.printable import printable
from pytest_flows.timeline.timeline import RunRecord, Timeline

__all__ = ["save_html", "to_html"]

LABEL_WIDTH = 240
CHART_WIDTH = 960
AXIS_HEIGHT = 36
PADDING = 12
BOTTOM_AXIS_AFTER_ROWS = 30
OUTCOME_MARGIN = 150  # room right of the chart for a final state's name
MIN_STRETCH = 3.0  # pixels: the narrowest a state's stretch is drawn

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 18px; margin: 0 0 8px; }
p.totals { margin: 4px 0; font-size: 13px; }
span.swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
  vertical-align: middle; }
span.arrow { margin: 0 4px 0 12px; color: #455a64; font-weight: bold; }
svg text { font-size: 11px; fill: #333; }
svg text.axis-title { fill: #666; font-style: italic; }
svg text.outcome { fill: #b71c1c; }
svg .tick line { stroke: #e0e0e0; }
svg rect.stripe { fill: #f5f7fa; }
svg rect.highlight, span.highlight { fill: #fff176; background: #fff176; }
p.context { margin: 0 0 8px; font-size: 13px; color: #555; }
pre.failure { margin: 0 0 12px; padding: 8px 12px; font-size: 13px; white-space: pre-wrap;
  background: #ffebee; border-left: 4px solid #c62828; }
svg .run:hover rect { stroke: #000; stroke-width: 0.5; }
svg .critical text.label { font-weight: bold; }
svg .dependency { fill: none; stroke: #455a64; stroke-width: 1.2; opacity: 0.85; }
.pending { fill: #cfd8dc; background: #cfd8dc; }
.scheduled { fill: #ffca28; background: #ffca28; }
.running { fill: #42a5f5; background: #42a5f5; }
.running.attempt-failed, .attempt-failed { fill: #ef9a9a; background: #ef9a9a; }
.completed { fill: #2e7d32; background: #2e7d32; }
.failed { fill: #c62828; background: #c62828; }
.crashed { fill: #6a1b9a; background: #6a1b9a; }
.cancelled { fill: #616161; background: #616161; }
"""


def to_html(
    timeline: Timeline, title: str = "Flow timeline", context: PictureContext | None = None
) -> str:
    """The timeline as a self-contained HTML page (a string).

    With a ``context`` (see `PictureContext`), the page is titled after the
    test, names its runner and seed, shows the failed assertion's message
    at the top and highlights the runs it named.
    """
    context = context or PictureContext()
    if context.test:
        title = f"{title}: {context.test}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">',
            "<head>",
            '<meta charset="utf-8"/>',
            f"<title>{_text(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f"<h1>{_text(title)}</h1>",
            _context(context),
            _totals(timeline),
            _legend(bool(context.highlighted)),
            _svg(timeline, context.highlighted),
            "</body>",
            "</html>",
        ]
    )


def _text(value: str) -> str:
    """``value`` for the page's text: markup and control characters escaped (line breaks
    kept, for multi-line messages in tooltips).

    Data attributes keep names exactly (only markup escaped), for scripts to find runs.
    """
    return escape("\n".join(printable(line) for line in value.split("\n")))


def save_html(timeline: Timeline, path: str | Path, context: PictureContext | None = None) -> Path:
    """Write the page for ``timeline`` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(to_html(timeline, context=context), encoding="utf-8")
    return path


def _context(context: PictureContext) -> str:
    """The runner and seed line, and the failed assertion's message, if any."""
    parts = [f'<p class="context">{_text(context.subtitle())}</p>'] if context.test else []
    if context.failure:
        parts.append(f'<pre class="failure">{_text(context.failure)}</pre>')
    return "\n".join(parts)


def _totals(timeline: Timeline) -> str:
    path = timeline.critical_path()
    names = " → ".join(run.run_name for run in path) or "(no task runs)"
    return (
        f'<p class="totals">{len(timeline.runs)} runs · wall {format_ns(timeline.wall_ns)} · '
        f"work {format_ns(timeline.work_ns)} · peak parallelism {timeline.peak_concurrency()} · "
        f"average parallelism {timeline.average_parallelism:.2f}</p>\n"
        f'<p class="totals">critical path: {_text(names)} '
        f"({format_ns(sum(run.running_ns for run in path))})</p>"
    )


_LEGEND = (
    ("pending", "pending"),
    ("running", "running"),
    ("attempt-failed", "running, attempt failed"),
    ("scheduled", "awaiting retry"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("crashed", "crashed"),
    ("cancelled", "cancelled"),
)


def _legend(highlighted: bool) -> str:
    legend = (*_LEGEND, ("highlight", "named by the failed assertion")) if highlighted else _LEGEND
    items = "".join(
        f'<span class="swatch {css_class}"></span>{meaning}' for css_class, meaning in legend
    )
    return (
        f'<p class="totals legend">{items}<span class="arrow">→</span>dependency '
        "· <b>bold</b>: on the critical path · hover a bar for its states and times</p>"
    )


class _Layout:
    """Where a time and a row land in the picture."""

    def __init__(self, timeline: Timeline, rows: int) -> None:
        self.origin_ns = timeline.origin_ns
        self.span_ns = max(1, timeline.horizon_ns - timeline.origin_ns)
        self.rows = rows
        self.row_height = max(12, min(24, 720 // max(1, rows)))
        self.font = min(11, self.row_height - 2)
        self.chart_bottom = AXIS_HEIGHT + rows * self.row_height
        self.bottom_axis = rows > BOTTOM_AXIS_AFTER_ROWS
        self.height = self.chart_bottom + PADDING + (AXIS_HEIGHT // 2 if self.bottom_axis else 0)
        self.width = LABEL_WIDTH + CHART_WIDTH + OUTCOME_MARGIN

    def x(self, time_ns: int) -> float:
        return round(LABEL_WIDTH + (time_ns - self.origin_ns) * CHART_WIDTH / self.span_ns, 2)

    def y(self, row: int) -> int:
        return AXIS_HEIGHT + row * self.row_height

    def middle(self, row: int) -> float:
        return self.y(row) + self.row_height / 2


def _svg(timeline: Timeline, highlighted: frozenset[str]) -> str:
    rows = nested_runs(timeline.runs)
    layout = _Layout(timeline, len(rows))
    critical = {run.run_id for run in timeline.critical_path()}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width}" '
        f'height="{layout.height}" viewBox="0 0 {layout.width} {layout.height}">',
        f"<defs>{MARKERS}</defs>",
        _stripes(layout),
        _highlights([run for _, run in rows], highlighted, layout),
        _axis(layout),
    ]
    for row, (depth, run) in enumerate(rows):
        parts.append(_run_group(run, row, depth, layout, run.run_id in critical))
    parts.append(dependency_arrows([run for _, run in rows], layout))
    parts.append("</svg>")
    return "\n".join(parts)


def _stripes(layout: _Layout) -> str:
    """A light band behind every other row, so a bar can be followed to its label."""
    return "".join(
        f'<rect class="stripe" x="0" y="{layout.y(row)}" width="{layout.width}" '
        f'height="{layout.row_height}"/>'
        for row in range(1, layout.rows, 2)
    )


def _highlights(runs: Sequence[RunRecord], names: frozenset[str], layout: _Layout) -> str:
    """A bright band behind the rows of the runs a failed assertion named."""
    return "".join(
        f'<rect class="highlight" data-run-name="{escape(run.run_name)}" x="0" '
        f'y="{layout.y(row)}" width="{layout.width}" height="{layout.row_height}"/>'
        for row, run in enumerate(runs)
        if run.run_name in names
    )


def _axis(layout: _Layout) -> str:
    step = _tick_step(layout.span_ns)
    parts = [
        '<g class="axis">',
        f'<text class="axis-title" x="{LABEL_WIDTH - 12}" y="{AXIS_HEIGHT - 10}" '
        'text-anchor="end">time since the first event →</text>',
    ]
    for offset in range(0, layout.span_ns + 1, step):
        x = layout.x(layout.origin_ns + offset)
        label = _text(format_ns(offset))
        parts.append(
            f'<g class="tick"><line x1="{x}" y1="{AXIS_HEIGHT - 6}" x2="{x}" '
            f'y2="{layout.chart_bottom}"/><text x="{x}" y="{AXIS_HEIGHT - 10}" '
            f'text-anchor="middle">{label}</text></g>'
        )
        if layout.bottom_axis:
            parts.append(
                f'<text class="bottom-tick" x="{x}" y="{layout.chart_bottom + 14}" '
                f'text-anchor="middle">{label}</text>'
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


def _run_group(run: RunRecord, row: int, depth: int, layout: _Layout, critical: bool) -> str:
    final = run.final_state
    classes = f"run {row_class(row)} {run.kind} state-{final.type.value.lower()}" + (
        " critical" if critical else ""
    )
    font = layout.font
    parts = [
        f'<g class="{classes}" data-run-id="{escape(run.run_id)}" '
        f'data-run-name="{escape(run.run_name)}" data-state="{final.type.value}">',
        f"<title>{_text(_hover_text(run, layout.origin_ns))}</title>",
        f'<text class="label" x="{6 + 12 * depth}" y="{layout.middle(row) + font / 3:.1f}" '
        f'font-size="{font}">{_text(run.run_name)}</text>',
        *_state_shapes(run, row, layout),
    ]
    parts.append("</g>")
    return "".join(parts)


def _hover_text(run: RunRecord, origin_ns: int) -> str:
    text = f"{run.run_name} ({run.kind} {run.name}): " + " → ".join(
        f"{_state_label(state.type.value, state.name)} at "
        f"{format_ns(state.timestamp_ns - origin_ns)}"
        for state in run.states
    )
    where = run.worker or run.thread_name
    if where is not None:
        text += f"; ran in {where}" + (f" (pid {run.process_id})" if run.process_id else "")
    return text


_FAILED_ATTEMPT_ENDS = (StateType.SCHEDULED, StateType.FAILED, StateType.CRASHED)


def _state_shapes(run: RunRecord, row: int, layout: _Layout) -> list[str]:
    """A rect per non-final state, a marker for the final one, its name if not completed.

    Every stretch is at least `MIN_STRETCH` pixels wide, so a failed attempt of
    a microsecond before a retry still shows: a stretch too short for the
    scale pushes the ones after it right by the difference. A state left at
    the instant it was entered has no stretch and is not drawn.
    """
    top, height = layout.y(row) + 1, layout.row_height - 2
    states, shapes, cursor = run.states, [], 0.0
    for index, state in enumerate(states):
        if state.ends_run():
            continue
        after = states[index + 1] if index + 1 < len(states) else None
        end_ns = after.timestamp_ns if after else layout.origin_ns + layout.span_ns
        if end_ns == state.timestamp_ns:
            continue
        x = max(layout.x(state.timestamp_ns), cursor)
        cursor = max(layout.x(end_ns), round(x + MIN_STRETCH, 2))
        css = state.type.value.lower()
        if state.type is StateType.RUNNING and after and after.type in _FAILED_ATTEMPT_ENDS:
            css += " attempt-failed"
        label = f"{run.run_name}: {_state_label(state.type.value, state.name)} " + (
            f"{format_ns(state.timestamp_ns - layout.origin_ns)} to "
            f"{format_ns(end_ns - layout.origin_ns)}"
        )
        shapes.append(
            f'<rect class="{css}" x="{x}" y="{top}" width="{round(cursor - x, 2)}" '
            f'height="{height}"><title>{_text(label)}</title></rect>'
        )
    if run.final_state.ends_run():
        shapes.extend(_final_marker(run, row, layout, cursor))
    return shapes


def _final_marker(run: RunRecord, row: int, layout: _Layout, after_x: float) -> list[str]:
    """The final state's marker: at its time, or at ``after_x`` if stretches pushed it."""
    final = run.final_state
    top, height = layout.y(row) + 1, layout.row_height - 2
    name = _state_label(final.type.value, final.name)
    label = f"{run.run_name}: {name}" + (f": {final.message}" if final.message else "")
    x = max(layout.x(final.timestamp_ns), after_x)
    shapes = [
        f'<rect class="end {final.type.value.lower()}" x="{x - 2}" y="{top}" width="4" '
        f'height="{height}"><title>{_text(label)}</title></rect>'
    ]
    if final.type is not StateType.COMPLETED and layout.row_height >= 14:
        shapes.append(
            f'<text class="outcome" x="{x + 6}" y="{layout.middle(row) + layout.font / 3:.1f}" '
            f'font-size="{layout.font}">{_text(name)}</text>'
        )
    return shapes


def _state_label(type_name: str, name: str) -> str:
    return type_name if name.upper() == type_name else f"{type_name} ({name})"
