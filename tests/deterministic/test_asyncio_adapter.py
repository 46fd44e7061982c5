"""The asyncio adapter: the internals the deterministic runner uses, on every supported Python.

The adapter imports only the standard library, so each interpreter found
(``~/.pyenv/versions/3.1x*`` or on ``PATH``) loads it by path and drives a
small stepped loop with it; an interpreter that is not installed is skipped.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flows.deterministic import asyncio_adapter
from pytest_flows.deterministic.asyncio_adapter import (
    UnsupportedEventLoop,
    check_drivable,
    has_ready,
    next_timer,
    no_running_loop,
)

SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")

# Run by each interpreter with the adapter's path as argv[1].
STEPPED_LOOP_CHECK = r"""
import asyncio, contextvars, importlib.util, sys, threading

spec = importlib.util.spec_from_file_location("asyncio_adapter", sys.argv[1])
adapter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(adapter)

LABEL = contextvars.ContextVar("label", default="none")

class FifoLoop(adapter.SteppedLoopBase):
    def __init__(self):
        super().__init__()
        self.timers = []
        self.cancelled = 0
        self.woken = threading.Event()

    def time(self):
        return 0.0

    def note_cancelled(self):
        self.cancelled += 1

    def on_wakeup(self):
        self.woken.set()

    def call_at(self, when, callback, *args, context=None):
        self.check_open()
        timer = self.set_timer_handle(when, callback, args, context)
        self.timers.append(timer)
        return timer

    def call_later(self, delay, callback, *args, context=None):
        return self.call_at(delay, callback, *args, context=context)

    def run_until(self, done):
        labels = []
        with adapter.running_as(self):
            while not done():
                ready = self.ready_steps()
                if not ready:
                    due = [t for t in self.timers if not t.cancelled()]
                    self.timers.clear()
                    for timer in due:
                        self.mark_due(timer)
                        ready.append(timer)
                    if not ready:
                        return labels, False
                step = ready.popleft()
                context = adapter.step_context(step)
                labels.append(context.get(LABEL) if context is not None else "none")
                if not self.is_cancelled(step):
                    self.run_step(step)
        return labels, True

loop = FifoLoop()
order = []

async def worker(name):
    order.append(name + "1")
    await asyncio.sleep(0)
    order.append(name + "2")
    await asyncio.sleep(5)  # a timer
    with adapter.no_running_loop():
        assert asyncio.run(asyncio.sleep(0, result=3)) == 3
    order.append(name + "3")
    return name

tasks = []
for name in "ab":
    context = contextvars.copy_context()
    context.run(LABEL.set, name)
    tasks.append(context.run(loop.create_task, worker(name)))
labels, finished = loop.run_until(lambda: all(t.done() for t in tasks))
assert finished, labels
assert [t.result() for t in tasks] == ["a", "b"]
assert order == ["a1", "b1", "a2", "b2", "a3", "b3"], order
assert labels[:2] == ["a", "b"], labels

before = loop.cancelled
handle = loop.call_soon(order.append, "never")
handle.cancel()
timer = loop.call_later(1, order.append, "never")
timer.cancel()
assert loop.cancelled == before + 2, (before, loop.cancelled)

threading.Thread(target=loop.call_soon_threadsafe, args=(order.append, "threadsafe")).start()
assert loop.woken.wait(5)
loop.run_until(lambda: "threadsafe" in order)
assert "never" not in order
loop.close()

plain = asyncio.new_event_loop()
adapter.check_drivable(plain)
assert not adapter.has_ready(plain) and adapter.next_timer(plain) is None
plain.call_soon(print)
plain.call_at(plain.time() + 60, print)
assert adapter.has_ready(plain) and adapter.next_timer(plain) is not None
plain.close()
print("adapter ok on", sys.version.split()[0])
"""


class StandInLoop(asyncio.AbstractEventLoop):
    """A loop not built on asyncio.BaseEventLoop, as uvloop's is not."""


def find_python(version: str) -> str | None:
    pattern = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")
    found = sorted(glob.glob(pattern))
    if found:
        return found[-1]
    if sys.version_info[:2] == tuple(int(part) for part in version.split(".")):
        return sys.executable
    return shutil.which(f"python{version}")


@pytest.mark.parametrize("version", SUPPORTED_PYTHONS)
def test_adapter_drives_a_stepped_loop_on_each_supported_python(version: str) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed")
    result = subprocess.run(
        [python, "-c", STEPPED_LOOP_CHECK, str(Path(asyncio_adapter.__file__))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"adapter ok on {version}" in result.stdout


def test_loop_without_the_internals_is_refused_naming_it() -> None:
    with pytest.raises(UnsupportedEventLoop, match=r"StandInLoop.*asyncio\.run"):
        check_drivable(StandInLoop())


def test_asyncio_loop_reports_ready_callbacks_and_its_next_timer() -> None:
    loop = asyncio.new_event_loop()
    try:
        check_drivable(loop)
        assert not has_ready(loop)
        assert next_timer(loop) is None
        loop.call_soon(print)
        timer = loop.call_at(loop.time() + 60, print)
        assert has_ready(loop)
        assert next_timer(loop) == timer.when()
    finally:
        loop.close()


def test_sync_body_can_start_its_own_loop_while_one_runs() -> None:
    async def outer() -> int:
        with no_running_loop():
            return asyncio.run(asyncio.sleep(0, result=7))

    assert asyncio.run(outer()) == 7
