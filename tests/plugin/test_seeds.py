"""The flows_seeding plugin: seeds, replay tokens, flow_explore, replay hints, virtual time."""

from __future__ import annotations

import pytest

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)


SEED_PROBE = """
    from pytest_flows.plugin.seeds import seed_for, session_seed

    def test_probe(request):
        print(f"SESSION={session_seed(request.config)} TEST={seed_for(request.config, 'x::y')}")
"""

RACE = """
    import asyncio
    import pytest
    from flowcore import flow, task

    counter = {"value": 0}

    @task
    async def increment(lock):
        async with lock:
            value = counter["value"]
            await asyncio.sleep(0)
            counter["value"] = value + 1

    class NoLock:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc_info):
            return None

    @flow
    def two_increments(locked):
        counter["value"] = 0
        lock = asyncio.Lock() if locked else NoLock()
        increment(lock), increment(lock)

    @pytest.mark.flow_explore(schedules=100, strategy="{strategy}")
    def test_counter():
        two_increments({locked})
        assert counter["value"] == 2, "lost update"
"""


def probe(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makepyfile(SEED_PROBE)
    result = pytester.runpytest("-s", "-p", "no:randomly", *args)
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if "SESSION=" in line)
    return " ".join(line[line.index("SESSION=") :].split()[:2])


def test_flow_seed_option_sets_the_session_seed(pytester: pytest.Pytester) -> None:
    assert probe(pytester, "--flow-seed=1234").startswith("SESSION=1234 ")


def test_ini_flow_seed_is_used_and_the_option_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "flow_seed = 77\n")
    assert probe(pytester).startswith("SESSION=77 ")
    assert probe(pytester, "--flow-seed=5").startswith("SESSION=5 ")


def test_a_test_seed_depends_only_on_the_session_seed_and_node_id(
    pytester: pytest.Pytester,
) -> None:
    nine = probe(pytester, "--flow-seed=9")
    assert probe(pytester, "--flow-seed=9") == nine
    assert probe(pytester, "--flow-seed=10").split()[1] != nine.split()[1]


def test_without_a_seed_one_is_drawn_and_last_reuses_it(pytester: pytest.Pytester) -> None:
    drawn = probe(pytester)
    assert probe(pytester, "--flow-seed=last") == drawn


def test_last_without_a_cached_seed_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SEED_PROBE)
    result = pytester.runpytest("--flow-seed=last", "-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(["*--flow-seed=last reuses the previous session's seed*"])


def test_a_seed_that_is_not_an_integer_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SEED_PROBE)
    result = pytester.runpytest("--flow-seed=abc")
    result.stderr.fnmatch_lines(["*--flow-seed must be an integer or 'last', got 'abc'*"])


def test_xdist_workers_use_the_controller_session_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_flows.plugin.seeds import session_seed

        @pytest.mark.parametrize("n", range(4))
        def test_seed(request, n):
            assert session_seed(request.config) == 4242
        """
    )
    result = pytester.runpytest("-p", "xdist", "-n", "2", "--flow-seed=4242")
    result.assert_outcomes(passed=4)


def test_flow_explore_finds_the_lost_update_and_prints_its_replay_command(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(RACE.replace("{strategy}", "random").replace("{locked}", "False"))
    result = pytester.runpytest("--flow-seed=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ScheduleFailed*schedule * failed: AssertionError: lost update*",
            "*flows replay*",
            "pytest 'test_flow_explore_finds_the_lost_update_and_prints_its_replay_command.py"
            "::test_counter' --flow-replay=*",
        ]
    )


def failure_report(result: pytest.RunResult) -> list[str]:
    """The lines between the FAILURES banner and the short test summary."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "= FAILURES =" in line)
    end = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    return lines[start:end]


def section(lines: list[str], title: str) -> list[str]:
    """The lines of the report section ``title`` (up to the next ``---`` banner)."""
    start = next(i for i, line in enumerate(lines) if f" {title} " in line and "---" in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("---")), len(lines))
    return lines[start + 1 : end]


def test_a_failing_exploration_report_is_short_and_shows_no_plugin_source(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(RACE.replace("{strategy}", "random").replace("{locked}", "False"))
    result = pytester.runpytest("--flow-seed=3", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    report = failure_report(result)
    assert len(report) < 40, "\n".join(report)
    text = "\n".join(report)
    assert "pytest_flows/" not in text  # no frame of the plugin's files
    assert "def explore(" not in text
    assert "def pytest_pyfunc_call(" not in text
    assert '>       assert counter["value"] == 2, "lost update"' in report  # the user's line


def test_a_failing_exploration_report_charts_the_failing_schedule_alone(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(RACE.replace("{strategy}", "random").replace("{locked}", "False"))
    result = pytester.runpytest("--flow-seed=3", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    chart = section(failure_report(result), "flow timeline")
    flow_rows = [line for line in chart if line.startswith("two_increments-")]
    task_rows = [line for line in chart if line.startswith("  increment-")]
    assert len(flow_rows) == 1, "\n".join(chart)
    assert len(task_rows) == 2, "\n".join(chart)
    assert "peak parallelism 2" in "\n".join(chart)


def test_flow_replay_skips_tests_that_need_concurrent_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flow_concurrent("two runs meet at a barrier")
        def test_meeting():
            raise AssertionError("ran one at a time, it would hang")

        def test_other():
            pass
        """
    )
    result = pytester.runpytest("--flow-replay=inorder", "-rs")
    result.assert_outcomes(skipped=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*needs concurrent task runs, and the deterministic runner runs one at a time: "
            "two runs meet at a barrier*"
        ]
    )


def test_flow_replay_runs_the_failing_schedule_again(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RACE.replace("{strategy}", "exhaustive").replace("{locked}", "False"))
    first = pytester.runpytest("--flow-seed=3")
    line = next(line for line in first.outlines if "--flow-replay=" in line and "pytest '" in line)
    token = line.split("--flow-replay=")[1].strip()
    for _ in range(3):
        again = pytester.runpytest(f"--flow-replay={token}")
        again.assert_outcomes(failed=1)
        again.stdout.fnmatch_lines(["*AssertionError: lost update*"])


def test_flow_explore_passes_every_schedule_with_a_lock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RACE.replace("{strategy}", "pct").replace("{locked}", "True"))
    pytester.runpytest().assert_outcomes(passed=1)


def test_an_exhaustive_search_cut_by_its_bound_is_reported(pytester: pytest.Pytester) -> None:
    source = RACE.replace("{strategy}", "exhaustive").replace("{locked}", "True")
    pytester.makepyfile(source.replace("schedules=100", "bound=2"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["flows: *::test_counter: *the bound cut the exhaustive search*"])


def test_a_malformed_replay_token_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SEED_PROBE)
    result = pytester.runpytest("--flow-replay=nonsense")
    result.stderr.fnmatch_lines(["*--flow-replay: 'nonsense' is not a replay token*"])


def test_unknown_flow_explore_arguments_are_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flow_explore(schedule=5)
        def test_it():
            pass
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*flow_explore got unknown argument(s) schedule*Valid: *"])


def test_failing_test_under_the_deterministic_runner_prints_how_to_replay_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from flowcore import flow, task

        @task
        def one():
            return 1

        @flow
        def pipeline():
            return one()

        def test_fails():
            assert pipeline() == 2
        """
    )
    result = pytester.runpytest("--flow-runner=deterministic", "--flow-seed=31")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*flows replay*",
            "pytest '*::test_fails' --flow-runner=deterministic --flow-seed=31",
        ]
    )


def test_frozen_time_moves_with_virtual_time_under_flow_virtual_time(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import datetime
        import freezegun
        from flowcore import flow, task
        from pytest_flows.deterministic import DeterministicTaskRunner

        seen = []

        @task(retries=1, retry_delay_seconds=60)
        def stamp():
            seen.append(datetime.datetime.now())
            if len(seen) == 1:
                raise ValueError("again")

        @flow(task_runner=DeterministicTaskRunner())
        def stamped():
            stamp()

        def test_stamps(flow_virtual_time):
            with freezegun.freeze_time("2030-01-01"):
                stamped()
            gap = (seen[1] - seen[0]).total_seconds()
            assert 60 <= gap < 61
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
