"""The flow engine: one flow run, from PENDING to a final state.

For each attempt (``retries`` + 1 at most) the engine records RUNNING, calls
the body inside the flow run's context, waits for every task run the body
submitted, and decides the final state the way Prefect 2 does
(`final_state`):

- the body raised → FAILED with that exception;
- it returned futures or states (alone or in a list, tuple, set or dict) →
  FAILED if any of them failed (``"k/n states failed."``; its data is the
  returned value with futures replaced by their states, so
  ``state.result(raise_on_failure=False)`` gives them, as in Prefect), else
  COMPLETED with the futures replaced by their results;
- it returned None → FAILED if any task run or subflow failed, else COMPLETED;
- it returned other data → COMPLETED.

A KeyboardInterrupt or SystemExit, in the body or in a task run, stops the
flow at once: pending runs are cancelled, the runner shut down, the flow run
ends CRASHED and the exception reaches the caller.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from flowcore import events
from flowcore.context import (
    FlowRun,
    current_flow_run,
    flow_run_context,
    new_run_id,
    top_level_names,
)
from flowcore.errors import FlowTimeoutError, RunCancelled
from flowcore.futures import CANCELLED, TaskFuture
from flowcore.parameters import extract_upstream, resolve, resolve_to_states
from flowcore.states import State, StateType
from flowcore.task_engine import ensure_not_in_task
from flowcore.task_runners.base import runner_for_flow_run
from flowcore.timeouts import call_with_timeout

if TYPE_CHECKING:
    from flowcore.flows import Flow

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["final_state", "run_flow_async", "run_flow_sync"]

_PROCESS_ID = os.getpid()


def run_flow_sync(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Any:
    flow_run = _new_flow_run(flow)
    args, kwargs = _resolve_parameters(args, kwargs)
    runner = flow_run.runner
    interrupt: BaseException | None = None
    state: State | None = None
    with flow_run_context(flow_run):
        runner.start()
        try:
            for attempt in range(flow.retries + 1):
                _record(flow_run, _running(flow_run, attempt))
                flow_run.futures = []
                try:
                    value = _call_body_sync(flow, flow_run, args, kwargs)
                    _wait_all(flow_run)
                    state = final_state(flow_run, value)
                except BaseException as error:
                    interrupt = _interrupt_of(error, flow_run)
                    if interrupt is not None:
                        state = _crashed(flow_run, interrupt)
                        break
                    if not isinstance(error, FlowTimeoutError):
                        _wait_all(flow_run)
                    state = _failed(flow_run, error)
                if not _should_retry(flow, flow_run, state, attempt):
                    break
                flow_run.runner.clock.sleep(flow.retry_delay_seconds)
        finally:
            timed_out = state is not None and state.name == "TimedOut"
            runner.shutdown(cancel=interrupt is not None or timed_out)
            _cancel_unfinished(flow_run)
    assert state is not None
    return _finish(flow_run, state, interrupt, return_state)


async def run_flow_async(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Any:
    flow_run = _new_flow_run(flow)
    args, kwargs = _resolve_parameters(args, kwargs)
    runner = flow_run.runner
    interrupt: BaseException | None = None
    state: State | None = None
    with flow_run_context(flow_run):
        await anyio.to_thread.run_sync(runner.start)
        try:
            for attempt in range(flow.retries + 1):
                _record(flow_run, _running(flow_run, attempt))
                flow_run.futures = []
                try:
                    value = await _call_body_async(flow, flow_run, args, kwargs)
                    _cancel_unfinished(flow_run)
                    state = final_state(flow_run, value)
                except BaseException as error:
                    error = _unwrap_group(error)
                    _cancel_unfinished(flow_run)
                    interrupt = _interrupt_of(error, flow_run)
                    if interrupt is not None:
                        state = _crashed(flow_run, interrupt)
                        break
                    state = _failed(flow_run, error)
                if not _should_retry(flow, flow_run, state, attempt):
                    break
                await flow_run.runner.clock.sleep_async(flow.retry_delay_seconds)
        finally:
            timed_out = state is not None and state.name == "TimedOut"
            await anyio.to_thread.run_sync(runner.shutdown, interrupt is not None or timed_out)
    assert state is not None
    return _finish(flow_run, state, interrupt, return_state)


def final_state(flow_run: FlowRun, value: Any) -> State:
    """The state a flow run ends in when its body returned ``value`` (see module docstring)."""
    if isinstance(value, State):
        return _aggregate(flow_run, [value], lambda: value.data)
    found: dict[str, TaskFuture] = {}
    returned_states: list[State] = []
    refs = _extract_returned(value, found, returned_states)
    if found or returned_states:
        upstream = {run_id: _wait(future) for run_id, future in found.items()}
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


def _wait(future: TaskFuture) -> State:
    """The final state of ``future``'s run, once it is final."""
    state = future.wait()
    assert state is not None  # it waits without a timeout
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


# --- steps -----------------------------------------------------------------


def _new_flow_run(flow: Flow[..., Any]) -> FlowRun:
    ensure_not_in_task(flow.name)
    parent = current_flow_run()
    names = parent.names if parent is not None else top_level_names
    runner = runner_for_flow_run(flow.task_runner)
    flow_run = FlowRun(flow, new_run_id(), names.next(flow.name), runner, parent)
    _record(flow_run, State(StateType.PENDING, "Pending", _now(flow_run)))
    return flow_run


def _resolve_parameters(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Futures passed to a flow (a subflow, usually) are replaced by their results."""
    found: dict[str, TaskFuture] = {}
    args, kwargs = extract_upstream(args, found), extract_upstream(kwargs, found)
    if not found:
        return args, kwargs
    states = {run_id: future.wait() or future.state for run_id, future in found.items()}
    for run_id, state in states.items():
        if not state.is_completed():
            state.result()  # raises the upstream failure
        del run_id
    return resolve(args, states), resolve(kwargs, states)


def _call_body_sync(
    flow: Flow[..., Any], flow_run: FlowRun, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if flow.timeout_seconds is None:
        return flow.fn(*args, **kwargs)
    return call_with_timeout(
        flow.fn,
        args,
        kwargs,
        flow.timeout_seconds,
        FlowTimeoutError,
        _timeout_message(flow),
        f"{threading.current_thread().name}:{flow_run.name}",
    )


async def _call_body_async(
    flow: Flow[..., Any], flow_run: FlowRun, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    async with anyio.create_task_group() as group:
        flow_run.start_soon = group.start_soon
        if flow.timeout_seconds is None:
            return await flow.fn(*args, **kwargs)
        try:
            with anyio.fail_after(flow.timeout_seconds):
                return await flow.fn(*args, **kwargs)
        except TimeoutError:
            group.cancel_scope.cancel()
            raise FlowTimeoutError(_timeout_message(flow)) from None


def _timeout_message(flow: Flow[..., Any]) -> str:
    return f"Flow run of {flow.name!r} exceeded its timeout of {flow.timeout_seconds:g}s"


def _wait_all(flow_run: FlowRun) -> None:
    for future in flow_run.futures:
        future.wait()
        if flow_run.interrupt is not None:
            raise flow_run.interrupt


def _cancel_unfinished(flow_run: FlowRun) -> None:
    """Runs that never got a final state (their runner dropped them) end CANCELLED."""
    for future in flow_run.futures:
        if not future.done() and future._handle is None:
            future.attach(CANCELLED)


def _interrupt_of(error: BaseException, flow_run: FlowRun) -> BaseException | None:
    if flow_run.interrupt is not None:
        return flow_run.interrupt
    if not isinstance(error, Exception):
        return error
    return None


def _should_retry(flow: Flow[..., Any], flow_run: FlowRun, state: State, attempt: int) -> bool:
    if state.is_completed() or attempt >= flow.retries:
        return False
    _record(
        flow_run,
        State(
            StateType.SCHEDULED,
            "AwaitingRetry",
            _now(flow_run),
            message=f"retry {attempt + 1} of {flow.retries} after {state.message}",
            exception=state.exception,
        ),
    )
    return True


def _running(flow_run: FlowRun, attempt: int) -> State:
    return State(StateType.RUNNING, "Retrying" if attempt else "Running", _now(flow_run))


def _failed(flow_run: FlowRun, error: BaseException) -> State:
    name = "TimedOut" if isinstance(error, FlowTimeoutError) else "Failed"
    message = f"Flow run encountered an exception. {type(error).__name__}: {error}"
    return State(StateType.FAILED, name, _now(flow_run), message, exception=error)


def _crashed(flow_run: FlowRun, error: BaseException) -> State:
    message = f"Flow run was interrupted: {type(error).__name__}: {error}"
    return State(StateType.CRASHED, "Crashed", _now(flow_run), message, exception=error)


def _finish(
    flow_run: FlowRun, state: State, interrupt: BaseException | None, return_state: bool
) -> Any:
    _record(flow_run, state)
    parent = flow_run.parent
    if parent is not None:
        parent.subflow_states.append(state)
        if interrupt is not None:
            parent.interrupt = interrupt
    if interrupt is not None:
        raise interrupt
    return state if return_state else state.result()


def _unwrap_group(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _now(flow_run: FlowRun) -> int:
    return flow_run.runner.clock.now_ns()


def _record(flow_run: FlowRun, state: State) -> None:
    flow_run.history.append(state)
    if not events.has_subscribers():
        return
    parent_id = flow_run.parent.id if flow_run.parent is not None else None
    events.publish(
        events.StateEvent(
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
    )
