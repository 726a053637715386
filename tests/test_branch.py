"""What-if branches: edits, the branch log, checkpoint reuse, persistence, redecide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estime as es
from estime.branch import Branch
from estime.datasets import bank, bank_commands, bank_decider, bank_pivotal_deposit
from estime.decider import Decider
from estime.errors import BranchError, ProjectionError
from estime.log import EventLog
from estime.store import EventStore

# ----------------------------------------------------------------------------- fixtures


def balances() -> es.Projection:
    p = es.Projection("balances", initial=dict)

    @p.on("Deposited")
    def deposited(state, e):
        state[e.stream] = state.get(e.stream, 0) + e.data["amount"]

    @p.on("Withdrawn")
    def withdrawn(state, e):
        state[e.stream] = state.get(e.stream, 0) - e.data["amount"]

    return p


def seq_recorder() -> es.Projection:
    """A projection that sees every field, so equal states mean equal event streams."""
    p = es.Projection("recorder", initial=list)

    @p.on("*")
    def record(state, e):
        state.append([e.seq, e.stream, e.version, e.type, orjson.loads(
            orjson.dumps(dict(e.data))), e.event_id])

    return p


def make_log(n: int = 10, streams: tuple[str, ...] = ("a", "b")) -> EventLog:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return EventLog.from_records([
        {"stream": streams[i % len(streams)], "type": "Deposited" if i % 3 else "Withdrawn",
         "data": {"amount": i + 1}, "time": t0 + timedelta(seconds=i)}
        for i in range(n)])


def valid(log: EventLog) -> EventLog:
    """Re-validate a branch log from scratch (seq, versions, ids); raises if invalid."""
    return EventLog(log.frame)


# ----------------------------------------------------------------------------- the log


def test_fork_shares_prefix_and_renumbers_after_edits():
    log = make_log(6)
    b = log.fork(at=2, name="w").drop(4).insert(after=5, events=[
        {"type": "Deposited", "data": {"amount": 100}}])
    f = b.log.frame
    assert f.columns[-1] == "parent_seq" and f.columns[:9] == log.frame.columns
    assert f["seq"].to_list() == [1, 2, 3, 4, 5, 6]
    assert f["parent_seq"].to_list() == [1, 2, 3, 5, None, 6]
    assert f.head(2).drop("parent_seq").equals(log.frame.head(2))
    inserted = f.filter(pl.col("parent_seq").is_null()).row(0, named=True)
    assert inserted["stream"] == log.event(5).stream  # default: the stream it follows
    assert inserted["time"] == log.event(5).time
    valid(b.log)
    assert b.at == 2 and b.name == "w" and b.parent is log and b.parent_log is log
    assert len(b) == 6


def test_versions_shift_in_edited_streams_only():
    log = make_log(8)  # a: 1,3,5,7 ; b: 2,4,6,8
    b = log.fork(2).drop(3).insert(4, [{"stream": "b", "type": "Deposited",
                                        "data": {"amount": 1}}])
    f = b.log.frame
    a_versions = f.filter(pl.col("stream") == "a")["version"].to_list()
    b_versions = f.filter(pl.col("stream") == "b")["version"].to_list()
    assert a_versions == [1, 2, 3]  # seq 3 (version 2) dropped: 5 and 7 move down
    assert b_versions == [1, 2, 3, 4, 5]  # inserted after seq 4 (version 2)
    kept_b = f.filter((pl.col("stream") == "b") & pl.col("parent_seq").is_not_null())
    assert kept_b["event_id"].to_list() == log.frame.filter(
        pl.col("stream") == "b")["event_id"].to_list()  # unchanged events keep their ids
    valid(b.log)


def test_versions_keep_gaps_of_a_filtered_parent():
    log = make_log(9).filter(pl.col("seq") != 5)  # stream a: versions 1, 2, 4, 5 (3 gone)
    b = log.fork(3).insert(4, [{"stream": "a", "type": "Deposited", "data": {"amount": 1}}])
    a = b.log.frame.filter(pl.col("stream") == "a")
    assert a["version"].to_list() == [1, 2, 3, 5, 6]
    valid(b.log)


def test_replace_and_event_ids():
    log = make_log(5)
    same = log.fork(1).replace(3, data=dict(log.event(3).data))
    assert same.log.frame.drop("parent_seq").equals(log.frame)  # nothing changed
    b = log.fork(1).replace(3, type="Bonus", data={"amount": 99})
    row = b.log.frame.filter(pl.col("parent_seq") == 3).row(0, named=True)
    assert row["type"] == "Bonus" and orjson.loads(row["data"]) == {"amount": 99}
    assert row["event_id"] != log.event(3).event_id
    assert row["version"] == log.event(3).version and row["seq"] == 3
    # deterministic: the same edits give the same ids
    again = log.fork(1).replace(3, type="Bonus", data={"amount": 99})
    assert again.log.frame["event_id"].equals(b.log.frame["event_id"])
    # a second replace composes: type kept from the first, data from the second
    b2 = b.replace(3, data={"amount": 1})
    assert b2.log.event(3).type == "Bonus" and b2.log.event(3).data["amount"] == 1
    assert log.fork(1).replace(3, meta={"actor": "x"}).log.event(3).meta["actor"] == "x"


def test_inserted_ids_given_or_deterministic():
    log = make_log(4)
    b1 = log.fork(2).insert(3, [{"type": "X"}, {"type": "X"}])
    b2 = log.fork(2).insert(3, [{"type": "X"}, {"type": "X"}])
    ids1 = b1.log.frame.filter(pl.col("parent_seq").is_null())["event_id"].to_list()
    assert len(set(ids1)) == 2
    assert ids1 == b2.log.frame.filter(pl.col("parent_seq").is_null())["event_id"].to_list()
    given_id = log.fork(2).insert(2, [{"type": "X", "event_id": "mine"}])
    assert given_id.log.event(3).event_id == "mine"
    # dropping an event frees its id for an inserted copy
    e = log.event(4)
    moved = log.fork(2).drop(4).insert(2, [e])
    assert moved.log.event(3).event_id == e.event_id
    # an Event made without an event_id gets the deterministic one, like a mapping
    made = es.Event(seq=0, stream=log.event(3).stream, version=0, type="X")
    b3 = log.fork(2).insert(3, [made, {"type": "X"}])
    assert b3.log.frame.filter(pl.col("parent_seq").is_null())["event_id"].to_list() == ids1


def test_edits_are_immutable_and_listed():
    log = make_log(6)
    b0 = log.fork(2)
    b1 = b0.drop(3)
    b2 = b1.replace(4, data={"amount": 0})
    assert len(b0.log) == 6 and len(b1.log) == 5 and len(b0.edits) == 0
    assert b2.edits["op"].to_list() == ["drop", "replace"]
    assert b2.edits["seq"].to_list() == [3, 4]
    assert b1.edits.height == 1
    ins = b0.insert(2, [{"type": "A"}, {"type": "B"}])
    assert ins.edits["type"].to_list() == ["A", "B"] and ins.edits["edit"].to_list() == [0, 0]
    assert b0.drop(3, 4, 5).edits["seq"].to_list() == [3, 4, 5]


def test_inserts_after_the_same_seq_keep_their_order():
    log = make_log(4)
    b = log.fork(1).insert(2, [{"type": "A"}]).insert(2, [{"type": "B"}]).insert(1, [
        {"type": "C"}])
    assert b.log.frame["type"].to_list() == ["Withdrawn", "C", "Deposited", "A", "B",
                                             "Deposited", "Withdrawn"]


def test_truncate_and_append():
    log = make_log(6)
    t = log.fork(3).insert(4, [{"type": "X"}]).truncate()
    assert t.log.frame["seq"].to_list() == [1, 2, 3]
    a = t.append([{"type": "Deposited", "data": {"amount": 7}}])
    assert a.log.frame["seq"].to_list() == [1, 2, 3, 4]
    assert a.log.event(4).stream == log.event(6).stream  # default stream: the last event's
    a2 = log.fork(6).append([{"stream": "z", "type": "Deposited", "data": {"amount": 1}}])
    assert a2.log.event(7).version == 1 and a2.log.event(7).stream == "z"
    assert log.fork(4).append({"type": "Y"}).log.frame["type"].to_list()[-1] == "Y"
    valid(a.log)


def test_branch_of_branch():
    log = make_log(8)
    b = log.fork(2, name="b").drop(3)
    bb = b.fork(4, name="bb").drop(5)  # seq 5 of b.log (parent seq 6)
    assert bb.parent is b and bb.parent_log is b.log
    assert bb.log.frame["parent_seq"].to_list() == [1, 2, 3, 4, 6, 7]
    assert bb.log.frame["type"].to_list() == b.log.frame.filter(
        pl.col("seq") != 5)["type"].to_list()
    via_log = b.log.fork(4).drop(5)
    assert via_log.log.frame.equals(bb.log.frame)
    p = balances()
    assert bb.replay(p).final == es.replay(bb.log, p).final
    valid(bb.log)


def test_rollback_markers_after_the_fork_are_renumbered():
    recs = [{"stream": "a", "type": "Deposited", "data": {"amount": 1}} for _ in range(6)]
    recs.insert(5, {"stream": "$estime", "type": "estime.RolledBack",
                    "data": {"to": 4, "reason": "test"}})
    log = EventLog.from_records(recs)
    b = log.fork(1).drop(2)
    marker = b.log.frame.filter(pl.col("type") == "estime.RolledBack").row(0, named=True)
    assert orjson.loads(marker["data"])["to"] == 3  # parent seq 4 is branch seq 3
    p = balances()
    # back to branch seq 3 (parent seqs 1, 3, 4), then the deposit after the marker
    assert b.replay(p).final == {"a": 4}
    assert es.replay(log, p).final == {"a": 5}


# ----------------------------------------------------------------------------- errors


def test_branch_errors_name_the_seq_and_why():
    log = make_log(5)
    b = log.fork(2)
    cases = [
        (lambda: log.fork(-1), "cannot fork at seq -1"),
        (lambda: log.fork(9), "the log ends at seq 5"),
        (lambda: log.fork("x"), "fork point must be a seq"),
        (lambda: b.drop(2), "drop(2): seq 2 is at or before the fork point 2"),
        (lambda: b.drop(1), "fork(at=0)"),
        (lambda: b.drop(17), "drop(17): the parent has no event with seq 17"),
        (lambda: b.drop(3).drop(3), "drop(3): the event at seq 3 is already dropped"),
        (lambda: b.truncate().drop(4), "already dropped"),
        (lambda: b.replace(1, data={}), "replace(1): seq 1 is at or before the fork point"),
        (lambda: b.drop(4).replace(4, data={}), "replace(4): the event at seq 4 is dropped"),
        (lambda: b.replace(4, type=""), "type must be a non-empty str"),
        (lambda: b.insert(1, [{"type": "X"}]), "insert(after=1): seq 1 is before the fork"),
        (lambda: b.insert(9, [{"type": "X"}]), "insert(after=9): the parent has no event"),
        (lambda: b.insert(3, [{"data": {}}]), "event 1 needs a type"),
        (lambda: b.insert(3, [{"type": "X", "data": {1, 2}}]), "not JSON-compatible"),
        (lambda: b.insert(3, [{"type": "X", "meta": [1]}]), "meta must be a mapping"),
        (lambda: b.insert(3, [{"type": "X", "colour": 1}]), "unknown field(s) colour"),
        (lambda: b.insert(3, []), "no events given"),
        (lambda: b.insert(3, [{"type": "X", "event_id": log.event(4).event_id}]),
         "already used by the parent's event at seq 4"),
        (lambda: b.insert(3, [{"type": "X", "event_id": log.event(1).event_id}]),
         "at seq 1"),
        (lambda: b.insert(3, [{"type": "X", "event_id": "e"}, {"type": "Y", "event_id": "e"}]),
         "event_id 'e' is given twice"),
        (lambda: b.insert(3, [{"type": "X", "event_id": "e"}]).append(
            [{"type": "Y", "event_id": "e"}]), "already used by an event this branch added"),
        (lambda: b.insert(3, [{"type": "X", "time": "yesterday"}]), "is not a datetime"),
        (lambda: EventLog.from_records([]).fork(0).append([{"type": "X"}]), "needs a stream"),
    ]
    for make, message in cases:
        with pytest.raises(BranchError) as info:
            make()
        assert message in str(info.value), (message, str(info.value))


def test_parent_replay_must_match():
    log = make_log(6)
    p = balances()
    other = make_log(6, streams=("x",))
    with pytest.raises(ValueError, match="not a replay of this branch's parent"):
        log.fork(3).replay(p, parent_replay=es.replay(other, p))
    with pytest.raises(ValueError, match="another projection"):
        log.fork(3).replay(p, parent_replay=es.replay(log, balances()))


# ----------------------------------------------------------------------------- replay reuse


def counting(n_calls: list[int]) -> es.Projection:
    p = es.Projection("count", initial=dict)

    @p.on("*")
    def any_event(state, e):
        n_calls[0] += 1
        state["n"] = state.get("n", 0) + 1

    return p


def test_branch_replay_reuses_parent_checkpoints():
    log = make_log(5000)
    calls = [0]
    p = counting(calls)
    parent = es.replay(log, p, checkpoint_every=500)
    assert calls[0] == 5000
    calls[0] = 0
    b = log.fork(4500).drop(4600)
    rp = b.replay(p, parent_replay=parent)
    # only the events after the fork point are folded (the fork is on a checkpoint)
    assert calls[0] == 499
    assert rp._cps[0] is parent._cps[0] and rp.final == {"n": 4999}
    calls[0] = 0
    b2 = log.fork(4321).drop(4600)
    b2.replay(p, parent_replay=parent)
    assert calls[0] == (4321 - 4000) + (5000 - 4321 - 1)  # one interval + the tail
    # cached: the same replay object, no fold
    calls[0] = 0
    assert b2.replay(p, parent_replay=parent) is b2.replay(p)
    assert calls[0] == 0


def test_parent_replay_is_cached_on_the_log():
    log = make_log(300)
    calls = [0]
    p = counting(calls)
    log.fork(290).drop(295).replay(p)
    first = calls[0]
    calls[0] = 0
    log.fork(280).drop(285).replay(p)
    # the parent is folded once (plus at most a checkpoint interval to reach the fork point)
    assert 300 + 9 <= first <= 300 + 9 + 256
    assert calls[0] <= 256 + 15


# ----------------------------------------------------------------------------- properties


edit_ops = st.lists(st.tuples(st.sampled_from(["drop", "replace", "insert", "append",
                                               "truncate"]),
                              st.integers(0, 30), st.integers(0, 50)), max_size=8)


def apply_random(b: Branch, ops) -> Branch:
    seqs = b.parent_log.frame["seq"].to_list()
    for op, pick, amount in ops:
        after = [s for s in seqs if s > b.at]
        try:
            if op == "drop" and after:
                b = b.drop(after[pick % len(after)])
            elif op == "replace" and after:
                b = b.replace(after[pick % len(after)], data={"amount": amount})
            elif op == "insert":
                where = ([b.at, *after])[pick % (len(after) + 1)]
                b = b.insert(where, [{"stream": "abc"[amount % 3], "type": "Deposited",
                                      "data": {"amount": amount}}])
            elif op == "append":
                b = b.append([{"stream": "c", "type": "Withdrawn", "data": {"amount": amount}}])
            elif op == "truncate" and amount % 5 == 0:
                b = b.truncate()
        except BranchError as exc:
            assert "already dropped" in str(exc) or "is dropped" in str(exc)
    return b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 25), st.integers(0, 25), edit_ops)
def test_property_branch_replay_equals_replay_of_branch_log(n, at, ops):
    log = make_log(n)
    at = min(at, n)
    b = apply_random(log.fork(at), ops)
    valid(b.log)
    for p in (balances(), seq_recorder()):
        assert b.replay(p).final == es.replay(b.log, p).final
    # the persisted form rebuilds the same log
    assert Branch.from_dict(log, orjson.loads(orjson.dumps(b.to_dict()))).log == b.log


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 25), st.integers(0, 25))
def test_property_fork_without_edits_is_the_parent(n, at):
    log = make_log(n)
    b = log.fork(min(at, n))
    assert b.log.frame.drop("parent_seq").equals(log.frame)
    for p in (balances(), seq_recorder()):
        assert b.replay(p).final == es.replay(log, p).final


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 25), st.data())
def test_property_drop_then_reinsert_is_the_parent(n, data):
    log = make_log(n)
    at = data.draw(st.integers(0, n - 1))
    s = data.draw(st.integers(at + 1, n))
    e = log.event(s)
    b = log.fork(at).drop(s).insert(s - 1 if s - 1 >= at else at, [e])
    assert b.log.frame.drop("parent_seq").equals(log.frame)
    for p in (balances(), seq_recorder()):
        assert b.replay(p).final == es.replay(log, p).final


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 25), st.data())
def test_property_replacing_an_event_by_itself_changes_nothing(n, data):
    log = make_log(n)
    s = data.draw(st.integers(1, n))
    at = data.draw(st.integers(0, s - 1))
    e = log.event(s)
    b = log.fork(at).replace(s, type=e.type, data=dict(e.data), meta=dict(e.meta))
    assert b.log.frame.drop("parent_seq").equals(log.frame)
    assert b.replay(seq_recorder()).final == es.replay(log, seq_recorder()).final


# ----------------------------------------------------------------------------- persistence


def test_save_and_load_branches_survive_a_restart(tmp_path: Path):
    path = tmp_path / "s.db"
    log = make_log(12)
    with EventStore(path) as store:
        store.append_log(log)
        loaded = store.load()
        b = loaded.fork(5, name="what-if").drop(7).insert(8, [{"type": "Deposited",
                                                               "data": {"amount": 1000}}])
        bb = b.fork(9, name="deeper").replace(10, data={"amount": 0})
        assert store.branches().height == 0
        assert store.save_branch(bb) == "deeper"  # saves the parent first
        assert store.save_branch(b) == "what-if"  # same content: no-op
        store.append("a", [{"type": "Deposited", "data": {"amount": 5}}])  # later appends
    with EventStore(path) as store:
        saved = store.branches()
        assert sorted(saved["name"].to_list()) == ["deeper", "what-if"]
        assert saved.filter(pl.col("name") == "what-if")["edits"].to_list() == [2]
        again = store.load_branch("deeper")
        assert again.log == bb.log and again.parent.log == b.log
        assert again.name == "deeper" and again.parent.name == "what-if"
        p = balances()
        assert again.replay(p).final == bb.replay(p).final
        raw = store.conn.execute("SELECT parent, at, edits FROM branches WHERE name = ?",
                                 ("what-if",)).fetchone()
        assert orjson.loads(raw[0]) == {"kind": "store", "until": 12, "streams": None,
                                        "types": None}
        assert raw[1] == 5 and [e["op"] for e in orjson.loads(raw[2])] == ["drop", "insert"]
        assert len(store.load()) == 13


def test_save_branch_errors(tmp_path: Path):
    with EventStore(tmp_path / "s.db") as store:
        store.append_log(make_log(6))
        log = store.load()
        with pytest.raises(BranchError, match="unnamed branch"):
            store.save_branch(log.fork(2))
        store.save_branch(log.fork(2).drop(3), "x")
        with pytest.raises(BranchError, match="a different branch named 'x'"):
            store.save_branch(log.fork(2).drop(4), "x")
        store.save_branch(log.fork(2).drop(4), "x", overwrite=True)
        assert store.load_branch("x").log.frame["parent_seq"].to_list() == [1, 2, 3, 5, 6]
        with pytest.raises(BranchError, match=r"no branch named 'nope'.*saved: x"):
            store.load_branch("nope")
        with pytest.raises(BranchError, match="not a load of the store"):
            store.save_branch(make_log(3, streams=("q",)).fork(1, name="alien"))
        with pytest.raises(BranchError, match="parent branch has no name"):
            store.save_branch(log.fork(2).fork(3, name="child"))


def test_save_and_load_a_redecided_branch(tmp_path: Path):
    case = bank_pivotal_deposit()
    d = Decider(*bank_decider())
    with EventStore(tmp_path / "s.db") as store:
        store.append_log(bank())
        log = store.load()
        r = log.fork(case["deposit_seq"] - 1, name="r").drop(case["deposit_seq"]).redecide(
            d, bank_commands())
        store.save_branch(r)
    with EventStore(tmp_path / "s.db") as store:
        again = store.load_branch("r")
        assert again.log == r.log  # payload and meta text included, key order kept
        assert again.edits.equals(r.edits)


def test_save_branch_of_a_stream_subset(tmp_path: Path):
    with EventStore(tmp_path / "s.db") as store:
        store.append_log(make_log(10))
        sub = store.load(streams=["a"])
        store.save_branch(sub.fork(3, name="only-a").drop(5))
        assert store.load_branch("only-a").log == sub.fork(3).drop(5).log


# ----------------------------------------------------------------------------- redecide


def test_redecide_unedited_branch_reproduces_the_parent():
    log, cmds = bank(accounts=20, events=400), bank_commands(accounts=20, events=400)
    d = Decider(*bank_decider())
    b = log.fork(120).redecide(d, cmds)
    assert b.edits.height == 0
    assert b.log.frame.drop("parent_seq").equals(log.frame)


def test_redecide_dropped_deposit_rejects_the_withdrawal():
    case = bank_pivotal_deposit()
    assert case is not None
    log, cmds = bank(), bank_commands()
    d = Decider(*bank_decider())
    b = log.fork(case["deposit_seq"] - 1, name="no deposit").drop(case["deposit_seq"])
    r = b.redecide(d, cmds)
    assert isinstance(r, Branch) and r.parent is log and r.at == b.at
    assert r.edits["op"][0] == "drop"  # the branch's own edit stays first
    w = r.log.frame.filter(pl.col("parent_seq") == case["withdrawal_seq"]).row(0, named=True)
    assert w["type"] == "WithdrawalRejected"
    assert orjson.loads(w["data"])["balance"] == case["balance_without_deposit"]
    assert case["deposit_event_id"] not in r.log.frame["event_id"].to_list()
    valid(r.log)
    # the re-decided log is consistent with the rules: folding it never overdraws
    final = es.replay(r.log, d.projection).final
    assert all(acc["balance"] >= 0 for acc in final.values())
    # compare pairs the accepted withdrawal with its rejection
    from estime.compare import compare

    c = compare(d.projection, log, r)
    assert c.first_divergence[0].event_id == case["deposit_event_id"]
    assert c.first_divergence[1] is None


def test_redecide_keeps_the_branch_edits_as_facts():
    log, cmds = bank(accounts=10, events=200), bank_commands(accounts=10, events=200)
    d = Decider(*bank_decider())
    deposits = log.frame.filter((pl.col("type") == "MoneyDeposited") & (pl.col("seq") > 60))
    s = int(deposits["seq"][0])
    b = log.fork(s - 1).replace(s, data={"amount": 100_000})
    r = b.redecide(d, cmds)
    assert r.log.event(s).data["amount"] == 100_000  # not re-decided back to the original
    stream = log.event(s).stream
    later = r.log.frame.filter((pl.col("stream") == stream) & (pl.col("seq") > s))
    assert "WithdrawalRejected" not in later["type"].to_list()  # rich now: nothing rejected
    inserted = b.insert(s, [{"stream": stream, "type": "MoneyWithdrawn",
                             "data": {"amount": 1}}]).redecide(d, cmds)
    assert inserted.log.event(s + 1).type == "MoneyWithdrawn"


def test_redecide_errors():
    log, cmds = bank(accounts=5, events=60), bank_commands(accounts=5, events=60)
    d = Decider(*bank_decider())
    with pytest.raises(BranchError, match="no column"):
        log.fork(10).redecide(d, cmds.drop("at_seq"))
    with pytest.raises(TypeError, match=r"estime\.Decider"):
        log.fork(10).redecide(bank_decider(), cmds)

    def broken(state, command):
        raise RuntimeError("boom")

    with pytest.raises(BranchError, match="decide raised RuntimeError: boom on command cmd-"):
        log.fork(10).redecide(Decider(broken, d.evolve, d.initial), cmds)
    rows = cmds.to_dicts()
    assert log.fork(10).redecide(d, rows).edits.height == 0  # a list of mappings works too


def test_decider_projection_folds_like_evolve():
    log = bank(accounts=5, events=80)
    decide, evolve, initial = bank_decider()
    d = Decider(decide, evolve, initial)
    state = initial()
    for e in log:
        state = evolve(state, e)
    assert es.replay(log, d.projection).final == state
    with pytest.raises(ProjectionError):
        es.replay(EventLog.from_records([{"stream": "s", "type": "MoneyDeposited"}]),
                  Decider(decide, lambda s, e: e.data["amount"], initial).projection)
