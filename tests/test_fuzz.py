"""Fuzzing: random small flows x random durations x every runner, each in its own process.

Hypothesis draws a `FlowSpec` (1-6 sync or async tasks; sleeps, retries,
retry delays, task and flow timeouts; edges to earlier tasks), and
`fuzz_flows` runs it in a forked child with a hard deadline. Whatever the
flow, the runner and the durations:

- the flow terminates (a child still running at its deadline is killed);
- the call gives a final state, and the flow run's history has exactly one;
- every task run reaches exactly one final state, the last in its history;
  a run whose upstream did not complete never starts (`NOT_READY_ENDS`);
- the events published for each run equal that run's history;
- the flow's final state agrees with its runs, and a flow timeout bounds the
  whole call (timeout + 1 s, plus a margin for a loaded machine);
- each run ends as its description implies when nothing stops it.

Under the deterministic runner async sleeps, task timeouts of async bodies
and retry delays are virtual, so they are drawn large and odd, and a run
must time out exactly when its sleep exceeds its timeout.

CI runs a bounded number of examples, derandomized and without shrinking (a
hanging example costs its whole deadline). ``FLOWCORE_FUZZ_EXAMPLES=300``
runs that many per runner, and shrinks a failure to a small example.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_flows import ExampleServer, FlowSpec, TaskSpec
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
NOT_READY_ENDS = (("PENDING", "NotReady"),)
"""How a run whose upstream did not complete ends without running: Prefect's
``Pending("NotReady")``."""

TIMEOUT_GRACE = 1.0  # a flow's call returns within its timeout plus this
LOADED_MACHINE_MARGIN = 2.0  # what a shared, loaded machine may add to any real wait
TIMER_MARGIN = 0.5  # how late a loaded machine may fire a timeout that then stops a run
DASK_CONNECT_MARGIN = 5.0  # connecting a Dask client, inside the call, on a loaded machine

_LOCAL_EXAMPLES = int(os.environ.get("FLOWCORE_FUZZ_EXAMPLES", "0"))
_PHASES = (Phase.explicit, Phase.generate) + ((Phase.shrink,) if _LOCAL_EXAMPLES else ())


def _settings(ci_examples: int) -> settings:
    return settings(
        max_examples=_LOCAL_EXAMPLES or ci_examples,
        deadline=None,
        derandomize=True,
        phases=_PHASES,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- what to draw -----------------------------------------------------------------

REAL_SECONDS = st.sampled_from([0.0, 1e-3, 0.01, 0.1, 0.2, 1 / 7, 1 / 30, 0.3]) | st.floats(0, 0.1)
VIRTUAL_SECONDS = st.sampled_from([0.0, 1e-3, 0.1, 0.2, 1 / 3, 2.7, 60.0, 3600.5]) | st.floats(
    0, 1e4, allow_nan=False
)
REAL_TIMEOUTS = st.sampled_from([0.05, 0.1, 1 / 7, 0.25, 1.0]) | st.floats(0.01, 1.0)
VIRTUAL_TIMEOUTS = st.sampled_from([1e-3, 0.1, 1 / 3, 2.7, 100.0]) | st.floats(1e-3, 1e4)
FLOW_TIMEOUTS = st.none() | st.sampled_from([0.1, 0.2, 1 / 3, 0.5, 1.0])


@st.composite
def task_specs(draw: Any, index: int, virtual: bool) -> TaskSpec:
    is_async = draw(st.booleans())
    sleeps = VIRTUAL_SECONDS if virtual and is_async else REAL_SECONDS
    timeouts = VIRTUAL_TIMEOUTS if virtual and is_async else REAL_TIMEOUTS
    earlier = st.sets(st.integers(0, index - 1), max_size=2) if index else st.just(set())
    return TaskSpec(
        is_async=is_async,
        sleep=draw(sleeps),
        failures=draw(st.sampled_from([0, 1, 2, 9])),
        retries=draw(st.integers(0, 2)),
        retry_delay=draw(VIRTUAL_SECONDS if virtual else REAL_SECONDS),
        timeout=draw(st.none() | timeouts),
        upstream=tuple(sorted(draw(earlier))),
        wait_for=tuple(sorted(draw(earlier))),
        unpicklable=draw(st.integers(0, 7)) == 7,
        called=draw(st.booleans()),
    )


@st.composite
def flow_specs(draw: Any, virtual: bool) -> FlowSpec:
    size = draw(st.integers(1, 6))
    return FlowSpec(
        tasks=tuple(draw(task_specs(index, virtual)) for index in range(size)),
        is_async=draw(st.booleans()),
        timeout=draw(FLOW_TIMEOUTS),
        returns=draw(st.sampled_from(["none", "futures", "results"])),
        seed=draw(st.integers(0, 2**16)),
    )


def deadline_seconds(spec: FlowSpec, runner: str) -> float:
    """Real seconds the example may take, all runs one after another, plus start-up."""
    virtual = runner == "deterministic"
    total = 0.0
    for item in spec.tasks:
        virtual_body = virtual and item.is_async
        attempt = 0.0 if virtual_body else item.sleep
        if item.timeout is not None and not virtual_body:
            attempt = min(attempt, item.timeout)
        delay = 0.0 if virtual else item.retry_delay
        total += (item.retries + 1) * (attempt + 0.05) + item.retries * delay
    return total + (30.0 if runner == "dask" else 10.0)


# --- the checks ---------------------------------------------------------------------


def violations(
    spec: FlowSpec, runner: str, report: dict[str, Any] | None, log: str, ended: bool
) -> list[str]:
    """Every guarantee the example broke, each as one sentence; empty if none."""
    if not ended:
        deadline = deadline_seconds(spec, runner)
        return [
            f"flow did not terminate within {deadline:.1f}s (killed); its output:\n{log[-3000:]}"
        ]
    if report is None:
        return [f"the example process died without a report:\n{log[-3000:]}"]
    found = _call_violations(report)
    if report["flow"] is None:
        return found
    found += _timeline_violations(report)
    for name, run in report["runs"].items():
        found += _run_violations(spec, runner, report, name, run)
    return found + _flow_violations(spec, runner, report)


def _call_violations(report: dict[str, Any]) -> list[str]:
    found = []
    if report["error"] is not None:
        found.append(f"the flow call raised instead of returning a state: {report['error']}")
    if report["threads"]:
        found.append(f"non-daemon threads alive 2 s after the flow returned: {report['threads']}")
    if report["stray_events"]:
        found.append(f"events of runs the flow does not know: {report['stray_events']}")
    return found


def _timeline_violations(report: dict[str, Any]) -> list[str]:
    found = []
    records = [("flow", report["flow"]), *report["runs"].items()]
    for name, record in records:
        history = [state[:3] for state in record["history"]]
        if record["events"] != history:
            found.append(f"{name}: events {record['events']} differ from history {history}")
    return found


def _kinds(history: list[list[Any]]) -> list[tuple[str, str]]:
    return [(state[0], state[1]) for state in history]


def _end_violation(name: str, history: list[list[Any]], not_ready_allowed: bool) -> str | None:
    kinds = _kinds(history)
    finals = [kind for kind in kinds if kind[0] in FINAL]
    if len(finals) > 1:
        return f"{name} reached {len(finals)} final states: {kinds}"
    if finals and kinds[-1] != finals[0]:
        return f"{name} has states after its final state: {kinds}"
    if not finals and not (not_ready_allowed and kinds and kinds[-1] in NOT_READY_ENDS):
        return f"{name} never reached a final state: {kinds}"
    return None


def _end(record: dict[str, Any]) -> tuple[str, str]:
    return _kinds(record["history"])[-1]


def _index(run_name: str) -> int:
    return int(run_name.split("-")[0][1:])  # "t3-0" -> 3


def _expected_upstream(spec: FlowSpec, index: int) -> set[str]:
    item = spec.tasks[index]
    edges = set(item.upstream) | set(item.wait_for)
    return {f"t{up}-0" for up in edges if not (spec.is_async and spec.tasks[up].called)}


def _run_violations(
    spec: FlowSpec, runner: str, report: dict[str, Any], name: str, run: dict[str, Any]
) -> list[str]:
    runs, index = report["runs"], _index(name)
    upstream = set(run["upstream"])
    found = []
    edges = _expected_upstream(spec, index)
    if upstream != edges:
        found.append(f"{name} waits for {sorted(upstream)}, its edges say {sorted(edges)}")
    incomplete = sorted(up for up in upstream if _end(runs[up])[0] != "COMPLETED")
    ending = _end_violation(name, run["history"], not_ready_allowed=bool(incomplete))
    found += [ending] if ending else []
    kinds, end = _kinds(run["history"]), _end(run)
    if incomplete:
        ran = ("RUNNING", "Running") in kinds or end[0] == "COMPLETED"
        allowed = end in NOT_READY_ENDS or end[0] in ("CANCELLED", "CRASHED")
        if ran or not allowed:
            found.append(f"{name} ended {kinds} although upstream {incomplete} did not complete")
    else:
        found += _start_order_violations(name, run, runs, upstream)
        found += _outcome_violations(spec, runner, report, name, run)
    return found


def _start_order_violations(
    name: str, run: dict[str, Any], runs: dict[str, Any], upstream: set[str]
) -> list[str]:
    started = [state[2] for state in run["history"] if state[0] == "RUNNING"]
    if not started:
        return []
    found = []
    for up in sorted(upstream):
        completed_at = runs[up]["history"][-1][2]
        if started[0] < completed_at:
            early = completed_at - started[0]
            found.append(f"{name} started {early} ns before upstream {up} completed")
    return found


def _outcome_violations(
    spec: FlowSpec, runner: str, report: dict[str, Any], name: str, run: dict[str, Any]
) -> list[str]:
    """A run whose upstream completed ends as its description implies."""
    item = spec.tasks[_index(name)]
    end = _end(run)
    attempts = sum(1 for state in run["history"] if state[0] == "RUNNING")
    found = []
    if attempts > item.retries + 1:
        found.append(f"{name} made {attempts} attempts with {item.retries} retries")
    if end[0] == "COMPLETED" and attempts < item.failures + 1:
        found.append(f"{name} completed after {attempts} attempts, though {item.failures} raise")
    if end[0] == "COMPLETED" and _times_out_virtually(runner, item):
        found.append(
            f"{name} completed, though its virtual sleep {item.sleep!r} exceeds its "
            f"timeout {item.timeout!r}"
        )
    flow_stopped = report["state"] is None or report["state"][1] == "TimedOut"
    if _must_complete(spec, runner, item) and not flow_stopped and end[0] != "COMPLETED":
        reason = run["history"][-1][3]
        found.append(f"{name} ended {end}, though nothing should stop it completing: {reason}")
    return found


def _times_out_virtually(runner: str, item: TaskSpec) -> bool:
    virtual = runner == "deterministic" and item.is_async
    return virtual and item.timeout is not None and item.sleep > item.timeout


def _must_complete(spec: FlowSpec, runner: str, item: TaskSpec) -> bool:
    if item.failures > item.retries:
        return False
    if runner == "dask" and (item.unpicklable or _takes_unpicklable(spec, item)):
        return False
    if item.timeout is None:
        return True
    return runner == "deterministic" and item.is_async and item.sleep < item.timeout


def _takes_unpicklable(spec: FlowSpec, item: TaskSpec) -> bool:
    return any(spec.tasks[up].unpicklable for up in (*item.upstream, *item.wait_for))


def _flow_violations(spec: FlowSpec, runner: str, report: dict[str, Any]) -> list[str]:
    flow, runs = report["flow"], report["runs"]
    found = []
    ending = _end_violation("the flow run", flow["history"], not_ready_allowed=False)
    found += [ending] if ending else []
    end = _end(flow)
    if report["state"] is not None and tuple(report["state"][:2]) != end:
        found.append(f"the call returned {report['state'][:2]}, the flow run's history ends {end}")
    ends = {name: _end(run) for name, run in runs.items()}
    failed = sorted(name for name, kind in ends.items() if kind[0] in ("FAILED", "CRASHED"))
    all_completed = len(runs) == len(spec.tasks) and all(k[0] == "COMPLETED" for k in ends.values())
    if end[0] == "COMPLETED" and not all_completed:
        found.append(f"the flow COMPLETED though its runs ended {ends} ({len(spec.tasks)} tasks)")
    if failed and end[0] == "COMPLETED":
        found.append(f"the flow COMPLETED though {failed} failed")
    if all_completed and end[0] != "COMPLETED" and end[1] != "TimedOut":
        found.append(f"every run completed, yet the flow ended {end}: {flow['history'][-1][3]}")
    if end[1] == "TimedOut" and spec.timeout is None:
        found.append("the flow timed out without a timeout")
    return found + _flow_timeout_violations(spec, runner, report, end)


def _flow_timeout_violations(
    spec: FlowSpec, runner: str, report: dict[str, Any], end: tuple[str, str]
) -> list[str]:
    if spec.timeout is None:
        return []
    found = []
    bound = spec.timeout + TIMEOUT_GRACE + LOADED_MACHINE_MARGIN
    bound += DASK_CONNECT_MARGIN if runner == "dask" else 0.0
    if report["elapsed"] > bound:
        found.append(
            f"the flow with timeout_seconds={spec.timeout!r} returned after "
            f"{report['elapsed']:.2f}s, ending {end}"
        )
    needed = critical_path_seconds(spec)
    if runner != "deterministic" and end[0] == "COMPLETED" and needed > spec.timeout + TIMER_MARGIN:
        found.append(
            f"the flow with timeout_seconds={spec.timeout!r} COMPLETED though its runs "
            f"need at least {needed:.2f}s"
        )
    return found


def critical_path_seconds(spec: FlowSpec) -> float:
    """Real seconds at least, from the flow's start to the end of its last run, if all complete.

    A completed run made ``failures`` failed attempts (each sleeping, or timing
    out first) with a delay after each, then one whole sleep. In an async flow
    a called task holds the body, so every later task starts after it."""
    finish: list[float] = []
    for index, item in enumerate(spec.tasks):
        waits = [*item.upstream, *item.wait_for]
        if spec.is_async:
            waits += [up for up in range(index) if spec.tasks[up].called]
        start = max((finish[up] for up in waits), default=0.0)
        failed = min(item.sleep, item.timeout) if item.timeout is not None else item.sleep
        finish.append(start + item.failures * (failed + item.retry_delay) + item.sleep)
    return max(finish)


# --- examples every run tries first: faults these checks have found ----------------

# The flow returns futures at once; its one run needs 0.9 s, its timeout is 0.1 s.
TIMEOUT_WHILE_WAITING = FlowSpec(
    tasks=(TaskSpec(sleep=0.3, failures=2, retries=2),), timeout=0.1, returns="futures"
)
# An async flow's body raises (an awaited run failed) while a submitted run sleeps.
BODY_RAISES_WHILE_A_RUN_SLEEPS = FlowSpec(
    tasks=(TaskSpec(is_async=True, sleep=0.1), TaskSpec(failures=1, called=True)), is_async=True
)
# Virtual sleeps whose deadline is not a whole number of nanoseconds.
VIRTUAL_SLEEP_IN_ASYNC_FLOW = FlowSpec(tasks=(TaskSpec(is_async=True, sleep=0.1),), is_async=True)
VIRTUAL_SLEEP_IN_SYNC_FLOW = FlowSpec(tasks=(TaskSpec(is_async=True, sleep=383.24054599907515),))
# A result that cannot be pickled, taken by a downstream run.
UNPICKLABLE_RESULT_TAKEN = FlowSpec(tasks=(TaskSpec(unpicklable=True), TaskSpec(upstream=(0,))))


# --- running examples ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    examples = ExampleServer(tmp_path_factory.mktemp("fuzz"))
    try:
        yield examples
    finally:
        examples.close()


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    """One LocalCluster for the module's Dask examples, on the loopback interface only."""
    distributed = pytest.importorskip(
        "distributed",
        reason="the Dask examples need the dask extra (pip install pytest-flows[dask])",
    )
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        timeout="30s",
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close(timeout=30)


def check_example(
    server: ExampleServer, spec: FlowSpec, runner: str, address: str | None = None
) -> None:
    report, log, ended = server.run(spec, runner, deadline_seconds(spec, runner), address)
    problems = violations(spec, runner, report, log, ended)
    if problems:
        here = Path(__file__).with_name("fuzz_flows.py")
        replay = f"{sys.executable} {here} run {runner} '{spec.to_json()}'"
        listed = "\n".join(f"- {problem}" for problem in problems)
        pytest.fail(f"under {runner}:\n{listed}\nreplay: {replay}", pytrace=False)


@pytest.mark.parametrize("runner", ["sequential", "concurrent", "async"])
@_settings(ci_examples=15)
@given(spec=flow_specs(virtual=False))
@example(spec=TIMEOUT_WHILE_WAITING)
@example(spec=BODY_RAISES_WHILE_A_RUN_SLEEPS)
def test_fuzzed_flow_keeps_its_guarantees(
    server: ExampleServer, runner: str, spec: FlowSpec
) -> None:
    check_example(server, spec, runner)


@_settings(ci_examples=20)
@given(spec=flow_specs(virtual=True))
@example(spec=VIRTUAL_SLEEP_IN_ASYNC_FLOW)
@example(spec=VIRTUAL_SLEEP_IN_SYNC_FLOW)
def test_fuzzed_flow_keeps_its_guarantees_in_virtual_time(
    server: ExampleServer, spec: FlowSpec
) -> None:
    check_example(server, spec, "deterministic")


@_settings(ci_examples=5)
@given(spec=flow_specs(virtual=False))
@example(spec=UNPICKLABLE_RESULT_TAKEN)
@example(spec=TIMEOUT_WHILE_WAITING)
def test_fuzzed_flow_keeps_its_guarantees_on_dask(
    server: ExampleServer, dask_address: str, spec: FlowSpec
) -> None:
    check_example(server, spec, "dask", dask_address)


def test_a_flow_that_never_ends_is_killed_at_its_deadline(server: ExampleServer) -> None:
    """The harness itself: an example past its deadline is reported, not waited for."""
    spec = FlowSpec(tasks=(TaskSpec(sleep=30.0),))
    report, log, ended = server.run(spec, "sequential", deadline=1.0)
    assert (report, ended) == (None, False)
    assert violations(spec, "sequential", report, log, ended)[0].startswith(
        "flow did not terminate"
    )


def test_spec_round_trips_through_json() -> None:
    spec = FlowSpec(tasks=(TaskSpec(), TaskSpec(upstream=(0,), wait_for=(0,), timeout=1 / 3)))
    assert FlowSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["tasks"][1]["timeout"] == 1 / 3
