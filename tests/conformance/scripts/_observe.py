"""Observation helpers shared by the conformance scripts.

Imports neither Prefect nor flowcore, so a script behaves the same whichever
of the two its import lines point at. Everything printed goes through
``say``, which replaces run ids, memory addresses and Prefect 3's random
run-name suffixes with placeholders, so that the output is the same from one
run to the next.

| helper           | gives                                                     |
|------------------|-----------------------------------------------------------|
| `say(*parts)`    | prints the parts on one line, ids and addresses blanked   |
| `describe(state)`| `TYPE Name 'message'` of a state (message optional)       |
| `show(value)`    | repr, with states and futures inside it named             |
| `final_state(f)` | a future's final state: `.wait()` in Prefect 2, `.state` in 3 |
| `error(exc)`     | `ExceptionType: message`                                  |
| `LogCapture`     | records of the run loggers, printed sorted at the end     |
"""

from __future__ import annotations

import logging
import re

_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
# Prefect 3 names a task run after its task and three random hex digits
# ("load-e6e"); Prefect 2 and flowcore count ("load-0").
_RANDOM_RUN_SUFFIX = re.compile(r"\b([A-Za-z_]\w*)-[0-9a-f]{3}\b")


def clean(text: str) -> str:
    text = _ADDRESS.sub("<address>", _RUN_ID.sub("<id>", text))
    return _RANDOM_RUN_SUFFIX.sub(r"\1-<random>", text)


def say(*parts: object) -> None:
    print(clean(" ".join(str(part) for part in parts)), flush=True)


def describe(state, message: bool = True) -> str:
    text = f"{state.type.value} {state.name}"
    if message:
        text += f" {(state.message or '')!r}"
    return text


def show(value) -> str:
    """repr of a value, with states and futures (also inside lists, tuples, dicts) named."""
    if hasattr(value, "is_completed") and hasattr(value, "type"):
        return f"<state {describe(value, message=False)}>"
    if hasattr(value, "wait") and hasattr(value, "result"):
        return "<future>"
    if isinstance(value, (list, tuple)):
        items = ", ".join(show(item) for item in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {show(item)}" for key, item in value.items()) + "}"
    return repr(value)


def final_state(future):
    state = future.wait()
    return future.state if state is None else state


def error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def package_of(obj) -> str:
    """'prefect' or 'flowcore': the package a decorator such as ``flow`` comes from."""
    return obj.__module__.split(".")[0]


class LogCapture(logging.Handler):
    """Keeps the records of ``<package>.flow_runs`` and ``<package>.task_runs``.

    Only records whose message contains ``contains`` are kept (the engine's
    own messages differ between implementations and are not the point), or,
    with ``level``, records at or above that level. Logger levels are left
    as the implementation sets them: an INFO record that never reaches a
    handler is part of what is observed.
    """

    def __init__(self, package: str, contains: str = "msg:", level: int | None = None):
        super().__init__(logging.DEBUG)
        self.package = package
        self.contains = contains
        self.min_level = level
        self.lines: list[str] = []
        for name in ("flow_runs", "task_runs"):
            logging.getLogger(f"{package}.{name}").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.min_level is not None:
            if record.levelno < self.min_level:
                return
        elif self.contains not in message:
            return
        logger = record.name.replace(self.package, "<pkg>", 1)
        names = [
            f"{key}={getattr(record, key)!r}"
            for key in ("task_run_name", "flow_run_name")
            if getattr(record, key, None) is not None
        ]
        self.lines.append(" ".join([logger, record.levelname, *names, repr(message)]))

    def report(self) -> None:
        say(f"log records: {len(self.lines)}")
        for line in sorted(self.lines):
            say(" ", line)
