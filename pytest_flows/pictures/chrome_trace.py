"""Export a timeline as Chrome trace JSON, to open in Perfetto or chrome://tracing.

`to_chrome_trace(timeline)` gives the trace as a dict, `save_chrome_trace`
writes it to a file. In the trace:

- each process that ran runs (each Dask worker) is a trace process, named by
  ``process_name`` metadata;
- inside it, runs are laid out on lanes (trace threads, named by
  ``thread_name`` metadata): flow runs on ``flow lane N``, task runs on
  ``task lane N``, assigned greedily so that a lane holds one run at a time;
  a run keeps its lane across retries;
- each RUNNING stretch is a complete event (``ph: "X"``) named after the run,
  with its state, attempt and parameters in ``args``; the wait before a
  retry is a ``retry-wait`` slice; a run that never ran is an instant event
  (``ph: "i"``) on a ``not run`` lane.

With a `PictureContext` (the plugin passes one for a failing test),
``otherData`` also has ``test``, ``runner``, ``seed``, ``failure`` and
``highlighted_runs``, and those runs' events have ``args.highlighted``.

Times (``ts``, ``dur``) are microseconds from the timeline's first event.

    >>> trace = to_chrome_trace(timeline)  # doctest: +SKIP
    >>> save_chrome_trace(timeline, "flows.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowcore.states import StateType
from pytest_flows.pictures.context import PictureContext
from pytest_flows.timeline.timeline import RunRecord, Timeline

__all__ = ["save_chrome_trace", "to_chrome_trace"]

TraceEvent = dict[str, Any]


def to_chrome_trace(timeline: Timeline, context: PictureContext | None = None) -> dict[str, Any]:
    """The timeline as a Chrome trace: ``{"traceEvents": [...], "displayTimeUnit": "ms"}``.

    With a ``context``, ``otherData`` names the test, runner, seed and the
    failed assertion, and the slices of the runs it named have
    ``args.highlighted`` set.
    """
    origin_ns = timeline.origin_ns
    runs = timeline.runs
    processes = _processes(runs)
    slices: list[TraceEvent] = []
    metadata: list[TraceEvent] = [
        _metadata("process_name", pid, 0, name) for name, pid in processes.values()
    ]
    for pid in sorted({pid for _, pid in processes.values()}):
        on_process = [run for run in runs if _pid(run, runs, processes) == pid]
        lane_names: dict[int, str] = {}
        for kind, first_tid in (("flow", 1), ("task", 1000)):
            placed = _assign_lanes(
                [r for r in on_process if r.kind == kind and r.running_intervals]
            )
            for run, lane in placed:
                tid = first_tid + lane
                lane_names[tid] = f"{kind} lane {lane + 1}"
                slices.extend(_run_slices(run, pid, tid, origin_ns))
        for run in on_process:
            if not run.running_intervals:
                lane_names[9999] = "not run"
                slices.append(_never_ran(run, pid, 9999, origin_ns))
        for tid, name in sorted(lane_names.items()):
            metadata.append(_metadata("thread_name", pid, tid, name))
            metadata.append(_metadata("thread_sort_index", pid, tid, tid, key="sort_index"))
    other: dict[str, Any] = {"origin_ns": origin_ns, "producer": "pytest-flows"}
    if context is not None:
        other.update(context.as_metadata())
        for event in slices:
            if event["args"].get("run_name") in context.highlighted:
                event["args"]["highlighted"] = True
    return {"traceEvents": metadata + slices, "displayTimeUnit": "ms", "otherData": other}


def save_chrome_trace(
    timeline: Timeline, path: str | Path, context: PictureContext | None = None
) -> Path:
    """Write the trace of ``timeline`` as JSON to ``path``; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(to_chrome_trace(timeline, context)), encoding="utf-8")
    return path


def _processes(runs: Sequence[RunRecord]) -> dict[tuple[int, str | None], tuple[str, int]]:
    """Each place runs ran (process, Dask worker) -> (its name, its trace pid)."""
    places: dict[tuple[int, str | None], tuple[str, int]] = {}
    for run in runs:
        if run.process_id is None:
            continue
        key = (run.process_id, run.worker)
        if key not in places:
            name = f"process {run.process_id}"
            if run.worker:
                name = f"worker {run.worker} ({name})"
            places[key] = (name, len(places) + 1)
    if not places:
        places[(0, None)] = ("flowcore", 1)
    return places


def _pid(
    run: RunRecord,
    runs: Sequence[RunRecord],
    processes: dict[tuple[int, str | None], tuple[str, int]],
) -> int:
    """A run's trace pid: where it ran, else where its flow run ran, else the first."""
    if run.process_id is not None:
        _, pid = processes[(run.process_id, run.worker)]
        return pid
    parent = next((r for r in runs if r.run_id == run.parent_run_id), None)
    if parent is not None and parent.process_id is not None:
        _, pid = processes[(parent.process_id, parent.worker)]
        return pid
    return min(pid for _, pid in processes.values())


def _assign_lanes(runs: Sequence[RunRecord]) -> list[tuple[RunRecord, int]]:
    """Give each run the lowest lane free for its whole span (first start to last end)."""
    lane_ends: list[int] = []
    placed: list[tuple[RunRecord, int]] = []
    ordered = sorted(runs, key=lambda run: (run.running_intervals[0].start_ns, run.state_order[:1]))
    for run in ordered:
        start, end = run.running_intervals[0].start_ns, run.running_intervals[-1].end_ns
        lane = next((index for index, free in enumerate(lane_ends) if free <= start), None)
        if lane is None:
            lane = len(lane_ends)
            lane_ends.append(end)
        else:
            lane_ends[lane] = end
        placed.append((run, lane))
    return placed


def _run_slices(run: RunRecord, pid: int, tid: int, origin_ns: int) -> list[TraceEvent]:
    slices: list[TraceEvent] = []
    running = [i for i, state in enumerate(run.states) if state.type is StateType.RUNNING]
    for attempt, ((start, end), index) in enumerate(
        zip(run.running_intervals, running, strict=True), 1
    ):
        after = run.states[index + 1] if index + 1 < len(run.states) else None
        args = _args(run)
        args.update(
            attempt=attempt,
            state=after.name if after else "Running",
            state_type=after.type.value if after else "RUNNING",
            message=after.message if after else "",
        )
        slices.append(_slice(run.run_name, run.kind, pid, tid, start, end, origin_ns, args))
        if after is not None and after.type is StateType.SCHEDULED:
            wait_end = run.running_intervals[attempt].start_ns if attempt < len(running) else end
            name = f"{run.run_name} ({after.name})"
            args = {"run_name": run.run_name, "scheduled_ns": after.scheduled_ns}
            slices.append(_slice(name, "retry-wait", pid, tid, end, wait_end, origin_ns, args))
    return slices


def _never_ran(run: RunRecord, pid: int, tid: int, origin_ns: int) -> TraceEvent:
    final = run.final_state
    args = _args(run)
    args.update(state=final.name, state_type=final.type.value, message=final.message)
    return {
        "name": f"{run.run_name} ({final.name})",
        "cat": run.kind,
        "ph": "i",
        "s": "t",
        "ts": _micros(final.timestamp_ns - origin_ns),
        "pid": pid,
        "tid": tid,
        "args": args,
    }


def _args(run: RunRecord) -> dict[str, Any]:
    return {
        "run_name": run.run_name,
        "run_id": run.run_id,
        "name": run.name,
        "kind": run.kind,
        "flow_run_id": run.flow_run_id,
        "thread": run.thread_name,
        "worker": run.worker,
        "states": run.describe_states(),
        "upstream_run_ids": list(run.upstream_run_ids),
        "parameters": dict(run.parameters),
    }


def _slice(
    name: str,
    category: str,
    pid: int,
    tid: int,
    start_ns: int,
    end_ns: int,
    origin_ns: int,
    args: dict[str, Any],
) -> TraceEvent:
    return {
        "name": name,
        "cat": category,
        "ph": "X",
        "ts": _micros(start_ns - origin_ns),
        "dur": _micros(max(0, end_ns - start_ns)),
        "pid": pid,
        "tid": tid,
        "args": args,
    }


def _metadata(kind: str, pid: int, tid: int, value: object, key: str = "name") -> TraceEvent:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": {key: value}}


def _micros(duration_ns: int) -> float:
    return duration_ns / 1_000
