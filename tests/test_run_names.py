"""task_run_name and flow_run_name: format strings over the parameters, or callables."""

from __future__ import annotations

from typing import Any

import pytest

from flowcore import InvalidArgument, flow, get_run_context, task


@task(task_run_name="load-{table}-{limit}")
def load(table: str, limit: int = 10) -> str:
    return get_run_context().task_run.name  # type: ignore[union-attr,no-any-return]


@task(task_run_name=lambda: "custom")
def custom() -> str:
    return get_run_context().task_run.name  # type: ignore[union-attr,no-any-return]


@task
def one() -> int:
    return 1


def test_runs_are_named_from_their_templates(runner: Any, events: Any) -> None:
    @flow(task_runner=runner, flow_run_name="nightly-{day}")
    def pipeline(day: str) -> list[str]:
        return [load("users"), load(table="orders", limit=5), custom()]  # type: ignore[list-item]

    assert pipeline("mon") == ["load-users-10", "load-orders-5", "custom"]
    assert events.run_names("flow") == ["nightly-mon"]
    assert events.run_names() == ["load-users-10", "load-orders-5", "custom"]


def test_a_future_parameter_is_formatted_as_its_result_once_known() -> None:
    @task(task_run_name="load-{x}")
    def take(x: int) -> str:
        return get_run_context().task_run.name  # type: ignore[union-attr,no-any-return]

    @flow
    def pipeline() -> tuple[str, str]:
        known = one.submit()
        known.wait()
        return take(known).result(), take(one.submit()).result()  # type: ignore[union-attr]

    done, pending = pipeline()
    assert done == "load-1"
    assert pending.startswith("take-")  # not known at submission: the counted name


def test_a_template_that_does_not_fit_says_which_parameters_there_are() -> None:
    @task(task_run_name="load-{missing}")
    def body(x: int) -> int:
        return x

    @flow
    def pipeline() -> None:
        body(1)

    with pytest.raises(
        InvalidArgument, match=r"'load-\{missing\}' does not fit the parameters \['x'\]"
    ):
        pipeline()


def test_a_run_name_must_be_a_string_or_a_callable() -> None:
    with pytest.raises(InvalidArgument, match="task_run_name must be a format string"):
        task(task_run_name=3)(lambda: None)
