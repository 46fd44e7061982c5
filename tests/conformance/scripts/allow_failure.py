"""allow_failure(future): the downstream run still runs; what it receives in place of the result."""

from _observe import describe, final_state, say
from prefect import allow_failure, flow, task


@task
def explode():
    raise ValueError("no good")


@task
def receive(value):
    say("receive got", type(value).__name__, repr(value))
    return "received"


@task
def after():
    say("after ran")
    return "after"


@flow
def pipeline():
    failed = explode.submit()
    as_argument = receive.submit(allow_failure(failed))
    say("as argument:", describe(final_state(as_argument), message=False), as_argument.result())
    as_wait_for = after.submit(wait_for=[allow_failure(failed)])
    say("in wait_for:", describe(final_state(as_wait_for), message=False), as_wait_for.result())


say("flow:", describe(pipeline(return_state=True)))
