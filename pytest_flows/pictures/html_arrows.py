"""The dependency arrows of the HTML page's SVG chart (`dependency_arrows`).

Arrows follow the gaps between rows and end in an arrowhead at the
downstream run's start; hovering a run highlights its arrows and the
labels of the runs they join, with CSS alone (``:has``), no script.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Protocol

from pytest_flows.timeline.timeline import RunRecord

__all__ = ["HOT", "MARKERS", "RowLayout", "dependency_arrows", "row_class"]


class RowLayout(Protocol):
    """Where a time and a row land in the picture (the page's layout)."""

    row_height: int

    def x(self, time_ns: int) -> float: ...

    def middle(self, row: int) -> float: ...


HOT = "#e65100"
"""The colour of a hovered run's arrows and of the labels of the runs they join."""

MARKERS = (
    '<marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" '
    'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
    '<path d="M0,0 L8,4 L0,8 z" fill="#455a64"/></marker>'
    '<marker id="arrow-hot" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="10" '
    'markerHeight="10" markerUnits="userSpaceOnUse" orient="auto">'
    f'<path d="M0,0 L8,4 L0,8 z" fill="{HOT}"/></marker>'
)
"""The arrowheads: grey, and the hovered run's (larger, in `HOT`)."""


def dependency_arrows(runs: Sequence[RunRecord], layout: RowLayout) -> str:
    """An arrow per edge, from the upstream's end to the downstream's start, and the
    CSS that highlights a run's arrows and the runs they join while it is hovered.

    Rows are the run groups' order (``runs``); each group must carry the class
    ``r<row>`` (`row_class`). Each arrow leaves the upstream's end, drops to
    the gap between rows next to the downstream's row, follows that gap and
    turns into the downstream's row at its start, so it never runs along a bar.
    """
    row_of = {run.run_id: row for row, run in enumerate(runs)}
    by_id = {run.run_id: run for run in runs}
    parts, edges = ['<g class="dependencies">'], []
    for row, run in enumerate(runs):
        for upstream_id in run.upstream_run_ids:
            upstream = by_id.get(upstream_id)
            if upstream is None:
                continue
            edges.append((row_of[upstream_id], row))
            parts.append(
                f'<path class="dependency from-{row_class(row_of[upstream_id])} '
                f'to-{row_class(row)}" data-from="{escape(upstream.run_name)}" '
                f'data-to="{escape(run.run_name)}" marker-end="url(#arrow)" '
                f'd="{_route(upstream, row_of[upstream_id], run, row, layout)}"/>'
            )
    parts.append("</g>")
    return _hover_style(edges) + "\n".join(parts)


def row_class(row: int) -> str:
    """The class that names a run group's row, for the hover rules."""
    return f"r{row}"


def _route(upstream: RunRecord, up_row: int, run: RunRecord, row: int, layout: RowLayout) -> str:
    x1 = layout.x(upstream.end_ns or upstream.final_state.timestamp_ns)
    x2 = layout.x(run.start_ns if run.start_ns is not None else run.final_state.timestamp_ns)
    y1, y2 = layout.middle(up_row), layout.middle(row)
    half = layout.row_height / 2
    gap = y2 - half if y2 > y1 else y2 + half
    return f"M{x1},{y1} H{x1 + 4} V{gap} H{round(x2 - 8, 2)} V{y2} H{x2}"


def _hover_style(edges: Sequence[tuple[int, int]]) -> str:
    """Per run with arrows: while it is hovered, its arrows and the labels of the runs
    they join turn `HOT` (CSS ``:has``, no script)."""
    neighbours: dict[int, set[int]] = {}
    for up, down in edges:
        neighbours.setdefault(up, set()).add(down)
        neighbours.setdefault(down, set()).add(up)
    rules = [
        ".dependency:hover { stroke: " + HOT + "; stroke-width: 2.5; marker-end: url(#arrow-hot); }"
    ]
    for row, others in sorted(neighbours.items()):
        hovered = f"svg:has(g.{row_class(row)}:hover)"
        arrows = f"{hovered} path.from-{row_class(row)}, {hovered} path.to-{row_class(row)}"
        labels = ", ".join(f"{hovered} g.{row_class(other)} text.label" for other in sorted(others))
        rules.append(
            f"{arrows} {{ stroke: {HOT}; stroke-width: 2.5; opacity: 1; "
            "marker-end: url(#arrow-hot); }"
        )
        rules.append(f"{labels} {{ fill: {HOT}; font-weight: bold; }}")
    return "<style>" + "\n".join(rules) + "</style>\n"
