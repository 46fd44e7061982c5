"""A Dask worker preload that installs Prefect mode in the worker process.

Tasks defined in user modules that ``import prefect`` are unpickled on Dask
workers, which then import those modules, and so ``prefect``. Start workers
with this preload and they resolve it as the client does:

    dask worker tcp://scheduler:8786 --preload flowcore.prefect.dask_preload

The flavour comes from ``FLOWCORE_PREFECT_VERSION`` (as ``pytest
--flow-prefect`` sets it for the LocalCluster it starts), else the default.
"""

from __future__ import annotations

import os
from typing import Any

from flowcore.prefect.flavour import ENVIRONMENT_VARIABLE
from flowcore.prefect.install import install

__all__ = ["dask_setup"]


def dask_setup(worker: Any = None) -> None:
    """Called by Dask when the worker starts: install the mode (idempotent)."""
    install(os.environ.get(ENVIRONMENT_VARIABLE))
