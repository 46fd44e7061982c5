"""task.submit(): a future with result(), a final state; a failed run's result() raises."""

from _observe import describe, error, final_state, say, show
from prefect import flow, task


@task
def double(x):
    return 2 * x


@task
def explode():
    raise ValueError("no good")


@flow
def pipeline():
    ok = double.submit(21)
    say("result():", ok.result())
    say("final state:", describe(final_state(ok), message=False))
    say("state.result():", final_state(ok).result())
    failed = explode.submit()
    try:
        failed.result()
    except Exception as exc:
        say("failed result() raised", error(exc))
    say("result(raise_on_failure=False):", show(failed.result(raise_on_failure=False)))
    say("chained:", double.submit(double.submit(ok)).result())
    return ok.result()


say("flow:", describe(pipeline(return_state=True), message=False))
