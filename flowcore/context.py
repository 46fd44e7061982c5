"""Run context: which flow run and which task run the current code is inside.

Two context variables carry it, so flow runs in separate threads or asyncio
tasks never see each other: `current_flow_run()` while a flow body runs,
`current_task_run()` while a task body runs. `FlowRun` is the flow run's
bookkeeping: its runner, the ledger of its task runs (`flowcore.ledger`), and the
deterministic run names it hands out (``load-0``, ``load-1``, ...).
"""

from __future__ import annotations

import contextvars
import itertools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from flowcore.ledger import TaskRunLedger

if TYPE_CHECKING:
    from flowcore.flows import Flow
    from flowcore.futures import TaskFuture
    from flowcore.states import State
    from flowcore.task_runners.base import TaskRunner

__all__ = [
    "FlowRun",
    "FlowRunContext",
    "TaskRunContext",
    "bound_parameters",
    "current_flow_run",
    "current_task_run",
    "flow_run_for_call",
    "get_run_context",
    "new_run_id",
    "restart_run_names",
]

_process_prefix = f"{os.getpid():x}-{os.urandom(3).hex()}-"
_ids = itertools.count()


def new_run_id() -> str:
    """A run id unique across processes: cheaper than a UUID, just as unique here."""
    return f"{_process_prefix}{next(_ids)}"


class RunNames:
    """Hands out ``name-0``, ``name-1``, ... per name, thread-safely."""

    def __init__(self) -> None:
        self._counts: dict[str, itertools.count[int]] = {}
        self._lock = threading.Lock()

    def next(self, name: str) -> str:
        counter = self._counts.get(name)
        if counter is None:
            with self._lock:
                counter = self._counts.setdefault(name, itertools.count())
        return f"{name}-{next(counter)}"

    def restart(self) -> None:
        """Count every name from 0 again."""
        with self._lock:
            self._counts = {}


class FlowRun:
    """The live record of one flow run, shared by its body and its task runs."""

    def __init__(
        self,
        flow: Flow[..., Any],
        run_id: str,
        run_name: str,
        runner: TaskRunner,
        parent: FlowRun | None,
        call: tuple[tuple[Any, ...], dict[str, Any]] = ((), {}),
    ) -> None:
        self.flow = flow
        self.id = run_id
        self.name = run_name
        self.runner = runner
        self.parent = parent
        self.names = RunNames()
        self.task_runs = TaskRunLedger()
        self.subflow_states: list[State] = []
        self.history: list[State] = []
        self.interrupt: BaseException | None = None
        self.stopped_early = False  # it left task runs unfinished (its timeout, say)
        # Whether prints in its runs go to their loggers: its own setting, else its parent's.
        own: bool | None = flow.log_prints
        self.log_prints: bool = own if own is not None else bool(parent and parent.log_prints)
        self._call = call  # the arguments it was called with, for `parameters`
        self.start_soon: Any = None  # an async flow's task group, for .submit()

    def on_task_done(self, future: TaskFuture) -> None:
        """A task run ended: the ledger notes it; one that ended by KeyboardInterrupt or
        SystemExit stops the flow run."""
        state: State = future.run.state  # type: ignore[assignment]  # the property's, inline
        self.task_runs.ended(future, state)
        error = state.exception
        if error is not None and not isinstance(error, Exception):
            self.interrupt = error

    @property
    def state(self) -> State:
        return self.history[-1]

    @property
    def parameters(self) -> dict[str, Any]:
        """The flow's parameters by name, defaults included (Prefect's ``flow_run.parameters``)."""
        return bound_parameters(self.flow.fn, *self._call)


_flow_run: contextvars.ContextVar[FlowRun | None] = contextvars.ContextVar(
    "flowcore_flow_run", default=None
)
_task_run: contextvars.ContextVar[Any] = contextvars.ContextVar("flowcore_task_run", default=None)

# Top-level flow runs are named per flow name across the process.
top_level_names = RunNames()


def restart_run_names() -> None:
    """Name top-level flow runs from ``-0`` again (``pipeline-0``, ...).

    For test harnesses: each test then sees the same run names whatever ran
    before it. Runs already named keep their names.
    """
    top_level_names.restart()


def current_flow_run() -> FlowRun | None:
    """The flow run whose body is running here, or None."""
    return _flow_run.get()


def current_task_run() -> Any:
    """The task run (a `flowcore.task_engine.TaskRun`) whose body is running here, or None."""
    return _task_run.get()


def flow_run_for_call(task_name: str) -> FlowRun | None:
    """The flow run a task (or subflow) called here joins: the current one, None outside
    flows. Raises when called from inside a running task's body."""
    outer = _task_run.get()
    if outer is None:
        return _flow_run.get()
    from flowcore.errors import FlowcoreUsageError

    raise FlowcoreUsageError(
        f"Task {task_name!r} was called from inside task run {outer.name!r}; tasks cannot "
        f"be called from tasks. Call it from the flow, or call {task_name}.fn(...) to run "
        "its function directly."
    )


# ``token = enter_task_run(run)`` marks ``run``'s body as running here, and
# ``exit_task_run(token)`` undoes it: a pair of calls in a ``try``/``finally``
# rather than a context manager, on every task run's path, where a
# generator-based ``with`` costs several times more. The context variable's
# own methods, so not even a Python call each. The same for a flow run's body
# (``enter_flow_run``), twice per flow call.
enter_task_run: Callable[[Any], contextvars.Token[Any]] = _task_run.set
exit_task_run: Callable[[contextvars.Token[Any]], None] = _task_run.reset
enter_flow_run: Callable[[FlowRun], contextvars.Token[Any]] = _flow_run.set
exit_flow_run: Callable[[contextvars.Token[Any]], None] = _flow_run.reset


def bound_parameters(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``fn``'s parameters by name for a call with ``args`` and ``kwargs``, defaults included."""
    import inspect

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {**{str(index): value for index, value in enumerate(args)}, **kwargs}
    bound.apply_defaults()
    return dict(bound.arguments)


class TaskRunContext(NamedTuple):
    """What `get_run_context` gives inside a task run (the fields Prefect's has)."""

    task: Any
    task_run: Any  # a flowcore.task_engine.TaskRun: .name, .id, .state, ...
    parameters: dict[str, Any]


class FlowRunContext(NamedTuple):
    """What `get_run_context` gives inside a flow run's body."""

    flow: Any
    flow_run: FlowRun  # .name, .id, .parameters, .state
    parameters: dict[str, Any]


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The task run or flow run this code runs in: its run's name, id and parameters.

        >>> from flowcore import flow
        >>> @flow
        ... def nightly(day="mon"):
        ...     context = get_run_context()
        ...     return context.flow_run.name, context.parameters
        >>> nightly()
        ('nightly-0', {'day': 'mon'})

    Raises `MissingContextError` outside any run.
    """
    task_run = _task_run.get()
    if task_run is not None:
        parameters = bound_parameters(task_run.task.fn, task_run._args, task_run._kwargs)
        return TaskRunContext(task_run.task, task_run, parameters)
    flow_run = _flow_run.get()
    if flow_run is not None:
        return FlowRunContext(flow_run.flow, flow_run, flow_run.parameters)
    from flowcore.errors import MissingContextError

    raise MissingContextError(
        "There is no active flow or task run context: get_run_context() works inside the "
        "body of a @task or @flow."
    )
