"""get_run_context() in a task and in a flow: what it holds; outside a run it raises."""

from _observe import say
from prefect import flow, task
from prefect.context import get_run_context


@task
def load(x, scale=2):
    context = get_run_context()
    say("in task: has task_run", hasattr(context, "task_run"))
    say("  task.name:", context.task.name)
    say("  task_run.name:", context.task_run.name)
    say("  parameters:", sorted(context.parameters.items()))
    return x * scale


@flow(flow_run_name="ctx")
def pipeline(n, label="x"):
    context = get_run_context()
    say("in flow: has flow_run", hasattr(context, "flow_run"))
    say("  has task_run", hasattr(context, "task_run"))
    say("  flow.name:", context.flow.name)
    say("  flow_run.name:", context.flow_run.name)
    say("  flow_run.parameters:", sorted(context.flow_run.parameters.items()))
    return load.submit(n).result()


say("flow result:", pipeline(3))
try:
    get_run_context()
    say("outside a run: no error")
except Exception as exc:
    say("outside a run raised", type(exc).__name__)
