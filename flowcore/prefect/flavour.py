"""Which Prefect the mode imitates: major version 2 or 3.

    >>> default_version(lambda name: "2.20.27")
    2
    >>> default_version(lambda name: None)
    3
    >>> check_version("4")
    Traceback (most recent call last):
    ...
    ValueError: Prefect mode imitates Prefect 2 or 3, got '4'; valid: 2, 3

The default is the major version of the ``prefect`` distribution installed
next to the code, read from its metadata without importing it, else 3.
`ENVIRONMENT_VARIABLE` carries the chosen flavour to child processes (Dask
workers, scripts).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "VERSIONS",
    "active_version",
    "check_version",
    "default_version",
    "set_active_version",
]

VERSIONS = (2, 3)
ENVIRONMENT_VARIABLE = "FLOWCORE_PREFECT_VERSION"
_active = {"version": 3}


def active_version() -> int:
    """The flavour the served ``prefect`` modules follow now."""
    return _active["version"]


def set_active_version(version: int) -> None:
    _active["version"] = check_version(version)


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def default_version(installed: Callable[[str], str | None] = _installed) -> int:
    """The major version of the installed ``prefect`` if it is 2 or 3, else 3."""
    found = installed("prefect")
    if found is not None:
        major = found.split(".", 1)[0]
        if major.isdigit() and int(major) in VERSIONS:
            return int(major)
    return 3


def check_version(value: object) -> int:
    """``value`` ("2", 3, ...) as a supported major version; ValueError naming the valid ones."""
    try:
        version = int(str(value).strip())
    except ValueError:
        version = -1
    if version not in VERSIONS:
        raise ValueError(f"Prefect mode imitates Prefect 2 or 3, got {value!r}; valid: 2, 3")
    return version
