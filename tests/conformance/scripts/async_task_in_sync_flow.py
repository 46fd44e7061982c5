"""An async task submitted from a sync flow runs, and its future gives the value."""

import asyncio

from _observe import describe, final_state, say
from prefect import flow, task


@task
async def fetch(x):
    await asyncio.sleep(0.01)
    return x * 10


@task
def combine(values):
    return sum(values)


@flow
def pipeline():
    futures = [fetch.submit(i) for i in range(3)]
    say("results:", [future.result() for future in futures])
    say("state:", describe(final_state(futures[0]), message=False))
    return combine.submit(futures).result()


say("flow gives:", pipeline())
