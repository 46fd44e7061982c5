"""The import hook: ``import prefect`` (and ``prefect_dask``) served by flowcore.

`PrefectModeFinder` sits first on `sys.meta_path` while the mode is
installed. For a served name (`flowcore.prefect.modules.SERVED`) it makes a
module of the active flavour's names; any other ``prefect.*`` or
``prefect_dask.*`` name raises `UnsupportedPrefectImport`, and a missing name
of a served module raises `UnsupportedPrefectAttribute`. Real Prefect is
never imported.

    >>> finder = PrefectModeFinder()
    >>> finder.find_spec("prefecture", None) is None
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from flowcore.prefect.flavour import active_version
from flowcore.prefect.modules import PACKAGES, SERVED
from flowcore.prefect.unsupported import UnsupportedPrefectAttribute, UnsupportedPrefectImport

__all__ = ["ROOTS", "PrefectModeFinder", "is_prefect_name"]

ROOTS = ("prefect", "prefect_dask")


def is_prefect_name(name: str) -> bool:
    """Whether ``name`` is ``prefect``, ``prefect_dask`` or one of their submodules."""
    return any(name == root or name.startswith(root + ".") for root in ROOTS)


class PrefectModeFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads the served Prefect modules; refuses the rest with an explanation."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not is_prefect_name(fullname):
            return None
        if fullname not in SERVED:
            raise UnsupportedPrefectImport(fullname)
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname in PACKAGES)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        version = active_version()
        module.__dict__.update(SERVED[name](version))
        module.__doc__ = f"{name} served by flowcore's Prefect mode (Prefect {version}.x flavour)."
        module.__dict__["__getattr__"] = _missing_names_of(name)


def _missing_names_of(module_name: str) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if f"{module_name}.{name}" in SERVED:  # ``prefect.states`` without importing it
            return importlib.import_module(f"{module_name}.{name}")
        if name.startswith("__"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        raise UnsupportedPrefectAttribute(f"{module_name}.{name}")

    return __getattr__
