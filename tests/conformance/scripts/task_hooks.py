"""Task state hooks: which are called, with which arguments; a raising hook changes nothing."""

from _observe import LogCapture, describe, final_state, package_of, say
from prefect import flow, task


def recorder(label):
    def hook(*args, **kwargs):
        state = kwargs.get("state", args[-1] if args else None)
        say(
            f"hook {label}: {len(args)} positional, keywords {sorted(kwargs)},",
            "state",
            describe(state, message=False),
        )

    hook.__name__ = f"hook_{label}"
    return hook


def broken_hook(task, task_run, state):
    raise RuntimeError("hook failed")


@task(
    on_completion=[recorder("on_completion")],
    on_failure=[recorder("on_failure")],
)
def maybe(fail):
    if fail:
        raise ValueError("asked to fail")
    return "ok"


@task(on_completion=[broken_hook, recorder("after_broken")])
def fine():
    return "fine"


@flow
def pipeline():
    say("completing:", describe(final_state(maybe.submit(False)), message=False))
    say("failing:", describe(final_state(maybe.submit(True)), message=False))
    say("broken hook:", describe(final_state(fine.submit()), message=False))


logs = LogCapture(package_of(flow), level=40)
say("flow:", describe(pipeline(return_state=True)))
say("an error record names the broken hook:", any("broken_hook" in line for line in logs.lines))
