"""The Dask runner: task runs on a `distributed` cluster.

    from flowcore.task_runners import DaskTaskRunner

    DaskTaskRunner()                                   # a LocalCluster per flow run
    DaskTaskRunner(cluster_kwargs={"n_workers": 4})
    DaskTaskRunner(address="tcp://127.0.0.1:8786")    # an existing scheduler
    DaskTaskRunner(client=client)                      # a client kept open elsewhere

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

On a cluster the runner started (or with ``push_outcomes=True``: a cluster
that lives no longer than your client), workers push each small outcome to
the client as the task ends (`dask_pushes`): Dask's done callback then
settles the run with it, nothing fetched. A shared scheduler is not made to
keep those messages unless you say so. Other outcomes come back through one
collector thread per runner (`dask_collector`), started on first need:
Dask's done callbacks, which share one thread across every client in the
process, only hand the finished future over and never wait or call the
client. The collector fetches in batches: all that finished while the
previous batch was being fetched come back with one ``client.gather``.

A runner given ``client`` (a `distributed.Client` kept open elsewhere, or a
function returning one, called when the flow run starts) uses it and
neither closes it nor its cluster. A runner started with ``address``
connects a client and leaves the cluster alone at the end; otherwise it
starts a cluster of ``cluster_class``
(default `distributed.LocalCluster`, with worker processes, no dashboard,
every socket on 127.0.0.1, unbuffered output) and closes it with the flow run.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any

from flowcore.errors import FlowcoreUsageError, RunCrashed
from flowcore.states import State
from flowcore.task_runners.base import DASK_RUNNER_NAME, TaskRunner
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
    settle_returned,
)
from flowcore.task_runners.dask_pushes import Pushes
from flowcore.task_runners.dask_recovery import DaskRecovery
from flowcore.task_runners.dask_settings import check_settings
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
    "push_outcomes",
)
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 30.0
# How long ``shutdown(cancel=True)`` waits for each of the collector and the
# client to close: the flow run is being interrupted, nothing is worth waiting for.
_CANCEL_CLOSE_SECONDS = 0.3


class DaskTaskRunner(DaskRecovery, TaskRunner):
    """Runs task runs on a Dask cluster: a new LocalCluster, or the one at ``address``."""

    name = DASK_RUNNER_NAME

    def __init__(
        self,
        cluster_class: Any = None,
        cluster_kwargs: dict[str, Any] | None = None,
        address: str | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
        heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_SECONDS,
        *,
        client: Any = None,
        push_outcomes: bool | None = None,
    ) -> None:
        check_settings(
            cluster_class, cluster_kwargs, address, adapt_kwargs, client_kwargs,
            heartbeat_timeout, client, push_outcomes,
        )  # fmt: skip
        self.lent_client = client
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self._address = address
        self.adapt_kwargs = dict(adapt_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.push_outcomes = push_outcomes
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
        self._collector: Collector | None = None  # started on the first outcome to fetch
        self._pushes: Pushes | None = None

    def __repr__(self) -> str:
        if self.address:
            where = f"address={self.address!r}"
        elif self.lent_client is not None:
            where = f"client={self.lent_client!r}"
        else:
            where = f"cluster_class={self.cluster_class!r}"
        return f"DaskTaskRunner({where})"

    def duplicate(self) -> DaskTaskRunner:
        return DaskTaskRunner(**self.__getstate__(), client=self.lent_client)

    def __getstate__(self) -> dict[str, Any]:
        """The settings, without a lent client: it stays in the process that lent it."""
        return {key: getattr(self, key) for key in _SETTINGS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        DaskTaskRunner.__init__(self, **state)

    @property
    def address(self) -> str | None:
        """The address of the scheduler the runner connects to, if it was given one."""
        return self._address

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
        self._collector = self._pushes = None
        client_kwargs = {"set_as_default": False, **self.client_kwargs}
        if self.lent_client is not None:
            lent = self.lent_client
            self._client = lent() if callable(lent) else lent
        elif self.address is not None:
            self._client = connect(distributed, self.address, client_kwargs)
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
        if self._pushes_outcomes():
            self._pushes = Pushes.of(self._client)
        self._watchdog = Watchdog(
            self._client, self.heartbeat_timeout, self._scheduler_lost, self._worker_lost
        )

    def shutdown(self, cancel: bool = False) -> None:
        """Close what ``start`` opened. With ``cancel`` nothing is waited for beyond
        fractions of a second: open runs are cancelled, the worker processes of a
        cluster the runner started are killed."""
        client, cluster = self._client, self._cluster
        self._cancelling = cancel
        with self._lock:
            futures = list(self._futures.values())
            self._futures.clear()
            self._closing = True
            collector = self._collector
            keys = list(self._runs_by_key)
        if self._pushes is not None:
            self._pushes.forget(keys)
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
                self._settle_after_shutdown(item)
        if self.lent_client is None:  # a lent client is closed by whoever lent it
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
        pushed: dict[str, str] = {}
        if self._pushes is not None:
            self._pushes.expect(key)
            pushed["push_to"] = self._pushes.topic
        dask_future = client.submit(
            execute_on_worker, packed, *dependencies, key=key, pure=False, **pushed
        )
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
        """Dask's done callback, on the thread Dask shares between all its clients: settle
        the run with its pushed outcome, else hand it to the collector to fetch; once
        the runner is closing, settle it without the client. Nothing here waits."""
        item = Finished(run, dask_future, handle, resubmits_left)
        packed = self._pushed(dask_future)
        if packed is not None:
            settle_returned(run, packed, handle)
        elif not self._offer(item):
            self._settle_after_shutdown(item)

    def _pushed(self, dask_future: Any) -> bytes | None:
        """The outcome a worker pushed for a Dask task that returned, if it did."""
        if self._pushes is None:
            return None
        packed = self._pushes.take(dask_future.key)
        # Dask's futures tell their status as a string: "finished" means it returned.
        if self._closing or dask_future.status != "finished":
            return None
        return packed

    def _offer(self, item: Finished) -> bool:
        """Queue ``item`` for the collector, started on first need; False once closing."""
        with self._lock:
            if self._closing:
                return False
            if self._collector is None:
                self._collector = Collector(self._collect_batch)
            return self._collector.offer(item)

    def _pushes_outcomes(self) -> bool:
        """Whether workers push outcomes to this runner: as ``push_outcomes`` says, by
        default on a cluster it started itself, whose scheduler lives no longer than the
        runner (see `dask_pushes`)."""
        if self.push_outcomes is None:
            return self._cluster is not None
        return self.push_outcomes

    def _collect_batch(self, batch: list[Finished]) -> None:
        """On the collector thread: fetch what returned in one round trip, the rest one by one."""
        batch = [item for item in batch if not item.handle.done()]
        # Dask's futures tell their status as a string: "finished" means it returned.
        returned = [item for item in batch if item.dask_future.status == "finished"]
        others = [item for item in batch if item.dask_future.status != "finished"]
        if returned:
            try:
                outcomes = self._gather([item.dask_future for item in returned])
            except BaseException:  # one did not return after all (lost, cancelled)
                others = returned + others
            else:
                for item, outcome in zip(returned, outcomes, strict=True):
                    settle_returned(item.run, outcome, item.handle)
        for item in others:
            self._collect(item)

    def _gather(self, dask_futures: list[Any]) -> list[Any]:
        return list(self.client.gather(dask_futures))
