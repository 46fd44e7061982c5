"""The plugin's reports: timeline files for failing tests and a session summary line.

- ``--flow-timeline-dir=DIR`` (ini ``flow_timeline_dir``): for each failing
  test that ran flows, write its timeline as a Chrome trace
  (``DIR/<test id>.trace.json``, open it in https://ui.perfetto.dev) and as a
  self-contained picture (``DIR/<test id>.html``).
  ``--flow-timeline=all`` writes them for every test that ran flows.
- The terminal summary lists the files written and counts the flow and task
  runs recorded in the session, with the peak parallelism seen.

Each test's figures travel in its report's ``user_properties``, so the
summary is whole under pytest-xdist too; files are named after test ids, so
workers never write the same file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_flows.plugin import reported_timeline_of, timeline_of
from pytest_flows.printable import printable
from pytest_flows.timeline.timeline import Timeline

_FILES = "flow_timeline_files"
_COUNTS = "flow_run_counts"
MODES = ("failed", "all")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flows")
    group.addoption(
        "--flow-timeline-dir",
        dest="flow_timeline_dir",
        default=None,
        help="write the timeline (Chrome trace + HTML picture) of failing flow tests here",
    )
    group.addoption(
        "--flow-timeline",
        dest="flow_timeline",
        default=None,
        choices=MODES,
        help="which tests' timelines --flow-timeline-dir receives: failed (default) or all",
    )
    parser.addini("flow_timeline_dir", "default for --flow-timeline-dir", default=None)
    parser.addini("flow_timeline", "default for --flow-timeline (failed or all)", default="failed")


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getoption("flow_timeline") or config.getini("flow_timeline") or "failed"
    if mode not in MODES:
        raise pytest.UsageError(f"flow_timeline must be one of {', '.join(MODES)}, got {mode!r}")
    directory = config.getoption("flow_timeline_dir") or config.getini("flow_timeline_dir")
    summary = SessionSummary(mode, Path(directory) if directory else None)
    config.stash[_SUMMARY_KEY] = summary
    config.pluginmanager.register(summary, "flows-session-summary")


class SessionSummary:
    """Counts runs and collects written files across the session's test reports."""

    def __init__(self, mode: str, directory: Path | None) -> None:
        self.mode = mode
        self.directory = directory
        self.files: list[str] = []
        self.flow_runs = 0
        self.task_runs = 0
        self.peak = 0

    def wants_files(self, failed: bool) -> bool:
        return self.directory is not None and (failed or self.mode == "all")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take in a test's figures, from this process or from an xdist worker."""
        for key, value in report.user_properties:
            if key == _COUNTS:
                flows, tasks, peak = cast(tuple[int, int, int], value)
                self.flow_runs += flows
                self.task_runs += tasks
                self.peak = max(self.peak, peak)
            elif key == _FILES:
                self.files.extend(cast(list[str], value))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.flow_runs or self.task_runs):
            return
        terminalreporter.write_sep("-", "flows")
        terminalreporter.write_line(
            f"flows: {self.flow_runs} flow runs and {self.task_runs} task runs recorded, "
            f"peak parallelism {self.peak}"
        )
        for path in self.files:
            terminalreporter.write_line(f"flow timeline written: {printable(path)}")


_SUMMARY_KEY = pytest.StashKey[SessionSummary]()
_FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED_KEY] = True
    if report.when != "teardown":
        return report
    timeline = timeline_of(item)
    if timeline is None or not timeline.runs:
        return report
    # An explored test ran many schedules on one virtual clock: only the
    # failing schedule's runs (when one failed) tell how many ran at once.
    reported = reported_timeline_of(item) or timeline
    counts = (len(timeline.flow_runs), len(timeline.task_runs), reported.peak_concurrency())
    report.user_properties.append((_COUNTS, counts))
    summary = item.config.stash[_SUMMARY_KEY]
    if summary.wants_files(item.stash.get(_FAILED_KEY, False)):
        assert summary.directory is not None
        files = write_timeline_files(reported, summary.directory, item.nodeid)
        report.user_properties.append((_FILES, files))
    return report


def write_timeline_files(timeline: Timeline, directory: Path, nodeid: str) -> list[str]:
    """Write ``<test id>.trace.json`` and ``<test id>.html`` into ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(nodeid)
    written = [
        timeline.save(directory / f"{stem}.trace.json"),
        timeline.save(directory / f"{stem}.html"),
    ]
    return [str(path) for path in written]


def file_stem(nodeid: str) -> str:
    """A file name for a test id, safe on every file system, one per test id.

    Ids that had to lose characters (or length) get a hash of the whole id,
    so ``test_x[a b]`` and ``test_x[a?b]`` never share a file.

    >>> file_stem("tests/test_x.py::test_y[dask]")
    'tests_test_x.py__test_y-dask'
    >>> file_stem("tests/test_x.py::test_y[a b]")
    'tests_test_x.py__test_y-a_b-a71e4f17'
    """
    path, _, names = nodeid.partition("::")
    readable = "__".join([path.replace("/", "_"), *(names.split("::") if names else [])])
    if readable.endswith("]"):
        readable = readable[:-1]
    readable = readable.replace("[", "-", 1)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", readable)
    if stem == readable and len(stem) <= _STEM_LIMIT:
        return stem
    digest = hashlib.sha1(nodeid.encode()).hexdigest()[:8]
    return f"{stem[: _STEM_LIMIT - len(digest) - 1]}-{digest}"


_STEM_LIMIT = 200
