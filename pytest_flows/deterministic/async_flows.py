"""Async flows under the deterministic runner: collecting their runs, then stepping them.

In an async flow, ``await load(1)`` reaches `AsyncFlowDriver.submit` on the
flow's own event loop. The run is registered at once, but stepping waits
until that loop has nothing else ready: by then every call a ``gather``
started has submitted its run, so the seed chooses among all of them. The
driver then steps the runner's loop (on its worker thread) in slices of
`DRIVE_SLICE_SECONDS`, handing the flow's loop back between slices so that
Ctrl-C and the flow's timeout are seen while a sync body runs.

When the runs left cannot move, the flow's loop may yet unblock them: with
a callback ready or a timer set there, the driver looks again after it;
with neither, the runs are deadlocked (`DeadlockError`). Looking at the
flow's loop goes through `asyncio_adapter`, which refuses loops it cannot
read (uvloop).
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from flowcore.errors import InvalidArgument
from flowcore.futures import settle
from pytest_flows.deterministic.asyncio_adapter import check_drivable, has_ready, next_timer

if TYPE_CHECKING:
    from flowcore.states import State
    from flowcore.task_engine import TaskRun
    from pytest_flows.deterministic.runner import DeterministicTaskRunner

__all__ = ["DRIVE_SLICE_SECONDS", "AsyncFlowDriver"]

MAX_DEFERRALS = 1000
"""How many times the driver waits for the flow's loop to have nothing ready, at most."""
DRIVE_SLICE_SECONDS = 0.05
"""An async flow's loop waits for the runner's steps in slices this long, so that a sync
body that blocks does not keep the flow from its timeout or from Ctrl-C."""


class AsyncFlowDriver:
    """Submits an async flow's runs to ``runner`` and steps them from the flow's loop."""

    def __init__(self, runner: DeterministicTaskRunner) -> None:
        self._runner = runner
        self._scheduled = False
        self._checked: asyncio.AbstractEventLoop | None = None  # a flow loop found drivable

    async def submit(self, run: TaskRun) -> State:
        """Run ``run`` on the runner's loop; its final state once the driver has stepped it."""
        flow_loop = self._checked = _flow_loop(self._checked)
        runner = self._runner
        handle = runner.submit(run)  # its upstream runs are done: it is ready at once
        finished = flow_loop.create_future()
        flow_thread = threading.get_ident()
        handle.add_done_callback(lambda _h: _wake(flow_loop, flow_thread, finished))
        self._schedule(flow_loop, 0)
        try:
            await finished
        except asyncio.CancelledError:
            runner._cancel_pending([handle])
            raise
        state = handle.result()  # raises what ended the run instead: a deadlock, a crash
        return state if state is not None else settle(handle.run, handle)  # shut down: CANCELLED

    def _schedule(self, flow_loop: asyncio.AbstractEventLoop, deferrals: int) -> None:
        if not self._scheduled:
            self._scheduled = True
            flow_loop.call_soon(self._drive, flow_loop, deferrals)

    def _drive(self, flow_loop: asyncio.AbstractEventLoop, deferrals: int) -> None:
        """Once the flow's loop has nothing else ready (every gathered call has submitted
        its run), run every pending run to its end."""
        self._scheduled = False
        runner = self._runner
        if not runner._pending or runner._loop is None:
            return
        if has_ready(flow_loop) and deferrals < MAX_DEFERRALS:
            self._schedule(flow_loop, deferrals + 1)
            return
        runner._guarded(lambda: self._drive_pending(flow_loop))

    def _drive_pending(self, flow_loop: asyncio.AbstractEventLoop) -> None:
        runner = self._runner
        try:
            finished = runner._drive(lambda: not runner._pending, DRIVE_SLICE_SECONDS)
        except TimeoutError:  # a sync body still runs: let the flow's loop see to Ctrl-C and
            self._schedule(flow_loop, 0)  # its timeout meanwhile, then wait on
            return
        if finished:
            return
        timer = next_timer(flow_loop)
        if has_ready(flow_loop):  # the flow may yet submit what unblocks them
            self._schedule(flow_loop, 0)
        elif timer is not None:
            flow_loop.call_at(timer, self._schedule, flow_loop, 0)
        else:
            runner._deadlock()


def _flow_loop(checked: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop:
    """The running loop, if the driver can drive it (``checked``: one found so already)."""
    try:
        flow_loop = asyncio.get_running_loop()
    except RuntimeError:
        raise InvalidArgument(
            "DeterministicTaskRunner runs async flows on asyncio only; run the flow with "
            "asyncio.run(...) or anyio's asyncio backend"
        ) from None
    if flow_loop is not checked:
        check_drivable(flow_loop)
    return flow_loop


def _wake(
    flow_loop: asyncio.AbstractEventLoop, flow_thread: int, finished: asyncio.Future[None]
) -> None:
    """Resolve ``finished`` once its run is done: at once from the flow loop's own thread
    (which steps async runs, from a callback of that loop: the awaiting coroutine resumes
    at its next turn, as a call_soon would have it resolve it then), from the worker's
    through the loop's self-pipe (a system call, and a wake-up of the loop, per run)."""
    if threading.get_ident() == flow_thread:
        _resolve(finished)
    else:
        flow_loop.call_soon_threadsafe(_resolve, finished)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
