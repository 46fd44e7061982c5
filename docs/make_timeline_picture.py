"""Regenerate the timeline pictures shown in the README.

    .venv/bin/python docs/make_timeline_picture.py

Runs the example suite's ETL flow (``examples/pipeline.py``) on four sources
as a subflow of a ``nightly`` flow with the concurrent runner; alongside it,
one source whose transform fails once and is retried, and a report that
fails, so its upload never runs. It records the timeline, then writes

- ``docs/timeline.html``: the self-contained HTML/SVG picture,
- ``docs/timeline.trace.json``: the Chrome trace (open it in ui.perfetto.dev),
- ``docs/timeline.txt``: the text Gantt chart,
- ``docs/timeline.png``: a screenshot of the HTML by headless Chromium
  (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "examples"))

import pipeline  # noqa: E402  (examples/pipeline.py)

from flowcore import events, flow  # noqa: E402
from flowcore.task_runners import ConcurrentTaskRunner  # noqa: E402
from pytest_flows.timeline import Timeline  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

_failed_once: set[str] = set()


@pipeline.task(retries=1, retry_delay_seconds=0.1)
def flaky_transform(records: list[str], suffix: str) -> list[str]:
    """Like ``pipeline.transform``, but the first attempt for each source fails."""
    import time

    time.sleep(0.15)
    source = records[0].split(":")[0]
    if source not in _failed_once:
        _failed_once.add(source)
        raise ConnectionError(f"{source} dropped the connection")
    return [f"{record}{suffix}" for record in records]


@pipeline.task
def report(records: list[str]) -> str:
    import time

    time.sleep(0.1)
    raise ValueError(f"report template missing ({len(records)} records)")


@pipeline.task
def upload(text: str) -> None:
    print(text)


@flow(task_runner=ConcurrentTaskRunner(max_workers=4))
def nightly() -> None:
    """The ETL flow as a subflow, a flaky transform beside it, then a failing report."""
    retried = flaky_transform(pipeline.extract("ftp"), "?")
    records = pipeline.etl(sources=("db", "api", "s3", "csv"))
    upload(report([records, retried]))


def record_timeline() -> Timeline:
    timeline = Timeline()
    with events.subscribe(timeline.record):
        state = nightly(return_state=True)
    if not state.is_failed():
        raise SystemExit(f"the nightly flow should fail at its report, got {state!r}")
    return timeline


def screenshot(html: Path, png: Path, width: int, height: int) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("headless Chromium is needed: apt-get install chromium (Debian)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


def main() -> None:
    timeline = record_timeline()
    html = timeline.save(DOCS / "timeline.html")
    timeline.save(DOCS / "timeline.trace.json")
    (DOCS / "timeline.txt").write_text(timeline.render_gantt(width=88) + "\n", encoding="utf-8")
    width, height = picture_size(html.read_text(encoding="utf-8"))
    screenshot(html, DOCS / "timeline.png", width, height)
    print(timeline.render_gantt(width=88))
    print(f"wrote {html}, {DOCS / 'timeline.trace.json'} and {DOCS / 'timeline.png'}")


def picture_size(page: str) -> tuple[int, int]:
    """A window that fits the page's SVG plus the heading, totals and margins."""
    import re

    match = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', page)
    if match is None:
        return 1280, 800
    return int(match[1]) + 48, int(match[2]) + 150


if __name__ == "__main__":
    main()
