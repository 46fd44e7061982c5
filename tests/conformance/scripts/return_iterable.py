"""A flow that returns a list or tuple of futures or states is decided by all of them."""

from _observe import describe, error, final_state, say, show
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def futures_one_failed():
    return [double.submit(1), explode.submit()]


@flow
def futures_all_completed():
    return (double.submit(1), double.submit(2))


@flow
def states_one_failed():
    return [final_state(double.submit(1)), final_state(explode.submit())]


say("list of futures, one failed:", describe(futures_one_failed(return_state=True)))
say("tuple of futures, all completed:", describe(futures_all_completed(return_state=True)))
say("list of states, one failed:", describe(states_one_failed(return_state=True)))
try:
    say("direct call gave", show(futures_one_failed()))
except Exception as exc:
    say("one failed, direct call raised", error(exc))
