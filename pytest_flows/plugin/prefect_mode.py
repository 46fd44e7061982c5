"""``pytest --flow-prefect``: a user's unchanged Prefect flows tested on flowcore.

    pytest --flow-prefect          # the installed prefect's major version, else 3
    pytest --flow-prefect=2        # Prefect 2.20's call semantics
    # or, in pytest.ini / pyproject: flow_prefect = 3

The mode (`flowcore.prefect.install`) is installed before conftest files and
test modules are imported, so their ``import prefect`` is served by flowcore
and every feature of the plugin (``--flow-runner=``, ``flow_timeline``, the
deterministic runner, exploration) works on those flows. Dask workers the
session starts install it too (a worker preload); workers of a scheduler
given with ``--dask-address`` need ``--preload flowcore.prefect.dask_preload``.
The report header says which flavour is in force.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from flowcore.prefect import VERSIONS, install, installed_version, uninstall

__all__ = ["WORKER_PRELOAD"]

WORKER_PRELOAD = "flowcore.prefect.dask_preload"
_AUTO = "auto"
_OFF = ("", "0", "false", "no", "off")
_DASK_PRELOAD_VARIABLE = "DASK_DISTRIBUTED__WORKER__PRELOAD"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flows")
    group.addoption(
        "--flow-prefect", nargs="?", const=_AUTO, default=None, metavar="2|3",
        help="serve `import prefect` from flowcore (Prefect mode); 2 or 3 picks the flavour, "
        "default: the installed prefect's major version, else 3",
    )  # fmt: skip
    parser.addini(
        "flow_prefect",
        "Prefect mode: 2, 3, or true for the default flavour (the option wins)",
        default="",
    )


def requested_flavour(config: pytest.Config) -> str | None:
    """The flavour asked for: "2", "3", "auto", or None when the mode is off."""
    value: str | None = config.known_args_namespace.flow_prefect
    if value is None:
        value = str(config.getini("flow_prefect")).strip().lower()
        if value in _OFF:
            return None
        if value in ("true", "yes", "on", "1"):
            value = _AUTO
    if value not in (_AUTO, *(str(version) for version in VERSIONS)):
        raise pytest.UsageError(
            f"{value!r} is not a valid Prefect mode flavour (--flow-prefect / flow_prefect). "
            f"Valid: 2, 3, or no value for the default"
        )
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Install the mode before any conftest or test module imports ``prefect``."""
    _give_back_swallowed_path(early_config, args)
    flavour = requested_flavour(early_config)
    if flavour is None:
        return
    if "prefect" in sys.modules and installed_version() is None:
        raise pytest.UsageError(
            "--flow-prefect: prefect was imported before Prefect mode could be installed "
            "(by another plugin?); Prefect mode serves `import prefect` itself"
        )
    install(None if flavour == _AUTO else flavour)
    _preload_on_dask_workers()
    early_config.add_cleanup(_uninstall)


def _give_back_swallowed_path(config: pytest.Config, args: list[str]) -> None:
    """``--flow-prefect tests/``: the bare option took the path as its value; undo that.

    The path goes back to the positional arguments, for this parse (the
    namespace) and for pytest's final one (``args``, rewritten in place).
    """
    namespace = config.known_args_namespace
    value = namespace.flow_prefect
    if value is None or value == _AUTO or value in {str(version) for version in VERSIONS}:
        return
    for index in range(len(args) - 1):
        if args[index] == "--flow-prefect" and args[index + 1] == value:
            args[index] = f"--flow-prefect={_AUTO}"
            namespace.flow_prefect = _AUTO
            namespace.file_or_dir.insert(0, value)
            return


def _preload_on_dask_workers() -> None:
    """Have the Dask workers this session starts install the mode when they start."""
    dask = sys.modules.get("dask")
    if dask is not None:  # its configuration is read already: change it in place
        preload = list(dask.config.get("distributed.worker.preload", default=[]) or [])
        if WORKER_PRELOAD not in preload:
            dask.config.set({"distributed.worker.preload": [*preload, WORKER_PRELOAD]})
        return
    os.environ.setdefault(_DASK_PRELOAD_VARIABLE, repr([WORKER_PRELOAD]))


def _uninstall() -> None:
    uninstall()
    if os.environ.get(_DASK_PRELOAD_VARIABLE) == repr([WORKER_PRELOAD]):
        del os.environ[_DASK_PRELOAD_VARIABLE]


def pytest_report_header(config: pytest.Config) -> Any:
    version = installed_version()
    if version is None:
        return None
    return f"flows: prefect mode, Prefect {version}.x flavour (--flow-prefect={version})"
