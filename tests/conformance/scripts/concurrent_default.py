"""ConcurrentTaskRunner() with its default limit: do ten 2-second sync tasks all run at once?"""

import time

from _observe import say
from prefect import flow, task
from prefect.task_runners import ConcurrentTaskRunner


@task
def nap(i):
    start = time.monotonic()
    time.sleep(2.0)
    return start, time.monotonic()


def peak_overlap(spans):
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def bucket(peak, total):
    if peak == total:
        return f"all {total} at once"
    return "one at a time" if peak == 1 else "some at once, not all"


@flow(task_runner=ConcurrentTaskRunner())
def explicit_runner():
    futures = [nap.submit(i) for i in range(10)]
    return bucket(peak_overlap([future.result() for future in futures]), 10)


@flow
def default_runner():
    futures = [nap.submit(i) for i in range(10)]
    return bucket(peak_overlap([future.result() for future in futures]), 10)


say("ConcurrentTaskRunner():", explicit_runner())
say("default runner:", default_runner())
