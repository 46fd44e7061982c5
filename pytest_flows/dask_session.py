"""One Dask cluster per test session, started on first need and closed at the end.

With ``--flow-runner=dask`` every flow in every test runs on this cluster
(``DaskTaskRunner(address=...)``): a LocalCluster with real worker processes
(so serialisation bugs surface), random ports and no dashboard, one per
pytest-xdist worker. With ``--dask-address`` the tests use that scheduler
instead and nothing is started.

A scheduler that cannot be reached is tried once per session, for at most
``CONNECT_TIMEOUT_SECONDS`` (10 s): every later flow fails at once with a
short error naming the address, instead of waiting again in every test.

Worker processes cannot import test modules and conftest files by name, so
the plugin registers those modules with cloudpickle to be pickled by value
(`ship_test_modules`): the tasks they define travel to the workers whole.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable
from typing import Any

from flowcore.errors import FlowcoreUsageError
from flowcore.task_runners.dask import DaskTaskRunner

__all__ = ["DaskSession", "SessionDaskRunner", "ship_test_modules"]

# Under the runner's LocalCluster defaults: no dashboard, every socket on
# 127.0.0.1, the scheduler's HTTP endpoints on a free port (two sessions at
# once, with xdist, would clash on 8787), unbuffered worker output.
LOCAL_CLUSTER_OPTIONS: dict[str, Any] = {
    "n_workers": 2,
    "threads_per_worker": 2,
    "processes": True,
    "scheduler_port": 0,
}


class DaskSession:
    """The session's cluster (or remote scheduler address) and a client to it."""

    def __init__(self, address: str | None) -> None:
        self.given_address = address
        self.cluster: Any = None
        self._client: Any = None
        self._unreachable: str | None = None  # why connecting failed, once per session
        self._lock = threading.Lock()  # flows in threads may start at once

    @property
    def address(self) -> str:
        """The scheduler address, starting the local cluster if needed."""
        if self.given_address is not None:
            return self.given_address
        with self._lock:
            if self.cluster is None:
                from flowcore.task_runners.dask_connection import (
                    import_distributed,
                    local_cluster_kwargs,
                )

                distributed = import_distributed()
                options = local_cluster_kwargs(LOCAL_CLUSTER_OPTIONS, distributed)
                self.cluster = distributed.LocalCluster(**options)
            return str(self.cluster.scheduler_address)

    @property
    def client(self) -> Any:
        """A client of the session's scheduler, created on first use."""
        address = self.address
        with self._lock:
            if self._unreachable is not None:
                raise FlowcoreUsageError(self._unreachable) from None
            if self._client is None:
                self._client = self._connect(address)
            return self._client

    def _connect(self, address: str) -> Any:
        from flowcore.task_runners.dask_connection import connect, import_distributed

        try:
            return connect(import_distributed(), address, {"set_as_default": False})
        except FlowcoreUsageError as error:
            self._unreachable = (
                f"the Dask scheduler at {address!r} could not be reached earlier in this "
                f"test session, so it is not tried again; {error}"
            )
            raise

    def close(self) -> None:
        client, cluster = self._client, self.cluster
        self._client = self.cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()


class SessionDaskRunner(DaskTaskRunner):
    """A `DaskTaskRunner` on the session's scheduler and client, both started on first need.

    Every flow run uses the session's one client rather than connecting its
    own (a connection costs tens of milliseconds, on every test), and leaves
    it open at its end; the session closes it. Tests that run no flow never
    wait for a cluster.
    """

    _owns_client = False

    def __init__(self, session: DaskSession) -> None:
        self._session = session
        super().__init__(address=session.given_address)

    def duplicate(self) -> SessionDaskRunner:
        return SessionDaskRunner(self._session)

    def _connect(self, distributed: Any, address: str, client_kwargs: dict[str, Any]) -> Any:
        return self._session.client

    @property
    def address(self) -> str:
        return self._session.address

    @address.setter
    def address(self, value: str | None) -> None:
        """Set by `DaskTaskRunner.__init__`; the session decides the address."""

    def __repr__(self) -> str:
        if self._session.given_address is not None:
            return f"DaskTaskRunner(address={self._session.given_address!r})"
        return "DaskTaskRunner(the session's LocalCluster)"


def ship_test_modules(modules: Iterable[Any]) -> None:
    """Have cloudpickle send these modules' functions by value to Dask workers."""
    try:
        import cloudpickle
    except ImportError:  # Dask is not installed: nothing to ship to
        return
    for module in modules:
        name = getattr(module, "__name__", None)
        if name and sys.modules.get(name) is module and name != "__main__":
            with contextlib.suppress(ValueError):  # not importable by name
                cloudpickle.register_pickle_by_value(module)
