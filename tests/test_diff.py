"""Tests for estime.diff: JSON Pointer paths, JSON Patch round trips, display."""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from types import MappingProxyType
from typing import Any

import jsonpatch
import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estime.diff import Diff, diff, json_pointer, resolve, split_pointer

# ---------------------------------------------------------------------------------------------
# strategies

KEYS = st.one_of(
    st.sampled_from(["", "a", "b", "/", "~", "~0", "~1", "a/b", "0", "1", "-", "<b>"]),
    st.text(max_size=4),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 0.0, 1.0, -0.0, 2.5]),  # collide with booleans and each other
    st.floats(allow_nan=False),
    st.text(max_size=5),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A copy of value with random local edits (so that diffs are mostly deep, not root)."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(JSON)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            action = draw(st.integers(0, 5))
            if action == 0:
                continue  # remove
            out[k] = draw(mutated(v)) if action == 1 else copy.deepcopy(v)
        for k, v in draw(st.dictionaries(KEYS, JSON, max_size=2)).items():
            out.setdefault(k, v)
        return out
    if isinstance(value, list):
        items = [copy.deepcopy(v) for v in value]
        for _ in range(draw(st.integers(0, 3))):
            action = draw(st.integers(0, 2))
            if action == 0:
                items.insert(draw(st.integers(0, len(items))), draw(JSON))
            elif items and action == 1:
                del items[draw(st.integers(0, len(items) - 1))]
            elif items:
                i = draw(st.integers(0, len(items) - 1))
                items[i] = draw(mutated(items[i]))
        return items
    return copy.deepcopy(value) if choice < 6 else draw(SCALARS)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    before = draw(JSON)
    if draw(st.booleans()):
        return before, draw(mutated(before))
    return before, draw(JSON)


def canon(x: Any) -> Any:
    """A comparable form with JSON equality: bool is not a number, 1 == 1.0, tuple == list."""
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, (int, float)):
        return ("num", x)
    if isinstance(x, str):
        return ("str", x)
    if x is None:
        return ("null",)
    if isinstance(x, (dict, MappingProxyType)):
        return ("obj", {k: canon(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return ("arr", [canon(v) for v in x])
    raise TypeError(type(x))


def strict_text(x: Any) -> bytes:
    return orjson.dumps(x, option=orjson.OPT_SORT_KEYS)


def frozen(x: Any) -> Any:
    """x with every dict as MappingProxyType and every list as tuple."""
    if isinstance(x, dict):
        return MappingProxyType({k: frozen(v) for k, v in x.items()})
    if isinstance(x, list):
        return tuple(frozen(v) for v in x)
    return x


PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------
# properties


@PROPS
@given(pairs())
def test_json_patch_round_trips_through_jsonpatch(pair: tuple[Any, Any]) -> None:
    before, after = pair
    snapshot = copy.deepcopy(before)
    patch = diff(before, after).to_json_patch()
    result = jsonpatch.apply_patch(before, patch)
    assert canon(result) == canon(after)
    assert canon(before) == canon(snapshot)  # diff and patch never touch the input
    d = diff(before, after)
    assert bool(d) == (canon(before) != canon(after))  # empty exactly when JSON-equal
    assert len(d) == d.frame.height == len(patch)


@PROPS
@given(pairs())
def test_strict_numbers_round_trip_is_exact_json_text(pair: tuple[Any, Any]) -> None:
    before, after = pair
    patch = diff(before, after, strict_numbers=True).to_json_patch()
    assert strict_text(jsonpatch.apply_patch(before, patch)) == strict_text(after)


@PROPS
@given(JSON)
def test_diff_of_a_value_with_itself_is_empty(x: Any) -> None:
    assert not diff(x, x)
    assert len(diff(x, copy.deepcopy(x))) == 0
    assert diff(x, frozen(x)).frame.height == 0


@PROPS
@given(pairs())
def test_paths_resolve_step_by_step_and_in_after(pair: tuple[Any, Any]) -> None:
    """Each row's path and before value hold in the value as changed by the rows above it
    (JSON Patch semantics); add and replace paths resolve in ``after`` to the row's value."""
    before, after = pair
    d = diff(before, after)
    current = copy.deepcopy(before)
    for (path, op, b, a), step in zip(d.frame.iter_rows(), d.to_json_patch(), strict=True):
        assert path == step["path"] and op == step["op"]
        assert path == "" or path.startswith("/")
        assert jsonpatch.JsonPointer(path).parts == split_pointer(path)
        if op == "add":
            assert b is None
        else:
            assert orjson.loads(b) == orjson.loads(orjson.dumps(resolve(current, path)))
            assert resolve(current, path) == jsonpatch.JsonPointer(path).resolve(current)
        current = jsonpatch.apply_patch(current, [step])
        if op == "remove":
            assert a is None
        else:
            assert orjson.loads(a) == orjson.loads(orjson.dumps(resolve(current, path)))
            assert orjson.loads(a) == orjson.loads(orjson.dumps(resolve(after, path)))


@PROPS
@given(pairs())
def test_apply_agrees_with_jsonpatch(pair: tuple[Any, Any]) -> None:
    before, after = pair
    d = diff(before, after)
    result = d.apply(before)
    assert canon(result) == canon(after)
    assert strict_text(result) == strict_text(jsonpatch.apply_patch(before, d.to_json_patch()))


@PROPS
@given(pairs())
def test_read_only_inputs_give_the_same_diff(pair: tuple[Any, Any]) -> None:
    before, after = pair
    expected = diff(before, after).to_json_patch()
    assert diff(frozen(before), frozen(after)).to_json_patch() == expected


@PROPS
@given(st.lists(st.one_of(st.integers(), KEYS), max_size=6))
def test_json_pointer_round_trips(parts: list[Any]) -> None:
    pointer = json_pointer(parts)
    assert split_pointer(pointer) == [str(p) for p in parts]
    assert pointer == jsonpatch.JsonPointer.from_parts([str(p) for p in parts]).path


# ---------------------------------------------------------------------------------------------
# semantics


def rows(d: Diff) -> list[tuple[Any, ...]]:
    return d.frame.rows()


def test_bool_is_not_a_number() -> None:
    assert rows(diff({"a": True}, {"a": 1})) == [("/a", "replace", "true", "1")]
    assert rows(diff([0], [False])) == [("/0", "replace", "0", "false")]
    assert rows(diff(1.0, True)) == [("", "replace", "1.0", "true")]
    # hidden inside subtrees that Python's == calls equal
    assert rows(diff({"x": {"y": [1, True]}}, {"x": {"y": [True, True]}})) == [
        ("/x/y/0", "replace", "1", "true")
    ]


def test_numbers_compare_by_value_unless_strict() -> None:
    assert not diff({"n": 1, "m": [2]}, {"n": 1.0, "m": [2.0]})
    assert rows(diff({"n": 1, "m": [2]}, {"n": 1.0, "m": [2.0]}, strict_numbers=True)) == [
        ("/n", "replace", "1", "1.0"),
        ("/m/0", "replace", "2", "2.0"),
    ]
    assert not diff(0.0, -0.0)
    assert not diff({"x": math.nan}, {"x": float("nan")})
    assert not diff([math.nan], [float("nan")])
    assert not diff(math.nan, float("nan"))
    assert rows(diff({"x": math.nan}, {"x": 1})) == [("/x", "replace", "null", "1")]


def test_dict_key_order_does_not_matter() -> None:
    a = {"x": 1, "y": {"p": 1, "q": 2}}
    b = {"y": {"q": 2, "p": 1}, "x": 1}
    assert not diff(a, b)


def test_kind_changes_are_replaces() -> None:
    assert rows(diff({"a": {"b": 1}}, {"a": [1]})) == [("/a", "replace", '{"b":1}', "[1]")]
    assert rows(diff({"a": "1"}, {"a": 1})) == [("/a", "replace", '"1"', "1")]
    assert rows(diff({"a": None}, {"a": {}})) == [("/a", "replace", "null", "{}")]
    assert rows(diff([1], {"0": 1})) == [("", "replace", "[1]", '{"0":1}')]


def test_list_insert_and_remove_in_the_middle_are_single_rows() -> None:
    big = list(range(100))
    assert rows(diff(big, [*big[:40], 999, *big[40:]])) == [("/40", "add", None, "999")]
    assert rows(diff(big, big[:40] + big[41:])) == [("/40", "remove", "40", None)]
    assert rows(diff([1, 2], [0, 1, 2])) == [("/0", "add", None, "0")]


def test_list_removals_go_from_the_highest_index_down() -> None:
    d = diff({"l": [0, 1, 2, 3, 4]}, {"l": [0]})
    assert [r["path"] for r in d.to_json_patch()] == ["/l/4", "/l/3", "/l/2", "/l/1"]
    assert {r["op"] for r in d.to_json_patch()} == {"remove"}


def test_appends_use_indices_from_the_end_up() -> None:
    d = diff([1], [1, 2, 3])
    assert d.to_json_patch() == [
        {"op": "add", "path": "/1", "value": 2},
        {"op": "add", "path": "/2", "value": 3},
    ]
    assert jsonpatch.apply_patch([1], d.to_json_patch()) == [1, 2, 3]


def test_nested_change_and_structural_change_in_one_list() -> None:
    before = [{"id": 1, "v": 1}, {"id": 2}, {"id": 3}]
    after = [{"id": 1, "v": 2}]
    d = diff(before, after)
    assert rows(d) == [  # structure first, then changes inside kept elements
        ("/2", "remove", '{"id":3}', None),
        ("/1", "remove", '{"id":2}', None),
        ("/0/v", "replace", "1", "2"),
    ]
    assert jsonpatch.apply_patch(before, d.to_json_patch()) == after


def test_lists_are_aligned_on_equal_elements() -> None:
    big = [{"n": i} for i in range(1000)]
    queue = diff(big, [*big[1:], {"n": 1000}])  # dequeue at the front, enqueue at the back
    assert rows(queue) == [("/0", "remove", '{"n":0}', None), ("/999", "add", None, '{"n":1000}')]
    far = [*big[:10], {"new": True}, *big[10:500], *big[501:]]
    assert rows(diff(big, far)) == [
        ("/500", "remove", '{"n":500}', None),
        ("/10", "add", None, '{"new":true}'),
    ]
    # pairing by position when aligning would need more rows
    assert len(diff(list(range(100)), list(range(100))[::-1])) == 100
    assert rows(diff([1, 2, 3, 1, 2, 3], [3, 1, 2, 3, 1, 2])) == [
        ("/5", "remove", "3", None),
        ("/0", "add", None, "3"),
    ]
    short = [i % 3 for i in range(150)]
    assert len(diff(short, [9, *short[:-1]])) == 2
    repetitive = [i % 3 for i in range(3000)]  # long, few distinct values: paired by position
    assert len(diff(repetitive, [9, *repetitive[:-1]])) == 3000
    moved = diff([1, 2, 3, 4, 5], [1, 3, 4, 5, 2])
    assert rows(moved) == [("/1", "remove", "2", None), ("/4", "add", None, "2")]
    # elements between equal ones are paired by position; their nested rows use after's index
    before = [{"k": 0}, {"k": 1}, {"k": 2, "v": 1}, {"k": 3}]
    d = diff(before, [{"k": 1}, {"k": 2, "v": 2}, {"k": 3}, {"k": 4}])
    assert rows(d) == [
        ("/0", "remove", '{"k":0}', None),
        ("/3", "add", None, '{"k":4}'),
        ("/1/v", "replace", "1", "2"),
    ]


def test_alignment_hints_are_checked() -> None:
    # NaN and None encode alike; the pair is diffed, not taken as equal
    d = diff([{"x": math.nan}, 1, 2], [{"x": None}, 1, 2, 3])
    assert rows(d) == [("/3", "add", None, "3"), ("/0/x", "replace", "null", "null")]
    assert d.to_json_patch()[1] == {"op": "replace", "path": "/0/x", "value": None}
    # 1 and 1.0 align as equal numbers, True does not
    assert rows(diff([5, 1, 2, 3, 6], [7, 1.0, 2, 3, 8, 9])) == [
        ("/5", "add", None, "9"),
        ("/0", "replace", "5", "7"),
        ("/4", "replace", "6", "8"),
    ]
    assert rows(diff([5, 1, 2, 6], [7, True, 2, 8])) == [
        ("/0", "replace", "5", "7"),
        ("/1", "replace", "1", "true"),
        ("/3", "replace", "6", "8"),
    ]


def test_escaped_paths() -> None:
    d = diff({"a/b": {"~": 1}}, {"a/b": {"~": 2}, "": 0})
    assert [r[0] for r in rows(d)] == ["/a~1b/~0", "/"]
    assert jsonpatch.apply_patch({"a/b": {"~": 1}}, d.to_json_patch()) == {
        "a/b": {"~": 2},
        "": 0,
    }


def test_root_changes() -> None:
    assert rows(diff(1, "x")) == [("", "replace", "1", '"x"')]
    assert diff(1, 2).to_json_patch() == [{"op": "replace", "path": "", "value": 2}]
    assert jsonpatch.apply_patch({"a": 1}, diff({"a": 1}, [1]).to_json_patch()) == [1]


def test_read_only_mappings_and_tuples() -> None:
    before = MappingProxyType({"t": (1, 2), "m": MappingProxyType({"k": "v"})})
    after = {"t": [1, 2, 3], "m": {"k": "w"}}
    d = diff(before, after)
    assert rows(d) == [("/t/2", "add", None, "3"), ("/m/k", "replace", '"v"', '"w"')]
    assert d.apply(before) == after
    assert not diff(before, {"t": [1, 2], "m": {"k": "v"}})


def test_non_json_values_are_compared_with_eq_and_shown_as_text() -> None:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = diff({"at": t0, "s": {1, 2}, "big": 2**70}, {"at": t0, "s": {3}, "big": 2**70 + 1})
    assert rows(d) == [
        ("/s", "replace", "[1,2]", "[3]"),
        ("/big", "replace", str(2**70), str(2**70 + 1)),
    ]
    d2 = diff({"at": t0}, {"at": t0 + dt.timedelta(seconds=1)})
    assert rows(d2) == [
        ("/at", "replace", '"2024-01-01T00:00:00+00:00"', '"2024-01-01T00:00:01+00:00"')
    ]


def test_non_string_keys_are_addressed_by_their_text() -> None:
    d = diff({1: "a"}, {1: "b"})
    assert rows(d) == [("/1", "replace", '"a"', '"b"')]
    assert d.apply({1: "a"}) == {1: "b"}
    assert resolve({1: "a"}, "/1") == "a"


def test_many_accounts_few_changes() -> None:
    before = {
        f"acct-{i:05d}": {"balance": i * 10, "open": True, "h": [i, i + 1]} for i in range(10_000)
    }
    after = copy.deepcopy(before)
    after["acct-00007"]["balance"] += 5
    after["acct-04000"]["h"].append(1)
    del after["acct-09999"]
    after["acct-00001"]["open"] = 1  # == True in Python, a change in JSON
    after["acct-10000"] = {}
    assert rows(diff(before, after)) == [  # in before's key order, then additions
        ("/acct-00001/open", "replace", "true", "1"),
        ("/acct-00007/balance", "replace", "70", "75"),
        ("/acct-04000/h/2", "add", None, "1"),
        ("/acct-09999", "remove", '{"balance":99990,"open":true,"h":[9999,10000]}', None),
        ("/acct-10000", "add", None, "{}"),
    ]


# ---------------------------------------------------------------------------------------------
# the Diff object


def test_frame_schema_also_when_empty() -> None:
    schema = {"path": pl.String, "op": pl.String, "before": pl.String, "after": pl.String}
    assert dict(diff({}, {}).frame.schema) == schema
    assert diff({}, {}).frame.height == 0
    assert dict(diff({}, {"a": 1}).frame.schema) == schema


def test_summary_counts() -> None:
    d = diff({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 20, "d": 4})
    assert d.summary() == "3 changes: 1 added, 1 removed, 1 replaced"
    assert diff({"a": 1}, {}).summary() == "1 change: 1 removed"
    assert diff([], [1, 2]).summary() == "2 changes: 2 added"
    assert diff(0, 0).summary() == "no changes"


def test_diff_does_not_change_when_the_states_are_mutated() -> None:
    before = {"a": {"x": [1]}}
    after = {"a": {"x": [1, 2]}, "b": {"y": 1}, "t": ([1], dt.date(2024, 1, 1))}
    d = diff(before, after)
    expected = d.to_json_patch()
    assert expected[-1]["value"] == [[1], dt.date(2024, 1, 1)]  # copied by hand, not via JSON
    after["b"]["y"] = 99
    after["a"]["x"].append(3)
    after["t"][0].append(2)
    d.to_json_patch()[1]["value"]["y"] = 100  # the patch is the caller's own copy
    assert d.to_json_patch() == expected
    assert d.frame["after"].to_list() == ["2", '{"y":1}', '[[1],"2024-01-01"]']


def test_diff_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError, match=r"estime\.diff"):
        Diff()


def test_apply_does_not_modify_its_argument_and_reports_a_wrong_shape() -> None:
    value = {"a": [1, 2, 3]}
    d = diff(value, {"a": [1, 3]})
    assert d.apply(value) == {"a": [1, 3]}
    assert value == {"a": [1, 2, 3]}
    with pytest.raises(ValueError, match=r"remove '/a/1'.*out of range.*shape"):
        d.apply({"a": [1]})
    with pytest.raises(ValueError, match=r"replace '/x'.*no member 'x'"):
        diff({"x": 1}, {"x": 2}).apply({})


def test_html_escapes_values_and_paths() -> None:
    d = diff({"<k>": "<script>alert(1)</script>"}, {"<k>": "a & b", "q": '"'})
    out = d._repr_html_()
    assert "<script>" not in out and "<k>" not in out
    assert out.count("&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;") == 1
    assert "/&lt;k&gt;" in out
    assert "&quot;a &amp; b&quot;" in out
    assert "3 changes" not in out and "2 changes: 1 added, 1 replaced" in out


def test_html_is_bounded_and_marks_the_root() -> None:
    d = diff({}, {f"k{i}": i for i in range(1000)})
    out = d._repr_html_()
    assert out.count("<tr") == 201  # header + 200 rows
    assert "… 800 more" in out
    long = diff("x" * 10_000, "y")._repr_html_()
    assert len(long) < 3_000 and "(root)" in long
    assert "no changes" in diff(1, 1)._repr_html_()


def test_html_colours_rows_by_op() -> None:
    out = diff({"a": 1, "b": 1}, {"a": 2, "c": 1})._repr_html_()
    colours = re.findall(r'<tr style="background:(#[0-9a-f]{6})', out)
    assert len(set(colours)) == 3


def test_repr_is_bounded() -> None:
    d = diff(list(range(50)), [])
    text = repr(d)
    assert text.startswith("Diff(50 changes: 50 removed)")
    assert text.splitlines()[1] == "  - /49: 49"
    assert text.splitlines()[-1] == "  … 38 more"
    assert repr(diff(1, 1)) == "Diff(no changes)"


# ---------------------------------------------------------------------------------------------
# pointers


def test_resolve_errors_name_the_pointer() -> None:
    doc = {"a": [1, {"b": 2}]}
    with pytest.raises(KeyError, match=r"'/a/1/c': no member 'c'"):
        resolve(doc, "/a/1/c")
    with pytest.raises(KeyError, match="out of range"):
        resolve(doc, "/a/2")
    with pytest.raises(KeyError, match="not an array index"):
        resolve(doc, "/a/01")
    with pytest.raises(KeyError, match="not an array index"):
        resolve(doc, "/a/-")
    with pytest.raises(KeyError, match="no members"):
        resolve(doc, "/a/0/x")
    with pytest.raises(ValueError, match="start with '/'"):
        resolve(doc, "a")


def test_split_pointer_unescapes_in_the_right_order() -> None:
    assert split_pointer("/~01") == ["~1"]
    assert split_pointer("/") == [""]
    assert json_pointer(["~1"]) == "/~01"
