"""State.result(), is_completed(), is_failed() on flow and task states."""

from _observe import error, final_state, say, show
from prefect import flow, task


@task
def double(x):
    return 2 * x


@flow
def good():
    return double.submit(4).result()


@flow
def bad():
    raise ValueError("no good")


@flow
def task_state():
    return show(final_state(double.submit(1)).result())


completed = good(return_state=True)
failed = bad(return_state=True)
say("completed:", completed.is_completed(), completed.is_failed(), completed.result())
say("failed:", failed.is_completed(), failed.is_failed())
try:
    say("failed.result() gave", show(failed.result()))
except Exception as exc:
    say("failed.result() raised", error(exc))
say("failed.result(raise_on_failure=False):", show(failed.result(raise_on_failure=False)))
say("task state result:", task_state())
