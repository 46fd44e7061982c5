"""Dask task outcomes: what a worker runs, and how its outcome becomes a run's state.

`execute_on_worker` is the function each Dask task calls: it executes the
`TaskRun` with the upstream states Dask hands it and captures the run's
transitions to send back (both travel pickled by `dask_wire`), returned and,
when asked, pushed to the client as well (`dask_pushes`). On the
client, `settle_returned` records those transitions and settles the run's
handle; `crash_unsettled` ends runs
CRASHED when collecting their outcomes fails, so a fault never leaves a run
waiting. `is_killed_worker` and `is_cancellation` tell the machinery's
failures apart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

from flowcore.errors import RunCrashed
from flowcore.events import capture_events
from flowcore.run_logging import capture_run_logs, emit_shipped
from flowcore.states import State
from flowcore.task_runners.dask_pushes import push_outcome
from flowcore.task_runners.dask_wire import Outcome, pack_outcome, unpack

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = [
    "Finished",
    "Outcome",
    "crash_unsettled",
    "execute_on_worker",
    "is_cancellation",
    "is_killed_worker",
    "settle_returned",
]


class Finished(NamedTuple):
    """A run whose Dask task ended, queued for the collector."""

    run: TaskRun
    dask_future: Any
    handle: concurrent.futures.Future[State]
    resubmits_left: int


def execute_on_worker(packed_run: bytes, *upstream: bytes, push_to: str | None = None) -> bytes:
    """What a Dask worker runs: the task run, with its events captured to send back,
    and pushed to the client subscribed to ``push_to`` as well (`dask_pushes`)."""
    from distributed import get_worker

    run: TaskRun = unpack(packed_run)
    upstream_states = {
        run_id: unpack(outcome)[0]
        for run_id, outcome in zip(run.upstream_ids, upstream, strict=True)
    }
    run.worker = get_worker().address
    with capture_events() as captured, capture_run_logs() as records:
        state = run.execute(upstream_states)
    packed = pack_outcome(run, state, captured, records)
    if push_to is not None:
        push_outcome(push_to, packed)
    return packed


def settle_returned(run: TaskRun, packed: bytes, handle: concurrent.futures.Future[State]) -> None:
    """Record the worker's transitions of a run that returned, then settle its handle."""
    try:
        outcome: Outcome = unpack(packed)
    except Exception as error:  # a type the client cannot import, ...
        crash_unsettled([Finished(run, None, handle, 0)], error)
        return
    state, worker_events, records = outcome
    for event in worker_events:
        _restore_exit_code(event.state.exception)
        run.record_event(event)
    emit_shipped(records)
    _restore_exit_code(state.exception)
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # ended meanwhile
        handle.set_result(state)


def crash_unsettled(items: list[Finished], error: BaseException) -> None:
    """End CRASHED every run of ``items`` whose handle is still open, naming ``error``:
    a fault in collecting outcomes must surface as a crash, never as a hang."""
    for item in items:
        if not item.handle.done():
            crash = RunCrashed(
                f"collecting the outcome of {item.run.name!r} from Dask failed: "
                f"{type(error).__name__}: {error}"
            )
            crash.__cause__ = error
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                item.handle.set_exception(crash)


def _restore_exit_code(error: BaseException | None) -> None:
    """A SystemExit from a worker keeps its code: the exception pickling that
    ``distributed`` installs (tblib's) brings ``SystemExit(3)`` back with ``code`` None."""
    if isinstance(error, SystemExit) and error.code is None and len(error.args) == 1:
        error.code = error.args[0]


def is_killed_worker(error: BaseException) -> bool:
    """Dask gave up on a task whose workers kept dying (`distributed.KilledWorker`)."""
    distributed = sys.modules.get("distributed")  # a Dask future's error: it is imported
    return distributed is not None and isinstance(error, distributed.KilledWorker)


def is_cancellation(error: BaseException) -> bool:
    """A Dask future cancelled by the client itself (it lost its scheduler)."""
    return isinstance(error, (concurrent.futures.CancelledError, asyncio.CancelledError))
