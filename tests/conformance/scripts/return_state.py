"""A flow that returns a task run's State takes that state's outcome."""

from _observe import describe, error, final_state, say, show
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def returns_failed_state():
    return final_state(explode.submit())


@flow
def returns_completed_state():
    return final_state(double.submit(21))


say("failed state returned:", describe(returns_failed_state(return_state=True), message=False))
say("completed state returned:", describe(returns_completed_state(return_state=True)))
try:
    say("direct call gave", show(returns_failed_state()))
except Exception as exc:
    say("direct call raised", error(exc))
