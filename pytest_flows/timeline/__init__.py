"""Timelines: every flow and task run a test recorded, queried by name and asserted on.

| concept                                   | module        |
|-------------------------------------------|---------------|
| `Timeline`: recording, lookup, exports    | `timeline`    |
| `RunRecord`: one run's states and times   | `records`     |
| finding a run by name, id or future       | `lookup`      |
| concurrency windows, start order          | `concurrency` |
| `assert_parallel`, `assert_before`, ...   | `assertions`  |
"""

from pytest_flows.timeline.timeline import (
    ConcurrencyWindow,
    RunNotFound,
    RunRecord,
    RunRef,
    Timeline,
    overlap_ns,
    overlaps,
)

__all__ = [
    "ConcurrencyWindow",
    "RunNotFound",
    "RunRecord",
    "RunRef",
    "Timeline",
    "overlap_ns",
    "overlaps",
]
