"""Seeds of the deterministic runner: one per session, one per test, the same on every worker.

``--flow-seed=N`` (ini ``flow_seed``) sets the session seed; ``last`` reuses
the previous session's, kept in pytest's cache. Without it a seed is drawn
once per session, in `pytest_configure`, and handed to pytest-xdist workers,
so every worker uses it. Each test's own seed (`seed_for`) is derived from
the session seed and its node id: a test's schedule does not depend on
which other tests ran.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest

__all__ = ["seed_for", "seeded", "session_seed"]

CACHE_KEY = "flows/seed"
_SEED = pytest.StashKey[int]()
_SEEDED_TESTS = pytest.StashKey[set[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SEEDED_TESTS] = set()
    config.stash[_SEED] = _resolve_seed(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker uses the controller's session seed."""
    node.workerinput["flow_seed"] = session_seed(node.config)


def session_seed(config: pytest.Config) -> int:
    """The session seed of the deterministic runner (resolved once, in `pytest_configure`)."""
    if _SEED not in config.stash:
        config.stash[_SEED] = _resolve_seed(config)
    return config.stash[_SEED]


def seed_for(config: pytest.Config, nodeid: str) -> int:
    """The seed of one test: derived from the session seed and ``nodeid`` alone.

    >>> int.from_bytes(hashlib.sha256(b"7:tests/test_a.py::test_b").digest()[:4], "big")
    1853212740
    """
    if _SEEDED_TESTS in config.stash:
        config.stash[_SEEDED_TESTS].add(nodeid)
    digest = hashlib.sha256(f"{session_seed(config)}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def seeded(item: pytest.Item) -> bool:
    """Whether the test's flows ran on a schedule drawn from its seed."""
    return item.nodeid in item.config.stash.get(_SEEDED_TESTS, set())


def _resolve_seed(config: pytest.Config) -> int:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "flow_seed" in workerinput:
        return int(workerinput["flow_seed"])
    value = config.getoption("flow_seed") or config.getini("flow_seed")
    if not value:
        seed = secrets.randbelow(10**6)
    elif str(value).strip() == "last":
        seed = _last_seed(config)
    else:
        try:
            seed = int(str(value).strip())
        except ValueError:
            raise pytest.UsageError(
                f"--flow-seed must be an integer or 'last', got {value!r}"
            ) from None
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if workerinput is None and cache is not None:
        cache.set(CACHE_KEY, seed)
    return seed


def _last_seed(config: pytest.Config) -> int:
    cache = getattr(config, "cache", None)
    cached = cache.get(CACHE_KEY, None) if cache is not None else None
    if not isinstance(cached, int):
        raise pytest.UsageError(
            "--flow-seed=last reuses the previous session's seed from pytest's cache, and none "
            "is there (first run, cache cleared, or -p no:cacheprovider); run once without it"
        )
    return cached
