"""quote(value) passes a value to a task as it is, without looking inside it for futures."""

from _observe import say, show
from prefect import flow, task
from prefect.utilities.annotations import quote


@task
def double(x):
    return 2 * x


@task
def inspect(value):
    say("inspect got", show(value))
    return len(value)


@flow
def pipeline():
    data = list(range(5))
    say("plain list:", inspect.submit(quote(data)).result())
    holding = [double.submit(1)]
    say("list holding a future, quoted:", inspect.submit(quote(holding)).result())
    say("same list, not quoted:", inspect.submit(holding).result())


pipeline()
