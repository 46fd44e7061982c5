"""allow_failure and quote, under every runner."""

from __future__ import annotations

from typing import Any

from flowcore import allow_failure, flow, quote, task
from flowcore.task_runners import TaskRunner


@task
def fails() -> None:
    raise ValueError("bad row")


@task
def fine() -> int:
    return 1


@task
def describe(value: Any) -> str:
    return repr(value)


@task
def kind(value: Any) -> str:
    return type(value).__name__


def test_allow_failure_lets_the_run_start_and_gives_it_the_exception(
    runner: TaskRunner, events: Any
) -> None:
    @flow(task_runner=runner)
    def pipeline() -> tuple[Any, ...]:
        bad = fails.submit()
        tolerant = describe.submit(allow_failure(bad))
        strict = describe.submit(bad)
        ordered = describe.submit("after", wait_for=[allow_failure(bad)])
        return tolerant.wait(), strict.wait(), ordered.wait()

    tolerant, strict, ordered = pipeline(return_state=True).result(raise_on_failure=False)
    assert tolerant.result() == "ValueError('bad row')"
    assert strict.name == "NotReady"
    assert ordered.result() == "'after'"
    assert events.state_names("describe-0")[-1] == "Completed"


def test_allow_failure_of_a_completed_run_gives_its_result(runner: TaskRunner) -> None:
    @flow(task_runner=runner)
    def pipeline() -> Any:
        return describe(allow_failure(fine()))

    assert pipeline() == "1"


def test_quote_passes_a_value_unsearched(runner: TaskRunner, events: Any) -> None:
    @flow(task_runner=runner)
    def pipeline() -> Any:
        inner = fine.submit()
        inner.wait()
        # A future cannot travel to a Dask worker: there, a quoted plain value.
        quoted = quote(7) if runner.name == "dask" else quote([inner])
        return kind.submit(quoted).result()

    assert pipeline() == ("int" if runner.name == "dask" else "list")
    assert events.of("kind-0")[0].upstream_run_ids == ()  # not a dependency


def test_quote_and_allow_failure_outside_a_flow_are_unwrapped() -> None:
    assert describe(quote([1, 2])) == "[1, 2]"


def test_a_quoted_large_collection_is_the_very_object() -> None:
    big = list(range(100_000))

    @task
    def same(value: Any) -> bool:
        return value is big

    @flow
    def pipeline() -> Any:
        return same(quote(big))

    assert pipeline() is True
