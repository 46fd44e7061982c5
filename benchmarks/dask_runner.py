"""The Dask runner against raw ``distributed`` on the same LocalCluster.

One LocalCluster is started for the section (its start time is reported
once). On it, in turns:

- flowcore: a flow of N trivial tasks with ``DaskTaskRunner(address=...)``,
  which connects a client at flow start and closes it at the end;
- raw, fresh client: ``Client(address)``, N ``client.submit`` + ``gather``, close;
- raw, warm client: N ``client.submit`` + ``gather`` on a client kept open.

The goal (≤ 1.1x) is judged against the fresh-client baseline, which does
the same work as the flow run; the warm-client row shows what connecting
per flow run costs. Two more raw rows show what Dask itself charges for
learning of each task's end as it happens, as a runner must to record each
run's final state when it ends: a done callback per future, and results
fetched in batches as tasks end.
"""

from __future__ import annotations

import contextlib
import queue
import time
import warnings
from typing import Any

from benchmarks.measure import Sample, interleaved
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes, identity, sync_flow

__all__ = ["run"]

MICRO = 1e6


def raw_submit_gather(client: Any, n: int) -> list[Any]:
    futures = [client.submit(identity, i, pure=False) for i in range(n)]
    return list(client.gather(futures))


def raw_with_done_callbacks(client: Any, n: int) -> list[Any]:
    """As `raw_submit_gather`, with a (no-op) done callback on every future: what
    Dask charges for telling the client of each task's end as it happens."""
    futures = [client.submit(identity, i, pure=False) for i in range(n)]
    for future in futures:
        future.add_done_callback(_ignore)
    return list(client.gather(futures))


def raw_gathered_as_they_end(client: Any, n: int) -> list[Any]:
    """Each result fetched soon after its task ends, in batches of whatever ended
    meanwhile (a done callback per future feeding one fetching loop): the shape of
    a runner that reports every run's final state as it ends."""
    ended: queue.SimpleQueue[Any] = queue.SimpleQueue()
    futures = [client.submit(identity, i, pure=False) for i in range(n)]
    for future in futures:
        future.add_done_callback(ended.put)
    fetched = 0
    while fetched < n:
        batch = [ended.get()]
        with contextlib.suppress(queue.Empty):
            while True:
                batch.append(ended.get_nowait())
        client.gather(batch)
        fetched += len(batch)
    return list(client.gather(futures))


def _ignore(_future: Any) -> None:
    pass


def start_cluster(sizes: Sizes) -> tuple[Any, float]:
    """A LocalCluster sized for the mode, and the seconds it took to start."""
    from distributed import LocalCluster

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*already in use.*")
        cluster = LocalCluster(
            n_workers=sizes.dask_workers,
            threads_per_worker=1,
            processes=sizes.dask_processes,
            dashboard_address=None,
        )
    return cluster, time.perf_counter() - start


def measure(sizes: Sizes, cluster: Any) -> list[Row]:
    from distributed import Client

    from flowcore.task_runners import DaskTaskRunner

    address, n = cluster.scheduler_address, sizes.dask_tasks
    many = sync_flow(DaskTaskRunner(address=address))

    def fresh_client() -> list[Any]:
        with Client(address, set_as_default=False) as client:
            return raw_submit_gather(client, n)

    def connect_only() -> None:
        Client(address, set_as_default=False).close()

    with Client(address, set_as_default=False) as warm:
        samples = interleaved(
            {
                "flowcore": lambda: many(n),
                "fresh": fresh_client,
                "warm": lambda: raw_submit_gather(warm, n),
                "callbacks": lambda: raw_with_done_callbacks(warm, n),
                "as_they_end": lambda: raw_gathered_as_they_end(warm, n),
                "connect": connect_only,
            },
            sizes.repeats,
        )
    names = ("flowcore", "fresh", "warm", "callbacks", "as_they_end")
    per_task = {name: samples[name].scaled(MICRO / n) for name in names}
    return [
        Row(f"dask, N={n:,}", "µs/task", per_task["flowcore"], "Client+submit+gather",
            per_task["fresh"], Goal("ratio_at_most", 1.1, "≤ 1.1x")),
        Row(f"dask, N={n:,} (vs warm client)", "µs/task", per_task["flowcore"],
            "submit+gather, open client", per_task["warm"]),
        Row("raw, plus a done callback per future", "µs/task", per_task["callbacks"],
            "submit+gather, open client", per_task["warm"]),
        Row("raw, results fetched as tasks end", "µs/task", per_task["as_they_end"],
            "submit+gather, open client", per_task["warm"]),
        Row("dask client connect + close", "ms", samples["connect"].scaled(1e3)),
    ]  # fmt: skip


def run(sizes: Sizes) -> Section:
    section = Section("dask", "Dask runner vs raw distributed on the same LocalCluster")
    try:
        import distributed  # noqa: F401
    except ImportError:
        section.notes.append("skipped, install the dask extra: pip install 'pytest-flows[dask]'")
        return section
    cluster, started = start_cluster(sizes)
    try:
        kind = "processes" if sizes.dask_processes else "threads"
        section.rows.append(
            Row(f"LocalCluster start, {sizes.dask_workers} workers ({kind})", "s",
                Sample.of([started]))
        )
        section.rows.extend(measure(sizes, cluster))
    finally:
        cluster.close()
    section.notes.append(
        "the flowcore figure includes connecting a client per flow run "
        "(DaskTaskRunner(address=...))"
    )
    return section
