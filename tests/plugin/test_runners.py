"""The pytest plugin seen from a user's suite: options, markers, fixtures, reports.

Each test writes a small suite with `pytester` and runs pytest on it, in this
process where that is enough and in a fresh one where the plugin must load
from scratch. Runs that need Dask are in test_dask_session.py.
"""

from __future__ import annotations

import pytest

# A flow whose two tasks wait for each other: they can only finish if they
# really run at the same time (a broken barrier fails the run after 10 s).
FLOWS = """
import threading
import time

from flowcore import flow, task
from flowcore.task_runners import ConcurrentTaskRunner

barrier = threading.Barrier(2, timeout=10)


@task
def meet(x):
    barrier.wait()
    return x


@task
def nap(x):
    time.sleep(0.05)
    return x


@flow(task_runner=ConcurrentTaskRunner())
def meeting():
    return [meet(1), meet(2)]


@flow(task_runner=ConcurrentTaskRunner())
def naps():
    return [nap(1), nap(2)]
"""

ALL_IDS = ("sequential", "concurrent", "async", "dask", "deterministic")


def write_ini(pytester: pytest.Pytester, **keys: str) -> None:
    """A tox.ini for the inner suite: pytest-asyncio's loop scope set, plus ``keys``.

    Hypothesis's plugin is left out: it re-imports hypothesis on every
    in-process run, which costs seconds and tests nothing here.
    """
    lines = [
        "[pytest]",
        "addopts = -p no:hypothesispytest",
        "asyncio_default_fixture_loop_scope = function",
    ]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    pytester.makeini("\n".join(lines) + "\n")


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern matching itself (brackets are classes there)."""
    return text.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner suite with the flows above importable as ``flows``, and no runner set."""
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    write_ini(pytester)
    pytester.makepyfile(flows=FLOWS)
    pytester.syspathinsert()
    return pytester


# --- choosing the runner ---------------------------------------------------------


def test_flows_keep_their_declared_runner_without_an_option(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from flows import meeting

        def test_declared(flow_runner, flow_timeline):
            assert flow_runner is None
            assert meeting() == [1, 2]
            flow_timeline.assert_parallel("meet-0", "meet-1")
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flows: runner=declared (each flow uses its own task runner)"])


def test_flow_runner_option_replaces_the_runner_every_flow_declares(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import threading
        from flows import naps

        def test_sequential(flow_runner, flow_timeline):
            assert flow_runner.name == "sequential"
            assert naps() == [1, 2]
            flow_timeline.assert_sequential("nap-0", "nap-1")
            threads = {run.thread_name for run in flow_timeline.task_runs}
            assert threads == {threading.current_thread().name}
        """
    )
    suite.runpytest("--flow-runner=sequential").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("option", "environment", "ini", "expected"),
    [
        pytest.param(None, None, "async", "async", id="ini"),
        pytest.param(None, "sequential", "async", "sequential", id="environment-over-ini"),
        pytest.param("concurrent", "sequential", "async", "concurrent", id="option-over-all"),
        pytest.param("async", None, "sequential", "async", id="option-over-ini"),
    ],
)
def test_runner_comes_from_the_command_line_then_the_environment_then_the_ini(
    suite: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    environment: str | None,
    ini: str,
    expected: str,
) -> None:
    write_ini(suite, flow_runner=ini)
    if environment is not None:
        monkeypatch.setenv("PYTEST_FLOW_RUNNER", environment)
    suite.makepyfile(
        f"""
        from flows import naps

        def test_runner(flow_runner):
            assert flow_runner.name == {expected!r}
            assert naps() == [1, 2]
        """
    )
    args = [f"--flow-runner={option}"] if option else []
    result = suite.runpytest(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"flows: runner={expected} (replay: --flow-runner={expected})"])


@pytest.mark.parametrize("source", ["option", "environment", "ini"])
def test_unknown_runner_name_is_a_usage_error_listing_the_valid_names(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    suite.makepyfile("def test_nothing(): pass")
    args = []
    if source == "option":
        args = ["--flow-runner=dsak"]
    elif source == "environment":
        monkeypatch.setenv("PYTEST_FLOW_RUNNER", "dsak")
    else:
        write_ini(suite, flow_runner="dsak")
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 'dsak' is not a valid flow runner. Valid: sequential, concurrent, async, "
            "dask, deterministic, all, or module:Class"
        ]
    )


def test_report_header_shows_the_runner_as_a_replayable_option(suite: pytest.Pytester) -> None:
    suite.makepyfile("def test_nothing(): pass")
    result = suite.runpytest("--flow-runner=dask")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flows: runner=dask (replay: --flow-runner=dask)"])


# --- --flow-runner=all -------------------------------------------------------------

ALL_SUITE = """
from flows import naps

def test_x(flow_runner, request):
    assert flow_runner.name == request.node.callspec.id
    assert naps() == [1, 2]
"""

PLAIN_SUITE = """
def test_plain():
    assert True
"""


def test_all_runs_each_flow_test_once_per_runner_with_readable_ids(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_flow_suite=ALL_SUITE, test_no_flows=PLAIN_SUITE)
    result = suite.runpytest("--flow-runner=all", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [literal(f"test_flow_suite.py::test_x[{name}]") for name in ALL_IDS]
        + ["test_no_flows.py::test_plain", "*6 tests collected*"]
    )
    assert "test_plain[" not in result.stdout.str()


def test_all_gives_every_xdist_worker_the_same_ids(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_flow_suite=ALL_SUITE, test_no_flows=PLAIN_SUITE)
    result = suite.runpytest("--flow-runner=all", "-n", "2", "-v", "-k", "not dask")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines_random(
        [
            literal(f"*PASSED test_flow_suite.py::test_x[{name}]*")
            for name in ALL_IDS
            if name != "dask"
        ]
        + ["*PASSED test_no_flows.py::test_plain*"]
    )


def test_marker_flow_runner_all_runs_a_test_under_every_runner(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import pytest
        from flows import naps

        @pytest.mark.flow_runner("all")
        def test_x(flow_runner, request):
            assert flow_runner.name == request.node.callspec.id
            assert naps() == [1, 2]
        """
    )
    result = suite.runpytest("-v", "-k", "not dask")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random(
        [literal(f"*::test_x[{name}] PASSED*") for name in ALL_IDS if name != "dask"]
    )


# --- markers -----------------------------------------------------------------------


def test_flow_runner_marker_on_a_test_wins_over_the_option(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import threading
        import pytest
        from flows import naps

        @pytest.mark.flow_runner("sequential")
        def test_pinned(flow_runner, flow_timeline):
            assert flow_runner.name == "sequential"
            naps()
            assert flow_timeline.peak_concurrency() == 1
            threads = {run.thread_name for run in flow_timeline.task_runs}
            assert threads == {threading.current_thread().name}

        def test_unpinned(flow_runner):
            assert flow_runner.name == "async"
        """
    )
    suite.runpytest("--flow-runner=async").assert_outcomes(passed=2)


def test_flow_runner_marker_on_a_module_pins_every_test_and_is_not_multiplied(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_pinned="""
        import pytest
        from flows import naps

        pytestmark = pytest.mark.flow_runner("sequential")

        def test_one(flow_runner):
            assert flow_runner.name == "sequential"
            naps()

        def test_two(flow_runner):
            assert flow_runner.name == "sequential"
        """
    )
    result = suite.runpytest("--flow-runner=all", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_pinned.py::test_one PASSED*", "*::test_two PASSED*"])


def test_flow_runner_marker_with_an_unknown_name_errors_listing_the_valid_names(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.flow_runner("dsak")
        def test_pinned(flow_runner):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*'dsak' is not a valid flow runner. Valid: sequential, *"])


@pytest.mark.parametrize("runner", ["sequential", "deterministic"])
def test_flow_concurrent_test_is_skipped_with_its_reason_where_runs_cannot_overlap(
    suite: pytest.Pytester, runner: str
) -> None:
    suite.makepyfile(
        """
        import pytest
        from flows import meeting

        @pytest.mark.flow_concurrent("asserts that the meetings overlap")
        def test_overlap(flow_timeline):
            meeting()
            flow_timeline.assert_parallel("meet-0", "meet-1")

        @pytest.mark.flow_concurrent(reason="needs two at once")
        def test_keyword_reason():
            meeting()
        """
    )
    result = suite.runpytest(f"--flow-runner={runner}", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            f"SKIPPED*needs concurrent task runs, and the {runner} runner runs one at a "
            "time: asserts that the meetings overlap",
            f"SKIPPED*the {runner} runner runs one at a time: needs two at once",
        ]
    )


@pytest.mark.parametrize("runner", ["concurrent", "async"])
def test_flow_concurrent_test_runs_under_a_concurrent_runner(
    suite: pytest.Pytester, runner: str
) -> None:
    suite.makepyfile(
        """
        import pytest
        from flows import meeting

        @pytest.mark.flow_concurrent("asserts that the meetings overlap")
        def test_overlap(flow_timeline):
            meeting()
            flow_timeline.assert_parallel("meet-0", "meet-1")
        """
    )
    suite.runpytest(f"--flow-runner={runner}").assert_outcomes(passed=1)


def test_markers_are_registered_for_strict_markers(suite: pytest.Pytester) -> None:
    suite.makepyfile("def test_nothing(): pass")
    result = suite.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.flow_runner(name):*", "@pytest.mark.flow_concurrent*"]
    )


# --- the flow_timeline fixture ---------------------------------------------------------


def test_flow_timeline_finds_runs_and_checks_them_in_a_sync_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import os
        import threading

        import pytest
        from flowcore import flow, task
        from flowcore.task_runners import ConcurrentTaskRunner
        from pytest_flows import RunNotFound
        from flows import meeting

        @task
        def extract():
            return 1

        @task
        def load(x):
            return x + 1

        @flow(task_runner=ConcurrentTaskRunner())
        def etl():
            future = extract()
            return future, load(future)

        def test_lookups(flow_timeline):
            meeting()
            assert [run.run_name for run in flow_timeline.task_runs] == ["meet-0", "meet-1"]
            record = flow_timeline.run("meet-0")
            assert record.state_types[-1].name == "COMPLETED"
            assert record.process_id == os.getpid()
            assert record.thread_name != threading.current_thread().name
            assert flow_timeline.run(record) is record
            with pytest.raises(RunNotFound, match="meet-0"):
                flow_timeline.run("meat-0")
            with pytest.raises(RunNotFound):
                flow_timeline.run("meet")  # two runs of that task
            flow_timeline.assert_parallel("meet-0", "meet-1")
            flow_timeline.assert_min_concurrency(2)
            flow_timeline.assert_max_concurrency(2)
            flow_timeline.assert_all_completed()

        def test_dependencies(flow_timeline):
            etl()
            flow_timeline.assert_before("extract", "load")
            flow_timeline.assert_sequential("extract-0", "load-0")
            flow_timeline.assert_states("load-0", ["PENDING", "RUNNING", "COMPLETED"])
            assert flow_timeline.start_order() == ["extract-0", "load-0"]
            assert len(flow_timeline.flow_runs) == 1
        """
    )
    suite.runpytest().assert_outcomes(passed=2)


def test_flow_timeline_records_only_the_runs_of_its_own_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from flows import naps

        def test_first(flow_timeline):
            naps()
            naps()
            assert len(flow_timeline.flow_runs) == 2

        def test_second(flow_timeline):
            assert flow_timeline.runs == ()
            naps()
            assert len(flow_timeline.task_runs) == 2
        """
    )
    suite.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_flow_timeline_works_in_a_pytest_asyncio_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import asyncio
        import pytest
        from flowcore import flow, task

        @task
        async def wait(x):
            await asyncio.sleep(0.2)
            return x

        @flow
        async def waits():
            return await asyncio.gather(wait(1), wait(2))

        @pytest.mark.asyncio
        async def test_async(flow_timeline):
            assert await waits() == [1, 2]
            flow_timeline.assert_parallel("wait-0", "wait-1")
            flow_timeline.assert_all_completed()
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_flow_timeline_works_in_an_anyio_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        import anyio
        import pytest
        from flowcore import flow, task

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @task
        async def wait(x):
            await anyio.sleep(0.2)
            return x

        @flow
        async def waits():
            first, second = wait(1), wait(2)
            results = []
            async with anyio.create_task_group() as group:
                async def collect(call):
                    results.append(await call)
                group.start_soon(collect, first)
                group.start_soon(collect, second)
            return sorted(results)

        @pytest.mark.anyio
        async def test_anyio(flow_timeline):
            assert await waits() == [1, 2]
            flow_timeline.assert_parallel("wait-0", "wait-1")
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_flow_timeline_keeps_true_order_and_durations_under_freezegun(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import time
        from freezegun import freeze_time
        from flowcore import flow, task

        @task
        def first():
            time.sleep(0.05)
            return 1

        @task
        def second(x):
            time.sleep(0.05)
            return x + 1

        @flow
        def chain():
            return second(first())

        def test_frozen(flow_timeline):
            with freeze_time("2001-02-03"):
                assert time.time() == 981158400.0
                assert chain() == 2
            flow_timeline.assert_before("first-0", "second-0")
            assert flow_timeline.start_order() == ["first-0", "second-0"]
            for run in flow_timeline.task_runs:
                assert run.running_ns >= 40_000_000, run
                assert run.start_ns > 1_600_000_000 * 10**9, "timestamps are not frozen"
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


# --- failures explain themselves ---------------------------------------------------------


def test_failing_timeline_assertion_shows_expectation_gantt_chart_and_report_section(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import pytest
        from flows import naps

        @pytest.mark.flow_runner("sequential")
        def test_wrong(flow_timeline):
            naps()
            flow_timeline.assert_parallel("nap-0", "nap-1")
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: expected nap-0, nap-1 to run in parallel, but:",
            "E*nap-0 and nap-1 did not overlap*",
            "E*nap-0 *|*]*|",
            "E*nap-1 *|*]*|",
            "E*legend:*",
            "*- flow timeline -*",
            "  naps-* |*]|",
            ">   nap-0 *|*]*|",
            ">   nap-1 *|*]*|",
            "wall * | work * | peak parallelism 1 | *",
        ]
    )


def test_failing_test_that_ran_flows_gets_a_timeline_section_and_others_do_not(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        from flows import naps

        def test_flows_then_fails():
            naps()
            assert False, "after the flow"

        def test_fails_without_flows():
            assert False, "no flow here"
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=2)
    assert result.stdout.str().count("- flow timeline -") == 1
    result.stdout.fnmatch_lines(
        [
            "*_ test_flows_then_fails _*",
            "*- flow timeline -*",
            "naps-* T1 *|*",
            "lanes: T1 MainThread*",
            "*_ test_fails_without_flows _*",
        ]
    )


def test_assertion_helpers_are_registered_for_assertion_rewriting(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import pytest_flows.timeline.assertions

        def test_rewritten():
            loader = pytest_flows.timeline.assertions.__loader__
            assert type(loader).__name__ == "AssertionRewritingHook"
        """
    )
    suite.runpytest_subprocess().assert_outcomes(passed=1)
