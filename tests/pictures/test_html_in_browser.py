"""The HTML timeline page, opened in a real browser: Debian's headless Chromium.

A timeline recorded from real flows (tasks, a retry, a failure, a subflow)
is rendered to HTML; Chromium loads it (as HTML, and as XHTML, which fails
on any XML error), dumps the DOM it built and takes a screenshot. The page
must load without console errors, every run must be an SVG group in the
DOM, and the screenshot must show the bars in their colours.

CI installs Chromium (``.ci/run``) and there a missing browser fails these
tests. Elsewhere, on a machine with only Python and pip, they are skipped
with a reason that says how to run them: ``apt-get install chromium``.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import time
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from flowcore import events, flow, task
from flowcore.states import State
from flowcore.task_runners import SequentialTaskRunner
from pytest_flows.pictures.context import PictureContext
from pytest_flows.pictures.gantt import nested_runs
from pytest_flows.pictures.html import save_html
from pytest_flows.timeline import Timeline

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
RUNNING_BLUE = (0x42, 0xA5, 0xF5)
FAILED_RED = (0xC6, 0x28, 0x28)


# -- the flows ---------------------------------------------------------------

attempts: Counter[str] = Counter()


BODY_SECONDS = 0.05
"""What each extract and transform body takes: running stretches then fill most of the
chart whatever the machine's load adds between runs (the colour check counts pixels)."""


@task
def extract(source: str) -> list[str]:
    time.sleep(BODY_SECONDS)
    return [f"{source}:{n}" for n in range(2)]


@task(retries=1, retry_delay_seconds=0)
def transform(records: list[str]) -> list[str]:
    attempts[records[0]] += 1
    time.sleep(BODY_SECONDS)
    if attempts[records[0]] == 1:
        raise ConnectionError("first attempt drops the connection")
    return [record.upper() for record in records]


@task
def report(batches: list[list[str]]) -> str:
    raise ValueError(f"no template for {len(batches)} batches")


@task
def publish(text: str) -> None:
    raise AssertionError("publish must not run after its report failed")


@flow(task_runner=SequentialTaskRunner())
def etl(sources: tuple[str, ...]) -> list[list[str]]:
    return [transform(extract(source)).result() for source in sources]


@flow(task_runner=SequentialTaskRunner())
def nightly() -> None:
    batches = etl(("db", "api"))
    publish(report(batches))


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    attempts.clear()
    recorded = Timeline()
    with events.subscribe(recorded.record):
        state = nightly(return_state=True)
    assert isinstance(state, State)
    assert state.is_failed()
    return recorded


# -- the browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = (
            f"{CHROMIUM} is missing: the HTML timeline is checked in headless Chromium. "
            "Install Debian's chromium package: apt-get install chromium"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def run_chromium(chromium: str, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the browser console (errors included), from Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class SvgShapes(HTMLParser):
    """Collects the run groups and the shapes in a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.run_names: list[str] = []
        self.arrows: list[tuple[str, str]] = []
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "g" and "run" in classes:
            self.run_names.append(attributes.get("data-run-name") or "")
        if tag == "path" and "dependency" in classes:
            self.arrows.append((attributes["data-from"] or "", attributes["data-to"] or ""))


def shapes_in(dom: str) -> SvgShapes:
    parser = SvgShapes()
    parser.feed(dom)
    return parser


def png_pixels(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB/RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    chunks, offset = {}, 8
    idat = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        chunks[kind] = body
        idat += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, interlace) == (8, 0), f"unsupported PNG: depth {depth}, interlace {interlace}"
    channels = {2: 3, 6: 4}[colour]
    return width, height, _unfilter(zlib.decompress(idat), width, height, channels)


def _unfilter(raw: bytes, width: int, height: int, channels: int) -> list[tuple[int, int, int]]:
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - up_left
                nearest = min(
                    (abs(estimate - left), left),
                    (abs(estimate - up), up),
                    (abs(estimate - up_left), up_left),
                    key=lambda candidate: candidate[0],
                )[1]
                line[i] = (line[i] + nearest) & 0xFF
        pixels.extend((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels))
        previous = line
    return pixels


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(pixel, colour, strict=True))


# -- the tests ---------------------------------------------------------------


def test_flows_recorded_a_retry_a_failure_and_a_subflow(timeline: Timeline) -> None:
    assert [run.run_name for run in timeline.flow_runs] == ["nightly-0", "etl-0"]
    assert timeline.run("etl-0").parent_run_id == timeline.run("nightly-0").run_id
    assert timeline.run("transform-0").describe_states() == (
        "PENDING -> RUNNING -> SCHEDULED(AwaitingRetry) -> RUNNING(Retrying) -> COMPLETED"
    )
    assert timeline.run("report-0").final_state.is_failed()
    assert timeline.run("publish-0").final_state.name == "NotReady"


def test_page_loads_in_chromium_without_console_errors_and_has_one_shape_per_run(
    timeline: Timeline, chromium: str, tmp_path: Path
) -> None:
    page = timeline.save(tmp_path / "timeline.html")
    result = run_chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr
    assert console_messages(result.stderr) == []
    shapes = shapes_in(result.stdout)
    assert sorted(shapes.run_names) == sorted(run.run_name for run in timeline.runs)
    assert shapes.tags["svg"] == 1
    assert shapes.tags["rect"] > len(timeline.runs)
    assert sorted(shapes.arrows) == [
        ("extract-0", "transform-0"),
        ("extract-1", "transform-1"),
        ("report-0", "publish-0"),
    ]
    assert shapes.tags["title"] > len(timeline.runs)


def test_page_parses_as_xhtml_in_chromium(
    timeline: Timeline, chromium: str, tmp_path: Path
) -> None:
    page = tmp_path / "timeline.xhtml"
    page.write_text(timeline.to_html(), encoding="utf-8")
    result = run_chromium(chromium, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr
    assert "parsererror" not in result.stdout
    assert len(shapes_in(result.stdout).run_names) == len(timeline.runs)


def test_screenshot_shows_the_bars_in_their_state_colours(
    timeline: Timeline, chromium: str, tmp_path: Path
) -> None:
    page = timeline.save(tmp_path / "timeline.html")
    picture = tmp_path / "timeline.png"
    result = run_chromium(
        chromium,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1400,600",
        "--force-device-scale-factor=0.5",  # a 700x300 picture: quick to decode here
        f"--screenshot={picture}",
        page.as_uri(),
    )
    assert result.returncode == 0, result.stderr
    assert console_messages(result.stderr) == []
    width, height, pixels = png_pixels(picture.read_bytes())
    assert (width, height) == (700, 300)
    assert sum(near(pixel, RUNNING_BLUE) for pixel in pixels) > 500
    assert sum(near(pixel, FAILED_RED) for pixel in pixels) > 40  # the legend alone: ~36


def test_console_errors_would_be_noticed(chromium: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<p>x</p><script>console.error('boom'); missing();</script>")
    result = run_chromium(chromium, tmp_path / "profile", "--dump-dom", broken.as_uri())
    messages = console_messages(result.stderr)
    assert any('"boom"' in line for line in messages)
    assert any(re.search(r"ReferenceError: missing is not defined", line) for line in messages)


HIGHLIGHT_YELLOW = (0xFF, 0xF1, 0x76)


def bands(rows: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of pixel rows, as (first row, height)."""
    found: list[tuple[int, int]] = []
    for row in rows:
        if found and found[-1][0] + found[-1][1] == row:
            found[-1] = (found[-1][0], found[-1][1] + 1)
        else:
            found.append((row, 1))
    return found


def test_screenshot_shows_the_named_runs_highlighted_in_their_rows(
    timeline: Timeline, chromium: str, tmp_path: Path
) -> None:
    rows = [run.run_name for _, run in nested_runs(timeline.runs)]
    named = frozenset({rows[1], rows[4]})
    context = PictureContext(test="t.py::test_x", failure="expected more", highlighted=named)
    page = save_html(timeline, tmp_path / "timeline.html", context)
    picture = tmp_path / "timeline.png"
    result = run_chromium(
        chromium,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1400,800",
        f"--screenshot={picture}",
        page.as_uri(),
    )
    assert result.returncode == 0, result.stderr
    assert console_messages(result.stderr) == []
    width, _, pixels = png_pixels(picture.read_bytes())
    lines = [pixels[y * width : (y + 1) * width] for y in range(len(pixels) // width)]
    yellow_rows = [
        y for y, line in enumerate(lines) if sum(near(p, HIGHLIGHT_YELLOW) for p in line) > 300
    ]
    row_height = max(12, min(24, 720 // len(rows)))
    (first, first_height), (second, second_height) = bands(yellow_rows)
    assert abs(first_height - row_height) <= 1
    assert abs(second_height - row_height) <= 1
    assert abs((second - first) - 3 * row_height) <= 1
