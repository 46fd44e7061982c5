"""freezegun and the virtual clock: fixture ``flow_virtual_time``.

While a test freezes time with freezegun, each move of a virtual clock
moves the frozen clock too, so tasks reading ``datetime.now()`` or
``time.time()`` see virtual time pass.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from pytest_flows.deterministic.virtual_clock import on_advance

__all__: list[str] = []


@pytest.fixture
def flow_virtual_time() -> Iterator[None]:
    """Make a time frozen by freezegun move with the deterministic runner's virtual clock.

    def test_stamps_follow_virtual_time(flow_virtual_time):
        with freezegun.freeze_time("2024-01-01"):
            stamped_flow()   # tasks read datetime.now(): 60 s apart across a retry
    """
    try:
        from freezegun import api as freezegun_api
    except ImportError:
        pytest.fail("flow_virtual_time needs freezegun: pip install freezegun", pytrace=False)

    def follow(delta_ns: int) -> None:
        factories = freezegun_api.freeze_factories
        if factories:
            factories[-1].tick(datetime.timedelta(microseconds=delta_ns / 1000))

    remove = on_advance(follow)
    try:
        yield
    finally:
        remove()
