"""A flow that returns data holding futures (a dict, a nested list) is COMPLETED."""

from _observe import describe, say
from prefect import flow, task


@task
def explode():
    raise ValueError("no good")


@task
def double(x):
    return 2 * x


@flow
def dict_with_failed_future():
    return {"bad": explode.submit(), "ok": double.submit(1)}


@flow
def nested_list():
    return [[double.submit(1)], 5]


say("dict holding a failed future:", describe(dict_with_failed_future(return_state=True)))
say("nested list:", describe(nested_list(return_state=True)))
