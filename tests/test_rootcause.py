"""Root cause: causes/effects, culprits (ddmin + leave-one-out), compensate."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estime as es
from estime.datasets import agent_failed, agent_fault, agent_projection, agent_run, bank
from estime.errors import EstimeError
from estime.log import EventLog
from estime.rootcause import Culprits, MissingCompensator, causes, compensate, culprits, effects

# ----------------------------------------------------------------------------- causality


def linked(pairs: list[tuple[str, str | None]]) -> EventLog:
    return EventLog.from_records([
        {"stream": "s", "type": "E", "event_id": eid,
         "meta": {} if cause is None else {"causation_id": cause}} for eid, cause in pairs])


def test_causes_and_effects_are_transitive():
    log = linked([("root", None), ("a", "root"), ("b", "a"), ("c", "a"), ("d", "c"),
                  ("x", None), ("y", "x")])
    anc = log.causes("d")
    assert anc.frame.select("event_id", "depth").rows() == [("root", 3), ("a", 2), ("c", 1)]
    eff = log.effects("a")
    assert eff.frame.select("event_id", "depth").rows() == [("b", 1), ("c", 1), ("d", 2)]
    assert log.effects("d").frame.height == 0 and log.causes("root").frame.height == 0
    # a seq or an Event works as well as an id
    assert causes(log, 5).frame["event_id"].to_list() == ["root", "a", "c"]
    assert effects(log, log.event(6)).frame["event_id"].to_list() == ["y"]
    assert isinstance(anc, EventLog) and anc.frame.columns[-1] == "depth"


def test_cycles_and_dangling_ids():
    log = linked([("a", "c"), ("b", "a"), ("c", "b"), ("d", "command-17"), ("e", "d")])
    assert sorted(log.causes("a").frame["event_id"].to_list()) == ["b", "c"]
    assert sorted(log.effects("a").frame["event_id"].to_list()) == ["b", "c"]
    assert log.causes("e").frame["event_id"].to_list() == ["d"]  # the chain ends at a command
    selfish = linked([("a", "a"), ("b", "a")])
    assert selfish.causes("a").frame.height == 0
    assert selfish.effects("a").frame["event_id"].to_list() == ["b"]
    with pytest.raises(KeyError, match="no event with event_id 'zzz'"):
        log.causes("zzz")
    with pytest.raises(KeyError, match="no event with seq 99"):
        log.effects(99)


def test_causes_on_the_bank_transfers():
    log = bank(accounts=10, events=300)
    received = log.frame.filter(pl.col("type") == "TransferReceived").row(0, named=True)
    anc = log.causes(received["event_id"])
    assert anc.frame["type"].to_list() == ["TransferSent"]  # then a command id: dangling
    assert log.effects(anc.frame["event_id"][0]).frame["event_id"].to_list() == [
        received["event_id"]]


# ----------------------------------------------------------------------------- culprits


def flag_projection() -> es.Projection:
    p = es.Projection("flags", initial=dict)

    @p.on("Set")
    def set_(state, e):
        state[e.data["flag"]] = True

    @p.on("Clear")
    def clear(state, e):
        state.pop(e.data["flag"], None)

    @p.on("Count")
    def count(state, e):
        state["n"] = state.get("n", 0) + 1

    return p


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 60), st.data())
def test_property_culprits_finds_the_planted_event(n, data):
    recs = [{"stream": f"s{i % 3}", "type": "Count"} for i in range(n)]
    where = data.draw(st.integers(0, n - 1))
    recs[where] = {"stream": "x", "type": "Set", "data": {"flag": "poison"}}
    log = EventLog.from_records(recs)
    c = culprits(log, flag_projection(), lambda s: s.get("poison", False))
    assert c.found and [e.seq for e in c] == [where + 1]
    assert c.baseline is True and c.flipped is False
    assert c.replays <= 256 and c.unresolved == 0


def test_culprits_redundant_causes_need_both():
    recs = [{"stream": "s", "type": "Count"} for _ in range(30)]
    recs[4] = {"stream": "s", "type": "Set", "data": {"flag": "f"}}
    recs[20] = {"stream": "s", "type": "Set", "data": {"flag": "f"}}
    log = EventLog.from_records(recs)
    c = culprits(log, flag_projection(), lambda s: s.get("f", False))
    assert c.seqs == [5, 21]
    # each alone flips nothing: the ranking says so
    rank = c.ranking.filter(pl.col("culprit"))
    assert rank["flips"].to_list() == [False, False]


def test_culprits_when_removing_everything_does_not_flip():
    # the outcome needs a Clear to be absent but a Set present: removing all keeps it False
    recs = [{"stream": "s", "type": "Count"} for _ in range(40)]
    recs[3] = {"stream": "s", "type": "Set", "data": {"flag": "f"}}
    recs[30] = {"stream": "s", "type": "Clear", "data": {"flag": "f"}}
    log = EventLog.from_records(recs)
    c = culprits(log, flag_projection(), lambda s: s.get("f", False))
    assert c.seqs == [31] and c.baseline is False and c.flipped is True


def test_culprits_on_the_agent_run_finds_the_stale_tool_result():
    for log in (agent_run(), agent_run(steps=60, seed=3)):
        fault = agent_fault(log)
        failed = log.until(fault["rollback_seq"] - 1)
        c = culprits(failed, agent_projection(), agent_failed)
        assert isinstance(c, Culprits)
        assert [e.event_id for e in c] == [fault["stale_event_id"]]
        assert c.events[0].data["cached"] is True
        top = c.ranking.row(0, named=True)
        assert top["event_id"] == fault["stale_event_id"] and top["flips"] and top["culprit"]
        assert c.ranking.filter(pl.col("flips")).height == 1  # the only single flip
        assert c.replays <= 256 and not c.exhausted


def test_unresolved_removals_are_counted_never_flips():
    p = es.Projection("strict", initial=dict)

    @p.on("Open")
    def open_(state, e):
        state[e.stream] = 0

    @p.on("Add")
    def add(state, e):
        state[e.stream] += 1  # KeyError when the Open was removed

    log = EventLog.from_records([{"stream": "a", "type": "Open"}]
                                + [{"stream": "a", "type": "Add"}] * 5)
    c = culprits(log, p, lambda s: s.get("a", 0) >= 5)
    assert c.unresolved >= 1
    assert 1 not in c.seqs  # removing the Open raised: unresolved, not a flip
    assert c.found and len(c.seqs) == 1 and c.seqs[0] > 1
    row = c.ranking.filter(pl.col("seq") == 1).row(0, named=True)
    assert row["unresolved"] and not row["flips"] and row["changes"] is None


def test_culprits_budget_candidates_and_no_answer():
    recs = [{"stream": "s", "type": "Count"} for _ in range(200)]
    recs[150] = {"stream": "s", "type": "Set", "data": {"flag": "f"}}
    log = EventLog.from_records(recs)
    p = flag_projection()
    small = culprits(log, p, lambda s: s.get("f", False), max_replays=3, rank=0)
    assert small.replays <= 3 and small.exhausted
    only_counts = culprits(log, p, lambda s: s.get("f", False), types="Count")
    assert not only_counts.found and len(only_counts) == 0 and only_counts.exhausted
    assert only_counts.candidates == 199 and only_counts.replays == 256
    assert "found that flips the outcome (True) within max_replays" in only_counts.summary()
    short = log.filter(pl.col("seq") >= 140)
    none = culprits(short, p, lambda s: s.get("f", False), types="Count")
    assert not none.found and not none.exhausted and none.ranking.height == 60
    assert "no set of the 60 candidate events flips" in none.summary()
    by_list = culprits(log, p, lambda s: s.get("f", False), candidates=[151, 1, 2])
    assert by_list.seqs == [151] and by_list.candidates == 3
    by_expr = culprits(log, p, lambda s: s.get("f", False), candidates=pl.col("seq") > 100)
    assert by_expr.seqs == [151]
    # events no handler folds are not candidates by default
    noisy = EventLog.from_records([*recs, *[{"stream": "s", "type": "Noise"}] * 50])
    assert culprits(noisy, p, lambda s: s.get("f", False)).candidates == 200
    with pytest.raises(ValueError, match="max_replays"):
        culprits(log, p, bool, max_replays=0)


def test_culprits_of_a_branch_and_display():
    recs = [{"stream": "s", "type": "Count"} for _ in range(20)]
    log = EventLog.from_records(recs)
    b = log.fork(5, name="what-if").insert(10, [{"type": "Set", "data": {"flag": "<b>"}}])
    c = culprits(b, flag_projection(), lambda s: s.get("<b>", False))
    assert c.seqs == [11] and c.events[0].type == "Set"
    html = c._repr_html_()
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert "removing 1 event flips the outcome from True to False" in repr(c)


# ----------------------------------------------------------------------------- compensate


def test_compensate_builds_linked_events():
    log = bank(accounts=5, events=80)
    dep = log.frame.filter(pl.col("type") == "MoneyDeposited").row(0, named=True)

    def refund(e):
        return {"type": "MoneyWithdrawn", "data": {"amount": e.data["amount"],
                                                   "reason": "compensation"}}

    out = compensate(log, dep["seq"], {"MoneyDeposited": refund})
    assert len(out) == 1
    c = out[0]
    assert c["stream"] == dep["stream"] and c["type"] == "MoneyWithdrawn"
    assert c["meta"]["causation_id"] == dep["event_id"]
    assert c["meta"]["correlation_id"] == log.event(dep["seq"]).meta["correlation_id"]
    assert compensate(log, dep["seq"], {"MoneyDeposited": refund}) == out  # deterministic
    # ready to append to a branch, and linked for effects()
    b = log.fork(len(log)).append(out)
    assert b.log.effects(dep["event_id"]).frame["event_id"].to_list() == [c["event_id"]]
    p = es.Projection("bal", initial=dict)

    @p.on("MoneyDeposited", "MoneyWithdrawn")
    def bal(state, e):
        sign = 1 if e.type == "MoneyDeposited" else -1
        state[e.stream] = state.get(e.stream, 0) + sign * e.data["amount"]

    before = es.replay(log, p).final[dep["stream"]]
    assert es.replay(b.log, p).final[dep["stream"]] == before - dep_amount(dep)


def dep_amount(row) -> int:
    import orjson

    return orjson.loads(row["data"])["amount"]


def test_compensate_several_none_and_errors():
    log = EventLog.from_records([{"stream": "o", "type": "Placed", "data": {"n": 2},
                                  "meta": {"causation_id": "elsewhere"}}])
    two = compensate(log, 1, {"Placed": lambda e: [{"type": "Cancelled"},
                                                   {"type": "Refunded", "stream": "pay"}]})
    assert [e["type"] for e in two] == ["Cancelled", "Refunded"]
    assert two[1]["stream"] == "pay" and len({e["event_id"] for e in two}) == 2
    assert all(e["meta"]["causation_id"] == log.event(1).event_id for e in two)
    assert compensate(log, 1, {"Placed": lambda e: None}) == []
    with pytest.raises(MissingCompensator, match=r"no compensator for type 'Placed' \(seq 1"):
        compensate(log, 1, {"Other": lambda e: []})
    with pytest.raises(EstimeError, match="return a mapping"):
        compensate(log, 1, {"Placed": lambda e: ["nope"]})
