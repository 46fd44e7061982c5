"""Prefect mode (`flowcore.prefect`): the served modules, each flavour's call rules
as measured against Prefect 2.20.27 and 3.9.1, what is not emulated, and scripts."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

import flowcore.prefect as mode
from flowcore.prefect.flavour import default_version

SCRIPTS = Path(__file__).parent / "prefect_mode_scripts"
SCRIPT_TIMEOUT = 60.0


def _served(version):
    """The served ``prefect`` module of flavour ``version``, removed afterwards."""
    previous = mode.installed_version()
    mode.install(version)
    import prefect

    yield prefect
    mode.uninstall()
    if previous is not None:
        mode.install(previous)


@pytest.fixture(params=[2, 3])
def prefect(request):
    """The served ``prefect`` module of flavour 2 or 3, removed after the test."""
    yield from _served(request.param)


@pytest.fixture
def prefect2():
    yield from _served(2)


@pytest.fixture
def prefect3():
    yield from _served(3)


def test_plain_task_call_in_a_flow_runs_it_and_gives_the_value(prefect):
    @prefect.task
    def double(x):
        return 2 * x

    @prefect.task
    def explode():
        raise ValueError("no good")

    @prefect.flow
    def pipeline():
        value = double(21)
        with pytest.raises(ValueError, match="no good"):
            explode()
        return value, double(1, return_state=True).is_completed()

    assert pipeline() == (42, True)


def test_futures_are_not_awaitable(prefect):
    @prefect.task
    def one():
        return 1

    @prefect.flow
    async def pipeline():
        future = one.submit()
        return inspect.isawaitable(future), future.result()

    assert asyncio.run(pipeline()) == (False, 1)


def test_prefect2_async_submit_is_awaited_and_so_is_its_result(prefect2):
    @prefect2.task
    async def fetch(x):
        return x * 10

    @prefect2.flow
    async def pipeline():
        future = await fetch.submit(1)
        return await future.result()

    assert asyncio.run(pipeline()) == 10


def test_prefect3_async_submit_gives_a_future_with_a_blocking_result(prefect3):
    @prefect3.task
    async def fetch(x):
        return x * 10

    @prefect3.flow
    async def pipeline():
        return fetch.submit(1).result()

    assert asyncio.run(pipeline()) == 10


def test_map_gives_a_list_or_prefect3s_future_list(prefect):
    @prefect.task
    def square(x, offset):
        return x * x + offset

    @prefect.flow
    def pipeline():
        futures = square.map([1, 2], prefect.unmapped(0))
        if mode.installed_version() == 3:
            return futures.result()
        return [future.result() for future in futures]

    assert pipeline() == [1, 4]


def test_flow_returning_none_after_a_failed_task_ends_per_flavour(prefect):
    @prefect.task
    def explode():
        raise ValueError("no good")

    @prefect.flow
    def pipeline():
        explode.submit()

    state = pipeline(return_state=True)
    if mode.installed_version() == 2:
        assert (state.type.value, state.message) == ("FAILED", "1/1 states failed.")
    else:
        assert (state.type.value, pipeline()) == ("COMPLETED", None)


def test_task_runners_per_flavour(prefect):
    from prefect import task_runners

    assert hasattr(task_runners, "ConcurrentTaskRunner")
    version = mode.installed_version()
    assert hasattr(task_runners, "SequentialTaskRunner") == (version == 2)
    assert hasattr(task_runners, "ThreadPoolTaskRunner") == (version == 3)


def test_unsupported_import_names_the_part_and_how_to_proceed(prefect):
    with pytest.raises(ImportError, match=r"prefect\.deployments is not provided") as caught:
        import prefect.deployments  # noqa: F401
    assert isinstance(caught.value, mode.UnsupportedPrefectImport)
    assert "against real Prefect" in str(caught.value)


def test_unsupported_attribute_is_an_attribute_error_with_the_explanation(prefect):
    with pytest.raises(AttributeError, match=r"prefect\.get_client is not provided"):
        _ = prefect.get_client
    with pytest.raises(ImportError, match=r"prefect\.serve is not provided"):
        exec("from prefect import serve", {})


def test_default_flavour_is_the_installed_prefects_major_version_else_3():
    assert default_version(lambda name: "2.19.3") == 2
    assert default_version(lambda name: "3.1.0") == 3
    assert default_version(lambda name: None) == 3
    assert default_version(lambda name: "1.4.0") == 3


def test_install_refuses_when_real_prefect_was_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "prefect", types.ModuleType("prefect"))
    with pytest.raises(RuntimeError, match="imported before Prefect mode was installed"):
        mode.install(3)


def run_script(name: str, *args: str, version: str = "3") -> subprocess.CompletedProcess[str]:
    """``python -m flowcore.prefect --prefect-version V SCRIPT ARGS``, killed if it hangs."""
    command = [sys.executable, "-m", "flowcore.prefect", "--prefect-version", version]
    process = subprocess.Popen(
        [*command, str(SCRIPTS / f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=SCRIPT_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_script_runs_as_main_with_its_arguments_and_plain_calls_in_order():
    done = run_script("p2_plain_calls", "5", version="2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "argv: ['5']",
        "step one: 5",
        "step two: 6",
        "step three: 7",
        "result: 8",
    ]


def test_seed_async_example_prints_as_the_seed_says():
    done = run_script("seed_async", version="2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "2", "a", "6", "b", "7", "c", "8", "d", "9"]


def test_seed_dask_example_runs_its_plain_calls_one_after_the_other():
    done = run_script("seed_dask", version="2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["AAAA"] * 3 + ["BBBB"] * 2


def test_prefect3_pipeline_with_thread_pool_map_and_result():
    done = run_script("p3_pipeline", version="3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["squares: [0, 1, 4, 9]", "total: 14"]
