"""task.map over iterables, with unmapped arguments; one failing item."""

from _observe import describe, final_state, say
from prefect import flow, task, unmapped


@task
def scale(x, factor):
    return x * factor


@task
def add(x, y):
    return x + y


@task
def check(x):
    if x == 2:
        raise ValueError("two is not allowed")
    return x


@flow
def pipeline():
    scaled = scale.map([1, 2, 3], unmapped(10))
    say("unmapped:", [future.result() for future in scaled])
    say("two iterables:", [future.result() for future in add.map([1, 2], [10, 20])])
    say("map over futures:", [future.result() for future in add.map(scaled, unmapped(1))])
    say("unmapped list:", [f.result() for f in scale.map([1, 2], unmapped([0]))])
    checked = check.map([1, 2, 3])
    say("one failing item:", [describe(final_state(future), message=False) for future in checked])
    say("empty:", len(scale.map([], unmapped(1))))


say("flow:", describe(pipeline(return_state=True)))
