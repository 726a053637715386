"""compare(): alignment rules, first divergence, final diff, track, chart, N-way table."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estime as es
from estime.compare import Comparison, ComparisonTable, align, compare
from estime.log import EventLog


def balances() -> es.Projection:
    p = es.Projection("balances", initial=dict)

    @p.on("Deposited")
    def deposited(state, e):
        state[e.stream] = state.get(e.stream, 0) + e.data["amount"]

    return p


def make_log(n: int, streams=("a", "b"), amount=None) -> EventLog:
    return EventLog.from_records([
        {"stream": streams[i % len(streams)], "type": "Deposited",
         "data": {"amount": amount if amount is not None else i + 1}} for i in range(n)])


def seqs(c: Comparison) -> list[tuple[int | None, int | None]]:
    return list(c.pairs.iter_rows())


# ----------------------------------------------------------------------------- alignment


def test_branch_and_parent_pair_by_parent_seq():
    log = make_log(6)
    b = log.fork(2).drop(3).insert(4, [{"type": "Noise"}]).replace(5, data={"amount": 0})
    c = compare(balances(), log, b)
    assert c.prefix == 2 and c.rule == "lineage"
    # parent 3 has no partner, the inserted event (branch 4) none either
    assert seqs(c) == [(3, None), (4, 3), (None, 4), (5, 5), (6, 6)]
    # reversed arguments give the mirror image
    assert seqs(compare(balances(), b, log)) == [(None, 3), (3, 4), (4, None), (5, 5), (6, 6)]
    # the branch's log as a plain EventLog is recognised by its parent_seq column
    plain = compare(balances(), log, b.log)
    assert plain.rule == "lineage" and seqs(plain) == seqs(c)
    assert compare(balances(), log, make_log(6, streams=("q",))).rule == "position"


def test_siblings_and_grandchildren_pair_through_the_common_log():
    log = make_log(8)
    x = log.fork(2).drop(4)
    y = log.fork(3).drop(6)
    c = compare(balances(), x, y)
    assert c.rule == "lineage" and c.prefix == 3
    # by parent seq: 4 only in y, 5 in both (x 4, y 5), 6 only in x, then 7 and 8
    assert seqs(c) == [(None, 4), (4, 5), (5, None), (6, 6), (7, 7)]
    grand = x.fork(5).drop(6)  # drops x's 6 = parent's 7
    g = compare(balances(), log, grand)
    assert seqs(g) == [(4, None), (5, 4), (6, 5), (7, None), (8, 6)]


def test_inserted_events_at_the_same_place_pair_with_each_other():
    log = make_log(4)
    x = log.fork(2).insert(3, [{"type": "Deposited", "data": {"amount": 1}}])
    y = log.fork(2).insert(3, [{"type": "Deposited", "data": {"amount": 2}},
                               {"type": "Deposited", "data": {"amount": 3}}])
    c = compare(balances(), x, y)
    assert c.prefix == 3
    assert seqs(c) == [(4, 4), (None, 5), (5, 6)]  # x's insert pairs with y's first


def test_unrelated_logs_pair_by_position_after_the_common_prefix():
    a = make_log(5)
    other = {"seq": 4, "stream": "z", "version": 1, "type": "Deposited",
             "data": {"amount": 1}, "event_id": "z1", "schema_version": 1}
    b = EventLog.from_records([*a.to_records()[:3], other])
    p, pairs, rule = align(a, b)
    assert (p, rule) == (3, "position")
    assert pairs.rows() == [(3, 3), (4, None)]
    c = compare(balances(), a, b)
    assert seqs(c) == [(4, 4), (5, None)]
    assert c.fork_seq == 3


# ----------------------------------------------------------------------------- divergence


def test_first_divergence_cases():
    log = make_log(6)
    p = balances()
    drop = compare(p, log, log.fork(2).drop(3)).first_divergence
    assert (drop[0].seq, drop[1]) == (3, None)
    ins = compare(p, log, log.fork(2).insert(2, [{"type": "Deposited", "data": {"amount": 9}}]))
    assert ins.first_divergence[0] is None and ins.first_divergence[1].seq == 3
    rep = compare(p, log, log.fork(3).replace(5, data={"amount": 50})).first_divergence
    assert (rep[0].seq, rep[1].seq, rep[1].data["amount"]) == (5, 5, 50)
    assert compare(p, log, log.fork(2)).first_divergence is None
    # an edit the projection ignores: no divergence even though every later seq moved
    noise = log.fork(2).insert(2, [{"type": "Noise"}])
    c = compare(p, log, noise)
    assert c.first_divergence is None and not c.final
    assert "the states never differ" in c.summary()


def test_divergence_after_an_irrelevant_first_edit():
    log = make_log(6)
    b = log.fork(1).insert(1, [{"type": "Noise"}]).replace(4, data={"amount": 40})
    fd = compare(balances(), log, b).first_divergence
    assert fd[0].seq == 4 and fd[1].seq == 5  # parent 4 is branch 5


def test_states_that_differ_and_converge_again_are_caught():
    log = make_log(4)
    p = es.Projection("last", initial=dict)

    @p.on("Deposited")
    def last(state, e):
        state["last"] = e.data["amount"]

    b = log.fork(1).replace(2, data={"amount": 99})
    c = compare(p, log, b)
    assert c.first_divergence[0].seq == 2
    assert not c.final  # the last event sets the same value on both sides


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 20), st.data())
def test_property_first_divergence_is_the_first_step_with_different_states(n, data):
    log = make_log(n, amount=1)
    at = data.draw(st.integers(0, n - 1))
    s = data.draw(st.integers(at + 1, n))
    b = log.fork(at).drop(s)
    c = compare(balances(), log, b)
    ea, eb = c.first_divergence
    assert ea.seq == s and eb is None
    t = c.track(lambda st_: st_.get(log.event(s).stream, 0))
    differs = t.filter(pl.col("a") != pl.col("b"))
    assert differs["seq"][0] == s


def test_final_and_track():
    log = make_log(4)
    b = log.fork(1).drop(2)
    c = compare(balances(), log, b, names=["real", "what-if"])
    assert c.final.frame.rows() == [("/b", "replace", "6", "4")]
    t = c.track(lambda s: s.get("b"))
    assert t.columns == ["seq", "a", "b", "seq_b"]
    assert t.rows() == [(1, None, None, 1), (2, 2, None, None), (3, 2, None, 2),
                        (4, 6, 4, 3)]


def test_chart_layers_and_downsampling():
    import altair as alt

    log = make_log(12_000, amount=1)
    b = log.fork(9_000).drop(9_001)
    c = compare(balances(), log, b)
    ch = c.chart(lambda s: s.get("a", 0))
    assert isinstance(ch, alt.LayerChart) and len(ch.layer) == 2
    spec = ch.to_dict()
    data = spec["datasets"]
    sizes = sorted(len(v) for v in data.values())
    assert sizes[0] == 1  # the fork-point rule
    assert sizes[-1] <= 5_000  # downsampled from 24,000 points
    rule = next(v for v in data.values() if len(v) == 1)[0]
    assert rule["x"] == 9_000


def test_repr_html_escapes_names():
    log = make_log(3)
    b = log.fork(1, name="<script>alert(1)</script>").drop(2)
    c = compare(balances(), log, b)
    out = c._repr_html_()
    assert "<script>" not in out and "&lt;script&gt;" in out
    t = compare(balances(), log, b, log.fork(2))
    assert "<script>" not in t._repr_html_()


# ----------------------------------------------------------------------------- N-way


def test_n_way_table():
    log = make_log(6)
    p = balances()
    t = compare(p, log, log.fork(2, name="drop3").drop(3), log.fork(4, name="same"),
                log.fork(0, name="bigger").replace(1, data={"amount": 100}),
                outcome=lambda s: s.get("a", 0) > 50)
    assert isinstance(t, ComparisonTable) and len(t) == 4
    f = t.frame
    assert f["name"].to_list() == ["log", "drop3", "same", "bigger"]
    assert f["events"].to_list() == [6, 5, 6, 6]
    assert f["fork_at"].to_list() == [None, 2, 4, 0]
    assert f["divergence_seq"].to_list() == [None, None, None, 1]
    assert f["divergence_base_seq"].to_list() == [None, 3, None, 1]
    assert f["changes"].to_list() == [0, 1, 0, 1]
    assert f["outcome"].to_list() == ["false", "false", "false", "true"]
    assert t.comparisons[0] is None and isinstance(t.comparisons[1], Comparison)
    with pytest.raises(ValueError, match="names has 2 entries for 3 logs"):
        compare(p, log, log, log, names=["x", "y"])
    with pytest.raises(TypeError, match="EventLogs or Branches"):
        compare(p, log, [1, 2])


def reference_divergence(p, la: EventLog, lb: EventLog, c: Comparison):
    """Brute force: fold both prefixes from scratch after every aligned step."""
    steps = [(i, i) for i in range(c.prefix)] + [
        (-1 if x is None else x, -1 if y is None else y) for x, y in c._pairs.rows()]
    da = db = 0
    for ia, ib in steps:
        da = ia + 1 if ia >= 0 else da
        db = ib + 1 if ib >= 0 else db
        if es.replay(la.head(da), p).final != es.replay(lb.head(db), p).final:
            return (None if ia < 0 else la.events(ia, ia + 1)[0],
                    None if ib < 0 else lb.events(ib, ib + 1)[0])
    return None


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 30), st.data())
def test_property_first_divergence_matches_brute_force(n, data):
    log = make_log(n)
    at = data.draw(st.integers(0, n - 1))
    b = log.fork(at)
    for _ in range(data.draw(st.integers(0, 4))):
        op = data.draw(st.sampled_from(["noise", "replace", "drop"]))
        s = data.draw(st.integers(at + 1, n))
        try:
            if op == "noise":
                b = b.insert(s, [{"type": "Noise"}])
            elif op == "replace":
                b = b.replace(s, data={"amount": data.draw(st.integers(0, 3))})
            else:
                b = b.drop(s)
        except es.BranchError:
            pass
    p = balances()
    c = compare(p, log, b)
    ref = reference_divergence(p, log, b.log, c)
    got = c.first_divergence
    if ref is None:
        assert got is None
    else:
        assert got is not None
        assert [e.seq if e else None for e in got] == [e.seq if e else None for e in ref]


def test_divergence_found_by_the_walk_after_many_equal_steps():
    log = make_log(40)
    b = log.fork(1).insert(1, [{"type": "Noise"}]).replace(30, data={"amount": 0})
    c = compare(balances(), log, b)
    assert int((~c._plan[3]).sum()) > 20  # every step after the insert differs in seq
    ea, eb = c.first_divergence
    assert ea.seq == 30 and eb.seq == 31
    assert compare(balances(), log, log.fork(1).insert(1, [{"type": "Noise"}])
                   ).first_divergence is None
