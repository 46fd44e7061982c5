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
state; the client records them, worker timestamps and all. A worker that
dies under a run ends it CRASHED.

A runner started with ``address`` connects a client and leaves the cluster
alone at the end; otherwise it starts a cluster of ``cluster_class``
(default `distributed.LocalCluster`, with worker processes, no dashboard,
the scheduler's HTTP endpoints on a free port, unbuffered output) and closes it with the flow run.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import threading
from typing import TYPE_CHECKING, Any

from flowcore.errors import FlowcoreUsageError, InvalidArgument
from flowcore.events import StateEvent, capture_events
from flowcore.futures import CANCELLED, settle
from flowcore.task_runners.base import TaskRunner

if TYPE_CHECKING:
    from flowcore.states import State
    from flowcore.task_engine import TaskRun

__all__ = ["DaskTaskRunner"]

CONNECT_TIMEOUT_SECONDS = 10
_SETTINGS = ("cluster_class", "cluster_kwargs", "address", "adapt_kwargs", "client_kwargs")
_LOCAL_CLUSTER_DEFAULTS = {
    "dashboard_address": None,
    "env": {"PYTHONUNBUFFERED": "1"},
}


def _distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError as error:
        raise FlowcoreUsageError(
            "DaskTaskRunner needs Dask's distributed package, which is the 'dask' extra: "
            "pip install 'pytest-flows[dask]'"
        ) from error


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
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.address = address
        self.adapt_kwargs = dict(adapt_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._reset()

    def _reset(self) -> None:
        self._client: Any = None
        self._cluster: Any = None
        self._futures: dict[str, Any] = {}
        self._checked_tasks: set[int] = set()
        self._lock = threading.Lock()

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
        distributed = _distributed()
        client_kwargs = {"set_as_default": False, **self.client_kwargs}
        if self.address is not None:
            self._client = _connect(distributed, self.address, client_kwargs)
            return
        cluster_class = _cluster_class(self.cluster_class, distributed)
        kwargs = dict(self.cluster_kwargs)
        if cluster_class is distributed.LocalCluster:
            kwargs = _local_cluster_kwargs(kwargs)
        self._cluster = cluster_class(**kwargs)
        try:
            if self.adapt_kwargs:
                self._cluster.adapt(**self.adapt_kwargs)
            self._client = distributed.Client(self._cluster, **client_kwargs)
        except BaseException:
            self._cluster.close()
            self._cluster = None
            raise

    def shutdown(self, cancel: bool = False) -> None:
        client, cluster = self._client, self._cluster
        futures = list(self._futures.values())
        self._futures.clear()
        self._client = self._cluster = None
        try:
            if client is not None:
                if cancel and futures:
                    client.cancel(futures)
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    # --- runs ---------------------------------------------------------------

    def submit(self, run: TaskRun) -> concurrent.futures.Future[State]:
        client = self.client
        self._check_picklable(run)
        dependencies = [self._futures[run_id] for run_id in run.upstream_ids]
        dask_future = client.submit(
            execute_on_worker, run, *dependencies, key=f"{run.name}-{run.id}", pure=False
        )
        with self._lock:
            self._futures[run.id] = dask_future
        handle: concurrent.futures.Future[State] = concurrent.futures.Future()
        dask_future.add_done_callback(lambda done: _collect(run, done, handle))
        return handle

    def _check_picklable(self, run: TaskRun) -> None:
        if id(run.task) in self._checked_tasks:
            return
        import cloudpickle  # type: ignore[import-untyped,unused-ignore]

        try:
            cloudpickle.dumps(run.task)
        except Exception as error:
            raise InvalidArgument(
                f"task {run.task.name!r} cannot be pickled, so it cannot be sent to Dask "
                f"workers ({type(error).__name__}: {error}); define it at module level and "
                f"keep unpicklable objects (locks, connections) out of it"
            ) from error
        self._checked_tasks.add(id(run.task))


Outcome = tuple["State", list[StateEvent]]


def execute_on_worker(run: TaskRun, *upstream: Outcome) -> Outcome:
    """What a Dask worker runs: the task run, with its events captured to send back."""
    from distributed import get_worker

    upstream_states = {
        run_id: outcome[0] for run_id, outcome in zip(run.upstream_ids, upstream, strict=True)
    }
    run.worker = get_worker().address
    with capture_events() as captured:
        state = run.execute(upstream_states)
    return state, captured


def _collect(run: TaskRun, dask_future: Any, handle: concurrent.futures.Future[State]) -> None:
    """Back on the client: record the worker's transitions, then settle the handle."""
    if dask_future.cancelled():
        handle.set_result(settle(run, CANCELLED))
        return
    try:
        state, worker_events = dask_future.result()
    except BaseException as error:  # the worker died, the task could not be unpickled, ...
        handle.set_exception(error)
        return
    for event in worker_events:
        run.record_event(event)
    handle.set_result(state)


def _connect(distributed: Any, address: str, client_kwargs: dict[str, Any]) -> Any:
    kwargs = {"timeout": f"{CONNECT_TIMEOUT_SECONDS}s", **client_kwargs}
    try:
        return distributed.Client(address, **kwargs)
    except (OSError, TimeoutError) as error:
        raise FlowcoreUsageError(
            f"could not reach a Dask scheduler at {address!r} within {kwargs['timeout']} "
            f"({type(error).__name__}: {error}); start one (`dask scheduler`) or fix the address"
        ) from error


def _local_cluster_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Our LocalCluster defaults under the user's ``cluster_kwargs``.

    Without a dashboard the scheduler still serves HTTP (health, metrics), on
    port 8787 unless told otherwise; two clusters at once would collide there,
    so it gets a free port instead.
    """
    kwargs = {**_LOCAL_CLUSTER_DEFAULTS, **kwargs}
    if kwargs["dashboard_address"] is None:
        scheduler_kwargs = dict(kwargs.get("scheduler_kwargs") or {})
        scheduler_kwargs.setdefault("dashboard_address", ":0")
        kwargs["scheduler_kwargs"] = scheduler_kwargs
    return kwargs


def _cluster_class(cluster_class: Any, distributed: Any) -> Any:
    if cluster_class is None:
        return distributed.LocalCluster
    if isinstance(cluster_class, str):
        module_name, _, attribute = cluster_class.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as error:
            raise InvalidArgument(
                f"cluster_class {cluster_class!r} could not be imported: {error}"
            ) from error
    if not callable(cluster_class):
        raise InvalidArgument(
            f"cluster_class must be a class or its import path, got {cluster_class!r}"
        )
    return cluster_class
