"""The public surface: exactly these names, importable without Dask."""

from __future__ import annotations

import subprocess
import sys

import flowcore
import flowcore.task_runners


def test_flowcore_exports_exactly_its_public_names():
    assert flowcore.__all__ == [
        "Flow",
        "FlowTimeoutError",
        "FlowcoreError",
        "FlowcoreUsageError",
        "InvalidArgument",
        "MissingContextError",
        "RunCancelled",
        "RunCrashed",
        "State",
        "StateEvent",
        "StateType",
        "Subscription",
        "Task",
        "TaskFuture",
        "TaskRun",
        "TaskTimeoutError",
        "UpstreamFailed",
        "__version__",
        "allow_failure",
        "as_completed",
        "flow",
        "get_run_context",
        "get_run_logger",
        "quote",
        "subscribe",
        "task",
        "unmapped",
        "wait",
    ]
    for name in flowcore.__all__:
        assert getattr(flowcore, name) is not None


def test_task_runners_export_exactly_their_public_names():
    assert flowcore.task_runners.__all__ == [
        "RUNNER_NAMES",
        "AsyncTaskRunner",
        "ConcurrentTaskRunner",
        "DaskTaskRunner",
        "DoneHandle",
        "SequentialTaskRunner",
        "TaskRunner",
        "interrupt_thread",
        "override_task_runner",
        "restart_run_names",
        "when_upstream_done",
    ]
    for name in flowcore.task_runners.__all__:
        assert getattr(flowcore.task_runners, name) is not None


def test_importing_flowcore_imports_neither_dask_nor_pytest():
    code = (
        "import sys, flowcore, flowcore.task_runners; "
        "print(sorted(m for m in ('dask', 'distributed', 'pytest') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_flowcore_imports_nothing_from_pytest_flows_or_pytest():
    """Dependencies point one way: the plugin imports the core, never the reverse."""
    code = (
        "import sys, flowcore, flowcore.task_runners, flowcore.task_runners.dask; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('pytest_flows', 'pytest', '_pytest', 'pluggy')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_unknown_runner_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        flowcore.task_runners.Nope  # noqa: B018


def test_flowcore_version_is_the_distribution_version():
    from importlib.metadata import version

    assert flowcore.__version__ == version("pytest-flows")
