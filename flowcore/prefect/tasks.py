"""Tasks with Prefect's call semantics, per flavour (see `flowcore.prefect`).

Native flowcore submits a plain task call made in a flow; Prefect runs it and
gives its value. `PrefectTask` follows Prefect, as measured against 2.20.27
and 3.9.1:

| in a flow, ...                    | Prefect 2.20                    | Prefect 3.9        |
|-----------------------------------|---------------------------------|--------------------|
| ``t(x)``, sync task               | runs, gives the value           | the same           |
| ``t(x)``, async task, async flow  | an awaitable of the value       | the same           |
| ``t(x)``, async task, sync flow   | runs, gives the value           | an awaitable       |
| ``t(x)``, async task, no flow     | runs (no running loop)          | an awaitable       |
| ``t.submit(x)``, sync flow        | a future                        | a future           |
| ``t.submit(x)``, async flow       | sync task: a future; async      | a future, blocking |
|                                   | task: awaitable of a future     | ``result()``       |
|                                   | whose ``result()`` is awaited   |                    |
| ``t.map(xs)``                     | a list (async task, async flow: | a list with        |
|                                   | awaitable of one)               | ``wait``/``result``|

    >>> @task
    ... def double(x):
    ...     return 2 * x
    >>> double(2)
    4
"""

from __future__ import annotations

import asyncio
from typing import Any

from flowcore import submission
from flowcore.context import FlowRun, flow_run_for_call
from flowcore.errors import FlowcoreUsageError
from flowcore.futures import TaskFuture
from flowcore.hooks import TASK_HOOKS
from flowcore.options import IGNORED_TASK_OPTIONS, TASK_OPTIONS
from flowcore.prefect.flavour import active_version
from flowcore.prefect.flows import TASK_HOOK_ARGUMENTS, positional_hooks
from flowcore.prefect.futures import PrefectFutureList, as_prefect_future
from flowcore.prefect.mapping import map_calls
from flowcore.tasks import Task, _check_options

__all__ = ["PrefectTask", "task"]


class PrefectTask(Task[Any, Any]):
    """A flowcore `Task` called the way Prefect calls tasks."""

    def with_options(self, **options: Any) -> PrefectTask:
        changed = super().with_options(**options)
        return PrefectTask(changed.fn, **{key: getattr(changed, key) for key in TASK_OPTIONS})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Outside a flow as flowcore; in a flow: run it now, give the value (or state)."""
        flow_run = _flow_run(self)
        if flow_run is None:
            return _call_outside_flow(self, args, kwargs)
        if self.is_async and (flow_run.flow.is_async or active_version() == 3):
            return _run_when_awaited(self, flow_run, args, kwargs)
        return _run_now(self, flow_run, args, kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        flow_run = _flow_run(self)
        if flow_run is None:
            raise OutsideFlowError(
                f"{self.name}.submit() needs a running flow, as in Prefect. Call "
                f"{self.name}(...) to run it in place, or submit it from inside a @flow."
            )
        if flow_run.flow.is_async and self.is_async and active_version() == 2:
            return _awaitable_future(submission.submit_task(self, args, kwargs, explicit=True))
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        future = submission.submit_to_flow(flow_run, self, args, kwargs, wait_for)
        return future.wait() if return_state else as_prefect_future(future)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        flow_run = _flow_run(self)
        if flow_run is None:
            raise FlowcoreUsageError(
                f"{self.name}.map() needs a running flow; call it from inside a @flow."
            )
        if flow_run.flow.is_async and self.is_async and active_version() == 2:
            return _awaitable_futures(submission.map_task(self, args, kwargs))
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        futures = [
            as_prefect_future(submission.submit_to_flow(flow_run, self, a, k, wait_for))
            for a, k in map_calls(self.name, args, kwargs)
        ]
        if return_state:
            return [future.wait() for future in futures]
        return PrefectFutureList(futures) if active_version() == 3 else futures


def _flow_run(task: Task[Any, Any]) -> FlowRun | None:
    return flow_run_for_call(task.name)


def _call_outside_flow(task: PrefectTask, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Prefect 2 runs an async task called from sync code (no running loop) at once."""
    called = submission.run_in_place(task, args, kwargs)
    if task.is_async and active_version() == 2 and not _in_event_loop():
        return asyncio.run(called)
    return called


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_now(
    task: PrefectTask, flow_run: FlowRun, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    return_state = kwargs.pop("return_state", False)
    wait_for = kwargs.pop("wait_for", None)
    future = submission.submit_to_flow(flow_run, task, args, kwargs, wait_for)
    state = future.wait()
    if state is None:
        raise RuntimeError(f"task run {future.run_name!r} ended without a final state")
    return state if return_state else state.result()


def _run_when_awaited(
    task: PrefectTask, flow_run: FlowRun, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    if flow_run.flow.is_async:
        return submission.call_task(task, args, kwargs)  # awaiting it runs it in the flow
    return_state = kwargs.pop("return_state", False)
    future = submission.submit_to_flow(flow_run, task, args, kwargs, kwargs.pop("wait_for", None))
    return _settled(future, return_state)


async def _settled(future: TaskFuture, return_state: bool) -> Any:
    state = await future.wait_async()
    return state if return_state else state.result()


async def _awaitable_future(submitted: Any) -> Any:
    value = await submitted
    if isinstance(value, TaskFuture):
        return as_prefect_future(value, awaitable_result=True)
    return value


async def _awaitable_futures(submitted: Any) -> Any:
    values = await submitted
    return [
        as_prefect_future(value, awaitable_result=True) if isinstance(value, TaskFuture) else value
        for value in values
    ]


class OutsideFlowError(FlowcoreUsageError, RuntimeError):
    """``task.submit()`` outside a flow: a RuntimeError, as Prefect raises."""


# State hooks each flavour's @task takes; others are a TypeError there, as for any keyword.
TASK_HOOKS_BY_VERSION = {
    2: {"on_completion", "on_failure"},
    3: {"on_completion", "on_failure", "on_running"},
}


def task(fn: Any = None, /, **options: Any) -> Any:
    """``@task`` or ``@task(...)``: a `PrefectTask`; the options are flowcore's `task`'s."""
    for option in sorted(set(options) - TASK_HOOKS_BY_VERSION[active_version()]):
        if option.startswith("on_"):
            raise TypeError(f"task() got an unexpected keyword argument {option!r}")
    _check_options(options, "@task")
    if active_version() == 3:
        options.update(positional_hooks(options, TASK_HOOKS, TASK_HOOK_ARGUMENTS))
    settings = {key: value for key, value in options.items() if key not in IGNORED_TASK_OPTIONS}
    if fn is None:
        return lambda function: PrefectTask(function, **settings)
    return PrefectTask(fn, **settings)
