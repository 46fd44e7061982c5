"""return_state=True on a flow call, on task.submit and on task.map."""

from _observe import describe, say, show
from prefect import flow, task


@task
def double(x):
    return 2 * x


@task
def explode():
    raise ValueError("no good")


@flow
def pipeline():
    say("submit(return_state=True):", show(double.submit(2, return_state=True)))
    say("failing submit(return_state=True):", show(explode.submit(return_state=True)))
    say("map(return_state=True):", show(double.map([1, 2], return_state=True)))
    return "done"


state = pipeline(return_state=True)
say("flow(return_state=True):", describe(state), show(state.result()))
