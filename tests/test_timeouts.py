"""Timeouts for synchronous code: a helper thread, an error on time, a stop request."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from flowcore.timeouts import call_with_timeout, interrupt_thread

variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")


class Late(TimeoutError):
    pass


def test_result_comes_back_when_in_time():
    assert call_with_timeout(lambda x, y=0: x + y, (1,), {"y": 2}, 1, Late, "late", "helper") == 3


def test_exception_of_the_call_is_raised_in_the_caller():
    def broken():
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        call_with_timeout(broken, (), {}, 1, Late, "late", "helper")


def test_error_is_raised_on_time_and_a_busy_helper_is_stopped():
    stopped = threading.Event()

    def busy():
        try:
            while True:
                pass
        except Late:
            stopped.set()
            raise

    started = time.monotonic()
    with pytest.raises(Late, match="too long"):
        call_with_timeout(busy, (), {}, 0.1, Late, "too long", "busy-helper")
    assert time.monotonic() - started < 3  # the body never ends by itself
    assert stopped.wait(5)


def test_call_sees_the_callers_context_variables():
    variable.set("from the caller")
    assert call_with_timeout(variable.get, (), {}, 1, Late, "late", "helper") == "from the caller"


def test_interrupting_a_finished_thread_does_nothing():
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    assert interrupt_thread(thread, Late) is False
