"""get_run_context: the current task or flow run's name, id and parameters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flowcore import MissingContextError, flow, get_run_context, task
from flowcore.context import FlowRunContext, TaskRunContext


@task
def inspect_task(x: int, y: int = 2) -> tuple[str, str, dict[str, Any]]:
    context = get_run_context()
    assert isinstance(context, TaskRunContext)
    return context.task.name, context.task_run.name, context.parameters


def test_inside_a_task_run_it_gives_the_task_run_and_its_parameters(runner: Any) -> None:
    @flow(task_runner=runner)
    def pipeline() -> Any:
        return inspect_task(1)

    assert pipeline() == ("inspect_task", "inspect_task-0", {"x": 1, "y": 2})


def test_inside_a_flow_run_it_gives_the_flow_run_and_its_parameters() -> None:
    @flow
    def nightly(day: str, retries: int = 3) -> Any:
        context = get_run_context()
        assert isinstance(context, FlowRunContext)
        return context.flow_run.name, context.parameters, context.flow_run.id is not None

    @flow
    async def nightly_async(day: str) -> Any:
        return get_run_context().flow_run.name  # type: ignore[union-attr]

    assert nightly("mon") == ("nightly-0", {"day": "mon", "retries": 3}, True)
    assert asyncio.run(nightly_async("tue")) == "nightly_async-0"


def test_outside_any_run_it_says_so() -> None:
    with pytest.raises(MissingContextError, match="no active flow or task run context"):
        get_run_context()
