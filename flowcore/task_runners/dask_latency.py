"""Prompt messages on a cluster of our own: Dask's batching delays turned off.

    send_promptly(client)        # after connecting the client to a LocalCluster we started

Every stream of Dask messages (client to scheduler, scheduler to each worker
and client, worker to scheduler) holds a message back until a set interval
(10, 5, 2 and 2 ms) has passed since the stream's previous send, so that a
graph of thousands of tasks goes in a few large writes. A test's flow
submits a few tasks one at a time and waits for each to end: the second
submission sits out the client's 10 ms, its task the scheduler's 5 ms, and
so on at every hop, for tens of milliseconds per flow run with every process
idle. With the interval at zero a stream still sends, in one write,
everything queued while its previous write was going out, so a burst of
submissions is still batched: only the waiting is gone.

Only for a cluster the caller started: a shared scheduler keeps Dask's
trade-off. The scheduler part is a `SchedulerPlugin` (it also sees workers
that join later, a Nanny's restarted worker included) and the worker part a
`WorkerPlugin` (set up on every worker, restarted ones too). Each only
changes the ``interval`` of a stream, an attribute Dask's ``BatchedSend``
has always had; on a Dask without it they change nothing.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

__all__ = ["PromptScheduler", "PromptWorker", "send_promptly"]


class PromptScheduler(SchedulerPlugin):
    """Streams from the scheduler to its workers and clients, without delay."""

    name = "flowcore-prompt-scheduler"

    async def start(self, scheduler: Any) -> None:
        for stream in [*scheduler.stream_comms.values(), *scheduler.client_comms.values()]:
            _no_delay(stream)

    def add_worker(self, scheduler: Any, worker: str) -> None:
        _no_delay(scheduler.stream_comms.get(worker))


class PromptWorker(WorkerPlugin):
    """The stream from a worker to its scheduler, without delay."""

    name = "flowcore-prompt-worker"

    def setup(self, worker: Any) -> None:
        _no_delay(getattr(worker, "batched_stream", None))


def send_promptly(client: Any) -> None:
    """Turn off the batching delays of ``client``, its scheduler and that scheduler's
    workers, now and for workers that join later."""
    _no_delay(getattr(client, "scheduler_comm", None))
    client.register_plugin(PromptScheduler())
    client.register_plugin(PromptWorker())


def _no_delay(stream: Any) -> None:
    """A `distributed.batched.BatchedSend` that sends as soon as it can."""
    if stream is not None and hasattr(stream, "interval"):  # else not a BatchedSend
        stream.interval = 0
