"""DeterministicTaskRunner: seeded order, async interleaving, virtual time, deadlocks."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import freezegun
import pytest

from flowcore import events, flow, task
from flowcore.context import current_flow_run
from flowcore.errors import InvalidArgument
from flowcore.task_runners import override_task_runner
from pytest_flows.deterministic import DeterministicTaskRunner
from pytest_flows.deterministic.deadlocks import DeadlockError
from pytest_flows.deterministic.executions import execute
from pytest_flows.deterministic.loop import DeterministicEventLoop
from pytest_flows.deterministic.schedules import Schedule, strategy_for_seed
from pytest_flows.deterministic.sync_worker import SyncBodyBlocked
from pytest_flows.deterministic.virtual_clock import EPOCH_NS, VirtualClock

Entry = tuple[str, str, str, int]


@pytest.fixture
def transitions() -> Iterator[list[events.StateEvent]]:
    seen: list[events.StateEvent] = []
    with events.subscribe(seen.append):
        yield seen


def task_timeline(seen: list[events.StateEvent]) -> list[Entry]:
    return [
        (e.run_name, e.state.type.value, e.state.name, e.timestamp_ns)
        for e in seen
        if e.kind == "task"
    ]


def run_under(runner: DeterministicTaskRunner, target: Any) -> Any:
    with override_task_runner(runner):
        return target()


def starts(seen: list[events.StateEvent]) -> list[str]:
    return [e.run_name for e in seen if e.kind == "task" and e.state.name == "Running"]


@task
def record(name: str) -> str:
    return name


@flow
def six_independent() -> list[str]:
    return [record(name) for name in "abcdef"]


@task
async def print_values(values: Any) -> None:
    for value in values:
        await asyncio.sleep(1)
        print(value, end=" ")


@flow
async def async_flow() -> None:
    await print_values([1, 2])
    await asyncio.gather(print_values("abcd"), print_values("6789"))


def test_seed_async_example_prints_interleaved_values_without_a_seed(
    capsys: pytest.CaptureFixture[str], transitions: list[events.StateEvent]
) -> None:
    started = time.perf_counter()
    run_under(DeterministicTaskRunner(), lambda: asyncio.run(async_flow()))
    assert capsys.readouterr().out == "1 2 a 6 b 7 c 8 d 9 "
    assert time.perf_counter() - started < 3  # six one-second sleeps, all virtual
    last = max(e.timestamp_ns for e in transitions)
    assert last - EPOCH_NS >= 6 * 10**9


def test_same_seed_gives_one_distinct_timeline_over_twenty_runs(
    transitions: list[events.StateEvent],
) -> None:
    timelines = set()
    for _ in range(20):
        transitions.clear()
        run_under(DeterministicTaskRunner(seed=42), six_independent)
        timelines.add(tuple(task_timeline(transitions)))
    assert len(timelines) == 1


def test_different_seeds_give_different_orders_of_independent_tasks(
    transitions: list[events.StateEvent],
) -> None:
    orders = set()
    for seed in range(10):
        transitions.clear()
        run_under(DeterministicTaskRunner(seed=seed), six_independent)
        orders.add(tuple(starts(transitions)))
    assert len(orders) > 5


def test_without_a_seed_runs_start_in_submission_order(
    transitions: list[events.StateEvent],
) -> None:
    assert run_under(DeterministicTaskRunner(), six_independent) == list("abcdef")
    assert starts(transitions) == [f"record-{i}" for i in range(6)]


@task
def add_one(value: int) -> int:
    return value + 1


@flow
def chain_and_side() -> int:
    first = add_one(0)
    record("side")
    return add_one(add_one(first))


@pytest.mark.parametrize("seed", range(8))
def test_dependent_run_starts_only_after_its_upstream(
    seed: int, transitions: list[events.StateEvent]
) -> None:
    assert run_under(DeterministicTaskRunner(seed=seed), chain_and_side) == 3
    order = starts(transitions)
    assert order.index("add_one-0") < order.index("add_one-1") < order.index("add_one-2")


running_now = [0]
most_at_once = [0]


@task
async def overlapping(n: int) -> int:
    running_now[0] += 1
    most_at_once[0] = max(most_at_once[0], running_now[0])
    await asyncio.sleep(0)
    running_now[0] -= 1
    return n


@flow
def mixed() -> list[int]:
    return [overlapping(n) for n in range(3)] + [add_one(n) for n in range(3)]


def test_async_runs_interleave_at_their_awaits() -> None:
    most_at_once[0] = 0
    assert run_under(DeterministicTaskRunner(), mixed) == [0, 1, 2, 1, 2, 3]
    assert most_at_once[0] == 3  # the three async runs were all suspended at once


attempts: list[int] = []


@task(retries=3, retry_delay_seconds=60)
def flaky() -> str:
    attempts.append(1)
    if len(attempts) < 4:
        raise ValueError("not yet")
    return "ok"


@task(retries=3, retry_delay_seconds=60)
async def flaky_async() -> str:
    attempts.append(1)
    if len(attempts) < 4:
        raise ValueError("not yet")
    return "ok"


@flow
def retrying(use_async: bool) -> str:
    return flaky_async() if use_async else flaky()  # type: ignore[return-value]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_retry_delays_pass_in_virtual_time_with_sixty_second_gaps(
    use_async: bool, transitions: list[events.StateEvent]
) -> None:
    attempts.clear()
    started = time.perf_counter()
    assert run_under(DeterministicTaskRunner(), lambda: retrying(use_async)) == "ok"
    assert time.perf_counter() - started < 3  # three minutes of delays, all virtual
    timeline = task_timeline(transitions)
    waits = [t for _, _, name, t in timeline if name == "AwaitingRetry"]
    retries = [t for _, _, name, t in timeline if name == "Retrying"]
    gaps = [(retry - wait) / 1e9 for wait, retry in zip(waits, retries, strict=True)]
    assert len(gaps) == 3
    assert all(60 <= gap < 60.01 for gap in gaps)


def test_frozen_time_never_hangs_a_retry_delay() -> None:
    attempts.clear()
    with freezegun.freeze_time("2030-01-01"):
        assert run_under(DeterministicTaskRunner(seed=1), lambda: retrying(False)) == "ok"


@task(timeout_seconds=10)
async def too_slow() -> None:
    await asyncio.sleep(3600)


@flow
def timing_out() -> Any:
    return too_slow()


def test_task_timeouts_expire_in_virtual_time(transitions: list[events.StateEvent]) -> None:
    state = run_under(DeterministicTaskRunner(), lambda: timing_out(return_state=True))
    assert state.is_failed()
    final = task_timeline(transitions)[-1]
    assert final[2] == "TimedOut"
    assert (final[3] - EPOCH_NS) // 10**9 == 10


@task
async def producer(queue: asyncio.Queue[int]) -> None:
    for item in range(3):
        await queue.put(item)
        await asyncio.sleep(1)


@task
async def consumer(queue: asyncio.Queue[int]) -> list[int]:
    return [await queue.get() for _ in range(3)]


@flow
def queue_flow() -> Any:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    producer(queue)
    return consumer(queue)


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_asyncio_queue_works_between_async_tasks(seed: int | None) -> None:
    assert run_under(DeterministicTaskRunner(seed=seed), queue_flow) == [0, 1, 2]


@task
async def waiter(event: asyncio.Event) -> None:
    await event.wait()


@flow
def never_set() -> None:
    waiter(asyncio.Event())


def test_deadlock_names_the_blocked_run_and_the_schedule_so_far() -> None:
    with pytest.raises(Exception, match="Deadlock") as raised:
        run_under(DeterministicTaskRunner(seed=3), never_set)
    deadlock = raised.value.__cause__
    assert isinstance(deadlock, DeadlockError)
    assert deadlock.blocked == ("waiter-0",)
    message = str(deadlock)
    assert "'waiter-0' awaits Event.wait() at test_runner.py" in message
    assert "Schedule so far (schedule random-3): waiter-0" in message


@flow
async def never_set_async() -> None:
    await waiter(asyncio.Event())


def test_deadlock_in_an_async_flow_raises_instead_of_hanging() -> None:
    with pytest.raises(DeadlockError, match=re.escape("'waiter-0' awaits Event.wait()")):
        run_under(DeterministicTaskRunner(), lambda: asyncio.run(never_set_async()))


@task
def blocks_on_thread_event(event: threading.Event) -> None:
    event.wait()


@flow
def threads_waiting(event: threading.Event) -> None:
    blocks_on_thread_event(event)


def test_sync_task_blocked_on_another_thread_is_reported_after_the_wait_limit() -> None:
    never_set = threading.Event()
    with pytest.raises(Exception, match=r"did not return within 0\.2s") as raised:
        run_under(DeterministicTaskRunner(sync_wait_limit=0.2), lambda: threads_waiting(never_set))
    never_set.set()  # lets the given-up body, and its thread, end
    blocked = raised.value.__cause__
    assert isinstance(blocked, SyncBodyBlocked)
    assert "event.wait()" in str(blocked)
    assert "sync tasks that wait for each other through threads" in str(blocked)


@task
def sets_thread_event(event: threading.Event) -> str:
    event.set()
    return "set"


@flow
def waits_then_sets() -> tuple[str, str, str]:
    event = threading.Event()
    blocked = blocks_on_thread_event(event)  # submitted first: runs first, with no seed
    setter = sets_thread_event(event)
    state = blocked.wait()
    return state.type.value, state.message, setter.result()


def test_runs_after_a_given_up_sync_body_still_run(transitions) -> None:
    blocked_type, blocked_message, setter_result = run_under(
        DeterministicTaskRunner(sync_wait_limit=0.2), waits_then_sets
    )
    assert blocked_type == "CRASHED"
    assert "did not return within 0.2s" in blocked_message
    assert setter_result == "set"
    # The given-up body woke when the event was set; its thread ends, and what
    # it would record after its run's final state is dropped.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _given_up_threads():
        time.sleep(0.01)
    assert not _given_up_threads()
    blocked = [e.state.type.value for e in transitions if e.run_name == "blocks_on_thread_event-0"]
    assert blocked == ["PENDING", "RUNNING", "CRASHED"]


def _given_up_threads() -> list[threading.Thread]:
    from pytest_flows.deterministic.sync_worker import idle_threads

    idle = idle_threads()
    return [
        thread
        for thread in threading.enumerate()
        if thread.name == "flowcore-deterministic" and thread not in idle
    ]


async def _five() -> int:
    await asyncio.sleep(0)
    return 5


@task
def runs_its_own_event_loop() -> int:
    return asyncio.run(_five())


@flow
def sync_task_with_asyncio_run() -> int:
    return runs_its_own_event_loop().result()  # type: ignore[no-any-return]


def test_a_sync_task_can_run_its_own_event_loop() -> None:
    assert run_under(DeterministicTaskRunner(seed=3), sync_task_with_asyncio_run) == 5


@flow
def outer() -> int:
    return inner() + add_one(1).result()  # type: ignore[no-any-return]


@flow
def inner() -> int:
    return add_one(0).result()  # type: ignore[no-any-return]


def test_a_subflow_continues_its_parent_clock(transitions: list[events.StateEvent]) -> None:
    assert run_under(DeterministicTaskRunner(seed=5), outer) == 3
    stamps = [e.timestamp_ns for e in transitions]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_seed_must_be_an_integer() -> None:
    with pytest.raises(InvalidArgument, match="seed must be an integer or None, got '3'"):
        DeterministicTaskRunner(seed="3")  # type: ignore[arg-type]


# --- which thread runs a step -----------------------------------------------------


@task
async def nap_then(name: str) -> str:
    await asyncio.sleep(1)
    return name


@flow
def async_then_sync() -> tuple[str, str]:
    first = nap_then("a").result()  # only an async run to step: no sync body
    return first, record("b").result()


def test_async_runs_step_on_the_waiting_thread_and_sync_bodies_on_the_worker(
    transitions: list[events.StateEvent],
) -> None:
    assert run_under(DeterministicTaskRunner(seed=2), async_then_sync) == ("a", "b")
    threads = {e.run_name: e.thread_name for e in transitions if e.kind == "task"}
    assert threads == {
        "nap_then-0": threading.current_thread().name,
        "record-0": "flowcore-deterministic",
    }


@flow
def sleeps_and_bodies() -> list[Any]:
    naps = [nap_then(str(n)) for n in range(3)]
    bodies = [add_one(n) for n in range(3)]
    return [*naps, *bodies, overlapping(7), add_one(bodies[0])]


def test_which_thread_steps_never_changes_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    def executions() -> list[tuple[Any, ...]]:
        runs = [execute(sleeps_and_bodies, strategy_for_seed(seed), True) for seed in range(12)]
        return [(e.value, e.timeline, e.schedule.decisions, e.schedule.widths) for e in runs]

    stepping_here = executions()
    monkeypatch.setattr(DeterministicTaskRunner, "_steps_here", lambda self, done: None)
    all_on_the_worker = executions()
    assert stepping_here == all_on_the_worker
    assert len({str(timeline) for _, timeline, _, _ in stepping_here}) > 1  # seeds differ


def test_stepping_here_stops_before_a_step_that_may_block_then_goes_on_alike() -> None:
    def steps(here_first: bool) -> tuple[list[str], list[str], list[int]]:
        loop = DeterministicEventLoop(Schedule(strategy_for_seed(4)))
        ran: list[str] = []
        for name in "abc":
            loop.call_soon(ran.append, name)
        loop.call_soon_blocking(ran.append, "body")
        for name in "de":
            loop.call_soon(ran.append, name)
        before: list[str] = []
        if here_first:
            assert loop.run_here_until(lambda: len(ran) == 6, 100) is None
            before = list(ran)
        assert loop.run_until(lambda: len(ran) == 6)
        loop.close()
        return before, ran, loop.schedule.decisions

    before, ran, decisions = steps(here_first=True)
    assert "body" not in before
    assert ran[len(before)] == "body"  # held back, then first for the thread that may block
    assert (ran, decisions) == steps(here_first=False)[1:]


def test_the_next_step_may_block_only_when_every_step_it_could_be_may() -> None:
    loop = DeterministicEventLoop(Schedule())
    assert not loop.next_step_may_block()  # nothing ready: collecting decides
    loop.call_soon_blocking(print)
    loop.call_soon_blocking(print)
    assert loop.next_step_may_block()
    loop.call_later(0, print)  # a timer due now joins the ready steps first
    assert not loop.next_step_may_block()
    loop.close()


def test_a_shutdown_from_a_step_on_the_waiting_thread_ends_the_run_cancelled(
    transitions: list[events.StateEvent],
) -> None:
    @task
    async def shuts_down() -> None:
        current_flow_run().runner.shutdown(cancel=True)  # type: ignore[union-attr]
        await asyncio.sleep(1)

    @flow
    def shutting() -> Any:
        return shuts_down.submit().wait()

    run_under(DeterministicTaskRunner(), lambda: shutting(return_state=True))
    finals = [e.state for e in transitions if e.kind == "task" and e.state.type.is_final]
    assert [state.type.value for state in finals] == ["CANCELLED"]


def test_virtual_clock_ticks_once_per_reading_and_jumps_on_sleep() -> None:
    clock = VirtualClock()
    first = clock.now_ns()
    clock.sleep(60)
    assert first == EPOCH_NS + 1_000
    assert clock.now_ns() - first == 60 * 10**9 + 1_000


def test_loop_fires_timers_with_the_same_deadline_in_the_order_they_were_set() -> None:
    loop = DeterministicEventLoop(Schedule())
    fired: list[int] = []
    for number in range(5):
        loop.call_later(10, fired.append, number)
    assert loop.run_until(lambda: len(fired) == 5)
    assert fired == [0, 1, 2, 3, 4]
    assert loop.time() == 10
    loop.close()


def test_a_timer_set_for_now_is_a_choice_at_the_very_next_step() -> None:
    loop = DeterministicEventLoop(Schedule())
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        loop.call_later(0, ran.append, "timer")

    loop.call_soon(first)
    loop.call_soon(ran.append, "second")
    loop.call_soon(ran.append, "third")
    assert loop.run_until(lambda: len(ran) == 4)
    # Steps ready: first, second, third; then second, third and the timer; then two.
    assert loop.schedule.widths == [3, 3, 2]
    assert ran == ["first", "second", "third", "timer"]
    loop.close()


def _fails(message: str) -> None:
    raise ValueError(message)


@pytest.mark.parametrize("kind", ["call_soon", "call_soon_blocking"])
def test_a_step_that_raises_is_reported_as_asyncio_reports_it_and_the_loop_goes_on(
    kind: str,
) -> None:
    def reported(loop: asyncio.AbstractEventLoop, schedule: Any) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: seen.append(context))
        ran: list[str] = []
        schedule(loop, _fails, "boom")
        schedule(loop, ran.append, "after")
        if isinstance(loop, DeterministicEventLoop):
            assert loop.run_until(lambda: bool(ran))
        else:
            loop.run_until_complete(asyncio.sleep(0))
        assert ran == ["after"]
        loop.close()
        return seen

    schedule = getattr(DeterministicEventLoop, kind)
    ours = reported(DeterministicEventLoop(Schedule()), schedule)
    asyncio_own = reported(asyncio.new_event_loop(), asyncio.AbstractEventLoop.call_soon)
    assert len(ours) == len(asyncio_own) == 1
    assert ours[0]["message"] == asyncio_own[0]["message"]
    assert "_fails('boom')" in ours[0]["message"]
    assert repr(ours[0]["exception"]) == repr(asyncio_own[0]["exception"]) == "ValueError('boom')"
    assert ours[0]["handle"] is not None


@pytest.mark.parametrize("seed", [0, 7, 1234])
def test_a_seed_chooses_by_the_draws_of_its_random_generator(seed: int) -> None:
    # The seed -> schedule mapping that replay tokens (random-SEED) rely on: decision i
    # takes index int(random() * width) of random.Random(seed)'s i-th draw.
    schedule = execute(six_independent, strategy_for_seed(seed)).schedule
    draws = random.Random(seed)
    assert schedule.widths == [6, 5, 4, 3, 2]
    assert schedule.decisions == [int(draws.random() * width) for width in schedule.widths]


# --- internal failures, real-time waits, shutdown ------------------------------------

BOUND = 30.0
"""Real seconds a flow below may take on a loaded machine when nothing hangs."""


def in_thread(target: Any) -> tuple[threading.Thread, list[Any]]:
    """``target()`` started in a daemon thread; the list gets its value or error."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@task
async def naps() -> str:
    await asyncio.sleep(0.1)
    return "rested"


@flow
def naps_sync() -> str:
    return naps()


@flow
async def naps_async() -> str:
    return await naps()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_internal_failure_of_the_loop_crashes_the_runs_instead_of_hanging(
    kind: str, monkeypatch: pytest.MonkeyPatch, transitions: list[events.StateEvent]
) -> None:
    def broken(self: DeterministicEventLoop) -> bool:
        raise RuntimeError("injected failure of the loop")

    monkeypatch.setattr(DeterministicEventLoop, "_collect_ready", broken)
    call = (
        (lambda: naps_sync(return_state=True))
        if kind == "sync"
        else (lambda: asyncio.run(naps_async(return_state=True)))
    )
    thread, _ = in_thread(lambda: run_under(DeterministicTaskRunner(), call))
    thread.join(BOUND)
    assert not thread.is_alive(), "the flow hangs after an internal failure"
    finals = [e.state for e in transitions if e.kind == "task" and e.state.type.is_final]
    assert [state.type.value for state in finals] == ["CRASHED"]
    assert "RuntimeError: injected failure of the loop" in (finals[0].message or "")
    flow_states = [e.state for e in transitions if e.kind == "flow" and e.state.type.is_final]
    assert len(flow_states) == 1
    assert flow_states[0].type.value == "FAILED"  # the engine's verdict on a crashed run


@task
def waits_for(event: threading.Event) -> bool:
    return event.wait(30)


def test_result_with_a_timeout_raises_after_that_many_real_seconds() -> None:
    release = threading.Event()
    timed: list[float] = []

    @flow
    def waiting() -> None:
        future = waits_for.submit(release)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            future.result(timeout=0.3)
        timed.append(time.monotonic() - started)
        release.set()  # the runner is still usable: the run goes on to its end
        assert future.result() is True

    run_under(DeterministicTaskRunner(sync_wait_limit=60), waiting)
    assert 0.3 <= timed[0] < 0.3 + 5  # generous: a loaded machine


def non_daemon_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]


@pytest.mark.parametrize("kind", ["sync body", "async body"])
def test_shutdown_cancel_returns_at_once_while_a_body_is_blocked(
    kind: str, transitions: list[events.StateEvent]
) -> None:
    release = threading.Event()
    runners: list[Any] = []

    @task
    def blocked_sync() -> bool:
        runners.append(current_flow_run().runner)  # type: ignore[union-attr]
        return release.wait(30)

    @task
    async def blocked_async() -> bool:
        runners.append(current_flow_run().runner)  # type: ignore[union-attr]
        return await asyncio.to_thread(release.wait, 30)

    @flow
    def blocking() -> Any:
        return blocked_sync()

    @flow
    async def blocking_async() -> Any:
        return await blocked_async()

    call = blocking if kind == "sync body" else lambda: asyncio.run(blocking_async())
    flow_thread, _ = in_thread(lambda: run_under(DeterministicTaskRunner(sync_wait_limit=60), call))
    try:
        deadline = time.monotonic() + BOUND
        while not runners and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runners, "the task body never started"
        time.sleep(0.2)  # the body is now blocked (in the wait, or the loop waits for it)
        started = time.monotonic()
        runners[0].shutdown(cancel=True)
        assert time.monotonic() - started < 2.0
        flow_thread.join(BOUND)
        assert not flow_thread.is_alive(), "the flow did not end after its runner shut down"
        finals = [
            e.state.type.value for e in transitions if e.kind == "task" and e.state.type.is_final
        ]
        assert finals == ["CANCELLED"]
        if kind == "sync body":  # (an async body's thread is asyncio's, joined at exit)
            assert non_daemon_threads() == []
    finally:
        release.set()
