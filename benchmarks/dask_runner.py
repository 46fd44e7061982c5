"""The Dask runner against raw ``distributed`` on the same LocalCluster.

One LocalCluster is started for the section (its start time is reported
once). On it, in turns:

- flowcore: a flow of N trivial tasks with ``DaskTaskRunner(address=...)``,
  which connects a client at flow start and closes it at the end;
- raw, fresh client: ``Client(address)``, N ``client.submit`` + ``gather``, close;
- raw, warm client: N ``client.submit`` + ``gather`` on a client kept open.

The goal (≤ 1.1x) is judged against the fresh-client baseline, which does
the same work as the flow run; the warm-client row shows what connecting
per flow run costs.
"""

from __future__ import annotations

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
                "connect": connect_only,
            },
            sizes.repeats,
        )
    per_task = {name: samples[name].scaled(MICRO / n) for name in ("flowcore", "fresh", "warm")}
    return [
        Row(f"dask, N={n:,}", "µs/task", per_task["flowcore"], "Client+submit+gather",
            per_task["fresh"], Goal("ratio_at_most", 1.1, "≤ 1.1x")),
        Row(f"dask, N={n:,} (vs warm client)", "µs/task", per_task["flowcore"],
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
