"""Final states a flow run decides: its own, from what its body returned, and
those of the task runs it leaves unfinished when it stops early (`end_unfinished`).

The rules are Prefect 2.20's, as measured against it (`final_state`):

- the body returned a `State` it made itself (``Completed(message="done")``)
  → that state;
- a future, a state of one of its runs, or a non-empty list, tuple or set of
  nothing but futures and states → decided by those runs (`_aggregate`), one
  state per item (a future returned twice counts twice):
  COMPLETED ``"All states completed."``; else CANCELLED ``"k/n states
  cancelled."`` if any was cancelled; else FAILED ``"k/n states failed."``;
- None → decided the same way by every task run and subflow it started (a
  run that never started, NotReady, counts in ``n`` and not as failed);
- anything else (a dict, a mix of futures and plain data, a namedtuple,
  frozenset or list subclass of futures, ...) → COMPLETED with that data.

One deliberate difference: futures in the returned data are replaced by
their results (by their final states for runs that did not complete), where
Prefect gives the states; see the README's "Coming from Prefect".
(A body that raised is FAILED; that is the engine's, `flowcore.flow_engine`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowcore.errors import RunCancelled, RunCrashed, UpstreamFailed
from flowcore.futures import TaskFuture
from flowcore.parameters import extract_upstream, resolve_or_states
from flowcore.states import State, StateType, new_state

if TYPE_CHECKING:
    from flowcore.context import FlowRun
    from flowcore.timeouts import Deadline

__all__ = ["end_unfinished", "final_state"]


def final_state(flow_run: FlowRun, value: Any, deadline: Deadline | None = None) -> State:
    """The state a flow run ends in when its body returned ``value`` (see module docstring)."""
    if isinstance(value, State) and not _is_run_state(flow_run, value):
        return _copy(flow_run, value)  # a state the body made itself is the flow run's own
    if isinstance(value, (State, TaskFuture)) or _all_states_or_futures(value):
        return _decided_by_runs(flow_run, value, deadline)
    if value is None:
        ledger, subflows = flow_run.task_runs, flow_run.subflow_states
        states = ledger.not_completed() + subflows  # the completed ones are only counted
        return _aggregate(flow_run, states, lambda: None, total=ledger.started + len(subflows))
    data = _as_data(value, deadline)
    return new_state(StateType.COMPLETED, "Completed", _now(flow_run), "", data)


_RUN_COLLECTIONS = (list, tuple, set)
_COMPLETED = StateType.COMPLETED  # a module constant: an Enum's attribute reads slowly


def _all_states_or_futures(value: Any) -> bool:
    """A non-empty list, tuple or set of nothing but states and futures. Only these three
    types, as Prefect 2.20 measured: a dict, a frozenset, a namedtuple or a list subclass
    of futures is data."""
    if type(value) not in _RUN_COLLECTIONS or not value:
        return False
    for item in value:  # noqa: SIM110 -- a loop: all(<generator>) costs twice as much per item
        if not isinstance(item, (State, TaskFuture)):
            return False
    return True


def _decided_by_runs(flow_run: FlowRun, value: Any, deadline: Deadline | None) -> State:
    """The final state when the body returned a future or a state of a run, or a list,
    tuple or set of nothing else: `_aggregate` decides from their states, one per item
    (a future returned twice counts twice, as in Prefect; its run is waited for once)."""
    items = (value,) if isinstance(value, (State, TaskFuture)) else value
    waited: dict[TaskFuture, State] = {}
    states: list[State] = []
    for item in items:
        if isinstance(item, State):
            states.append(item)
            continue
        state = waited.get(item)
        if state is None:
            state = waited[item] = _wait(item, deadline)
        states.append(state)

    def each(replace: Callable[[State], Any]) -> Any:
        """``value`` with each future and state replaced by ``replace(its state)``."""
        if items is not value:
            return replace(states[0])
        replaced = [replace(state) for state in states]
        collection: Callable[[list[Any]], Any] = type(value)  # list, tuple or set
        return replaced if collection is list else collection(replaced)

    return _aggregate(flow_run, states, lambda: each(_data), lambda: each(_same))


def _data(state: State) -> Any:
    return state.data


def _same(state: State) -> State:
    return state


def _as_data(value: Any, deadline: Deadline | None) -> Any:
    """Returned data with its futures replaced by their results, or by their final
    states for runs that did not complete (the flow run completes either way)."""
    found: dict[str, TaskFuture] = {}
    refs = extract_upstream(value, found)
    if not found:
        return value
    upstream = {run_id: _wait(future, deadline) for run_id, future in found.items()}
    return resolve_or_states(refs, upstream)


def _is_run_state(flow_run: FlowRun, state: State) -> bool:
    """Whether ``state`` is the state of a task run or of one of the flow run's subflows
    (not one its body made)."""
    if state.task_run_id is not None:
        return True
    return any(state is subflow for subflow in flow_run.subflow_states)


def _copy(flow_run: FlowRun, state: State) -> State:
    return State(
        state.type,
        state.name,
        _now(flow_run),
        state.message,
        data=state.data,
        exception=state.exception,
    )


def _aggregate(
    flow_run: FlowRun,
    states: list[State],
    data: Callable[[], Any],
    returned_states: Callable[[], Any] = lambda: None,
    total: int | None = None,
) -> State:
    """The final state decided by ``states``, as Prefect 2.20 decides it: COMPLETED
    (``"All states completed."``, with ``data()``) if all completed; else CANCELLED if any
    was (``"k/n states cancelled."``); else FAILED if any failed or crashed (``"k/n states
    failed."``, with ``returned_states()``, the returned value with futures replaced by
    their states, as data); else, only runs that never started left, NotReady (``"k/n
    states are not final."``). ``n`` counts those too; it is ``total`` when ``states``
    leaves out completed runs (the ledger only counts those). Only the one of ``data`` and
    ``returned_states`` needed is called: each walks the returned value."""
    failed = cancelled = not_ready = 0
    first_failure: State | None = None
    for state in states:
        kind = state.type
        if kind is _COMPLETED:
            continue
        if kind is StateType.FAILED or kind is StateType.CRASHED:
            failed += 1
            first_failure = first_failure or state
        elif kind is StateType.CANCELLED:
            cancelled += 1
        else:
            not_ready += 1
    if total is None:
        total = len(states)
    now = _now(flow_run)
    if cancelled:
        message = f"{cancelled}/{total} states cancelled."
        cancellation = RunCancelled(message)
        return State(StateType.CANCELLED, "Cancelled", now, message, exception=cancellation)
    if first_failure is not None:
        message = f"{failed}/{total} states failed."
        exception = first_failure.exception
        return State(
            StateType.FAILED, "Failed", now, message, data=returned_states(), exception=exception
        )
    if not_ready:  # only runs that never started: the flow run never really ran either
        message = f"{not_ready}/{total} states are not final."
        never_ran = UpstreamFailed(message)
        return State(
            StateType.PENDING, "NotReady", now, message, data=returned_states(), exception=never_ran
        )
    message = "All states completed." if total else ""  # no run at all: no message
    return new_state(StateType.COMPLETED, "Completed", now, message, data())


def _wait(future: TaskFuture, deadline: Deadline | None) -> State:
    """The final state of ``future``'s run once it is final; FlowTimeoutError past ``deadline``."""
    state = future.wait(deadline.remaining() if deadline is not None else None)
    if state is None:
        assert deadline is not None  # without one it waits until the run is final
        raise deadline.timed_out()
    return state


def end_unfinished(flow_run: FlowRun, interrupt: BaseException | None, why: str) -> bool:
    """End the flow run's task runs that have no final state yet: CRASHED by ``interrupt``,
    else CANCELLED because ``why``. Whether there were any.

    For a flow run that stops early (its timeout, Ctrl-C): each run is ended
    through `TaskFuture.abandon`, so what its runner or body records later
    is dropped.
    """
    ended = False
    for future in flow_run.task_runs.unfinished():
        ended = True
        future.abandon(_abandoned_state(flow_run, future, interrupt, why))
    return ended


def _abandoned_state(
    flow_run: FlowRun, future: TaskFuture, interrupt: BaseException | None, why: str
) -> State:
    was = future.state.type.value
    now = _now(flow_run)
    if interrupt is not None:
        message = (
            f"Task run {future.run_name!r} was stopped while {was}: its flow run "
            f"{flow_run.name!r} was interrupted by {type(interrupt).__name__}"
        )
        crash = RunCrashed(message)
        crash.__cause__ = interrupt
        return State(StateType.CRASHED, "Crashed", now, message, exception=crash)
    message = f"Task run {future.run_name!r} was cancelled while {was}: {why}."
    return State(StateType.CANCELLED, "Cancelled", now, message, exception=RunCancelled(message))


def _now(flow_run: FlowRun) -> int:
    return flow_run.runner.clock.now_ns()
