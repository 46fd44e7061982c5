"""The deterministic runner: one step at a time, in an order a seed chooses, on virtual time.

| concept                                          | module            |
|--------------------------------------------------|-------------------|
| `DeterministicTaskRunner`: submit, wait, shut down | `runner`        |
| async flows: collecting their runs, stepping them | `async_flows`    |
| a run's Future-like handle                       | `handles`         |
| the event loop stepped one callback at a time    | `loop`            |
| asyncio's private internals, and nothing else    | `asyncio_adapter` |
| virtual time: `VirtualClock`                     | `virtual_clock`   |
| who picks the next step: seeded, PCT, replayed   | `schedules`       |
| the thread sync bodies run on, bounded waits     | `sync_worker`     |
| deadlocks: what is stuck and where               | `deadlocks`       |
| one execution under one schedule; repeatability  | `executions`      |
| `explore`, `replay`: many schedules, a token     | `exploration`     |
"""

from pytest_flows.deterministic.deadlocks import DeadlockError
from pytest_flows.deterministic.runner import DeterministicTaskRunner

__all__ = ["DeadlockError", "DeterministicTaskRunner"]
