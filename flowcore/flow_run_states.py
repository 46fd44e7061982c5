"""The states of a flow run: how they are made, recorded, published and hooked.

`record` appends a state to the flow run's history, publishes it as a
`flowcore.events.StateEvent`, and calls the flow's hooks for it
(`flowcore.hooks`). The other functions build the states the engine
(`flowcore.flow_engine`) records: `running`, `crashed`, `awaiting_retry`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

from flowcore import events
from flowcore.context import FlowRun
from flowcore.hooks import run_hooks
from flowcore.run_logging import FLOW_RUN_LOGGER, flow_run_extra
from flowcore.states import State, StateType, new_state

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["awaiting_retry", "crashed", "now", "record", "running", "unwrap_group"]

_PROCESS_ID = os.getpid()


def record(flow_run: FlowRun, state: State) -> None:
    """Record ``state``, publish it, then call the flow's hooks for it."""
    flow_run.history.append(state)
    if events.has_subscribers():
        events.publish(_event(flow_run, state))
    flow = flow_run.flow
    if flow.hooks is not None:
        arguments = {"flow": flow, "flow_run": flow_run, "state": state}
        run_hooks(flow.hooks, state, FLOW_RUN_LOGGER, flow_run_extra(flow_run), arguments)


def running(flow_run: FlowRun, attempt: int) -> State:
    return new_state(StateType.RUNNING, "Retrying" if attempt else "Running", now(flow_run))


def awaiting_retry(flow_run: FlowRun, state: State, attempt: int) -> State:
    """SCHEDULED before retry ``attempt + 1``, after an attempt that ended in ``state``."""
    retries = flow_run.flow.retries
    return State(
        StateType.SCHEDULED,
        "AwaitingRetry",
        now(flow_run),
        message=f"retry {attempt + 1} of {retries} after {state.message}",
        exception=state.exception,
    )


def crashed(flow_run: FlowRun, error: BaseException) -> State:
    if _is_cancellation(error):
        message = "Flow run was cancelled: its task was cancelled (by Ctrl-C under asyncio.run?)"
    else:
        message = f"Flow run was interrupted: {type(error).__name__}: {error}"
    return State(StateType.CRASHED, "Crashed", now(flow_run), message, exception=error)


def unwrap_group(error: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups of one, or ``error`` itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def now(flow_run: FlowRun) -> int:
    return flow_run.runner.clock.now_ns()


def _is_cancellation(error: BaseException) -> bool:
    """Whether ``error`` is an event loop's cancellation (asyncio's, or trio's if in use)."""
    if isinstance(error, asyncio.CancelledError):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(error, trio.Cancelled)


def _event(flow_run: FlowRun, state: State) -> events.StateEvent:
    parent_id = flow_run.parent.id if flow_run.parent is not None else None
    return events.StateEvent(
        run_id=flow_run.id,
        run_name=flow_run.name,
        kind="flow",
        name=flow_run.flow.name,
        flow_run_id=parent_id,
        parent_flow_run_id=parent_id,
        state=state,
        timestamp_ns=state.timestamp_ns,
        process_id=_PROCESS_ID,
        thread_name=threading.current_thread().name,
    )
