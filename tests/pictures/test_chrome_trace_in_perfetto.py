"""The Chrome trace, loaded by Perfetto's own trace processor.

The structural tests (`test_chrome_trace`) check the JSON against the trace
event format; this one asks Perfetto itself. Its Python package
(``pip install perfetto``) drives a ``trace_processor_shell`` binary that it
downloads on first use; where that cannot be fetched (offline machines), set
``PERFETTO_TRACE_PROCESSOR`` to a local binary, or the test is skipped with
that reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from event_builders import TimelineBuilder

from pytest_flows.pictures.chrome_trace import save_chrome_trace, to_chrome_trace
from pytest_flows.pictures.context import PictureContext
from pytest_flows.timeline import Timeline


def pipeline() -> Timeline:
    return (
        TimelineBuilder()
        .flow("pipeline-0", running=(0, 100))
        .task("load-0", running=(10, 40), pending=5)
        .task("load-1", running=[(10, 20), (30, 50)], pending=5, final="FAILED")
        .task("load-2", running=(15, 25))
        .build()
    )


def trace_processor_binary() -> str:
    binary = os.environ.get("PERFETTO_TRACE_PROCESSOR") or shutil.which("trace_processor_shell")
    cached = Path.home() / ".local/share/perfetto/prebuilts"
    if binary is None and cached.is_dir():
        binary = next((str(path) for path in cached.glob("trace_processor_shell*")), None)
    if binary is None:
        pytest.skip(
            "Perfetto's trace_processor_shell is not installed and the perfetto package "
            "cannot download it offline: set PERFETTO_TRACE_PROCESSOR=/path/to/it"
        )
    return binary


def test_perfetto_loads_every_running_slice_on_its_lane(tmp_path: Path) -> None:
    api = pytest.importorskip("perfetto.trace_processor", reason="pip install perfetto")
    context = PictureContext(test="t.py::test_x", highlighted=frozenset({"load-1"}))
    path = save_chrome_trace(pipeline(), tmp_path / "flows.trace.json", context)
    trace = to_chrome_trace(pipeline(), context)
    expected = [event for event in trace["traceEvents"] if event["ph"] == "X"]
    config = api.TraceProcessorConfig(bin_path=trace_processor_binary(), load_timeout=60)
    processor = api.TraceProcessor(trace=str(path), config=config)
    try:
        rows = list(processor.query("select name, dur from slice where dur > 0"))
        threads = {row.name for row in processor.query("select name from thread")}
    finally:
        processor.close()
    assert sorted(row.name for row in rows) == sorted(event["name"] for event in expected)
    assert {"flow lane 1", "task lane 1", "task lane 2"} <= threads
