"""Prefect mode: users' unchanged ``import prefect`` code, run on flowcore.

    flowcore.prefect.install(3)     # or pytest --flow-prefect, python -m flowcore.prefect
    import prefect                  # served by flowcore; real Prefect is never imported
    from prefect import flow, task

Concepts to modules: which Prefect to imitate (`flowcore.prefect.flavour`),
the import hook (`flowcore.prefect.finder`) and the modules it serves
(`flowcore.prefect.modules`), tasks and flows called with Prefect's
semantics per flavour (`flowcore.prefect.tasks`, `flowcore.prefect.flows`,
`flowcore.prefect.futures`), what is not emulated
(`flowcore.prefect.unsupported`), installing it (`flowcore.prefect.install`),
running scripts (``python -m flowcore.prefect``) and Dask workers
(`flowcore.prefect.dask_preload`).
"""

from flowcore.prefect.flavour import VERSIONS, default_version
from flowcore.prefect.install import install, installed_version, uninstall
from flowcore.prefect.unsupported import UnsupportedPrefectAttribute, UnsupportedPrefectImport

__all__ = [
    "VERSIONS",
    "UnsupportedPrefectAttribute",
    "UnsupportedPrefectImport",
    "default_version",
    "install",
    "installed_version",
    "uninstall",
]
