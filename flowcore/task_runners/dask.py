"""The Dask runner: task runs on a `distributed` cluster.

    from flowcore.task_runners import DaskTaskRunner

    DaskTaskRunner()                                   # a LocalCluster per flow run
    DaskTaskRunner(cluster_kwargs={"n_workers": 4})
    DaskTaskRunner(address="tcp://127.0.0.1:8786")    # an existing scheduler

Each task run becomes one Dask task with a unique key (``load-0-<run id>``);
the futures of its upstream runs are passed as Dask dependencies, so the
Dask scheduler walks the graph. A worker executes the run with
``TaskRun.execute`` (an async task on a fresh event loop in the worker
thread), captures its state transitions, and sends them back with the final
state; the client records them, worker timestamps and all.

Faults of the machinery end runs CRASHED rather than hang them:

- a worker that dies under a run (Dask's ``KilledWorker``, once the
  scheduler's ``allowed-failures`` are used up) ends it CRASHED, unless the
  task has ``retries``: then the client records ``AwaitingRetry`` and submits
  it again (at most ``retries`` times). Its downstream runs wait for that
  outcome and then run, or end UpstreamFailed naming it, as everywhere else;
- a client that loses its scheduler (killed, closed, unreachable) cancels its
  futures at once; their runs end CRASHED with a message naming the scheduler.
- a scheduler or worker that stops answering (a frozen process keeps its
  connections open, so nothing errors) is noticed by the runner's watchdog
  (`dask_watchdog`) within ``heartbeat_timeout`` seconds (default 30): with
  the scheduler, every open run ends CRASHED naming its address; with a
  worker, the runs it was running end CRASHED naming it, and their downstream
  runs end UpstreamFailed without running;
- a value that cannot be pickled never reaches a worker or a downstream run
  (`dask_wire`): an argument is refused by ``submit`` naming the task, the
  parameter and its type; a result ends its run CRASHED on the worker.

``shutdown(cancel=True)`` waits for nothing: it cancels the open Dask tasks,
gives the collector and the client a fraction of a second each, and kills the
worker processes of a cluster the runner started before closing it.
Connecting to ``address`` fails within the client's ``timeout`` (default
10 s) with an error naming it, frozen scheduler included.

Outcomes come back through one collector thread per runner (`dask_collector`):
Dask's done callbacks, which share one thread across every client in the
process, only hand the finished future over and never wait or call the
client. The collector fetches in batches: all that finished while the
previous batch was being fetched come back with one ``client.gather``.

A runner started with ``address`` connects a client and leaves the cluster
alone at the end; otherwise it starts a cluster of ``cluster_class``
(default `distributed.LocalCluster`, with worker processes, no dashboard,
every socket on 127.0.0.1, unbuffered output) and closes it with the flow run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import threading
from typing import TYPE_CHECKING, Any

from flowcore.errors import FlowcoreUsageError, InvalidArgument, RunCrashed
from flowcore.futures import CANCELLED, settle
from flowcore.states import State, StateType
from flowcore.task_runners.base import TaskRunner, when_upstream_done
from flowcore.task_runners.dask_collector import Collector
from flowcore.task_runners.dask_connection import (
    CONNECT_TIMEOUT_SECONDS,
    close_client,
    close_cluster,
    connect,
    import_distributed,
    local_cluster_kwargs,
    resolve_cluster_class,
)
from flowcore.task_runners.dask_outcomes import (
    Finished,
    execute_on_worker,
    is_cancellation,
    is_killed_worker,
    settle_returned,
)
from flowcore.task_runners.dask_watchdog import Watchdog
from flowcore.task_runners.dask_wire import pack_run

if TYPE_CHECKING:
    from flowcore.task_engine import TaskRun

__all__ = ["DaskTaskRunner"]

_SETTINGS = (
    "cluster_class",
    "cluster_kwargs",
    "address",
    "adapt_kwargs",
    "client_kwargs",
    "heartbeat_timeout",
)
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 30.0
# How long ``shutdown(cancel=True)`` waits for each of the collector and the
# client to close: the flow run is being interrupted, nothing is worth waiting for.
_CANCEL_CLOSE_SECONDS = 0.3


class DaskTaskRunner(TaskRunner):
    """Runs task runs on a Dask cluster: a new LocalCluster, or the one at ``address``."""

    name = "dask"
    concurrency = "parallel"

    def __init__(
        self,
        cluster_class: Any = None,
        cluster_kwargs: dict[str, Any] | None = None,
        address: str | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
    ) -> None:
        if address is not None and cluster_class is not None:
            raise InvalidArgument(
                f"give either address (an existing scheduler) or cluster_class (a cluster to "
                f"start), not both; got address={address!r}, cluster_class={cluster_class!r}"
            )
        if address is not None and not isinstance(address, str):
            raise InvalidArgument(
                f"address must be a string like 'tcp://host:8786', got {address!r}"
            )
        for label, value in (
            ("cluster_kwargs", cluster_kwargs),
            ("adapt_kwargs", adapt_kwargs),
            ("client_kwargs", client_kwargs),
        ):
            if value is not None and not isinstance(value, dict):
                raise InvalidArgument(f"{label} must be a dict, got {value!r}")
        if not _is_positive_seconds(heartbeat_timeout):
            raise InvalidArgument(
                f"heartbeat_timeout must be a finite number of seconds > 0, "
                f"got {heartbeat_timeout!r}"
            )
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.address = address
        self.adapt_kwargs = dict(adapt_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self.heartbeat_timeout = float(heartbeat_timeout)
        self._reset()

    def _reset(self) -> None:
        self._client: Any = None
        self._cluster: Any = None
        self._futures: dict[str, Any] = {}
        self._runs_by_key: dict[str, tuple[TaskRun, concurrent.futures.Future[State]]] = {}
        self._lost: str | None = None  # why the scheduler is given up on
        self._watchdog: Watchdog | None = None
        self._given_up: set[str] = set()  # ids of runs whose worker stopped answering
        self._attempts: dict[str, int] = {}
        self._cancelling = False
        self._closing = False
        self._lock = threading.Lock()
        self._collector: Collector | None = None

    def __repr__(self) -> str:
        if self.address:
            where = f"address={self.address!r}"
        else:
            where = f"cluster_class={self.cluster_class!r}"
        return f"DaskTaskRunner({where})"

    def duplicate(self) -> DaskTaskRunner:
        return DaskTaskRunner(**self.__getstate__())

    def __getstate__(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _SETTINGS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    @property
    def client(self) -> Any:
        """The `distributed.Client` of a started runner."""
        if self._client is None:
            raise FlowcoreUsageError(
                "DaskTaskRunner has not been started (it starts with its flow run)"
            )
        return self._client

    # --- lifecycle --------------------------------------------------------

    def start(self) -> None:
        distributed = import_distributed()
        self._cancelling = self._closing = False
        client_kwargs = {"set_as_default": False, **self.client_kwargs}
        if self.address is not None:
            self._client = self._connect(distributed, self.address, client_kwargs)
        else:
            cluster_class = resolve_cluster_class(self.cluster_class, distributed)
            kwargs = dict(self.cluster_kwargs)
            if cluster_class is distributed.LocalCluster:
                kwargs = local_cluster_kwargs(kwargs, distributed)
            self._cluster = cluster_class(**kwargs)
            try:
                if self.adapt_kwargs:
                    self._cluster.adapt(**self.adapt_kwargs)
                self._client = distributed.Client(self._cluster, **client_kwargs)
            except BaseException:
                self._cluster.close()
                self._cluster = None
                raise
        self._collector = Collector(self._collect_batch)
        self._watchdog = Watchdog(
            self._client, self.heartbeat_timeout, self._scheduler_lost, self._worker_lost
        )

    # A runner closes the client it connected; a subclass that lends it a
    # client kept open elsewhere (the pytest plugin's session client) says so.
    _owns_client = True

    def _connect(self, distributed: Any, address: str, client_kwargs: dict[str, Any]) -> Any:
        """The client of the scheduler at ``address`` for this flow run."""
        return connect(distributed, address, client_kwargs)

    def shutdown(self, cancel: bool = False) -> None:
        """Close what ``start`` opened. With ``cancel`` nothing is waited for beyond
        fractions of a second: open runs are cancelled, the worker processes of a
        cluster the runner started are killed."""
        client, cluster, collector = self._client, self._cluster, self._collector
        self._cancelling = cancel
        with self._lock:
            futures = list(self._futures.values())
            self._futures.clear()
            self._closing = True
        given_up = cancel or self._lost is not None  # nothing worth waiting for
        bound = _CANCEL_CLOSE_SECONDS if given_up else CONNECT_TIMEOUT_SECONDS
        try:
            if self._watchdog is not None:
                self._watchdog.close()
            if client is not None:
                self._close_client(client, collector, futures, cancel, bound)
        finally:
            self._client = self._cluster = None
            if cluster is not None:
                close_cluster(cluster, kill_workers=cancel)

    def _close_client(
        self,
        client: Any,
        collector: Collector | None,
        futures: list[Any],
        cancel: bool,
        bound: float,
    ) -> None:
        if cancel and futures:
            client.cancel(futures)  # only queues a message: never waits on the scheduler
        if collector is not None:
            left = collector.close(bound)
            if left:  # still fetching: end its waits before the client goes
                client.cancel(futures)
                left = collector.close(bound)
            for item in left:
                self._settle_after_shutdown(*item)
        if self._owns_client:
            close_client(client, bound)

    # --- runs ---------------------------------------------------------------

    def submit(self, run: TaskRun) -> concurrent.futures.Future[State]:
        handle: concurrent.futures.Future[State] = concurrent.futures.Future()
        if self._lost is not None:  # the scheduler stopped answering: nothing would come back
            handle.set_exception(RunCrashed(f"{self._lost}; {run.name!r} was not sent"))
            return handle
        self._send(run, handle, resubmits_left=run.task.retries)
        return handle

    def _send(
        self, run: TaskRun, handle: concurrent.futures.Future[State], resubmits_left: int
    ) -> None:
        """Submit ``run`` as a Dask task whose outcome settles ``handle``."""
        client = self.client
        packed = pack_run(run)
        with self._lock:
            dependencies = [self._futures[run_id] for run_id in run.upstream_ids]
            self._attempts[run.id] = attempt = self._attempts.get(run.id, -1) + 1
        key = f"{run.name}-{run.id}" + (f"-resubmit-{attempt}" if attempt else "")
        dask_future = client.submit(execute_on_worker, packed, *dependencies, key=key, pure=False)
        with self._lock:
            self._futures[run.id] = dask_future
            self._runs_by_key[key] = (run, handle)
        dask_future.add_done_callback(lambda done: self._on_done(run, done, handle, resubmits_left))

    def _on_done(
        self,
        run: TaskRun,
        dask_future: Any,
        handle: concurrent.futures.Future[State],
        resubmits_left: int,
    ) -> None:
        """Dask's done callback, on the thread Dask shares between all its clients: hand
        the run to the collector; once that is closed, settle it without the client."""
        collector = self._collector
        if collector is None or not collector.offer((run, dask_future, handle, resubmits_left)):
            self._settle_after_shutdown(run, dask_future, handle, resubmits_left)

    def _settle_after_shutdown(
        self, run: TaskRun, dask_future: Any, handle: concurrent.futures.Future[State], _: int
    ) -> None:
        """A Dask task that ended after its runner shut down."""
        self._end_after_shutdown(run, handle, cancelled=dask_future.cancelled())

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

    def _collect_batch(self, batch: list[Finished]) -> None:
        """On the collector thread: fetch what returned in one round trip, the rest one by one."""
        batch = [item for item in batch if not item[2].done()]
        returned = [item for item in batch if item[1].status == "finished"]
        others = [item for item in batch if item[1].status != "finished"]
        if returned:
            try:
                outcomes = self._gather([dask_future for _, dask_future, _, _ in returned])
            except BaseException:  # one did not return after all (lost, cancelled)
                others = returned + others
            else:
                for (run, _, handle, _), outcome in zip(returned, outcomes, strict=True):
                    settle_returned(run, outcome, handle)
        for item in others:
            self._collect(*item)

    def _gather(self, dask_futures: list[Any]) -> list[Any]:
        return list(self.client.gather(dask_futures))

    def _collect(
        self,
        run: TaskRun,
        dask_future: Any,
        handle: concurrent.futures.Future[State],
        resubmits_left: int,
    ) -> None:
        """Back on the client: record the worker's transitions, then settle the handle.

        A Dask task that did not return is a crash of the machinery: its own
        worker died (resubmitted while the task has retries left), an
        upstream's worker died (the run waits for that upstream's fate), or the
        client lost its scheduler.
        """
        if dask_future.cancelled() and self._cancelling:
            handle.set_result(settle(run, CANCELLED))
            return
        try:
            outcome = dask_future.result()
        except BaseException as error:  # the worker died, the scheduler went away, ...
            self._after_crash(run, dask_future.key, error, handle, resubmits_left)
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
        return "its LocalCluster"

    # --- peers that stop answering (see `dask_watchdog`) ----------------------

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


def _is_positive_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
