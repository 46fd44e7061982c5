"""Tests of the two flows of Prefect's flow execution page, as a user would write them."""

import asyncio

import pytest
from async_flow import async_flow
from parallel_flow import parallel_flow


@pytest.mark.flow_concurrent("the seed says the two print_values runs overlap")
def test_parallel_flow_runs_both_tasks_at_once(flow_timeline):
    parallel_flow()

    flow_timeline.assert_parallel("print_values-0", "print_values-1")
    flow_timeline.assert_all_completed()


def test_async_flow_runs_the_first_call_before_the_gathered_ones(flow_timeline):
    asyncio.run(async_flow())

    flow_timeline.assert_before("print_values-0", "print_values-1")
    flow_timeline.assert_before("print_values-0", "print_values-2")
    flow_timeline.assert_all_completed()


@pytest.mark.flow_concurrent("the gathered runs interleave only where runs can overlap")
def test_async_flow_interleaves_the_gathered_calls(flow_timeline, flow_runner, capsys):
    asyncio.run(async_flow())

    flow_timeline.assert_parallel("print_values-1", "print_values-2")
    if flow_runner is None or flow_runner.name != "dask":  # Dask workers print elsewhere
        assert capsys.readouterr().out == "1 2 a 6 b 7 c 8 d 9 "
