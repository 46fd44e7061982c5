"""The conformance scripts, unchanged, run in Prefect mode in both flavours.

Each script of ``conformance/scripts/`` runs as ``python -m flowcore.prefect
--prefect-version N SCRIPT``: its ``import prefect`` lines are served by
flowcore, nothing in it is rewritten. Its stdout and exit code are compared
with the golden recorded from real Prefect of the same major version
(``conformance/golden/prefect-N/``), whatever the script's own
``# compare-with:`` line says: Prefect mode follows each flavour.

``KNOWN_DIFFERENCES`` lists (flavour, script) pairs that differ today, each
with why. A listed pair must still differ; every other one must match.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parent / "conformance"
SCRIPTS = CONFORMANCE / "scripts"
GOLDEN = CONFORMANCE / "golden"
SCRIPT_TIMEOUT = 60.0
FLAVOURS = (2, 3)

_MESSAGES = (
    "a NotReady run names its upstream run by name ('explode-0'), where Prefect gives the "
    "upstream's id"
)
_CALL_VALUE = (
    "by design, as native flowcore: calling a flow resolves the futures and states it "
    "returned to values; Prefect gives the states"
)
_RANDOM_NAMES = (
    "by design: task runs are named load-0, load-1 (deterministic, what timeline "
    "assertions use); Prefect 3 adds three random hex digits (load-e6e)"
)

KNOWN_DIFFERENCES: dict[tuple[int, str], str] = {
    (2, "failure_messages"): _MESSAGES,
    (3, "failure_messages"): _MESSAGES,
    (2, "flow_call_value"): _CALL_VALUE,
    (3, "flow_call_value"): _CALL_VALUE,
    (3, "return_iterable"): "Prefect 3: a flow returning [ok, failed] states gives the "
    "states when called; flowcore raises the failure (Prefect 2.20's rule)",
    (3, "log_prints"): _RANDOM_NAMES,
    (3, "run_logger"): _RANDOM_NAMES,
    (3, "run_context"): _RANDOM_NAMES,
    (3, "task_run_name"): _RANDOM_NAMES,
}


def script_names() -> list[str]:
    if not SCRIPTS.is_dir():
        return []
    return sorted(path.stem for path in SCRIPTS.glob("*.py") if not path.name.startswith("_"))


def run_in_prefect_mode(name: str, flavour: int, cwd: Path) -> tuple[int, list[str], str]:
    """Exit code, stdout lines and stderr of the unchanged script run in Prefect mode."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("FLOWCORE_PREFECT_VERSION", None)
    env.update(PYTHONPATH=str(SCRIPTS), PYTHONDONTWRITEBYTECODE="1")
    command = [
        sys.executable, "-m", "flowcore.prefect", "--prefect-version", str(flavour),
        str(SCRIPTS / f"{name}.py"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {SCRIPT_TIMEOUT} s in Prefect mode {flavour}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode, stdout.splitlines(), stderr


def differences(name: str, flavour: int, cwd: Path) -> tuple[list[str], str]:
    """A unified diff of the golden and the Prefect-mode run (empty when they match)."""
    golden = json.loads((GOLDEN / f"prefect-{flavour}" / f"{name}.json").read_text())
    exit_code, stdout, stderr = run_in_prefect_mode(name, flavour, cwd)
    expected = [*golden["stdout"], f"exit code {golden['exit_code']}"]
    actual = [*stdout, f"exit code {exit_code}"]
    label = f"prefect {golden['prefect_version']}"
    diff = list(difflib.unified_diff(expected, actual, label, "prefect mode", lineterm=""))
    return diff, stderr


@pytest.mark.skipif(not script_names(), reason="tests/conformance is not in this tree")
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", script_names() or ["none"])
def test_unchanged_script_behaves_as_under_prefect(name, flavour, tmp_path):
    diff, stderr = differences(name, flavour, tmp_path)
    if (flavour, name) in KNOWN_DIFFERENCES:
        assert diff, (
            f"{name} now matches Prefect {flavour}: remove it from KNOWN_DIFFERENCES "
            f"({KNOWN_DIFFERENCES[flavour, name]!r})"
        )
    else:
        detail = "\n".join(diff)
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        assert not diff, f"{name} differs from Prefect {flavour}:\n{detail}\n--- stderr:\n{tail}"


def test_known_differences_name_existing_scripts():
    assert {name for _, name in KNOWN_DIFFERENCES} <= set(script_names())
