"""Virtual time for the deterministic runner: a clock that jumps instead of waiting.

A `VirtualClock` starts at a fixed instant (`EPOCH_NS`, 2024-01-01 00:00 UTC)
so that two runs of the same schedule get the same timestamps, bit for bit.
It moves forward only when told to:

- ``now_ns()`` moves it by one virtual microsecond (`TICK_NS`) per reading,
  so every state transition gets its own, strictly increasing timestamp;
- ``sleep(seconds)`` (a sync run's retry delay) moves it at once;
- the deterministic event loop moves it to the next timer's deadline when no
  coroutine is ready (``asyncio.sleep``, timeouts, async retry delays).

    >>> clock = VirtualClock()
    >>> start = clock.now_ns()
    >>> clock.sleep(60)
    >>> (clock.now_ns() - start) // 10**9
    60

Time is kept in integer nanoseconds, so it never drifts: a duration in
seconds (a float) becomes nanoseconds once, exactly (`seconds_to_ns`), and
the event loop's ``time()`` is derived from the nanoseconds, so moving the
clock to a timer's deadline always makes the timer due.

Listeners registered with `on_advance` hear of every move (the freezegun
coupling uses this to move a frozen clock along with virtual time).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable

import anyio.lowlevel

from flowcore.clock import Clock

__all__ = ["EPOCH_NS", "NS_PER_SECOND", "TICK_NS", "VirtualClock", "on_advance", "seconds_to_ns"]

EPOCH_NS = 1_704_067_200 * 10**9
"""Where every virtual clock starts: 2024-01-01T00:00:00Z, in nanoseconds."""

TICK_NS = 1_000
"""How far one reading of ``now_ns()`` moves a virtual clock: one microsecond."""

NS_PER_SECOND = 10**9


def seconds_to_ns(seconds: float, *, not_below: bool = False) -> int:
    """``seconds`` in whole nanoseconds, the nearest to the float's exact value (ties to
    even); with ``not_below``, the next one up if ``n / 10**9`` would fall below
    ``seconds``, so a clock moved to ``n`` reads at least ``seconds``.

    >>> seconds_to_ns(0.1), seconds_to_ns(1 / 3, not_below=True), seconds_to_ns(1e9)
    (100000000, 333333334, 1000000000000000000)
    """
    if not math.isfinite(seconds):
        raise ValueError(
            f"virtual time moves by finite durations only, got {seconds!r} seconds; "
            "give a finite number of seconds"
        )
    numerator, denominator = float(seconds).as_integer_ratio()
    quotient, remainder = divmod(numerator * NS_PER_SECOND, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    if not_below and quotient / NS_PER_SECOND < seconds:
        quotient += 1
    return quotient


AdvanceListener = Callable[[int], object]
_listeners: list[AdvanceListener] = []
_listeners_lock = threading.Lock()


def on_advance(listener: AdvanceListener) -> Callable[[], None]:
    """Call ``listener(delta_ns)`` whenever any virtual clock moves; returns the unsubscriber."""
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


class VirtualClock(Clock):
    """A clock whose time passes only when the runner says so (see the module docstring)."""

    __slots__ = ("_elapsed_ns", "_start_ns")

    def __init__(self, start_ns: int = EPOCH_NS) -> None:
        self._start_ns = start_ns
        self._elapsed_ns = 0

    def __repr__(self) -> str:
        return f"VirtualClock(elapsed={self._elapsed_ns / 1e9:g}s)"

    @property
    def elapsed_ns(self) -> int:
        """Virtual nanoseconds since the clock started."""
        return self._elapsed_ns

    def now_ns(self) -> int:
        # Read for every state transition: the move is written out, not a call to _advance_ns.
        elapsed = self._elapsed_ns = self._elapsed_ns + TICK_NS
        if _listeners:
            for listener in tuple(_listeners):
                listener(TICK_NS)
            elapsed = self._elapsed_ns  # a listener may have moved it meanwhile
        return self._start_ns + elapsed

    def loop_time(self) -> float:
        """The event loop's time: virtual seconds since the clock started, the float nearest
        to ``elapsed_ns / 10**9`` (so never below a deadline the clock has reached)."""
        return self._elapsed_ns / NS_PER_SECOND

    def advance_to_ns(self, elapsed_ns: int) -> None:
        """Move to ``elapsed_ns`` (a timer's deadline) unless the clock is already past it."""
        if elapsed_ns > self._elapsed_ns:
            self._advance_ns(elapsed_ns - self._elapsed_ns)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._advance_ns(seconds_to_ns(seconds))

    async def sleep_async(self, seconds: float) -> None:
        # On the deterministic loop a sleep is a timer, so other coroutines run
        # meanwhile; elsewhere (an async flow's own loop) the clock just jumps.
        if getattr(_running_loop(), "virtual_clock", None) is self:
            await asyncio.sleep(seconds)
            return
        self.sleep(seconds)
        await anyio.lowlevel.checkpoint()

    def _advance_ns(self, delta_ns: int) -> None:
        self._elapsed_ns += delta_ns
        if _listeners:
            for listener in tuple(_listeners):
                listener(delta_ns)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # another async library's coroutine (trio, under anyio)
        return None
