"""The deterministic runner under pytest: a suite whose async task sleeps 0.1 s finishes.

Each inner suite runs in a subprocess with a hard bound, so a runner that
hangs (as one did when the virtual clock stopped a float ulp short of a
timer's deadline) fails the test instead of the whole session.
"""

from __future__ import annotations

import pytest

BOUND = 240.0
"""Real seconds an inner run may take: imports, a local Dask cluster for ``all``, load."""

FLOWS = """
import asyncio

from flowcore import flow, task


@task
async def nap(seconds):
    await asyncio.sleep(seconds)
    return seconds


@flow
def naps():
    return nap(0.1)


@flow
async def naps_async():
    return await nap(0.1)
"""

SYNC_TEST = """
from flows import naps


def test_naps():
    assert naps() == 0.1
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(flows=FLOWS)
    pytester.syspathinsert()
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess("-q", "-p", "no:randomly", *args, timeout=BOUND)


@pytest.mark.parametrize("runner", ["deterministic", "all"])
def test_a_sync_flow_sleeping_in_an_async_task_passes(suite: pytest.Pytester, runner: str) -> None:
    suite.makepyfile(test_naps=SYNC_TEST)
    result = run(suite, f"--flow-runner={runner}")
    expected = 5 if runner == "all" else 1
    result.assert_outcomes(passed=expected)


def test_an_async_flow_in_a_pytest_asyncio_test_passes(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_naps="""
import pytest

from flows import naps_async


@pytest.mark.asyncio
async def test_naps():
    assert await naps_async() == 0.1
"""
    )
    run(suite, "--flow-runner=deterministic").assert_outcomes(passed=1)


def test_an_async_flow_in_an_anyio_test_passes(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_naps="""
import pytest

from flows import naps_async


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_naps():
    assert await naps_async() == 0.1
"""
    )
    run(suite, "--flow-runner=deterministic").assert_outcomes(passed=1)
