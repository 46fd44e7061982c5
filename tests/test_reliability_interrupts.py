"""KeyboardInterrupt and SystemExit inside tasks, under every runner and flow kind.

The flow stops (a run that depends on the interrupted one never starts), the
flow run and the interrupted run end CRASHED, the exception reaches the
caller, and no thread, running event loop or child process is left behind:
the process runs the next flow as before.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from flowcore import StateType, flow, task
from flowcore.task_runners import TaskRunner

INTERRUPTS = (KeyboardInterrupt, SystemExit)
GRACE_SECONDS = 5


@task
def raise_sync(kind: str) -> None:
    raise _interrupt(kind)


@task
async def raise_async(kind: str) -> None:
    raise _interrupt(kind)


@task
def downstream(value: Any) -> str:
    return "ran"


@task
def quick(value: int = 1) -> int:
    return value


def _interrupt(kind: str) -> BaseException:
    return KeyboardInterrupt("stop now") if kind == "KeyboardInterrupt" else SystemExit(3)


# --- what must not be left behind --------------------------------------------------------


def _loops_running_in_threads() -> list[str]:
    """Threads (other than this one) that run an asyncio event loop right now."""
    found = []
    for thread in threading.enumerate():
        if thread is threading.current_thread():
            continue
        frame = sys._current_frames().get(thread.ident or -1)
        while frame is not None:
            if frame.f_code.co_name == "run_forever" and "asyncio" in frame.f_code.co_filename:
                found.append(thread.name)
                break
            frame = frame.f_back
    return found


class Leftovers:
    """Threads, running loops and child processes present now, to compare with later."""

    def __init__(self) -> None:
        self.threads = set(threading.enumerate())
        self.loops = set(_loops_running_in_threads())
        self.children = {child.pid for child in psutil.Process().children()}

    def new_since(self) -> list[str]:
        """What appeared since and is still there after a short grace period."""
        deadline = time.monotonic() + GRACE_SECONDS
        while True:
            found = [
                f"thread {t.name!r}"
                for t in threading.enumerate()
                if t not in self.threads and t.is_alive()
            ]
            found += [
                f"event loop in {name!r}"
                for name in _loops_running_in_threads()
                if name not in self.loops
            ]
            found += [
                f"child process {child.pid}"
                for child in psutil.Process().children()
                if child.pid not in self.children
            ]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def _warm_up(runner: TaskRunner) -> None:
    """Start the process-wide machinery a runner's library keeps (Dask's IO loop)."""

    @flow(task_runner=runner)
    def warm() -> int:
        return quick()

    assert warm() == 1


def _sync_flow(runner: TaskRunner, interrupting: Any) -> Callable[[], Any]:
    @flow(task_runner=runner)
    def pipeline(kind: str) -> Any:
        stopped = interrupting(kind)
        return downstream(stopped)

    return pipeline


def _async_flow(runner: TaskRunner, interrupting: Any) -> Callable[[], Any]:
    @flow(task_runner=runner)
    async def pipeline(kind: str) -> Any:
        stopped = await interrupting(kind)
        return await downstream(stopped)

    return lambda kind: asyncio.run(pipeline(kind))


FLOW_SHAPES = {
    "sync-flow-sync-task": (_sync_flow, raise_sync),
    "sync-flow-async-task": (_sync_flow, raise_async),
    "async-flow-async-task": (_async_flow, raise_async),
    "async-flow-sync-task": (_async_flow, raise_sync),
}


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("shape", list(FLOW_SHAPES))
def test_interrupt_in_a_task_stops_the_flow_reaches_the_caller_and_leaves_nothing(
    runner: TaskRunner, events: Any, interrupt: type[BaseException], shape: str
) -> None:
    _warm_up(runner)
    before = Leftovers()
    make_flow, interrupting = FLOW_SHAPES[shape]
    pipeline = make_flow(runner, interrupting)

    with pytest.raises(interrupt) as raised:
        pipeline(interrupt.__name__)

    if interrupt is SystemExit:
        assert raised.value.code == 3
    else:
        assert str(raised.value) == "stop now"
    flow_name = events.run_names("flow")[-1]
    assert events.state_types(flow_name, "flow")[-1] is StateType.CRASHED
    assert interrupt.__name__ in events.of(flow_name, "flow")[-1].state.message
    assert events.state_types(f"{interrupting.name}-0")[-1] is StateType.CRASHED
    for event in events.events:
        if event.run_name == "downstream-0":
            assert event.state.type is not StateType.RUNNING
    assert before.new_since() == []
    _warm_up(runner)  # the process is usable, the runner starts again


@pytest.mark.parametrize("interrupt", INTERRUPTS, ids=lambda kind: kind.__name__)
def test_interrupt_in_a_subflow_task_crashes_both_flows(
    runner: TaskRunner, events: Any, interrupt: type[BaseException]
) -> None:
    @flow(task_runner=runner)
    def child() -> None:
        raise_sync(interrupt.__name__)

    @flow(task_runner=runner)
    def parent() -> None:
        child()
        quick()

    with pytest.raises(interrupt):
        parent()
    assert [events.state_types(name, "flow")[-1] for name in ("parent-0", "child-0")] == [
        StateType.CRASHED,
        StateType.CRASHED,
    ]
    assert "quick-0" not in events.run_names()
