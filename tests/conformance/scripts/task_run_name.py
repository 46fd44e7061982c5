"""task_run_name as a format string of the parameters, or as a callable."""

from _observe import say
from prefect import flow, task
from prefect.context import get_run_context


def fixed_name():
    return "from-a-callable"


@task(task_run_name="load-{x}")
def load(x):
    return get_run_context().task_run.name


@task(task_run_name="{source}-{day:02d}")
def fetch(source, day):
    return get_run_context().task_run.name


@task(task_run_name=fixed_name)
def named_by_callable():
    return get_run_context().task_run.name


@task(name="loader")
def renamed():
    return get_run_context().task_run.name


@task
def unnamed():
    return get_run_context().task_run.name


@flow
def pipeline():
    say("format string:", load.submit(7).result())
    say("two fields:", fetch.submit("api", 3).result())
    say("callable:", named_by_callable.submit().result())
    say("with_options:", load.with_options(task_run_name="custom-{x}").submit(1).result())
    say("task name=:", renamed.submit().result())
    say("default, first two:", unnamed.submit().result(), unnamed.submit().result())


pipeline()
