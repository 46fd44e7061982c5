"""What Prefect mode does not emulate, and the errors that say so.

Importing a part of Prefect that only matters with its server (blocks,
deployments, the client, ...) raises `UnsupportedPrefectImport`; reading a
missing attribute of a served module raises `UnsupportedPrefectAttribute`.
Both name the part and say how to proceed:

    >>> print(message("prefect.blocks"))  # doctest: +NORMALIZE_WHITESPACE
    prefect.blocks is not provided by flowcore's Prefect mode, which runs flows and
    tasks without a Prefect server. Run this test against real Prefect instead: mark it
    (e.g. @pytest.mark.real_prefect) and run those tests without --flow-prefect, with
    prefect installed.
"""

from __future__ import annotations

__all__ = [
    "UNSUPPORTED_PARTS",
    "UnsupportedPrefectAttribute",
    "UnsupportedPrefectImport",
    "message",
]

# Parts of Prefect user code commonly reaches for, with what they are, for the docs.
UNSUPPORTED_PARTS: dict[str, str] = {
    "blocks": "blocks (stored configuration and credentials)",
    "deployments": "deployments, `serve`, `deploy`",
    "artifacts": "artifacts",
    "variables": "variables",
    "client": "the API client, `get_client`",
    "results": "result storage and persistence",
    "filesystems": "remote file systems for results",
    "server": "the Prefect server and its database",
    "events": "events and automations",
    "automations": "automations",
    "concurrency": "global concurrency limits",
    "workers": "workers and work pools",
    "infrastructure": "infrastructure blocks",
    "cache_policies": "cache policies (accepted as options, never used)",
    "transactions": "transactions",
    "runtime": "`prefect.runtime`",
    "settings": "settings",
}


def message(part: str) -> str:
    """The explanation for an unsupported ``part`` (a module or attribute path)."""
    return (
        f"{part} is not provided by flowcore's Prefect mode, which runs flows and tasks "
        f"without a Prefect server. Run this test against real Prefect instead: mark it "
        f"(e.g. @pytest.mark.real_prefect) and run those tests without --flow-prefect, "
        f"with prefect installed."
    )


class UnsupportedPrefectImport(ImportError):
    """An import of a part of Prefect that Prefect mode does not provide."""

    def __init__(self, part: str) -> None:
        super().__init__(message(part), name=part)
        self.part = part


class UnsupportedPrefectAttribute(AttributeError):
    """A name of a served Prefect module that Prefect mode does not provide."""

    def __init__(self, part: str) -> None:
        super().__init__(message(part))
        self.part = part
