"""A flow that returns a future takes the outcome of that future's run."""

from _observe import describe, error, say, show
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def returns_failed_future():
    return explode.submit()


@flow
def returns_completed_future():
    return double.submit(21)


say("failed future:", describe(returns_failed_future(return_state=True), message=False))
say("completed future:", describe(returns_completed_future(return_state=True)))
try:
    say("direct call gave", show(returns_failed_future()))
except Exception as exc:
    say("direct call raised", error(exc))
