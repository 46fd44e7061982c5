"""A flow body that raises: FAILED, the call raises it, an uncaught one exits the script with 1."""

from _observe import describe, error, say, show
from prefect import flow, task


@task
def double(x):
    return 2 * x


@flow
def raises_after_work():
    double.submit(1)
    raise RuntimeError("the body gave up")


say("flow:", describe(raises_after_work(return_state=True), message=False))
try:
    say("direct call gave", show(raises_after_work()))
except Exception as exc:
    say("direct call raised", error(exc))
say("now uncaught:")
raises_after_work()
say("never printed")
