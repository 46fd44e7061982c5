"""Bad input across the public API and the plugin options, as one table.

Each row gets an error of a documented type (`flowcore.errors`, the plugin's
exceptions, `ValueError` from timeline assertions, `pytest.UsageError` for
options) whose message states the rule and shows the offending value; after
each, a normal flow still runs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest

from flowcore import FlowcoreUsageError, InvalidArgument, flow, task
from flowcore.task_runners import AsyncTaskRunner, ConcurrentTaskRunner, DaskTaskRunner
from pytest_flows import DeterministicTaskRunner, RunNotFound, Timeline, explore, replay
from pytest_flows.deterministic.schedules import InvalidToken


@task
def double(x: int) -> int:
    return x * 2


@task
def calls_a_task() -> int:
    return double(1)  # type: ignore[no-any-return]


@flow
def healthy() -> list[int]:
    return [double(x) for x in range(3)]  # type: ignore[misc]


def _body() -> None:
    """What the option tables decorate."""


def _recorded_timeline() -> Timeline:
    from flowcore import subscribe

    timeline = Timeline()
    with subscribe(timeline.record):
        healthy()
    return timeline


def _future_from_another_flow_run() -> None:
    @flow
    def first() -> Any:
        return double.submit(1)

    kept: list[Any] = []

    @flow
    def keeps() -> None:
        kept.append(double.submit(1))

    keeps()

    @flow
    def second() -> Any:
        return double(kept[0])

    second()


def _in_flow(body: Callable[[], Any], runner: Any = None) -> Callable[[], Any]:
    def run() -> Any:
        @flow(task_runner=runner or ConcurrentTaskRunner())
        def wrapper() -> Any:
            return body()

        return wrapper()

    return run


def _unpicklable_on_dask(make_runner: Callable[[str], Any]) -> None:
    lock = threading.Lock()

    @task
    def holds_a_lock() -> int:
        with lock:
            return 1

    _in_flow(lambda: holds_a_lock(), make_runner("dask"))()


def _unreachable_dask() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = DaskTaskRunner(address=f"tcp://127.0.0.1:{port}", client_kwargs={"timeout": "1s"})
    _in_flow(lambda: double(1), runner)()


def _timeline_call(method: str, *args: Any) -> Callable[[], Any]:
    return lambda: getattr(_recorded_timeline(), method)(*args)


# (id, call, exception type, regular expression the message must match)
API_CASES: list[tuple[str, Callable[..., Any], type[BaseException], str]] = [
    (
        "task-negative-retries",
        lambda: task(retries=-1)(_body),
        InvalidArgument,
        r"retries.*>= 0.*-1",
    ),
    (
        "task-float-retries",
        lambda: task(retries=1.5)(_body),
        InvalidArgument,
        r"integer >= 0, got 1\.5",
    ),
    ("task-str-retries", lambda: task(retries="2")(_body), InvalidArgument, r"retries.*'2'"),
    ("task-zero-timeout", lambda: task(timeout_seconds=0)(_body), InvalidArgument, r"> 0.*got 0"),
    (
        "task-negative-delay",
        lambda: task(retry_delay_seconds=-0.5)(_body),
        InvalidArgument,
        r">= 0 and at most 1e\+09, got -0\.5",
    ),
    (
        "task-delay-list",
        lambda: task(retry_delay_seconds=[1, -2])(_body),
        InvalidArgument,
        r">= 0 and at most 1e\+09, got -2",
    ),
    (
        "task-tags-string",
        lambda: task(tags="a")(_body),
        InvalidArgument,
        r"tags must be an iterable of strings.*'a'",
    ),
    ("task-unknown-option", lambda: task(retires=2), InvalidArgument, r"'retires'; valid: name"),
    ("with-options-unknown", lambda: double.with_options(retires=1), InvalidArgument, r"retires"),
    ("flow-negative-retries", lambda: flow(retries=-1)(_body), InvalidArgument, r">= 0, got -1"),
    ("flow-negative-timeout", lambda: flow(timeout_seconds=-2)(_body), InvalidArgument, r"> 0.*-2"),
    ("flow-unknown-option", lambda: flow(retires=1), InvalidArgument, r"'retires'; valid: name"),
    *[
        (
            f"{kind}-{option}-{label}",
            lambda kind=kind, option=option, value=value: (task if kind == "task" else flow)(
                **{option: value}
            )(_body),
            InvalidArgument,
            rf"{option} must be a finite number of seconds .*at most 1e\+09.*got {label}",
        )
        for kind in ("task", "flow")
        for option in ("timeout_seconds", "retry_delay_seconds")
        for label, value in (("inf", math.inf), ("nan", math.nan), ("10000000000.0", 1e10))
    ],
    (
        "task-delay-list-inf",
        lambda: task(retry_delay_seconds=[1, math.inf])(_body),
        InvalidArgument,
        r"retry_delay_seconds must be a finite number .*got inf",
    ),
    (
        "task-parameter-wait-for",
        lambda: task(lambda x, wait_for: x),
        InvalidArgument,
        r"task '<lambda>' has a parameter named 'wait_for', a name reserved for the call's own "
        r"options \(return_state, wait_for\); rename the parameter",
    ),
    (
        "task-parameter-return-state",
        lambda: task(name="load")(lambda return_state=False: 1),
        InvalidArgument,
        r"task 'load' has a parameter named 'return_state'",
    ),
    (
        "flow-parameter-return-state",
        lambda: flow(lambda return_state: 1),
        InvalidArgument,
        r"flow '<lambda>' has a parameter named 'return_state', a name reserved",
    ),
    (
        "max-workers-zero",
        lambda: ConcurrentTaskRunner(max_workers=0),
        InvalidArgument,
        r">= 1 or None, got 0",
    ),
    (
        "max-workers-bool",
        lambda: ConcurrentTaskRunner(max_workers=True),
        InvalidArgument,
        r"got True",
    ),
    (
        "async-backend",
        lambda: AsyncTaskRunner(backend="curio"),
        InvalidArgument,
        r"one of asyncio, trio, got 'curio'",
    ),
    (
        "dask-address-int",
        lambda: DaskTaskRunner(address=8786),
        InvalidArgument,
        r"address must be a string.*8786",
    ),
    (
        "dask-address-and-class",
        lambda: DaskTaskRunner(address="tcp://a:1", cluster_class="x.Y"),
        InvalidArgument,
        r"not both.*'tcp://a:1'",
    ),
    (
        "dask-kwargs-list",
        lambda: DaskTaskRunner(cluster_kwargs=[1]),
        InvalidArgument,
        r"cluster_kwargs must be a dict, got \[1\]",
    ),
    (
        "dask-class-missing",
        lambda: _in_flow(lambda: 1, DaskTaskRunner(cluster_class="nowhere.Cluster"))(),
        InvalidArgument,
        r"'nowhere\.Cluster' could not be imported",
    ),
    (
        "dask-unreachable",
        _unreachable_dask,
        FlowcoreUsageError,
        r"could not reach a Dask scheduler at 'tcp://127\.0\.0\.1:\d+' within 1s",
    ),
    (
        "future-of-another-flow-run",
        _future_from_another_flow_run,
        InvalidArgument,
        r"'double-0' belongs to another flow run",
    ),
    (
        "wait-for-not-futures",
        _in_flow(lambda: double(1, wait_for=[3])),
        InvalidArgument,
        r"wait_for takes task futures.*got 3",
    ),
    (
        "wait-for-a-string",
        _in_flow(lambda: double(1, wait_for="abc")),
        InvalidArgument,
        r"list of task futures, got 'abc'",
    ),
    (
        "map-lengths",
        _in_flow(lambda: double.map([1, 2], y=[1])),
        InvalidArgument,
        r"different lengths",
    ),
    (
        "map-nothing-to-map",
        _in_flow(lambda: double.map(3)),
        InvalidArgument,
        r"at least one iterable.*\[3\]",
    ),
    (
        "submit-outside-flow",
        lambda: double.submit(1),
        FlowcoreUsageError,
        r"double\.submit\(\) needs a running flow",
    ),
    (
        "map-outside-flow",
        lambda: double.map([1]),
        FlowcoreUsageError,
        r"double\.map\(\) needs a running flow",
    ),
    (
        "task-in-a-task",
        lambda: calls_a_task(),
        FlowcoreUsageError,
        r"'double' was called from inside task run",
    ),
    (
        "timeline-missing-run",
        _timeline_call("run", "nope-0"),
        RunNotFound,
        r"no run matches.*nope-0.*double-0",
    ),
    (
        "assert-before-missing-run",
        _timeline_call("assert_before", "double-0", "ghost-3"),
        RunNotFound,
        r"ghost-3",
    ),
    (
        "assert-parallel-one-run",
        _timeline_call("assert_parallel", "double-0"),
        ValueError,
        r"at least 2 runs.*got 1",
    ),
    (
        "assert-max-concurrency-zero",
        _timeline_call("assert_max_concurrency", 0),
        ValueError,
        r">= 1, got 0",
    ),
    (
        "assert-states-unknown-type",
        _timeline_call("assert_states", "double-0", ["DONE"]),
        ValueError,
        r"'DONE' is not a state type\. Valid",
    ),
    (
        "deterministic-seed-str",
        lambda: DeterministicTaskRunner(seed="x"),
        InvalidArgument,
        r"seed must be an integer or None, got 'x'",
    ),
    (
        "deterministic-wait-limit",
        lambda: DeterministicTaskRunner(sync_wait_limit=0),
        InvalidArgument,
        r"> 0 seconds, got 0",
    ),
    (
        "explore-zero-schedules",
        lambda: explore(healthy, schedules=0),
        InvalidArgument,
        r"schedules must be an integer >= 1, got 0",
    ),
    (
        "explore-unknown-strategy",
        lambda: explore(healthy, strategy="bogus"),
        InvalidArgument,
        r"'bogus' is not an exploration strategy\. Valid",
    ),
    ("replay-malformed-token", lambda: replay("zigzag-3", healthy), InvalidToken, r"zigzag-3"),
    ("replay-token-bad-number", lambda: replay("random-x", healthy), InvalidToken, r"random-x"),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in API_CASES],
)
def test_bad_api_input_is_refused_with_the_rule_and_the_value(
    call: Callable[[], Any], error: type[BaseException], message: str
) -> None:
    with pytest.raises(error, match=message):
        call()
    assert healthy() == [0, 2, 4]


def test_unpicklable_task_on_dask_is_refused_naming_it(
    make_runner: Callable[[str], Any],
) -> None:
    with pytest.raises(InvalidArgument, match=r"task 'holds_a_lock' cannot be pickled"):
        _unpicklable_on_dask(make_runner)
    assert healthy() == [0, 2, 4]


PLUGIN_TEST = """
from flowcore import flow, task

@task
def double(x):
    return x * 2

@flow
def pipeline():
    return double(2)

def test_flow():
    assert pipeline() == 4
"""

# pytest-asyncio warns when its loop scope is left unset.
QUIET_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

OPTION_CASES = [
    (
        "runner-typo",
        ["--flow-runner=dsak"],
        r"'dsak' is not a valid flow runner\. Valid: sequential",
    ),
    ("runner-missing-module", ["--flow-runner=nowhere_at_all:Runner"], r"nowhere_at_all"),
    ("runner-ini-typo", ["-o", "flow_runner=treads"], r"'treads' is not a valid flow runner"),
    (
        "seed-not-a-number",
        ["--flow-seed=abc"],
        r"--flow-seed must be an integer or 'last', got 'abc'",
    ),
    ("replay-malformed", ["--flow-replay=zigzag-3"], r"--flow-replay: .*zigzag-3"),
    (
        "timeline-mode",
        ["--flow-timeline=some"],
        r"--flow-timeline: invalid choice: 'some' \(choose from 'failed', 'all'\)",
    ),
]


@pytest.mark.parametrize(
    ("args", "message"), [pytest.param(*case[1:], id=case[0]) for case in OPTION_CASES]
)
def test_bad_plugin_option_is_a_usage_error_with_the_rule_and_the_value(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makeini(QUIET_INI)
    pytester.makepyfile(test_bad_option_suite=PLUGIN_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.re_match_lines([f".*{message}.*"])
    pytester.runpytest().assert_outcomes(passed=1)  # the same suite runs with good options


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        pytest.param(
            "flow_runner(3)",
            r"flow_runner takes one runner name, got \(3,\)",
            id="marker-runner-int",
        ),
        pytest.param(
            'flow_runner("dsak")', r"'dsak' is not a valid flow runner", id="marker-runner-typo"
        ),
        pytest.param(
            'flow_explore(strategy="bogus")',
            r"strategy 'bogus' .* Valid",
            id="marker-explore-strategy",
        ),
    ],
)
def test_bad_marker_is_reported_with_the_rule_and_the_value(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makeini(QUIET_INI)
    pytester.makepyfile(
        test_bad_marker_suite=PLUGIN_TEST.replace(
            "def test_flow():", f"import pytest\n\n@pytest.mark.{marker}\ndef test_flow():"
        )
    )
    result = pytester.runpytest()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.re_match_lines([f".*{message}.*"])
