"""The timeline's event store: every event kept once, in recording order, read back equal,
whether it came as an event or as a task run's transition in parts; packed events cost
the garbage collector nothing."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore import events, flow, task
from flowcore.events import StateEvent
from flowcore.states import Completed, State, StateType
from flowcore.task_runners import TaskRunner
from pytest_flows.timeline import Timeline
from pytest_flows.timeline.event_store import BATCH, EventStore


def _event(index: int, thread: str = "MainThread", data: object = None) -> StateEvent:
    state = State(StateType.COMPLETED, "Completed", index, message=f"m{index}", data=data)
    object.__setattr__(state, "task_run_id", f"run-{index}")
    return StateEvent(
        f"run-{index}", f"load-{index}", "task", "load", "flow-1", None, state, index, 1,
        thread, None, ("up-1",), (("0", repr(index)),),
    )  # fmt: skip


def _fields(event: StateEvent) -> tuple[object, ...]:
    state = event.state
    state_fields = (
        state.type, state.name, state.timestamp_ns, state.message, state.data,
        state.exception, state.scheduled_ns, state.task_run_id,
    )  # fmt: skip
    return (*event[:6], state_fields, *event[7:])


@settings(max_examples=30)
@given(count=st.integers(min_value=0, max_value=5 * BATCH + 3))
def test_events_come_back_equal_and_in_order(count: int) -> None:
    store = EventStore()
    events = [_event(index, data=[index]) for index in range(count)]
    for event in events:
        store.append(event)
    assert len(store.events()) == count
    back = store.events()
    assert [_fields(event) for event in back] == [_fields(event) for event in events]
    assert all(type(event) is StateEvent and type(event.state) is State for event in back)
    assert store.events() == back  # read twice: the same


def test_threads_appending_at_once_lose_nothing_and_keep_each_threads_order() -> None:
    store = EventStore()
    per_thread = 3 * BATCH + 7
    names = [f"writer-{index}" for index in range(8)]
    start = threading.Barrier(len(names))

    def write(name: str) -> None:
        start.wait()
        for index in range(per_thread):
            store.append(_event(index, thread=name))

    threads = [threading.Thread(target=write, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    events = store.events()
    assert len(events) == len(names) * per_thread
    for name in names:
        mine = [event.timestamp_ns for event in events if event.thread_name == name]
        assert mine == list(range(per_thread))


def _tracked_from(root: object) -> int:
    """How many objects a garbage collection walks from ``root``: the tracked ones it
    reaches through tracked ones (classes aside: the rest of the program hangs on them)."""
    seen: set[int] = set()
    stack, walked = [root], 0
    while stack:
        item = stack.pop()
        if id(item) in seen or not gc.is_tracked(item) or isinstance(item, type):
            continue
        seen.add(id(item))
        walked += 1
        stack.extend(gc.get_referents(item))
    return walked


def test_packed_events_are_not_walked_by_the_garbage_collector() -> None:
    """Counted from the store alone: objects other threads make meanwhile do not count."""
    store = EventStore()
    for index in range(20 * BATCH + 5):
        store.append(_event(index, data=index))
    gc.collect()
    walked = _tracked_from(store)
    assert walked < 10, f"{walked} objects walked for {20 * BATCH + 5} events"


@settings(max_examples=30)
@given(reads=st.lists(st.integers(min_value=0, max_value=3 * BATCH), max_size=4))
def test_events_read_between_appends_come_back_as_the_same_objects(reads: list[int]) -> None:
    """Read before or after they are packed, events are unpacked once: a later read gives
    the same `StateEvent`s and `State`s, whatever came in between."""
    store = EventStore()
    appended: list[StateEvent] = []
    earlier: list[StateEvent] = []
    for count in [*reads, BATCH + 1]:
        for _ in range(count):
            appended.append(_event(len(appended)))
            store.append(appended[-1])
        back = store.events()
        assert all(again is first for again, first in zip(back, earlier, strict=False))
        assert len(back) == len(appended)
        earlier = back
    assert [_fields(event) for event in earlier] == [_fields(event) for event in appended]


class _TimelineCheckingParts(Timeline):
    """A timeline that also keeps the event the engine would have built of each transition
    it takes as parts, to compare with what it reads back."""

    def __init__(self) -> None:
        super().__init__()
        self.built: list[StateEvent] = []
        keep = self.record_transition

        def record_transition(run: Any, state: State, first: bool, thread: str | None) -> None:
            self.built.append(events.task_event(run, state, first, thread))
            keep(run, state, first, thread)

        self.record_transition = record_transition


@contextlib.contextmanager
def _alone_with(timeline: Timeline) -> Iterator[None]:
    """``timeline`` the one subscriber meanwhile: the engine hands it every task-run
    transition as parts, as outside pytest (where this plugin's own timeline listens)."""
    with events._subscribers_lock:
        others = events._subscribers
        events._set_subscribers((timeline.record,))
    try:
        yield
    finally:
        with events._subscribers_lock:
            events._set_subscribers(others)


@task(retries=1, retry_delay_seconds=0)
def _flaky(fail: bool) -> str:
    if fail:
        raise ValueError("no")
    return "yes"


@task
def _echo(*args: object, **kwargs: object) -> object:
    return args


@task
def _mutate(items: list[int]) -> None:
    items.append(99)  # after its PENDING event: that event shows the list before


@task
def _ignore(value: object) -> None:
    pass


@task
def _rename_thread() -> None:
    threading.current_thread().name = "renamed-by-the-body"


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_transitions_taken_as_parts_read_back_as_the_events_the_engine_builds(
    runner_name: str, make_runner: Callable[[str], TaskRunner]
) -> None:
    plain = (0, -7, 10**17, "text", "", 2.5, float("nan"), True, None)
    repr_now = (10**18, -(10**30), "x" * 81, [1], ("a",), 1 + 2j, b"b", Completed())

    @flow(task_runner=make_runner(runner_name))
    def pipeline() -> None:
        _echo(*plain)
        _echo()
        for value in repr_now:
            _echo(value)
        _echo(1, key="word")
        _mutate([1, 2])
        good, bad = _flaky.submit(False), _flaky.submit(True)
        _echo.submit(good, bad)
        _echo.submit(good)
        if runner_name == "sequential":  # the body runs in this thread: renames it
            thread_name = threading.current_thread().name
            try:
                _rename_thread()
            finally:
                threading.current_thread().name = thread_name

    timeline = _TimelineCheckingParts()
    with _alone_with(timeline):
        pipeline(return_state=True)
    read = [event for event in timeline.events if event.kind == "task"]
    assert len(read) == len(timeline.built) > 40
    assert [_fields(event) for event in read] == [_fields(event) for event in timeline.built]
    mutated = next(event for event in read if event.name == "_mutate")
    assert mutated.parameters == (("0", "[1, 2]"),)
    if runner_name == "sequential":  # each event has the name of its moment
        renamed = [event.thread_name for event in read if event.name == "_rename_thread"]
        assert renamed[-1] == "renamed-by-the-body" != renamed[0]


def test_a_run_recorded_as_parts_keeps_no_argument_alive_but_short_plain_ones() -> None:
    """Only a short plain argument is kept for its repr to be made when read."""

    class Big:
        pass

    big, text = Big(), "y" * 1000
    references_to_text = sys.getrefcount(text)
    timeline = Timeline()
    with _alone_with(timeline):
        _mutate([1])  # returns None: its state keeps no result either
        _ignore(big)
        _ignore(text)
    references = weakref.ref(big)
    del big
    gc.collect()
    assert references() is None
    assert sys.getrefcount(text) == references_to_text
    pending = [event.parameters for event in timeline.events if event.name == "_ignore"][::3]
    assert pending[0][0][1].startswith("<test_event_store.")  # its repr, made then
    assert pending[1] == (("0", repr(text)[:77] + "..."),)
