"""Results: rows of figures grouped in sections, printed as a table, saved as JSON, compared.

A `Row` is one figure (a `Sample` in its unit), optionally next to the raw
baseline doing the same work, from which the ratio and the overhead follow,
and a `Goal` from the benchmarks issue. A `Section` is what one benchmark
module returns: its rows, plus notes (why something was skipped, what a
figure includes).

- `print_table(sections)`: the human-readable table.
- `to_json(sections, meta)` / `write_json(path, ...)`: the machine-readable run.
- `compare(old, new)`: lines giving new/old for every figure in both runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from benchmarks.measure import Sample

__all__ = ["Goal", "Row", "Section", "compare", "format_table", "to_json", "write_json"]

GoalKind = Literal["overhead_at_most", "ratio_at_most", "at_most", "at_least"]


@dataclass(frozen=True)
class Goal:
    """A target for a row: on its overhead, its ratio to the baseline, or its value."""

    kind: GoalKind
    limit: float
    text: str

    def met_by(self, row: Row) -> bool | None:
        if self.kind == "at_most":
            return row.value.median <= self.limit
        if self.kind == "at_least":
            return row.value.median >= self.limit
        if row.baseline is None:
            return None
        if self.kind == "overhead_at_most":
            return (row.overhead or 0.0) <= self.limit
        return (row.ratio or 0.0) <= self.limit


@dataclass(frozen=True)
class Row:
    """One measured figure, with its baseline and goal when it has them."""

    name: str
    unit: str
    value: Sample
    baseline_name: str = ""
    baseline: Sample | None = None
    goal: Goal | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.median == 0:
            return None
        return self.value.median / self.baseline.median

    @property
    def overhead(self) -> float | None:
        return None if self.baseline is None else self.value.median - self.baseline.median

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.goal.met_by(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "value": self.value.to_json(),
            "baseline_name": self.baseline_name,
            "baseline": None if self.baseline is None else self.baseline.to_json(),
            "ratio": self.ratio,
            "overhead": self.overhead,
            "goal": None if self.goal is None else self.goal.text,
            "met": self.met,
            "note": self.note,
        }


@dataclass
class Section:
    """What one benchmark produced: its rows, and notes on what was skipped or included."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rows": [row.to_json() for row in self.rows],
            "notes": list(self.notes),
        }


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 or value == 0 else f"{value:.3f}"


def _sample(sample: Sample) -> str:
    return f"{_number(sample.median)} [{_number(sample.low)}..{_number(sample.high)}]"


def _cells(row: Row) -> list[str]:
    met = {True: "yes", False: "NO", None: ""}[row.met]
    return [
        row.name,
        row.unit,
        _sample(row.value),
        f"{row.baseline_name}: {_sample(row.baseline)}" if row.baseline else "",
        f"{row.ratio:.2f}x" if row.ratio is not None else "",
        f"{row.overhead:+.2f}" if row.overhead is not None else "",
        f"{row.goal.text} {met}" if row.goal else "",
    ]


HEADER = ["measurement", "unit", "median [min..max]", "baseline", "ratio", "overhead", "goal"]


def format_table(sections: Iterable[Section]) -> str:
    """The results as an aligned text table, one block per section, notes below it."""
    sections = list(sections)
    lines = [[*HEADER]] + [_cells(row) for section in sections for row in section.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def aligned(cells: list[str]) -> str:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    text = [aligned(HEADER)]
    for section in sections:
        text.append(f"\n== {section.title} ==")
        text.extend(aligned(_cells(row)) for row in section.rows)
        text.extend(f"   note: {note}" for note in section.notes)
    return "\n".join(text)


def to_json(sections: Iterable[Section], meta: dict[str, Any]) -> dict[str, Any]:
    return {"meta": meta, "sections": {section.name: section.to_json() for section in sections}}


def write_json(path: Path, sections: Iterable[Section], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(sections, meta), indent=2, ensure_ascii=False) + "\n")


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """For every figure in both runs: old and new medians and new/old (< 1 is faster/smaller)."""
    lines = [f"{'measurement':60}  {'old':>12}  {'new':>12}  new/old"]
    for section_name, section in new["sections"].items():
        before = {row["name"]: row for row in old["sections"].get(section_name, {}).get("rows", [])}
        for row in section["rows"]:
            if row["name"] not in before:
                continue
            old_median = before[row["name"]]["value"]["median"]
            new_median = row["value"]["median"]
            ratio = f"{new_median / old_median:.2f}x" if old_median else "n/a"
            label = f"{section_name}: {row['name']} ({row['unit']})"
            old_text, new_text = _number(old_median), _number(new_median)
            lines.append(f"{label:60}  {old_text:>12}  {new_text:>12}  {ratio}")
    return "\n".join(lines)
