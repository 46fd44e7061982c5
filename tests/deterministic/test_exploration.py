"""explore(), replay tokens, shrinking and the determinism check."""

from __future__ import annotations

import asyncio
import random

import pytest

from flowcore import flow, task
from flowcore.errors import InvalidArgument
from pytest_flows.deterministic.exploration import (
    NondeterminismError,
    ScheduleFailed,
    check_deterministic,
    explore,
    replay,
)
from pytest_flows.deterministic.schedules import InvalidToken, strategy_from_token

counter = {"value": 0}


@task
async def increment() -> None:
    value = counter["value"]
    await asyncio.sleep(0)
    counter["value"] = value + 1


@task
async def increment_locked(lock: asyncio.Lock) -> None:
    async with lock:
        value = counter["value"]
        await asyncio.sleep(0)
        counter["value"] = value + 1


@flow
def two_increments(locked: bool) -> None:
    counter["value"] = 0
    if locked:
        lock = asyncio.Lock()
        increment_locked(lock), increment_locked(lock)
    else:
        increment(), increment()


def check_counter(locked: bool = False) -> None:
    two_increments(locked)
    assert counter["value"] == 2, f"lost update: counter is {counter['value']}"


@pytest.mark.parametrize("seed", range(5))
def test_random_finds_the_lost_update_within_a_hundred_schedules(seed: int) -> None:
    result = explore(check_counter, schedules=100, seed=seed, raise_on_failure=False)
    assert result.failure is not None
    assert result.failure.schedule_number <= 100


def test_exhaustive_always_finds_the_lost_update() -> None:
    result = explore(check_counter, strategy="exhaustive", shrink=False, raise_on_failure=False)
    assert result.failure is not None
    assert "lost update" in str(result.failure.error)


@pytest.mark.parametrize("strategy", ["random", "pct", "exhaustive"])
def test_failure_token_replays_the_failure_every_time(strategy: str) -> None:
    result = explore(check_counter, strategy=strategy, seed=11, raise_on_failure=False)
    assert result.failure is not None
    for _ in range(10):
        with pytest.raises(AssertionError, match="lost update"):
            replay(result.failure.token, check_counter)


@pytest.mark.parametrize("strategy", ["random", "pct", "exhaustive"])
def test_lost_update_guarded_by_a_lock_passes_every_schedule(strategy: str) -> None:
    result = explore(lambda: check_counter(locked=True), strategy=strategy, schedules=100, seed=3)
    assert result.failure is None
    assert result.schedules_run >= 1


def test_exhaustive_covers_every_schedule_of_a_small_graph() -> None:
    result = explore(lambda: check_counter(locked=True), strategy="exhaustive")
    assert result.complete
    assert result.distinct_schedules == result.schedules_run > 1
    assert "that is every schedule" in result.summary()


def test_exhaustive_says_when_the_bound_cut_the_search() -> None:
    result = explore(lambda: check_counter(locked=True), strategy="exhaustive", bound=2)
    assert result.schedules_run == 2
    assert result.cut_by_bound
    assert not result.complete
    assert "the bound cut the exhaustive search" in result.summary()


def test_failing_exploration_raises_with_the_replay_token() -> None:
    with pytest.raises(ScheduleFailed, match=r"--flow-replay=\S+") as raised:
        explore(check_counter, seed=1)
    assert isinstance(raised.value, AssertionError)
    assert raised.value.exploration.failure is not None


order: list[str] = []


@task
async def first() -> None:
    order.append("first")


@task
async def second() -> None:
    order.append("second")


@task
async def bystander(n: int) -> int:
    await asyncio.sleep(0)
    return n


@flow
def ordered() -> None:
    order.clear()
    for n in range(4):
        bystander(n)
    first(), second()


def check_order() -> None:
    ordered()
    assert order == ["first", "second"], f"order was {order}"


def test_shrinking_finds_a_schedule_with_fewer_preemptions() -> None:
    result = explore(check_order, seed=2, raise_on_failure=False)
    assert result.failure is not None
    assert result.failure.preemptions == 1
    assert result.failure.token.startswith("choices-")
    with pytest.raises(AssertionError, match="order was"):
        replay(result.failure.token, check_order)


@flow
async def async_counter() -> None:
    counter["value"] = 0
    await asyncio.gather(increment(), increment())
    assert counter["value"] == 2, "lost update in an async flow"


def test_async_flows_are_explored_too() -> None:
    result = explore(async_counter, seed=4, raise_on_failure=False)
    assert result.failure is not None
    assert "lost update in an async flow" in str(result.failure.error)


def test_deterministic_target_passes_the_determinism_check() -> None:
    timeline = check_deterministic(lambda: check_counter(locked=True), seed=9, runs=3)
    assert ("increment_locked-1", "COMPLETED", "Completed") in [t[:3] for t in timeline]


unseeded = random.Random()


@task
async def nap() -> None:
    await asyncio.sleep(unseeded.random())


@flow
def napping() -> None:
    nap()


def test_unseeded_randomness_fails_the_determinism_check_loudly() -> None:
    with pytest.raises(NondeterminismError, match="timelines differ first at transition"):
        check_deterministic(napping, seed=1)


def test_an_unknown_strategy_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(InvalidArgument, match=r"'dfs' is not an exploration strategy\. Valid: "):
        explore(check_counter, strategy="dfs")


def test_a_malformed_token_is_refused_with_the_valid_forms() -> None:
    with pytest.raises(InvalidToken, match=r"'random-x' is not a replay token\. Valid forms"):
        strategy_from_token("random-x")


@pytest.mark.parametrize("token", ["random-12", "pct-3-40-7", "choices-0102", "inorder"])
def test_tokens_name_the_strategy_they_were_made_from(token: str) -> None:
    assert strategy_from_token(token).token() == token
