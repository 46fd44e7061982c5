"""What cannot travel to or from a Dask worker: short errors, and no run consumes a crash."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from flowcore import InvalidArgument, StateType, flow, task  # noqa: E402
from flowcore.task_runners import DaskTaskRunner  # noqa: E402


@pytest.fixture
def dask_runner(make_runner: Callable[[str], DaskTaskRunner]) -> DaskTaskRunner:
    return make_runner("dask")


@task
def take(value: Any) -> str:
    return type(value).__name__


@task
def make_socket() -> socket.socket:
    return socket.socket()


class Unsendable(Exception):
    """An exception that holds a lock, so it cannot be pickled."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


@task
def raise_unsendable() -> None:
    raise Unsendable


@task
def consume(value: Any) -> str:
    return f"consumed {value!r}"


def _numbers() -> Iterator[int]:
    yield 1


HOSTILE = {
    "lock": (threading.Lock, "lock", "_thread.lock"),
    "socket": (socket.socket, "socket", "socket"),
    "lock in a dict": (lambda: {"lock": threading.Lock()}, "dict", "_thread.lock"),
    "generator": (_numbers, "generator", "generator"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_an_unpicklable_argument_is_refused_naming_task_parameter_and_type(
    dask_runner: DaskTaskRunner, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    make, type_name, culprit = HOSTILE[name]
    value = make()

    @flow(task_runner=dask_runner)
    def pipeline() -> str:
        return take(value)

    try:
        with pytest.raises(InvalidArgument) as raised:
            pipeline()
    finally:
        if isinstance(value, socket.socket):
            value.close()
    message = str(raised.value)
    assert message.startswith(
        f"task 'take' parameter 'value' of type {type_name} could not be sent to a Dask worker: "
        f"cannot pickle '{culprit}' object; "
    )
    assert len(message) < 250
    assert "Could not serialize" not in capfd.readouterr().err


def test_a_lambda_inside_a_dict_travels_by_value(dask_runner: DaskTaskRunner) -> None:
    @task
    def call(table: dict[str, Callable[[int], int]]) -> int:
        return table["double"](21)

    @flow(task_runner=dask_runner)
    def pipeline() -> int:
        return call({"double": lambda x: 2 * x})

    assert pipeline() == 42


@pytest.mark.parametrize(
    ("upstream", "what", "type_name"),
    [(make_socket, "result", "socket"), (raise_unsendable, "exception", "Unsendable")],
    ids=["result", "exception"],
)
def test_a_run_whose_outcome_cannot_be_sent_crashes_and_its_downstream_never_runs(
    dask_runner: DaskTaskRunner, events: Any, upstream: Any, what: str, type_name: str
) -> None:
    @flow(task_runner=dask_runner)
    def pipeline() -> Any:
        first = upstream.submit()
        second = consume.submit(first)
        return first.wait(), second.wait()

    state = pipeline(return_state=True)
    assert state.type is not StateType.COMPLETED
    first, second = state.result(raise_on_failure=False)
    assert first.type is StateType.CRASHED
    assert first.message.startswith(
        f"the {what} of task {upstream.name!r}, of type {type_name}, could not be sent back "
        f"from its Dask worker: cannot pickle "
    )
    assert second.name == "NotReady"
    assert repr(upstream.name + "-0") in second.message
    assert StateType.RUNNING not in events.state_types("consume-0")
