"""A sync flow's remaining runs driven in one go (`TaskRunner.wait_all`): the schedule is
the one waiting for each future in turn gives, interrupts included, with one hand-off
between threads instead of one per future."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flowcore import events, flow, task
from flowcore.task_runners import TaskRunner, override_task_runner
from pytest_flows.deterministic import DeterministicTaskRunner
from pytest_flows.deterministic.executions import execute
from pytest_flows.deterministic.schedules import strategy_for_seed
from pytest_flows.deterministic.sync_worker import SyncWorker


@task
def add_one(x: int) -> int:
    return x + 1


@task
def stop_if(x: int, stop: int) -> int:
    if x == stop:
        raise KeyboardInterrupt(f"stopped at {x}")
    return x


@flow
def ten_runs() -> list[Any]:
    first = [add_one.submit(i) for i in range(5)]
    return [add_one.submit(future) for future in first]


@flow
def interrupted_midway() -> None:
    for index in range(6):
        stop_if.submit(index, 3)


def _executions(flow_: Any, seeds: range) -> list[tuple[Any, ...]]:
    runs = [execute(flow_, strategy_for_seed(seed), True) for seed in seeds]
    return [(e.value, e.timeline, e.schedule.decisions, e.schedule.widths) for e in runs]


def test_driving_all_runs_at_once_gives_the_schedule_of_waiting_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_once = _executions(ten_runs, range(12))
    monkeypatch.setattr(DeterministicTaskRunner, "wait_all", TaskRunner.wait_all)
    in_turn = _executions(ten_runs, range(12))
    assert at_once == in_turn
    assert len({str(timeline) for _, timeline, _, _ in at_once}) > 1  # the seeds differ


def _interrupted(seed: int) -> list[tuple[str, str, int]]:
    """The transitions of `interrupted_midway` under ``seed``; its Ctrl-C reaches here."""
    seen: list[events.StateEvent] = []
    runner = DeterministicTaskRunner(seed)
    with (
        events.subscribe(seen.append),
        override_task_runner(runner),
        pytest.raises(KeyboardInterrupt, match="stopped at 3"),
    ):
        interrupted_midway()
    return [(e.run_name, e.state.name, e.timestamp_ns) for e in seen if e.kind == "task"]


def test_a_ctrl_c_in_a_run_stops_the_drive_where_waiting_in_turn_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_once = [_interrupted(seed) for seed in range(12)]
    monkeypatch.setattr(DeterministicTaskRunner, "wait_all", TaskRunner.wait_all)
    in_turn = [_interrupted(seed) for seed in range(12)]
    assert at_once == in_turn
    assert len({str(transitions) for transitions in at_once}) > 1  # the seeds differ


def test_a_sync_flow_hands_its_runs_to_the_worker_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten sync runs each waited for in turn woke the worker thread up to once per future;
    driven at once, the flow's end crosses to it once."""
    starts: list[str] = []
    original = SyncWorker.start

    def counting_start(self: SyncWorker, *args: Any, **kwargs: Any) -> Any:
        starts.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncWorker, "start", counting_start)

    @flow(task_runner=DeterministicTaskRunner(seed=1))
    def submits_then_returns() -> None:
        for index in range(10):
            add_one.submit(index)

    assert submits_then_returns(return_state=True).is_completed()
    assert len(starts) == 1
