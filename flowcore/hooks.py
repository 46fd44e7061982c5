"""State hooks: functions called when a run enters a state, as Prefect calls them.

A task takes ``on_completion``, ``on_failure`` and ``on_running``; a flow
also ``on_crashed`` and ``on_cancellation``. Each is a list of callables,
called with keywords once the run has entered that state::

    def notify(task, task_run, state): ...     # a task's hook
    def page_me(flow, flow_run, state): ...    # a flow's hook

    @task(on_failure=[notify])
    def load(x): ...

Each call is logged on the run's logger (``flowcore.task_runs`` /
``flowcore.flow_runs``): ``Running hook 'notify' in response to entering
state 'Failed'``, then ``Hook 'notify' finished running successfully``. A
hook that raises is logged with its traceback (``An error was encountered
while running hook 'notify'``) and changes nothing: the run's state stays
the one it entered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from flowcore.errors import InvalidArgument
from flowcore.states import State, StateType

__all__ = ["FLOW_HOOKS", "TASK_HOOKS", "Hooks", "check_hooks", "run_hooks"]

TASK_HOOKS = ("on_completion", "on_failure", "on_running")
FLOW_HOOKS = ("on_completion", "on_failure", "on_crashed", "on_cancellation", "on_running")

_HOOK_FOR_TYPE = {
    StateType.COMPLETED: "on_completion",
    StateType.FAILED: "on_failure",
    StateType.CRASHED: "on_crashed",
    StateType.CANCELLED: "on_cancellation",
    StateType.RUNNING: "on_running",
}


class Hooks(NamedTuple):
    """The hooks of one task or flow, by option name."""

    by_option: Mapping[str, tuple[Callable[..., Any], ...]]

    def for_state(self, state: State) -> tuple[Callable[..., Any], ...]:
        option = _HOOK_FOR_TYPE.get(state.type)
        return self.by_option.get(option, ()) if option is not None else ()


def check_hooks(options: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> Hooks | None:
    """The hooks among ``options`` (lists of callables), or None if there are none."""
    found: dict[str, tuple[Callable[..., Any], ...]] = {}
    for option in allowed:
        hooks = options.get(option)
        if hooks is None:
            continue
        if callable(hooks) or isinstance(hooks, (str, bytes)) or not isinstance(hooks, Iterable):
            raise InvalidArgument(
                f"{option} of {what} must be a list of callables, got {hooks!r}; "
                f"write {option}=[{getattr(hooks, '__name__', 'hook')}]"
            )
        checked = tuple(hooks)
        for hook in checked:
            if not callable(hook):
                raise InvalidArgument(f"{option} of {what} must hold callables, got {hook!r}")
        if checked:
            found[option] = checked
    return Hooks(found) if found else None


def run_hooks(
    hooks: Hooks | None,
    state: State,
    logger_name: str,
    extra: Mapping[str, Any],
    arguments: Mapping[str, Any],
) -> None:
    """Call the hooks for ``state`` with ``arguments`` as keywords, logging each call."""
    if hooks is None:
        return
    selected = hooks.for_state(state)
    if not selected:
        return
    import logging  # here: most runs have no hooks, and `import flowcore` stays light

    logger = logging.getLogger(logger_name)
    for hook in selected:
        name = getattr(hook, "__name__", repr(hook))
        logger.info(
            "Running hook %r in response to entering state %r", name, state.name, extra=extra
        )
        try:
            hook(**arguments)
        except Exception:
            logger.exception(
                "An error was encountered while running hook %r", name, extra=dict(extra)
            )
        else:
            logger.info("Hook %r finished running successfully", name, extra=extra)
