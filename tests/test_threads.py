"""flowcore.threads: the light result handle, the daemon worker pool, and sync calls
awaited from an event loop."""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import threading
import time

import anyio
import anyio.to_thread
import pytest
from conftest import switching_threads_often

from flowcore.threads import ResultHandle, SyncBodyThreads, WorkerThreads, run_sync_in_thread

# --- ResultHandle ---------------------------------------------------------------------


def test_handle_gives_the_value_it_was_set_to():
    handle: ResultHandle[int] = ResultHandle()
    assert not handle.done()
    handle.set_result(3)
    assert handle.done()
    assert not handle.cancelled()
    assert handle.result() == 3
    assert handle.exception() is None


def test_handle_raises_the_exception_it_was_set_to():
    handle: ResultHandle[int] = ResultHandle()
    error = ValueError("boom")
    handle.set_exception(error)
    with pytest.raises(ValueError, match="boom"):
        handle.result()
    assert handle.exception() is error


def test_handle_not_done_in_time_raises_timeout_error():
    handle: ResultHandle[int] = ResultHandle()
    with pytest.raises(TimeoutError):
        handle.result(timeout=0)
    with pytest.raises(TimeoutError):
        handle.exception(timeout=0)
    handle.set_result(1)  # the waiter that gave up is let go quietly
    assert handle.result(timeout=0) == 1


def test_handle_cancelled_before_it_started_raises_cancelled_error():
    handle: ResultHandle[int] = ResultHandle()
    assert handle.cancel()
    assert handle.cancelled()
    assert handle.done()
    assert not handle.set_running_or_notify_cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        handle.result()
    with pytest.raises(concurrent.futures.CancelledError):
        handle.exception()


def test_started_handle_cannot_be_cancelled():
    handle: ResultHandle[int] = ResultHandle()
    assert handle.set_running_or_notify_cancel()
    assert not handle.cancel()
    handle.set_result(2)
    assert handle.result() == 2


def test_handle_keeps_its_first_outcome():
    handle: ResultHandle[int] = ResultHandle()
    handle.set_result(1)
    handle.set_result(2)
    handle.set_exception(ValueError("late"))
    assert not handle.cancel()
    assert handle.result() == 1


def test_callbacks_run_once_when_done_or_at_once_if_done_already():
    handle: ResultHandle[int] = ResultHandle()
    calls: list[tuple[str, int]] = []
    handle.add_done_callback(lambda done: calls.append(("early", done.result())))
    assert calls == []
    handle.set_result(5)
    handle.add_done_callback(lambda done: calls.append(("late", done.result())))
    assert calls == [("early", 5), ("late", 5)]


def test_cancelling_calls_the_callbacks():
    handle: ResultHandle[int] = ResultHandle()
    seen: list[bool] = []
    handle.add_done_callback(lambda done: seen.append(done.cancelled()))
    handle.cancel()
    assert seen == [True]


def test_a_callback_that_raises_is_logged_and_the_others_still_run(caplog):
    handle: ResultHandle[int] = ResultHandle()
    seen: list[int] = []

    def broken(_done: ResultHandle[int]) -> None:
        raise RuntimeError("callback broke")

    handle.add_done_callback(broken)
    handle.add_done_callback(lambda done: seen.append(done.result()))
    with caplog.at_level(logging.ERROR, logger="flowcore"):
        handle.set_result(7)
    assert seen == [7]
    assert "callback of <ResultHandle finished> raised" in caplog.text
    assert "callback broke" in caplog.text


def test_a_thread_waiting_for_a_handle_wakes_when_another_thread_sets_it():
    handle: ResultHandle[str] = ResultHandle()
    waiting = threading.Event()
    got: list[str] = []

    def wait() -> None:
        waiting.set()
        got.append(handle.result())

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiting.wait()
    handle.set_result("set elsewhere")
    waiter.join()
    assert got == ["set elsewhere"]


# --- WorkerThreads --------------------------------------------------------------------


def test_pool_runs_calls_in_named_daemon_threads():
    pool = WorkerThreads(max_workers=2, name="test-pool")
    try:
        handle = pool.submit(lambda: threading.current_thread())
        thread = handle.result(timeout=10)
        assert thread.daemon
        assert thread.name.startswith("test-pool_")
    finally:
        pool.shutdown()


def test_pool_hands_a_call_exception_to_its_handle():
    pool = WorkerThreads(max_workers=1, name="test-pool")
    try:
        handle = pool.submit(int, "not a number")
        assert isinstance(handle.exception(timeout=10), ValueError)
    finally:
        pool.shutdown()


def test_submit_to_sets_the_handle_given():
    pool = WorkerThreads(max_workers=1, name="test-pool")
    handle: ResultHandle[int] = ResultHandle()
    try:
        pool.submit_to(handle, sum, [1, 2, 3])
        assert handle.result(timeout=10) == 6
    finally:
        pool.shutdown()


def test_pool_never_runs_more_than_max_workers_at_once():
    pool = WorkerThreads(max_workers=3, name="test-pool")
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def body() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.001)
        with lock:
            running[0] -= 1

    try:
        for handle in [pool.submit(body) for _ in range(60)]:
            handle.result(timeout=10)
    finally:
        pool.shutdown()
    assert peak[0] <= 3


def test_calls_that_block_each_get_a_thread_up_to_max_workers():
    pool = WorkerThreads(max_workers=8, name="test-pool")
    barrier = threading.Barrier(8, timeout=20)  # passes only once all eight run at once
    try:
        handles = [pool.submit(barrier.wait) for _ in range(8)]
        assert sorted(handle.result(timeout=30) for handle in handles) == list(range(8))
    finally:
        pool.shutdown()


def test_calls_that_block_after_many_short_ones_still_each_get_a_thread():
    pool = WorkerThreads(max_workers=6, name="test-pool")
    barrier = threading.Barrier(6, timeout=20)
    try:
        for handle in [pool.submit(int, "1") for _ in range(500)]:
            handle.result(timeout=10)
        handles = [pool.submit(barrier.wait) for _ in range(6)]
        assert sorted(handle.result(timeout=30) for handle in handles) == list(range(6))
    finally:
        pool.shutdown()


def test_the_pool_counts_its_waiting_threads_right_with_submitters_racing():
    # Four threads submit short calls at once while threads switch every few bytecodes.
    # Once all is done, every thread waits for work and is counted so exactly once: one
    # counted twice would leave a later blocking call without a thread; one never
    # counted would make the pool start threads it does not need.
    pool = WorkerThreads(max_workers=16, name="test-pool")

    def submit_many() -> None:
        for handle in [pool.submit(int, "1") for _ in range(300)]:
            handle.result(timeout=10)

    try:
        with switching_threads_often():
            submitters = [threading.Thread(target=submit_many) for _ in range(4)]
            for thread in submitters:
                thread.start()
            for thread in submitters:
                thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in submitters)
        waiting = len(pool._idle)  # counted before each tells of its call's end
        assert waiting == len(pool._threads) >= 1
        barrier = threading.Barrier(waiting, timeout=20)  # each blocking call takes one
        handles = [pool.submit(barrier.wait) for _ in range(waiting)]
        assert sorted(handle.result(timeout=30) for handle in handles) == list(range(waiting))
        assert len(pool._threads) == waiting  # no thread started: each found one waiting
    finally:
        pool.shutdown()


def test_cancelling_shutdown_cancels_queued_calls_and_leaves_the_running_one():
    pool = WorkerThreads(max_workers=1, name="test-pool")
    started, release = threading.Event(), threading.Event()

    def block() -> str:
        started.set()
        release.wait(10)
        return "finished on its own"

    running = pool.submit(block)
    started.wait(10)
    queued = [pool.submit(int, "1") for _ in range(5)]
    pool.shutdown(cancel=True)
    assert all(handle.cancelled() for handle in queued)
    assert not running.done()
    release.set()
    assert running.result(timeout=10) == "finished on its own"
    for thread in threading.enumerate():
        if thread.name.startswith("test-pool_"):
            thread.join(10)


def test_pool_refuses_work_after_shutdown():
    pool = WorkerThreads(max_workers=1, name="test-pool")
    pool.shutdown()
    with pytest.raises(RuntimeError, match="cannot submit to 'test-pool': it was shut down"):
        pool.submit(int, "1")


def test_a_sync_body_that_outlives_its_stopped_loop_ends_its_thread():
    """A flow stopped early abandons a sync body; its loop stops but may not be closed yet
    when the body returns. The body's thread must still end, not wait for that loop."""
    import asyncio
    import time

    from flowcore.threads import run_sync_in_thread

    release = threading.Event()
    seen: list[threading.Thread] = []

    def body() -> str:
        seen.append(threading.current_thread())
        release.wait(10)
        return "done"

    async def abandon_it() -> None:
        task = asyncio.ensure_future(run_sync_in_thread(body))
        while not seen:
            await asyncio.sleep(0.01)
        task.cancel()  # the await ends at once; the body goes on in its thread

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(abandon_it())  # the loop is now stopped, not closed
        release.set()
        deadline = time.monotonic() + 5
        while seen[0].is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not seen[0].is_alive(), "the body's thread waits for a loop that stopped"
    finally:
        release.set()
        loop.close()


# --- a runner's threads for sync bodies on an event loop --------------------------------


def _names_of_calls(threads: SyncBodyThreads, calls: int) -> list[str]:
    """The thread each of ``calls`` sync calls awaited one after the other ran in."""

    async def main() -> list[str]:
        return [
            await run_sync_in_thread(
                lambda: threading.current_thread().name, threads=threads.pool()
            )
            for _ in range(calls)
        ]

    return anyio.run(main)


def test_sync_bodies_awaited_in_turn_reuse_one_pool_thread():
    threads = SyncBodyThreads(max_workers=4, name="bodies")
    try:
        names = _names_of_calls(threads, 20)
    finally:
        threads.shutdown()
    assert set(names) == {"bodies_0"}


def test_sync_bodies_see_the_callers_context_variables():
    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")
    threads = SyncBodyThreads()

    async def main() -> str:
        seen.set("the caller's")
        return await run_sync_in_thread(seen.get, threads=threads.pool())

    try:
        assert anyio.run(main) == "the caller's"
    finally:
        threads.shutdown()


def test_stopping_body_threads_does_not_wait_for_an_abandoned_body():
    threads = SyncBodyThreads(max_workers=2, name="abandoning")
    started, release = threading.Event(), threading.Event()

    def body() -> str:
        started.set()
        release.wait(30)
        return "finished on its own"

    async def abandon_it() -> None:
        with anyio.move_on_after(0.05):
            await run_sync_in_thread(body, threads=threads.pool())
        assert started.is_set()

    anyio.run(abandon_it)
    stopping = time.monotonic()
    threads.shutdown()
    assert time.monotonic() - stopping < 5  # not the 30 s the body would take
    (thread,) = [t for t in threading.enumerate() if t.name.startswith("abandoning_")]
    release.set()
    thread.join(10)
    assert not thread.is_alive()  # it ends once its body returns


def test_an_abandoned_call_still_queued_never_runs():
    threads = SyncBodyThreads(max_workers=1, name="queued")
    busy, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def occupy() -> None:
        busy.set()
        release.wait(30)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(run_sync_in_thread, occupy, None, "x", threads.pool())
            await anyio.to_thread.run_sync(busy.wait, 10)
            with anyio.move_on_after(0.05):  # queued behind `occupy`, then abandoned
                await run_sync_in_thread(lambda: ran.append("ran"), threads=threads.pool())
            release.set()

    try:
        anyio.run(main)
    finally:
        release.set()
        threads.shutdown()
    for thread in threading.enumerate():
        if thread.name.startswith("queued_"):
            thread.join(10)
    assert ran == []


def test_body_threads_end_once_stopped():
    threads = SyncBodyThreads(max_workers=3, name="ending")
    _names_of_calls(threads, 3)
    threads.shutdown()
    deadline = time.monotonic() + 10
    while any(t.name.startswith("ending_") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "idle body threads outlived their pool"
        time.sleep(0.01)
