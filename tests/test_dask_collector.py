"""The Dask runner's collector thread: batches, closing, and faults while collecting."""

from __future__ import annotations

import concurrent.futures
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from flowcore import RunCrashed
from flowcore.task_runners.dask_collector import Collector
from flowcore.task_runners.dask_outcomes import Finished


def _item(name: str) -> Finished:
    run: Any = SimpleNamespace(name=name)
    return Finished(run, None, concurrent.futures.Future(), 0)


def test_what_is_offered_meanwhile_is_collected_as_one_batch() -> None:
    release, started = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def collect(batch: list[Any]) -> None:
        batches.append([run.name for run, _, _, _ in batch])
        started.set()
        release.wait(10)

    collector = Collector(collect)
    collector.offer(_item("a-0"))
    assert started.wait(10)
    for name in ("b-0", "c-0"):
        collector.offer(_item(name))
    release.set()
    assert collector.close(10) == []
    assert batches == [["a-0"], ["b-0", "c-0"]]


def test_closing_gives_back_what_a_busy_thread_did_not_get_to() -> None:
    release, started = threading.Event(), threading.Event()

    def collect(batch: list[Any]) -> None:
        started.set()
        release.wait(10)

    collector = Collector(collect)
    collector.offer(_item("a-0"))
    assert started.wait(10)
    waiting = _item("b-0")
    collector.offer(waiting)
    assert collector.close(0.05) == [waiting]
    assert not collector.offer(_item("c-0")), "a closed collector takes nothing more"
    release.set()  # the busy thread ends once its batch is done
    assert collector.close(10) == []


def test_a_fault_while_collecting_ends_the_batch_crashed_and_the_thread_goes_on() -> None:
    calls: list[int] = []

    def collect(batch: list[Any]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise ConnectionError("scheduler unreachable")
        for item in batch:
            item.handle.set_result("fetched")

    collector = Collector(collect)
    first, second = _item("a-0"), _item("b-0")
    collector.offer(first)
    with pytest.raises(RunCrashed, match="collecting the outcome of 'a-0' from Dask failed"):
        first.handle.result(10)
    collector.offer(second)
    assert second.handle.result(10) == "fetched"
    assert collector.close(10) == []
