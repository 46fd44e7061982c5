"""get_run_logger() in flows and tasks: logger names, levels, run names; outside a run it raises."""

from _observe import LogCapture, error, package_of, say
from prefect import flow, get_run_logger, task


@task
def load(x):
    get_run_logger().info("msg: loading %s", x)
    get_run_logger().warning("msg: careful with %s", x)
    return x


@flow(flow_run_name="nightly")
def pipeline():
    logger = get_run_logger()
    logger.info("msg: flow starts")
    load.submit(7).result()
    logger.debug("msg: debug is below the default level")
    logger.error("msg: flow ends")


logs = LogCapture(package_of(flow))
pipeline()
logs.report()
try:
    get_run_logger()
    say("outside a run: no error")
except Exception as exc:
    say("outside a run raised", error(exc))
