"""The leak check: ``--flow-check-leaks`` fails a test that leaves things behind, naming them.

Each inner suite has a leaky test and a later one that cleans up after it,
so nothing outlives the inner session.
"""

from __future__ import annotations

import importlib.util

import pytest

# pytest-asyncio warns when its loop scope is left unset.
QUIET_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(QUIET_INI)


LEAKY_THREAD = """
import threading

release = threading.Event()
holder = []

def test_leaves_a_thread():
    thread = threading.Thread(target=release.wait, name="forgotten-worker")
    thread.start()
    holder.append(thread)

def test_cleanup():
    release.set()
    holder[0].join()
"""

LEAKY_LOOP_THREAD = """
import asyncio
import threading

loops = []

def test_leaves_a_loop_running_in_a_thread():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loop-runner")
    thread.start()
    loops.append((loop, thread))

def test_cleanup():
    loop, thread = loops[0]
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
"""

LEAKY_PROCESS = """
import subprocess
import sys

processes = []

def test_leaves_a_child_process():
    processes.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))

def test_cleanup():
    processes[0].kill()
    processes[0].wait()
"""

CLEAN = """
import asyncio
import threading
import time

import pytest

from flowcore import flow, task

@pytest.fixture(scope="module")
def module_thread():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="module-scoped")
    thread.start()
    yield thread
    stop.set()
    thread.join()

@task
def double(x):
    return x * 2

@flow
def pipeline():
    return [double(x) for x in range(5)]

def test_flow_cleans_up():
    assert pipeline() == [0, 2, 4, 6, 8]

def test_thread_that_ends_soon_after_the_test():
    threading.Thread(target=time.sleep, args=(0.3,), name="finishing").start()

def test_closed_loop():
    assert asyncio.run(asyncio.sleep(0, result=3)) == 3

def test_module_fixture_first(module_thread):
    assert module_thread.is_alive()

def test_module_fixture_again(module_thread):
    assert module_thread.is_alive()
"""


def test_leaked_thread_fails_its_test_naming_the_thread(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky_thread=LEAKY_THREAD)
    result = pytester.runpytest("--flow-check-leaks")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_thread*",
            "*LeakError: test_leaves_a_thread left behind: thread 'forgotten-worker'*",
        ]
    )


def test_event_loop_left_running_fails_its_test_naming_its_thread(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leaky_loop=LEAKY_LOOP_THREAD)
    result = pytester.runpytest("--flow-check-leaks")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_leaves_a_loop_running_in_a_thread left behind: thread 'loop-runner'*"]
    )


def test_leaked_child_process_fails_its_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky_process=LEAKY_PROCESS)
    result = pytester.runpytest("--flow-check-leaks")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_leaves_a_child_process left behind: child process * (*python* -c import time*"]
    )


def test_leak_report_escapes_control_characters_in_commands(pytester: pytest.Pytester) -> None:
    hostile = LEAKY_PROCESS.replace(
        '"import time; time.sleep(60)"', '"import time; time.sleep(60)", "\\x1b[2J\\x07"'
    )
    pytester.makepyfile(test_leaky_process=hostile)
    result = pytester.runpytest("--flow-check-leaks")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*left behind: child process * (*python* -c import time*\\x1b[[]2J\\x07*"]
    )
    assert "\x1b" not in result.stdout.str()
    assert "\x07" not in result.stdout.str()


def test_dask_cluster_left_open_fails_its_test_naming_its_workers(
    pytester: pytest.Pytester,
) -> None:
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("needs distributed: pip install 'pytest-flows[dask]'")
    pytester.makepyfile(
        test_leaky_cluster="""
import distributed

kept = []

def test_leaves_a_cluster():
    kept.append(distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ))

def test_cleanup():
    kept[0].close()
"""
    )
    # In a subprocess: distributed's process-wide state stays out of this one.
    result = pytester.runpytest_subprocess("--flow-check-leaks")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test_leaves_a_cluster left behind: *child process *"])


def test_leaks_are_not_checked_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky_thread=LEAKY_THREAD)
    pytester.runpytest().assert_outcomes(passed=2)


def test_ini_key_turns_the_check_on(pytester: pytest.Pytester) -> None:
    pytester.makeini(QUIET_INI + "flow_check_leaks = true\n")
    pytester.makepyfile(test_leaky_thread=LEAKY_THREAD)
    pytester.runpytest().assert_outcomes(passed=2, errors=1)


def test_tests_that_clean_up_pass_and_wider_fixtures_do_not_count(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_clean=CLEAN)
    pytester.runpytest("--flow-check-leaks").assert_outcomes(passed=5)
