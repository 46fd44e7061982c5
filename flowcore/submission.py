"""What calling, submitting and mapping a task does, depending on where it happens.

- Outside any flow: the run executes in place (`run_in_place`).
- In a sync flow: a `TaskRun` is created (PENDING), handed to the flow's
  runner, and a `TaskFuture` returned (`submit_to_flow`).
- In an async flow: a coroutine is returned (`task_call`); awaiting it
  submits the run and gives its result (or, for ``.submit()``, its future).
  Being a real coroutine, it can also be gathered or handed to a task
  group's ``start_soon``. Under a sequential runner ``.submit()`` finishes
  the run before giving the future, as Prefect's sequential runner does.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from flowcore.annotations import allow_failure
from flowcore.clock import real_clock
from flowcore.context import FlowRun, RunNames, flow_run_for_call, new_run_id
from flowcore.errors import InvalidArgument, NoFlowRun
from flowcore.futures import DoneHandle, TaskFuture
from flowcore.parameters import extract_upstream, resolve
from flowcore.run_names import format_run_name
from flowcore.states import State
from flowcore.task_engine import TaskRun

if TYPE_CHECKING:
    from flowcore.tasks import Task

__all__ = ["call_task", "map_task", "submit_task", "task_call"]

_loose_run_names = RunNames()


def call_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    flow_run = flow_run_for_call(task.name)
    if flow_run is None:
        return run_in_place(task, args, kwargs)
    return _submit(flow_run, task, args, kwargs, explicit=False)


def submit_task(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], explicit: bool
) -> Any:
    flow_run = flow_run_for_call(task.name)
    if flow_run is None:
        raise NoFlowRun(
            f"{task.name}.submit() needs a running flow. Call {task.name}(...) to run it in "
            f"place, or submit it from inside a @flow."
        )
    return _submit(flow_run, task, args, kwargs, explicit)


def _submit(
    flow_run: FlowRun,
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    explicit: bool,
) -> Any:
    return_state, wait_for = False, None
    if kwargs:  # ``kwargs`` is the call's own dict, so taking options out of it is safe
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
    if flow_run.flow.is_async:
        return task_call(flow_run, task, args, kwargs, wait_for, return_state, explicit)
    future = submit_to_flow(flow_run, task, args, kwargs, wait_for)
    if return_state:
        future.wait()
        return future.state
    return future


def run_in_place(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A task called outside any flow: run now, return the result (or state)."""
    return_state = False
    if kwargs:  # as in `_submit`: the call's own dict
        return_state = kwargs.pop("return_state", False)
        kwargs.pop("wait_for", None)
    args, kwargs = extract_upstream(args, {}), extract_upstream(kwargs, {})  # unwraps quote()
    counted = _loose_run_names.next(task.name)
    run = TaskRun(
        task,
        args,
        kwargs,
        (),
        new_run_id(),
        format_run_name(task.task_run_name, task.fn, args, kwargs) or counted,
        None,
        real_clock,
        log_prints=bool(task.log_prints),
    )
    run.pending(real_clock.now_ns())
    if task.is_async:
        return _run_in_place_async(run, return_state)
    state = run.execute()
    return state if return_state else state.result()


async def _run_in_place_async(run: TaskRun, return_state: bool) -> Any:
    state = await run.execute_async()
    return state if return_state else state.result()


def create_run(
    flow_run: FlowRun,
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None,
) -> TaskFuture:
    """A new PENDING run of ``task`` in ``flow_run``, with its future (not yet submitted)."""
    if flow_run.interrupt is not None:
        raise flow_run.interrupt
    found: dict[str, TaskFuture] = {}
    tolerated: set[str] = set()
    if args:
        args = extract_upstream(args, found, tolerated)
    if kwargs:
        kwargs = extract_upstream(kwargs, found, tolerated)
    if wait_for is not None:
        _add_wait_for(wait_for, found, tolerated)
    for upstream in found.values():
        _check_same_flow_run(upstream, flow_run)
    clock = flow_run.runner.clock
    name = flow_run.names.next(task.name)  # counted even when a template names the run
    if task.task_run_name is not None:
        name = _run_name(task, args, kwargs, found) or name
    log_prints = task.log_prints if task.log_prints is not None else flow_run.log_prints
    run = TaskRun(  # all positional: keywords cost more on every run
        task,
        args,
        kwargs,
        tuple(found.values()) if found else (),
        new_run_id(),
        name,
        flow_run.id,
        clock,
        tuple(tolerated) if tolerated else (),  # tolerated
        log_prints,  # a bool: the flow run's is one
        flow_run.name,  # flow_run_name
    )
    run.pending(clock.now_ns())
    future = TaskFuture(run, flow_run)
    flow_run.task_runs.add(future)
    return future


def _add_wait_for(
    wait_for: Iterable[Any], found: dict[str, TaskFuture], tolerated: set[str]
) -> None:
    for item in _as_iterable(wait_for, "wait_for"):
        future = item.value if isinstance(item, allow_failure) else item
        if not isinstance(future, TaskFuture):
            raise InvalidArgument(
                f"wait_for takes task futures (from calls or .submit()), got {item!r}"
            )
        found[future.run_id] = future
        if future is not item:
            tolerated.add(future.run_id)


def _run_name(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], found: dict[str, Any]
) -> str | None:
    """The run's name from ``task_run_name``; None for the counted one."""
    assert task.task_run_name is not None  # checked by the caller, on the hot path
    states = {run_id: future.state for run_id, future in found.items()}
    if any(not state.is_completed() for state in states.values()):
        return None  # formatted from results that are not there yet: keep the counted name
    return format_run_name(
        task.task_run_name, task.fn, resolve(args, states), resolve(kwargs, states)
    )


def submit_to_flow(
    flow_run: FlowRun,
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None,
) -> TaskFuture:
    """Create a run and hand it to the flow's runner; returns its future."""
    future = create_run(flow_run, task, args, kwargs, wait_for)
    try:
        handle = flow_run.runner.submit(future.run)
    except BaseException as error:
        future.attach(_FailedHandle(error))
        raise
    future.attach(handle)
    return future


def _check_same_flow_run(future: TaskFuture, flow_run: FlowRun) -> None:
    if future.flow_run_id != flow_run.id:
        raise InvalidArgument(
            f"future of task run {future.run_name!r} belongs to another flow run "
            f"({future.flow_run_id}), not to {flow_run.name!r}; pass its result instead: "
            f"future.result()"
        )


def _as_iterable(value: Any, what: str) -> Iterable[Any]:
    if isinstance(value, TaskFuture):
        return [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidArgument(f"{what} takes a list of task futures, got {value!r}")
    return value


class _FailedHandle(DoneHandle):
    """The handle of a run its runner refused: settling it records a crash."""

    def result(self, timeout: float | None = None) -> Any:
        raise self._value


def task_call(
    flow_run: FlowRun,
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None,
    return_state: bool,
    give_future: bool,
) -> Coroutine[Any, Any, Any]:
    """A task call inside an async flow: a coroutine that runs the task when awaited.

    ``await load(1)`` gives the result (the final `State` with
    ``return_state=True``); ``await load.submit(1)`` gives a `TaskFuture`
    while the run goes on in the flow's task group.
    """
    coroutine = _run_call(flow_run, task, args, kwargs, wait_for, return_state, give_future)
    # Python's "coroutine ... was never awaited" warning then names the task.
    named: Any = coroutine
    named.__qualname__ = f"{task.name} (a task call in an async flow: await it to run it)"
    return coroutine


async def _run_call(
    flow_run: FlowRun,
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None,
    return_state: bool,
    give_future: bool,
) -> Any:
    future = create_run(flow_run, task, args, kwargs, wait_for)
    if give_future:
        if flow_run.runner.runs_at_submission:
            await _run_to_end(flow_run, future)
        else:
            flow_run.start_soon(_run_to_end, flow_run, future)
        return future
    state = await _run_to_end(flow_run, future)
    return state if return_state else state.result()


async def _run_to_end(flow_run: FlowRun, future: TaskFuture) -> State:
    for upstream in future.run.upstream:
        await upstream.wait_async()
    try:
        state = await flow_run.runner.submit_async(future.run)
    except BaseException as error:
        future.attach(_FailedHandle(error))
        raise
    future.attach(DoneHandle(state))
    return future.state


def map_task(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Submit one run per item; see `Task.map`."""
    from flowcore.tasks import is_mappable, unmapped

    flow_run = flow_run_for_call(task.name)
    if flow_run is None:
        raise NoFlowRun(f"{task.name}.map() needs a running flow; call it from inside a @flow.")
    return_state = kwargs.pop("return_state", False)
    wait_for = kwargs.pop("wait_for", None)
    named = [(index, value) for index, value in enumerate(args)] + list(kwargs.items())
    if flow_run.flow.is_async:
        resolved = [(key, value) for key, value in named]
    else:
        resolved = [
            (key, value.result() if isinstance(value, TaskFuture) else value)
            for key, value in named
        ]
    columns = {
        key: list(value)
        for key, value in resolved
        if not isinstance(value, unmapped) and is_mappable(value)
    }
    if not columns:
        raise InvalidArgument(
            f"{task.name}.map() needs at least one iterable argument to map over, got "
            f"{[value for _, value in named]!r}"
        )
    lengths = {key: len(items) for key, items in columns.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{_label(key)} has {length}" for key, length in lengths.items())
        raise InvalidArgument(f"{task.name}.map() got iterables of different lengths: {detail}")
    count = next(iter(lengths.values()))
    calls = []
    for index in range(count):
        call_args, call_kwargs = [], {}
        for key, value in resolved:
            item = columns[key][index] if key in columns else _unwrap(value)
            if isinstance(key, int):
                call_args.append(item)
            else:
                call_kwargs[key] = item
        calls.append((tuple(call_args), call_kwargs))
    if flow_run.flow.is_async:
        return _map_async(flow_run, task, calls, wait_for, return_state)
    futures = [submit_to_flow(flow_run, task, a, k, wait_for) for a, k in calls]
    if return_state:
        return [future.wait() for future in futures]
    return futures


async def _map_async(
    flow_run: FlowRun,
    task: Task[..., Any],
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
    wait_for: Iterable[Any] | None,
    return_state: bool,
) -> list[Any]:
    futures = [
        await _run_call(flow_run, task, a, k, wait_for, False, give_future=True) for a, k in calls
    ]
    if return_state:
        return [await future.wait_async() for future in futures]
    return futures


def _unwrap(value: Any) -> Any:
    from flowcore.tasks import unmapped

    return value.value if isinstance(value, unmapped) else value


def _label(key: int | str) -> str:
    return f"argument {key}" if isinstance(key, int) else repr(key)
