"""A flow that returns futures mixed with plain data (`return failed, ok, "bar"`) is data."""

from _observe import describe, say
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def mixed():
    return explode.submit(), double.submit(21), "bar"


state = mixed(return_state=True)
say("flow:", describe(state))
