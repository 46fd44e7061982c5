"""A run whose upstream failed never runs: Pending("NotReady"), not counted as failed."""

from _observe import describe, error, final_state, say, show
from prefect import flow, task


@task
def explode():
    raise ValueError("upstream broke")


@task
def consume(value):
    say("consume ran")
    return value


@flow
def pipeline(report: bool):
    upstream = explode.submit()
    downstream = consume.submit(upstream)
    if report:
        say("upstream:", describe(final_state(upstream), message=False))
        say("downstream:", describe(final_state(downstream), message=False))
        say("downstream is_failed():", final_state(downstream).is_failed())
        say("downstream is_final:", final_state(downstream).is_final())


state = pipeline(True, return_state=True)
say("flow:", describe(state))
try:
    say("direct call gave", show(pipeline(False)))
except Exception as exc:
    say("direct call raised", error(exc))
