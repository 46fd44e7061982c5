"""``pytest --flow-prefect``: a user project whose modules ``import prefect`` (not
installed here) tested on flowcore, under every runner, with timelines."""

from __future__ import annotations

import pytest

PIPELINE = """
import time

from prefect import flow, task


@task
def slow(x):
    time.sleep(0.3)
    return x


@task
def double(x):
    return 2 * x


@task
def explode():
    raise ValueError("no good")


@task
def served_version():
    import prefect  # where the task runs: on a Dask worker too

    return prefect.__version__


@flow
def version_in_task():
    return served_version()


@flow
def plain_calls():
    return [double(1), double(2)]     # Prefect: a plain call runs and gives the value


@flow
def parallel():
    futures = [slow.submit(i) for i in range(2)]
    return [future.result() for future in futures]


@flow
def mapped(xs):
    return [future.result() for future in double.map(xs)]


@flow
def failing():
    try:
        explode()
    except ValueError as error:
        return f"caught {error}"
"""

TESTS = """
import pytest

from pipeline import failing, mapped, parallel, plain_calls, version_in_task


def test_prefect_is_served_where_tasks_run():
    assert version_in_task() == "3.9.1"


def test_plain_calls_give_values():
    assert plain_calls() == [2, 4]


def test_map():
    assert mapped([1, 2, 3]) == [2, 4, 6]


def test_failing_plain_call_raises_in_the_flow():
    assert failing() == "caught no good"


@pytest.mark.flow_concurrent("asserts overlap")
def test_submitted_runs_overlap(flow_timeline):
    assert parallel() == [0, 1]
    flow_timeline.assert_parallel("slow-0", "slow-1")


def test_runs_are_recorded_by_name(flow_timeline):
    plain_calls()
    flow_timeline.assert_states("double-0", ["PENDING", "RUNNING", "COMPLETED"])
    flow_timeline.assert_before("double-0", "double-1")
"""


QUIET_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(pipeline=PIPELINE, test_pipeline=TESTS)
    pytester.makeini(QUIET_INI)
    pytester.syspathinsert()
    return pytester


@pytest.mark.parametrize("runner", ["sequential", "concurrent", "async", "deterministic"])
def test_prefect_flows_pass_under_each_runner(project, runner):
    result = project.runpytest("--flow-prefect", f"--flow-runner={runner}", "-p", "no:randomly")
    skipped = 1 if runner in ("sequential", "deterministic") else 0
    result.assert_outcomes(passed=6 - skipped, skipped=skipped)


@pytest.mark.parametrize("flavour", ["2", "3"])
def test_header_names_the_flavour(project, flavour):
    result = project.runpytest(f"--flow-prefect={flavour}", "-k", "plain_calls")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"flows: prefect mode, Prefect {flavour}.x flavour (--flow-prefect={flavour})"]
    )


def test_ini_key_installs_the_mode(project):
    project.makeini(QUIET_INI + "flow_prefect = 2\n")
    result = project.runpytest("-k", "plain_calls")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flows: prefect mode, Prefect 2.x flavour*"])


def test_unknown_flavour_is_a_usage_error(project):
    result = project.runpytest("--flow-prefect=4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'4' is not a valid Prefect mode flavour*Valid: 2, 3*"])


def test_conftest_with_prefects_test_harness_works_unchanged(project):
    project.makeconftest(
        """
        import pytest
        from prefect.testing.utilities import prefect_test_harness

        @pytest.fixture(autouse=True, scope="session")
        def prefect_backend():
            with prefect_test_harness():
                yield
        """
    )
    project.runpytest("--flow-prefect", "-k", "plain_calls").assert_outcomes(passed=1)


def test_unsupported_import_fails_with_the_explanation(project):
    project.makepyfile(
        test_blocks="""
        from prefect.blocks.system import Secret

        def test_secret():
            pass
        """
    )
    result = project.runpytest("--flow-prefect", "test_blocks.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*UnsupportedPrefectImport: prefect.blocks is not provided by flowcore's "
            "Prefect mode*Run this test against real Prefect instead*",
        ]
    )


def test_dask_workers_resolve_prefect_imports(project):
    result = project.runpytest_subprocess(
        "--flow-prefect", "--flow-runner=dask", "-p", "no:randomly", timeout=120
    )
    result.assert_outcomes(passed=6)
