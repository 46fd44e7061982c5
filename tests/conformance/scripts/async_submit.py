"""task.submit() in an async flow: is it awaited, and is future.result() awaited?"""

import asyncio
import inspect

from _observe import error, say
from prefect import flow, task


@task
async def fetch(x):
    await asyncio.sleep(0)
    return x * 10


@task
def compute(x):
    return x + 1


@flow
async def pipeline():
    submitted = fetch.submit(1)
    say("async task submit() gives an awaitable:", inspect.isawaitable(submitted))
    future = await submitted if inspect.isawaitable(submitted) else submitted
    result = future.result()
    say("future.result() gives an awaitable:", inspect.isawaitable(result))
    value = await result if inspect.isawaitable(result) else result
    say("value:", value)
    sync_submitted = compute.submit(1)
    say("sync task submit() gives an awaitable:", inspect.isawaitable(sync_submitted))
    if inspect.isawaitable(sync_submitted):
        sync_submitted = await sync_submitted
    sync_result = sync_submitted.result()
    if inspect.isawaitable(sync_result):
        sync_result = await sync_result
    say("sync value:", sync_result)
    return value


try:
    say("flow:", asyncio.run(pipeline()))
except Exception as exc:
    say("flow raised", error(exc))
