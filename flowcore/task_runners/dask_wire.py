"""What travels between the client and Dask workers: runs and outcomes, pickled by us.

    packed = pack_run(run)            # on the client; or InvalidArgument naming the parameter
    run = unpack(packed)              # on the worker
    packed = pack_outcome(run, state, events)   # on the worker; never fails
    state, events = unpack(packed)    # on the client, or on the worker of a downstream run

Dask would pickle a run and its outcome itself, but a value it cannot pickle
then fails far from its cause: an argument as a long Dask error about its
task graph, a result only when the client fetches it, after a downstream run
on the same worker has already consumed it. Pickling both here, into bytes,
puts the failure where it belongs:

- an argument that cannot be pickled is refused by ``submit``, naming the
  task, the parameter and its type;
- a result (or exception) that cannot be pickled ends the run CRASHED on its
  worker, naming the task and the type, so its downstream runs see a run that
  did not complete and end UpstreamFailed without running.

Every run also gets its upstream results the same way wherever it runs: as a
copy, unpickled from the bytes its upstream sent.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from flowcore.errors import InvalidArgument, RunCrashed
from flowcore.events import StateEvent
from flowcore.states import State, StateType

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = ["Outcome", "pack_outcome", "pack_run", "unpack"]

Outcome = tuple[State, list[StateEvent], list[Any]]  # final state, transitions, log records


def _cloudpickle() -> Any:
    import cloudpickle  # type: ignore[import-untyped,unused-ignore]

    return cloudpickle


def unpack(packed: bytes) -> Any:
    """A run or an outcome, from the bytes ``pack_run`` or ``pack_outcome`` made."""
    return _cloudpickle().loads(packed)


def pack_run(run: TaskRun) -> bytes:
    """``run`` as bytes for a worker, or an error naming what cannot be pickled."""
    cloudpickle = _cloudpickle()
    try:
        return bytes(cloudpickle.dumps(run))
    except Exception as error:
        raise _unpicklable_run(run, error) from error


def _unpicklable_run(run: TaskRun, error: Exception) -> InvalidArgument:
    """The error for a run that did not pickle: its task, else the first bad parameter."""
    cloudpickle = _cloudpickle()
    task = run.task
    try:
        cloudpickle.dumps(task)
    except Exception as task_error:
        return InvalidArgument(
            f"task {task.name!r} cannot be pickled, so it cannot be sent to Dask workers "
            f"({type(task_error).__name__}: {task_error}); define it at module level and "
            f"keep unpicklable objects (locks, connections) out of it"
        )
    for name, value in _parameters(run):
        try:
            cloudpickle.dumps(value)
        except Exception as parameter_error:
            return InvalidArgument(
                f"task {task.name!r} parameter {name!r} of type {type(value).__name__} could "
                f"not be sent to a Dask worker: {parameter_error}; pass something picklable "
                f"(a path, a URL, plain data) and open the resource inside the task"
            )
    return InvalidArgument(
        f"task run {run.name!r} could not be sent to a Dask worker: {type(error).__name__}: {error}"
    )


def _parameters(run: TaskRun) -> list[tuple[str, Any]]:
    """The run's arguments by parameter name (by position when they do not bind)."""
    try:
        bound = inspect.signature(run.task.fn).bind(*run.args, **run.kwargs)
    except (TypeError, ValueError):
        named = [(f"#{index}", value) for index, value in enumerate(run.args)]
        return named + list(run.kwargs.items())
    return list(bound.arguments.items())


def pack_outcome(
    run: TaskRun,
    state: State,
    events: list[StateEvent],
    records: list[Any] = (),  # type: ignore[assignment]
) -> bytes:
    """A worker's outcome as bytes: the final state, the transitions that led to it, and
    the run's log records (`flowcore.run_logging.capture_run_logs`).

    When the state does not pickle (a result or an exception of an unpicklable
    type) the outcome becomes a CRASHED state saying so, after the transitions
    that came before the final one.
    """
    cloudpickle = _cloudpickle()
    records = list(records)
    try:
        return bytes(cloudpickle.dumps((state, events, records)))
    except Exception as error:
        crashed = _crashed_unsendable(run, state, error)
    before = [event for event in events if not event.state.ends_run()]
    for kept in (records, []):  # a record whose extra fields do not pickle is dropped
        try:
            return bytes(cloudpickle.dumps((crashed, before, kept)))
        except Exception:  # an earlier transition carries the culprit (a retried exception)
            before = []
    return bytes(cloudpickle.dumps((crashed, [], [])))


def _crashed_unsendable(run: TaskRun, state: State, error: Exception) -> State:
    if state.type is StateType.COMPLETED:
        what, value = "result", state.data
    else:
        what, value = "exception", state.exception
    message = (
        f"the {what} of task {run.task.name!r}, of type {type(value).__name__}, could not be "
        f"sent back from its Dask worker: {error}; return something picklable (plain data, "
        f"a path) instead"
    )
    return State(
        StateType.CRASHED,
        "Crashed",
        run.clock.now_ns(),
        message=message,
        exception=RunCrashed(message),
    )
