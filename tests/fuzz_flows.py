"""Random small flows as data, run in a child process, reported as JSON.

A `FlowSpec` describes a flow: 1-6 tasks (sync or async, how long each
attempt sleeps, how many attempts raise, retries and their delay, a timeout,
which earlier tasks it takes results from or waits for), whether the flow is
async, its timeout and what it returns. `run_example` builds that flow, runs
it under one runner while recording every published event, and returns a
`report`: each run's history and events, the flow's, the call's duration.

Examples run in processes forked from a server that has imported everything
once (`serve`, started by `ExampleServer`), so an example costs milliseconds
of start-up; one that does not finish by its deadline is killed with SIGKILL.
Run one example by hand, to reproduce what a test reported::

    python tests/fuzz_flows.py run concurrent '{"tasks": [...], ...}'

Task bodies are built here, in the server's ``__main__``, so cloudpickle
sends them to Dask workers by value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

RUNNERS = ("sequential", "concurrent", "async", "dask", "deterministic")
RETURNS = ("none", "futures", "results")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task of a fuzzed flow, submitted once.

    Each attempt sleeps ``sleep`` seconds, then raises if it is one of the
    first ``failures`` attempts. ``upstream`` are earlier tasks whose results
    it takes as arguments, ``wait_for`` earlier tasks it only waits for.
    ``unpicklable`` makes it return a lock. In an async flow ``called`` means
    ``await t(...)`` (its result) rather than ``await t.submit(...)`` (its
    future); in a sync flow, ``t(...)`` rather than ``t.submit(...)``.
    """

    is_async: bool = False
    sleep: float = 0.0
    failures: int = 0
    retries: int = 0
    retry_delay: float = 0.0
    timeout: float | None = None
    upstream: tuple[int, ...] = ()
    wait_for: tuple[int, ...] = ()
    unpicklable: bool = False
    called: bool = False


@dataclasses.dataclass(frozen=True)
class FlowSpec:
    """A fuzzed flow: its tasks, in submission order, and how the flow itself behaves."""

    tasks: tuple[TaskSpec, ...]
    is_async: bool = False
    timeout: float | None = None
    returns: str = "none"
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FlowSpec:
        data = json.loads(text)
        tasks = tuple(
            TaskSpec(**{**item, "upstream": tuple(item["upstream"]),
                        "wait_for": tuple(item["wait_for"])})
            for item in data.pop("tasks")
        )  # fmt: skip
        return cls(tasks=tasks, **data)


# --- building and running a flow (in the child process) ----------------------------


def _attempt() -> int:
    """How many attempts the current task run has started, this one included."""
    from flowcore.context import current_task_run
    from flowcore.states import StateType

    run = current_task_run()
    return sum(1 for state in run.history if state.type is StateType.RUNNING)


def _outcome(index: int, failures: int, unpicklable: bool, inputs: tuple[Any, ...]) -> Any:
    if _attempt() <= failures:
        raise ValueError(f"t{index} fails on purpose")
    if unpicklable:
        return threading.Lock()
    return 1 + sum(value for value in inputs if isinstance(value, int))


def _body(index: int, spec: TaskSpec) -> Any:
    sleep, failures, unpicklable = spec.sleep, spec.failures, spec.unpicklable
    if spec.is_async:

        async def async_body(*inputs: Any) -> Any:
            import asyncio

            await asyncio.sleep(sleep)
            return _outcome(index, failures, unpicklable, inputs)

        return async_body

    def sync_body(*inputs: Any) -> Any:
        time.sleep(sleep)
        return _outcome(index, failures, unpicklable, inputs)

    return sync_body


def _tasks(spec: FlowSpec) -> list[Any]:
    from flowcore import task

    return [
        task(
            _body(index, item),
            name=f"t{index}",
            retries=item.retries,
            retry_delay_seconds=item.retry_delay,
            timeout_seconds=item.timeout,
        )
        for index, item in enumerate(spec.tasks)
    ]


def _make_runner(name: str, spec: FlowSpec, address: str | None) -> Any:
    from flowcore import task_runners

    if name == "deterministic":
        from pytest_flows import DeterministicTaskRunner

        return DeterministicTaskRunner(seed=spec.seed)
    if name == "dask":
        return task_runners.DaskTaskRunner(address=address)
    classes = {
        "sequential": task_runners.SequentialTaskRunner,
        "concurrent": task_runners.ConcurrentTaskRunner,
        "async": task_runners.AsyncTaskRunner,
    }
    return classes[name]()


def _watch_flow_run(seen: list[Any]) -> None:
    """Note the flow run, and keep every task run its attempt starts: its ledger keeps only
    the unfinished ones."""
    from flowcore.context import current_flow_run
    from flowcore.ledger import TaskRunLedger

    class KeepingLedger(TaskRunLedger):
        __slots__ = ("kept",)

        def __init__(self) -> None:
            super().__init__()
            self.kept: list[Any] = []

        def add(self, future: Any) -> None:
            self.kept.append(future)
            super().add(future)

    flow_run = current_flow_run()
    assert flow_run is not None
    assert flow_run.task_runs.started == 0
    flow_run.task_runs = KeepingLedger()
    seen.append(flow_run)


def _sync_flow_body(spec: FlowSpec, tasks: list[Any], seen: list[Any]) -> Any:
    _watch_flow_run(seen)
    futures: list[Any] = []
    for item, task in zip(spec.tasks, tasks, strict=True):
        args = [futures[up] for up in item.upstream]
        options = {"wait_for": [futures[up] for up in item.wait_for]} if item.wait_for else {}
        futures.append((task if item.called else task.submit)(*args, **options))
    if spec.returns == "futures":
        return futures
    if spec.returns == "results":
        return [future.result() for future in futures]
    return None


async def _async_flow_body(spec: FlowSpec, tasks: list[Any], seen: list[Any]) -> Any:
    from flowcore import TaskFuture

    _watch_flow_run(seen)
    values: list[Any] = []
    for item, task in zip(spec.tasks, tasks, strict=True):
        args = [values[up] for up in item.upstream]
        wait_for = [values[up] for up in item.wait_for if isinstance(values[up], TaskFuture)]
        options = {"wait_for": wait_for} if wait_for else {}
        values.append(await (task if item.called else task.submit)(*args, **options))
    futures = [value for value in values if isinstance(value, TaskFuture)]
    if spec.returns == "futures":
        return futures
    if spec.returns == "results":
        return [await future for future in futures]
    return None


def _build_flow(spec: FlowSpec, runner: Any, seen: list[Any]) -> Any:
    from flowcore import flow

    tasks = _tasks(spec)
    options = {"name": "fuzzed", "task_runner": runner, "timeout_seconds": spec.timeout}
    if spec.is_async:

        async def fuzzed_async() -> Any:
            return await _async_flow_body(spec, tasks, seen)

        return flow(fuzzed_async, **options)

    def fuzzed() -> Any:
        return _sync_flow_body(spec, tasks, seen)

    return flow(fuzzed, **options)


def _states(states: list[Any]) -> list[list[Any]]:
    return [[state.type.value, state.name, state.timestamp_ns, state.message] for state in states]


def run_example(spec: FlowSpec, runner_name: str, address: str | None = None) -> dict[str, Any]:
    """Run the flow ``spec`` describes under ``runner_name``; the JSON-able report."""
    import asyncio

    from flowcore import subscribe

    recorded: list[Any] = []
    seen: list[Any] = []
    report: dict[str, Any] = {"error": None, "state": None}
    fuzzed = _build_flow(spec, _make_runner(runner_name, spec, address), seen)
    with subscribe(recorded.append):
        started = time.perf_counter()
        try:
            if spec.is_async:
                state = asyncio.run(fuzzed(return_state=True))
            else:
                state = fuzzed(return_state=True)
            report["state"] = [state.type.value, state.name, state.message]
        except BaseException as error:  # the call must give a state; report whatever it raised
            report["error"] = f"{type(error).__name__}: {error}"[:2000]
        report["elapsed"] = time.perf_counter() - started
    report.update(_runs_report(seen, recorded))
    report["threads"] = _lingering_threads()
    return report


def _runs_report(seen: list[Any], recorded: list[Any]) -> dict[str, Any]:
    events: dict[str, list[list[Any]]] = {}
    upstream: dict[str, list[str]] = {}
    names = {event.run_id: event.run_name for event in recorded}
    for event in recorded:
        events.setdefault(event.run_id, []).append(_states([event.state])[0][:3])
        if event.upstream_run_ids:
            upstream[event.run_id] = [names.get(up, up) for up in event.upstream_run_ids]
    report: dict[str, Any] = {"flow": None, "runs": {}}
    if seen:
        flow_run = seen[0]
        report["flow"] = {
            "history": _states(flow_run.history),
            "events": events.pop(flow_run.id, []),
        }
        for future in flow_run.task_runs.kept:
            run = future.run
            report["runs"][run.name] = {
                "history": _states(run.history),
                "events": events.pop(run.id, []),
                "upstream": upstream.get(run.id, []),
            }
    report["stray_events"] = {names[run_id]: states for run_id, states in events.items()}
    return report


def _lingering_threads(grace: float = 2.0) -> list[str]:
    """Non-daemon threads still alive ``grace`` seconds after the flow returned.

    They would keep a user's script from exiting."""
    limit = time.monotonic() + grace
    while True:
        alive = [
            thread.name
            for thread in threading.enumerate()
            if not thread.daemon and thread is not threading.main_thread()
        ]
        if not alive or time.monotonic() > limit:
            return alive
        time.sleep(0.02)


# --- the example server: imports once, forks one child per example -----------------


def serve() -> None:
    """Read one request per line on stdin; fork a child to run it; answer its pid."""
    import flowcore.task_runners  # imported once, before any fork
    import pytest_flows  # noqa: F401

    with contextlib.suppress(ImportError):
        import flowcore.task_runners.dask  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


def _child(request: dict[str, Any]) -> None:
    code = 1
    try:
        log = os.open(request["log_path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        spec = FlowSpec.from_json(request["spec"])
        report = run_example(spec, request["runner"], request.get("address"))
        partial = request["report_path"] + ".partial"
        Path(partial).write_text(json.dumps(report))
        os.replace(partial, request["report_path"])
        code = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class ExampleServer:
    """The test side of `serve`: run examples in forked children, each with a hard deadline.

    ``run(spec, runner, deadline)`` gives ``(report, log, ended)``: ``ended`` is False
    when the child was killed at its deadline; the report is None then, or when the
    child died without one (its log says why).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._count = 0
        self._stderr = open(workdir / "server.log", "wb")  # noqa: SIM115  closed in close()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            bufsize=0,
        )

    def run(
        self, spec: FlowSpec, runner: str, deadline: float, address: str | None = None
    ) -> tuple[dict[str, Any] | None, str, bool]:
        self._count += 1
        report_path = self.workdir / f"report-{self._count}.json"
        log_path = self.workdir / f"example-{self._count}.log"
        request = {
            "spec": spec.to_json(),
            "runner": runner,
            "address": address,
            "report_path": str(report_path),
            "log_path": str(log_path),
        }
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        pid = int(self._read_line(timeout=30))
        finished = _wait_for_exit(pid, deadline)
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10)
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        if not finished or not report_path.exists():
            return None, log, finished
        return json.loads(report_path.read_text()), log, finished

    def _read_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        line = b""
        limit = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([self.process.stdout], [], [], limit - time.monotonic())
            chunk = self.process.stdout.read(1) if ready else b""
            if not chunk:
                log = (self.workdir / "server.log").read_text(errors="replace")
                raise RuntimeError(f"the example server did not answer within {timeout}s:\n{log}")
            line += chunk
        return line.decode()

    def close(self) -> None:
        """Stop the server (its children end with their examples or were killed)."""
        try:
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            for stream in (self.process.stdin, self.process.stdout, self._stderr):
                if stream is not None:
                    stream.close()


def _wait_for_exit(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` (a child of the server, reaped by it) ended within ``seconds``."""
    limit = time.monotonic() + seconds
    while time.monotonic() < limit:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.005)
    return False


def main(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        serve()
    elif len(argv) in (3, 4) and argv[0] == "run":
        address = argv[3] if len(argv) == 4 else None
        report = run_example(FlowSpec.from_json(argv[2]), argv[1], address)
        print(json.dumps(report, indent=1))
    else:
        sys.exit(
            "usage: fuzz_flows.py serve | fuzz_flows.py run RUNNER SPEC_JSON [DASK_ADDRESS]; "
            f"runners: {', '.join(RUNNERS)}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
