"""Leak check: fail a test that leaves threads or child processes behind.

Opt in with ``--flow-check-leaks`` (ini ``flow_check_leaks = true``)::

    $ pytest --flow-check-leaks
    ERROR at teardown of test_pipeline
    LeakError: test_pipeline left behind: thread 'worker-3', child process 4242 (python)

Concepts to functions:

- `Snapshot.take()`: the live threads (`threading.enumerate`) and child
  processes (psutil, when installed) right now.
- `Snapshot.leaked_since(before)`: what is new since ``before``, after a
  short grace period (`GRACE_SECONDS`) for things that are shutting down.
- The hooks: a snapshot before each test's setup, a comparison after its
  teardown; a leak fails the teardown with `LeakError`, naming each thing.

Only public means are used, so some leaks are seen through what they hold:
an event loop left running in a thread is that thread; a Dask cluster left
open is its worker processes (or, in-process, its threads). An event loop
never closed, or a Dask client left open on a cluster that lives on, holds
neither and is not reported.

Not counted: what fixtures of a wider scope than the function start (a
module's cluster lives on after its first test; its worker processes stay
excused when a Nanny restarts one), the worker processes of the plugin's
session Dask cluster (started on first need, inside some test),
and the process-wide helpers of the libraries: ``distributed``'s IO loop and
executor threads, trio's thread cache, ``multiprocessing``'s resource
tracker, and the deterministic runner's idle pooled threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_flows.deterministic.sync_worker import idle_threads
from pytest_flows.plugin.dask_session import dask_session
from pytest_flows.plugin.options import check_leaks
from pytest_flows.printable import printable

__all__ = ["GRACE_SECONDS", "LeakError", "Snapshot"]

GRACE_SECONDS = 2.0
# Threads libraries keep for the whole process, not for one test.
PROCESS_WIDE_THREADS = (
    "IO loop",  # distributed's shared event loop
    "Dask-Offload",
    "Dask-Callback-Thread",
    "TCP-Executor",
    "AsyncProcess Dask Worker process",  # a Nanny's watchers of its worker
    "QueueFeederThread",  # multiprocessing queues of those workers
    "Trio thread",  # trio's cache of idle worker threads
)
PROCESS_WIDE_COMMANDS = ("resource_tracker", "forkserver")

_ENABLED_KEY = pytest.StashKey[bool]()
_CLUSTERS_KEY = pytest.StashKey[list[Any]]()
_BEFORE_KEY = pytest.StashKey["Snapshot"]()
_EXCUSED_KEY = pytest.StashKey["Snapshot"]()


class LeakError(AssertionError):
    """A test left threads or child processes behind."""


@dataclass(frozen=True)
class Snapshot:
    """What could leak, as it is at one moment."""

    threads: frozenset[threading.Thread] = frozenset()
    children: frozenset[int] = frozenset()
    commands: dict[int, str] = field(default_factory=dict, compare=False)

    @classmethod
    def take(cls) -> Snapshot:
        threads = frozenset(t for t in threading.enumerate() if t.is_alive())
        commands = dict(_child_processes())
        return cls(threads, frozenset(commands), commands)

    def __or__(self, other: Snapshot) -> Snapshot:
        return Snapshot(
            self.threads | other.threads,
            self.children | other.children,
            {**self.commands, **other.commands},
        )

    def started_since(self, before: Snapshot) -> Snapshot:
        """What is here and was not in ``before``."""
        return Snapshot(self.threads - before.threads, self.children - before.children)

    def minus(self, before: Snapshot) -> list[str]:
        """Names of what is here and was not in ``before`` (idle pooled threads aside)."""
        pooled = set(idle_threads())
        found = [
            f"thread {thread.name!r}"
            for thread in self.threads
            if thread not in before.threads
            and thread not in pooled
            and not thread.name.startswith(PROCESS_WIDE_THREADS)
        ]
        found += [
            f"child process {pid} ({self.commands[pid]})" for pid in self.children - before.children
        ]
        return sorted(found)

    def leaked_since(self, before: Snapshot, excused: Snapshot | None = None) -> list[str]:
        """What appeared since ``before`` and is still there after the grace period."""
        allowed = before if excused is None else before | excused
        deadline = time.monotonic() + GRACE_SECONDS
        now = self
        while True:
            leaked = now.minus(allowed)
            if not leaked or time.monotonic() > deadline:
                return leaked
            time.sleep(0.02)
            now = Snapshot.take()


def _child_processes() -> Iterator[tuple[int, str]]:
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # without psutil, child processes are not checked
        return
    for child in psutil.Process().children():
        try:
            command = " ".join(child.cmdline())[:80] or child.name()
            zombie = child.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:  # it ended meanwhile
            continue
        if not zombie and not any(word in command for word in PROCESS_WIDE_COMMANDS):
            yield child.pid, command


def _lasting_workers(config: pytest.Config) -> Snapshot:
    """The worker processes, now, of the clusters that outlive a test: the plugin's session
    cluster and those wider fixtures returned (a Nanny restarts a killed worker anew)."""
    session = dask_session(config)
    clusters = [*config.stash.get(_CLUSTERS_KEY, [])]
    if session is not None and session.cluster is not None:
        clusters.append(session.cluster)
    pids = {
        getattr(worker, "pid", None)
        for cluster in clusters
        for worker in list(cluster.workers.values())
    }
    return Snapshot(children=frozenset(pid for pid in pids if isinstance(pid, int)))


def _is_cluster(value: object) -> bool:
    """A Dask cluster (`distributed.SpecCluster`), told by its public ``workers`` dict."""
    return isinstance(getattr(value, "workers", None), dict) and hasattr(value, "scale")


# --- hooks -----------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ENABLED_KEY] = check_leaks(config)
    config.stash[_EXCUSED_KEY] = Snapshot()
    config.stash[_CLUSTERS_KEY] = []


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: Any) -> Any:
    """What a fixture wider than a test starts lives on after that test: excuse it."""
    config = request.config
    if not config.stash.get(_ENABLED_KEY, False) or fixturedef.scope == "function":
        return (yield)
    before = Snapshot.take()
    try:
        value = yield
        if _is_cluster(value):
            config.stash[_CLUSTERS_KEY].append(value)
        return value
    finally:
        started = Snapshot.take().started_since(before)
        config.stash[_EXCUSED_KEY] = config.stash[_EXCUSED_KEY] | started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    if item.config.stash.get(_ENABLED_KEY, False):
        item.stash[_BEFORE_KEY] = Snapshot.take()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    __tracebackhide__ = True  # the report is the message: what leaked, not this hook
    result = yield
    before = item.stash.get(_BEFORE_KEY, None)
    if before is None:
        return result
    excused = item.config.stash[_EXCUSED_KEY] | _lasting_workers(item.config)
    leaked = Snapshot.take().leaked_since(before, excused)
    if leaked:
        raise LeakError(printable(f"{item.name} left behind: {', '.join(leaked)}"))
    return result
