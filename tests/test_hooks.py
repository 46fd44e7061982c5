"""State hooks, called as Prefect 2.20 calls them: keywords, logged, never changing a state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from flowcore import InvalidArgument, StateType, flow, task

calls: list[tuple[str, ...]] = []


def task_hook(task: Any, task_run: Any, state: Any) -> None:
    calls.append(("task", task.name, task_run.name, state.name))


def flow_hook(flow: Any, flow_run: Any, state: Any) -> None:
    calls.append(("flow", flow.name, flow_run.name, state.name))


def broken_hook(**_: Any) -> None:
    raise RuntimeError("hook bug")


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


@pytest.mark.parametrize("runner_name", ["sequential", "concurrent", "async"])
def test_task_hooks_are_called_with_keywords_for_the_state_entered(
    runner_name: str, make_runner: Any
) -> None:
    @task(on_completion=[task_hook], on_failure=[task_hook], on_running=[task_hook])
    def sometimes(fail: bool) -> int:
        if fail:
            raise ValueError("bad")
        return 1

    @flow(task_runner=make_runner(runner_name))
    def pipeline() -> None:
        sometimes.submit(False).wait()
        sometimes.submit(True).wait()

    pipeline(return_state=True)
    assert calls == [
        ("task", "sometimes", "sometimes-0", "Running"),
        ("task", "sometimes", "sometimes-0", "Completed"),
        ("task", "sometimes", "sometimes-1", "Running"),
        ("task", "sometimes", "sometimes-1", "Failed"),
    ]


def test_flow_hooks_follow_the_flow_runs_states() -> None:
    hooks = {
        name: [flow_hook]
        for name in ("on_running", "on_completion", "on_failure", "on_crashed", "on_cancellation")
    }

    @flow(**hooks)
    def fine() -> int:
        return 1

    @flow(**hooks)
    def fails() -> None:
        raise ValueError("bad")

    @flow(**hooks)
    async def interrupted() -> None:
        raise KeyboardInterrupt

    fine()
    fails(return_state=True)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted())
    assert calls == [
        ("flow", "fine", "fine-0", "Running"),
        ("flow", "fine", "fine-0", "Completed"),
        ("flow", "fails", "fails-0", "Running"),
        ("flow", "fails", "fails-0", "Failed"),
        ("flow", "interrupted", "interrupted-0", "Running"),
        ("flow", "interrupted", "interrupted-0", "Crashed"),
    ]


def test_a_hook_that_raises_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @task(on_completion=[broken_hook, task_hook])
    def fine() -> int:
        return 1

    @flow(on_completion=[broken_hook])
    def pipeline() -> int:
        return fine()  # type: ignore[return-value]

    caplog.set_level(logging.INFO)
    state = pipeline(return_state=True)
    assert state.type is StateType.COMPLETED
    assert state.result() == 1
    assert calls == [("task", "fine", "fine-0", "Completed")]  # the next hook still ran
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "An error was encountered while running hook 'broken_hook'"
    ] * 2
    assert {r.name for r in errors} == {"flowcore.task_runs", "flowcore.flow_runs"}
    assert all("hook bug" in (r.exc_text or "") for r in errors)
    messages = [r.getMessage() for r in caplog.records]
    assert "Running hook 'task_hook' in response to entering state 'Completed'" in messages
    assert "Hook 'task_hook' finished running successfully" in messages


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_completion": task_hook}, r"on_completion of task 'body' must be a list"),
        ({"on_failure": ["not callable"]}, r"on_failure of task 'body' must hold callables"),
    ],
)
def test_hooks_must_be_lists_of_callables(options: dict[str, Any], message: str) -> None:
    def body() -> None:
        pass

    with pytest.raises(InvalidArgument, match=message):
        task(**options)(body)


def test_an_unknown_flow_hook_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="on_finish"):
        flow(on_finish=[flow_hook])(lambda: None)
