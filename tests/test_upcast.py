"""Upcasters: chains, registration errors, idempotence, the original log untouched."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estime as es
from estime.errors import UpcastError


def upcasters() -> es.Upcasters:
    up = es.Upcasters()

    @up.register("Deposited", from_version=1)
    def v1_to_v2(data):
        return {"amount_cents": data["amount"] * 100}

    @up.register("Deposited", from_version=2)
    def v2_to_v3(data):
        return {**data, "currency": data.get("currency", "EUR")}

    return up


def test_chain_applies_in_order_and_log_is_unchanged():
    log = es.EventLog.from_records([
        {"stream": "a", "type": "Deposited", "data": {"amount": 2}, "schema_version": 1},
        {"stream": "a", "type": "Deposited", "data": {"amount_cents": 5}, "schema_version": 2},
        {"stream": "a", "type": "Deposited",
         "data": {"amount_cents": 7, "currency": "USD"}, "schema_version": 3},
        {"stream": "a", "type": "Other", "data": {"amount": 1}},
    ])
    before = log.frame.clone()
    out = log.upcast(upcasters())
    assert [dict(e.data) for e in out] == [
        {"amount_cents": 200, "currency": "EUR"},
        {"amount_cents": 5, "currency": "EUR"},
        {"amount_cents": 7, "currency": "USD"},
        {"amount": 1},
    ]
    assert out.frame["schema_version"].to_list() == [3, 3, 3, 1]
    assert log.frame.equals(before)


def test_replay_with_upcasters_matches_upcast_log():
    log = es.EventLog.from_records([
        {"stream": "a", "type": "Deposited", "data": {"amount": 2}},
        {"stream": "a", "type": "Deposited", "data": {"amount_cents": 50}, "schema_version": 2},
    ])
    p = es.Projection("total", initial=lambda: {"cents": 0})

    @p.on("Deposited")
    def dep(state, event):
        assert event.schema_version == 3
        state["cents"] += event.data["amount_cents"]

    up = upcasters()
    assert es.replay(log, p, upcasters=up).final == {"cents": 250}
    assert es.replay(log.upcast(up), p).final == {"cents": 250}


def test_registering_a_step_twice_names_it():
    up = upcasters()
    with pytest.raises(UpcastError, match="'Deposited' from version 1"):
        up.register("Deposited", from_version=1)(lambda d: d)


def test_failing_upcaster_names_event():
    up = es.Upcasters()

    @up.register("X", from_version=1)
    def broken(data):
        return data["missing"]

    log = es.EventLog.from_records([{"stream": "s", "type": "X", "data": {}}])
    with pytest.raises(UpcastError, match=r"broken.*seq 1"):
        log.upcast(up)


payloads = st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Deposited", "Other"]), st.integers(1, 3), payloads),
                max_size=20))
def test_upcasting_is_idempotent_on_current_versions(rows):
    up = es.Upcasters()

    @up.register("Deposited", from_version=1)
    def a(data):
        return {**data, "v2": True}

    @up.register("Deposited", from_version=2)
    def b(data):
        return {**data, "v3": True}

    log = es.EventLog.from_records([
        {"stream": "s", "type": t, "schema_version": v, "data": d} for t, v, d in rows
    ])
    once = log.upcast(up)
    assert once.upcast(up) == once
    for e, (_, v, _) in zip(once, rows):
        if e.type == "Deposited":
            assert e.schema_version == 3
            assert e.data.get("v3") is (True if v < 3 else None)
