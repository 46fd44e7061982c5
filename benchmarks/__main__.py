"""``python -m benchmarks``: run the benchmarks, print the table, write the JSON.

    python -m benchmarks                       # full sizes
    python -m benchmarks --quick               # smaller N, fewer repeats
    python -m benchmarks --tiny                # smallest N: checks that everything runs
    python -m benchmarks --only runners,dask   # some sections only
    python -m benchmarks --json new.json       # default: benchmarks/results/latest.json
    python -m benchmarks --compare old.json new.json

A section that raises is reported in the table and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    dask_runner,
    deterministic,
    imports,
    memory,
    plugin_suite,
    prefect_mode,
    prefect_side_by_side,
    runners,
    scaling,
)
from benchmarks.report import Section, compare, format_table, write_json
from benchmarks.workload import SIZES, Sizes

SECTIONS: dict[str, Callable[[Sizes], Section]] = {
    "runners": runners.run,
    "dask": dask_runner.run,
    "scaling": scaling.run,
    "memory": memory.run,
    "imports": imports.run,
    "plugin": plugin_suite.run,
    "deterministic": deterministic.run,
    "prefect": prefect_side_by_side.run,
    "prefect_mode": prefect_mode.run,
}
DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of flowcore and pytest_flows."
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller N and fewer repeats")
    size.add_argument("--tiny", action="store_true", help="smallest N: a smoke run")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAMES",
        help=f"comma-separated sections to run, from: {', '.join(SECTIONS)}",
    )  # fmt: skip
    parser.add_argument(
        "--compare", nargs=2, type=Path, metavar=("OLD", "NEW"),
        help="print new/old for every figure of two JSON results and exit",
    )  # fmt: skip
    arguments = parser.parse_args(argv)
    names = [name.strip() for group in arguments.only for name in group.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; valid: {', '.join(SECTIONS)}")
    arguments.sections = names or list(SECTIONS)
    return arguments


def metadata(sizes: Sizes, sections: list[str]) -> dict[str, Any]:
    """Where and how this run was made, for reading two JSON files side by side."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=Path(__file__).parent, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "mode": sizes.mode,
        "sections": sections,
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_section(name: str, sizes: Sizes) -> tuple[Section, bool]:
    """Run one section; a failure becomes a note instead of stopping the others."""
    started = time.perf_counter()
    print(f"running {name} ...", file=sys.stderr, flush=True)
    try:
        section, ok = SECTIONS[name](sizes), True
    except Exception as error:
        traceback.print_exc()
        section, ok = Section(name, f"{name} (failed)", notes=[f"failed: {error!r}"]), False
    print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return section, ok


def use_cached_bytecode() -> None:
    """Let the fresh interpreters the benchmarks start write and read ``.pyc`` files, as
    users' do. With ``PYTHONDONTWRITEBYTECODE`` set, every fresh interpreter compiles
    flowcore and pytest_flows from source (and pytest rewrites every test module
    again): ``import flowcore`` took 53-68 ms that way, 24-32 ms from bytecode."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.compare:
        old, new = (json.loads(path.read_text()) for path in arguments.compare)
        print(compare(old, new))
        return 0
    sizes = SIZES["tiny" if arguments.tiny else "quick" if arguments.quick else "full"]
    use_cached_bytecode()
    results = [run_section(name, sizes) for name in arguments.sections]
    sections = [section for section, _ in results]
    print(format_table(sections))
    write_json(arguments.json, sections, metadata(sizes, arguments.sections))
    print(f"\nresults written to {arguments.json}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
