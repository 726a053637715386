"""Decoded chunks kept per log: replays over them agree, the budget holds, nothing leaks."""

from __future__ import annotations

import gc
import pickle
import sys
import weakref
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import estime as es
from estime import _decode


def _log(n: int, nested: bool = False) -> es.EventLog:
    return es.EventLog.from_records([
        {"stream": f"s{i % 3}", "type": "Added",
         "data": {"n": i, "tags": [i]} if nested else {"n": i}}
        for i in range(n)
    ])


def _sums() -> es.Projection:
    p = es.Projection("sums", initial=dict)

    @p.on("Added")
    def added(state, e):
        state[e.stream] = state.get(e.stream, 0) + e.data["n"]

    return p


@pytest.fixture
def budget():
    old = _decode.set_cache_limit(2**30)
    yield
    _decode.set_cache_limit(old)


def test_replays_over_kept_chunks_agree(budget):
    n = _decode.CHUNK + 5000
    log = _log(n)
    first = es.replay(log, _sums())
    cols = log._columns
    assert list(cols.chunks) == [0, 1] and cols.chunks[0] is not None
    again = es.replay(log, _sums(), checkpoint_every=777)
    fresh = es.replay(_log(n), _sums(), checkpoint_every=777)
    for k in (0, 1, 777, _decode.CHUNK, _decode.CHUNK + 1, n):
        assert first.state_at(k) == again.state_at(k) == fresh.state_at(k)
    assert list(log) == list(_log(n))  # iteration over kept chunks, incl. a partial one
    assert list(log.iter_events(5, 5000)) == list(_log(n).iter_events(5, 5000))


def test_nested_payloads_are_never_kept(budget):
    # a handler that mutates nested data must not change what the next replay sees
    log = _log(5000, nested=True)
    p = es.Projection("bad", initial=dict)

    @p.on("Added")
    def bad(state, e):
        e.data["tags"].append("x")
        state[e.stream] = len(e.data["tags"])

    assert es.replay(log, p).final == es.replay(log, p).final == {"s0": 2, "s1": 2, "s2": 2}
    assert log._columns.chunks == {0: None}


def test_budget_is_respected_and_given_back(budget):
    _decode.set_cache_limit(0)
    log = _log(5000)
    es.replay(log, _sums())
    assert log._columns.chunks == {0: None}
    _decode.set_cache_limit(2**30)
    before = _decode.cache_info()["used"]
    log2 = _log(5000)
    es.replay(log2, _sums())
    used = _decode.cache_info()["used"]
    assert used > before
    del log2
    gc.collect()
    assert _decode.cache_info()["used"] == before


@pytest.mark.parametrize(("text", "size"), [("0", 0), ("512M", 512 * 2**20),
                                            ("2g", 2 * 2**30), ("1000", 1000), ("1.5K", 1536)])
def test_cache_size_setting(text, size):
    assert _decode._parse_size(text) == size


def test_bad_cache_size_setting_is_explained():
    with pytest.raises(ValueError, match=r"ESTIME_DECODED_CACHE.*512M"):
        _decode._parse_size("lots")


def test_short_reads_use_kept_chunks(budget):
    log = _log(_decode.CHUNK + 10)
    assert "_columns" not in log.__dict__
    one = log.event(5)  # a short read does not start a store
    assert "_columns" not in log.__dict__
    es.replay(log, _sums())
    kept = log._columns.chunks[0]
    assert kept is not None
    assert list(log.iter_events(3, 10)) == kept[3:10]
    assert all(a is b for a, b in zip(log.iter_events(3, 10), kept[3:10]))
    assert log.event(5) == one


@settings(max_examples=40, deadline=None)
@given(
    where=st.integers(0, 4999),
    value=st.one_of(st.integers(2**63, 2**80), st.integers(-(2**80), -(2**63) - 1),
                    st.integers(10**17, 10**19)),
    pad=st.text(alphabet="ab1", max_size=12),
    nested=st.sampled_from([None, "[", "{", "x"]),
)
def test_chunks_decode_big_integers_exactly_and_keep_only_flat_payloads(where, value, pad,
                                                                       nested):
    # One event among 5000 (a chunk decoded in bulk) has an integer beyond 64 bits, or not,
    # at any offset; one may hold a bracket, nested or inside a string.
    rows = [{"stream": "s", "type": "T", "data": {"p": pad * (i % 3), "n": i}}
            for i in range(5000)]
    rows[where]["data"]["big"] = value
    if nested == "[":
        rows[(where * 7) % 5000]["data"]["list"] = [1]
    elif nested == "{":
        rows[(where * 7) % 5000]["data"]["text"] = "a{b"
    log = es.EventLog.from_records(rows)
    old = _decode.set_cache_limit(2**30)
    try:
        events = list(log.iter_events(0, 5000))
    finally:
        _decode.set_cache_limit(old)
    assert events[where].data["big"] == value and type(events[where].data["big"]) is int
    assert [e.data["n"] for e in events] == list(range(5000))
    assert (log._columns.chunks.get(0) is not None) == (nested in (None, "x"))


def _mixed_log(n: int) -> es.EventLog:
    # flat and nested payloads, big integers, several streams and types
    return es.EventLog.from_records([
        {"stream": f"s{i % 7}", "type": "Added" if i % 5 else "Tagged",
         "data": {"n": i, "tags": [i]} if i % 900 == 3 else
         {"n": i, "big": 2**70 + i} if i % 1000 == 7 else {"n": i}}
        for i in range(n)
    ])


def test_chunks_prepared_ahead_decode_like_the_plain_path(budget, monkeypatch):
    monkeypatch.setattr(_decode, "CHUNK", 512)
    monkeypatch.setattr(_decode, "_CACHED_FROM", 100)
    runs = {}
    for prefetch in (True, False):
        monkeypatch.setattr(_decode, "PREFETCH", prefetch)
        log = _mixed_log(3000)
        events = list(log.iter_events(0, 3000))
        kept = {k: c is not None for k, c in log._columns.chunks.items()}
        runs[prefetch] = (events, kept, es.replay(_mixed_log(3000), _sums()).final)
    assert runs[True] == runs[False]
    events, kept, _ = runs[True]
    assert [e.data["n"] for e in events] == list(range(3000))
    assert events[1007].data["big"] == 2**70 + 1007
    # a chunk is kept unless it holds a nested payload (rows 3, 903, 1803, 2703)
    assert kept == {k: not any(i % 900 == 3 for i in range(512 * k, min(3000, 512 * k + 512)))
                    for k in range(6)}


def test_chunks_kept_by_another_reader_meanwhile_are_skipped(budget, monkeypatch):
    monkeypatch.setattr(_decode, "CHUNK", 512)
    monkeypatch.setattr(_decode, "_CACHED_FROM", 100)
    log = _mixed_log(4000)
    seen = []
    for i, chunk in enumerate(log.iter_chunks(0, 4000)):
        seen += chunk
        if i in (0, 3):  # another read keeps the chunk after next, then the next one
            list(log.iter_events(512 * (i + 2), 512 * (i + 3)))
            list(log.iter_events(512 * (i + 1), 512 * (i + 2)))
    assert seen == list(_mixed_log(4000))


def _when(i: int) -> datetime | None:
    return None if i % 7 == 0 else datetime(2024, 1, 1, tzinfo=UTC) + timedelta(
        seconds=i, microseconds=i % 1000)


@pytest.mark.parametrize("step", [1, 3])  # consecutive seqs, and seqs with gaps
def test_time_meta_and_event_id_of_decoded_events(budget, step):
    """Decoded events read time, meta and event_id from their chunk's columns, by seq."""
    n = _decode.CHUNK + 3000
    log = es.EventLog.from_records([
        {"seq": 7 + step * i, "stream": f"s{i % 5}", "type": "Added", "data": {"n": i},
         "time": _when(i), "meta": {"i": i}, "event_id": f"id-{i}"} for i in range(n)])
    es.replay(log, _sums())  # decodes and keeps both chunks
    assert log._columns.chunks[0] is not None
    for e in (*log.iter_events(0, 10), *log.iter_events(n - 10, n),
              *log.iter_events(_decode.CHUNK - 2, _decode.CHUNK + 2)):
        i = (e.seq - 7) // step
        assert (e.event_id, dict(e.meta), e.data["n"], e.time) == (
            f"id-{i}", {"i": i}, i, _when(i))
        assert e == es.Event(e.seq, e.stream, e.version, e.type, e.time, {"n": i},
                             {"i": i}, f"id-{i}")
        assert pickle.loads(pickle.dumps(e)) == e
    assert [(e.event_id, e.time) for e in log.iter_events(100, 4200)] == [
        (f"id-{i}", _when(i)) for i in range(100, 4200)]


class _Cell:
    """Weakly referable, and in a cycle with the list it holds."""

    def __init__(self, held: list[object]) -> None:
        self.held = held
        held.append(self)


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


@pytest.fixture
def paused():
    """The collector off, as during a replay (no young collection moves objects meanwhile)."""
    with _decode.gc_paused():
        yield


def test_settle_moves_young_objects_to_the_oldest_generation(monkeypatch, paused):
    monkeypatch.setattr(_decode, "_unsettled", 100_000)
    young = [[i] for i in range(10)]  # tracked, just made
    gone = weakref.ref(_Cell([]))  # young cyclic garbage
    assert _in_generation(young, 0)
    _decode.settle()
    assert _decode._unsettled == 0
    assert _in_generation(young, 2) and not _in_generation(young, 0)
    assert gc.get_freeze_count() == 0  # nothing left frozen
    assert gone() is not None  # not collected by settle ...
    gc.collect()
    assert gone() is None  # ... but by the next full collection, as ordinary objects


def test_settle_keeps_what_the_program_froze(monkeypatch):
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        monkeypatch.setattr(_decode, "_unsettled", 100_000)
        _decode.settle()  # a full collection instead: the program's frozen objects stay so
        assert gc.get_freeze_count() == frozen
        assert _decode._unsettled == 0
    finally:
        gc.unfreeze()


def test_settle_waits_for_many_kept_events(monkeypatch, paused):
    monkeypatch.setattr(_decode, "_unsettled", 99_999)
    young = [[1]]
    _decode.settle()
    assert _decode._unsettled == 99_999 and _in_generation(young, 0)


def test_switch_interval_is_short_while_chunks_are_prepared_ahead_and_restored(
        budget, monkeypatch):
    monkeypatch.setattr(_decode, "CHUNK", 512)
    monkeypatch.setattr(_decode, "_CACHED_FROM", 100)
    before = sys.getswitchinterval()
    outer = _mixed_log(3000).iter_chunks(0, 3000)
    next(outer)
    assert sys.getswitchinterval() == _decode.HANDOFF
    inner = list(_mixed_log(3000).iter_chunks(0, 3000))  # nested: the outer one still runs
    assert len(inner) == 6 and sys.getswitchinterval() == _decode.HANDOFF
    next(outer)
    outer.close()  # abandoned half-way: restored all the same
    assert sys.getswitchinterval() == before
    es.replay(_mixed_log(3000), _sums())
    assert sys.getswitchinterval() == before
