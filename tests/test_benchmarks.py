"""Smoke test of the benchmarks entry point: it runs on tiny N and writes its JSON.

Benchmarks are not tests; nothing here looks at the figures, only at the
shape of what ``python -m benchmarks --tiny`` produces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import SECTIONS

REPOSITORY = Path(__file__).resolve().parent.parent


def test_tiny_benchmark_run_exits_cleanly_and_writes_every_section(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny", "--json", str(output)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    results = json.loads(output.read_text())
    assert results["meta"]["mode"] == "tiny"
    assert set(results["sections"]) == set(SECTIONS)
    for section in results["sections"].values():
        assert set(section) == {"title", "rows", "notes"}
        for row in section["rows"]:
            assert {"name", "unit", "value", "baseline", "ratio", "goal", "met"} <= set(row)
            assert set(row["value"]) == {"median", "min", "max", "count"}
    assert results["sections"]["runners"]["rows"], "the runner overheads were measured"


def test_compare_prints_new_over_old_for_figures_in_both_runs(tmp_path: Path) -> None:
    row = {"name": "sequential, N=10", "unit": "µs/task", "value": {"median": 20.0}}
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"sections": {"runners": {"rows": [row]}}}))
    faster = {**row, "value": {"median": 10.0}}
    new.write_text(json.dumps({"sections": {"runners": {"rows": [faster]}}}))

    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--compare", str(old), str(new)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )

    assert "runners: sequential, N=10" in completed.stdout
    assert "0.50x" in completed.stdout
