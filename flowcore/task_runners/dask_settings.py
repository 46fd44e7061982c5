"""What a `DaskTaskRunner` may be given: each setting checked as the runner is made, with
an error that states the rule and the value.

    >>> check_settings(None, {"n_workers": 2}, None, None, None, 30.0, None, None)
    >>> check_settings(None, None, None, None, None, 0, None, None)
    Traceback (most recent call last):
    ...
    flowcore.errors.InvalidArgument: heartbeat_timeout must be a finite number of seconds > 0, got 0
"""

from __future__ import annotations

import math
from typing import Any

from flowcore.errors import InvalidArgument

__all__ = ["check_settings"]


def check_settings(
    cluster_class: Any,
    cluster_kwargs: Any,
    address: Any,
    adapt_kwargs: Any,
    client_kwargs: Any,
    heartbeat_timeout: Any,
    client: Any,
    push_outcomes: Any,
) -> None:
    """Raise `InvalidArgument` for the first setting a `DaskTaskRunner` cannot take."""
    _check_where(cluster_class, address, client)
    if push_outcomes is not None and not isinstance(push_outcomes, bool):
        raise InvalidArgument(
            f"push_outcomes must be True, False or None (on a cluster the runner starts), "
            f"got {push_outcomes!r}"
        )
    for label, value in (
        ("cluster_kwargs", cluster_kwargs),
        ("adapt_kwargs", adapt_kwargs),
        ("client_kwargs", client_kwargs),
    ):
        if value is not None and not isinstance(value, dict):
            raise InvalidArgument(f"{label} must be a dict, got {value!r}")
    if not _is_positive_seconds(heartbeat_timeout):
        raise InvalidArgument(
            f"heartbeat_timeout must be a finite number of seconds > 0, got {heartbeat_timeout!r}"
        )


def _check_where(cluster_class: Any, address: str | None, client: Any) -> None:
    """At most one of a cluster to start, a scheduler address and a lent client."""
    given = [
        f"{label}={value!r}"
        for label, value in (
            ("cluster_class", cluster_class),
            ("address", address),
            ("client", client),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise InvalidArgument(
            "give either address (an existing scheduler) or cluster_class (a cluster to "
            "start), or client (a client kept open elsewhere), not both; got " + ", ".join(given)
        )
    if address is not None and not isinstance(address, str):
        raise InvalidArgument(f"address must be a string like 'tcp://host:8786', got {address!r}")


def _is_positive_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
