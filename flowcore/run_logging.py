"""Run loggers: `get_run_logger` inside a task or flow run, and ``log_prints``.

Records go to standard `logging` loggers: ``flowcore.task_runs`` from task
runs, ``flowcore.flow_runs`` from flow runs, so pytest's ``caplog`` and any
handler see them. The message is what was logged (as in Prefect); the run is
in the record's attributes: ``task_run_name``, ``task_run_id``,
``task_name``, ``flow_run_id`` and ``flow_run_name`` for a task run,
``flow_run_name``, ``flow_run_id`` and ``flow_name`` for a flow run. The two
loggers are at level INFO unless configured otherwise, as Prefect's are;
flowcore adds no handler (records below WARNING reach no console unless
you configure one; pytest's ``caplog`` sees them all).

    >>> from flowcore import flow, task
    >>> @task(log_prints=True)
    ... def load(x):
    ...     get_run_logger().info("loading %s", x)
    ...     print("loaded", x)          # a record of flowcore.task_runs, not stdout
    ...     return x

``log_prints=True`` on a task or flow sends ``print`` calls made inside its
runs (to stdout) to that run's logger at level INFO; a task's own setting
wins, else it follows its flow's. ``print`` is replaced process-wide the
first time a run needs it, and decides per call from the run it is made in,
so it is safe under every runner. Outside a run `get_run_logger` raises
`MissingContextError`.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flowcore.context import current_flow_run, current_task_run
from flowcore.errors import MissingContextError

if TYPE_CHECKING:
    import logging

    from flowcore.context import FlowRun
    from flowcore.task_engine import TaskRun

__all__ = [
    "FLOW_RUN_LOGGER",
    "TASK_RUN_LOGGER",
    "capture_run_logs",
    "emit_shipped",
    "flow_run_extra",
    "get_run_logger",
    "print_to_run_logger",
    "task_run_extra",
]

TASK_RUN_LOGGER = "flowcore.task_runs"
FLOW_RUN_LOGGER = "flowcore.flow_runs"


def get_run_logger() -> logging.LoggerAdapter[logging.Logger]:
    """The logger of the task run or flow run this code runs in.

    Raises `MissingContextError` outside any run.
    """
    task_run = current_task_run()
    if task_run is not None:
        return _adapter(TASK_RUN_LOGGER, task_run_extra(task_run))
    flow_run = current_flow_run()
    if flow_run is not None:
        return _adapter(FLOW_RUN_LOGGER, flow_run_extra(flow_run))
    # Prefect's words, which code may match on; the class's docstring says what to do.
    raise MissingContextError("There is no active flow or task run context.")


def task_run_extra(run: TaskRun) -> dict[str, Any]:
    return {
        "task_run_id": run.id,
        "task_run_name": run.name,
        "task_name": run.task.name,
        "flow_run_id": run.flow_run_id,
        "flow_run_name": run.flow_run_name,
    }


def flow_run_extra(flow_run: FlowRun) -> dict[str, Any]:
    return {
        "flow_run_id": flow_run.id,
        "flow_run_name": flow_run.name,
        "flow_name": flow_run.flow.name,
    }


def _adapter(name: str, extra: Mapping[str, Any]) -> logging.LoggerAdapter[logging.Logger]:
    import logging

    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:  # INFO by default, as Prefect's run loggers
        logger.setLevel(logging.INFO)
    return _adapter_class()(logger, extra)


@functools.cache
def _adapter_class() -> type[logging.LoggerAdapter[logging.Logger]]:
    import logging  # here: `import flowcore` does not pay for logging

    class RunLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
        """Adds the run's attributes to each record, keeping the caller's own extras."""

        def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
            kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
            return msg, kwargs

    return RunLoggerAdapter


# --- records made in another process (a Dask worker) -------------------------------


@contextlib.contextmanager
def capture_run_logs() -> Iterator[list[logging.LogRecord]]:
    """Collect the task-run log records this thread makes, instead of emitting them, as
    records that pickle (message formatted, traceback as text): a Dask worker sends them
    back with the run's outcome, and the client hands them to its own loggers
    (`emit_shipped`), so handlers and ``caplog`` there see them."""
    import logging

    records: list[logging.LogRecord] = []
    logger = logging.getLogger(TASK_RUN_LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    handler = _thread_capture_class()(threading.get_ident(), records)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def emit_shipped(records: list[logging.LogRecord]) -> None:
    """Hand records made elsewhere (see `capture_run_logs`) to this process's loggers."""
    if not records:
        return
    import logging

    for record in records:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


@functools.cache
def _thread_capture_class() -> Any:
    import logging

    class ThreadCapture(logging.Handler):
        def __init__(self, thread: int, into: list[logging.LogRecord]) -> None:
            super().__init__()
            self.thread, self.into = thread, into

        def emit(self, record: logging.LogRecord) -> None:
            if record.thread != self.thread:
                return
            record.msg, record.args = record.getMessage(), None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            self.into.append(record)

    return ThreadCapture


# --- log_prints ------------------------------------------------------------------

_original_print = builtins.print
_patch_lock = threading.Lock()


def print_to_run_logger() -> None:
    """Make ``print`` log inside runs that ask for it (done once, on first need)."""
    if builtins.print is _print:
        return
    with _patch_lock:
        if builtins.print is not _print:
            builtins.print = _print


def _print(*values: object, sep: str | None = " ", end: str | None = "\n", **kwargs: Any) -> None:
    file = kwargs.get("file")
    if file is None or file is sys.stdout:
        logger = _print_logger()
        if logger is not None:
            logger.info((" " if sep is None else sep).join(str(value) for value in values))
            return
    _original_print(*values, sep=sep, end=end, **kwargs)


def _print_logger() -> logging.LoggerAdapter[logging.Logger] | None:
    """The run logger prints go to here, or None (they go to stdout)."""
    task_run = current_task_run()
    if task_run is not None:
        return get_run_logger() if task_run.log_prints else None
    flow_run = current_flow_run()
    if flow_run is not None and flow_run.log_prints:
        return get_run_logger()
    return None
