"""Task arguments: futures found, replaced by refs, and resolved to results."""

from __future__ import annotations

from collections import namedtuple

from hypothesis import given
from hypothesis import strategies as st

from flowcore import task
from flowcore.annotations import allow_failure, quote
from flowcore.clock import real_clock
from flowcore.futures import TaskFuture
from flowcore.parameters import (
    _REF_KINDS,
    UpstreamRef,
    _Extraction,
    _future_kinds,
    _Substitution,
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


# --- the flat-tuple path against the full walk -------------------------------------

_POOL = [_future(f"p{index}") for index in range(3)]
_plain = st.one_of(st.integers(), st.text(max_size=3), st.floats(), st.none(), st.booleans())
_item = st.one_of(
    _plain,
    st.sampled_from(_POOL),
    st.sampled_from(_POOL).map(allow_failure),
    st.sampled_from(_POOL).map(lambda future: [future]),
    _plain.map(quote),
    st.sampled_from(["a", "b"]).map(UpstreamRef),
    st.sampled_from(["a", "b"]).map(lambda run_id: UpstreamRef(run_id, tolerate_failure=True)),
)


@given(st.lists(_item, max_size=6).map(tuple))
def test_argument_tuples_come_out_of_the_flat_path_as_out_of_the_full_walk(args):
    found: dict = {}
    tolerated: set = set()
    kinds = _future_kinds()
    walked_found: dict = {}
    walked_tolerated: set = set()
    walked = _Extraction(kinds, walked_found, walked_tolerated).walk(args)
    extracted = extract_upstream(args, found, tolerated)
    assert extracted == walked
    assert (extracted is args) == (walked is args)
    assert (list(found), tolerated) == (list(walked_found), walked_tolerated)

    states = {"a": Completed(0, data="A"), "b": Failed(0, exception=ValueError("b"))}
    results = [ref for ref in args if isinstance(ref, UpstreamRef)]
    if any(ref.run_id == "b" and not ref.tolerate_failure for ref in results):
        return  # a ref to a failed run that does not tolerate it never reaches resolve
    full = _Substitution(UpstreamRef, _REF_KINDS, _result_of(states)).walk(args)
    resolved = resolve(args, states)
    assert _same_items(resolved, full)
    assert (resolved is args) == (full is args)


def _result_of(states):
    def result(ref):
        state = states[ref.run_id]
        return state.result(raise_on_failure=False) if not state.is_completed() else state.data

    return result


def _same_items(left, right) -> bool:
    """Equal item by item, exceptions by identity (they do not compare equal)."""
    if type(left) is not type(right) or len(left) != len(right):
        return False
    return all(a is b or a == b for a, b in zip(left, right, strict=True))
