"""log_prints=True sends print() in the flow, and in its tasks (inherited), to the run loggers."""

from _observe import LogCapture, package_of
from prefect import flow, task


@task
def inherits(x):
    print(f"msg: inherits {x}")
    return x


@task(log_prints=False)
def opts_out(x):
    print(f"msg: opts out {x}")
    return x


@task
def in_quiet_flow(x):
    print(f"msg: quiet flow task {x}")
    return x


@flow(log_prints=True, flow_run_name="loud")
def loud():
    print("msg: flow body")
    inherits.submit(1).result()
    opts_out.submit(2).result()


@flow(flow_run_name="quiet")
def quiet():
    print("msg: quiet flow body")
    in_quiet_flow.submit(3).result()


logs = LogCapture(package_of(flow))
loud()
quiet()
logs.report()
