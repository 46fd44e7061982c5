"""What the Dask runner does when a Dask task did not return, or a peer stops answering.

`DaskRecovery` is the part of `DaskTaskRunner` that turns faults of the
machinery into run states (see `flowcore.task_runners.dask` for the rules):

- `_collect`: a Dask task that ended without returning: its worker died
  (resubmitted while the task has retries left, else CRASHED), an upstream's
  worker died (the run waits for that upstream's fate), or the client lost
  its scheduler (CRASHED, naming it);
- `_end_after_shutdown`: a run its runner can no longer fetch or send:
  CANCELLED with its flow run, else CRASHED;
- `_scheduler_lost`, `_worker_lost`: called by the watchdog when a peer
  stops answering: the runs concerned end CRASHED naming it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from typing import TYPE_CHECKING, Any

from flowcore.errors import RunCrashed
from flowcore.futures import CANCELLED, settle
from flowcore.states import State, StateType
from flowcore.task_runners.base import when_upstream_done
from flowcore.task_runners.dask_outcomes import (
    Finished,
    is_cancellation,
    is_killed_worker,
    settle_returned,
)

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = ["DaskRecovery"]


class DaskRecovery:
    """Fault handling of `DaskTaskRunner` (a base class of it; see the module docstring)."""

    lent_client: Any
    _client: Any
    _futures: dict[str, Any]
    _runs_by_key: dict[str, tuple[TaskRun, concurrent.futures.Future[State]]]
    _lost: str | None
    _given_up: set[str]
    _cancelling: bool
    _closing: bool
    _lock: threading.Lock

    @property
    def address(self) -> str | None:
        raise NotImplementedError

    def _send(
        self, run: TaskRun, handle: concurrent.futures.Future[State], resubmits_left: int
    ) -> None:
        raise NotImplementedError

    def _settle_after_shutdown(self, item: Finished) -> None:
        """A Dask task that ended after its runner shut down."""
        self._end_after_shutdown(item.run, item.handle, cancelled=item.dask_future.cancelled())

    def _end_after_shutdown(
        self, run: TaskRun, handle: concurrent.futures.Future[State], cancelled: bool
    ) -> None:
        """End a run its runner can no longer fetch or send: CANCELLED with its flow run,
        else CRASHED."""
        with contextlib.suppress(concurrent.futures.InvalidStateError):  # settled meanwhile
            if handle.done():
                return
            if cancelled and self._cancelling:
                handle.set_result(settle(run, CANCELLED))
            else:
                handle.set_exception(
                    RunCrashed(f"the Dask runner shut down before {run.name!r} ended")
                )

    def _collect(self, item: Finished) -> None:
        """Back on the client: record the worker's transitions, then settle the handle.

        A Dask task that did not return is a crash of the machinery: its own
        worker died (resubmitted while the task has retries left), an
        upstream's worker died (the run waits for that upstream's fate), or the
        client lost its scheduler.
        """
        run, dask_future, handle = item.run, item.dask_future, item.handle
        if dask_future.cancelled() and self._cancelling:
            handle.set_result(settle(run, CANCELLED))
            return
        try:
            outcome = dask_future.result()
        except BaseException as error:  # the worker died, the scheduler went away, ...
            self._after_crash(run, dask_future.key, error, handle, item.resubmits_left)
            return
        settle_returned(run, outcome, handle)

    def _after_crash(
        self,
        run: TaskRun,
        key: str,
        error: BaseException,
        handle: concurrent.futures.Future[State],
        resubmits_left: int,
    ) -> None:
        if is_cancellation(error) and not self._given_up.isdisjoint(run.upstream_ids):
            # cancelled by the scheduler with an upstream whose worker stopped answering
            when_upstream_done(run, lambda: self._after_upstream(run, handle, resubmits_left))
            return
        if is_cancellation(error):
            handle.set_exception(
                RunCrashed(
                    f"the Dask client lost its scheduler at {self._scheduler_address()} while "
                    f"{run.name!r} was pending or running ({error})"
                )
            )
            return
        killed_key = getattr(error, "task", key) if is_killed_worker(error) else key
        if killed_key != key and run.upstream:  # an upstream's worker died, not ours
            when_upstream_done(run, lambda: self._after_upstream(run, handle, resubmits_left))
            return
        if is_killed_worker(error) and resubmits_left > 0 and not self._closing:
            run.record(
                State(
                    StateType.SCHEDULED,
                    "AwaitingRetry",
                    run.clock.now_ns(),
                    message=f"resubmitting {run.name!r} after its Dask worker died: {error}",
                    exception=error,
                )
            )
            self._send(run, handle, resubmits_left - 1)
            return
        handle.set_exception(error)

    def _after_upstream(
        self, run: TaskRun, handle: concurrent.futures.Future[State], resubmits_left: int
    ) -> None:
        """The upstream runs are final: run again if they completed, else end as the core does."""
        if self._closing:
            self._end_after_shutdown(run, handle, cancelled=True)
            return
        if any(not future.state.is_completed() for future in run.upstream):
            handle.set_result(run.execute())  # records UpstreamFailed without running the body
            return
        try:
            self._send(run, handle, resubmits_left)
        except BaseException as error:  # the client went away meanwhile
            handle.set_exception(error)

    def _scheduler_address(self) -> str:
        if self.address is not None:
            return repr(self.address)
        if self.lent_client is not None:  # the scheduler of a client lent to the runner
            return repr(getattr(getattr(self._client, "scheduler", None), "address", "unknown"))
        return "its LocalCluster"

    # --- peers that stop answering (see `dask_watchdog`) ---------------------

    def _scheduler_lost(self, message: str) -> None:
        """The scheduler stopped answering: every open run ends CRASHED saying so."""
        self._lost = message
        with self._lock:
            runs = list(self._runs_by_key.values())
        for run, handle in runs:
            _crash(handle, f"{message}; {run.name!r} was pending or running")

    def _worker_lost(self, address: str, keys: list[str], message: str) -> None:
        """A worker stopped answering: its runs end CRASHED, their Dask tasks are cancelled
        (and with them their downstream tasks, which end UpstreamFailed)."""
        with self._lock:
            lost = [(key, *self._runs_by_key[key]) for key in keys if key in self._runs_by_key]
            futures = [self._futures.get(run.id) for _, run, _ in lost]
        for _, run, handle in lost:
            self._given_up.add(run.id)
            _crash(handle, f"{message}; {run.name!r} was running on it")
        client = self._client
        if client is not None and lost:
            with contextlib.suppress(Exception):  # closed meanwhile
                client.cancel([future for future in futures if future is not None])


def _crash(handle: concurrent.futures.Future[State], message: str) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # ended meanwhile
        handle.set_exception(RunCrashed(message))
