"""Unit and property tests of estime.store.EventStore (reliability: test_store_reliability)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estime import Event, EventLog
from estime._normalize import SCHEMA, event_id_for
from estime.errors import ConcurrencyError, ImmutableLogError, LogFormatError
from estime.store import APPLICATION_ID, MARKER_STREAM, ROLLED_BACK, STORE_SCHEMA, EventStore


@pytest.fixture
def store(tmp_path: Path):
    with EventStore(tmp_path / "s.db") as s:
        yield s


def ev(type_: str = "Deposited", **kw):
    return {"type": type_, "data": kw.pop("data", {"amount": 1}), **kw}


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


# ---------------------------------------------------------------- schema and opening


def test_new_store_schema_and_pragmas(tmp_path: Path):
    path = tmp_path / "s.db"
    with EventStore(path) as s:
        conn = s.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    with EventStore(path, durable=False, timeout=2.5) as s:
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2_500
    c = raw(path)
    assert c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert c.execute("PRAGMA user_version").fetchone()[0] == STORE_SCHEMA
    sql = dict(c.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    assert "AUTOINCREMENT" in sql["events"]
    assert "UNIQUE (stream, version)" in sql["events"]
    assert "UNIQUE (event_id)" in sql["events"]
    assert "ON events (type)" in sql["events_type"]
    assert {"events_no_update", "events_no_delete", "events_append_only"} <= set(sql)
    meta = dict(c.execute("SELECT key, value FROM estime_meta"))
    assert meta["store_schema"] == str(STORE_SCHEMA)
    cols = [r[1] for r in c.execute("PRAGMA table_info(events)")]
    assert cols == list(SCHEMA)


def test_reopen_keeps_events_and_tolerates_extra_tables(tmp_path: Path):
    path = tmp_path / "s.db"
    with EventStore(path) as s:
        s.append("a", [ev()])
        s.conn.execute("CREATE TABLE branches (name TEXT PRIMARY KEY)")  # issue 5's table
    with EventStore(path) as s:
        assert len(s) == 1
        assert s.append("a", [ev()], expected_version=1) == [2]


def test_not_a_database(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"stream": "a", "type": "X"}\n' * 50)
    with pytest.raises(LogFormatError, match=r"events\.jsonl is not a readable SQLite database"):
        EventStore(path)
    assert path.read_text().startswith('{"stream"')  # untouched


def test_foreign_database_is_refused_and_untouched(tmp_path: Path):
    path = tmp_path / "other.db"
    c = raw(path)
    c.execute("CREATE TABLE stored_events (id INTEGER)")
    c.commit()
    c.close()
    with pytest.raises(LogFormatError, match=r"not an estime event store \(tables: stored_events"):
        EventStore(path)
    c = raw(path)
    assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["stored_events"]


def test_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "s.db"
    EventStore(path).close()
    c = raw(path)
    c.execute(f"PRAGMA user_version = {STORE_SCHEMA + 1}")
    c.commit()
    c.close()
    with pytest.raises(LogFormatError, match=r"schema version 2.*upgrade estime"):
        EventStore(path)


def test_store_without_its_triggers_is_refused(tmp_path: Path):
    path = tmp_path / "s.db"
    EventStore(path).close()
    c = raw(path)
    c.execute("DROP TRIGGER events_no_delete")
    c.commit()
    c.close()
    with pytest.raises(LogFormatError, match="events_no_delete"):
        EventStore(path)


def test_directory_path(tmp_path: Path):
    with pytest.raises(IsADirectoryError):
        EventStore(tmp_path)


def test_close_is_idempotent_and_closed_store_says_so(tmp_path: Path):
    s = EventStore(tmp_path / "s.db")
    s.close()
    s.close()
    assert "closed" in repr(s)
    with pytest.raises(ValueError, match="is closed"):
        s.append("a", [ev()])
    with pytest.raises(ValueError, match="is closed"):
        s.load()


# ---------------------------------------------------------------- append


def test_append_assigns_seq_version_event_id_and_time(store: EventStore):
    before = datetime.now(UTC)
    assert store.append("a", [ev(), ev()]) == [1, 2]
    assert store.append("b", ev("Opened")) == [3]  # a single mapping is one event
    assert store.append("a", [ev()]) == [4]
    after = datetime.now(UTC)
    log = store.load()
    f = log.frame
    assert f["version"].to_list() == [1, 2, 1, 3]
    assert f["event_id"].to_list() == [event_id_for(s, v) for s, v in
                                       zip(f["stream"], f["version"])]
    assert all(before - timedelta(milliseconds=1) <= t <= after for t in f["time"])
    assert f.schema == pl.Schema(SCHEMA)
    assert EventLog(f) == log  # what load returns passes full validation


def test_append_keeps_given_time_event_id_meta_schema_version(store: EventStore):
    t = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.append("a", [
        ev(time=t, event_id="e-1", meta={"actor": "ada"}, schema_version=3),
        ev(time=datetime(2024, 5, 1, 12, 0, 0, 7)),  # naive: taken as UTC
        ev(time="2024-05-01T13:00:00+01:00"),
        ev(time="2024-05-01t12:00:00z"),  # RFC 3339 allows lowercase
    ])
    e1, e2, e3, e4 = store.load()
    assert e1.time == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert (e1.event_id, dict(e1.meta), e1.schema_version) == ("e-1", {"actor": "ada"}, 3)
    assert e2.time == datetime(2024, 5, 1, 12, 0, 0, 7, tzinfo=UTC)
    assert e3.time == e4.time == datetime(2024, 5, 1, 12, tzinfo=UTC)
    stored = raw(store.path).execute("SELECT time FROM events WHERE seq = 1").fetchone()[0]
    assert stored == "2024-05-01T12:00:00.123456Z"


def test_append_events_from_another_log(store: EventStore, tmp_path: Path):
    store.append("a", [ev(data={"n": i}) for i in range(3)])
    with EventStore(tmp_path / "copy.db") as copy:
        assert copy.append("a", list(store.load())) == [1, 2, 3]
        assert copy.load() == store.load()
        other = Event(1, "b", 1, "X", None, {}, {}, "id-b", 1)
        with pytest.raises(LogFormatError, match="event 0 belongs to stream 'b'"):
            copy.append("a", [other])


def test_json_values_round_trip(store: EventStore):
    data = [{"a": [1, 2.5, None, True, "é\n"], "b": {"c": {}}}, [], "text", 3, None, 1e300]
    store.append("a", [{"type": "X", "data": d} for d in data])
    assert [e.to_dict()["data"] for e in store.load()] == [
        d if d is not None else {} for d in data]


def test_expected_version(store: EventStore):
    assert store.append("a", [ev()], expected_version=0) == [1]
    # the same event again with the same expected_version is a retry (see idempotency)
    assert store.append("a", [ev()], expected_version=0) == [1]
    with pytest.raises(ConcurrencyError) as info:
        store.append("a", [ev(data={"amount": 2})], expected_version=0)
    assert (info.value.stream, info.value.expected, info.value.actual) == ("a", 0, 1)
    assert "already exists" in str(info.value)
    with pytest.raises(ConcurrencyError) as info:
        store.append("a", [ev()], expected_version=5)
    assert (info.value.expected, info.value.actual) == (5, 1)
    assert store.append("a", [ev()], expected_version=1) == [2]
    assert store.append("a", [], expected_version=2) == []
    with pytest.raises(ConcurrencyError):
        store.append("a", [], expected_version=1)
    assert len(store) == 2


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1"])
def test_expected_version_must_be_a_non_negative_int(store: EventStore, bad):
    with pytest.raises(ValueError, match="expected_version must be an integer >= 0"):
        store.append("a", [ev()], expected_version=bad)


@pytest.mark.parametrize(("events", "pattern"), [
    ([ev(), ev(data={1, 2})], r"event 1: field 'data' is not JSON-compatible"),
    ([ev(data={"x": float("nan")})], r"event 0: field 'data' is not JSON-compatible"),
    ([ev(meta=["x"])], r"event 0: field 'meta' must be a mapping"),
    ([ev(meta={"x": object()})], r"event 0: field 'meta' is not JSON-compatible"),
    ([ev(), {"data": {}}], r"event 1: field 'type' must be a non-empty string"),
    ([ev(type_="")], r"event 0: field 'type' must be a non-empty string"),
    ([ev(amount=3)], r"event 0: unknown field 'amount'"),
    ([ev(time="yesterday")], r"event 0: field 'time' is not ISO 8601"),
    ([ev(time=1714560000)], r"event 0: field 'time' must be a datetime"),
    ([ev(schema_version=0)], r"event 0: field 'schema_version' must be an integer >= 1"),
    ([ev(event_id="x"), ev(event_id="x")], r"event 1 repeats the event_id 'x' of event 0"),
    ([ev(event_id="")], r"event 0: field 'event_id' must be a non-empty string"),
    ([ev(), "Deposited"], r"event 1 is a str, not an Event or a mapping"),
    ([ev(stream="b")], r"event 0 belongs to stream 'b'"),
    ([ev(type_="X\ud800")], r"a type or event_id is not valid Unicode"),
    ([ev(event_id="\udc00")], r"a type or event_id is not valid Unicode"),
])
def test_bad_events_are_refused_whole(store: EventStore, events, pattern):
    store.append("a", [ev()])
    with pytest.raises(LogFormatError, match=pattern) as info:
        store.append("a", events)
    assert "append to stream 'a'" in str(info.value)
    assert len(store) == 1


@pytest.mark.parametrize("stream", ["", None, 3, "\ud800"])
def test_bad_stream_names(store: EventStore, stream):
    with pytest.raises(LogFormatError, match="stream"):
        store.append(stream, [ev()])


def test_marker_stream_is_reserved(store: EventStore):
    with pytest.raises(ValueError, match="reserved"):
        store.append(MARKER_STREAM, [ev()])


# ---------------------------------------------------------------- idempotency


def test_reappending_the_same_event_id_is_a_no_op(store: EventStore):
    first = store.append("a", [ev(event_id="e1", data={"x": 1, "y": [1, 2]}),
                               ev(event_id="e2")])
    store.append("b", [ev()])
    # same content, keys in another order and a different time: still the same event
    again = store.append("a", [ev(event_id="e1", data={"y": [1, 2], "x": 1},
                                  time="2001-01-01T00:00:00Z"), ev(event_id="e2")],
                         expected_version=0)  # a retry of a committed batch succeeds
    assert again == first == [1, 2]
    assert len(store) == 3
    assert store.load().event(1).time.year != 2001


@pytest.mark.parametrize(("change", "field"), [
    ({"data": {"x": 2}}, "data"), ({"type": "Other"}, "type"),
    ({"meta": {"actor": "bob"}}, "meta"), ({"schema_version": 2}, "schema_version"),
    ({"data": {"x": 1.0}}, "data"), ({"data": {"x": True}}, "data"),
])
def test_same_event_id_other_content_is_an_error(store: EventStore, change, field):
    store.append("a", [{"type": "X", "data": {"x": 1}, "event_id": "e1"}])
    with pytest.raises(ImmutableLogError) as info:
        store.append("a", [{"type": "X", "data": {"x": 1}, "event_id": "e1", **change}])
    msg = str(info.value)
    assert "event_id 'e1'" in msg and f"different {field}" in msg and "seq 1" in msg
    assert len(store) == 1


def test_same_event_id_in_another_stream_is_an_error(store: EventStore):
    store.append("a", [ev(event_id="e1")])
    with pytest.raises(ImmutableLogError, match="different stream"):
        store.append("b", [ev(event_id="e1")])


def test_retry_without_event_ids_is_recognised_by_expected_version(store: EventStore):
    batch = [ev(data={"n": 1}), ev(data={"n": 2})]
    store.append("a", [ev()])
    seqs = store.append("a", batch, expected_version=1)
    store.append("a", [ev(data={"n": 3})])
    assert store.append("a", batch, expected_version=1) == seqs
    assert len(store) == 4
    # not the same batch: the version check applies
    with pytest.raises(ConcurrencyError):
        store.append("a", [ev(data={"n": 1}), ev(data={"n": 9})], expected_version=1)
    with pytest.raises(ConcurrencyError):
        store.append("a", [*batch, ev(data={"n": 4})], expected_version=1)
    assert len(store) == 4
    # without expected_version nothing identifies a retry: the events are appended again
    assert store.append("a", batch) == [5, 6]


def test_partly_stored_batch(store: EventStore):
    store.append("a", [ev(event_id="old")])
    assert store.append("a", [ev(event_id="old"), ev(event_id="new")]) == [1, 2]
    assert store.load().frame["version"].to_list() == [1, 2]
    with pytest.raises(ConcurrencyError):
        store.append("a", [ev(event_id="old"), ev(event_id="newer")], expected_version=1)
    assert store.append("a", [ev(event_id="old"), ev(event_id="newer")],
                        expected_version=2) == [1, 3]


# ---------------------------------------------------------------- reading


def test_load_filters(store: EventStore):
    store.append("a", [ev("A1"), ev("A2")])
    store.append("b", [ev("B1")])
    store.append("c", [ev("A1")])
    store.rollback(2, "bad")
    store.append("b", [ev("B2")])
    assert len(store.load()) == 6
    assert store.load(until=3).frame["seq"].to_list() == [1, 2, 3]
    assert store.load(until=0).frame.height == 0
    assert store.load(streams=["b"]).frame["seq"].to_list() == [3, 5, 6]
    assert store.load(streams="b", markers=False).frame["seq"].to_list() == [3, 6]
    assert store.load(types=["A1"], markers=False).frame["stream"].to_list() == ["a", "c"]
    assert store.load(streams=["a", "b"], types="A2", until=4).frame["seq"].to_list() == [2]
    assert store.load(streams=[]).frame["seq"].to_list() == [5]
    assert store.load(streams=["nope"], markers=False).frame.height == 0


def test_load_many_streams_filters_in_polars(store: EventStore):
    store.append("a", [ev()])
    store.append("b", [ev()])
    names = [f"x{i}" for i in range(30_001)] + ["b"]
    assert store.load(streams=names).frame["stream"].to_list() == ["b"]


def test_load_empty_store(store: EventStore):
    log = store.load()
    assert len(log) == 0 and log.frame.schema == pl.Schema(SCHEMA)


def test_version_streams_len_head(store: EventStore):
    assert (store.version("a"), store.streams(), len(store), store.head) == (0, [], 0, 0)
    store.append("b", [ev()])
    store.append("a", [ev(), ev()])
    store.append("b", [ev()])
    assert (store.version("a"), store.version("b"), store.version("zz")) == (2, 2, 0)
    assert store.streams() == ["b", "a"]
    assert (len(store), store.head) == (4, 4)


# ---------------------------------------------------------------- rollback


def test_rollback_appends_a_marker_and_deletes_nothing(store: EventStore):
    store.append("a", [ev(), ev(), ev()])
    seq = store.rollback(to=1, reason="deposits were duplicated")
    assert seq == 4 and len(store) == 4
    marker = store.load().event(4)
    assert (marker.stream, marker.type) == (MARKER_STREAM, ROLLED_BACK)
    assert marker.to_dict()["data"] == {"to": 1, "reason": "deposits were duplicated"}
    assert store.rollback(to=4 - 1, reason="again") == 5
    assert store.version(MARKER_STREAM) == 2


@pytest.mark.parametrize(("to", "reason", "pattern"), [
    (3, "r", "it is the last event"), (9, "r", "not a stored seq"), (0, "r", "integer >= 1"),
    (1, "", "give a reason"), (1, None, "give a reason"),
])
def test_rollback_validation(store: EventStore, to, reason, pattern):
    store.append("a", [ev(), ev(), ev()])
    with pytest.raises(ValueError, match=pattern):
        store.rollback(to=to, reason=reason)
    assert len(store) == 3


# ---------------------------------------------------------------- bulk import


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8,
)
records = st.lists(st.fixed_dictionaries({
    "stream": st.sampled_from(["a", "b'; --", "ç\n", "$x"]),
    "type": st.sampled_from(["Opened", "Deposited"]),
    "data": json_values,
    "meta": st.dictionaries(st.text(max_size=5), json_values, max_size=2),
    "time": st.none() | st.datetimes(min_value=datetime(1, 1, 1), timezones=st.just(UTC)),
    "schema_version": st.integers(1, 4),
}), max_size=20)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records)
def test_log_round_trips_through_the_store(tmp_path_factory, recs):
    log = EventLog.from_records(recs)
    with EventStore.from_log(tmp_path_factory.mktemp("rt") / "s.db", log) as s:
        assert s.load() == log


@settings(max_examples=30, deadline=None)
@given(records)
def test_appended_events_read_back(tmp_path_factory, recs):
    with EventStore(tmp_path_factory.mktemp("ap") / "s.db", durable=False) as s:
        seqs = [s.append(r["stream"], [{k: v for k, v in r.items() if k != "stream"}])[0]
                for r in recs]
        loaded = s.load()
    assert seqs == list(range(1, len(recs) + 1))
    expected = EventLog.from_records(recs).frame.drop("time", "event_id")
    assert loaded.frame.drop("time", "event_id").equals(expected)
    given_times = [r["time"] for r in recs]
    assert [t for t, g in zip(loaded.frame["time"], given_times) if g] == [
        g for g in given_times if g]


def test_append_log_into_a_non_empty_store(store: EventStore):
    store.append("x", [ev(), ev()])
    log = EventLog.from_records([
        {"seq": 10, "stream": "a", "type": "A", "version": 3},
        {"seq": 20, "stream": "a", "type": "B", "version": 4},
        {"seq": 30, "stream": MARKER_STREAM, "type": ROLLED_BACK, "version": 1,
         "data": {"to": 10, "reason": "r"}},
        {"seq": 40, "stream": "x", "type": "C", "version": 3},
    ])
    assert store.append_log(log) == range(3, 7)
    f = store.load().frame
    assert f["seq"].to_list() == [1, 2, 3, 4, 5, 6]
    assert f["version"].to_list() == [1, 2, 3, 4, 1, 3]
    assert f["event_id"].to_list()[2:] == log.frame["event_id"].to_list()
    assert orjson.loads(f["data"][4]) == {"to": 3, "reason": "r"}  # seq 10 is now seq 3
    assert store.append_log(EventLog.from_records([])) == range(7, 7)


def test_append_log_conflicts_store_nothing(store: EventStore):
    store.append("a", [ev(event_id="taken")])
    with pytest.raises(ImmutableLogError, match="stream 'a' is stored up to version 1"):
        store.append_log(EventLog.from_records([{"stream": "a", "type": "X"}]))
    clash = EventLog.from_records([{"stream": "b", "type": "X"},
                                   {"stream": "c", "type": "X", "event_id": "taken"}])
    with pytest.raises(ImmutableLogError, match="event_id 'taken' is already stored at seq 1"):
        store.append_log(clash)
    with pytest.raises(TypeError):
        store.append_log([{"stream": "b", "type": "X"}])  # type: ignore[arg-type]
    assert len(store) == 1


def test_append_an_event_made_without_an_event_id(store: EventStore):
    """``Event(...)`` defaults event_id to "": the store assigns one, as for a mapping."""
    (seq,) = store.append("a", [Event(seq=0, stream="a", version=0, type="T", data={"n": 1})])
    e = store.load().event(seq)
    assert (e.version, e.event_id, dict(e.data)) == (1, event_id_for("a", 1), {"n": 1})
