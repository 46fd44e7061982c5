"""Which state-hook options @task and @flow accept (Prefect 2.20 tasks: no on_crashed)."""

from _observe import error, say
from prefect import flow, task


def hook(*args, **kwargs):
    pass


for name in ("on_completion", "on_failure", "on_crashed", "on_running"):
    try:
        task(**{name: [hook]})(lambda: None)
        say(f"@task({name}=...): accepted")
    except TypeError as exc:
        say(f"@task({name}=...): TypeError", "unexpected keyword" in str(exc))
for name in ("on_completion", "on_failure", "on_crashed", "on_cancellation", "on_running"):
    try:
        flow(**{name: [hook]})(lambda: None)
        say(f"@flow({name}=...): accepted")
    except Exception as exc:
        say(f"@flow({name}=...):", error(exc))
