"""The timeline's event store: every event kept once, in recording order, read back equal;
packed events cost the garbage collector nothing."""

from __future__ import annotations

import gc
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from flowcore.events import StateEvent
from flowcore.states import State, StateType
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
    assert len(store) == count
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
    for index in range(20 * BATCH):
        store.append(_event(index, data=index))
    gc.collect()
    walked = _tracked_from(store)
    assert walked < 10, f"{walked} objects walked for {20 * BATCH} events"
