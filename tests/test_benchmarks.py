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

import pytest

from benchmarks.__main__ import SECTIONS
from benchmarks.instructions import WORKLOADS

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


CACHEGRIND_SUMMARY = """\
==4242== I   refs:      3,548,987,595
==4242== I1  misses:       62,075,803
==4242== LLi misses:          105,226
==4242== D   refs:      1,619,868,153  (1,119,176,922 rd   + 500,691,231 wr)
==4242== D1  misses:       52,018,368  (   48,489,238 rd   +   3,529,130 wr)
==4242== LLd misses:        5,313,718  (    4,358,241 rd   +     955,477 wr)
"""


def test_cachegrind_totals_are_read_with_and_without_cache_simulation() -> None:
    from benchmarks.instructions import Counts, parse_cachegrind

    assert parse_cachegrind(CACHEGRIND_SUMMARY) == Counts(3_548_987_595, 52_018_368, 5_313_718)
    only_instructions = CACHEGRIND_SUMMARY.splitlines()[0]
    assert parse_cachegrind(only_instructions) == Counts(3_548_987_595, None, None)
    with pytest.raises(ValueError, match="no instruction count"):
        parse_cachegrind("==1== valgrind: command not found")


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_every_counted_workload_runs_as_the_simulator_would_run_it(workload: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "--child", workload, "20"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]


def test_counting_without_valgrind_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import instructions

    monkeypatch.setattr(instructions.shutil, "which", lambda _name: None)
    assert instructions.main(["sequential"]) == 2
    assert "install it" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        instructions.main(["no-such-workload"])


def test_a_count_that_overruns_its_bound_says_so_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import instructions

    def overrun(command: list[str], **options: object) -> None:
        assert options["timeout"] == instructions.CHILD_TIMEOUT_SECONDS
        raise subprocess.TimeoutExpired(command, instructions.CHILD_TIMEOUT_SECONDS)

    monkeypatch.setattr(instructions.subprocess, "run", overrun)
    with pytest.raises(RuntimeError, match=r"sequential ran over 3600s .*pass a smaller -n"):
        instructions.count("sequential", 30_000)
