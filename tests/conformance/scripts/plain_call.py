"""A plain task call inside a flow: Prefect runs it in place (flowcore submits: by design)."""

from _observe import describe, error, say, show
from prefect import flow, task


@task
def double(x):
    return 2 * x


@task
def explode():
    raise ValueError("no good")


@flow
def pipeline():
    value = double(21)
    say("plain call gives:", show(value))
    say("return_state=True gives:", show(double(1, return_state=True)))
    try:
        explode()
        say("failing plain call: no error")
    except Exception as exc:
        say("failing plain call raised", error(exc))
    return value


say("flow:", describe(pipeline(return_state=True), message=False))
