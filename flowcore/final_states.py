"""Final states a flow run decides: its own, from what its body returned, and
those of the task runs it leaves unfinished when it stops early (`end_unfinished`).

The rules are Prefect 2's (`final_state`):

- the body returned a `State`, a future, or a list, tuple, set or dict of
  them → FAILED if any of them failed (``"k/n states failed."``; its data is
  the returned value with futures replaced by their states, so
  ``state.result(raise_on_failure=False)`` gives them, as in Prefect), else
  CANCELLED if any was cancelled, else COMPLETED with the futures replaced
  by their results;
- it returned None → the same, decided by every task run and subflow it
  started;
- it returned other data → COMPLETED.

(A body that raised is FAILED; that is the engine's, `flowcore.flow_engine`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowcore.errors import RunCancelled, RunCrashed
from flowcore.parameters import extract_upstream, resolve, resolve_to_states
from flowcore.states import State, StateType

if TYPE_CHECKING:
    from flowcore.context import FlowRun
    from flowcore.futures import TaskFuture
    from flowcore.timeouts import Deadline

__all__ = ["end_unfinished", "final_state"]


def final_state(flow_run: FlowRun, value: Any, deadline: Deadline | None = None) -> State:
    """The state a flow run ends in when its body returned ``value`` (see module docstring)."""
    if isinstance(value, State):
        return _aggregate(flow_run, [value], lambda: value.data)
    found: dict[str, TaskFuture] = {}
    returned_states: list[State] = []
    refs = _extract_returned(value, found, returned_states)
    if found or returned_states:
        upstream = {run_id: _wait(future, deadline) for run_id, future in found.items()}
        return _aggregate(
            flow_run,
            [*upstream.values(), *returned_states],
            lambda: _replace_states(resolve(refs, upstream)),
            lambda: resolve_to_states(refs, upstream),
        )
    if value is None:
        states = [future.state for future in flow_run.futures]
        return _aggregate(flow_run, states + flow_run.subflow_states, lambda: None)
    return State(StateType.COMPLETED, "Completed", _now(flow_run), data=value)


def _aggregate(
    flow_run: FlowRun,
    states: list[State],
    data: Callable[[], Any],
    returned_states: Callable[[], Any] = lambda: None,
) -> State:
    """The final state decided by ``states``, in one pass over them.

    FAILED if any failed or crashed, keeping ``returned_states()`` (the
    returned value, futures replaced by their states) as its data, as in
    Prefect; else CANCELLED if any was cancelled; else COMPLETED with
    ``data()``. Each of the two walks the returned value, so only the one
    needed is called.
    """
    failed = cancelled = 0
    first_failure: State | None = None
    for state in states:
        if state.type is StateType.COMPLETED:
            continue
        if state.type is StateType.FAILED or state.type is StateType.CRASHED:
            failed += 1
            first_failure = first_failure or state
        elif state.type is StateType.CANCELLED:
            cancelled += 1
    now = _now(flow_run)
    if first_failure is not None:
        message = f"{failed}/{len(states)} states failed."
        exception = first_failure.exception
        return State(
            StateType.FAILED, "Failed", now, message, data=returned_states(), exception=exception
        )
    if cancelled:
        message = f"{cancelled}/{len(states)} states cancelled."
        error = RunCancelled(message)
        return State(StateType.CANCELLED, "Cancelled", now, message, exception=error)
    return State(StateType.COMPLETED, "Completed", now, data=data())


def _wait(future: TaskFuture, deadline: Deadline | None) -> State:
    """The final state of ``future``'s run once it is final; FlowTimeoutError past ``deadline``."""
    state = future.wait(deadline.remaining() if deadline is not None else None)
    if state is None:
        assert deadline is not None  # without one it waits until the run is final
        raise deadline.timed_out()
    return state


def _extract_returned(value: Any, found: dict[str, TaskFuture], states: list[State]) -> Any:
    """``value`` with its futures replaced by refs (into ``found``) and its states
    (alone or in a container) collected into ``states``."""
    if isinstance(value, State):
        states.append(value)
    elif isinstance(value, (list, tuple, set, frozenset, dict)) and value:
        items = value.values() if isinstance(value, dict) else value
        states.extend([item for item in items if isinstance(item, State)])
    return extract_upstream(value, found)


def _replace_states(value: Any) -> Any:
    """``value`` with returned states (alone or in a container) replaced by their data."""
    if isinstance(value, State):
        return value.data
    if not isinstance(value, (list, tuple, set, frozenset, dict)) or not value:
        return value
    if isinstance(value, dict):
        return {k: (v.data if isinstance(v, State) else v) for k, v in value.items()}
    items = [item.data if isinstance(item, State) else item for item in value]
    return items if isinstance(value, list) else type(value)(items)


def end_unfinished(flow_run: FlowRun, interrupt: BaseException | None, why: str) -> bool:
    """End the flow run's task runs that have no final state yet: CRASHED by ``interrupt``,
    else CANCELLED because ``why``. Whether there were any.

    For a flow run that stops early (its timeout, Ctrl-C): each run is ended
    through `TaskFuture.abandon`, so what its runner or body records later
    is dropped.
    """
    ended = False
    for future in flow_run.futures:
        if future.done():
            continue
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
