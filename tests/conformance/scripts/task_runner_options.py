"""task_runner given as a class or an instance; SequentialTaskRunner runs one task at a time."""

import itertools
import time

from _observe import describe, error, say
from prefect import flow, task
from prefect.task_runners import ConcurrentTaskRunner


@task
def nap(i):
    start = time.monotonic()
    time.sleep(0.5)
    return start, time.monotonic()


def overlapped(spans):
    spans = sorted(spans)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


def three_naps():
    return overlapped([future.result() for future in [nap.submit(i) for i in range(3)]])


@flow(task_runner=ConcurrentTaskRunner)
def runner_class():
    return three_naps()


@flow(task_runner=ConcurrentTaskRunner())
def runner_instance():
    return three_naps()


say("class, overlapped:", runner_class())
say("instance, overlapped:", runner_instance())
try:
    from prefect.task_runners import SequentialTaskRunner
except ImportError as exc:
    say("SequentialTaskRunner import failed:", type(exc).__name__)
else:

    @flow(task_runner=SequentialTaskRunner())
    def sequential():
        return three_naps()

    try:
        state = sequential(return_state=True)
        say("sequential:", describe(state, message=False), "overlapped:", state.result())
    except Exception as exc:
        say("sequential raised", error(exc))
