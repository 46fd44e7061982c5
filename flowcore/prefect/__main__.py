"""``python -m flowcore.prefect [--prefect-version 2|3] SCRIPT [ARGS...]``.

Runs an unchanged Prefect script on flowcore: the mode is installed, then the
script runs as ``__main__`` with ``sys.argv == [SCRIPT, *ARGS]`` and its
directory first on ``sys.path``, as ``python SCRIPT ARGS`` would.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from flowcore.prefect.install import install

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m flowcore.prefect",
        description="Run a Prefect flow script on flowcore, with no Prefect server.",
    )
    parser.add_argument(
        "--prefect-version", choices=["2", "3"], default=None,
        help="the flavour to follow (default: the installed prefect's major version, else 3)",
    )  # fmt: skip
    parser.add_argument("script", help="the Prefect script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    arguments = parser.parse_args(argv)
    script = Path(arguments.script)
    if not script.is_file():
        parser.error(f"no such script: {arguments.script}")
    install(arguments.prefect_version)
    sys.argv = [arguments.script, *arguments.args]
    sys.path.insert(0, str(script.resolve().parent))
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
