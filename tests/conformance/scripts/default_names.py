"""Default flow and task names (from the function), and the name= option."""

from _observe import say
from prefect import flow, task


@task
def load_rows():
    return 1


@task(name="custom task")
def renamed_task():
    return 1


@flow
def nightly_report():
    return 1


@flow(name="custom flow")
def renamed_flow():
    return 1


say("task from load_rows:", repr(load_rows.name))
say("task with name=:", repr(renamed_task.name))
say("flow from nightly_report:", repr(nightly_report.name))
say("flow with name=:", repr(renamed_flow.name))
