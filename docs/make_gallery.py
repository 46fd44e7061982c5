"""Regenerate the gallery of failing examples in ``docs/gallery/``.

    .venv/bin/python docs/make_gallery.py

Each example is a small failing test, run by pytest with the plugin
(deterministic runner, seed 1, so every run draws the same pictures) and
``--flow-timeline-dir``. For each, the gallery keeps

- ``<name>.html``: the self-contained page (test, runner, seed, the failed
  assertion's message, its runs highlighted),
- ``<name>.trace.json``: the Chrome trace (open it in ui.perfetto.dev),
- ``<name>.txt``: the report's "flow timeline" section (the text chart),
- ``<name>.png``: a screenshot of the page by headless Chromium
  (Debian: ``apt-get install chromium``).

The examples: a lost update found by exploring schedules (``lost_race``), an
ordering assertion (``ordering``) and a retry storm (``retry_storm``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from make_timeline_picture import picture_size, screenshot

GALLERY = Path(__file__).resolve().parent / "gallery"

EXAMPLES = {
    "lost_race": """
        import asyncio

        import pytest
        from flowcore import flow, task

        counter = {"value": 0}


        @task
        async def increment():
            value = counter["value"]
            await asyncio.sleep(0)  # another increment may run here
            counter["value"] = value + 1


        @flow
        def two_increments():
            counter["value"] = 0
            increment(), increment()


        @pytest.mark.flow_explore(schedules=50)
        def test_counter_counts_both_increments():
            two_increments()
            assert counter["value"] == 2, "lost update"
    """,
    "ordering": """
        from flowcore import flow, task


        @task
        def extract(source):
            return [f"{source}:{index}" for index in range(3)]


        @task
        def load(records):
            return len(records)


        @flow
        def etl():
            records = [extract(source) for source in ("db", "api")]
            audit = load([])  # started before the extracts: nothing passed to it
            return [load(batch) for batch in records], audit


        def test_every_load_waits_for_the_extracts(flow_timeline):
            etl()
            flow_timeline.assert_before("extract-1", "load-0")
    """,
    "retry_storm": """
        from flowcore import flow, task


        @task(retries=3, retry_delay_seconds=0)
        def call_api(endpoint):
            raise ConnectionError(f"{endpoint}: 503 Service Unavailable")


        @flow
        def sync():
            return [call_api.submit(name) for name in ("users", "orders", "stock")]


        def test_sync_completes(flow_timeline):
            sync(return_state=True)
            flow_timeline.assert_all_completed()
    """,
}

PYTEST_OPTIONS = (
    "--flow-runner=deterministic",
    "--flow-seed=1",
    "-p",
    "no:randomly",
    "-p",
    "no:cacheprovider",
)

REPORT_OPTIONS = ("--flow-timeline-dir=pictures", "--color=no", "-W", "ignore")


def run_example(name: str, source: str, work: Path) -> str:
    """Run the example's test; its pictures land in ``work/pictures``; its report's text."""
    test_file = work / f"test_{name}.py"
    test_file.write_text(textwrap.dedent(source), encoding="utf-8")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", test_file.name, *PYTEST_OPTIONS, *REPORT_OPTIONS],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 1:
        raise SystemExit(f"{name} should fail its test once:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def timeline_section(report: str) -> str:
    """The "flow timeline" section of a pytest report."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if "- flow timeline -" in line) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(("---", "===")))
    return "\n".join(lines[start:end]) + "\n"


def main() -> None:
    GALLERY.mkdir(exist_ok=True)
    for name, source in EXAMPLES.items():
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            report = run_example(name, source, work)
            (GALLERY / f"{name}.txt").write_text(timeline_section(report), encoding="utf-8")
            html = next((work / "pictures").glob("*.html"))
            trace = next((work / "pictures").glob("*.trace.json"))
            shutil.copy(html, GALLERY / f"{name}.html")
            shutil.copy(trace, GALLERY / f"{name}.trace.json")
        page = GALLERY / f"{name}.html"
        width, height = picture_size(page.read_text(encoding="utf-8"))
        screenshot(page, GALLERY / f"{name}.png", width, height + 140)
        print(f"wrote {GALLERY / name}.html, .trace.json, .txt and .png")


if __name__ == "__main__":
    main()
