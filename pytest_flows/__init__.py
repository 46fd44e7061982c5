"""pytest_flows: rerun flow tests under any task runner, record timelines, assert on them.

    def test_loads_run_in_parallel(flow_timeline):
        pipeline()
        flow_timeline.assert_parallel("load-0", "load-1")

The pytest plugin (`pytest_flows.plugin`) is registered on install. The
assertions are also importable as functions taking a timeline.
"""

import pytest

pytest.register_assert_rewrite("pytest_flows.assertions")

from pytest_flows.assertions import (  # noqa: E402
    assert_all_completed,
    assert_before,
    assert_max_concurrency,
    assert_min_concurrency,
    assert_parallel,
    assert_sequential,
    assert_states,
)
from pytest_flows.timeline import RunNotFound, RunRecord, Timeline  # noqa: E402

__all__ = [
    "RunNotFound",
    "RunRecord",
    "Timeline",
    "assert_all_completed",
    "assert_before",
    "assert_max_concurrency",
    "assert_min_concurrency",
    "assert_parallel",
    "assert_sequential",
    "assert_states",
]
