"""A flow that returns None is FAILED when any of its runs failed ("k/n states failed.")."""

from _observe import describe, error, say, show
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def one_of_three_failed():
    double.submit(1)
    double.submit(2)
    explode.submit()


@flow
def all_completed():
    double.submit(1)
    double.submit(2)


@flow
def no_tasks():
    pass


say("one of three failed:", describe(one_of_three_failed(return_state=True)))
say("all completed:", describe(all_completed(return_state=True)))
say("no tasks:", describe(no_tasks(return_state=True)))
try:
    say("direct call gave", show(one_of_three_failed()))
except Exception as exc:
    say("one failed, direct call raised", error(exc))
