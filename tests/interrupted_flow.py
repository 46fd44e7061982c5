"""A flow stuck in its task runs, for the Ctrl-C tests (tests/test_reliability_signals.py).

    python tests/interrupted_flow.py RUNNER sync|async

Prints ``started`` once a task body runs, then each run's final state as
``final <kind> <run name> <state type>``; it must stop at once on SIGINT.
"""

from __future__ import annotations

import asyncio
import sys
import time

from flowcore import StateEvent, flow, subscribe, task
from flowcore.task_runners import (
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    DaskTaskRunner,
    SequentialTaskRunner,
    TaskRunner,
)


def show(event: StateEvent) -> None:
    if event.state.type.is_final:
        print("final", event.kind, event.run_name, event.state.type.value, flush=True)


@task
def stuck() -> None:
    print("started", flush=True)
    time.sleep(30)


@task
async def stuck_async() -> None:
    print("started", flush=True)
    await asyncio.sleep(30)


def make_runner(name: str) -> TaskRunner:
    if name == "deterministic":
        from pytest_flows import DeterministicTaskRunner

        return DeterministicTaskRunner(seed=3)
    if name == "dask":
        return DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 2})
    runners = {"sequential": SequentialTaskRunner, "concurrent": ConcurrentTaskRunner}
    return runners.get(name, AsyncTaskRunner)()


def main(runner_name: str, kind: str) -> None:
    runner = make_runner(runner_name)
    subscribe(show)
    if kind == "sync":

        @flow(task_runner=runner)
        def stuck_flow() -> None:
            first = stuck.submit()
            stuck_async.submit()
            first.result()

        stuck_flow()
    else:

        @flow(task_runner=runner)
        async def stuck_flow_async() -> None:
            await asyncio.gather(stuck(), stuck_async())

        asyncio.run(stuck_flow_async())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
