"""Load: 100 flow runs of 100 task runs each, all at once, in threads and on one event loop.

Every run ends final; each of several subscribers receives every transition
exactly once and each run's transitions in the order of its own history; and a
`Timeline` built from the events agrees with the runs' state histories.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import defaultdict
from typing import Any

import pytest

from flowcore import StateEvent, StateType, TaskFuture, flow, subscribe, task
from flowcore.task_runners import AsyncTaskRunner, ConcurrentTaskRunner
from pytest_flows.timeline import Timeline

FLOWS = 100
TASKS = 100
# Task i also waits for task i - LINK, so every flow has dependency edges too.
LINK = 10


@task
def step(index: int, upstream: int | None = None) -> int:
    return index


@task
async def async_step(index: int, upstream: int | None = None) -> int:
    await asyncio.sleep(0)
    return index


class Subscribers:
    """Three independent subscribers; each keeps every event it receives."""

    def __init__(self) -> None:
        self.received: list[list[StateEvent]] = [[], [], []]
        self.timeline = Timeline()

    def __enter__(self) -> Subscribers:
        self._subscriptions = [subscribe(log.append) for log in self.received]
        self._subscriptions.append(subscribe(self.timeline.record))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for subscription in self._subscriptions:
            subscription.close()


def _check(subscribers: Subscribers, futures: list[TaskFuture], flow_states: list[Any]) -> None:
    assert len(flow_states) == FLOWS
    assert all(state.type is StateType.COMPLETED for state in flow_states)
    assert len(futures) == FLOWS * TASKS
    assert all(future.done() and future.state.type is StateType.COMPLETED for future in futures)

    histories = {future.run_id: future.run.history for future in futures}
    for log in subscribers.received:
        per_run: dict[str, list[Any]] = defaultdict(list)
        for event in log:
            if event.kind == "task":
                per_run[event.run_id].append(event.state)
        assert per_run.keys() == histories.keys()
        for run_id, history in histories.items():
            # The same states, once each, in the run's own order; the final one itself.
            assert [_key(state) for state in per_run[run_id]] == [_key(s) for s in history]
            assert per_run[run_id][-1] is history[-1]
        flow_events: dict[str, list[StateType]] = defaultdict(list)
        for event in log:
            if event.kind == "flow":
                flow_events[event.run_id].append(event.state.type)
        assert len(flow_events) == FLOWS
        assert all(
            types == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
            for types in flow_events.values()
        )

    timeline = subscribers.timeline
    assert len(timeline.task_runs) == FLOWS * TASKS
    assert len(timeline.flow_runs) == FLOWS
    for record in timeline.task_runs:
        assert [_key(s) for s in record.states] == [_key(s) for s in histories[record.run_id]]


def test_hundred_flows_of_hundred_tasks_in_threads_lose_no_transition() -> None:
    futures: list[TaskFuture] = []
    lock = threading.Lock()

    @flow(task_runner=ConcurrentTaskRunner(max_workers=2))
    def hundred_steps() -> list[int]:
        submitted: list[TaskFuture] = []
        for index in range(TASKS):
            upstream = submitted[index - LINK] if index >= LINK else None
            submitted.append(step.submit(index, upstream))
        with lock:
            futures.extend(submitted)
        return [future.result() for future in submitted]

    with Subscribers() as subscribers:
        barrier = threading.Barrier(FLOWS, timeout=60)

        def one_flow() -> Any:
            barrier.wait()  # all flow runs start together
            return hundred_steps(return_state=True)

        with concurrent.futures.ThreadPoolExecutor(FLOWS) as pool:
            flow_states = list(pool.map(lambda _: one_flow(), range(FLOWS)))
    assert all(state.result() == list(range(TASKS)) for state in flow_states)
    _check(subscribers, futures, flow_states)


@pytest.mark.parametrize("body", [async_step, step], ids=["async-tasks", "sync-tasks"])
def test_hundred_async_flows_on_one_loop_lose_no_transition(body: Any) -> None:
    futures: list[TaskFuture] = []

    @flow(task_runner=AsyncTaskRunner())
    async def hundred_steps() -> list[int]:
        submitted: list[TaskFuture] = []
        for index in range(TASKS):
            upstream = submitted[index - LINK] if index >= LINK else None
            submitted.append(await body.submit(index, upstream))
        futures.extend(submitted)
        return list(await asyncio.gather(*submitted))

    async def all_flows() -> list[Any]:
        return list(await asyncio.gather(*(hundred_steps(return_state=True) for _ in range(FLOWS))))

    with Subscribers() as subscribers:
        flow_states = asyncio.run(all_flows())
    assert all(state.result() == list(range(TASKS)) for state in flow_states)
    _check(subscribers, futures, flow_states)


def _key(state: Any) -> tuple[Any, ...]:
    return (state.type, state.name, state.timestamp_ns, state.message)
