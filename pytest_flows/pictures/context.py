"""What a picture says about the test it came from: `PictureContext`.

A picture written for a failing test names the test (node id), the runner
and the seed it ran with, shows the failed assertion's message at the top,
and highlights the runs that assertion named:

    >>> context = PictureContext(
    ...     test="tests/test_etl.py::test_loads_overlap",
    ...     runner="deterministic",
    ...     seed=1234,
    ...     failure="expected load-0, load-1 to run in parallel, but: ...",
    ...     highlighted=frozenset({"load-0", "load-1"}),
    ... )
    >>> context.subtitle()
    'runner=deterministic · seed=1234'

The plugin builds one per failing test (`pytest_flows.plugin.reports`); the
text chart, the HTML page and the Chrome trace each take it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PictureContext"]


@dataclass(frozen=True)
class PictureContext:
    """The test a picture belongs to; every field optional."""

    test: str = ""
    runner: str | None = None
    seed: int | None = None
    failure: str = ""
    highlighted: frozenset[str] = frozenset()
    schedule: str = ""
    """For an explored test: which schedule's runs the picture shows."""

    def subtitle(self) -> str:
        """``runner=... · seed=...``: what the test ran with (empty when unknown)."""
        parts = [f"runner={self.runner or 'declared'}"]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        if self.schedule:
            parts.append(self.schedule)
        return " · ".join(parts)

    def as_metadata(self) -> dict[str, object]:
        """The context as JSON-ready data (for the Chrome trace's ``otherData``)."""
        return {
            "test": self.test,
            "runner": self.runner or "declared",
            "seed": self.seed,
            "failure": self.failure,
            "highlighted_runs": sorted(self.highlighted),
            "schedule": self.schedule,
        }
