"""Task arguments: futures found, replaced by refs, and resolved to results."""

from __future__ import annotations

from collections import namedtuple

from flowcore import task
from flowcore.clock import real_clock
from flowcore.futures import TaskFuture
from flowcore.parameters import (
    UpstreamRef,
    extract_upstream,
    resolve,
    resolve_to_states,
    short_reprs,
)
from flowcore.states import Completed, Failed
from flowcore.task_engine import TaskRun

Point = namedtuple("Point", ["x", "y"])


@task
def noop():
    return None


def _future(run_id: str) -> TaskFuture:
    return TaskFuture(TaskRun(noop, (), {}, (), run_id, f"noop-{run_id}", None, real_clock))


def test_futures_in_nested_containers_become_refs():
    a, b = _future("a"), _future("b")
    found: dict = {}
    value = extract_upstream(([a, {"k": b}], Point(a, 1), {b}, frozenset(), "plain"), found)
    assert value == (
        [UpstreamRef("a"), {"k": UpstreamRef("b")}],
        Point(UpstreamRef("a"), 1),
        {UpstreamRef("b")},
        frozenset(),
        "plain",
    )
    assert list(found) == ["a", "b"]
    assert isinstance(value[1], Point)


def test_resolve_puts_results_in_place_of_refs():
    states = {"a": Completed(0, data=1), "b": Completed(0, data=2)}
    value = ([UpstreamRef("a")], {"k": (UpstreamRef("b"),)}, Point(UpstreamRef("a"), 0))
    assert resolve(value, states) == ([1], {"k": (2,)}, Point(1, 0))


def test_resolve_to_states_puts_states_in_place_of_refs():
    failed = Failed(0, exception=ValueError())
    assert resolve_to_states([UpstreamRef("a"), 3], {"a": failed}) == [failed, 3]


def test_values_without_futures_are_left_alone():
    value = {"a": [1, 2]}
    assert extract_upstream(value, {}) == value
    assert resolve(7, {}) == 7


def test_short_reprs_name_positions_and_keywords_and_survive_broken_reprs():
    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    pairs = short_reprs((1, "x" * 200), {"key": Broken()}, limit=20)
    assert pairs[0] == ("0", "1")
    assert pairs[1][1].endswith("...")
    assert len(pairs[1][1]) == 20
    assert pairs[2][0] == "key"
    assert pairs[2][1].startswith("<unreprable Bro")


def test_containers_without_futures_reach_the_task_as_the_same_objects():
    shared = {"count": 0, "rows": [[1], [2]]}
    args = (shared, [1, 2], {3})
    found: dict = {}
    assert extract_upstream(args, found) is args
    extracted = extract_upstream(([shared], {"k": shared}), found)
    assert extracted[0][0] is shared
    assert extracted[1]["k"] is shared
    assert found == {}


def test_only_the_containers_on_the_way_to_a_future_are_rebuilt():
    a = _future("a")
    untouched = {"deep": [1, 2]}
    value = extract_upstream(([a, untouched], untouched), {})
    assert value[0][0] == UpstreamRef("a")
    assert value[0][1] is untouched
    assert value[1] is untouched
    resolved = resolve(value, {"a": Completed(0, data=5)})
    assert resolved[0] == [5, untouched]
    assert resolved[0][1] is untouched
    assert resolved[1] is untouched


def test_self_referencing_collections_are_walked_without_recursion_errors():
    looped: list = [1]
    looped.append(looped)
    nested: dict = {"self": None}
    nested["self"] = nested
    assert extract_upstream((looped, nested), {}) == (looped, nested)
    a = _future("a")
    holder: list = [a]
    holder.append(holder)
    found: dict = {}
    value = extract_upstream(holder, found)
    assert value[0] == UpstreamRef("a")
    assert value[1] is holder  # the inner reference to itself is left as it is
    assert list(found) == ["a"]
