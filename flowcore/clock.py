"""Clocks: where run timestamps and retry waits come from.

A task runner owns a `Clock`. The real one reads the system clock through
functions captured when flowcore is imported, so a test that freezes time
with freezegun still gets true timestamps and a retry delay never hangs on a
frozen clock. A runner may bring its own clock (a virtual one that jumps
instead of waiting, say) by subclassing `Clock`.

    >>> clock = RealClock()
    >>> clock.now_ns() > 0
    True
"""

from __future__ import annotations

import time

__all__ = ["Clock", "RealClock", "real_clock"]


class Clock:
    """What the engine asks of time: now, and wait a while."""

    def now_ns(self) -> int:
        """Nanoseconds since the epoch."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        raise NotImplementedError

    async def sleep_async(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking the event loop."""
        raise NotImplementedError


class RealClock(Clock):
    """The system clock, immune to freezegun's patching of the ``time`` module."""

    # Held on the class (not as module globals), where freezegun does not look.
    # ``now_ns`` is the builtin itself: three reads per task run, and a method
    # wrapping it would be one more Python call each.
    now_ns = staticmethod(time.time_ns)
    _sleep = staticmethod(time.sleep)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        # An event loop's own timers read time.monotonic, which freezegun
        # freezes; waiting in a thread keeps a retry delay finite either way.
        if seconds > 0:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._sleep, seconds)

    def __reduce__(self) -> str:
        return "real_clock"


real_clock = RealClock()
