"""Instructions and simulated cache misses per run, under Valgrind's cachegrind.

Wall-clock ratios on a shared 2-core VM move by ±0.2 from run to run, so a
change worth 5% cannot be seen in them. Counts from a CPU simulator do not
move: the same code, Python and ``PYTHONHASHSEED`` give the same numbers.

    python -m benchmarks.instructions                  # every workload, 2,000 runs each
    python -m benchmarks.instructions sequential recorded -n 30000 --cache

Run it from the root of the checkout to measure: ``python -m`` puts the
current directory first on ``sys.path``, ahead of ``PYTHONPATH``.

Each workload runs in a fresh interpreter under cachegrind, once with N runs
and once with none (imports, set-up and a warm-up of 200 runs: the same
both times), and the difference is divided by N. With ``--cache`` the
simulator also counts first-level data misses and misses of a 2 MB
last-level cache (this VM's L2 per core; Valgrind would otherwise take the
shared 32 MB L3): the misses that grow with the number of live runs, as
the garbage collector walks them. Needs ``valgrind`` on PATH; without it,
says so and exits 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["BASELINES", "WORKLOADS", "Counts", "count", "main", "parse_cachegrind"]

LAST_LEVEL = "--LL=2097152,16,64"  # 2 MB, 16-way, 64-byte lines
WARM_UP = 200
CHILD_TIMEOUT_SECONDS = 3600  # 30,000 sequential runs with --cache take about a minute here


def _sequential() -> Callable[[int], object]:
    from benchmarks.workload import sync_flow
    from flowcore.task_runners import SequentialTaskRunner

    return sync_flow(SequentialTaskRunner())


def _recorded() -> Callable[[int], object]:
    from flowcore import subscribe
    from pytest_flows.timeline import Timeline

    many = _sequential()

    def recorded(n: int) -> None:
        timeline = Timeline()
        with subscribe(timeline.record):
            many(n)

    return recorded


def _concurrent() -> Callable[[int], object]:
    from benchmarks.workload import sync_flow
    from flowcore.task_runners import ConcurrentTaskRunner

    return sync_flow(ConcurrentTaskRunner())


def _async() -> Callable[[int], object]:
    from benchmarks.workload import async_flow
    from flowcore.task_runners import AsyncTaskRunner

    return async_flow(AsyncTaskRunner())


def _empty_flow(sequential: bool = False) -> Callable[[int], object]:
    from flowcore import flow
    from flowcore.task_runners import SequentialTaskRunner

    @flow(task_runner=SequentialTaskRunner() if sequential else None)
    def empty() -> None:
        return None

    def calls(n: int) -> None:
        for _ in range(n):
            empty()

    return calls


def _empty_async_flow(runner: str = "sequential") -> Callable[[int], object]:
    import asyncio

    from flowcore import flow
    from flowcore.task_runners import AsyncTaskRunner, SequentialTaskRunner

    runners = {"sequential": SequentialTaskRunner, "async": AsyncTaskRunner, "default": None}
    chosen = runners[runner]

    @flow(task_runner=chosen() if chosen is not None else None)
    async def empty() -> None:
        return None

    async def calls(n: int) -> None:
        for _ in range(n):
            await empty()

    return lambda n: asyncio.run(calls(n))


def _ten_tasks() -> Callable[[int], object]:
    from benchmarks.deterministic import ten_task_flow
    from flowcore.task_runners import SequentialTaskRunner

    ten = ten_task_flow(SequentialTaskRunner())

    def calls(n: int) -> None:
        for _ in range(n):
            ten()

    return calls


def _deterministic() -> Callable[[int], object]:
    from benchmarks.deterministic import schedules
    from pytest_flows.deterministic import DeterministicTaskRunner

    return lambda n: schedules(lambda seed: DeterministicTaskRunner(seed=seed), n)()


def _plain_calls() -> Callable[[int], object]:
    from benchmarks.runners import plain_loop

    return plain_loop


def _thread_pool() -> Callable[[int], object]:
    from benchmarks.runners import thread_pool

    return thread_pool


def _gather() -> Callable[[int], object]:
    from benchmarks.runners import asyncio_gather

    return asyncio_gather


WORKLOADS: dict[str, tuple[Callable[[], Callable[[int], object]], str]] = {
    "sequential": (_sequential, "task run, sequential (a flow of N returning its futures)"),
    "plain-calls": (_plain_calls, "  its baseline: a call of the same function in a loop"),
    "recorded": (_recorded, "the same, recorded into a Timeline"),
    "concurrent": (_concurrent, "task run, concurrent"),
    "thread-pool": (_thread_pool, "  its baseline: ThreadPoolExecutor submit and result"),
    "async": (_async, "async task run in an async flow"),
    "gather": (_gather, "  its baseline: a coroutine in asyncio.gather"),
    "empty-flow": (_empty_flow, "call of a flow with no task (the default runner)"),
    "empty-flow-sequential": (lambda: _empty_flow(True), "the same, sequential runner"),
    "empty-async-flow": (_empty_async_flow, "call of an async flow with no task, sequential"),
    "empty-async-flow-default": (
        lambda: _empty_async_flow("default"),
        "the same, the default runner",
    ),
    "empty-async-flow-async": (lambda: _empty_async_flow("async"), "the same, async runner"),
    "ten-tasks": (_ten_tasks, "10-task flow call, sequential"),
    "deterministic": (_deterministic, "the same, one deterministic schedule"),
}
BASELINES = {"sequential": "plain-calls", "concurrent": "thread-pool", "async": "gather"}
"""Each runner's workload and the raw one it is set against in `python -m benchmarks`."""
# Fewer runs for the workloads whose one run is a whole flow of runs.
_DIVISOR = {
    "empty-flow": 5,
    "empty-flow-sequential": 5,
    "empty-async-flow": 5,
    "empty-async-flow-default": 5,
    "empty-async-flow-async": 5,
    "ten-tasks": 10,
    "deterministic": 10,
}


class Counts(NamedTuple):
    """What cachegrind counted for a whole process."""

    instructions: int
    d1_misses: int | None
    last_level_misses: int | None


def parse_cachegrind(report: str) -> Counts:
    """The totals of cachegrind's summary (its stderr); misses are None without --cache-sim.

    >>> parse_cachegrind("==1== I   refs:      1,234\\n==1== D1  misses:       56  ( 5 rd + 51 wr)")
    Counts(instructions=1234, d1_misses=56, last_level_misses=None)
    """

    def total(label: str) -> int | None:
        found = re.search(rf"{label}:\s+([\d,]+)", report)
        return int(found.group(1).replace(",", "")) if found else None

    instructions = total(r"I\s+refs")
    if instructions is None:
        raise ValueError(f"no instruction count in cachegrind's report:\n{report[-2000:]}")
    return Counts(instructions, total(r"D1\s+misses"), total(r"LLd\s+misses"))


def _child(workload: str, runs: int) -> None:
    make, _ = WORKLOADS[workload]
    work = make()
    work(WARM_UP // _DIVISOR.get(workload, 1))
    gc.collect()
    if runs:
        work(runs)


def _run(workload: str, runs: int, cache: bool) -> Counts:
    command = [
        "valgrind", "--tool=cachegrind", "--cachegrind-out-file=/dev/null",
        f"--cache-sim={'yes' if cache else 'no'}", LAST_LEVEL,
        sys.executable, "-m", "benchmarks.instructions", "--child", workload, str(runs),
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=environment, check=False,
            timeout=CHILD_TIMEOUT_SECONDS,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"{workload} ran over {CHILD_TIMEOUT_SECONDS}s under cachegrind ({runs:,} runs): "
            "pass a smaller -n"
        ) from None
    if done.returncode != 0:
        raise RuntimeError(f"{workload} failed under cachegrind:\n{done.stderr[-3000:]}")
    return parse_cachegrind(done.stderr)


def count(workload: str, runs: int, cache: bool = False) -> Counts:
    """Per run of ``workload``: N runs minus none, divided by N."""
    with_runs, without = _run(workload, runs, cache), _run(workload, 0, cache)
    per_run = [
        None if a is None or b is None else round((a - b) / runs)
        for a, b in zip(with_runs, without, strict=True)
    ]
    return Counts(per_run[0] or 0, per_run[1], per_run[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("workloads", nargs="*", help=f"some of: {', '.join(WORKLOADS)}")
    parser.add_argument("-n", type=int, default=2000, help="task runs (flow calls / 10 or 5)")
    parser.add_argument("--cache", action="store_true", help="simulate the caches too")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        _child(arguments.child[0], int(arguments.child[1]))
        return 0
    unknown = [name for name in arguments.workloads if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}: choose from {', '.join(WORKLOADS)}")
    if shutil.which("valgrind") is None:
        print("valgrind is not on PATH: install it (apt-get install valgrind) to count")
        return 2
    print(f"{'instructions':>12} {'D1 misses':>9} {'L2 misses':>9}  per run of")
    counted: dict[str, int] = {}
    for workload in arguments.workloads or list(WORKLOADS):
        runs = max(1, arguments.n // _DIVISOR.get(workload, 1))
        counts = count(workload, runs, arguments.cache)
        counted[workload] = counts.instructions
        misses = [("-" if value is None else f"{value:,}") for value in counts[1:]]
        label = WORKLOADS[workload][1]
        print(f"{counts.instructions:>12,} {misses[0]:>9} {misses[1]:>9}  {label} (N={runs:,})")
    for workload, baseline in BASELINES.items():
        if workload in counted and baseline in counted:
            mine, raw = counted[workload], counted[baseline]
            over, ratio = mine - raw, mine / raw
            print(f"{workload} over {baseline}: {ratio:.2f}x, {over:+,} instructions a run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
