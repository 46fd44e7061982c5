"""A Prefect 2 async flow script: async tasks awaited, gathered and submitted, a sync task."""

import asyncio

from prefect import flow, task


@task
async def fetch(name, delay):
    await asyncio.sleep(delay)
    print(f"fetched {name}")
    return name.upper()


@task
def combine(parts):
    return "-".join(parts)


@flow
async def pipeline():
    first = await fetch("a", 0.01)
    rest = await asyncio.gather(fetch("slow", 0.3), fetch("fast", 0.05))
    return await combine.submit([first, *rest])


@flow
async def failing():
    await fetch.submit("ok", 0)
    await combine.submit(None)


if __name__ == "__main__":
    print(asyncio.run(pipeline()))
    state = asyncio.run(failing(return_state=True))
    print(state.is_failed(), state.message)
