"""Where the time per task goes: cProfile of a flow of N trivial tasks on one runner.

    python -m benchmarks.profiling sequential            # N = 20,000
    python -m benchmarks.profiling concurrent -n 5000 --top 30

Prints the functions with the most own time (``tottime``), in µs per task,
with their cumulative time and call counts per task, so the hot path of
each runner can be read off and compared after a change. cProfile inflates
small functions, so read the figures as a ranking, not as absolute costs.
With ``--no-gc`` the cyclic garbage collector is off while profiling, so its
pauses are not charged to whichever function happened to allocate.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats

from benchmarks.scaling import FLOWS

__all__ = ["hot_path", "main"]

def hot_path(runner: str, n: int, top: int, collect_garbage: bool = True) -> str:
    """The ``top`` functions by own time while a flow of ``n`` tasks runs on ``runner``."""
    many = FLOWS[runner]()
    many(min(n, 1000))  # warm up
    gc.collect()
    if not collect_garbage:
        gc.disable()
    profile = cProfile.Profile()
    try:
        profile.enable()
        many(n)
        profile.disable()
    finally:
        gc.enable()
    stats = pstats.Stats(profile)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    lines = [f"{'own µs/task':>11}  {'cum µs/task':>11}  {'calls/task':>10}  function"]
    for (filename, line, name), (_, calls, own, cumulative, _) in rows[:top]:
        where = filename.rsplit("/site-packages/", 1)[-1].rsplit("/main/", 1)[-1]
        lines.append(
            f"{own / n * 1e6:11.2f}  {cumulative / n * 1e6:11.2f}  {calls / n:10.2f}  "
            f"{name} ({where}:{line})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling")
    parser.add_argument("runner", choices=sorted(FLOWS))
    parser.add_argument("-n", type=int, default=20_000, help="tasks in the flow")
    parser.add_argument("--top", type=int, default=25, help="functions to show")
    parser.add_argument("--no-gc", action="store_true", help="garbage collector off meanwhile")
    arguments = parser.parse_args(argv)
    print(hot_path(arguments.runner, arguments.n, arguments.top, not arguments.no_gc))


if __name__ == "__main__":
    main()
