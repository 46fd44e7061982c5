"""Tests of examples/pipeline.py: results, dependencies and overlap, under any runner."""

import pytest
from pipeline import etl


def test_etl_loads_every_transformed_record():
    assert etl() == ["api:0!", "api:1!", "api:2!", "db:0!", "db:1!", "db:2!"]


def test_each_transform_waits_for_its_extract(flow_timeline):
    etl()

    flow_timeline.assert_before("extract-0", "transform-0")
    flow_timeline.assert_before("extract-1", "transform-1")
    flow_timeline.assert_before("transform-0", "load-0")
    flow_timeline.assert_before("transform-1", "load-0")
    flow_timeline.assert_states("load-0", ["PENDING", "RUNNING", "COMPLETED"])


@pytest.mark.flow_concurrent("asserts that the two extracts overlap")
def test_extracts_run_in_parallel(flow_timeline):
    etl()

    flow_timeline.assert_parallel("extract-0", "extract-1")
    flow_timeline.assert_min_concurrency(2)


def test_no_more_runs_at_once_than_sources(flow_timeline):
    etl(sources=("a", "b", "c"))

    flow_timeline.assert_max_concurrency(3)
    flow_timeline.assert_all_completed()
