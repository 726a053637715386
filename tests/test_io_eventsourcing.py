"""read_eventsourcing against databases written by the real ``eventsourcing`` library."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import polars as pl
import pytest
from _helpers import same_json as _same
from eventsourcing.application import Application
from eventsourcing.persistence import (
    Cipher,
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import clear_topic_cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estime as es
from estime.errors import LogFormatError
from estime.io.eventsourcing import read_eventsourcing

MODULE = "estime_test_bank"

BANK = '''
from datetime import datetime
from decimal import Decimal
from uuid import UUID
from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, opened_at: datetime, ref: UUID):
        self.owner = owner
        self.opened_at = opened_at
        self.ref = ref
        self.balance = Decimal("0")
        self.currencies = []
{deposited}
    @event("Withdrawn")
    def withdraw(self, amount: Decimal):
        self.balance -= amount
'''

DEPOSITED_V1 = '''
    class Deposited(Aggregate.Event):
        amount: Decimal

        def apply(self, account):
            account.balance += self.amount
            account.currencies.append("EUR")

    def deposit(self, amount, currency=None):
        self.trigger_event(self.Deposited, amount=amount)
'''

# Version 2 of the same class: Deposited gains a currency; old events are upcast to EUR.
DEPOSITED_V2 = '''
    class Deposited(Aggregate.Event):
        amount: Decimal
        currency: str
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state):
            state["currency"] = "EUR"

        def apply(self, account):
            account.balance += self.amount
            account.currencies.append(self.currency)

    def deposit(self, amount, currency="USD"):
        self.trigger_event(self.Deposited, amount=amount, currency=currency)
'''

BANK_V1 = BANK.replace("{deposited}", DEPOSITED_V1)
BANK_V2 = BANK.replace("{deposited}", DEPOSITED_V2)


def _env(db: Path, **extra: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db), **extra}


def _load_bank(tmp_path: Path, source: str) -> Any:
    sys.modules.pop(MODULE, None)
    clear_topic_cache()
    (tmp_path / f"{MODULE}.py").write_text(source)
    importlib.invalidate_caches()
    return importlib.import_module(MODULE)


@pytest.fixture
def bank_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda source: _load_bank(tmp_path, source)
    sys.modules.pop(MODULE, None)
    clear_topic_cache()


def _activity(rnd: random.Random, account: Any, n: int, v2: bool) -> None:
    for _ in range(n):
        amount = Decimal(rnd.randrange(1, 100_000)) / 100
        if rnd.random() < 0.65:
            account.deposit(amount, rnd.choice(["USD", "GBP", "JPY"]) if v2 else None)
        else:
            account.withdraw(amount)


@pytest.fixture
def bank(tmp_path: Path, bank_module: Any) -> dict[str, Any]:
    """A bank written with class_version 1, then more events with version 2 of the code."""
    db = tmp_path / "bank.db"
    rnd = random.Random(42)
    v1 = bank_module(BANK_V1)
    app: Application[UUID] = Application(env=_env(db))
    accounts = []
    for i in range(4):
        a = v1.Account(f"owner-{i}", datetime(2024, 1, 1 + i, 9, 30, tzinfo=UTC), uuid4())
        _activity(rnd, a, 6 + i, v2=False)
        app.save(a)
        accounts.append(a.id)
    app.close()
    v2 = bank_module(BANK_V2)
    app = Application(env=_env(db))
    for i in range(12):
        a = app.repository.get(rnd.choice(accounts))
        _activity(rnd, a, 1 + i % 3, v2=True)
        app.save(a)
    return {"db": db, "app": app, "ids": accounts, "module": v2}


def _fold(events: list[es.Event], exact: bool) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for e in events:
        if e.type == "Account.Opened":
            state = {"owner": e.data["owner"], "ref": e.data["ref"],
                     "opened_at": e.data["opened_at"], "balance": Decimal(0) if exact else 0.0,
                     "currencies": [], "modified_on": e.time}
            continue
        amount = Decimal(e.data["amount"]) if exact else e.data["amount"]
        state["balance"] += amount if e.type == "Account.Deposited" else -amount
        if e.type == "Account.Deposited":
            state["currencies"].append(e.data["currency"])
        state["modified_on"] = e.time
    return state


def test_bank_matches_repository_at_every_version(bank: dict[str, Any]) -> None:
    app = bank["app"]
    up = es.Upcasters()

    @up.register("Account.Deposited", from_version=1)
    def eur(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "currency": "EUR"}

    exact = read_eventsourcing(bank["db"], decimals="str").upcast(up)
    approx = read_eventsourcing(bank["db"]).upcast(up)
    assert len(exact) == len(approx) > 40
    notifications = app.recorder.select_notifications(start=None, limit=10_000)
    assert exact.frame["seq"].to_list() == [n.id for n in notifications]
    assert exact.frame["version"].to_list() == [n.originator_version for n in notifications]
    assert exact.frame["meta"].to_list() == [json.dumps({"topic": n.topic}, separators=(",", ":"))
                                             for n in notifications]
    checked = 0
    for oid in bank["ids"]:
        stream = str(oid)
        mine = [e for e in exact if e.stream == stream]
        mine_f = [e for e in approx if e.stream == stream]
        assert [e.version for e in mine] == list(range(1, len(mine) + 1))
        for v in range(1, len(mine) + 1):
            agg = app.repository.get(oid, version=v)
            s = _fold(mine[:v], exact=True)
            assert s["balance"] == agg.balance
            assert s["currencies"] == agg.currencies
            assert (s["owner"], s["ref"]) == (agg.owner, str(agg.ref))
            assert datetime.fromisoformat(s["opened_at"]) == agg.opened_at
            assert s["modified_on"] == agg.modified_on
            assert _fold(mine_f[:v], exact=False)["balance"] == pytest.approx(float(agg.balance))
            checked += 1
    assert checked == len(exact)


def test_types_schema_versions_and_payloads(bank: dict[str, Any]) -> None:
    log = read_eventsourcing(bank["db"])
    assert set(log.types) == {"Account.Opened", "Account.Deposited", "Account.Withdrawn"}
    assert set(log.streams) == {str(i) for i in bank["ids"]}
    deposits = log.filter(type="Account.Deposited")
    versions = deposits.frame["schema_version"].to_list()
    assert set(versions) == {1, 2} and versions == sorted(versions)
    for e in deposits:
        assert isinstance(e.data["amount"], float)
        assert ("currency" in e.data) == (e.schema_version == 2)
        assert "class_version" not in e.data and "timestamp" not in e.data
    opened = log.filter(type="Account.Opened").event(1)
    assert opened.data["originator_topic"] == f"{MODULE}:Account"
    assert UUID(opened.data["ref"]) and opened.time is not None and opened.time.tzinfo
    assert json.loads(log.frame["meta"][0]) == {"topic": f"{MODULE}:Account.Opened"}


def test_file_is_never_modified_and_no_side_files(bank: dict[str, Any]) -> None:
    db: Path = bank["db"]
    bank["app"].close()
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent)))
    read_eventsourcing(db, snapshots=True)
    read_eventsourcing(db, decimals="str")
    after = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent)))
    assert after == before


@pytest.mark.parametrize("path", ["snapshot", "sql", "no space for a snapshot"])
def test_reads_events_still_in_the_write_ahead_log(bank: dict[str, Any], path: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With a write-ahead log pending, a large database is copied (SQLite's backup) and the
    copy read from its pages; a small one, or one that cannot be copied, through SQLite."""
    import tempfile

    import estime.io.eventsourcing as es_io

    db: Path = bank["db"]
    app = bank["app"]  # still open: its last writes sit in bank.db-wal
    count = len(read_eventsourcing(db))
    a = app.repository.get(bank["ids"][0])
    a.deposit(Decimal("123.45"), "CHF")
    app.save(a)
    wal = db.with_name(db.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent)))
    monkeypatch.setattr(es_io, "SNAPSHOT_MIN_BYTES", 10**15 if path == "sql" else 0)
    copies: list[tuple[Path, bool]] = []  # (the copy read, whether its pages were read)
    pages = es_io._read_pages

    def spy(*a: Any, **k: Any) -> Any:
        out = pages(*a, **k)
        if k.get("file"):
            copies.append((k["file"], out is not None))
        return out

    monkeypatch.setattr(es_io, "_read_pages", spy)
    if path == "no space for a snapshot":
        def full(*a: Any, **k: Any) -> Any:
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(tempfile, "TemporaryDirectory", full)
    log = read_eventsourcing(db)
    last = log.event(log.frame["seq"][-1])
    assert (last.data["amount"], last.data["currency"]) == (123.45, "CHF")
    assert len(log) == count + 1
    assert [read for _, read in copies] == ([True] if path == "snapshot" else [])
    assert not any(c.exists() or c.parent.exists() for c, _ in copies)  # the copy is deleted
    assert (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent))) == before


def test_snapshots_frame(tmp_path: Path, bank_module: Any) -> None:
    v1 = bank_module(BANK_V1)
    db = tmp_path / "snap.db"
    app: Application[UUID] = Application(env=_env(db, IS_SNAPSHOTTING_ENABLED="y"))
    a = v1.Account("ann", datetime(2024, 5, 1, tzinfo=UTC), uuid4())
    a.deposit(Decimal("10.50"))
    a.withdraw(Decimal("0.25"))
    app.save(a)
    app.take_snapshot(a.id)
    a = app.repository.get(a.id)
    a.deposit(Decimal("1"))
    app.save(a)
    app.take_snapshot(a.id)
    log, snaps = read_eventsourcing(db, snapshots=True, decimals="str")
    assert len(log) == 4 and snaps.height == 2
    assert snaps["stream"].to_list() == [str(a.id)] * 2
    assert snaps["version"].to_list() == [3, 4]
    assert snaps["type"].to_list() == ["Account", "Account"]
    assert snaps["snapshot_topic"].to_list() == ["eventsourcing.domain:Snapshot"] * 2
    for version, state_text in zip(snaps["version"], snaps["state"]):
        agg: Any = app.repository.get(a.id, version=version)
        state = json.loads(state_text)
        assert Decimal(state["balance"]) == agg.balance
        assert state["ref"] == str(agg.ref) and state["owner"] == agg.owner
    assert isinstance(read_eventsourcing(db), es.EventLog)
    # An application without snapshotting has no table: an empty frame with the same columns.
    _, none = read_eventsourcing(_plain_db(tmp_path), snapshots=True)
    assert none.height == 0 and none.columns == snaps.columns


def _plain_db(tmp_path: Path, rows: list[tuple[Any, ...]] | None = None,
              table: str = "stored_events") -> Path:
    db = tmp_path / f"{table}-{len(list(tmp_path.iterdir()))}.db"
    conn = sqlite3.connect(db)
    conn.execute(f"CREATE TABLE {table} (originator_id TEXT, originator_version INTEGER, "
                 "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
    ts = '{"timestamp":{"_type_":"datetime_iso","_data_":"2024-01-01T00:00:00+00:00"}'
    conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?)", rows if rows is not None else [
        ("account-1", 1, "bank:Account.Opened", (ts + ',"owner":"ann"}').encode()),
    ])
    conn.commit()
    conn.close()
    return db


# --------------------------------------------------------------------------- transcodings


class Point:
    def __init__(self, x: Decimal, y: Decimal) -> None:
        self.x, self.y = x, y


class PointAsDict(Transcoding):
    type = Point
    name = "point"

    def encode(self, obj: Point) -> dict[str, Any]:
        return {"x": obj.x, "y": obj.y}

    def decode(self, data: dict[str, Any]) -> Point:
        return Point(data["x"], data["y"])


class Shapes(Application):
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(PointAsDict())


def test_custom_and_nested_transcodings(tmp_path: Path) -> None:
    from eventsourcing.domain import Aggregate, event

    class Shape(Aggregate):
        @event("Drawn")
        def __init__(self, corner: Point, refs: list[UUID], sizes: dict[str, Decimal],
                     when: datetime, note: str):
            pass

    db = tmp_path / "shapes.db"
    app = Shapes(env=_env(db))
    ref = uuid4()
    note = 'a "quoted" {"_type_":"decimal_str","_data_":"1"} string'
    s = Shape(Point(Decimal("1.5"), Decimal("-2")), [ref],
              {"w": Decimal("3"), "h": Decimal("1E+2")},
              datetime(2024, 2, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2))), note)
    app.save(s)
    data = read_eventsourcing(db).event(1).data
    assert data["corner"] == {"_type_": "point", "_data_": {"x": 1.5, "y": -2.0}}
    assert data["refs"] == [str(ref)]
    assert data["sizes"] == {"w": 3.0, "h": 100.0}
    assert isinstance(data["sizes"]["w"], float)
    assert data["when"] == "2024-02-03T04:05:06.000007+02:00"
    assert data["note"] == note
    exact = read_eventsourcing(db, decimals="str").event(1).data
    assert exact["sizes"] == {"w": "3", "h": "1E+2"}
    assert exact["corner"]["_data_"] == {"x": "1.5", "y": "-2"}


_NAIVE_OR_AWARE = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
    timezones=st.one_of(st.none(), st.just(UTC),
                        st.builds(lambda m: timezone(timedelta(minutes=m)),
                                  st.integers(-23 * 60, 23 * 60))))
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ['{"_type_":"uuid_hex","_data_":"00"}', '"_type_"', "\\", "\n", "\u2028"])
_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False), _TEXT, st.uuids(),
    st.decimals(allow_nan=True, allow_infinity=True, places=None), _NAIVE_OR_AWARE,
)
_VALUES = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=12)


def _expected(value: Any, decimals: str) -> Any:
    """What estime promises for a value the library decodes as ``value``."""
    if isinstance(value, dict):
        return {k: _expected(v, decimals) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v, decimals) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        if decimals == "str" or not value.is_finite() or abs(float(value)) == float("inf"):
            return str(value)
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and not (
            -(2**63) <= value < 2**64):
        return str(value)
    return value




@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(st.tuples(_NAIVE_OR_AWARE, st.dictionaries(
    st.text(max_size=6).filter(lambda k: k not in ("timestamp", "class_version")), _VALUES,
    max_size=4), st.integers(1, 3)), min_size=1, max_size=6))
def test_decoding_agrees_with_the_library_transcoder(tmp_path: Path, states: list[Any]) -> None:
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(t)
    rows = []
    for i, (ts, fields, class_version) in enumerate(states):
        state = {"timestamp": ts, **fields}
        if class_version > 1:
            state["class_version"] = class_version
        rows.append((uuid4().hex, 1, f"m:T{i}", transcoder.encode(state)))
    db = _plain_db(tmp_path, rows)
    for decimals in ("float", "str"):
        log = read_eventsourcing(db, decimals=decimals)
        for e, (oid, _, _, raw), (ts, _, cv) in zip(log, rows, states):
            decoded = transcoder.decode(raw)
            decoded.pop("timestamp")
            decoded.pop("class_version", None)
            assert _same(dict(e.data), _expected(decoded, decimals)), (raw, e.data)
            aware = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
            assert e.time == aware
            assert e.schema_version == cv
            assert e.stream == str(UUID(oid))


# --------------------------------------------------------------------------- tables


def test_text_ids_renamed_table_and_choice(tmp_path: Path) -> None:
    db = _plain_db(tmp_path, table="myapp_events")
    log = read_eventsourcing(db)
    assert log.streams == ["account-1"] and log.types == ["Account.Opened"]
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other_events (originator_id TEXT, originator_version INTEGER, "
                 "topic TEXT, state BLOB)")
    conn.commit()
    conn.close()
    with pytest.raises(LogFormatError, match="several eventsourcing events tables"):
        read_eventsourcing(db)
    assert len(read_eventsourcing(db, table="myapp_events")) == 1
    assert len(read_eventsourcing(db, table="other_events")) == 0
    with pytest.raises(LogFormatError, match="no table 'nope'"):
        read_eventsourcing(db, table="nope")


def test_topics_are_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported.txt"
    (tmp_path / "estime_evil_topic.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\nclass Boom: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ts = '{"timestamp":{"_type_":"datetime_iso","_data_":"2024-01-01T00:00:00+00:00"}}'
    db = _plain_db(tmp_path, [("a", 1, "estime_evil_topic:Boom", ts.encode())])
    log = read_eventsourcing(db)
    assert log.types == ["Boom"] and dict(log.event(1).data) == {}
    assert not marker.exists() and "estime_evil_topic" not in sys.modules


# --------------------------------------------------------------------------- hostile input


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(random.Random(1).randbytes(5000))
    with pytest.raises(LogFormatError, match=r"junk\.db is not an SQLite database"):
        read_eventsourcing(junk)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(LogFormatError, match="empty file"):
        read_eventsourcing(empty)
    with pytest.raises(FileNotFoundError, match=r"missing\.db"):
        read_eventsourcing(tmp_path / "missing.db")


def test_wrong_schema(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE orders (id INTEGER, total REAL)")
    conn.commit()
    conn.close()
    with pytest.raises(LogFormatError) as info:
        read_eventsourcing(db)
    msg = str(info.value)
    assert "other.db" in msg and "orders(id, total)" in msg and "PERSISTENCE_MODULE" in msg


def test_truncated_file(tmp_path: Path) -> None:
    rows = [(f"acc-{i}", 1, "m:Opened",
             ('{"timestamp":{"_type_":"datetime_iso","_data_":"2024-01-01T00:00:00+00:00"},'
              f'"pad":"{"x" * 300}"}}').encode()) for i in range(400)]
    db = _plain_db(tmp_path, rows)
    data = db.read_bytes()
    assert len(data) > 8 * 4096
    db.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogFormatError, match="damaged or truncated"):
        read_eventsourcing(db)


def test_null_and_mistyped_columns(tmp_path: Path) -> None:
    ts = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2024-01-01T00:00:00+00:00"}}'
    db = _plain_db(tmp_path, [("a", 1, None, ts)])
    with pytest.raises(LogFormatError, match="rowid 1: topic is NULL"):
        read_eventsourcing(db)
    db = _plain_db(tmp_path, [("a", 1, "m:T", b'{"timestamp": 1, "x": tru}')])
    with pytest.raises(LogFormatError, match=r"originator_id a version 1.*not valid JSON"):
        read_eventsourcing(db)


def test_compressed_states_are_refused(tmp_path: Path, bank_module: Any) -> None:
    v1 = bank_module(BANK_V1)
    db = tmp_path / "zip.db"
    env = _env(db, COMPRESSOR_TOPIC="eventsourcing.compressor:ZlibCompressor")
    app: Application[UUID] = Application(env=env)
    a = v1.Account("ann", datetime(2024, 1, 1, tzinfo=UTC), uuid4())
    app.save(a)
    with pytest.raises(LogFormatError) as info:
        read_eventsourcing(db)
    msg = str(info.value)
    assert "compressed with zlib" in msg and "COMPRESSOR_TOPIC" in msg
    assert f"originator_id {a.id.hex} version 1" in msg and "zip.db" in msg
    assert "stored_events" in msg


class KeystreamCipher(Cipher):
    """A stand-in for AESCipher (same layout: nonce + tag + ciphertext) for the test."""

    def __init__(self, environment: Any) -> None:
        self.key = hashlib.sha256(environment.get("CIPHER_KEY").encode()).digest()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        out = b""
        counter = 0
        while len(out) < n:
            out += hashlib.sha256(self.key + nonce + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:n]

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        body = bytes(a ^ b for a, b in zip(plaintext, self._stream(nonce, len(plaintext))))
        return nonce + hashlib.sha256(self.key + body).digest()[:16] + body

    def decrypt(self, ciphertext: bytes) -> bytes:
        nonce, body = ciphertext[:12], ciphertext[28:]
        return bytes(a ^ b for a, b in zip(body, self._stream(nonce, len(body))))


def test_encrypted_states_are_refused(tmp_path: Path, bank_module: Any) -> None:
    v1 = bank_module(BANK_V1)
    db = tmp_path / "secret.db"
    app: Application[UUID] = Application(env=_env(db, CIPHER_TOPIC=f"{__name__}:KeystreamCipher",
                               CIPHER_KEY="k3y"))
    a = v1.Account("ann", datetime(2024, 1, 1, tzinfo=UTC), uuid4())
    app.save(a)
    assert app.repository.get(a.id).owner == "ann"  # the application itself can read it
    with pytest.raises(LogFormatError) as info:
        read_eventsourcing(db)
    msg = str(info.value)
    assert "encrypted" in msg and "CIPHER_TOPIC" in msg and f"originator_id {a.id.hex}" in msg


def test_empty_events_table(tmp_path: Path) -> None:
    log, snaps = read_eventsourcing(_plain_db(tmp_path, []), snapshots=True)
    assert len(log) == 0 and snaps.height == 0
    assert log.frame.columns[:9] == ["seq", "stream", "version", "type", "time", "data", "meta",
                                     "event_id", "schema_version"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="decimals"):
        read_eventsourcing(_plain_db(tmp_path), decimals="decimal")  # type: ignore[call-overload]


def test_frame_dtypes(tmp_path: Path) -> None:
    frame = read_eventsourcing(_plain_db(tmp_path)).frame
    assert frame.schema["time"] == pl.Datetime("us", "UTC")
    assert frame["time"][0] == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_file_changed_while_read_is_read_again_with_locks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import estime.io._sqlite as mod

    db = _plain_db(tmp_path)
    modes: list[bool] = []
    connect = mod._connect

    def spy(path: Path, immutable: bool) -> sqlite3.Connection:
        modes.append(immutable)
        return connect(path, immutable)

    stamps = iter([(1, 1, False), (2, 2, False)])  # before, after: "written meanwhile"
    monkeypatch.setattr(mod, "_connect", spy)
    monkeypatch.setattr(mod, "_stamp", lambda p: next(stamps))
    assert len(read_eventsourcing(db)) == 1
    assert modes == [True, False]
    # A pending write-ahead log: never immutable (its pages are not in the main file yet).
    modes.clear()
    monkeypatch.setattr(mod, "_stamp", lambda p: (1, 1, True))
    wal = db.with_name(db.name + "-wal")
    wal.write_bytes(b"x" * 100)
    assert len(read_eventsourcing(db)) == 1
    assert modes == [False]
    assert wal.read_bytes() == b"x" * 100
