"""Import time of ``flowcore`` and ``pytest_flows``, and what ``import flowcore`` pulls in.

Each measurement is a fresh interpreter running ``python -X importtime -c
"import NAME"``; the figure is the cumulative time CPython reports for the
top-level package (interpreter start-up excluded). ``anyio``, a dependency
flowcore imports, is measured the same way as a point of reference.
A last fresh interpreter checks that ``import flowcore`` leaves Dask and
pytest unimported, as the design requires.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.measure import Sample
from benchmarks.report import Goal, Row, Section
from benchmarks.workload import Sizes

__all__ = ["cumulative_import_ms", "heavy_modules_imported", "run"]

HEAVY = ("dask", "distributed", "pytest", "_pytest")


def cumulative_import_ms(module: str) -> float:
    """Milliseconds ``import module`` takes in a fresh interpreter, per ``-X importtime``."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    cumulative = None
    for line in completed.stderr.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            cumulative = int(parts[1])
    if cumulative is None:
        raise RuntimeError(f"no -X importtime line for {module!r} in:\n{completed.stderr[-2000:]}")
    return cumulative / 1000


def heavy_modules_imported(module: str) -> list[str]:
    """Which of Dask, distributed and pytest a fresh ``import module`` brings in."""
    code = f"import sys, {module}; print(*[m for m in {HEAVY!r} if m in sys.modules])"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return completed.stdout.split()


def run(sizes: Sizes) -> Section:
    section = Section("imports", "Import time (fresh interpreters, -X importtime)")
    modules = ("flowcore", "pytest_flows", "anyio")
    for module in modules:
        cumulative_import_ms(module)  # compile .pyc files before timing
    times: dict[str, list[float]] = {module: [] for module in modules}
    for _ in range(sizes.import_repeats):
        for module in modules:
            times[module].append(cumulative_import_ms(module))
    reference = Sample.of(times["anyio"])
    section.rows.append(
        Row("import flowcore", "ms", Sample.of(times["flowcore"]), "import anyio", reference,
            Goal("at_most", 50.0, "≤ 50 ms"))
    )  # fmt: skip
    section.rows.append(
        Row("import pytest_flows", "ms", Sample.of(times["pytest_flows"]), "import anyio",
            reference)
    )
    heavy = heavy_modules_imported("flowcore")
    section.rows.append(
        Row("dask/distributed/pytest modules loaded by import flowcore", "modules",
            Sample.of([len(heavy)]), goal=Goal("at_most", 0, "none"),
            note=", ".join(heavy) or "none")
    )  # fmt: skip
    section.notes.append(
        f"import flowcore loads: {', '.join(heavy) if heavy else 'none of ' + ', '.join(HEAVY)}"
    )
    return section
