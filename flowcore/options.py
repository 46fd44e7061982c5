"""The options of tasks and flows, and the rules their values follow.

Checked once, when a task or flow is defined, so a bad value fails at the
decorator with the rule and the value, never later inside a run:

- counts (``retries``) are integers >= 0;
- durations (``retry_delay_seconds``, ``timeout_seconds``) are finite
  numbers of seconds, at most `MAX_SECONDS`; a timeout is > 0, or None for
  no timeout (``float("inf")`` is refused rather than taken as "no limit":
  None already says that, and an infinite wait cannot be represented by the
  timers it would reach);
- a task's or flow's function has no parameter named like a call option
  (`TASK_CALL_OPTIONS`, `FLOW_CALL_OPTIONS`), as in Prefect: those keywords
  are taken by the call itself.

    >>> check_seconds("retry_delay_seconds", 1.5)
    1.5
    >>> check_timeout(None) is None
    True
    >>> check_timeout(float("inf"))
    Traceback (most recent call last):
    ...
    flowcore.errors.InvalidArgument: timeout_seconds must be a finite number of seconds > 0 \
and at most 1e+09 (or None for no timeout), got inf
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

from flowcore.errors import InvalidArgument

__all__ = [
    "FLOW_CALL_OPTIONS",
    "FLOW_OPTIONS",
    "IGNORED_FLOW_OPTIONS",
    "IGNORED_TASK_OPTIONS",
    "MAX_SECONDS",
    "TASK_CALL_OPTIONS",
    "TASK_OPTIONS",
    "check_count",
    "check_delays",
    "check_flag",
    "check_no_reserved_parameters",
    "check_seconds",
    "check_tags",
    "check_timeout",
]

MAX_SECONDS = 1e9
"""The longest duration accepted (about 31 years): every timer can represent it."""

TASK_OPTIONS = (
    "name",
    "retries",
    "retry_delay_seconds",
    "timeout_seconds",
    "tags",
    "log_prints",
    "task_run_name",
    "on_completion",
    "on_failure",
    "on_running",
)
FLOW_OPTIONS = (
    "name",
    "task_runner",
    "timeout_seconds",
    "retries",
    "retry_delay_seconds",
    "log_prints",
    "flow_run_name",
    "on_completion",
    "on_failure",
    "on_crashed",
    "on_cancellation",
    "on_running",
)

TASK_CALL_OPTIONS = ("return_state", "wait_for")
"""Keywords a task call takes for itself: a task's function cannot have parameters so named."""

FLOW_CALL_OPTIONS = ("return_state",)
"""Keywords a flow call takes for itself."""

# Prefect options accepted for compatibility that change nothing here.
IGNORED_TASK_OPTIONS = frozenset(
    {
        "description", "version", "cache_key_fn", "cache_expiration", "cache_policy",
        "persist_result", "result_storage", "result_storage_key", "result_serializer",
        "refresh_cache", "retry_jitter_factor", "retry_condition_fn", "viz_return_value",
    }
)  # fmt: skip
IGNORED_FLOW_OPTIONS = frozenset(
    {
        "description", "version", "validate_parameters", "persist_result",
        "result_storage", "result_serializer", "cache_result_in_memory",
    }
)  # fmt: skip


def check_flag(name: str, value: Any) -> bool | None:
    """An optional flag (``log_prints``): True, False, or None to inherit."""
    if value is None or isinstance(value, bool):
        return value
    raise InvalidArgument(f"{name} must be True, False or None, got {value!r}")


def check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer >= 0, got {value!r}")
    if value < 0:
        raise InvalidArgument(f"{name} must be >= 0, got {value}")
    return value


def check_seconds(name: str, value: Any) -> float:
    """A duration that may be 0: finite, >= 0 and at most `MAX_SECONDS`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"{name} must be a number of seconds >= 0, got {value!r}")
    if not (value >= 0 and math.isfinite(value) and value <= MAX_SECONDS):  # NaN fails too
        raise InvalidArgument(
            f"{name} must be a finite number of seconds >= 0 and at most {MAX_SECONDS:g}, "
            f"got {value!r}"
        )
    return float(value)


def check_delays(value: Any) -> float | tuple[float, ...]:
    """``retry_delay_seconds``: one delay, or a list of them (one per retry)."""
    if isinstance(value, (list, tuple)):
        return tuple(check_seconds("retry_delay_seconds", item) for item in value)
    return check_seconds("retry_delay_seconds", value)


def check_timeout(value: Any) -> float | None:
    """``timeout_seconds``: None, or finite, > 0 and at most `MAX_SECONDS`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(f"timeout_seconds must be a number of seconds > 0, got {value!r}")
    if not (value > 0 and math.isfinite(value) and value <= MAX_SECONDS):  # NaN fails too
        raise InvalidArgument(
            f"timeout_seconds must be a finite number of seconds > 0 and at most "
            f"{MAX_SECONDS:g} (or None for no timeout), got {value!r}"
        )
    return float(value)


def check_tags(tags: Any) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidArgument(f"tags must be an iterable of strings, got {tags!r}")
    checked: list[str] = list(tags)
    for tag in checked:
        if not isinstance(tag, str):
            raise InvalidArgument(f"tags must be strings, got {tag!r} in {checked!r}")
    return checked


def check_no_reserved_parameters(
    fn: Callable[..., Any], reserved: tuple[str, ...], what: str
) -> None:
    """Refuse a function with a parameter named like one of the call options ``reserved``."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or callable without a signature
        return
    for name, parameter in parameters.items():
        if name in reserved and parameter.kind is not parameter.VAR_KEYWORD:
            raise InvalidArgument(
                f"{what} has a parameter named {name!r}, a name reserved for the call's own "
                f"options ({', '.join(reserved)}); rename the parameter"
            )
