"""A flow called in a flow is a subflow: its value, its failure, its state."""

from _observe import describe, error, say
from prefect import flow, task


@task
def double(x):
    return 2 * x


@flow
def child(x):
    return double.submit(x).result() + 1


@flow
def failing_child():
    raise ValueError("child failed")


@flow
def parent():
    say("child value:", child(3))
    say("child state:", describe(child(4, return_state=True)))
    try:
        failing_child()
    except Exception as exc:
        say("failing child raised", error(exc))
    say("failing child state:", describe(failing_child(return_state=True), message=False))
    return "parent done"


say("parent:", describe(parent(return_state=True)))
