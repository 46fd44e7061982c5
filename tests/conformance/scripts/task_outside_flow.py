"""A task called outside any flow: does it run, and what does it give?"""

from _observe import error, say, show
from prefect import task


@task
def double(x):
    return 2 * x


try:
    say("plain call:", show(double(21)))
except Exception as exc:
    say("plain call raised", error(exc))
say("task.fn:", double.fn(4))
try:
    say("submit:", show(double.submit(1)))
except Exception as exc:
    say("submit raised; a RuntimeError:", isinstance(exc, RuntimeError))
