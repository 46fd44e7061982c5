"""pytest_flows: rerun flow tests under any task runner, record timelines, assert on them.

    def test_loads_run_in_parallel(flow_timeline):
        pipeline()
        flow_timeline.assert_parallel("load-0", "load-1")

The pytest plugin (`pytest_flows.plugin`, one entry point registering its modules) is
registered on install. The assertions are also importable as functions taking
a timeline. `DeterministicTaskRunner` replays one interleaving per seed;
`explore` runs a flow under many schedules and reports a replay token.
"""

import pytest

pytest.register_assert_rewrite("pytest_flows.timeline.assertions")

from pytest_flows.deterministic import DeadlockError, DeterministicTaskRunner  # noqa: E402
from pytest_flows.deterministic.exploration import (  # noqa: E402
    Exploration,
    NondeterminismError,
    ScheduleFailed,
    check_deterministic,
    explore,
    replay,
)
from pytest_flows.deterministic.sync_worker import SyncBodyBlocked  # noqa: E402
from pytest_flows.deterministic.virtual_clock import VirtualClock  # noqa: E402
from pytest_flows.pictures.chrome_trace import to_chrome_trace  # noqa: E402
from pytest_flows.pictures.gantt import render_gantt  # noqa: E402
from pytest_flows.pictures.html import to_html  # noqa: E402
from pytest_flows.timeline.assertions import (  # noqa: E402
    assert_all_completed,
    assert_before,
    assert_max_concurrency,
    assert_min_concurrency,
    assert_parallel,
    assert_sequential,
    assert_states,
)
from pytest_flows.timeline.timeline import RunNotFound, RunRecord, Timeline  # noqa: E402

__all__ = [
    "DeadlockError",
    "DeterministicTaskRunner",
    "Exploration",
    "NondeterminismError",
    "RunNotFound",
    "RunRecord",
    "ScheduleFailed",
    "SyncBodyBlocked",
    "Timeline",
    "VirtualClock",
    "assert_all_completed",
    "assert_before",
    "assert_max_concurrency",
    "assert_min_concurrency",
    "assert_parallel",
    "assert_sequential",
    "assert_states",
    "check_deterministic",
    "explore",
    "render_gantt",
    "replay",
    "to_chrome_trace",
    "to_html",
]
