"""Flow scripts written for Prefect behave on flowcore as they did on real Prefect.

Each script in ``conformance/scripts/`` runs under flowcore with only its
import lines rewritten (``IMPORT_REWRITES``), in a subprocess with a hard
timeout, and its stdout and exit code are compared with the golden recorded
from Prefect 2.20 (``conformance/golden/prefect-2/``), or from Prefect 3 for a
script marked ``# compare-with: prefect-3``. Prefect is never needed here:
``python -m tests.conformance record --python <prefect venv>/bin/python``
rewrites the goldens.

``KNOWN_DIFFERENCES`` lists the scripts that differ today, each with why. A
listed script must still differ (remove it once flowcore matches); an
unlisted one must match.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parent / "conformance"
SCRIPTS = CONFORMANCE / "scripts"
GOLDEN = CONFORMANCE / "golden"
SCRIPT_TIMEOUT = 60.0

# The one place that says where each Prefect module lives in flowcore.
# Longest module names first: the first match wins.
IMPORT_REWRITES = {
    "prefect.utilities.annotations": "flowcore",
    "prefect.task_runners": "flowcore.task_runners",
    "prefect.futures": "flowcore.futures",
    "prefect.context": "flowcore.context",
    "prefect.states": "flowcore.states",
    "prefect_dask": "flowcore.task_runners",
    "prefect": "flowcore",
}

# Scripts whose flowcore output differs from the golden today, and why. "by design" ones
# stay; the others go when flowcore catches up (the test fails until they are removed).
KNOWN_DIFFERENCES: dict[str, str] = {
    "async_submit": (
        "by design: in an async flow `await task.submit()` gives a future that is awaited "
        "(`await future`); Prefect 2 makes `future.result()` itself awaitable, which would "
        "decide between blocking and awaiting by looking at the running loop"
    ),
    "default_names": (
        "a flow keeps its function's name ('nightly_report'); Prefect 2 turns underscores "
        "into hyphens"
    ),
    "failure_messages": (
        "a NotReady run names its upstream run by name ('explode-0'), where Prefect gives "
        "the upstream's id"
    ),
    "flow_call_value": (
        "by design: calling a flow resolves the futures it returned to their values; "
        "Prefect 2 returns the states"
    ),
    "hook_options": (
        "@task(on_running=...) is accepted, as Prefect 3 does; Prefect 2.20 refuses it"
    ),
    "plain_call": "by design: a plain task call in a flow submits and returns a future",
}


def to_flowcore(source: str) -> str:
    """The script with its Prefect import lines pointed at flowcore, nothing else changed."""
    return "".join(_rewrite_line(line) for line in source.splitlines(keepends=True))


def _rewrite_line(line: str) -> str:
    match = re.match(r"^(\s*)(from|import) ([\w.]+)(.*)$", line, flags=re.DOTALL)
    if match is None:
        return line
    indent, keyword, module, rest = match.groups()
    for prefect, flowcore in IMPORT_REWRITES.items():
        if module == prefect or module.startswith(prefect + "."):
            if keyword == "import" and module == "prefect" and " as " not in rest:
                rest = " as prefect" + rest
            return f"{indent}{keyword} {flowcore}{module[len(prefect) :]}{rest}"
    return line


def script_names() -> list[str]:
    return sorted(path.stem for path in SCRIPTS.glob("*.py") if not path.name.startswith("_"))


def golden_for(name: str) -> dict[str, object]:
    source = (SCRIPTS / f"{name}.py").read_text()
    marker = re.search(r"^# compare-with: (prefect-\d)$", source, flags=re.MULTILINE)
    flavour = marker.group(1) if marker else "prefect-2"
    return json.loads((GOLDEN / flavour / f"{name}.json").read_text())


def run_on_flowcore(name: str, tmp_path: Path) -> tuple[int, list[str], str]:
    script = tmp_path / f"{name}.py"
    script.write_text(to_flowcore((SCRIPTS / f"{name}.py").read_text()))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(SCRIPTS), PYTHONDONTWRITEBYTECODE="1")
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} did not finish within {SCRIPT_TIMEOUT} s on flowcore")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode, stdout.splitlines(), stderr


def differences(name: str, tmp_path: Path) -> tuple[list[str], str]:
    """Lines of a diff between the golden and flowcore's run (empty when they match)."""
    golden = golden_for(name)
    exit_code, stdout, stderr = run_on_flowcore(name, tmp_path)
    expected = [*golden["stdout"], f"exit code {golden['exit_code']}"]
    actual = [*stdout, f"exit code {exit_code}"]
    diff = list(
        difflib.unified_diff(
            expected, actual, f"prefect {golden['prefect_version']}", "flowcore", lineterm=""
        )
    )
    return diff, stderr


@pytest.mark.parametrize("name", script_names())
def test_script_behaves_as_under_prefect(name, tmp_path):
    diff, stderr = differences(name, tmp_path)
    if name in KNOWN_DIFFERENCES:
        assert diff, (
            f"{name} now matches Prefect: remove it from KNOWN_DIFFERENCES "
            f"({KNOWN_DIFFERENCES[name]!r})"
        )
    else:
        detail = "\n".join(diff)
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        assert not diff, f"{name} differs from Prefect:\n{detail}\n--- stderr tail:\n{tail}"


def test_known_differences_name_existing_scripts():
    assert set(KNOWN_DIFFERENCES) <= set(script_names())


def test_every_script_has_both_goldens():
    for flavour in ("prefect-2", "prefect-3"):
        recorded = {path.stem for path in (GOLDEN / flavour).glob("*.json")}
        assert recorded == set(script_names()), flavour


@pytest.mark.parametrize(
    ("line", "rewritten"),
    [
        ("from prefect import flow, task\n", "from flowcore import flow, task\n"),
        ("from prefect.task_runners import X\n", "from flowcore.task_runners import X\n"),
        (
            "from prefect_dask import DaskTaskRunner\n",
            "from flowcore.task_runners import DaskTaskRunner\n",
        ),
        ("from prefect.utilities.annotations import quote\n", "from flowcore import quote\n"),
        ("import prefect\n", "import flowcore as prefect\n"),
        ("    from prefect.futures import wait\n", "    from flowcore.futures import wait\n"),
        ("from prefecture import x\n", "from prefecture import x\n"),
        ('    say("from prefect import")\n', '    say("from prefect import")\n'),
    ],
)
def test_only_import_lines_are_rewritten(line, rewritten):
    assert to_flowcore(line) == rewritten
