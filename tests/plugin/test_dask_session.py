"""The session's Dask cluster: one per session (per xdist worker), shared, closed at the end.

The runs with a real cluster use fresh pytest processes (a cluster started
in-process would outlive the inner session's imports) and are kept few: each
starts a LocalCluster.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowcore.task_runners.dask_connection import CONNECT_TIMEOUT_SECONDS
from pytest_flows.plugin.dask_session import (
    LOCAL_CLUSTER_OPTIONS,
    DaskSession,
    SessionDaskRunner,
    ship_test_modules,
)

cloudpickle = pytest.importorskip("cloudpickle")
pytest.importorskip("distributed")

CONFTEST = """
import os
from flowcore import task

@task
def from_conftest(x):
    print(f"printed on a worker by a conftest task: {x}")
    return os.getpid()
"""

# Each test appends what it saw to seen.jsonl, for the outer test to compare.
TESTS = """
import json
import os
import sys

from conftest import from_conftest
from flowcore import flow, task


@task
def from_module(x):
    print(f"printed on a worker by a test module task: {x}")
    return os.getpid()


@flow
def pipeline(x):
    return [from_module(x), from_conftest(x)]


def record(**seen):
    seen["xdist_worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(os.path.dirname(__file__), "seen.jsonl"), "a") as file:
        file.write(json.dumps(seen) + "\\n")


def run_and_record(flow_runner, flow_timeline, dask_cluster, x):
    pids = pipeline(x)
    record(
        test_pid=os.getpid(),
        task_pids=pids,
        scheduler=dask_cluster.scheduler_address,
        runner_address=flow_runner.address,
        cluster_id=id(dask_cluster),
        workers=[run.worker for run in flow_timeline.task_runs],
        http_port=dask_cluster.scheduler.http_server.port,
        clients_added=sum(
            event.get("action") == "add-client"
            for _, event in dask_cluster.scheduler.get_events("all")
        ),
    )
"""

ONE_SESSION_TESTS = """
def test_no_flow_starts_no_cluster(flow_runner):
    assert flow_runner.name == "dask"
    assert "distributed" not in sys.modules


def test_first(flow_runner, flow_timeline, dask_cluster):
    run_and_record(flow_runner, flow_timeline, dask_cluster, 1)


def test_second(flow_runner, flow_timeline, dask_cluster):
    run_and_record(flow_runner, flow_timeline, dask_cluster, 2)


def test_third(flow_runner, flow_timeline, dask_cluster, dask_client):
    run_and_record(flow_runner, flow_timeline, dask_cluster, 3)
    assert dask_client.submit(len, [1, 2]).result() == 2
    assert dask_client.scheduler.address == dask_cluster.scheduler_address
"""


def write_ini(pytester: pytest.Pytester, **keys: str) -> None:
    lines = [
        "[pytest]",
        "addopts = -p no:hypothesispytest -p no:randomly",
        "asyncio_default_fixture_loop_scope = function",
    ]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    pytester.makeini("\n".join(lines) + "\n")


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_FLOW_RUNNER", raising=False)
    write_ini(pytester)
    pytester.makeconftest(CONFTEST)
    return pytester


def seen(pytester: pytest.Pytester) -> list[dict[str, object]]:
    lines = (pytester.path / "seen.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


# --- with a LocalCluster ----------------------------------------------------------


def test_one_cluster_per_session_runs_test_module_and_conftest_tasks_on_workers(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(test_flow_suite=TESTS + ONE_SESSION_TESTS)
    result = suite.runpytest_subprocess("--flow-runner=dask", "-rP")
    result.assert_outcomes(passed=4)
    records = seen(suite)
    assert len(records) == 3
    assert len({record["scheduler"] for record in records}) == 1
    assert len({record["cluster_id"] for record in records}) == 1
    assert all(record["runner_address"] == record["scheduler"] for record in records)
    # All flow runs of the session share one client: none connects its own.
    assert [record["clients_added"] for record in records] == [1, 1, 1]
    workers = {worker for record in records for worker in record["workers"]}  # type: ignore[attr-defined]
    assert None not in workers
    assert len(workers) <= LOCAL_CLUSTER_OPTIONS["n_workers"], "the session cluster's workers"
    for record in records:
        assert record["test_pid"] not in record["task_pids"]  # type: ignore[operator]
        assert record["http_port"] != 8787
    # Two worker processes print at once, and a print's text and its newline are
    # separate writes, so one line may hold both: look for the text, not lines.
    output = result.stdout.str()
    for printed in (
        "printed on a worker by a test module task: 1",
        "printed on a worker by a conftest task: 1",
        "printed on a worker by a test module task: 3",
        "printed on a worker by a conftest task: 3",
    ):
        assert printed in output


def processes_with_environment(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (this user's, via /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def test_xdist_workers_each_get_one_cluster_and_leave_no_process_behind(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"flows-leak-check-{uuid.uuid4().hex}"
    monkeypatch.setenv("FLOWS_LEAK_CHECK", marker)
    runs = "\n".join(
        f"""
def test_run_{n}(flow_runner, flow_timeline, dask_cluster):
    run_and_record(flow_runner, flow_timeline, dask_cluster, {n})
"""
        for n in range(6)
    )
    suite.makepyfile(test_flow_suite=TESTS + runs)
    result = suite.runpytest_subprocess("-n", "2", "--flow-runner=dask")
    result.assert_outcomes(passed=6)
    records = seen(suite)
    clusters_by_worker: dict[object, set[object]] = {}
    for record in records:
        clusters_by_worker.setdefault(record["xdist_worker"], set()).add(record["scheduler"])
    assert all(len(schedulers) == 1 for schedulers in clusters_by_worker.values())
    all_schedulers = [next(iter(s)) for s in clusters_by_worker.values()]
    assert len(set(all_schedulers)) == len(all_schedulers), "xdist workers shared a cluster"
    deadline = time.monotonic() + 20
    while (left := processes_with_environment(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"processes left behind: {left}"


def _stream_delays(session: DaskSession) -> dict[str, object]:
    """The batching interval of every stream of the session's cluster and client."""
    client = session.client  # starts the cluster
    scheduler = session.cluster.scheduler
    return {
        "client": client.scheduler_comm.interval,
        "scheduler to workers": {b.interval for b in scheduler.stream_comms.values()},
        "scheduler to clients": {b.interval for b in scheduler.client_comms.values()},
        "workers": set(
            session.client.run(lambda dask_worker: dask_worker.batched_stream.interval).values()
        ),
    }


def test_session_cluster_sends_without_delay_and_its_close_leaves_no_worker_process() -> None:
    session = DaskSession(None)
    try:
        delays = _stream_delays(session)
        assert delays == {
            "client": 0,
            "scheduler to workers": {0},
            "scheduler to clients": {0},
            "workers": {0},
        }
        workers = [nanny.process.pid for nanny in session.cluster.workers.values()]
        assert len(workers) == LOCAL_CLUSTER_OPTIONS["n_workers"]
        assert os.getpid() not in workers
        # A worker restarted by its Nanny (a killed worker) sends without delay too.
        session.client.restart(timeout=60)
        assert _stream_delays(session)["workers"] == {0}
        assert _stream_delays(session)["scheduler to workers"] == {0}
        workers = [nanny.process.pid for nanny in session.cluster.workers.values()]
    finally:
        session.close()
    assert session.cluster is None
    assert not [pid for pid in workers if _alive(pid)], "worker processes outlived the session"


def _worker_settings(dask_worker: Any) -> dict[str, object]:
    import dask

    return {
        "profile": dask.config.get("distributed.worker.profile.enabled"),
        "tick": dask_worker.periodic_callbacks["tick"].callback_time,
    }


def test_session_cluster_runs_without_the_profiler_and_checks_its_loops_each_second() -> None:
    import dask

    session = DaskSession(None)
    try:
        found = session.client.run(_worker_settings).values()
        settings = {tuple(sorted(worker.items())) for worker in found}
        scheduler_tick = session.cluster.scheduler.periodic_callbacks["tick"].callback_time
    finally:
        session.close()
    assert settings == {(("profile", False), ("tick", 1000.0))}
    assert scheduler_tick == 1000.0
    # Only the session's cluster: the process's own Dask settings are left as they were.
    assert dask.config.get("distributed.worker.profile.enabled") is True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- with --dask-address --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def scheduler_address(tmp_path: Path) -> Iterator[str]:
    """A real `dask scheduler` and one `dask worker` on 127.0.0.1, stopped afterwards."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask is None:
        pytest.skip("the dask command line is not installed")
    address = f"tcp://127.0.0.1:{free_port()}"
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--no-dashboard",
            ],
            **common,  # type: ignore[call-overload]
        )
    ]
    try:
        processes.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "2",
                    "--no-dashboard",
                ],
                **common,  # type: ignore[call-overload]
            )
        )
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_dask_address_runs_flows_on_an_existing_scheduler(
    suite: pytest.Pytester, scheduler_address: str
) -> None:
    suite.makepyfile(
        test_flow_suite=TESTS
        + """
def test_remote(flow_runner, flow_timeline, dask_cluster, dask_client):
    assert dask_cluster is None
    dask_client.wait_for_workers(1, timeout=30)
    assert flow_runner.address == dask_client.scheduler.address
    pids = pipeline(1)
    assert os.getpid() not in pids
    workers = set(dask_client.scheduler_info()["workers"])
    assert {run.worker for run in flow_timeline.task_runs} <= workers
    record(task_pids=pids)
"""
    )
    result = suite.runpytest_subprocess("--flow-runner=dask", f"--dask-address={scheduler_address}")
    result.assert_outcomes(passed=1)
    assert len(set(seen(suite)[0]["task_pids"])) == 1  # type: ignore[arg-type]


# --- without a cluster ----------------------------------------------------------------


def test_dask_address_ini_key_is_used_and_the_option_wins(suite: pytest.Pytester) -> None:
    write_ini(suite, dask_address="tcp://127.0.0.1:1")
    suite.makepyfile(
        """
        import os

        def test_address(flow_runner, dask_cluster):
            assert dask_cluster is None
            assert flow_runner.address == os.environ["EXPECTED_ADDRESS"]
        """
    )
    os.environ["EXPECTED_ADDRESS"] = "tcp://127.0.0.1:1"
    try:
        suite.runpytest("--flow-runner=dask").assert_outcomes(passed=1)
        os.environ["EXPECTED_ADDRESS"] = "tcp://127.0.0.1:2"
        result = suite.runpytest("--flow-runner=dask", "--dask-address=tcp://127.0.0.1:2")
        result.assert_outcomes(passed=1)
    finally:
        del os.environ["EXPECTED_ADDRESS"]


def test_an_unreachable_dask_address_is_tried_once_per_session(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from flowcore import flow, task

        @task
        def one():
            return 1

        @flow
        def pipeline():
            return one()

        def test_a(flow_runner):
            pipeline()

        def test_b(flow_runner):
            pipeline()

        def test_c(flow_runner):
            pipeline()

        def test_d(flow_runner):
            pipeline()
        """
    )
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    # -rN: no short summary, which repeats each message in full where CI is set.
    result = suite.runpytest("--flow-runner=dask", f"--dask-address={address}", "-rN")
    elapsed = time.monotonic() - started

    result.assert_outcomes(failed=4)
    # One attempt costs CONNECT_TIMEOUT_SECONDS (10 s); four would cost 40 s.
    assert elapsed < 2 * CONNECT_TIMEOUT_SECONDS, f"took {elapsed:.1f}s"
    output = result.stdout.str()
    assert output.count(f"could not reach a Dask scheduler at '{address}' within 10s") == 4
    assert output.count("could not be reached earlier in this test session") == 3
    assert len(result.outlines) < 400, "\n".join(result.outlines)


def test_session_with_an_address_starts_nothing_and_closes_cleanly() -> None:
    session = DaskSession("tcp://127.0.0.1:1")
    assert session.address == "tcp://127.0.0.1:1"
    assert session.cluster is None
    session.close()


def test_session_runner_gives_each_flow_run_a_runner_for_the_session_address() -> None:
    runner = SessionDaskRunner(DaskSession("tcp://127.0.0.1:1"))
    assert runner.name == "dask"
    assert runner.address == "tcp://127.0.0.1:1"
    copy = runner.duplicate()
    assert type(copy) is SessionDaskRunner
    assert copy.address == "tcp://127.0.0.1:1"
    assert copy.session is runner.session
    assert copy.lent_client is not None  # the session's client, lent: never closed by a run
    assert repr(runner) == "DaskTaskRunner(address='tcp://127.0.0.1:1')"


def test_shipped_test_module_functions_unpickle_where_the_module_cannot_be_imported() -> None:
    name = f"flows_shipped_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    exec("def triple(x):\n    return 3 * x\n", module.__dict__)
    sys.modules[name] = module
    try:
        ship_test_modules([module])
        payload = cloudpickle.dumps(module.triple)
    finally:
        del sys.modules[name]
        cloudpickle.unregister_pickle_by_value(module)
    assert cloudpickle.loads(payload)(2) == 6


def test_modules_that_are_not_importable_by_name_are_skipped() -> None:
    module = types.ModuleType("flows_never_imported")
    ship_test_modules([module, object()])
    assert "flows_never_imported" not in cloudpickle.list_registry_pickle_by_value()
