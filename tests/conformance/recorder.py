"""Record the goldens: run every conformance script under a real Prefect interpreter.

Prefect is never a dependency of the project: it lives in a separate venv
whose interpreter is passed on the command line. Each script runs offline,
with a fresh temporary PREFECT_HOME (so a fresh ephemeral API and database),
no PREFECT_API_URL, and its logs left on stderr, which is not recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
GOLDEN = HERE / "golden"
SCRIPT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Outcome:
    script: str
    exit_code: int
    stdout: str
    stderr: str


def script_names() -> list[str]:
    return sorted(path.stem for path in SCRIPTS.glob("*.py") if not path.name.startswith("_"))


def run_script(python: str, script: Path, env: dict[str, str], cwd: str, timeout: float) -> Outcome:
    """Run one script in its own process group; the group is killed whatever happens."""
    process = subprocess.Popen(
        [python, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        return Outcome(script.stem, process.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        return Outcome(script.stem, -1, "", f"timed out after {timeout} s")
    finally:
        _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def prefect_env(home: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=home,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(SCRIPTS),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def prefect_version(python: str) -> str:
    with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
        completed = subprocess.run(
            [python, "-c", "import prefect; print(prefect.__version__)"],
            capture_output=True,
            text=True,
            env=prefect_env(home),
            timeout=120,
            check=True,
        )
    return completed.stdout.strip()


def flavour_of(version: str) -> str:
    major = version.split(".", 1)[0]
    if major not in ("2", "3"):
        raise SystemExit(f"expected Prefect 2.x or 3.x, got {version!r}")
    return f"prefect-{major}"


# Prefect 3 starts a temporary API server per process; on a loaded machine it
# sometimes does not answer in time. That says nothing about the script.
SERVER_NOT_STARTED = "Timed out while attempting to connect to ephemeral Prefect API server"
ATTEMPTS = 3


def record_one(python: str, name: str, version: str) -> Outcome:
    for _ in range(ATTEMPTS):
        with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
            script = SCRIPTS / f"{name}.py"
            outcome = run_script(python, script, prefect_env(home), home, SCRIPT_TIMEOUT)
        if SERVER_NOT_STARTED not in outcome.stderr:
            break
    if outcome.exit_code == -1 or SERVER_NOT_STARTED in outcome.stderr:
        return Outcome(name, -1, outcome.stdout, outcome.stderr)  # no golden from a broken run
    target = GOLDEN / flavour_of(version) / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    golden = {
        "script": name,
        "prefect_version": version,
        "exit_code": outcome.exit_code,
        "stdout": outcome.stdout.splitlines(),
    }
    target.write_text(json.dumps(golden, indent=2) + "\n")
    return outcome


def record(python: str, names: list[str], jobs: int) -> int:
    """Record the goldens of ``names`` (all scripts when empty); 1 if one could not be run.

    A script that timed out, or whose Prefect never got its API server up,
    keeps its previous golden.
    """
    version = prefect_version(python)
    names = names or script_names()
    print(f"recording {len(names)} scripts with prefect {version} ({flavour_of(version)})")
    not_recorded = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for outcome in pool.map(lambda name: record_one(python, name, version), names):
            status = "NOT RECORDED" if outcome.exit_code == -1 else f"exit {outcome.exit_code}"
            print(f"  {outcome.script}: {status}", flush=True)
            if outcome.exit_code != 0:
                tail = outcome.stderr.strip().splitlines()[-3:]
                print("\n".join(f"      {line}" for line in tail), flush=True)
            not_recorded += outcome.exit_code == -1
    return 1 if not_recorded else 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.conformance")
    commands = parser.add_subparsers(dest="command", required=True)
    recorder = commands.add_parser("record", help="rewrite the goldens from a Prefect venv")
    recorder.add_argument("--python", required=True, help="interpreter of a venv with prefect")
    recorder.add_argument("--jobs", type=int, default=2, help="scripts run at once (default 2)")
    recorder.add_argument("scripts", nargs="*", help="only these scripts (default: all)")
    arguments = parser.parse_args(argv)
    return record(arguments.python, arguments.scripts, arguments.jobs)


if __name__ == "__main__":
    sys.exit(main())
