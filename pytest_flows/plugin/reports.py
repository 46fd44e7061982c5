"""What the plugin reports: the header, the sections of a failing test, files, a summary.

- Header: ``flows: runner=dask, seed=1234 (replay: --flow-runner=... --flow-seed=1234)``.
- A failing test that recorded runs gets a "flow timeline" section (its
  text Gantt chart; for a ``flow_explore`` test, the failing schedule's runs
  alone) and, when its flows ran on a seeded or replayed schedule, a "flows
  replay" section with the command line that replays it::

    ------------------------------ flows replay ------------------------------
    pytest 'tests/test_race.py::test_counter' --flow-replay=choices-01

- ``--flow-timeline-dir=DIR`` (ini ``flow_timeline_dir``): for each failing
  test that ran flows, its timeline as a Chrome trace
  (``DIR/<test id>.trace.json``, open it in https://ui.perfetto.dev) and as a
  self-contained picture (``DIR/<test id>.html``); ``--flow-timeline=all``
  writes them for every test that ran flows. Both name the test, its
  runner and seed, and its failure (`picture_context`); the runs a failed
  timeline assertion named are highlighted there and marked ``>`` in the
  "flow timeline" section.
- The terminal summary counts the flow and task runs recorded in the
  session, with the peak parallelism seen, and lists the files written.

One `pytest_runtest_makereport` builds all of it. Each test's figures travel
in its report's ``user_properties``, so the summary is whole under
pytest-xdist too; files are named after test ids, so workers never write the
same file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_flows.deterministic.runner import DeterministicTaskRunner
from pytest_flows.pictures.chrome_trace import save_chrome_trace
from pytest_flows.pictures.context import PictureContext
from pytest_flows.pictures.gantt import render_gantt
from pytest_flows.pictures.html import save_html
from pytest_flows.plugin.exploring import cut_searches, explored_timelines, replay_token_of
from pytest_flows.plugin.options import TIMELINE_MODES
from pytest_flows.plugin.recording import reported_timeline_of, timeline_of
from pytest_flows.plugin.runner_choice import ALL
from pytest_flows.plugin.runners import runner_name
from pytest_flows.plugin.seeds import seeded, session_seed
from pytest_flows.printable import printable
from pytest_flows.timeline.assertions import failure_summary
from pytest_flows.timeline.timeline import Timeline

__all__ = ["SessionSummary", "file_stem", "picture_context", "write_timeline_files"]

_FILES = "flow_timeline_files"
_COUNTS = "flow_run_counts"


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getoption("flow_timeline") or config.getini("flow_timeline") or "failed"
    if mode not in TIMELINE_MODES:
        raise pytest.UsageError(
            f"flow_timeline must be one of {', '.join(TIMELINE_MODES)}, got {mode!r}"
        )
    directory = config.getoption("flow_timeline_dir") or config.getini("flow_timeline_dir")
    summary = SessionSummary(mode, Path(directory) if directory else None)
    config.stash[_SUMMARY_KEY] = summary
    config.pluginmanager.register(summary, "flows-session-summary")


def pytest_report_header(config: pytest.Config) -> str:
    return printable(_header(config))


def _header(config: pytest.Config) -> str:
    name = runner_name(config)
    if name is None:
        return "flows: runner=declared (each flow uses its own task runner)"
    options = f"--flow-runner={name}"
    if name == DeterministicTaskRunner.name:
        seed = session_seed(config)
        return f"flows: runner={name}, seed={seed} (replay: {options} --flow-seed={seed})"
    return f"flows: runner={name} (replay: {options})"


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


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in cut_searches(config):
        terminalreporter.write_line(f"flows: {printable(line)}")


_SUMMARY_KEY = pytest.StashKey[SessionSummary]()
_FAILED_KEY = pytest.StashKey[bool]()
_CONTEXT_KEY = pytest.StashKey[PictureContext]()
_FAILURE_LINES = 20


def picture_context(
    item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None = None
) -> PictureContext:
    """What the test's pictures say about it: node id, runner, seed, and its failure.

    A timeline assertion's failure names its runs (highlighted) and its message
    without the chart; another error gives its first lines.
    """
    funcargs = getattr(item, "funcargs", {})
    runner = funcargs.get("_flows_runner_name") or runner_name(item.config)
    seed = session_seed(item.config) if seeded(item) else None
    failure, highlighted = "", frozenset[str]()
    if excinfo is not None:
        found = failure_summary(excinfo.value)
        if found is None:
            failure = "\n".join(excinfo.exconly().splitlines()[:_FAILURE_LINES])
        else:
            failure, highlighted = found[0], frozenset(found[1])
    failure = "\n".join(printable(line) for line in failure.splitlines())
    schedules = explored_timelines(item)
    schedule = schedules.caption() if schedules is not None else ""
    return PictureContext(item.nodeid, runner, seed, failure, highlighted, schedule)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Every section the plugin adds to a test's report, and the figures it carries."""
    report: pytest.TestReport = yield
    if report.failed:
        item.stash[_FAILED_KEY] = True
        if _CONTEXT_KEY not in item.stash:
            item.stash[_CONTEXT_KEY] = picture_context(item, call.excinfo)
        _add_sections(item, report)
    if report.when == "teardown":
        _add_figures(item, report)
    return report


def _add_sections(item: pytest.Item, report: pytest.TestReport) -> None:
    timeline = reported_timeline_of(item)
    if timeline is not None and timeline.runs:
        context = item.stash[_CONTEXT_KEY]
        chart = render_gantt(timeline, highlight=context.highlighted)
        caption = f"{context.schedule}:\n" if context.schedule else ""
        report.sections.append(("flow timeline", caption + chart))
    if report.when == "call":
        command = _replay_command(item)
        if command is not None:
            report.sections.append(("flows replay", printable(command)))


def _replay_command(item: pytest.Item) -> str | None:
    """The command line that replays a failed test, if its flows ran on a seeded schedule."""
    quoted = f"pytest '{item.nodeid}'"
    token = replay_token_of(item)
    if token is not None:
        return f"{quoted} --flow-replay={token}"
    if not seeded(item):
        return None
    runner = item.config.getoption("flow_runner", None) or DeterministicTaskRunner.name
    runner_option = (
        f" --flow-runner={runner}" if runner in (DeterministicTaskRunner.name, ALL) else ""
    )
    return f"{quoted}{runner_option} --flow-seed={session_seed(item.config)}"


def _add_figures(item: pytest.Item, report: pytest.TestReport) -> None:
    """The test's run counts, and its timeline files when they are wanted."""
    timeline = timeline_of(item)
    if timeline is None or not timeline.runs:
        return
    # An explored test ran many schedules, each on its own axis: its peak is
    # the most runs that ran at once within one schedule.
    reported = reported_timeline_of(item) or timeline
    schedules = explored_timelines(item)
    peak = schedules.peak if schedules is not None else reported.peak_concurrency()
    counts = (len(timeline.flow_runs), len(timeline.task_runs), peak)
    report.user_properties.append((_COUNTS, counts))
    summary = item.config.stash[_SUMMARY_KEY]
    if summary.directory is not None and summary.wants_files(item.stash.get(_FAILED_KEY, False)):
        context = item.stash.get(_CONTEXT_KEY, None) or picture_context(item)
        files = write_timeline_files(reported, summary.directory, item.nodeid, context)
        report.user_properties.append((_FILES, files))


def write_timeline_files(
    timeline: Timeline, directory: Path, nodeid: str, context: PictureContext | None = None
) -> list[str]:
    """Write ``<test id>.trace.json`` and ``<test id>.html`` into ``directory``; their paths.

    Both name the test, its runner and seed (``context``, by default just the
    node id), and highlight the runs its failed assertion named.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(nodeid)
    context = context or PictureContext(test=nodeid)
    written = [
        save_chrome_trace(timeline, directory / f"{stem}.trace.json", context),
        save_html(timeline, directory / f"{stem}.html", context),
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
