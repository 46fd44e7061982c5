"""wait_for=[...] orders runs without passing data; a failed one in it leaves the run NotReady."""

import time

from _observe import describe, final_state, say
from prefect import flow, task

ORDER = []


@task
def step(label, seconds=0.0):
    time.sleep(seconds)
    ORDER.append(label)
    return label


@task
def explode():
    raise ValueError("no good")


@flow
def pipeline():
    first = step.submit("first", 1.0)
    second = step.submit("second", wait_for=[first])
    second.result()
    say("order:", ORDER)
    blocked = step.submit("blocked", wait_for=[explode.submit()])
    say("after a failure:", describe(final_state(blocked), message=False))
    say("blocked ran:", "blocked" in ORDER)


say("flow:", describe(pipeline(return_state=True)))
