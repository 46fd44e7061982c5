"""One Dask cluster per test session, started on first need and closed at the end.

With ``--flow-runner=dask`` every flow in every test runs on this cluster,
through one client the session lends every flow run: a LocalCluster with a
real worker process (so serialisation bugs surface) of four threads, random
ports and no dashboard, one per pytest-xdist worker. One process rather
than several: it starts in half the time, and a run never waits for its
upstream results to travel between workers. The client shares the
cluster's event loop thread, its messages go without Dask's batching
delays (`flowcore.task_runners.dask_latency`), and the worker pushes each
run's outcome to it (`flowcore.task_runners.dask_pushes`). With
``--dask-address`` the tests use that scheduler instead and nothing is
started.

A scheduler that cannot be reached is tried once per session, for at most
``CONNECT_TIMEOUT_SECONDS`` (10 s): every later flow fails at once with a
short error naming the address, instead of waiting again in every test.

Worker processes cannot import test modules and conftest files by name, so
the plugin registers those modules with cloudpickle to be pickled by value
(`ship_test_modules`): the tasks they define travel to the workers whole.

Fixtures: ``dask_cluster`` (the session's LocalCluster, None with
``--dask-address``) and ``dask_client`` (a client of the session's scheduler).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable
from typing import Any

import pytest

from flowcore.errors import FlowcoreUsageError
from flowcore.task_runners.dask import DaskTaskRunner

__all__ = [
    "LOCAL_CLUSTER_OPTIONS",
    "SESSION_DASK_CONFIG",
    "DaskSession",
    "SessionDaskRunner",
    "dask_session",
    "session_runner",
    "ship_test_modules",
]

# Under the runner's LocalCluster defaults: no dashboard, every socket on
# 127.0.0.1, the scheduler's HTTP endpoints on a free port (two sessions at
# once, with xdist, would clash on 8787), unbuffered worker output. Four
# threads: as many runs at once as two workers of two threads gave.
LOCAL_CLUSTER_OPTIONS: dict[str, Any] = {
    "n_workers": 1,
    "threads_per_worker": 4,
    "processes": True,
    "scheduler_port": 0,
}
# Dask settings of the session's cluster, a cluster for tests: its worker does without
# the statistical profiler (a thread sampling every 10 ms, for a dashboard the cluster
# does not serve), and its processes check their event loops' health every second
# rather than every 20 ms. Idle, they took 84 ms of CPU a second; now 26, all session
# long, on the machine the tests run on.
SESSION_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
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
                self.cluster = _start_cluster()
            return str(self.cluster.scheduler_address)

    @property
    def client(self) -> Any:
        """A client of the session's scheduler, created on first use."""
        address = self.address
        with self._lock:
            if self._unreachable is not None:
                raise FlowcoreUsageError(self._unreachable) from None
            if self._client is None:
                if self.cluster is None:
                    self._client = self._connect(address)
                else:  # ours: on its event loop, tuned for latency rather than throughput
                    self._client = self._own_client()
            return self._client

    @property
    def connected_client(self) -> Any:
        """The session's client if one was connected, else None (connects nothing)."""
        return self._client

    def _own_client(self) -> Any:
        """A client of the session's cluster on the cluster's own event loop thread: the
        scheduler and the client share it rather than pass every message between two
        threads of this process."""
        from flowcore.task_runners.dask_connection import import_distributed
        from flowcore.task_runners.dask_latency import send_promptly

        client = import_distributed().Client(self.cluster, set_as_default=False)
        send_promptly(client)
        return client

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
        """Close the client, then the cluster: its worker processes are killed first, as
        every test is over and nothing they hold is worth a graceful close (which takes
        the better part of a second)."""
        client, cluster = self._client, self.cluster
        self._client = self.cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                from flowcore.task_runners.dask_connection import close_cluster

                close_cluster(cluster, kill_workers=True, reason="the test session ended")


def _start_cluster() -> Any:
    """The session's LocalCluster, with the session's Dask settings."""
    from flowcore.task_runners.dask_connection import import_distributed, local_cluster_kwargs

    distributed = import_distributed()  # or an error naming the extra to install
    import dask  # installed with distributed

    options = local_cluster_kwargs(LOCAL_CLUSTER_OPTIONS, distributed)
    # Read as the scheduler and the nanny start; the nanny hands them to its worker.
    with dask.config.set(SESSION_DASK_CONFIG):
        return distributed.LocalCluster(**options)


class SessionDaskRunner(DaskTaskRunner):
    """A `DaskTaskRunner` lent the session's client, started on first need.

    Every flow run uses the session's one client rather than connecting its
    own (a connection costs tens of milliseconds, on every test), and leaves
    it open at its end (``DaskTaskRunner(client=...)``); the session closes
    it. Tests that run no flow never wait for a cluster.
    """

    def __init__(self, session: DaskSession) -> None:
        self.session = session
        # The session's own cluster lives no longer than the session: its workers push
        # outcomes (`flowcore.task_runners.dask_pushes`); a scheduler at ``--dask-address``
        # is shared, and is not made to keep them.
        pushes = session.given_address is None
        super().__init__(client=lambda: session.client, push_outcomes=pushes)

    def duplicate(self) -> SessionDaskRunner:
        return SessionDaskRunner(self.session)

    @property
    def address(self) -> str:
        """The session's scheduler address (starting its cluster if there is none yet)."""
        return self.session.address

    def __repr__(self) -> str:
        if self.session.given_address is not None:
            return f"DaskTaskRunner(address={self.session.given_address!r})"
        return "DaskTaskRunner(the session's LocalCluster)"


_SESSION_KEY = pytest.StashKey[DaskSession]()


def pytest_configure(config: pytest.Config) -> None:
    address = config.getoption("dask_address") or config.getini("dask_address") or None
    config.stash[_SESSION_KEY] = DaskSession(address)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None:
        session.close()


def dask_session(config: pytest.Config) -> DaskSession | None:
    """The session's `DaskSession` (None before the plugin is configured)."""
    return config.stash.get(_SESSION_KEY, None)


def session_runner(config: pytest.Config) -> SessionDaskRunner:
    """A Dask runner on the session's scheduler, for one test."""
    return SessionDaskRunner(config.stash[_SESSION_KEY])


@pytest.fixture(scope="session")
def dask_cluster(request: pytest.FixtureRequest) -> Any:
    """The session's LocalCluster (started on first use), or None with ``--dask-address``."""
    session = request.config.stash[_SESSION_KEY]
    session.address  # noqa: B018 - starts the cluster when there is none yet
    return session.cluster


@pytest.fixture(scope="session")
def dask_client(request: pytest.FixtureRequest) -> Any:
    """A `distributed.Client` of the session's scheduler."""
    return request.config.stash[_SESSION_KEY].client


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
