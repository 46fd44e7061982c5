"""Installing and removing Prefect mode in a process.

>>> previous = installed_version()
>>> install(2)
2
>>> import prefect
>>> prefect.__version__
'2.20.27'
>>> uninstall()
>>> installed_version() is None
True
>>> if previous is not None:
...     _ = install(previous)
"""

from __future__ import annotations

import os
import sys

from flowcore.prefect.finder import PrefectModeFinder, is_prefect_name
from flowcore.prefect.flavour import (
    ENVIRONMENT_VARIABLE,
    check_version,
    default_version,
    set_active_version,
)

__all__ = ["install", "installed_version", "uninstall"]

_finder: list[PrefectModeFinder] = []
_version: list[int] = []


def install(version: int | str | None = None) -> int:
    """Serve ``import prefect`` from flowcore in this process; returns the flavour (2 or 3).

    ``version`` None: the default (the installed prefect's major version, else
    3). Child processes inherit the flavour through ``FLOWCORE_PREFECT_VERSION``.
    Installing again with another flavour switches to it (modules already
    imported keep the names they were given).
    """
    chosen = default_version() if version in (None, "") else check_version(version)
    real = sys.modules.get("prefect")
    if real is not None and not _is_served(real):
        raise RuntimeError(
            "prefect was imported before Prefect mode was installed; install it first "
            "(pytest --flow-prefect, python -m flowcore.prefect, or flowcore.prefect.install())"
        )
    if _version and _version[0] != chosen:
        _forget_modules()
    set_active_version(chosen)
    _version[:] = [chosen]
    if not _finder:
        _finder.append(PrefectModeFinder())
        sys.meta_path.insert(0, _finder[0])
    os.environ[ENVIRONMENT_VARIABLE] = str(chosen)
    return chosen


def uninstall() -> None:
    """Stop serving ``prefect``; forget the served modules."""
    if _finder:
        sys.meta_path.remove(_finder.pop())
    _version.clear()
    _forget_modules()
    os.environ.pop(ENVIRONMENT_VARIABLE, None)


def installed_version() -> int | None:
    """The flavour installed in this process, None when the mode is not installed."""
    return _version[0] if _version else None


def _is_served(module: object) -> bool:
    return isinstance(getattr(module, "__loader__", None), PrefectModeFinder)


def _forget_modules() -> None:
    for name in [name for name in sys.modules if is_prefect_name(name)]:
        if _is_served(sys.modules[name]):
            del sys.modules[name]
