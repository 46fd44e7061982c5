"""The ledger of a flow run's task runs: those still going, and what the ended ones came to.

A flow run must wait for every task run it started, end the unfinished ones
when it stops early, and, when its body returns None, decide its own state
from all of them ("All states completed.", "2/5 states failed."). None of
that needs the runs that completed: the ledger keeps the futures of runs
not ended yet, counts the ended ones, and keeps the states of those that did
not complete (rare). A run that completed is let go at once, so a flow of
100,000 plain calls keeps no record of each: its runs are freed as they end
instead of piling up for the garbage collector to walk.

    >>> ledger = TaskRunLedger()
    >>> ledger.started, ledger.unfinished(), ledger.not_completed()
    (0, [], [])
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flowcore.states import StateType

if TYPE_CHECKING:
    from flowcore.futures import TaskFuture
    from flowcore.states import State

__all__ = ["TaskRunLedger"]

_COMPLETED = StateType.COMPLETED  # a module constant: an Enum's attribute reads slowly


class TaskRunLedger:
    """The task runs of one flow run attempt. Thread-safe: runs end in other threads.

    ``started`` counts the runs added; `unfinished` gives the futures of those
    not ended yet, in submission order; `not_completed` the final (or
    NotReady) states of the ended runs that did not complete, in submission
    order too.
    """

    __slots__ = ("_adding", "_not_completed", "_unfinished", "started")

    def __init__(self) -> None:
        self.started = 0
        # Future -> its submission index. Single dict operations are atomic
        # under the GIL (futures hash by identity, no Python code runs), so
        # runs ending in runner threads need no lock here; adding counts too,
        # and a flow body may submit from threads of its own.
        self._unfinished: dict[TaskFuture, int] = {}
        self._not_completed: list[tuple[int, State]] = []
        self._adding = threading.Lock()

    def add(self, future: TaskFuture) -> None:
        """A run was submitted: before it is handed to its runner, so its end is seen."""
        adding = self._adding
        adding.acquire()  # not a `with`: costs half as much, once per run
        try:
            self._unfinished[future] = self.started
            self.started += 1
        finally:
            adding.release()

    def ended(self, future: TaskFuture, state: State) -> None:
        """``future``'s run has its final ``state``. A second call does nothing."""
        index = self._unfinished.pop(future, None)
        if index is None:
            return
        if state.type is not _COMPLETED:
            self._not_completed.append((index, state))

    def unfinished(self) -> list[TaskFuture]:
        """The futures of the runs not ended yet, in submission order."""
        return [future for future in list(self._unfinished) if not future.done()]

    def not_completed(self) -> list[State]:
        """The states of the ended runs that did not complete, in submission order."""
        return [state for _, state in sorted(self._not_completed, key=_index)]


def _index(entry: tuple[int, State]) -> int:
    return entry[0]
