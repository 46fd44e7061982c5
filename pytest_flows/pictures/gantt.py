"""Text Gantt charts of a timeline, for terminals and assertion messages.

`render_gantt(timeline)` draws one row per run, grouped by flow run (task
runs and subflows indented under the flow run that owns them), with a short
id of the lane it ran in (``T1``... for threads, ``W1``... for Dask workers;
`lane_ids`) and a glyph per state across time; a legend under the chart
names every lane in full (with its process id when runs ran in several)::

    run         lane 0                                                 100ms
    pipeline-0  T1   |================================================]|
      load-0    T2   |   ==============]                               |
      load-1    T3   |   =====~~~~~==========X                         |
      save-0    -    |.............................X                   |
    wall 100ms | work 60ms | peak parallelism 2 | average parallelism 0.60
    critical path: load-1 -> save-0 (30ms)
    legend: . pending  = running  ~ awaiting retry  ] completed  X failed ...
    lanes: T1 MainThread  T2 ThreadPoolExecutor-0_0  T3 ThreadPoolExecutor-0_1

The chart is a pure function of the events: same events, same text.
`format_ns` writes durations the way the chart does (``"12.5ms"``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence

from flowcore.states import StateType
from pytest_flows.printable import printable, printable_name
from pytest_flows.timeline.timeline import RunRecord, RunRef, Timeline

__all__ = ["GLYPHS", "MIN_WIDTH", "LaneIds", "format_ns", "lane_ids", "nested_runs", "render_gantt"]

MIN_WIDTH = 40

GLYPHS: dict[StateType, str] = {
    StateType.PENDING: ".",
    StateType.RUNNING: "=",
    StateType.SCHEDULED: "~",
    StateType.COMPLETED: "]",
    StateType.FAILED: "X",
    StateType.CRASHED: "!",
    StateType.CANCELLED: "/",
}

NOT_READY_GLYPH = "?"
"""Where a run that never started (its upstream did not complete) ended: Pending("NotReady")."""

_LEGEND = (
    (".", "pending"),
    ("=", "running"),
    ("~", "awaiting retry"),
    ("]", "completed"),
    ("X", "failed"),
    ("!", "crashed"),
    ("/", "cancelled"),
)


def format_ns(duration_ns: int) -> str:
    """A duration in the largest unit that keeps it readable.

    >>> format_ns(0), format_ns(1_500), format_ns(12_500_000), format_ns(2_000_000_000)
    ('0', '1.5us', '12.5ms', '2s')
    """
    if duration_ns == 0:
        return "0"
    sign, size = ("-", -duration_ns) if duration_ns < 0 else ("", duration_ns)
    if size < 1_000:
        return f"{sign}{size}ns"
    for unit, scale in (("us", 1_000), ("ms", 1_000_000)):
        if size < scale * 1_000:
            return f"{sign}{size / scale:.3g}{unit}"
    seconds = size / 1_000_000_000
    return f"{sign}{seconds:.3g}s" if seconds < 100 else f"{sign}{seconds:.0f}s"


def render_gantt(
    timeline: Timeline,
    runs: Iterable[RunRef] | None = None,
    width: int | None = None,
    highlight: Iterable[str] = (),
) -> str:
    """The runs of ``timeline`` (all, or ``runs``) as a text Gantt chart.

    ``width`` is the number of columns to fill (at least 40); by default the
    terminal's width. The rows of the runs named in ``highlight`` (run names,
    say those a failed assertion was about) are marked ``>``.

        >>> print(render_gantt(timeline, ["load-0", "load-1"], width=60))  # doctest: +SKIP
    """
    columns = _resolve_width(width)
    records = _selected(timeline, runs)
    if not records:
        return "(no runs recorded)"
    rows = nested_runs(records)
    names = [printable(record.run_name) for _, record in rows]
    labels = ["  " * depth + name for (depth, _), name in zip(rows, names, strict=True)]
    marked = set(highlight) & {record.run_name for _, record in rows}
    if marked:
        labels = [
            ("> " if record.run_name in marked else "  ") + label
            for (_, record), label in zip(rows, labels, strict=True)
        ]
    lanes = lane_ids([record for _, record in rows])
    row_lanes = [lanes.of(record) for _, record in rows]
    label_width = min(max(len(text) for text in [*labels, "run"]), max(10, columns // 4))
    lane_width = max(len(text) for text in [*row_lanes, "lane"])
    chart = _Scale(records, columns - label_width - lane_width - 4)
    lines = [_fit("run", label_width) + " " + _fit("lane", lane_width) + " " + chart.axis(timeline)]
    for label, name, lane, (_, record) in zip(labels, names, row_lanes, rows, strict=True):
        bar = chart.bar(record)
        indent = label[: len(label) - len(name)][: label_width - 4]
        label_text = indent + _fit(name, label_width - len(indent))
        lines.append(label_text + " " + lane.ljust(lane_width) + " |" + bar + "|")
    lines.extend(_footer(timeline, columns))
    lines.extend(_lane_legend(lanes, columns))
    if marked:
        lines.append("> marks the runs the failed assertion named")
    return "\n".join(lines)


def _resolve_width(width: int | None) -> int:
    if width is None:
        return max(MIN_WIDTH, shutil.get_terminal_size().columns)
    if width < MIN_WIDTH:
        raise ValueError(f"a Gantt chart needs width >= {MIN_WIDTH} columns, got {width}")
    return width


def _selected(timeline: Timeline, runs: Iterable[RunRef] | None) -> list[RunRecord]:
    if runs is None:
        return list(timeline.runs)
    chosen = {timeline.run(ref).run_id for ref in runs}
    return [record for record in timeline.runs if record.run_id in chosen]


def nested_runs(records: Sequence[RunRecord]) -> list[tuple[int, RunRecord]]:
    """``records`` grouped under their flow runs, depth first, each with its depth.

    A run whose flow run is not among ``records`` is at depth 0; siblings
    keep the order given.
    """
    present = {record.run_id for record in records}
    children: dict[str | None, list[RunRecord]] = {}
    for record in records:
        parent = record.parent_run_id if record.parent_run_id in present else None
        children.setdefault(parent, []).append(record)
    ordered: list[tuple[int, RunRecord]] = []
    stack = [(0, record) for record in reversed(children.get(None, []))]
    while stack:
        depth, record = stack.pop()
        ordered.append((depth, record))
        stack.extend((depth + 1, child) for child in reversed(children.get(record.run_id, [])))
    return ordered


class LaneIds(dict[str, str]):
    """Short lane ids by full lane name: ``T1``, ``T2``... for threads, ``W1``... for
    Dask workers, numbered in order of first use.

    ``show_process`` is set when the runs ran in several processes: thread
    lanes then name their process id too.
    """

    show_process: bool = False

    def of(self, record: RunRecord) -> str:
        """The id of the lane ``record`` ran in, ``-`` if it never ran."""
        name = _lane_name(record, self.show_process)
        return "-" if name is None else self[name]


def lane_ids(records: Sequence[RunRecord]) -> LaneIds:
    """The short id of every lane ``records`` ran in (see `LaneIds`)."""
    lanes = LaneIds()
    processes = {record.process_id for record in records if record.process_id is not None}
    lanes.show_process = len(processes) > 1
    counts = {"T": 0, "W": 0}
    for record in records:
        name = _lane_name(record, lanes.show_process)
        if name is None or name in lanes:
            continue
        prefix = "W" if record.worker else "T"
        counts[prefix] += 1
        lanes[name] = f"{prefix}{counts[prefix]}"
    return lanes


def _lane_name(record: RunRecord, show_process: bool) -> str | None:
    """The full name of the lane ``record`` ran in: Dask worker, else thread."""
    if record.worker:
        return printable(record.worker.removeprefix("tcp://"))
    if record.thread_name is None:
        return None
    if show_process:
        return f"pid {record.process_id} {printable(record.thread_name)}"
    return printable(record.thread_name)


def _lane_legend(lanes: LaneIds, columns: int) -> list[str]:
    """``lanes: T1 MainThread  T2 pool-0 ...``: every full name, never cut."""
    if not lanes:
        return []
    items = [f"{lane_id} {name}" for name, lane_id in lanes.items()]
    return _wrap(["lanes: " + items[0], *items[1:]], "  ", columns)


def _fit(text: str, size: int) -> str:
    """``text`` padded to ``size``, or shortened in the middle, where names differ least."""
    if len(text) <= size:
        return text.ljust(size)
    tail = (size - 2) // 2
    return text[: size - 2 - tail] + ".." + text[len(text) - tail :]


class _Scale:
    """Maps the span of some runs onto ``columns`` character cells."""

    def __init__(self, records: Sequence[RunRecord], columns: int) -> None:
        self.columns = columns
        self.start_ns = min(record.first_ns for record in records)
        ends = [state.timestamp_ns for record in records for state in record.states]
        ends += [end for record in records for _, end in record.running_intervals]
        self.stop_ns = max(max(ends), self.start_ns + 1)

    def column(self, time_ns: int) -> int:
        offset = (time_ns - self.start_ns) * self.columns // (self.stop_ns - self.start_ns)
        return max(0, min(self.columns - 1, offset))

    def axis(self, timeline: Timeline) -> str:
        left = format_ns(self.start_ns - timeline.origin_ns)
        right = format_ns(self.stop_ns - timeline.origin_ns)
        gap = self.columns + 2 - len(left) - len(right)
        return left + " " * max(1, gap) + right

    def bar(self, record: RunRecord) -> str:
        cells = [" "] * self.columns
        states = record.states
        for index, state in enumerate(states):
            if state.ends_run():
                glyph = NOT_READY_GLYPH if state.is_not_ready() else GLYPHS[state.type]
                cells[self.column(state.timestamp_ns)] = glyph
                continue
            until = states[index + 1].timestamp_ns if index + 1 < len(states) else self.stop_ns
            first = self.column(state.timestamp_ns)
            last = max(first + 1, self.column(until)) if until < self.stop_ns else self.columns
            for cell in range(first, last):
                cells[cell] = GLYPHS[state.type]
        return "".join(cells)


def _footer(timeline: Timeline, columns: int) -> list[str]:
    path = timeline.critical_path()
    names = [printable_name(record.run_name) for record in path] or ["(no task runs)"]
    names[-1] += f" ({format_ns(sum(record.running_ns for record in path))})"
    totals = [
        f"wall {format_ns(timeline.wall_ns)}",
        f"work {format_ns(timeline.work_ns)}",
        f"peak parallelism {timeline.peak_concurrency()}",
        f"average parallelism {timeline.average_parallelism:.2f}",
    ]
    never_ran = [record for record in timeline.runs if record.final_state.is_not_ready()]
    legend = [f"{glyph} {meaning}" for glyph, meaning in _LEGEND]
    if never_ran:
        legend.append(f"{NOT_READY_GLYPH} never ran")
    return [
        *_wrap(totals, " | ", columns),
        *_wrap(["critical path: " + names[0], *names[1:]], " -> ", columns),
        *_wrap(["legend: " + legend[0], *legend[1:]], "  ", columns),
        *_never_ran_lines(never_ran),
    ]


_MAX_NEVER_RAN_LINES = 5


def _never_ran_lines(records: Sequence[RunRecord]) -> list[str]:
    """One line per run that never started, naming the upstream that stopped it."""
    lines = [
        f"never ran: {printable_name(record.run_name)}: {printable(record.final_state.message)}"
        for record in records[:_MAX_NEVER_RAN_LINES]
    ]
    if len(records) > _MAX_NEVER_RAN_LINES:
        lines.append(f"never ran: ... and {len(records) - _MAX_NEVER_RAN_LINES} more")
    return lines


def _wrap(items: list[str], separator: str, columns: int) -> list[str]:
    """Join ``items`` with ``separator``, wrapping between items (never inside one)."""
    lines: list[str] = []
    current = items[0]
    for item in items[1:]:
        if len(current) + len(separator) + len(item) > columns:
            lines.append(current + separator.rstrip())
            current = "  " + item
        else:
            current += separator + item
    lines.append(current)
    return lines
