"""An async flow: awaiting async tasks, gathering them, and calling sync tasks with submit()."""

import asyncio

from _observe import say
from prefect import flow, task

EVENTS = []


@task
async def fetch(name, seconds):
    EVENTS.append(f"start {name}")
    await asyncio.sleep(seconds)
    EVENTS.append(f"end {name}")
    return name.upper()


@flow
async def pipeline():
    first = await fetch("a", 0.0)
    gathered = await asyncio.gather(fetch("slow", 1.0), fetch("fast", 0.0))
    return first, gathered


say("result:", asyncio.run(pipeline()))
say("starts before slow ends:", EVENTS.index("start fast") < EVENTS.index("end slow"))
say("fast ends first:", EVENTS.index("end fast") < EVENTS.index("end slow"))
