"""Assertions about when runs ran, that explain themselves when they fail.

Each takes a `Timeline` first (the same checks are `Timeline` methods) and
raises `AssertionError` saying what was expected, what happened instead, and
showing a text Gantt chart of the runs involved. Arguments that cannot make
sense (one run to `assert_parallel`, a limit of 0, an unknown state name)
raise `ValueError` instead: that is a mistake in the test, not a finding.

    >>> assert_parallel(timeline, "load-0", "load-1")  # doctest: +SKIP
    >>> assert_sequential(timeline, "extract-0", "transform-0", "load-0")  # doctest: +SKIP
    >>> assert_before(timeline, "extract-0", "load-0")  # doctest: +SKIP
    >>> assert_max_concurrency(timeline, 4)  # doctest: +SKIP
    >>> assert_min_concurrency(timeline, 2)  # doctest: +SKIP
    >>> assert_states(timeline, "load-0", ["PENDING", "RUNNING", "COMPLETED"])  # doctest: +SKIP
    >>> assert_all_completed(timeline)  # doctest: +SKIP

Runs are named as `Timeline.run` accepts: run name, task name (ran once),
future or record. "Running" means the RUNNING state: time spent pending or
waiting for a retry does not count, and runs that merely touch (one ends at
the instant the other starts) did not overlap.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from flowcore.states import StateType
from pytest_flows.pictures.gantt import format_ns, render_gantt
from pytest_flows.printable import printable, printable_name
from pytest_flows.timeline.timeline import (
    ConcurrencyWindow,
    RunRecord,
    RunRef,
    Timeline,
    overlap_ns,
)

__all__ = [
    "assert_all_completed",
    "assert_before",
    "assert_max_concurrency",
    "assert_min_concurrency",
    "assert_parallel",
    "assert_sequential",
    "assert_states",
    "failure_summary",
]


def assert_parallel(timeline: Timeline, *runs: RunRef) -> None:
    """Every pair of ``runs`` was RUNNING at the same time at some moment."""
    __tracebackhide__ = True
    records = _resolve(timeline, runs, "assert_parallel")
    problems: list[str] = []
    for index, first in enumerate(records):
        for second in records[index + 1 :]:
            if overlap_ns(first, second) == 0:
                problems.append(_why_apart(first, second))
    if problems:
        names = ", ".join(_name(record) for record in records)
        _fail(timeline, f"expected {names} to run in parallel, but:", problems, records)


def assert_sequential(timeline: Timeline, *runs: RunRef) -> None:
    """``runs`` ran one after another in this order, without overlapping."""
    __tracebackhide__ = True
    records = _resolve(timeline, runs, "assert_sequential")
    problems = [
        f"{_name(record)} never ran ({record.describe_states()})"
        for record in records
        if not record.running_intervals
    ]
    problems += [
        problem
        for first, then in itertools.pairwise(records)
        if (problem := _why_not_before(timeline, first, then))
    ]
    for index, first in enumerate(records):
        for second in records[index + 2 :]:
            if overlap := overlap_ns(first, second):
                problems.append(
                    f"{_name(first)} and {_name(second)} overlapped for {format_ns(overlap)}"
                )
    if problems:
        names = " -> ".join(_name(record) for record in records)
        _fail(timeline, f"expected {names} to run one after another, but:", problems, records)


def assert_before(timeline: Timeline, first: RunRef, then: RunRef) -> None:
    """``first`` reached its final state before ``then`` started RUNNING."""
    __tracebackhide__ = True
    records = [timeline.run(first), timeline.run(then)]
    problem = _why_not_before(timeline, *records)
    if problem:
        heading = f"expected {_name(records[0])} to end before {_name(records[1])} started:"
        _fail(timeline, heading, [problem], records)


def assert_max_concurrency(timeline: Timeline, limit: int) -> None:
    """No more than ``limit`` task runs were RUNNING at any one moment."""
    __tracebackhide__ = True
    _check_count("assert_max_concurrency", limit)
    peak = _peak_window(timeline)
    if peak is not None and peak.count > limit:
        heading = f"expected at most {_task_runs(limit)} RUNNING at once, but {peak.count} were:"
        problem = f"{_names(peak.run_names)} from {_span(timeline, peak.start_ns, peak.end_ns)}"
        _fail(timeline, heading, [problem], [timeline.run(name) for name in peak.run_names])


def assert_min_concurrency(timeline: Timeline, minimum: int) -> None:
    """At some moment at least ``minimum`` task runs were RUNNING at once."""
    __tracebackhide__ = True
    _check_count("assert_min_concurrency", minimum)
    peak = _peak_window(timeline)
    count = peak.count if peak else 0
    if count < minimum:
        heading = f"expected at least {_task_runs(minimum)} RUNNING at once, but"
        if peak is None:
            problems = ["no task run ever ran"]
            heading += ":"
        else:
            heading += f" at most {count} {'was' if count == 1 else 'were'}:"
            problems = [
                f"{_names(peak.run_names)} from {_span(timeline, peak.start_ns, peak.end_ns)}"
            ]
        _fail(timeline, heading, problems, timeline.task_runs)


def assert_states(timeline: Timeline, run: RunRef, expected: Iterable[str | StateType]) -> None:
    """The run went through exactly the ``expected`` state types, in order.

    ``expected`` holds `StateType`s or their names (``"COMPLETED"``, any case).
    """
    __tracebackhide__ = True
    wanted = [_state_type(item) for item in expected]
    record = timeline.run(run)
    if list(record.state_types) != wanted:
        heading = f"unexpected states for {_name(record)}:"
        problems = [
            f"expected {' -> '.join(kind.value for kind in wanted) or '(none)'}",
            f"got      {record.describe_states()}",
        ]
        message = record.final_state.message
        if message:
            problems.append(f"final state message: {message}")
        _fail(timeline, heading, problems, [record])


def assert_all_completed(timeline: Timeline) -> None:
    """Every flow and task run recorded ended COMPLETED."""
    __tracebackhide__ = True
    runs = timeline.runs
    if not runs:
        raise AssertionError(
            "expected every run to complete, but the timeline recorded no runs "
            "(was it subscribed while the flows ran?)"
        )
    unfinished = [run for run in runs if run.final_state.type is not StateType.COMPLETED]
    if unfinished:
        heading = f"expected all {len(runs)} runs to complete, but {len(unfinished)} did not:"
        problems = [_describe_end(run) for run in unfinished]
        _fail(timeline, heading, problems, runs)


# -- helpers ------------------------------------------------------------------


def _resolve(timeline: Timeline, runs: Sequence[RunRef], caller: str) -> list[RunRecord]:
    __tracebackhide__ = True
    if len(runs) < 2:
        raise ValueError(f"{caller}() needs at least 2 runs to compare, got {len(runs)}: {runs!r}")
    records = [timeline.run(ref) for ref in runs]
    seen: set[str] = set()
    for record in records:
        if record.run_id in seen:
            raise ValueError(f"{caller}() needs distinct runs, got {_name(record)} twice")
        seen.add(record.run_id)
    return records


def _check_count(caller: str, count: int) -> None:
    __tracebackhide__ = True
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"{caller}() needs a whole number of runs >= 1, got {count!r}")


def _task_runs(count: int) -> str:
    return f"{count} task run" if count == 1 else f"{count} task runs"


def _state_type(item: str | StateType) -> StateType:
    __tracebackhide__ = True
    if isinstance(item, StateType):
        return item
    try:
        return StateType(str(item).upper())
    except ValueError:
        valid = ", ".join(kind.value for kind in StateType)
        raise ValueError(f"{item!r} is not a state type. Valid: {valid}") from None


def _peak_window(timeline: Timeline) -> ConcurrencyWindow | None:
    profile = timeline.concurrency_profile()
    return max(profile, key=lambda window: window.count, default=None)


def _span(timeline: Timeline, start_ns: int, end_ns: int) -> str:
    origin = timeline.origin_ns
    return f"{format_ns(start_ns - origin)} to {format_ns(end_ns - origin)}"


def _ran(timeline: Timeline, record: RunRecord) -> str:
    if not record.running_intervals:
        return f"{_name(record)} never ran ({record.describe_states()})"
    spans = ", ".join(_span(timeline, start, end) for start, end in record.running_intervals)
    return f"{_name(record)} ran {spans}"


def _why_apart(first: RunRecord, second: RunRecord) -> str:
    for record in (first, second):
        if not record.running_intervals:
            return f"{_name(record)} never ran ({record.describe_states()})"
    earlier, later = sorted(
        (first, second), key=lambda record: record.running_intervals[0].start_ns
    )
    earlier_end = max(end for _, end in earlier.running_intervals)
    gap = min(start for start, _ in later.running_intervals) - earlier_end
    if gap >= 0:
        return (
            f"{_name(earlier)} and {_name(later)} did not overlap: {_name(later)} "
            f"started {format_ns(gap)} after {_name(earlier)} stopped running"
        )
    return f"{_name(first)} and {_name(second)} did not overlap (they took turns)"


def _why_not_before(timeline: Timeline, first: RunRecord, then: RunRecord) -> str | None:
    if then.start_ns is None:
        return f"{_name(then)} never ran ({then.describe_states()})"
    first_end = first.end_ns
    if first_end is None:
        return f"{_name(first)} never ended; it is {first.final_state.type.value}"
    then_start = then.start_ns
    if first_end < then_start:
        return None
    if first_end == then_start and _end_position(first) < _start_position(then):
        return None
    return (
        f"{_name(then)} started {format_ns(first_end - then_start)} before "
        f"{_name(first)} ended ({_ran(timeline, first)}; {_ran(timeline, then)})"
    )


def _end_position(record: RunRecord) -> int:
    return record.state_order[-1] if record.state_order else 0


def _start_position(record: RunRecord) -> int:
    index = record.state_types.index(StateType.RUNNING)
    return record.state_order[index] if record.state_order else 0


def _describe_end(run: RunRecord) -> str:
    final = run.final_state
    text = f"{_name(run)}: {final.type.value}"
    if final.name != final.type.value.capitalize():
        text += f" ({final.name})"
    return text + (f": {final.message}" if final.message else "")


def _name(record: RunRecord) -> str:
    return printable_name(record.run_name)


def _names(run_names: Iterable[str]) -> str:
    return ", ".join(printable_name(name) for name in run_names)


def failure_summary(error: BaseException) -> tuple[str, tuple[str, ...]] | None:
    """For an AssertionError one of these assertions raised: its message without
    the chart, and the names of the runs it was about (the plugin highlights
    them in the test's pictures); None for any other error.
    """
    found = vars(error).get(_RUNS_NAMED) if hasattr(error, "__dict__") else None
    return None if found is None else (str(vars(error)[_SUMMARY]), tuple(found))


_RUNS_NAMED = "flow_runs_named"
_SUMMARY = "flow_failure_summary"


def _fail(timeline: Timeline, heading: str, problems: list[str], runs: Iterable[RunRecord]) -> None:
    """Raise the AssertionError: ``heading``, one line per problem, a chart of ``runs``.

    Each line is `printable`: names and messages come from user code.
    """
    __tracebackhide__ = True
    details = "\n".join(f"  - {printable(problem)}" for problem in dict.fromkeys(problems))
    records = list(runs)
    chart = render_gantt(timeline, records)
    summary = f"{printable(heading)}\n{details}"
    error = AssertionError(f"{summary}\n\n{chart}")
    vars(error).update({_RUNS_NAMED: [record.run_name for record in records], _SUMMARY: summary})
    raise error
