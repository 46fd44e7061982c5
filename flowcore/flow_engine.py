"""The flow engine: one flow run, from PENDING to a final state.

For each attempt (``retries`` + 1 at most) the engine records RUNNING, calls
the body inside the flow run's context, waits for every task run the body
submitted, and decides the final state from what the body returned
(`flowcore.final_states`). Every flow run reaches a final state:

- its task runner cannot start → CRASHED with that error;
- the body raised → FAILED with that exception, once its runs have ended;
- its ``timeout_seconds`` passed → FAILED (``TimedOut``). One `Deadline`
  bounds the body, the wait for its task runs and the resolving of its
  return value; the runs still without a final state end CANCELLED and the
  runner is shut down without waiting for them, so the call returns at the
  timeout (plus the runner's cancelling shutdown, well under a second);
- KeyboardInterrupt or SystemExit (Ctrl-C), in the body, in a task run or
  while the engine waits, or the cancellation of an async flow's task
  (``asyncio.run`` turns Ctrl-C into one) → CRASHED at once: the runs still
  without a final state end CRASHED, the runner is shut down without
  waiting for them (sync bodies are abandoned to their daemon threads, async
  ones cancelled), and the exception reaches the caller.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING, Any

import anyio

from flowcore.context import (
    FlowRun,
    enter_flow_run,
    exit_flow_run,
    flow_run_for_call,
    new_run_id,
    top_level_names,
)
from flowcore.errors import FlowTimeoutError
from flowcore.final_states import end_unfinished, final_state
from flowcore.flow_run_states import (
    awaiting_retry,
    crashed,
    now,
    record,
    running,
    unwrap_group,
)
from flowcore.ledger import TaskRunLedger
from flowcore.parameters import resolve_flow_parameters
from flowcore.run_names import format_run_name
from flowcore.states import State, StateType, new_state
from flowcore.task_runners.base import runner_for_flow_run
from flowcore.threads import run_sync_in_thread
from flowcore.timeouts import Deadline, call_with_timeout

if TYPE_CHECKING:
    from collections.abc import Callable

    from flowcore.flows import Flow
    from flowcore.task_runners.base import TaskRunner

if sys.version_info < (3, 11):
    pass  # type: ignore[import-not-found,unused-ignore]

__all__ = ["final_state", "run_flow_async", "run_flow_sync"]


class _BodyTimedOut(BaseException):
    """Raised into a sync flow body's thread when its flow run timed out; a
    BaseException, so that the body's ``except Exception`` does not keep it running."""


def run_flow_sync(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Any:
    flow_run = _new_flow_run(flow, args, kwargs)
    token = enter_flow_run(flow_run)  # not a `with`: see flowcore.context
    try:
        state, interrupt = _run_sync(flow, flow_run, args, kwargs)
    finally:
        exit_flow_run(token)
    return _finish(flow_run, state, interrupt, return_state)


async def run_flow_async(
    flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Any:
    flow_run = _new_flow_run(flow, args, kwargs)
    token = enter_flow_run(flow_run)
    try:
        state, interrupt = await _run_async(flow, flow_run, args, kwargs)
    finally:
        exit_flow_run(token)
    return _finish(flow_run, state, interrupt, return_state)


# --- sync flows ----------------------------------------------------------


def _run_sync(
    flow: Flow[..., Any], flow_run: FlowRun, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[State, BaseException | None]:
    """Every attempt of a sync flow run; its final state and the interrupt that stopped it."""
    try:
        flow_run.runner.start()
    except Exception as error:
        return _runner_failed(flow_run, error), None
    state: State | None = None
    interrupt: BaseException | None = None
    try:
        for attempt in range(flow.retries + 1):
            state = _attempt_sync(flow, flow_run, args, kwargs, attempt)
            if not _should_retry(flow, flow_run, state, attempt):
                break
            flow_run.runner.clock.sleep(flow.retry_delay_seconds)
    except BaseException as error:  # Ctrl-C, SystemExit, an interrupt in a task run
        state, interrupt = _stopped_by(flow_run, error)
    assert state is not None  # the loop runs at least once
    return _stop_runner(flow_run, state, interrupt), interrupt


def _attempt_sync(
    flow: Flow[..., Any],
    flow_run: FlowRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempt: int,
) -> State:
    record(flow_run, running(flow_run, attempt))
    if attempt:  # a retry keeps no run of the attempts before (the first has the run's own)
        flow_run.task_runs = TaskRunLedger()
    deadline = _deadline(flow, flow_run)
    try:
        args, kwargs = resolve_flow_parameters(args, kwargs)
        value = _call_body_sync(flow, flow_run, args, kwargs, deadline)
        _wait_all(flow_run, deadline)
        return final_state(flow_run, value, deadline)
    except Exception as error:
        if not _is_own_timeout(error, deadline):
            try:  # the runs the failed body started still end before the flow run does
                _wait_all(flow_run, deadline)
            except FlowTimeoutError as timeout:
                error = timeout
        return _failed(flow_run, error, deadline)


def _call_body_sync(
    flow: Flow[..., Any],
    flow_run: FlowRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    deadline: Deadline | None,
) -> Any:
    if deadline is None:
        return flow.fn(*args, **kwargs)
    try:
        return call_with_timeout(
            flow.fn,
            args,
            kwargs,
            deadline.remaining(),
            _BodyTimedOut,
            "",
            f"{threading.current_thread().name}:{flow_run.name}",
        )
    except _BodyTimedOut:
        raise deadline.timed_out() from None


def _wait_all(flow_run: FlowRun, deadline: Deadline | None) -> None:
    """Wait until every task run of the flow run is final; FlowTimeoutError past ``deadline``."""
    while True:
        if flow_run.interrupt is not None:  # a run ended by Ctrl-C: the flow run stops
            raise flow_run.interrupt
        unfinished = flow_run.task_runs.unfinished()
        if not unfinished:
            break
        remaining = deadline.remaining() if deadline is not None else None
        flow_run.runner.wait_all(unfinished, lambda: flow_run.interrupt is not None, remaining)
        for future in unfinished:
            state = future.wait(deadline.remaining() if deadline is not None else None)
            if flow_run.interrupt is not None:
                raise flow_run.interrupt
            if state is None and deadline is not None:
                raise deadline.timed_out()
    if deadline is not None and deadline.passed():
        raise deadline.timed_out()


# --- async flows ---------------------------------------------------------


async def _start_or_stop(runner: TaskRunner, step: Callable[[], None]) -> None:
    """``runner.start`` or ``runner.shutdown`` from the flow's event loop: in a worker
    thread if it may block, else here (a hand-off between threads costs more than a
    flow of a few runs)."""
    if runner.may_block_to_start_or_stop:
        await run_sync_in_thread(step)
    else:
        step()


async def _run_async(
    flow: Flow[..., Any], flow_run: FlowRun, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[State, BaseException | None]:
    """Every attempt of an async flow run; its final state and the interrupt that stopped it."""
    runner = flow_run.runner
    state: State | None = None
    interrupt: BaseException | None = None
    try:
        try:
            await _start_or_stop(runner, runner.start)
        except Exception as error:
            return _runner_failed(flow_run, error), None
        for attempt in range(flow.retries + 1):
            state = await _attempt_async(flow, flow_run, args, kwargs, attempt)
            if not _should_retry(flow, flow_run, state, attempt):
                break
            await runner.clock.sleep_async(flow.retry_delay_seconds)
    except BaseException as error:  # Ctrl-C, SystemExit, this task's cancellation
        state, interrupt = _stopped_by(flow_run, error)
    assert state is not None  # the loop runs at least once
    if interrupt is None and not flow_run.stopped_early:
        await _start_or_stop(runner, runner.shutdown)
        return state, None
    return _stop_runner(flow_run, state, interrupt), interrupt


async def _attempt_async(
    flow: Flow[..., Any],
    flow_run: FlowRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempt: int,
) -> State:
    record(flow_run, running(flow_run, attempt))
    if attempt:  # a retry keeps no run of the attempts before (the first has the run's own)
        flow_run.task_runs = TaskRunLedger()
    deadline = _deadline(flow, flow_run)
    try:
        args, kwargs = resolve_flow_parameters(args, kwargs)
        value = await _call_body_async(flow, flow_run, args, kwargs, deadline)
        if deadline is not None and deadline.passed():
            raise deadline.timed_out()
        end_unfinished(flow_run, None, "its runner dropped it")
        return final_state(flow_run, value, deadline)
    except BaseException as raised:
        error = unwrap_group(raised)
        if not isinstance(error, Exception):
            raise error from None
        state = _failed(flow_run, error, deadline)
        end_unfinished(flow_run, None, f"its flow run {flow_run.name!r} failed")
        return state


async def _call_body_async(
    flow: Flow[..., Any],
    flow_run: FlowRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    deadline: Deadline | None,
) -> Any:
    """The body and every run it started in its task group, within ``deadline``. Under a
    runner whose runs end at their submission, no group: entering and leaving one (and
    the checkpoint anyio takes on leaving) cost more than the rest of a flow call."""
    failure: Exception | None = None
    # A scope without a deadline would cancel nothing, at the price of entering one.
    scope: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if deadline is not None:
        scope = anyio.move_on_after(deadline.remaining())
    with scope:
        if flow_run.runner.runs_at_submission:  # `.submit()` runs at once: nothing to host
            return await flow.fn(*args, **kwargs)
        async with anyio.create_task_group() as group:
            flow_run.start_soon = group.start_soon
            try:
                value = await flow.fn(*args, **kwargs)
            except Exception as error:  # raised once the runs it started have ended, as
                failure = error  # a sync flow's body is: the group must not cancel them
        if failure is not None:
            raise failure
        return value
    assert deadline is not None  # only a deadline cancels the scope
    raise deadline.timed_out()


# --- ending --------------------------------------------------------------


def _deadline(flow: Flow[..., Any], flow_run: FlowRun) -> Deadline | None:
    if flow.timeout_seconds is None:
        return None
    message = f"Flow run of {flow.name!r} exceeded its timeout of {flow.timeout_seconds:g}s"
    return Deadline(flow.timeout_seconds, flow_run.runner.clock, message)


def _is_own_timeout(error: BaseException, deadline: Deadline | None) -> bool:
    """Whether ``error`` is this flow run's timeout (not a subflow's, raised in its body)."""
    return deadline is not None and error is deadline.error


def _stopped_by(flow_run: FlowRun, error: BaseException) -> tuple[State, BaseException | None]:
    """The CRASHED state of a flow run stopped by ``error`` (or by a task run's interrupt),
    and the interrupt to raise to the caller (None for an error of the engine itself)."""
    cause = flow_run.interrupt or unwrap_group(error)
    return crashed(flow_run, cause), None if isinstance(cause, Exception) else cause


def _stop_runner(flow_run: FlowRun, state: State, interrupt: BaseException | None) -> State:
    """End the runs still without a final state, shut the runner down, and give the flow
    run's final state (CRASHED if the runner fails to shut down after a success)."""
    why = f"its flow run {flow_run.name!r} ended {state.name}"
    leftovers = end_unfinished(flow_run, interrupt, why)
    cancel = leftovers or interrupt is not None or flow_run.stopped_early
    try:
        flow_run.runner.shutdown(cancel=cancel)
    except Exception as error:
        if state.is_completed():
            message = f"Flow run's task runner failed to shut down: {type(error).__name__}: {error}"
            return State(StateType.CRASHED, "Crashed", now(flow_run), message, exception=error)
    return state


def _runner_failed(flow_run: FlowRun, error: Exception) -> State:
    """A flow run whose runner did not start: CRASHED with the runner's error."""
    # Release whatever part of it did start; the start's error is the one to report.
    with contextlib.suppress(Exception):
        flow_run.runner.shutdown(cancel=True)
    message = (
        f"Flow run could not start its task runner {flow_run.runner!r}: "
        f"{type(error).__name__}: {error}"
    )
    return State(StateType.CRASHED, "Crashed", now(flow_run), message, exception=error)


def _finish(
    flow_run: FlowRun, state: State, interrupt: BaseException | None, return_state: bool
) -> Any:
    token = enter_flow_run(flow_run)
    try:
        record(flow_run, state)
    finally:
        exit_flow_run(token)
    parent = flow_run.parent
    if parent is not None:
        parent.subflow_states.append(state)
        if interrupt is not None:
            parent.interrupt = interrupt
    if interrupt is not None:
        raise interrupt
    return state if return_state else state.result()


# --- steps -----------------------------------------------------------------


def _new_flow_run(flow: Flow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> FlowRun:
    parent = flow_run_for_call(flow.name)
    names = parent.names if parent is not None else top_level_names
    runner = runner_for_flow_run(flow.task_runner)
    counted = names.next(flow.name)
    name = format_run_name(flow.flow_run_name, flow.fn, args, kwargs) or counted
    flow_run = FlowRun(flow, new_run_id(), name, runner, parent, (args, kwargs))
    record(flow_run, new_state(StateType.PENDING, "Pending", now(flow_run)))
    return flow_run


def _should_retry(flow: Flow[..., Any], flow_run: FlowRun, state: State, attempt: int) -> bool:
    if state.is_completed() or attempt >= flow.retries:
        return False
    record(flow_run, awaiting_retry(flow_run, state, attempt))
    return True


def _failed(flow_run: FlowRun, error: BaseException, deadline: Deadline | None) -> State:
    """FAILED with ``error``; ``TimedOut`` for the flow run's own timeout, whose task runs
    still without a final state end CANCELLED now (a retry starts afresh)."""
    name = "Failed"
    if _is_own_timeout(error, deadline):
        name = "TimedOut"
        flow_run.stopped_early = True
        end_unfinished(flow_run, None, f"its flow run {flow_run.name!r} timed out")
    message = f"Flow run encountered an exception. {type(error).__name__}: {error}"
    return State(StateType.FAILED, name, now(flow_run), message, exception=error)
