"""Recording each test's runs: the ``flow_timeline`` fixture and the item's timeline.

Every test's runs are recorded through flowcore's event seam
(`flowcore.events.subscribe`), whether or not it asks for ``flow_timeline``,
so that a failing test's report can show them; run names restart from
``-0`` in each test (`flowcore.task_runners.restart_run_names`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowcore.events import subscribe
from flowcore.task_runners import restart_run_names
from pytest_flows.plugin.exploring import explored_timelines
from pytest_flows.timeline.timeline import Timeline

__all__ = ["reported_timeline_of", "timeline_of"]

_TIMELINE_KEY = pytest.StashKey[Timeline]()


def timeline_of(item: pytest.Item) -> Timeline | None:
    """The timeline recorded for a test item, if it ran."""
    return item.stash.get(_TIMELINE_KEY, None)


def reported_timeline_of(item: pytest.Item) -> Timeline | None:
    """The timeline a test's report shows: every run the test recorded, except for an
    explored test, whose report shows one schedule's runs alone (the failing one, else
    the last), never every schedule overlaid."""
    schedules = explored_timelines(item)
    shown = schedules.shown if schedules is not None else None
    return shown if shown is not None else timeline_of(item)


@pytest.fixture(autouse=True)
def _flows_recorder(request: pytest.FixtureRequest) -> Iterator[Timeline]:
    timeline = Timeline()
    request.node.stash[_TIMELINE_KEY] = timeline
    restart_run_names()  # each test's flow runs are named from -0
    with subscribe(timeline.record):
        yield timeline


@pytest.fixture
def flow_timeline(_flows_recorder: Timeline) -> Timeline:
    """Every flow and task run of this test, with states, times and where each ran.

    Example::

        def test_loads_overlap(flow_timeline):
            pipeline()
            flow_timeline.assert_parallel("load-0", "load-1")
            flow_timeline.assert_before("load-0", "summarize-0")
    """
    return _flows_recorder
