"""flow_run_name as a format string of the parameters, or as a callable."""

from _observe import say
from prefect import flow
from prefect.context import get_run_context


def fixed_name():
    return "from-a-callable"


@flow(flow_run_name="report-{day}")
def report(day):
    return get_run_context().flow_run.name


@flow(flow_run_name=fixed_name)
def named_by_callable():
    return get_run_context().flow_run.name


@flow
def parent():
    return report("tuesday")


say("format string:", report("monday"))
say("callable:", named_by_callable())
say("as a subflow:", parent())
say("with_options:", report.with_options(flow_run_name="custom-{day}")("friday"))
