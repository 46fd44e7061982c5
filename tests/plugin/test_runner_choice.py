"""Runner names: validation, `module:Class` runners of one's own, construction."""

from __future__ import annotations

import pytest

from flowcore.task_runners import (
    AsyncTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskRunner,
)
from pytest_flows.plugin.runner_choice import (
    RUNNER_NAMES,
    build_runner,
    check_runner_name,
    load_runner_class,
)

RUNNERS_MODULE = """
from flowcore.futures import DoneHandle
from flowcore.task_runners import TaskRunner

submitted = []


class InlineRunner(TaskRunner):
    name = "inline"
    runs_one_at_a_time = True
    runs_at_submission = True

    def submit(self, run):
        submitted.append(run.name)
        return DoneHandle(run.execute())


class NotARunner:
    pass
"""


@pytest.fixture
def runners_module(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """``myrunners`` importable, holding a runner class and a class that is not one."""
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    pytester.makeini(
        "[pytest]\naddopts = -p no:hypothesispytest\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(myrunners=RUNNERS_MODULE)
    pytester.syspathinsert()
    return pytester


@pytest.mark.parametrize("name", [*RUNNER_NAMES, "all"])
def test_every_documented_name_is_valid(name: str) -> None:
    assert check_runner_name(name) == name


def test_unknown_name_is_rejected_listing_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"^'dsak' is not a valid flow runner") as caught:
        check_runner_name("dsak")
    assert "Valid: sequential, concurrent, async, dask, deterministic, all, or module:Class" in (
        str(caught.value)
    )


@pytest.mark.parametrize(
    ("name", "runner_class"),
    [
        ("sequential", SequentialTaskRunner),
        ("concurrent", ConcurrentTaskRunner),
        ("async", AsyncTaskRunner),
    ],
)
def test_build_runner_makes_the_named_local_runner(name: str, runner_class: type) -> None:
    runner = build_runner(name)
    assert type(runner) is runner_class
    assert runner.name == name


def test_build_runner_points_a_dask_runner_at_the_given_scheduler() -> None:
    runner = build_runner("dask", dask_address="tcp://127.0.0.1:8786")
    assert runner.name == "dask"
    assert getattr(runner, "address", None) == "tcp://127.0.0.1:8786"


def test_build_runner_gives_the_deterministic_runner_its_seed() -> None:
    runner = build_runner("deterministic", seed=1234)
    assert runner.name == "deterministic"
    assert getattr(runner, "seed", None) == 1234


def test_load_runner_class_imports_a_task_runner_subclass(runners_module: pytest.Pytester) -> None:
    runner_class = load_runner_class("myrunners:InlineRunner")
    assert issubclass(runner_class, TaskRunner)
    assert isinstance(build_runner("myrunners:InlineRunner"), runner_class)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "nosuchmodule:Runner",
            "flow runner 'nosuchmodule:Runner': module 'nosuchmodule' could not be imported "
            "(No module named 'nosuchmodule')",
        ),
        (
            "myrunners:Missing",
            "flow runner 'myrunners:Missing': module 'myrunners' has no 'Missing'",
        ),
        (
            "myrunners:NotARunner",
            "flow runner 'myrunners:NotARunner' is not a runner: <class 'myrunners.NotARunner'> "
            "must be a subclass of flowcore.task_runners.TaskRunner",
        ),
    ],
    ids=["does-not-import", "missing-class", "not-a-runner"],
)
def test_module_class_that_is_not_a_runner_is_a_usage_error_saying_why(
    runners_module: pytest.Pytester, spec: str, message: str
) -> None:
    runners_module.makepyfile("def test_nothing(): pass")
    result = runners_module.runpytest(f"--flow-runner={spec}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_custom_runner_class_runs_every_flow(runners_module: pytest.Pytester) -> None:
    runners_module.makepyfile(
        """
        import myrunners
        from flowcore import flow, task
        from flowcore.task_runners import ConcurrentTaskRunner

        @task
        def double(x):
            return 2 * x

        @flow(task_runner=ConcurrentTaskRunner())
        def doubles():
            return [double(1), double(2)]

        def test_custom(flow_runner, flow_timeline):
            assert isinstance(flow_runner, myrunners.InlineRunner)
            assert doubles() == [2, 4]
            assert myrunners.submitted == ["double-0", "double-1"]
            flow_timeline.assert_sequential("double-0", "double-1")
        """
    )
    result = runners_module.runpytest("--flow-runner=myrunners:InlineRunner")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["flows: runner=myrunners:InlineRunner (replay: --flow-runner=myrunners:InlineRunner)"]
    )
