"""A flow that returns a State it built itself ends in that state."""

from _observe import describe, error, say, show
from prefect import flow
from prefect.states import Completed, Failed


@flow
def gives_up():
    return Failed(message="gave up on purpose")


@flow
def succeeds():
    return Completed(message="done by hand")


say("returned Failed:", describe(gives_up(return_state=True)))
say("returned Completed:", describe(succeeds(return_state=True)))
say("Completed direct call gives:", show(succeeds()))
try:
    say("direct call gave", show(gives_up()))
except Exception as exc:
    say("Failed direct call raised", error(exc))
