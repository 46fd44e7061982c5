"""Flow state hooks: which are called, with which arguments; a raising hook changes nothing."""

from _observe import LogCapture, describe, error, package_of, say
from prefect import flow


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


def broken_hook(flow, flow_run, state):
    raise RuntimeError("hook failed")


HOOKS = {
    name: [recorder(name)]
    for name in ("on_completion", "on_failure", "on_crashed", "on_cancellation", "on_running")
}


@flow(**HOOKS)
def maybe(fail):
    if fail:
        raise ValueError("asked to fail")
    return "ok"


@flow(on_completion=[broken_hook, recorder("after_broken")])
def fine():
    return "fine"


logs = LogCapture(package_of(flow), level=40)
say("completing:", describe(maybe(False, return_state=True), message=False))
say("failing:", describe(maybe(True, return_state=True), message=False))
try:
    say("broken hook, direct call gives:", fine())
except Exception as exc:
    say("broken hook, direct call raised", error(exc))
say("an error record names the broken hook:", any("broken_hook" in line for line in logs.lines))
