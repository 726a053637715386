"""The fast paths of read_eventsourcing: the table read from the file's pages with numpy
(estime.io._sqlite) and the states decoded column-wise (estime.io._es_states).

Each is checked against the general path it stands in for: SQLite itself, and the per-row
decoder (estime.io.eventsourcing.decode_state)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pytest
from _helpers import same_json as _same
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estime.io.eventsourcing as es_mod
from estime._normalize import DuplicatesDropped
from estime.errors import LogFormatError
from estime.io._es_states import _PAD, _flat, _valid, decode
from estime.io._sqlite import Kind, binary_views, read_columns
from estime.io.eventsourcing import read_eventsourcing

SCHEMA = ("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
          "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
COLUMNS: dict[str, Kind] = {"originator_id": "text", "originator_version": "int",
                            "topic": "text", "state": "blob"}
TS = '{"timestamp":{"_type_":"datetime_iso","_data_":"2024-01-01T00:00:00.000001+00:00"}'


def _db(path: Path, rows: list[tuple[Any, ...]], *, page_size: int = 4096,
        rowids: list[int] | None = None, schema: str = SCHEMA) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size={page_size}")
    conn.execute(schema)
    if rowids is None:
        conn.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows)
    else:
        conn.executemany("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                         "topic, state) VALUES (?,?,?,?,?)",
                         [(r, *row) for r, row in zip(rowids, rows)])
    conn.commit()
    conn.close()
    return path


def _immutable(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)


def _by_sql(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT rowid, originator_id, originator_version, topic, state "
                        "FROM stored_events ORDER BY rowid").fetchall()
    conn.close()
    return rows


def _by_pages(path: Path) -> list[tuple[Any, ...]] | None:
    conn = _immutable(path)
    try:
        t = read_columns(path, conn, "stored_events", COLUMNS)
    finally:
        conn.close()
    if t is None:
        return None
    try:  # as the reader: text that is not UTF-8 is left to SQLite
        oid = binary_views(t.buf, *t.columns[0]).cast(pl.String).to_list()
        topic = binary_views(t.buf, *t.columns[2]).cast(pl.String).to_list()
    except pl.exceptions.ComputeError:
        return None
    state = binary_views(t.buf, *t.columns[3]).to_list()
    return list(zip(t.rowid.tolist(), oid, t.columns[1].tolist(), topic, state))


# ------------------------------------------------------------------------------ pages

_ROW = st.tuples(st.text(max_size=40), st.integers(-(2**63), 2**63 - 1),
                 st.text(max_size=60), st.binary(max_size=300))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, max_size=60, unique_by=lambda r: (r[0], r[1])),
       page_size=st.sampled_from([512, 1024, 4096, 65536]),
       big=st.lists(st.integers(0, 59), max_size=3),
       rowid_kind=st.sampled_from(["auto", "sparse", "extreme"]), data=st.data())
def test_pages_read_what_sqlite_reads(tmp_path_factory: pytest.TempPathFactory,
                                      rows: list[tuple[Any, ...]], page_size: int,
                                      big: list[int], rowid_kind: str,
                                      data: st.DataObject) -> None:
    rows = [(o, v, t, b * 40 if i in big else b) for i, (o, v, t, b) in enumerate(rows)]
    rowids = None
    if rowid_kind == "sparse":
        rowids = sorted(data.draw(st.sets(st.integers(1, 10**6), min_size=len(rows),
                                          max_size=len(rows))))
    elif rowid_kind == "extreme":  # 9-byte varints, negative rowids
        rowids = sorted(data.draw(st.sets(st.integers(-(2**63), 2**63 - 1),
                                          min_size=len(rows), max_size=len(rows))))
    db = _db(tmp_path_factory.mktemp("p") / "t.db", rows, page_size=page_size, rowids=rowids)
    assert _by_pages(db) == _by_sql(db)


def test_pages_of_a_big_table_deletes_and_overflow(tmp_path: Path) -> None:
    rnd = random.Random(5)
    rows = [(f"acc-{i % 97}", i, f"m:T{i % 5}",
             rnd.randbytes(rnd.choice([10, 150, 900, 5000, 70_000]))) for i in range(3000)]
    db = _db(tmp_path / "big.db", rows, page_size=1024)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM stored_events WHERE originator_version % 7 = 3")
    conn.commit()
    conn.close()
    got = _by_pages(db)
    assert got is not None and len(got) == 3000 - 429
    assert got == _by_sql(db)
    conn = sqlite3.connect(db)
    conn.execute("VACUUM")
    conn.close()
    assert _by_pages(db) == _by_sql(db)


@pytest.mark.parametrize("case", ["without rowid", "null", "text state", "blob topic",
                                  "added column", "generated", "rowid alias"])
def test_pages_give_way_to_sqlite_on_unusual_tables(tmp_path: Path, case: str) -> None:
    schema = SCHEMA
    rows: list[tuple[Any, ...]] = [("a", 1, "m:T", (TS + "}").encode())]
    if case == "without rowid":
        schema = SCHEMA[:-1] + ") WITHOUT ROWID"
    elif case == "null":
        rows.append(("b", 1, None, b"{}"))
    elif case == "text state":
        rows.append(("b", 1, "m:T", TS + "}"))
    elif case == "blob topic":  # TEXT affinity keeps a blob a blob
        rows.append(("b", 1, b"m:T", b"{}"))
    elif case == "generated":
        schema = SCHEMA.replace("state BLOB,", "state BLOB, n INTEGER GENERATED ALWAYS AS "
                                "(originator_version + 1) VIRTUAL,")
    elif case == "rowid alias":
        schema = ("CREATE TABLE stored_events (originator_version INTEGER PRIMARY KEY, "
                  "originator_id TEXT, topic TEXT, state BLOB)")
        rows = [(1, "a", "m:T", (TS + "}").encode())]
    db = _db(tmp_path / "u.db", rows, schema=schema)
    if case == "added column":
        conn = sqlite3.connect(db)
        conn.execute("ALTER TABLE stored_events ADD COLUMN extra TEXT DEFAULT 'x'")
        conn.execute("INSERT INTO stored_events VALUES ('c', 1, 'm:T', ?, 'y')",
                     ((TS + "}").encode(),))
        conn.commit()
        conn.close()
    assert _by_pages(db) is None


def test_damaged_pages_never_disagree_with_sqlite(tmp_path: Path) -> None:
    rnd = random.Random(11)
    rows = [(f"acc-{i}", 1, "m:T", (TS + f',"n":{i}}}').encode()) for i in range(400)]
    clean = _db(tmp_path / "clean.db", rows, page_size=1024).read_bytes()
    for k in range(60):
        data = bytearray(clean)
        for _ in range(rnd.randrange(1, 4)):
            data[rnd.randrange(1024, len(data))] = rnd.randrange(256)
        db = tmp_path / f"d{k}.db"
        db.write_bytes(bytes(data))
        try:
            mine = _by_pages(db)
        except sqlite3.Error:
            continue
        try:
            theirs = _by_sql(db)
        except sqlite3.Error:
            theirs = None
        if mine is not None and theirs is not None:
            assert mine == theirs


# ------------------------------------------------------------------------ decoding


def _states(raw: list[bytes]) -> pl.Series:
    return pl.Series(raw, dtype=pl.Binary).cast(pl.String)


def _slow(raw: bytes, decimals: str) -> tuple[Any, Any, int] | None:
    try:
        data, time, version = es_mod.decode_state(raw, decimals)  # type: ignore[arg-type]
    except (ValueError, UnicodeDecodeError):
        return None
    return orjson.loads(es_mod.json_text(data)), time, version


_TRANSCODER = JSONTranscoder()
for _t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
    _TRANSCODER.register(_t)


def _mutants(state: bytes, rnd: random.Random) -> list[bytes]:
    out = []
    for _ in range(6):
        b = bytearray(state)
        i = rnd.randrange(len(b))
        op = rnd.randrange(4)
        if op == 0:
            del b[i]
        elif op == 1:
            b.insert(i, rnd.choice(b'{}[]:,"\\ 0.eE-+xn\t\n'))
        elif op == 2:
            b[i] = rnd.choice(b'{}[]:,"\\ 0.eE-+xn1')
        else:
            b[i:i] = rnd.choice([b'{"_type_":"decimal_str","_data_":"1"}', b'"_type_"', b"1" * 20,
                                 b',"class_version":7', b"NaN", b"1e400"])
        out.append(bytes(b))
    return out


@settings(max_examples=60, deadline=None)
@given(states=st.lists(st.tuples(
    st.datetimes(timezones=st.sampled_from([None, __import__("datetime").UTC])),
    st.dictionaries(st.text(max_size=5).filter(lambda k: k not in ("timestamp", "class_version")),
                    st.one_of(st.decimals(allow_nan=True), st.uuids(), st.integers(),
                              st.floats(allow_nan=False), st.text(max_size=8), st.none(),
                              st.datetimes(), st.lists(st.decimals(allow_nan=False), max_size=2)),
                    max_size=4),
    st.integers(1, 3)), min_size=1, max_size=8), seed=st.integers(0, 2**32))
def test_column_wise_decoding_agrees_with_the_per_row_decoder(states: list[Any],
                                                               seed: int) -> None:
    rnd = random.Random(seed)
    raw = []
    for ts, fields, cv in states:
        state = {"timestamp": ts, **fields}
        if cv > 1:
            state["class_version"] = cv
        good = _TRANSCODER.encode(state)
        raw.append(good)
        raw += [m for m in _mutants(good, rnd) if _utf8(m)]
    for decimals in ("float", "str"):
        got = decode(_states(raw), decimals)  # type: ignore[arg-type]
        for i, state in enumerate(raw):
            if got.slow[i]:
                continue
            expected = _slow(state, decimals)
            assert expected is not None, state
            data = orjson.loads(got.data[i])
            assert _same(data, expected[0]), (state, got.data[i])
            assert got.time[i] == expected[1] and got.schema_version[i] == expected[2]
            assert "\n" not in got.data[i]


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True




def test_the_library_states_take_the_column_wise_path() -> None:
    raw = [(TS + ',"amount":{"_type_":"decimal_str","_data_":"12"},'
            '"ref":{"_type_":"uuid_hex","_data_":"' + "ab" * 16 + '"},"class_version":2}').encode(),
           (TS + "}").encode(), (TS + ',"class_version":3}').encode()]
    got = decode(_states(raw), "float")
    assert not got.slow.any()
    assert orjson.loads(got.data[0]) == {"amount": 12.0, "ref": "abababab-abab-abab-abab-"
                                         "abababababab"}
    assert got.data[1] == "{}" and got.data[2] == "{}"
    assert got.schema_version.tolist() == [2, 1, 3]


_JSONISH = st.text(alphabet='{}[]:,"\\ 0123456789.eE-+truefalsnl\tx\u00e9\x01', max_size=40)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.one_of(_JSONISH, st.builds(
    lambda ks, vs: "{" + ",".join(f'"{k}":{v}' for k, v in zip(ks, vs)) + "}",
    st.lists(st.text(alphabet="ab:,{}", max_size=3), max_size=3),
    st.lists(st.sampled_from(["1", "-0", "1.5", "1e5", "1e400", "01", "true", "nul", '"x"',
                              "[1]", '{"a":1}', "1" * 19, "1" * 18, "-", "2.", "NaN"]),
             max_size=3))), min_size=1, max_size=12))
def test_json_check_accepts_only_objects_orjson_reads(rows: list[str]) -> None:
    raw = [r.encode() for r in rows]
    k = np.frombuffer(b"".join(raw) + bytes(_PAD), np.uint8)
    offs = np.concatenate(([0], np.cumsum([len(r) for r in raw]))).astype(np.int64)
    none = np.zeros(0, np.int64)
    for accepted, row in zip(_valid(k, offs, none, none, none), raw):
        if accepted:
            assert isinstance(orjson.loads(row), dict), row
    for flat, row in zip(_flat(k, offs).ok, raw):
        if flat:
            value = orjson.loads(row)
            assert all(not isinstance(v, (dict, list)) for v in value.values())


@pytest.mark.parametrize("rest", [
    '"a":1{"_type_":"decimal_str","_data_":"2"}',  # would read as 12.0
    '{"_type_":"datetime_iso","_data_":"k"}:1',  # an object as a key
    '"k{"_type_":"decimal_str","_data_":"1"}":2',  # inside a string
    '"a":[{"_type_":"decimal_str","_data_":"1"}',  # unclosed array
    '"a":{"_type_":"uuid_hex","_data_":"' + "ab" * 16 + '"}"x"',
])
def test_wrappers_cannot_make_invalid_json_look_valid(tmp_path: Path, rest: str) -> None:
    db = _db(tmp_path / "bad.db", [("a", 1, "m:T", (TS + "," + rest + "}").encode())])
    with pytest.raises(LogFormatError, match="not valid JSON"):
        read_eventsourcing(db)


# ------------------------------------------------------------------- read_eventsourcing


def _bank_rows(n: int) -> list[tuple[Any, ...]]:
    rnd = random.Random(3)
    out = []
    for i in range(n):
        oid = f"{rnd.getrandbits(128):032x}"
        state = _TRANSCODER.encode({
            "timestamp": __import__("datetime").datetime(2024, 1, 1, tzinfo=__import__(
                "datetime").UTC), "amount": __import__("decimal").Decimal(i) / 7,
            "note": "é\"\n" if i % 50 == 0 else f"n{i}", "class_version": 2 if i % 3 else 1})
        out.append((oid, 1, f"bank:Account.T{i % 3}", state))
    return out


def test_pages_and_sql_give_the_same_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db(tmp_path / "bank.db", _bank_rows(700))
    used: list[bool] = []
    real = es_mod._read_pages

    def spy(*a: Any) -> Any:
        got = real(*a)
        used.append(got is not None)
        return got

    monkeypatch.setattr(es_mod, "_read_pages", spy)
    fast = read_eventsourcing(db)
    assert used == [True]
    monkeypatch.setattr(es_mod, "_read_pages", lambda *a: None)
    slow = read_eventsourcing(db)
    assert fast.frame.equals(slow.frame)
    assert fast.frame["stream"][0].count("-") == 4


def test_text_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    db = _db(tmp_path / "bad.db", [("a", 1, "m:T", (TS + "}").encode())])
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO stored_events VALUES ('b', 1, CAST(x'6dff' AS TEXT), ?)",
                 ((TS + "}").encode(),))
    conn.commit()
    conn.close()
    with pytest.raises(LogFormatError, match=r"bad\.db.*UTF-8"):
        read_eventsourcing(db)


def test_duplicate_versions_are_still_refused(tmp_path: Path) -> None:
    ts = (TS + "}").encode()
    db = _db(tmp_path / "dup.db", [("A" * 32, 1, "m:T", ts), ("a" * 32, 1, "m:T", ts)])
    with pytest.raises(LogFormatError, match="duplicate event"):
        read_eventsourcing(db)
    with pytest.warns(DuplicatesDropped):
        log = read_eventsourcing(db, duplicates="drop")
    assert len(log) == 1 and log.duplicates_dropped == 1
    db = _db(tmp_path / "order.db", [("a", 2, "m:T", ts), ("a", 1, "m:T", ts)])
    with pytest.raises(LogFormatError, match="not greater"):
        read_eventsourcing(db)
