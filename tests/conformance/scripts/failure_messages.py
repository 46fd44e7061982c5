"""The messages of failed task and flow states, and of a run left NotReady by its upstream."""

from _observe import describe, final_state, say
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def consume(value):
    return value


@flow
def body_raises():
    raise KeyError("missing")


@flow
def uses_failed_result():
    future = explode.submit()
    say("task:", describe(final_state(future)))
    say("downstream:", describe(final_state(consume.submit(future))))
    return future.result()


say("flow body raised:", describe(body_raises(return_state=True)))
say("flow used a failed result:", describe(uses_failed_result(return_state=True)))
