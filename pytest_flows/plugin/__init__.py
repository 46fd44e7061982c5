"""The pytest plugin: the one ``pytest11`` entry point, which registers the rest.

| concept                                                   | module          |
|-----------------------------------------------------------|-----------------|
| every option, its ini twin, the markers                   | `options`       |
| runner names, validation, construction                    | `runner_choice` |
| the runner of each test: ``--flow-runner``, ``all``, marker | `runners`     |
| recording each test's timeline: ``flow_timeline``         | `recording`     |
| seeds of the deterministic runner, handed to xdist workers | `seeds`        |
| ``flow_explore`` and ``--flow-replay``                    | `exploring`     |
| freezegun following the virtual clock                     | `virtual_time`  |
| the session's Dask cluster and client                     | `dask_session`  |
| report sections, timeline files, header and summary       | `reports`       |
| ``--flow-check-leaks``                                    | `leaks`         |
| ``--flow-prefect``: users' ``import prefect`` on flowcore | `prefect_mode`  |

Everything the plugin prints is `pytest_flows.printable.printable`: names
and messages from user code never reach the terminal with their control
characters raw.
"""

# Each module after the ones it imports: pytest marks a plugin module for
# assertion rewriting just before importing it, and warns if it came too late.
pytest_plugins = [
    "pytest_flows.plugin.prefect_mode",
    "pytest_flows.plugin.options",
    "pytest_flows.plugin.seeds",
    "pytest_flows.plugin.dask_session",
    "pytest_flows.plugin.runners",
    "pytest_flows.plugin.exploring",
    "pytest_flows.plugin.recording",
    "pytest_flows.plugin.virtual_time",
    "pytest_flows.plugin.reports",
    "pytest_flows.plugin.leaks",
]
