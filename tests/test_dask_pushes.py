"""Outcomes the workers push: runs settle from them, with the same states as fetched ones.

A runner pushes on a cluster of its own (the plugin's session runner, a
runner's own LocalCluster); `PushingRunner` does it on the shared test
cluster, so the same flows can be run both ways and compared. Faults
(a worker killed under a run) use a cluster of their own, as in
``test_reliability_dask``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
cloudpickle = pytest.importorskip("cloudpickle")

from flowcore import StateType, flow, task  # noqa: E402
from flowcore.task_runners import DaskTaskRunner  # noqa: E402
from flowcore.task_runners.dask_pushes import PUSH_LIMIT_BYTES, Pushes  # noqa: E402

FLOW_BOUND_SECONDS = 60


class PushingRunner(DaskTaskRunner):
    """A runner whose workers push outcomes, on a scheduler it did not start."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**{**settings, "push_outcomes": True})

    def duplicate(self) -> PushingRunner:
        return PushingRunner(**self.__getstate__())


class FetchCounter:
    """Counts the outcomes fetched with ``client.gather`` rather than pushed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fetched = 0
        gather = DaskTaskRunner._gather

        def counting(runner: DaskTaskRunner, dask_futures: list[Any]) -> list[Any]:
            self.fetched += len(dask_futures)
            return gather(runner, dask_futures)

        monkeypatch.setattr(DaskTaskRunner, "_gather", counting)


@pytest.fixture(autouse=True)
def _ship_this_module() -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(params=["pushed", "fetched"])
def runner(request: pytest.FixtureRequest, dask_cluster: Any) -> DaskTaskRunner:
    runner_class = PushingRunner if request.param == "pushed" else DaskTaskRunner
    return runner_class(address=dask_cluster.scheduler_address)


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def blob(size: int) -> bytes:
    return b"x" * size


@task
def fail(message: str) -> int:
    raise ValueError(message)


@task(retries=1)
def flaky(directory: str) -> int:
    """Fails its first attempt, then returns 7."""
    marker = Path(directory, "failed-once")
    if not marker.exists():
        marker.touch()
        raise RuntimeError("first attempt")
    return 7


@task
def unsendable() -> Any:
    return threading.Lock()


# --- the same states either way -------------------------------------------------------


def test_small_outcomes_are_pushed_and_settle_runs_with_their_worker_events(
    runner: DaskTaskRunner, events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = FetchCounter(monkeypatch)

    @flow(task_runner=runner)
    def pipeline() -> int:
        return add(add(1, 2), add(3, 4))

    assert pipeline() == 10
    if isinstance(runner, PushingRunner):
        assert counter.fetched == 0
    assert events.state_names("add-2") == ["Pending", "Running", "Completed"]
    assert events.of("add-2")[-1].worker.startswith("tcp://127.0.0.1:")
    assert events.of("add-2")[-1].process_id != os.getpid()


def test_an_outcome_too_large_to_push_is_fetched(
    runner: DaskTaskRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = FetchCounter(monkeypatch)

    @flow(task_runner=runner)
    def pipeline() -> tuple[int, int]:
        big, small = blob(PUSH_LIMIT_BYTES * 2), blob(10)
        return len(big.result()), len(small.result())

    assert pipeline() == (PUSH_LIMIT_BYTES * 2, 10)
    assert counter.fetched == (1 if isinstance(runner, PushingRunner) else 2)


def test_failures_retries_and_unsendable_results_end_as_when_fetched(
    runner: DaskTaskRunner, events: Any, tmp_path: Path
) -> None:
    @flow(task_runner=runner)
    def pipeline() -> Any:
        failed = fail.submit("no")
        return failed, add.submit(failed, 1), flaky.submit(str(tmp_path)), unsendable.submit()

    state = pipeline(return_state=True)
    failed, downstream, retried, crashed = state.result(raise_on_failure=False)
    assert failed.type is StateType.FAILED
    assert isinstance(failed.exception, ValueError)
    assert downstream.name == "NotReady"
    assert retried.result() == 7
    assert events.state_names("flaky-0") == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert crashed.type is StateType.CRASHED
    assert "could not be sent back from its Dask worker" in crashed.message


def test_nothing_pushed_is_kept_once_the_flow_run_ends(dask_cluster: Any) -> None:
    with distributed.Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        runner = PushingRunner(client=client)

        @flow(task_runner=runner)
        def pipeline() -> int:
            return add(1, 2)

        assert pipeline() == 3
        assert Pushes.of(client).take("add-0") is None


# --- the pushes of one client -------------------------------------------------------


class FakeClient:
    def __init__(self) -> None:
        self.id = f"Client-fake-{id(self)}"
        self.subscribed: list[str] = []

    def subscribe_topic(self, topic: str, handler: Any) -> None:
        self.subscribed.append(topic)


def _event(key: str, packed: bytes) -> tuple[float, dict[str, Any]]:
    return (time.time(), {"flowcore-outcome": key, "packed": packed})


def test_pushes_are_kept_only_for_expected_keys_until_taken_or_forgotten() -> None:
    client = FakeClient()
    pushes = Pushes.of(client)
    assert Pushes.of(client) is pushes
    assert client.subscribed == [pushes.topic]

    pushes.expect("a")
    pushes.expect("b")
    for key in ("a", "b", "stranger"):
        pushes.receive(_event(key, key.encode()))
    assert pushes.take("a") == b"a"
    assert pushes.take("a") is None
    assert pushes.take("stranger") is None
    pushes.forget(["b"])
    assert pushes.take("b") is None


# --- a worker killed under a pushing runner -------------------------------------------


@task(retries=1)
def victim(directory: str) -> int:
    """Reports its worker's pid and waits to be killed, the first time only."""
    attempted = Path(directory, "attempted")
    if attempted.exists():
        return 2
    attempted.touch()
    Path(directory, "pid.tmp").write_text(str(os.getpid()))
    Path(directory, "pid.tmp").rename(Path(directory, "pid"))
    time.sleep(FLOW_BOUND_SECONDS)
    return 1


def _kill_when_reported(directory: Path) -> threading.Thread:
    def kill() -> None:
        deadline = time.monotonic() + FLOW_BOUND_SECONDS
        while not (directory / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(int((directory / "pid").read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill, name="worker-killer")
    killer.start()
    return killer


def test_a_run_whose_worker_was_killed_is_resubmitted_and_its_outcome_pushed(
    fragile_cluster: Any, tmp_path: Path, events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = FetchCounter(monkeypatch)

    @flow(task_runner=PushingRunner(address=fragile_cluster.scheduler_address))
    def pipeline() -> Any:
        survivor = victim(str(tmp_path))
        return survivor, add(survivor, 10)

    killer = _kill_when_reported(tmp_path)
    assert pipeline() == (2, 12)
    killer.join()
    assert events.state_names("victim-0") == ["Pending", "AwaitingRetry", "Running", "Completed"]
    assert counter.fetched == 0
    with distributed.Client(fragile_cluster, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=FLOW_BOUND_SECONDS)  # the Nanny's new worker
