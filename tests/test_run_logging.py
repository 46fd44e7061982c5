"""Run loggers and log_prints, under every in-process runner and on Dask's client side."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from flowcore import MissingContextError, flow, get_run_logger, task
from flowcore.task_runners import TaskRunner

RUNNERS = ["sequential", "concurrent", "async", "deterministic"]


@pytest.fixture
def any_runner(request: pytest.FixtureRequest, make_runner: Any) -> TaskRunner:
    if request.param == "deterministic":
        from pytest_flows import DeterministicTaskRunner

        return DeterministicTaskRunner(seed=2)
    return make_runner(request.param)  # type: ignore[no-any-return]


def _run_records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    return [
        (r.name, getattr(r, "task_run_name", None) or r.flow_run_name, r.getMessage())  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name in ("flowcore.task_runs", "flowcore.flow_runs")
    ]


@task
def load(x: int) -> int:
    get_run_logger().info("loading %s", x)
    return x


@task
async def load_async(x: int) -> int:
    get_run_logger().warning("async %s", x)
    return x


@pytest.mark.parametrize("any_runner", RUNNERS, indirect=True)
def test_run_loggers_name_the_run_in_each_record(
    any_runner: TaskRunner, caplog: pytest.LogCaptureFixture
) -> None:
    @flow(task_runner=any_runner)
    def pipeline() -> list[int]:
        get_run_logger().info("starting")
        return [load(1), load_async(2)]  # type: ignore[list-item]

    caplog.set_level(logging.INFO)
    assert pipeline() == [1, 2]
    records = sorted(_run_records(caplog))
    assert records == [
        ("flowcore.flow_runs", "pipeline-0", "starting"),
        ("flowcore.task_runs", "load-0", "loading 1"),
        ("flowcore.task_runs", "load_async-0", "async 2"),
    ]
    record = next(r for r in caplog.records if r.getMessage() == "loading 1")
    assert record.task_name == "load"  # type: ignore[attr-defined]
    assert record.flow_run_id  # type: ignore[attr-defined]
    assert record.task_run_id  # type: ignore[attr-defined]


def test_get_run_logger_outside_a_run_says_there_is_no_run() -> None:
    with pytest.raises(MissingContextError, match="There is no active flow or task run context"):
        get_run_logger()


def test_a_callers_own_extra_fields_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    @flow
    def pipeline() -> None:
        get_run_logger().info("with extra", extra={"table": "users"})

    caplog.set_level(logging.INFO)
    pipeline()
    record = next(r for r in caplog.records if r.getMessage() == "with extra")
    assert (record.table, record.flow_run_name) == ("users", "pipeline-0")  # type: ignore[attr-defined]


@task
def chatty(x: int) -> int:
    print("task prints", x)
    return x


@task(log_prints=False)
def quiet(x: int) -> int:
    print("to stdout", x)
    return x


@pytest.mark.parametrize("any_runner", RUNNERS, indirect=True)
def test_log_prints_sends_prints_in_runs_to_their_loggers(
    any_runner: TaskRunner, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    @flow(task_runner=any_runner, log_prints=True)
    def pipeline() -> list[int]:
        print("flow prints")
        return [chatty(1), quiet(2)]  # type: ignore[list-item]

    caplog.set_level(logging.INFO)
    assert pipeline() == [1, 2]
    assert sorted(_run_records(caplog)) == [
        ("flowcore.flow_runs", "pipeline-0", "flow prints"),
        ("flowcore.task_runs", "chatty-0", "task prints 1"),
    ]
    assert capsys.readouterr().out == "to stdout 2\n"  # a task's own False wins


def test_prints_outside_runs_and_in_flows_without_log_prints_reach_stdout(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    @flow
    def plain() -> int:
        print("plain flow")
        return chatty(3)  # type: ignore[return-value]

    @flow(log_prints=True)
    def logged() -> None:
        print("to a file is untouched", file=__import__("sys").stderr)

    assert plain() == 3
    logged()
    print("outside")
    captured = capsys.readouterr()
    assert captured.out == "plain flow\ntask prints 3\noutside\n"
    assert "to a file is untouched" in captured.err


def test_prints_in_many_threads_each_go_to_their_own_run(caplog: pytest.LogCaptureFixture) -> None:
    @task(log_prints=True)
    def shout(n: int) -> int:
        for _ in range(20):
            print(f"n={n}")
        return n

    @flow
    def many() -> list[int]:
        return [shout(n) for n in range(8)]  # type: ignore[misc]

    caplog.set_level(logging.INFO)
    assert many() == list(range(8))
    for record in caplog.records:
        if record.name == "flowcore.task_runs":
            n = record.getMessage().removeprefix("n=")
            assert record.task_run_name == f"shout-{n}"  # type: ignore[attr-defined]
    assert sum(r.name == "flowcore.task_runs" for r in caplog.records) == 160


def test_log_prints_in_an_async_flow(caplog: pytest.LogCaptureFixture) -> None:
    @flow(log_prints=True)
    async def pipeline() -> int:
        print("async flow prints")
        return await load_async(5)  # type: ignore[no-any-return]

    caplog.set_level(logging.INFO)
    assert asyncio.run(pipeline()) == 5
    assert ("flowcore.flow_runs", "pipeline-0", "async flow prints") in _run_records(caplog)


@task(log_prints=True)
def remote_chatter(x: int) -> int:
    get_run_logger().info("logged on a worker %s", x)
    print("printed on a worker", x)
    return x


def test_records_and_prints_on_dask_workers_reach_the_clients_loggers(
    make_runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @flow(task_runner=make_runner("dask"))
    def pipeline() -> list[int]:
        return [remote_chatter(1), remote_chatter(2)]  # type: ignore[list-item]

    caplog.set_level(logging.INFO)
    assert pipeline() == [1, 2]
    assert sorted(r for r in _run_records(caplog) if r[0] == "flowcore.task_runs") == [
        ("flowcore.task_runs", "remote_chatter-0", "logged on a worker 1"),
        ("flowcore.task_runs", "remote_chatter-0", "printed on a worker 1"),
        ("flowcore.task_runs", "remote_chatter-1", "logged on a worker 2"),
        ("flowcore.task_runs", "remote_chatter-1", "printed on a worker 2"),
    ]
    record = next(r for r in caplog.records if r.getMessage() == "logged on a worker 1")
    assert record.process != __import__("os").getpid()  # made on the worker
