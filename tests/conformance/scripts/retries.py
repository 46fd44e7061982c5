"""retries and retry_delay_seconds: attempts made, final state, the delay waited."""

import time

from _observe import describe, final_state, say
from prefect import flow, task

ATTEMPTS = {"flaky": 0, "hopeless": 0, "delayed": 0}


@task(retries=2)
def flaky():
    ATTEMPTS["flaky"] += 1
    if ATTEMPTS["flaky"] < 3:
        raise ValueError(f"attempt {ATTEMPTS['flaky']} failed")
    return "ok"


@task(retries=1)
def hopeless():
    ATTEMPTS["hopeless"] += 1
    raise ValueError("never works")


@task(retries=1, retry_delay_seconds=1)
def delayed():
    ATTEMPTS["delayed"] += 1
    if ATTEMPTS["delayed"] == 1:
        raise ValueError("first attempt fails")
    return time.monotonic()


@flow
def pipeline():
    say("flaky:", describe(final_state(flaky.submit()), message=False), ATTEMPTS["flaky"])
    say("hopeless:", describe(final_state(hopeless.submit()), message=False), ATTEMPTS["hopeless"])
    start = time.monotonic()
    finished = delayed.submit().result()
    say("delayed: attempts", ATTEMPTS["delayed"], "waited >= 0.9 s:", finished - start >= 0.9)


say("flow:", describe(pipeline(return_state=True)))
