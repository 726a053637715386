"""Projections and replay: checkpoints, temporal queries, rollback markers, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estime as es
from estime.errors import LogFormatError, ProjectionError

# ----------------------------------------------------------------------------- fixtures

TYPES = ["Deposited", "Withdrawn", "Renamed", "Noise"]


def bank_projection() -> es.Projection:
    p = es.Projection("balances", initial=dict)

    @p.on("Deposited")
    def deposited(state, event):
        acc = state.setdefault(event.stream, {"balance": 0, "history": []})
        acc["balance"] += event.data["amount"]
        acc["history"].append(event.seq)

    @p.on("Withdrawn")
    def withdrawn(state, event):
        acc = state.setdefault(event.stream, {"balance": 0, "history": []})
        acc["balance"] -= event.data["amount"]

    @p.on("Renamed")
    def renamed(state, event):
        # returns a new state instead of mutating
        new = dict(state)
        new["name"] = event.data["name"]
        return new

    return p


def reference_fold(events, projection: es.Projection):
    """The simplest possible fold: what replay must agree with."""
    state = projection.new_state()
    for e in events:
        h = projection.handler_for(e.type)
        if h is not None:
            r = h(state, e)
            if r is not None:
                state = r
    return state


event_records = st.lists(
    st.fixed_dictionaries({
        "stream": st.sampled_from(["a", "b", "c"]),
        "type": st.sampled_from(TYPES),
        "data": st.fixed_dictionaries({
            "amount": st.integers(0, 1000),
            "name": st.text(max_size=5),
        }),
    }),
    max_size=60,
)


def make_log(records) -> es.EventLog:
    return es.EventLog.from_records(records)


# ----------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(event_records, st.data())
def test_state_at_equals_fold_from_scratch(records, data):
    log = make_log(records)
    p = bank_projection()
    every = data.draw(st.integers(1, 10))
    rp = es.replay(log, p, checkpoint_every=every)
    k = data.draw(st.integers(0, len(log) + 2))
    assert rp.state_at(k) == reference_fold(log.until(k), p)
    assert rp.final == reference_fold(log, p)


@settings(max_examples=40, deadline=None)
@given(event_records, st.integers(1, 7), st.integers(8, 50))
def test_result_does_not_depend_on_checkpoint_every(records, every_a, every_b):
    log = make_log(records)
    p = bank_projection()
    a = es.replay(log, p, checkpoint_every=every_a)
    b = es.replay(log, p, checkpoint_every=every_b)
    c = es.replay(log, p)
    for k in range(len(log) + 1):
        assert a.state_at(k) == b.state_at(k) == c.state_at(k)


@settings(max_examples=60, deadline=None)
@given(event_records, st.data())
def test_rollback_marker_equals_replay_without_voided_events(records, data):
    if not records:
        return
    n = len(records)
    marker_after = data.draw(st.integers(1, n))  # marker goes after this many events
    to = data.draw(st.integers(0, marker_after))
    marker = {"stream": "$estime", "type": "estime.RolledBack",
              "data": {"to": to, "reason": "test"}}
    with_marker = [*records[:marker_after], marker, *records[marker_after:]]
    log = make_log(with_marker)
    p = bank_projection()
    rp = es.replay(log, p, checkpoint_every=data.draw(st.integers(1, 5)))
    # seqs are 1..n+1; the marker is at seq marker_after + 1 and voids seqs (to, marker)
    marker_seq = marker_after + 1
    kept = [e for e in log if not (to < e.seq <= marker_seq)]
    assert rp.final == reference_fold(kept, p)
    # before the marker the rollback had not happened yet
    assert rp.state_at(marker_after) == reference_fold(log.until(marker_after), p)
    # at the marker the state is the state at `to`
    assert rp.state_at(marker_after + 1) == rp.state_at(to)
    # honour_rollbacks=False shows everything
    raw = es.replay(log, p, honour_rollbacks=False)
    assert raw.final == reference_fold(log, p)


# ----------------------------------------------------------------------------- behaviour


@pytest.fixture
def log():
    return make_log([
        {"stream": "a", "type": "Deposited", "data": {"amount": 10}},
        {"stream": "b", "type": "Deposited", "data": {"amount": 5}},
        {"stream": "a", "type": "Withdrawn", "data": {"amount": 3}},
        {"stream": "a", "type": "Noise", "data": {}},
        {"stream": "b", "type": "Deposited", "data": {"amount": 1}},
    ])


def test_states_are_the_callers_own_copies(log):
    rp = es.replay(log, bank_projection(), checkpoint_every=2)
    s = rp.state_at(3)
    s["a"]["balance"] = -999
    s["a"]["history"].append(42)
    assert rp.state_at(3)["a"] == {"balance": 7, "history": [1]}
    f = rp.final
    f.clear()
    assert rp.final["b"]["balance"] == 6


def test_state_at_zero_is_initial_and_time_queries(log):
    timed = es.EventLog.from_records([
        {**r.to_dict(), "time": f"2024-01-0{r.seq}T00:00:00Z"} for r in log
    ])
    rp = es.replay(timed, bank_projection())
    assert rp.state_at(0) == {}
    assert rp.state_at(time="2024-01-02T12:00:00Z") == rp.state_at(2)
    assert rp.state_at(time="2023-01-01") == {}
    with pytest.raises(TypeError):
        rp.state_at(1, time="2024-01-01")


def test_track_first_blame_bisect(log):
    rp = es.replay(log, bank_projection())
    tr = rp.track(lambda s: s.get("a", {}).get("balance", 0))
    assert tr["seq"].to_list() == [1, 2, 3, 4, 5]
    assert tr["value"].to_list() == [10, 10, 7, 7, 7]
    assert rp.first(lambda s: s.get("b", {}).get("balance", 0) > 5).seq == 5
    assert rp.first(lambda s: False) is None
    assert rp.bisect(lambda s: s.get("b", {}).get("balance", 0) > 5).seq == 5
    assert rp.bisect(lambda s: len(s) >= 1).seq == 1
    assert rp.bisect(lambda s: False) is None
    blame = rp.blame(lambda s: s["a"]["balance"])
    assert blame["seq"].to_list() == [1, 3]
    assert blame["before"].to_list() == ["null", "10"]
    assert blame["after"].to_list() == ["10", "7"]
    assert set(blame.columns) >= {"seq", "stream", "type", "before", "after"}


def test_tracked_mutable_values_are_snapshots(log):
    rp = es.replay(log, bank_projection())
    tr = rp.track(lambda s: s.get("a", {}).get("history", []))
    assert tr["value"].to_list()[0] == [1]


def test_per_stream_state_created_at_first_event(log):
    p = es.Projection("counts", initial=lambda: {"n": 0}, per_stream=True)

    @p.on("Deposited")
    def dep(state, event):
        state["n"] += 1

    rp = es.replay(log, p)
    assert rp.final == {"a": {"n": 1}, "b": {"n": 2}}
    # stream a exists after its first event even if unhandled events come first
    rp2 = es.replay(log.filter(type="Noise"), p)
    assert rp2.final == {"a": {"n": 0}}


def test_wildcard_handles_unhandled_types_only(log):
    p = es.Projection("types", initial=list)

    @p.on("*")
    def anything(state, event):
        state.append(event.type)

    @p.on("Deposited")
    def dep(state, event):
        state.append("dep")

    assert es.replay(log, p).final == ["dep", "dep", "Withdrawn", "Noise", "dep"]


def test_initial_value_is_copied_per_replay(log):
    p = es.Projection("c", initial={"n": 0})

    @p.on("Deposited")
    def dep(state, event):
        state["n"] += 1

    assert es.replay(log, p).final == {"n": 3}
    assert es.replay(log, p).final == {"n": 3}
    assert p.initial == {"n": 0}


def test_class_based_projection(log):
    class Totals(es.Projection):
        initial = dict

        def Deposited(self, state, event):
            state["in"] = state.get("in", 0) + event.data["amount"]

        def Withdrawn(self, state, event):
            state["out"] = state.get("out", 0) + event.data["amount"]

    assert es.replay(log, Totals()).final == {"in": 16, "out": 3}


def test_handler_error_names_projection_handler_seq_stream_type(log):
    p = es.Projection("fragile", initial=dict)

    @p.on("Withdrawn")
    def boom(state, event):
        raise ZeroDivisionError("nope")

    with pytest.raises(ProjectionError) as info:
        es.replay(log, p)
    msg = str(info.value)
    for part in ("'fragile'", "boom", "seq 3", "'a'", "'Withdrawn'", "ZeroDivisionError"):
        assert part in msg
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_bad_rollback_marker_is_reported():
    log = make_log([
        {"stream": "a", "type": "Deposited", "data": {"amount": 1}},
        {"stream": "$estime", "type": "estime.RolledBack", "data": {"to": 5}},
    ])
    with pytest.raises(LogFormatError, match="seq 2"):
        es.replay(log, bank_projection())
    es.replay(log, bank_projection(), honour_rollbacks=False)


def test_non_json_states_are_checkpointed_too(log):
    p = es.Projection("sets", initial=lambda: {"streams": set()})

    @p.on("*")
    def add(state, event):
        state["streams"].add(event.stream)

    rp = es.replay(log, p, checkpoint_every=2)
    assert rp.state_at(1) == {"streams": {"a"}}
    assert rp.final == {"streams": {"a", "b"}}


def test_diff_and_changes(log):
    rp = es.replay(log, bank_projection())
    d = rp.diff(1, 3)
    assert "/a/balance" in d.frame["path"].to_list()
    ch = rp.changes(2)
    assert ch.frame["path"].to_list() == ["/b"]


def test_checkpoints_frame_and_adaptive_interval(log):
    rp = es.replay(log, bank_projection(), checkpoint_every=2)
    cps = rp.checkpoints
    assert cps["index"].to_list() == [0, 2, 4, 5]
    assert cps["seq"].to_list() == [0, 2, 4, 5]
    big = es.replay(log, bank_projection())
    assert big.checkpoints["index"].to_list() == [0, 5]


def test_long_log_checkpoints_across_decoding_chunks():
    # > 2 decoding chunks (65,536 rows), checkpoints that straddle them, and a rollback
    n = 140_000
    recs = [{"stream": f"s{i % 5}", "type": "Deposited", "data": {"amount": i % 11}}
            for i in range(n)]
    recs.insert(100_000, {"stream": "$estime", "type": "estime.RolledBack",
                          "data": {"to": 70_000}})
    log = es.EventLog.from_records(recs)
    p = es.Projection("sums", initial=dict)

    @p.on("Deposited")
    def dep(state, e):
        state[e.stream] = state.get(e.stream, 0) + e.data["amount"]

    def expected(k: int) -> dict:
        state: dict = {}
        for r in recs[:k]:
            if r["type"] == "estime.RolledBack":
                state = expected(r["data"]["to"])
            else:
                state[r["stream"]] = state.get(r["stream"], 0) + r["data"]["amount"]
        return state

    for every in (None, 50_000, 65_536, 7_777):
        rp = es.replay(log, p, checkpoint_every=every)
        assert rp.checkpoints["index"].to_list()[-1] == len(log)
        for k in (1, 65_536, 65_537, 99_999, 100_001, 131_073, len(log)):
            assert rp.state_at(k) == expected(k), (every, k)
        assert rp.final == expected(len(log))


def test_states_holding_events_are_checkpointed(log):
    p = es.Projection("last", initial=dict)

    @p.on("*")
    def last(state, event):
        state[event.stream] = event

    rp = es.replay(log, p, checkpoint_every=2)
    events = list(log)
    assert rp.state_at(3) == reference_fold(events[:3], p)
    assert rp.final == reference_fold(events, p)


def test_checkpoints_keep_states_exactly(log):
    """Tuples stay tuples, NaN and huge ints survive, shared lists stay shared, enums
    stay enums: state_at from a checkpoint is what a fold from scratch gives."""
    import enum
    import math

    class Kind(enum.Enum):
        A = "a"

    p = es.Projection("exotic", initial=lambda: {"shared": [], "n": 0})

    @p.on("*")
    def step(state, event):
        state["n"] += 1
        state["pair"] = (event.stream, state["n"])
        state["nan"] = math.nan
        state["big"] = 2**80 + state["n"]
        state["alias"] = state["shared"]
        state["shared"].append(event.seq)
        if state["n"] == 3:
            state["kind"] = Kind.A

    events = list(log)
    rp = es.replay(log, p, checkpoint_every=1)
    for k in range(len(events) + 1):
        got, want = rp.state_at(k), reference_fold(events[:k], p)
        assert type(got.get("pair")) is type(want.get("pair"))
        assert repr(got) == repr(want)
        if k:
            assert got["alias"] is got["shared"]
            assert math.isnan(got["nan"])
        # further events fold onto the restored state exactly as onto the original
        if k < len(events):
            assert repr(rp.fold(got, k, len(events))) == repr(reference_fold(events, p))


def test_fold_goes_on_with_a_checkpoint_copy_exactly():
    """The building fold swaps the live state for its checkpoint's copy as the state grows
    (to keep it contiguous in memory); shared references, tuples and sets survive the swap and
    the result is a fold from scratch."""
    p = es.Projection("growing", initial=lambda: {"shared": [], "seen": set(), "by": {}})
    handed: list[dict] = []  # the state objects themselves (ids of freed ones are reused)

    @p.on("*")
    def step(state, event):
        if not handed or handed[-1] is not state:
            handed.append(state)
        state["alias"] = state["shared"]
        state["shared"].append(event.seq)
        state["seen"].add(event.stream)
        state["by"][f"k{event.seq}"] = (event.type, event.seq)

    log = es.EventLog.from_records(
        [{"stream": f"s{i % 7}", "type": "T", "data": {"i": i}} for i in range(600)])
    rp = es.replay(log, p, checkpoint_every=10)
    assert len(handed) > 3, "the fold never went on with a checkpoint's copy"
    want = reference_fold(list(log), p)
    got = rp.final
    assert repr(got) == repr(want)
    assert got["alias"] is got["shared"]
    for k in (0, 1, 9, 10, 11, 333, 599, 600):
        assert repr(rp.state_at(k)) == repr(reference_fold(list(log)[:k], p))
