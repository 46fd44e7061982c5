"""The task runner protocol: where and when task runs execute.

A runner is to flowcore what an Executor is to `concurrent.futures`. Each
flow run gets its own runner (``duplicate()`` of the one the flow declares),
used like this by the core::

    runner.start()
    handle = runner.submit(run)         # sync flows: a Future-like handle
    state = await runner.submit_async(run)  # async flows: the final State
    runner.shutdown(cancel=False)

- ``submit(run)`` must execute the `TaskRun` once every future in
  ``run.upstream`` is done (``when_upstream_done`` helps), by calling
  ``run.execute()`` or ``await run.execute_async()``, and return a handle
  shaped like `concurrent.futures.Future` whose result is the run's final
  `State`. It must not block on the run (the sequential runner is the
  deliberate exception).
- ``submit_async(run)`` is called from the flow's event loop once the
  upstream runs are done, and returns the final state; the default bridges
  to ``submit``.
- ``shutdown(cancel=True)`` cancels runs that have not started; either way
  it frees every thread, loop and process the runner started.
- ``clock`` gives timestamps and waits out retry delays.
- ``wait_all(futures, interrupted, timeout)`` lets a lazy runner run a sync
  flow's remaining runs in one go once its body has returned (default: nothing).
- ``may_block_to_start_or_stop`` (default True): an async flow calls ``start``
  and ``shutdown`` in a worker thread unless a runner says they return at once.
- Two flags say how runs share time: ``runs_one_at_a_time`` (no two runs
  of a flow run ever overlap: the sequential and deterministic runners), and
  ``runs_at_submission`` (``submit`` runs the run to its end before it
  returns: the sequential runner; an async flow then awaits a submitted run
  at the call instead of starting it in its task group).

A runner of your own subclasses `TaskRunner` and implements ``submit`` (and
``duplicate`` if its constructor takes arguments)::

    class InlineRunner(TaskRunner):
        name = "inline"
        runs_one_at_a_time = True
        runs_at_submission = True

        def submit(self, run):
            return DoneHandle(run.execute())

What a test harness (the pytest plugin) uses, and nothing else:

| need                                            | public means                              |
|-------------------------------------------------|-------------------------------------------|
| rerun every flow on another runner              | `override_task_runner(runner)`            |
| one fresh runner per flow run (and subflow)     | ``runner.duplicate()``                    |
| a Dask runner on a client kept open elsewhere   | ``DaskTaskRunner(client=client)``         |
| skip a test that needs overlapping runs         | ``runner.runs_one_at_a_time``             |
| the same run names in every test                | `restart_run_names()`                     |
| stop a thread stuck in a sync body              | `interrupt_thread(thread, error)`         |
| record every state transition                   | `flowcore.events.subscribe`               |
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from flowcore.clock import Clock, real_clock
from flowcore.context import restart_run_names
from flowcore.timeouts import interrupt_thread

if TYPE_CHECKING:
    from flowcore.futures import RunHandle, TaskFuture
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = [
    "DASK_RUNNER_NAME",
    "TaskRunner",
    "interrupt_thread",
    "override_task_runner",
    "restart_run_names",
    "runner_for_flow_run",
    "when_upstream_done",
]

DASK_RUNNER_NAME = "dask"
"""`DaskTaskRunner.name`, known without importing the Dask runner's modules."""


class TaskRunner:
    """Base class of task runners; see the module docstring for the protocol."""

    name: ClassVar[str] = "custom"
    runs_one_at_a_time: ClassVar[bool] = False
    """No two task runs of one flow run ever overlap in time."""
    runs_at_submission: ClassVar[bool] = False
    """``submit`` runs the run to its end before it returns."""
    may_block_to_start_or_stop: ClassVar[bool] = True
    """``start`` or ``shutdown`` may block in an async flow (connecting to a cluster,
    stepping runs): the flow calls them in a worker thread, not on its event loop."""
    clock: Clock = real_clock

    def start(self) -> None:
        """Acquire what the runner needs (pools, loops, clusters). Called once per flow run."""

    def submit(self, run: TaskRun) -> RunHandle:
        """Arrange for ``run`` to execute after its upstream runs; return its handle."""
        raise NotImplementedError(f"{type(self).__name__} must implement submit(run)")

    async def submit_async(self, run: TaskRun) -> State:
        """Execute ``run`` for an async flow and return its final state."""
        from flowcore.futures import TaskFuture

        waiter = TaskFuture(run)
        waiter.attach(self.submit(run))
        return await waiter.wait_async()

    def wait_all(
        self,
        futures: Sequence[TaskFuture],
        interrupted: Callable[[], bool],
        timeout: float | None = None,
    ) -> None:
        """Called once a sync flow's body has returned, with the futures of its runs not
        ended yet, in submission order, before the flow waits for each in turn.

        A runner that runs lazily may run them here in one go (the deterministic
        runner does, sparing a hand-off between threads per future), stopping
        where waiting in turn would: once all are done, or at a done future
        after which ``interrupted()`` is true. Never raises; at most ``timeout``
        seconds. The default does nothing.
        """

    def shutdown(self, cancel: bool = False) -> None:
        """Release everything ``start`` acquired; with ``cancel``, drop runs not yet started."""

    def duplicate(self) -> TaskRunner:
        """A fresh, unstarted runner configured like this one (one per flow run)."""
        return type(self)()

    def __enter__(self) -> TaskRunner:
        self.start()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.shutdown(cancel=exc_type is not None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def when_upstream_done(run: TaskRun, start: Callable[[], Any]) -> None:
    """Call ``start()`` once every upstream future of ``run`` is done: now, or from the
    thread that finishes the last one."""
    pending = [future for future in run.upstream if not future.done()]
    if not pending:
        start()
        return
    if len(pending) == 1:  # the usual case: no count to keep, nor a lock for it
        pending[0].add_done_callback(lambda _future: start())
        return
    remaining = len(pending)
    lock = threading.Lock()

    def on_done(_future: TaskFuture) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            last = remaining == 0
        if last:
            start()

    for future in pending:
        future.add_done_callback(on_done)


_override: list[TaskRunner] = []
_override_lock = threading.Lock()


class override_task_runner:
    """Make every flow run started while active use ``runner`` instead of its own.

    Process-wide (flows in other threads see it too), nestable; each flow run
    gets ``runner.duplicate()``. This is how a test suite is rerun under
    another runner:

        with override_task_runner(SequentialTaskRunner()):
            my_flow()   # runs sequentially whatever it declares
    """

    def __init__(self, runner: TaskRunner) -> None:
        if not isinstance(runner, TaskRunner):
            raise TypeError(f"override_task_runner() needs a TaskRunner, got {runner!r}")
        self.runner = runner

    def __enter__(self) -> TaskRunner:
        with _override_lock:
            _override.append(self.runner)
        return self.runner

    def __exit__(self, *exc_info: object) -> None:
        with _override_lock:
            _override.remove(self.runner)


def runner_for_flow_run(declared: TaskRunner) -> TaskRunner:
    """The fresh runner a new flow run uses: the override's if one is active."""
    template = _override[-1] if _override else declared
    return template.duplicate()
