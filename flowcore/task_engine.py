"""The task engine: one `TaskRun`, from PENDING to a final state.

A `TaskRun` is what a task runner receives: the task, its arguments (futures
already replaced by refs, see `flowcore.parameters`), the futures it waits
for (``upstream``), and its state history. A runner starts it, once the
upstream runs are done, with ``execute()`` in a thread or ``await
execute_async()`` on an event loop; either one:

1. ends the run NotReady (PENDING, as in Prefect, naming the upstream) if an
   upstream run did not complete, without ever running it;
2. puts the upstream results in place of the refs;
3. runs the body: RUNNING, then COMPLETED or, on an exception, SCHEDULED
   (``AwaitingRetry``) and RUNNING again (``Retrying``) while retries
   remain, else FAILED (``TimedOut`` after ``timeout_seconds``);
   KeyboardInterrupt and SystemExit end it CRASHED;
4. records each transition in the history and publishes it as an event.

The lifecycle is written once, as steps (`_start`, `_record_running`,
`_end_attempt`) that the sync and async drivers take in a short loop. A runner
that executes a run in another process sends the run there (it pickles without
its futures), passes the upstream states explicitly, and records the events it
gets back with `TaskRun.record_event`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from flowcore import events
from flowcore.clock import Clock
from flowcore.context import enter_task_run, exit_task_run
from flowcore.errors import TaskTimeoutError, UpstreamFailed
from flowcore.history import compact, expand
from flowcore.hooks import run_hooks
from flowcore.parameters import resolve
from flowcore.run_logging import print_to_run_logger
from flowcore.states import _FINAL, NotReady, State, StateType, new_state
from flowcore.threads import WorkerThreads, run_sync_in_thread
from flowcore.timeouts import call_with_timeout

if TYPE_CHECKING:
    from flowcore.futures import TaskFuture
    from flowcore.tasks import Task

__all__ = ["TaskRun"]

# Module constants: a class attribute of an Enum is read the slow way, on every run.
_PENDING, _RUNNING, _COMPLETED = StateType.PENDING, StateType.RUNNING, StateType.COMPLETED
_SCHEDULED = StateType.SCHEDULED
# Taken for the check-and-append of every transition: a flow that stops early ends
# runs from its own thread while their bodies may still record. One lock for all runs.
_RECORD_LOCK = threading.Lock()
_lock_records, _unlock_records = _RECORD_LOCK.acquire, _RECORD_LOCK.release
_set_field = object.__setattr__  # a frozen State's, as the engine sets ``task_run_id``


class TaskRun:
    """One run of a task. The public part is for task runners.

    Attributes: ``id``, ``name`` (``"load-0"``), ``task``, ``is_async``,
    ``upstream`` (the `TaskFuture`s this run waits for; their ids and names
    are kept in ``upstream_ids`` and ``upstream_names``, which travel with a
    pickled run), ``tolerated`` (the upstream ids given through
    `flowcore.annotations.allow_failure`: their failure does not stop this
    run), ``history`` (its states so far), ``state`` (the latest).
    """

    # Slots: a flow of many runs keeps them all alive, and every object a run
    # owns is one more for the garbage collector to walk. For the same reason
    # the states before the latest are kept as plain tuples (`_earlier`, see
    # `flowcore.history`), which the collector stops tracking, and `history` rebuilds
    # them when asked.
    __slots__ = (
        "_args", "_earlier", "_kwargs", "args", "clock", "flow_run_id", "flow_run_name", "id",
        "is_async", "kwargs", "log_prints", "name", "state", "task", "tolerated", "upstream",
        "upstream_ids", "upstream_names", "worker",
    )  # fmt: skip

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
        tolerated: tuple[str, ...] = (),
        log_prints: bool = False,
        flow_run_name: str | None = None,
    ) -> None:
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.upstream = upstream
        self.id = run_id
        self.name = run_name
        if upstream:
            runs = [future.run for future in upstream]  # lists, not generators: cheaper
            self.upstream_ids = tuple([run.id for run in runs])
            self.upstream_names = tuple([run.name for run in runs])
        else:
            self.upstream_ids = self.upstream_names = ()
        self.flow_run_id = flow_run_id
        self.flow_run_name = flow_run_name
        self.clock = clock
        self.is_async = task.is_async
        self.tolerated = tolerated  # upstream ids whose failure does not stop this run
        self.log_prints = log_prints
        self.state: State | None = None  # the latest state; None until the run is recorded
        self._earlier: tuple[Any, ...] = ()  # the states before it, see `flowcore.history`
        self.worker: str | None = None
        # The arguments with upstream results in place while the body runs;
        # the refs again once the run is final, so the results are not kept.
        self._args = args
        self._kwargs = kwargs

    @property
    def history(self) -> list[State]:
        """Its states so far, in order (the latest is ``state`` itself)."""
        if self.state is None:
            return []
        return [*expand(self._earlier, self.id), self.state]

    def __repr__(self) -> str:
        state = "NEW" if self.state is None else self.state.type.value
        return f"<TaskRun {self.name} {state}>"

    # Pickling for out-of-process runners: the futures stay behind.
    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__}
        state["upstream"] = ()
        state["state"], state["_earlier"] = None, ()
        state["_args"], state["_kwargs"] = self.args, self.kwargs
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    # --- for task runners -------------------------------------------------

    def execute(self, upstream_states: Mapping[str, State] | None = None) -> State:
        """Run to a final state in this thread and return it.

        ``upstream_states`` maps upstream run ids to their final states; by
        default they are read from the upstream futures, which must be done.
        """
        if self.upstream_ids:  # else nothing to wait for or to put in place
            ended = self._start(upstream_states)
            if ended is not None:
                return ended
        attempt = 0
        while True:
            self._record_running(attempt)
            state = self._end_attempt(self._call_sync(), attempt)
            if state.type is not _SCHEDULED:
                if self.task.hooks is not None:
                    self._run_hooks(state)
                return state
            self.clock.sleep(self.task.retry_delay(attempt))
            attempt += 1

    async def execute_async(
        self,
        upstream_states: Mapping[str, State] | None = None,
        *,
        limiter: anyio.CapacityLimiter | None = None,
        threads: WorkerThreads | None = None,
    ) -> State:
        """Run to a final state on the running event loop and return it.

        Async bodies are awaited here; sync bodies run in a thread of ``threads`` (a
        runner's pool) or a new one, at most ``limiter``'s count at once.
        """
        if self.upstream_ids:  # else nothing to wait for or to put in place
            ended = self._start(upstream_states)
            if ended is not None:
                return ended
        attempt = 0
        while True:
            self._record_running(attempt)
            state = self._end_attempt(await self._call_async(limiter, threads), attempt)
            if state.type is not _SCHEDULED:
                if self.task.hooks is not None:
                    self._run_hooks(state)
                return state
            await self.clock.sleep_async(self.task.retry_delay(attempt))
            attempt += 1

    def record(
        self, state: State, thread_name: str | None = None, event: events.StateEvent | None = None
    ) -> State:
        """Make ``state`` the latest and publish it (as ``event``, if given); returns it.

        A final state is final: what a body that was given up on (it kept
        running after its run ended CRASHED or CANCELLED) records later is
        dropped, and the state that is final is returned instead.
        """
        _lock_records()  # not a `with`: costs half as much, three times per run
        try:
            latest = self.state
            if latest is not None:
                kind = latest.type  # latest.ends_run(), inline: three calls per run
                if kind in _FINAL or (kind is _PENDING and latest.exception is not None):
                    return latest
                self._earlier += compact(latest)
            self.state = state
        finally:
            _unlock_records()
        if state.task_run_id is not self.id:  # the engine's own states carry it already
            _set_field(state, "task_run_id", self.id)
        if event is not None or events._subscribers or events._capture.get() is not None:
            if event is None and events._recorders and events._capture.get() is None:
                try:  # only timelines listen: they take the transition in parts (inline: hot)
                    events._record_transition(self, state, latest is None, thread_name)
                except Exception as error:  # a broken subscriber must not break runs
                    events.transition_failed(self, state, error)
            else:
                self._publish(state, latest is None, thread_name, event)
        return state

    def pending(self, timestamp_ns: int) -> None:
        """Record the run's first state, PENDING, as `record` would: no other thread can
        see the run yet, so without the lock, or a latest state to check."""
        state = new_state(_PENDING, "Pending", timestamp_ns, task_run_id=self.id)
        self.state = state
        if events._subscribers or events._capture.get() is not None:
            if events._recorders and events._capture.get() is None:
                try:  # as in `record`
                    events._record_transition(self, state, True, None)
                except Exception as error:
                    events.transition_failed(self, state, error)
            else:
                self._publish(state, True, None, None)

    def _publish(
        self, state: State, first: bool, thread_name: str | None, event: events.StateEvent | None
    ) -> None:
        """Tell the subscribers of this run's new ``state`` as an event (see `record`)."""
        if event is not None:
            self.worker = event.worker
            events.publish(event)
        else:  # callers call this only when someone listens
            events.publish(events.task_event(self, state, first, thread_name))

    def record_event(self, event: events.StateEvent) -> None:
        """Take in a transition that happened elsewhere (a Dask worker) and publish it."""
        self.record(event.state, event=event)

    # --- the lifecycle ----------------------------------------------------
    # Written once, in steps both drivers (``execute``, ``execute_async``) take.

    def _start(self, upstream_states: Mapping[str, State] | None) -> State | None:
        """Put the upstream results in place of the refs; or, if an upstream run did not
        complete, end the run without running it and return that final state."""
        if upstream_states is None:
            upstream_states = {future.run_id: future.state for future in self.upstream}
        not_ready = self._upstream_not_completed(upstream_states)
        if not_ready is not None:
            return self.record(not_ready)
        self._args = resolve(self.args, upstream_states)
        if self.kwargs:
            self._kwargs = resolve(self.kwargs, upstream_states)
        return None

    def _record_running(self, attempt: int) -> None:
        name = "Retrying" if attempt else "Running"
        state = self.record(new_state(_RUNNING, name, self.clock.now_ns(), task_run_id=self.id))
        if self.task.hooks is not None:
            self._run_hooks(state)

    def _run_hooks(self, state: State) -> None:
        """The task's hooks for ``state``, called inside the run (`flowcore.hooks`)."""
        from flowcore.run_logging import TASK_RUN_LOGGER, task_run_extra

        token = enter_task_run(self)
        try:
            arguments = {"task": self.task, "task_run": self, "state": state}
            run_hooks(self.task.hooks, state, TASK_RUN_LOGGER, task_run_extra(self), arguments)
        finally:
            exit_task_run(token)

    def _end_attempt(self, outcome: tuple[bool, Any], attempt: int) -> State:
        """Record how an attempt ended: a final state, or SCHEDULED when a retry follows."""
        succeeded, value = outcome
        if succeeded:
            now = self.clock.now_ns()
            state = new_state(_COMPLETED, "Completed", now, "", value, None, None, self.id)
        elif not isinstance(value, Exception):  # KeyboardInterrupt, SystemExit, ...
            state = self._ended(StateType.CRASHED, "Crashed", value)
        elif attempt >= self.task.retries:
            name = "TimedOut" if isinstance(value, TaskTimeoutError) else "Failed"
            state = self._ended(StateType.FAILED, name, value)
        else:
            return self.record(self._awaiting_retry(value, attempt))
        self._args, self._kwargs = self.args, self.kwargs  # the body will not run again
        return self.record(state)

    def _awaiting_retry(self, error: Exception, attempt: int) -> State:
        task = self.task
        delay = task.retry_delay(attempt)
        now = self.clock.now_ns()
        return State(
            StateType.SCHEDULED,
            "AwaitingRetry",
            now,
            message=f"retry {attempt + 1} of {task.retries} in {delay:g}s after {error!r}",
            exception=error,
            scheduled_ns=now + int(delay * 1e9),
        )

    def _ended(self, type_: StateType, name: str, error: BaseException) -> State:
        message = f"Task run encountered an exception {type(error).__name__}: {error}"  # Prefect's
        return State(type_, name, self.clock.now_ns(), message=message, exception=error)

    def _upstream_not_completed(self, upstream_states: Mapping[str, State]) -> State | None:
        """NotReady (PENDING, as in Prefect) if an upstream run did not complete, naming it;
        upstreams given through ``allow_failure`` do not count."""
        for run_id, upstream_name in zip(self.upstream_ids, self.upstream_names, strict=True):
            upstream = upstream_states[run_id]
            if upstream.type is StateType.COMPLETED or run_id in self.tolerated:
                continue
            # Prefect's sentence, naming the run where Prefect gives its id.
            message = f"Upstream task run {upstream_name!r} did not reach a 'COMPLETED' state."
            return NotReady(self.clock.now_ns(), message, UpstreamFailed(message))
        return None

    # --- calling the body -------------------------------------------------

    def _call_sync(self) -> tuple[bool, Any]:
        task = self.task
        if self.log_prints:  # in this process too: a Dask worker's, say
            print_to_run_logger()
        token = enter_task_run(self)  # inline rather than a `with`: this is the hot path
        try:
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
        finally:
            exit_task_run(token)

    async def _call_async(
        self, limiter: anyio.CapacityLimiter | None, threads: WorkerThreads | None
    ) -> tuple[bool, Any]:
        try:
            if self.is_async:
                token = enter_task_run(self)
                try:
                    if self.task.timeout_seconds is None:  # as `_await_body`, one coroutine less
                        return True, await self.task.fn(*self._args, **self._kwargs)
                    return True, await self._await_body()
                finally:
                    exit_task_run(token)
            body = self._call_sync_in_thread
            return True, await run_sync_in_thread(body, limiter, threads=threads)
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
