"""The dependency arrows of the HTML page's SVG chart (`dependency_arrows`)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Protocol

from pytest_flows.timeline.timeline import RunRecord

__all__ = ["RowLayout", "dependency_arrows"]


class RowLayout(Protocol):
    """Where a time and a row land in the picture (the page's layout)."""

    row_height: int

    def x(self, time_ns: int) -> float: ...

    def middle(self, row: int) -> float: ...


def dependency_arrows(runs: Sequence[RunRecord], layout: RowLayout) -> str:
    """An elbow arrow per edge: right out of the upstream's end, then into the downstream.

    When the downstream started well after the upstream ended, the arrow
    enters its row from the left at its start; otherwise it drops onto the
    top (or bottom) edge of the downstream row just after the upstream's end.
    """
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
            if x2 - x1 >= 10:
                route = f"M{x1},{y1} H{x1 + 5} V{y2} H{x2}"
            else:
                edge = y2 - layout.row_height / 2 + 1 if y2 > y1 else y2 + layout.row_height / 2 - 1
                route = f"M{x1},{y1} H{x1 + 5} V{edge}"
            parts.append(
                f'<path class="dependency" data-from="{escape(upstream.run_name)}" '
                f'data-to="{escape(run.run_name)}" marker-end="url(#arrow)" d="{route}"/>'
            )
    parts.append("</g>")
    return "\n".join(parts)
