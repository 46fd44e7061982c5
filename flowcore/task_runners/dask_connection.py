"""Reaching a Dask cluster: importing `distributed`, connecting, starting a cluster.

    distributed = import_distributed()        # or a FlowcoreUsageError naming the extra
    client = connect(distributed, "tcp://127.0.0.1:8786", {})
    cluster = resolve_cluster_class(None, distributed)(**local_cluster_kwargs({}, distributed))

`close_client` and `close_cluster` never wait longer than they are told;
`close_cluster` can kill the cluster's worker processes first (a worker
busy in a task would otherwise be waited for, then killed, seconds later).

`connect` gives up after ``CONNECT_TIMEOUT_SECONDS`` with an error that says
where it looked; `local_cluster_kwargs` puts flowcore's LocalCluster defaults
under the user's: no dashboard, the scheduler's HTTP endpoints on a free port
of 127.0.0.1 (LocalCluster already binds its scheduler and workers there),
unbuffered output for worker processes (a Nanny option, so only when the
workers are processes: in-thread workers refuse it) and, for in-thread
workers, their HTTP endpoints on 127.0.0.1 too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
from typing import Any

from flowcore.errors import FlowcoreUsageError, InvalidArgument

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "close_client",
    "close_cluster",
    "connect",
    "import_distributed",
    "local_cluster_kwargs",
    "resolve_cluster_class",
]

CONNECT_TIMEOUT_SECONDS = 10
LOOPBACK_HTTP_ADDRESS = "127.0.0.1:0"
_LOCAL_CLUSTER_DEFAULTS: dict[str, Any] = {"dashboard_address": None}
_NANNY_DEFAULTS: dict[str, Any] = {"env": {"PYTHONUNBUFFERED": "1"}}
# In-thread workers talk in-process, so their HTTP servers have no host to
# follow and would listen on every interface.
_IN_THREAD_DEFAULTS: dict[str, Any] = {"worker_dashboard_address": LOOPBACK_HTTP_ADDRESS}


def import_distributed() -> Any:
    """The `distributed` module, or an error saying which extra to install."""
    try:
        return importlib.import_module("distributed")
    except ImportError as error:
        raise FlowcoreUsageError(
            "DaskTaskRunner needs Dask's distributed package, which is the 'dask' extra: "
            "pip install 'pytest-flows[dask]'"
        ) from error


def connect(distributed: Any, address: str, client_kwargs: dict[str, Any]) -> Any:
    """A client of the scheduler at ``address``, or a clear error within the timeout.

    A scheduler that accepts the connection but never answers (a frozen
    process: its kernel still accepts) would hold `distributed.Client` in its
    handshake forever, so a bounded handshake of our own goes first.
    """
    kwargs = {"timeout": f"{CONNECT_TIMEOUT_SECONDS}s", **client_kwargs}
    seconds = _seconds(kwargs["timeout"])
    try:
        _handshake(distributed, address, seconds)
        return distributed.Client(address, **kwargs)
    except (OSError, TimeoutError) as error:
        raise FlowcoreUsageError(
            f"could not reach a Dask scheduler at {address!r} within {kwargs['timeout']} "
            f"({type(error).__name__}: {error}); start one (`dask scheduler`) or fix the address"
        ) from None  # the message says it all; Dask's retries make a long traceback


def _seconds(timeout: Any) -> float:
    from dask.utils import parse_timedelta

    return float(parse_timedelta(timeout, default="seconds"))


def _handshake(distributed: Any, address: str, seconds: float) -> None:
    """Connect to ``address`` and exchange Dask's handshake within ``seconds``, on a
    thread of its own (the caller may be running an event loop), or raise."""
    outcome: list[BaseException | None] = []

    async def exchange() -> None:
        comm = await distributed.comm.connect(address, timeout=seconds)
        await comm.close()

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(exchange(), seconds))
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name="flowcore-dask-handshake", daemon=True)
    thread.start()
    thread.join(seconds + 1)
    if not outcome:
        raise TimeoutError(f"no handshake from {address} within {seconds:g} s")
    error = outcome[0]
    if isinstance(error, TimeoutError):  # asyncio.TimeoutError too
        raise TimeoutError(f"no handshake from {address} within {seconds:g} s") from error
    if error is not None:
        raise error


def local_cluster_kwargs(kwargs: dict[str, Any], distributed: Any) -> dict[str, Any]:
    """Our LocalCluster defaults under the user's ``cluster_kwargs``.

    Without a dashboard the scheduler still serves HTTP (health, metrics), on
    port 8787 of every interface unless told otherwise; two clusters at once
    would collide there, and the network would see it, so it gets a free port
    on 127.0.0.1 instead.
    """
    defaults = dict(_LOCAL_CLUSTER_DEFAULTS)
    if _workers_are_processes(kwargs, distributed):
        defaults.update(_NANNY_DEFAULTS)
    else:
        defaults.update(_IN_THREAD_DEFAULTS)
    kwargs = {**defaults, **kwargs}
    if kwargs["dashboard_address"] is None:
        scheduler_kwargs = dict(kwargs.get("scheduler_kwargs") or {})
        scheduler_kwargs.setdefault("dashboard_address", LOOPBACK_HTTP_ADDRESS)
        kwargs["scheduler_kwargs"] = scheduler_kwargs
    return kwargs


def _workers_are_processes(kwargs: dict[str, Any], distributed: Any) -> bool:
    """Whether a LocalCluster given ``kwargs`` runs its workers behind Nannies (as
    processes), as LocalCluster itself decides it."""
    worker_class = kwargs.get("worker_class")
    if worker_class is None:
        return kwargs.get("processes") is not False
    return isinstance(worker_class, type) and issubclass(worker_class, distributed.Nanny)


def resolve_cluster_class(cluster_class: Any, distributed: Any) -> Any:
    """The cluster class to start: LocalCluster by default, a class, or its import path."""
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


def close_client(client: Any, timeout: float) -> None:
    """Close ``client``, giving up after ``timeout`` seconds (its scheduler is frozen)."""
    with contextlib.suppress(TimeoutError, OSError, RuntimeError):
        client.close(timeout=timeout)


def close_cluster(
    cluster: Any,
    kill_workers: bool,
    timeout: float = 30,
    reason: str = "the flow run was cancelled",
) -> None:
    """Close ``cluster`` within ``timeout`` seconds; no worker process outlives it.

    With ``kill_workers`` its worker processes are killed first (their nannies
    told why, ``reason``, and not to restart them), so closing has nothing
    left to wait for.
    """
    workers = _worker_processes(cluster)
    if kill_workers:
        for nanny in _nannies(cluster):
            nanny.close_gracefully(reason=reason)
        _kill(workers)
    try:
        with contextlib.suppress(TimeoutError):
            cluster.close(timeout=timeout)
    finally:
        _kill(workers)  # any a close that timed out left behind


def _nannies(cluster: Any) -> list[Any]:
    workers = getattr(cluster, "workers", None)
    if not isinstance(workers, dict):  # not a SpecCluster: nothing to reach into
        return []
    return [worker for worker in workers.values() if hasattr(worker, "close_gracefully")]


def _worker_processes(cluster: Any) -> list[Any]:
    """The worker processes behind the cluster's nannies (`psutil.Process`es: they
    know their start time, so a pid the system has given to another process since
    is never signalled)."""
    import psutil  # type: ignore[import-untyped,unused-ignore]  # a dependency of distributed

    processes = []
    for nanny in _nannies(cluster):
        pid = getattr(getattr(nanny, "process", None), "pid", None)
        if isinstance(pid, int):
            with contextlib.suppress(psutil.Error):
                processes.append(psutil.Process(pid))
    return processes


def _kill(processes: list[Any]) -> None:
    import psutil  # type: ignore[import-untyped,unused-ignore]

    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
