"""Benchmarks: flowcore and pytest_flows against raw baselines, side by side in one run.

    python -m benchmarks                 # everything, full sizes (a few minutes)
    python -m benchmarks --quick         # smaller N, fewer repeats
    python -m benchmarks --only runners,scaling --json /tmp/new.json
    python -m benchmarks --compare old.json new.json

Concepts to modules:

- `measure`: repeated, interleaved timing; `Sample` (median, min, max).
- `report`: `Row` and `Section` records, the printed table, JSON, comparison.
- `workload`: the trivial tasks and the flows of N of them, per runner.
- `runners`: per-task overhead of each local runner against its raw baseline.
- `dask_runner`: the Dask runner against `Client.submit` + `gather` on one cluster.
- `scaling`: cost per task as N grows (must stay flat).
- `memory`: bytes per recorded run, and the cost of recording a timeline.
- `imports`: ``import flowcore`` / ``import pytest_flows`` time, what they pull in.
- `plugin_suite`: a generated suite of flow tests under each ``--flow-runner``.
- `deterministic`: the deterministic runner, when pytest_flows provides it.
- `prefect_side_by_side`: Prefect 3 on the same flow, when it is installed.
- `profiling`: cProfile of one runner's per-task hot path (``python -m benchmarks.profiling``).

Benchmarks are not tests: nothing here asserts on time. Goals from the
benchmarks issue are printed next to each figure.
"""
