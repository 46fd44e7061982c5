"""What makes a schedule cheap changes nothing it does: a loop kept for the next runner,
the running loop switched only between sync bodies and coroutines, the seed's draws."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from flowcore import flow, task
from pytest_flows.deterministic import loop as loop_module
from pytest_flows.deterministic.executions import execute
from pytest_flows.deterministic.loop import give_back_loop, take_loop
from pytest_flows.deterministic.schedules import Schedule, Seeded, strategy_for_seed


@pytest.fixture(autouse=True)
def no_spare_loops() -> Any:
    """Each test starts and ends with no loop kept (closed, as at exit)."""
    loop_module._close_spare_loops()
    yield
    loop_module._close_spare_loops()


def test_a_loop_that_ran_only_sync_bodies_is_kept_for_the_next_runner() -> None:
    first = take_loop(Schedule(Seeded(1)), 5.0)
    ran: list[str] = []
    first.call_soon_blocking(ran.append, "body")
    assert first.run_until(lambda: bool(ran))
    give_back_loop(first)
    schedule = Schedule(Seeded(2))
    second = take_loop(schedule, 1.0)
    assert second is first
    assert not second.is_closed()
    assert second.schedule is schedule
    assert second.virtual_clock is schedule.clock
    assert second.thread_wait_limit == 1.0
    second.close()


async def _nap() -> None:
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    "use",
    ["a coroutine", "a timer", "a step left"],
)
def test_a_loop_is_closed_instead_when_anything_but_sync_bodies_used_it(use: str) -> None:
    loop = take_loop(Schedule(), 5.0)
    if use == "a coroutine":
        task = loop.create_task(_nap())
        assert loop.run_until(task.done)
    elif use == "a timer":
        loop.call_later(0, print).cancel()
    else:
        loop.call_soon_blocking(print)
    give_back_loop(loop)
    assert loop.is_closed()
    fresh = take_loop(Schedule(), 5.0)
    assert fresh is not loop
    fresh.close()


@task
def add_one(x: int) -> int:
    return x + 1


@task
async def nap_then(x: int) -> int:
    await asyncio.sleep(1)
    return x


@flow
def sync_runs() -> list[Any]:
    first = [add_one.submit(i) for i in range(4)]
    return [add_one.submit(future) for future in first]


def _executions(seeds: range) -> list[tuple[Any, ...]]:
    runs = [execute(sync_runs, strategy_for_seed(seed), True) for seed in seeds]
    return [(e.value, e.timeline, e.schedule.decisions, e.schedule.widths) for e in runs]


def test_a_kept_loop_gives_the_schedules_a_new_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = _executions(range(10))
    monkeypatch.setattr(loop_module, "SPARE_LOOPS", 0)
    new_each_time = _executions(range(10))
    assert kept == new_each_time
    assert len({str(decisions) for _, _, decisions, _ in kept}) > 1  # the seeds differ


@task
def sees_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@task
async def sees_loop_async() -> bool:
    return asyncio.get_running_loop() is not None


@flow
async def mixed_async() -> tuple[bool, ...]:
    flow_loop = asyncio.get_running_loop()
    seen = await asyncio.gather(
        sees_running_loop(), sees_loop_async(), sees_running_loop(), nap_then(1)
    )
    after = asyncio.get_running_loop() is flow_loop
    return (*seen[:3], after)


@flow
def mixed_sync() -> tuple[bool, ...]:
    futures = [sees_running_loop.submit(), sees_loop_async.submit(), sees_running_loop.submit()]
    seen = tuple(future.result() for future in futures)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return (*seen, False)
    return (*seen, True)


@pytest.mark.parametrize("seed", range(6))
def test_sync_bodies_see_no_running_loop_and_the_waiting_thread_keeps_its_own(seed: int) -> None:
    # In an async flow the flow's loop is running again after the steps; in a sync flow,
    # none is. Async bodies always see the runner's loop; sync bodies never see one.
    assert execute(lambda: mixed_async(), Seeded(seed)).value == (False, True, False, True)
    assert execute(mixed_sync, Seeded(seed)).value == (False, True, False, False)


@pytest.mark.parametrize("seed", [-5, 0, 2**40 + 3, 12345678901234567890])
def test_a_seed_draws_what_random_random_draws(seed: int) -> None:
    strategy, draws = Seeded(seed), random.Random(seed)
    widths = [2, 7, 3, 100, 5] * 4
    chosen = [strategy.choose(range(width), index) for index, width in enumerate(widths)]
    assert chosen == [int(draws.random() * width) for width in widths]


class _ChoosingSeeded(Seeded):
    """`Seeded`, seen by the loop as any other strategy: it asks `choose` at each decision."""


@flow
def sync_and_async_runs() -> list[Any]:
    naps = [nap_then.submit(i) for i in range(3)]
    bodies = [add_one.submit(i) for i in range(3)]
    return [*naps, *bodies, add_one.submit(naps[0]), nap_then.submit(bodies[1])]


@pytest.mark.parametrize("target", [sync_runs, sync_and_async_runs])
def test_the_loop_draws_for_a_seed_what_its_choose_would(target: Any) -> None:
    def executions(strategy: type[Seeded]) -> list[tuple[Any, ...]]:
        runs = [execute(target, strategy(seed), True) for seed in range(12)]
        return [(e.value, e.timeline, e.schedule.decisions, e.schedule.widths) for e in runs]

    drawn_by_the_loop = executions(Seeded)
    assert drawn_by_the_loop == executions(_ChoosingSeeded)
    assert len({str(decisions) for _, _, decisions, _ in drawn_by_the_loop}) > 1
