"""Leak check: fail a test that leaves threads, event loops, processes or Dask clients behind.

Opt in with ``--flow-check-leaks`` (ini ``flow_check_leaks = true``)::

    $ pytest --flow-check-leaks
    ERROR at teardown of test_pipeline
    LeakError: test_pipeline left behind: thread 'worker-3' (alive), child process 4242 (python)

Concepts to functions:

- `Snapshot.take()`: the threads, event loops (running in other threads, or
  created and not closed), child processes and open Dask clients right now.
- `Snapshot.leaked_since(before)`: what is new since ``before``, after a
  short grace period (`GRACE_SECONDS`) for things that are shutting down.
- The hooks: a snapshot before each test's setup, a comparison after its
  teardown; a leak fails the teardown with `LeakError`, naming each thing.

Not counted: what fixtures of a wider scope than the function start (a
module's cluster lives on after its first test), the plugin's session Dask
cluster and client (started on first need, inside some test), and the
process-wide helpers of the libraries: ``distributed``'s IO loop and
executor threads, trio's thread cache, ``multiprocessing``'s resource
tracker, and the deterministic runner's idle pooled threads. The worker
processes of a cluster that was there before the test are not new, even
when its Nanny restarted one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

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
_BEFORE_KEY = pytest.StashKey["Snapshot"]()
_EXCUSED_KEY = pytest.StashKey["Snapshot"]()

_created_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class LeakError(AssertionError):
    """A test left threads, event loops, child processes or Dask clients behind."""


@dataclass(frozen=True)
class Snapshot:
    """What could leak, as it is at one moment."""

    threads: frozenset[threading.Thread] = frozenset()
    loops: frozenset[int] = frozenset()
    children: frozenset[int] = frozenset()
    clients: frozenset[int] = frozenset()
    clusters: frozenset[int] = frozenset()
    names: dict[Any, str] = field(default_factory=dict, compare=False)

    @classmethod
    def take(cls) -> Snapshot:
        names: dict[Any, str] = {}
        threads = frozenset(t for t in threading.enumerate() if t.is_alive())
        loops = set()
        for loop, where in _running_loops_in_other_threads():
            loops.add(id(loop))
            names[id(loop)] = f"event loop running in thread {where!r}"
        for loop in list(_created_loops):
            if not loop.is_closed() and not loop.is_running():
                loops.add(id(loop))
                names[id(loop)] = f"event loop {loop!r} never closed"
        children = set()
        for pid, command in _child_processes():
            children.add(pid)
            names[pid] = f"child process {pid} ({command})"
        clients = set()
        for client in _open_dask_clients():
            clients.add(id(client))
            names[id(client)] = f"Dask client {client!r}"
        clusters = frozenset(id(cluster) for cluster in _dask_clusters())
        return cls(
            threads, frozenset(loops), frozenset(children), frozenset(clients), clusters, names
        )

    def __or__(self, other: Snapshot) -> Snapshot:
        return Snapshot(
            self.threads | other.threads,
            self.loops | other.loops,
            self.children | other.children,
            self.clients | other.clients,
            self.clusters | other.clusters,
            {**self.names, **other.names},
        )

    def minus(self, before: Snapshot) -> list[str]:
        """Names of what is here and was not in ``before``.

        The worker processes of a cluster that was there before are not new,
        even when its Nanny restarted them; idle pooled threads are not either.
        """
        pooled = set(_pooled_threads())
        found = [
            f"thread {thread.name!r}"
            for thread in self.threads
            if thread not in before.threads
            and thread not in pooled
            and not thread.name.startswith(PROCESS_WIDE_THREADS)
        ]
        found += [self.names[key] for key in self.loops - before.loops]
        workers = _worker_pids(before.clusters)
        found += [self.names[key] for key in self.children - before.children - workers]
        found += [self.names[key] for key in self.clients - before.clients]
        return sorted(found)

    def leaked_since(self, before: Snapshot, excused: Snapshot | None = None) -> list[str]:
        """What appeared since ``before`` and is still there after the grace period."""
        allowed = before if excused is None else before | excused
        deadline = time.monotonic() + GRACE_SECONDS
        now = self
        while True:
            leaked = now.minus(allowed)
            if not leaked or time.monotonic() > deadline:
                if leaked and now.loops - allowed.loops:
                    import gc

                    gc.collect()  # unclosed loops nobody holds are garbage, not leaks
                    leaked = Snapshot.take().minus(allowed)
                return leaked
            time.sleep(0.02)
            now = Snapshot.take()


def _running_loops_in_other_threads() -> Iterator[tuple[asyncio.AbstractEventLoop, str]]:
    frames = sys._current_frames()
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.name.startswith(PROCESS_WIDE_THREADS):
            continue
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            candidate = (
                frame.f_locals.get("self") if frame.f_code.co_name == "run_forever" else None
            )
            if isinstance(candidate, asyncio.AbstractEventLoop):
                yield candidate, thread.name
                break
            frame = frame.f_back


def _child_processes() -> Iterator[tuple[int, str]]:
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # without psutil, child processes are not checked
        return
    for child in psutil.Process().children():
        try:
            command = " ".join(child.cmdline())[:80] or child.name()
        except psutil.Error:  # it ended meanwhile
            continue
        if child.status() == psutil.STATUS_ZOMBIE:
            continue
        if not any(word in command for word in PROCESS_WIDE_COMMANDS):
            yield child.pid, command


def _open_dask_clients() -> list[Any]:
    client_module = sys.modules.get("distributed.client")
    if client_module is None:
        return []
    return [c for c in list(client_module.Client._instances) if c.status != "closed"]


def _dask_clusters() -> list[Any]:
    spec_module = sys.modules.get("distributed.deploy.spec")
    if spec_module is None:
        return []
    return [c for c in list(spec_module.SpecCluster._instances) if c.status.name != "closed"]


def _worker_pids(cluster_ids: frozenset[int]) -> set[int]:
    """The worker processes (now) of the clusters with these ids."""
    pids = set()
    for cluster in _dask_clusters():
        if id(cluster) in cluster_ids:
            for worker in list(cluster.workers.values()):
                pid = getattr(worker, "pid", None)
                if pid is not None:
                    pids.add(pid)
    return pids


def _pooled_threads() -> list[threading.Thread]:
    sync_worker = sys.modules.get("pytest_flows.deterministic.sync_worker")
    return sync_worker.idle_threads() if sync_worker is not None else []


def _session_dask(config: pytest.Config) -> Snapshot:
    """The plugin's session cluster and client: they live for the whole session."""
    from pytest_flows import plugin

    session = config.stash.get(plugin._DASK_KEY, None)
    if session is None:
        return Snapshot()
    clusters = frozenset({id(session.cluster)} if session.cluster is not None else set())
    clients = frozenset({id(session._client)} if session._client is not None else set())
    return Snapshot(clients=clients, clusters=clusters)


def _record_loop(original: Any) -> Any:
    def __init__(self: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _created_loops.add(self)

    return __init__


# --- hooks -----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flows", "flowcore flows")
    group.addoption(
        "--flow-check-leaks",
        dest="flow_check_leaks",
        action="store_true",
        default=None,
        help="fail a test that leaves threads, event loops, child processes or Dask "
        "clients behind.",
    )
    parser.addini("flow_check_leaks", "default for --flow-check-leaks", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    enabled = config.getoption("flow_check_leaks")
    if enabled is None:
        enabled = bool(config.getini("flow_check_leaks"))
    config.stash[_ENABLED_KEY] = enabled
    config.stash[_EXCUSED_KEY] = Snapshot()
    if enabled and not hasattr(asyncio.BaseEventLoop.__init__, "_flows_leaks"):
        patched = _record_loop(asyncio.BaseEventLoop.__init__)
        patched._flows_leaks = True
        setattr(asyncio.BaseEventLoop, "__init__", patched)  # noqa: B010 - mypy: no method-assign


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: Any) -> Any:
    """What a fixture wider than a test starts lives on after that test: excuse it."""
    config = request.config
    if not config.stash.get(_ENABLED_KEY, False) or fixturedef.scope == "function":
        return (yield)
    before = Snapshot.take()
    try:
        return (yield)
    finally:
        after = Snapshot.take()
        started = Snapshot(
            after.threads - before.threads,
            after.loops - before.loops,
            after.children - before.children,
            after.clients - before.clients,
            after.clusters - before.clusters,
        )
        config.stash[_EXCUSED_KEY] = config.stash[_EXCUSED_KEY] | started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    if item.config.stash.get(_ENABLED_KEY, False):
        item.stash[_BEFORE_KEY] = Snapshot.take()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    __tracebackhide__ = True  # the report is the message: what leaked, not this hook
    result = yield
    before = item.stash.get(_BEFORE_KEY, None)
    if before is None:
        return result
    excused = item.config.stash[_EXCUSED_KEY] | _session_dask(item.config)
    leaked = Snapshot.take().leaked_since(before, excused)
    if leaked:
        raise LeakError(printable(f"{item.name} left behind: {', '.join(leaked)}"))
    return result
