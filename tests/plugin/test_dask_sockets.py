"""Clusters flowcore starts: common cluster_kwargs work, nothing listens beyond 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from flowcore import flow, task  # noqa: E402
from flowcore.context import current_flow_run  # noqa: E402
from flowcore.task_runners import DaskTaskRunner  # noqa: E402
from pytest_flows.plugin.dask_session import LOCAL_CLUSTER_OPTIONS, DaskSession  # noqa: E402


def listening_sockets() -> set[tuple[int, str, int]]:
    """(pid, host, port) of every listening TCP socket of this process and its children.

    Other clusters of this test process (the suite's shared one) listen too:
    tests look at what is new.
    """
    me = psutil.Process()
    found = set()
    for process in [me, *me.children(recursive=True)]:
        for connection in process.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                found.add((process.pid, connection.laddr.ip, connection.laddr.port))
    return found


def assert_all_on_loopback(sockets: set[tuple[int, str, int]]) -> None:
    exposed = [entry for entry in sockets if entry[1] != "127.0.0.1"]
    assert not exposed, f"listening beyond the machine (pid, host, port): {exposed}"


@task
def double(x: int) -> int:
    return 2 * x


@pytest.mark.parametrize(
    ("cluster_kwargs", "workers", "threads"),
    [
        ({"n_workers": 1, "threads_per_worker": 1}, 1, 1),
        ({"processes": False, "n_workers": 2}, 2, None),
        ({"n_workers": 2, "threads_per_worker": 1, "memory_limit": "512MiB"}, 2, 1),
    ],
    ids=["processes", "in-thread workers", "memory limit"],
)
def test_local_cluster_takes_common_kwargs_and_listens_on_loopback_only(
    cluster_kwargs: dict[str, Any], workers: int, threads: int | None
) -> None:
    before = listening_sockets()

    @flow(task_runner=DaskTaskRunner(cluster_kwargs=cluster_kwargs))
    def pipeline() -> tuple[int, dict[str, int], set[tuple[int, str, int]]]:
        client = current_flow_run().runner.client
        client.wait_for_workers(workers, timeout=60)
        return double(21), client.nthreads(), listening_sockets() - before

    value, nthreads, sockets = pipeline()
    assert value == 42
    assert len(nthreads) == workers
    if threads is not None:
        assert set(nthreads.values()) == {threads}
    assert len(sockets) >= 1 + workers  # the scheduler's HTTP server, one or two a worker
    assert_all_on_loopback(sockets)


def test_the_plugin_session_cluster_listens_on_loopback_only() -> None:
    before = listening_sockets()
    session = DaskSession(None)
    try:
        workers = LOCAL_CLUSTER_OPTIONS["n_workers"]
        session.client.wait_for_workers(workers, timeout=60)
        sockets = listening_sockets() - before
    finally:
        session.close()
    assert len(sockets) >= 2 + workers  # the scheduler's TCP and HTTP, one or two a worker
    assert_all_on_loopback(sockets)
