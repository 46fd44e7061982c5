"""The task engine: one `TaskRun`, from PENDING to a final state.

A `TaskRun` is what a task runner receives: the task, its arguments (futures
already replaced by refs, see `flowcore.parameters`), the futures it waits
for (``upstream``), and its state history. A runner starts it, once the
upstream runs are done, with ``execute()`` in a thread or ``await
execute_async()`` on an event loop; either one:

1. ends the run FAILED/CANCELLED (naming the upstream) if an upstream run did
   not complete, without ever running it;
2. puts the upstream results in place of the refs;
3. runs the body: RUNNING, then COMPLETED or, on an exception, SCHEDULED
   (``AwaitingRetry``) and RUNNING again (``Retrying``) while retries
   remain, else FAILED (``TimedOut`` after ``timeout_seconds``);
   KeyboardInterrupt and SystemExit end it CRASHED;
4. records each transition in the history and publishes it as an event.

The lifecycle is written once, as a generator that yields what it needs done
(call the body, wait a retry delay); the sync and async drivers perform it.
A runner that executes a run in another process sends the run there
(it pickles without its futures), passes the upstream states explicitly, and
records the events it gets back with `TaskRun.record_event`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from flowcore import events
from flowcore.clock import Clock
from flowcore.context import current_task_run, task_run_context
from flowcore.errors import TaskTimeoutError, UpstreamFailed
from flowcore.parameters import resolve
from flowcore.states import State, StateType
from flowcore.timeouts import call_with_timeout

if TYPE_CHECKING:
    from flowcore.futures import TaskFuture
    from flowcore.tasks import Task

__all__ = ["TaskRun"]

_PROCESS_ID = os.getpid()

# What the lifecycle asks its driver to do.
_CALL = "call"
_SLEEP = "sleep"
Step = tuple[str, float]
Lifecycle = Generator[Step, Any, State]


class TaskRun:
    """One run of a task. The public part is for task runners.

    Attributes: ``id``, ``name`` (``"load-0"``), ``task``, ``is_async``,
    ``upstream`` (the `TaskFuture`s this run waits for; their ids and names
    are kept in ``upstream_ids`` and ``upstream_names``, which travel with a
    pickled run), ``history`` (its states so far), ``state`` (the latest).
    """

    def __init__(
        self,
        task: Task[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        upstream: tuple[TaskFuture, ...],
        run_id: str,
        run_name: str,
        flow_run_id: str | None,
        clock: Clock,
    ) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.upstream = upstream
        self.upstream_ids = tuple(future.run_id for future in upstream)
        self.upstream_names = tuple(future.run_name for future in upstream)
        self.id = run_id
        self.name = run_name
        self.flow_run_id = flow_run_id
        self.clock = clock
        self.is_async = task.is_async
        self.history: list[State] = []
        self.worker: str | None = None

    @property
    def state(self) -> State:
        return self.history[-1]

    def __repr__(self) -> str:
        state = self.history[-1].type.value if self.history else "NEW"
        return f"<TaskRun {self.name} {state}>"

    # Pickling for out-of-process runners: the futures stay behind.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["upstream"] = ()
        state["history"] = []
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # --- for task runners -------------------------------------------------

    def execute(self, upstream_states: Mapping[str, State] | None = None) -> State:
        """Run to a final state in this thread and return it.

        ``upstream_states`` maps upstream run ids to their final states; by
        default they are read from the upstream futures, which must be done.
        """
        lifecycle = self._lifecycle(upstream_states)
        try:
            step = next(lifecycle)
            while True:
                if step[0] == _CALL:
                    step = lifecycle.send(self._call_sync())
                else:
                    self.clock.sleep(step[1])
                    step = next(lifecycle)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def execute_async(
        self,
        upstream_states: Mapping[str, State] | None = None,
        *,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> State:
        """Run to a final state on the running event loop and return it.

        Async bodies are awaited here; sync bodies are run in a worker thread
        (at most ``limiter``'s count at once) so the loop stays free.
        """
        lifecycle = self._lifecycle(upstream_states)
        try:
            step = next(lifecycle)
            while True:
                if step[0] == _CALL:
                    step = lifecycle.send(await self._call_async(limiter))
                else:
                    await self.clock.sleep_async(step[1])
                    step = next(lifecycle)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def record(self, state: State, thread_name: str | None = None) -> State:
        """Append ``state`` to the history and publish it; returns it."""
        self.history.append(state)
        if events.has_subscribers():
            events.publish(self._event(state, thread_name))
        return state

    def record_event(self, event: events.StateEvent) -> None:
        """Take in a transition that happened elsewhere (a Dask worker) and publish it."""
        self.history.append(event.state)
        self.worker = event.worker
        events.publish(event)

    # --- the lifecycle ----------------------------------------------------

    def _lifecycle(self, upstream_states: Mapping[str, State] | None) -> Lifecycle:
        if upstream_states is None:
            upstream_states = {future.run_id: future.state for future in self.upstream}
        not_ready = self._upstream_not_completed(upstream_states)
        if not_ready is not None:
            return self.record(not_ready)
        if upstream_states:
            self._args = resolve(self.args, upstream_states)
            self._kwargs = resolve(self.kwargs, upstream_states)
        else:
            self._args, self._kwargs = self.args, self.kwargs
        task = self.task
        attempt = 0
        while True:
            self.record(
                State(StateType.RUNNING, "Retrying" if attempt else "Running", self.clock.now_ns())
            )
            succeeded, value = yield (_CALL, 0.0)
            if succeeded:
                now = self.clock.now_ns()
                return self.record(State(StateType.COMPLETED, "Completed", now, data=value))
            if not isinstance(value, Exception):  # KeyboardInterrupt, SystemExit, ...
                return self.record(self._ended(StateType.CRASHED, "Crashed", value))
            if attempt >= task.retries:
                name = "TimedOut" if isinstance(value, TaskTimeoutError) else "Failed"
                return self.record(self._ended(StateType.FAILED, name, value))
            delay = task.retry_delay(attempt)
            now = self.clock.now_ns()
            self.record(
                State(
                    StateType.SCHEDULED,
                    "AwaitingRetry",
                    now,
                    message=f"retry {attempt + 1} of {task.retries} in {delay:g}s after {value!r}",
                    exception=value,
                    scheduled_ns=now + int(delay * 1e9),
                )
            )
            yield (_SLEEP, delay)
            attempt += 1

    def _ended(self, type_: StateType, name: str, error: BaseException) -> State:
        message = f"Task run {self.name!r} raised {type(error).__name__}: {error}"
        return State(type_, name, self.clock.now_ns(), message=message, exception=error)

    def _upstream_not_completed(self, upstream_states: Mapping[str, State]) -> State | None:
        for run_id, upstream_name in zip(self.upstream_ids, self.upstream_names, strict=True):
            upstream = upstream_states[run_id]
            if upstream.type is StateType.COMPLETED:
                continue
            message = (
                f"Upstream task run {upstream_name!r} did not reach a 'COMPLETED' state "
                f"(it is {upstream.type.value}), so {self.name!r} never ran."
            )
            type_ = StateType.CANCELLED if upstream.is_cancelled() else StateType.FAILED
            name = "UpstreamCancelled" if upstream.is_cancelled() else "UpstreamFailed"
            return State(
                type_, name, self.clock.now_ns(), message=message, exception=UpstreamFailed(message)
            )
        return None

    # --- calling the body -------------------------------------------------

    def _call_sync(self) -> tuple[bool, Any]:
        task = self.task
        try:
            with task_run_context(self):
                if self.is_async:
                    return True, anyio.run(self._await_body)
                if task.timeout_seconds is not None:
                    return True, call_with_timeout(
                        task.fn,
                        self._args,
                        self._kwargs,
                        task.timeout_seconds,
                        TaskTimeoutError,
                        self._timeout_message(),
                        f"{threading.current_thread().name}:{self.name}",
                    )
                return True, task.fn(*self._args, **self._kwargs)
        except BaseException as error:  # every outcome becomes a state
            return False, error

    async def _call_async(self, limiter: anyio.CapacityLimiter | None) -> tuple[bool, Any]:
        try:
            if self.is_async:
                with task_run_context(self):
                    return True, await self._await_body()
            return True, await anyio.to_thread.run_sync(self._call_sync_in_thread, limiter=limiter)
        except BaseException as error:  # every outcome becomes a state
            if isinstance(error, anyio.get_cancelled_exc_class()):
                raise
            return False, error

    def _call_sync_in_thread(self) -> Any:
        succeeded, value = self._call_sync()
        if succeeded:
            return value
        raise value

    async def _await_body(self) -> Any:
        timeout = self.task.timeout_seconds
        if timeout is None:
            return await self.task.fn(*self._args, **self._kwargs)
        try:
            with anyio.fail_after(timeout):
                return await self.task.fn(*self._args, **self._kwargs)
        except TimeoutError as error:
            if isinstance(error, TaskTimeoutError):
                raise
            raise TaskTimeoutError(self._timeout_message()) from None

    def _timeout_message(self) -> str:
        return f"Task run {self.name!r} exceeded its timeout of {self.task.timeout_seconds:g}s"

    def _event(self, state: State, thread_name: str | None) -> events.StateEvent:
        first = len(self.history) == 1
        return events.StateEvent(
            run_id=self.id,
            run_name=self.name,
            kind="task",
            name=self.task.name,
            flow_run_id=self.flow_run_id,
            parent_flow_run_id=None,
            state=state,
            timestamp_ns=state.timestamp_ns,
            process_id=_PROCESS_ID,
            thread_name=thread_name or threading.current_thread().name,
            worker=self.worker,
            upstream_run_ids=self.upstream_ids if first else (),
            parameters=self._parameters() if first else (),
        )

    def _parameters(self) -> tuple[tuple[str, str], ...]:
        from flowcore.parameters import short_reprs

        return short_reprs(self.args, self.kwargs)


def ensure_not_in_task(task_name: str) -> None:
    """Raise when a task is called from inside a running task's body."""
    outer = current_task_run()
    if outer is not None:
        from flowcore.errors import FlowcoreUsageError

        raise FlowcoreUsageError(
            f"Task {task_name!r} was called from inside task run {outer.name!r}; tasks cannot "
            f"be called from tasks. Call it from the flow, or call {task_name}.fn(...) to run "
            "its function directly."
        )
