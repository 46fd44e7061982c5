"""Reaching a Dask cluster: importing `distributed`, connecting, starting a cluster.

    distributed = import_distributed()        # or a FlowcoreUsageError naming the extra
    client = connect(distributed, "tcp://127.0.0.1:8786", {})
    cluster = resolve_cluster_class(None, distributed)(**local_cluster_kwargs({}))

`connect` gives up after ``CONNECT_TIMEOUT_SECONDS`` with an error that says
where it looked; `local_cluster_kwargs` puts flowcore's LocalCluster defaults
(worker processes, no dashboard, unbuffered worker output) under the user's.
"""

from __future__ import annotations

import importlib
from typing import Any

from flowcore.errors import FlowcoreUsageError, InvalidArgument

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "connect",
    "import_distributed",
    "local_cluster_kwargs",
    "resolve_cluster_class",
]

CONNECT_TIMEOUT_SECONDS = 10
_LOCAL_CLUSTER_DEFAULTS = {
    "dashboard_address": None,
    "env": {"PYTHONUNBUFFERED": "1"},
}


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
    """A client of the scheduler at ``address``, or a clear error within the timeout."""
    kwargs = {"timeout": f"{CONNECT_TIMEOUT_SECONDS}s", **client_kwargs}
    try:
        return distributed.Client(address, **kwargs)
    except (OSError, TimeoutError) as error:
        raise FlowcoreUsageError(
            f"could not reach a Dask scheduler at {address!r} within {kwargs['timeout']} "
            f"({type(error).__name__}: {error}); start one (`dask scheduler`) or fix the address"
        ) from error


def local_cluster_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
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
