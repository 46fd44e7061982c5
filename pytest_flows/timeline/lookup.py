"""Finding a run in a timeline by what a test has at hand: a name, an id, a future.

- `RunRef`: what may name a run (run name, task/flow name, run id,
  `RunRecord`, or a future: anything with ``run_id``).
- `find_run(ref, runs)`: the one run ``ref`` names, else `RunNotFound`
  (a `LookupError`) that lists the runs there are and suggests a close name.
- `qualified_name(run, runs)`: ``flow-run-name/run-name``, unique where run
  names repeat across flow runs.

    >>> find_run("load-0", timeline.runs).run_name  # doctest: +SKIP
    'load-0'
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, TypeAlias

from pytest_flows.printable import printable_name
from pytest_flows.timeline.records import RunRecord

__all__ = ["RunNotFound", "RunRef", "find_run", "qualified_name"]


class RunNotFound(LookupError):
    """No run, or more than one, matches a reference given to `Timeline.run`."""


RunRef: TypeAlias = "str | RunRecord | Any"
"""A run name, task/flow name, run id, `RunRecord`, or a future (has ``run_id``)."""


def find_run(ref: RunRef, runs: Sequence[RunRecord]) -> RunRecord:
    """The run of ``runs`` that ``ref`` names.

    ``ref`` is a run name (``"load-0"``; ``"pipeline-0/load-0"`` when two
    flow runs both have a ``load-0``), a task or flow name that ran exactly
    once (``"load"``), a run id, a `RunRecord`, or a future. Raises
    `RunNotFound`, listing the runs there are, otherwise.
    """
    __tracebackhide__ = True
    if isinstance(ref, RunRecord) or (not isinstance(ref, str) and hasattr(ref, "run_id")):
        matches = [run for run in runs if run.run_id == ref.run_id]
        return _one(matches, f"run id {ref.run_id!r} (from {ref!r})", runs)
    if not isinstance(ref, str):
        raise TypeError(
            "a run reference is a run name, task name, run id, RunRecord or future "
            f"(anything with .run_id), got {ref!r}"
        )
    for matcher in (_by_run_id, _by_run_name, _by_qualified_name, _by_name):
        matches = matcher(ref, runs)
        if matches:
            return _one(matches, repr(ref), runs)
    return _one([], repr(ref), runs)


def qualified_name(run: RunRecord, runs: Sequence[RunRecord]) -> str:
    """``flow-run-name/run-name``, unique where run names repeat across flow runs."""
    parent_id = run.parent_run_id
    parent = next((r for r in runs if r.run_id == parent_id), None)
    return f"{parent.run_name}/{run.run_name}" if parent else run.run_name


def _one(matches: list[RunRecord], wanted: str, runs: Sequence[RunRecord]) -> RunRecord:
    __tracebackhide__ = True
    if len(matches) == 1:
        return matches[0]
    wanted = printable_name(wanted)
    if matches:
        names = ", ".join(printable_name(qualified_name(run, runs)) for run in matches)
        raise RunNotFound(
            f"{wanted} matches {len(matches)} runs ({names}); name exactly one of them"
        )
    known = [printable_name(run.run_name) for run in runs]
    if not known:
        raise RunNotFound(f"no run matches {wanted}: the timeline recorded no runs")
    close = difflib.get_close_matches(wanted.strip("'\""), known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise RunNotFound(f"no run matches {wanted}; runs recorded: {', '.join(known)}.{hint}")


def _by_run_id(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    return [run for run in runs if run.run_id == ref]


def _by_run_name(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    return [run for run in runs if run.run_name == ref]


def _by_qualified_name(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    parent_name, _, run_name = ref.rpartition("/")
    if not parent_name:
        return []
    parents = {run.run_id for run in runs if run.run_name == parent_name}
    return [run for run in runs if run.run_name == run_name and run.parent_run_id in parents]


def _by_name(ref: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
    return [run for run in runs if run.name == ref]
