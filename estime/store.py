"""The embedded event store: :class:`EventStore`, an append-only SQLite database.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "bank.db"
>>> with EventStore(path) as store:
...     store.append("acc-1", [{"type": "Opened", "data": {"owner": "ada"}}], expected_version=0)
...     store.append("acc-1", [{"type": "Deposited", "data": {"amount": 5}}], expected_version=1)
...     log, version = store.load(), store.version("acc-1")
[1]
[2]
>>> [e.type for e in log], version
(['Opened', 'Deposited'], 2)

Schema ``STORE_SCHEMA`` 1 (``PRAGMA user_version``; ``PRAGMA application_id`` marks an estime
store): a ``STRICT`` table ``events`` with the canonical columns, ``seq INTEGER PRIMARY KEY
AUTOINCREMENT`` (never reused), ``UNIQUE(stream, version)``, ``UNIQUE(event_id)``, an index on
``type``; ``time`` is UTC ISO text with microseconds (``2024-05-01T12:00:00.000000Z``), ``data``
and ``meta`` compact JSON. It is append-only *in the database*, whoever writes the file:
triggers abort every UPDATE and DELETE and every INSERT that reuses a seq, event_id or (stream,
version) (``INSERT OR REPLACE`` deletes without firing delete triggers) or goes back in seq or
version order; CHECK constraints refuse non-JSON payloads and other time formats. Other tables
may live beside it (``branches``: :mod:`estime.branch_store`).

Durability: WAL with ``synchronous=FULL``: an append that returned survives a crash and a power
loss (one fsync per call). ``durable=False`` (``synchronous=NORMAL``) stays atomic and
uncorrupted after a crash but may lose the last appends on power loss; far faster for many tiny
appends. Concurrency: many processes may share the file; writes take ``BEGIN IMMEDIATE``
(waiting up to ``timeout`` s), reads see a snapshot and never block. Optimistic concurrency: pass
``expected_version``; on :class:`~estime.errors.ConcurrencyError` reload, decide again, retry.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import polars as pl

from estime._event import parse_iso
from estime._json import to_json_text
from estime._normalize import CANONICAL, SCHEMA, event_id_for
from estime._progress import progress
from estime.errors import ConcurrencyError, ImmutableLogError, LogFormatError
from estime.log import Event, EventLog

if TYPE_CHECKING:
    from estime.branch import Branch

__all__ = ["APPLICATION_ID", "MARKER_STREAM", "ROLLED_BACK", "STORE_SCHEMA", "EventStore"]

#: ``PRAGMA application_id`` of an estime store ("EST1").
APPLICATION_ID = 0x45535431
#: Version of the store's SQL schema (``PRAGMA user_version``).
STORE_SCHEMA = 1
#: The stream of estime's own marker events.
MARKER_STREAM = "$estime"
#: The type of the rollback marker appended by :meth:`EventStore.rollback`.
ROLLED_BACK = "estime.RolledBack"

_REFUSED = ("estime events are append-only: {what} of stored events is refused by the "
            "database. Append a new event instead (a correction, or store.rollback(to=seq, "
            "reason=...)).")
_INSERT_REFUSED = ("estime events are append-only: an INSERT may not reuse a seq, an event_id or "
                   "a (stream, version), nor go back in seq or version order (INSERT OR REPLACE "
                   "would overwrite history). Append through estime.EventStore.append.")
_TIME_GLOB = ("[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]."
              "[0-9][0-9][0-9][0-9][0-9][0-9]Z")
_DDL = [
    f"""CREATE TABLE events (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        stream         TEXT    NOT NULL,
        version        INTEGER NOT NULL CHECK (version >= 1),
        type           TEXT    NOT NULL CHECK (type <> ''),
        time           TEXT    CHECK (time IS NULL OR time GLOB '{_TIME_GLOB}'),
        data           TEXT    NOT NULL CHECK (json_valid(data)),
        meta           TEXT    NOT NULL CHECK (json_valid(meta) AND substr(meta, 1, 1) = '{{'),
        event_id       TEXT    NOT NULL,
        schema_version INTEGER NOT NULL DEFAULT 1 CHECK (schema_version >= 1),
        UNIQUE (stream, version),
        UNIQUE (event_id)
    ) STRICT""",
    "CREATE INDEX events_type ON events (type)",
    f"""CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, '{_REFUSED.format(what="UPDATE")}'); END""",
    f"""CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, '{_REFUSED.format(what="DELETE")}'); END""",
    # NEW.seq is -1 in a BEFORE INSERT trigger when the statement leaves seq to AUTOINCREMENT.
    """CREATE TRIGGER events_append_only BEFORE INSERT ON events WHEN
           (NEW.seq <> -1 AND NEW.seq <= (SELECT coalesce(max(seq), 0) FROM events))
        OR EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
        OR (SELECT max(version) FROM events WHERE stream = NEW.stream) >= NEW.version
        BEGIN SELECT RAISE(ABORT, '""" + _INSERT_REFUSED + """'); END""",  # noqa: S608
    "CREATE TABLE estime_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
]
_TRIGGERS = ("events_no_update", "events_no_delete", "events_append_only")
_COLUMNS = ", ".join(CANONICAL)
# SQL text is built from constants and "?" placeholders only; every value is a parameter.
_INSERT = f"INSERT INTO events ({_COLUMNS}) VALUES ({', '.join('?' * len(CANONICAL))})"  # noqa: S608
_BY_ID = ("SELECT event_id, seq, stream, version, type, data, meta, schema_version FROM events "
          "WHERE event_id IN ")
_MAX_VERSIONS = "SELECT stream, max(version) FROM events WHERE stream IN "
_FIELDS = frozenset({"type", "data", "meta", "event_id", "time", "schema_version",
                     "stream", "version", "seq"})
_PL_TIME = "%Y-%m-%dT%H:%M:%S%.6fZ"
_ROW_SCHEMA = {**SCHEMA, "time": pl.String()}
_MAX_IN = 30_000  # names filtered in SQL with IN (?, ...); more are filtered in polars


class _Pending(NamedTuple):
    """One validated event of an append call."""

    type: str
    data: str
    meta: str
    event_id: str | None
    time: str | None
    schema_version: int


def _in(n: int) -> str:
    """``(?, ?, ...)``: n parameter placeholders."""
    return f"({', '.join('?' * n)})"


def _time_text(t: datetime) -> str:
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _canon(text: str) -> bytes:
    return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS)


def _text_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise LogFormatError(f"{what} must be a non-empty string, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LogFormatError(f"{what} {value!r} is not valid Unicode text ({exc})") from None
    return value


def _names(values: str | Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return [_text_name(v, f"each of {what}") for v in values]


def _int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class EventStore:
    """An append-only event store in one SQLite file (created when missing).

    ``durable=True`` fsyncs every append (``synchronous=FULL``); ``durable=False`` trades
    the last appends on power loss for speed (see the module documentation). ``timeout`` is
    how long a writer waits for another one (seconds). Use it as a context manager or call
    :meth:`close`. One object per process; threads may share it.
    """

    def __init__(self, path: str | Path, *, durable: bool = True, timeout: float = 10.0) -> None:
        """Open the store at ``path``, creating the schema in a new or empty file."""
        self.path = Path(path)
        self.durable = durable
        self._lock = threading.RLock()
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory; give the path of a store file")
        conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        self._conn: sqlite3.Connection | None = conn
        try:
            import sqlite_utils  # here: it imports pandas, 0.4 s that `import estime` skips

            self._db = sqlite_utils.Database(conn, execute_plugins=False)
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.enable_wal()
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA cache_size = -65536")
            self._setup()
        except BaseException as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, sqlite3.DatabaseError):
                raise LogFormatError(f"{self.path} is not a readable SQLite database ({exc}); "
                                     "give the path of an estime store or a new file") from None
            raise

    # ------------------------------------------------------------------ schema

    def _pragma(self, name: str) -> int:
        return int(self.conn.execute(f"PRAGMA {name}").fetchone()[0])

    def _setup(self) -> None:
        if self._pragma("application_id") != APPLICATION_ID:
            with self._write() as conn:  # re-checked under the write lock: creation races
                if self._pragma("application_id") != APPLICATION_ID:
                    self._create(conn)
        self._check_schema()

    def _create(self, conn: sqlite3.Connection) -> None:
        tables = [t for t in self._db.table_names() if not t.startswith("sqlite_")]
        if tables or self._pragma("application_id") != 0:
            raise LogFormatError(
                f"{self.path} is an SQLite database but not an estime event store (tables: "
                f"{', '.join(tables) or 'none'}). Open an estime store or a new file; read other "
                "databases with estime.read_eventsourcing / estime.read_langgraph.")
        for statement in _DDL:
            conn.execute(statement)
        from estime import __version__

        conn.executemany("INSERT INTO estime_meta (key, value) VALUES (?, ?)", [
            ("store_schema", str(STORE_SCHEMA)), ("created_by", f"estime {__version__}"),
            ("created_at", _time_text(datetime.now(UTC)))])
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {STORE_SCHEMA}")

    def _check_schema(self) -> None:
        found = self._pragma("user_version")
        if found != STORE_SCHEMA:
            newer = "a newer estime; upgrade estime" if found > STORE_SCHEMA else "an unknown tool"
            raise LogFormatError(
                f"{self.path} is an estime store with schema version {found}, written by "
                f"{newer}. This estime reads store schema {STORE_SCHEMA}.")
        missing = [t for t in _TRIGGERS if t not in self._db.triggers_dict]
        if "events" not in self._db.table_names() or missing:
            raise LogFormatError(
                f"{self.path} is damaged: the events table or its append-only triggers "
                f"({', '.join(missing) or 'events'}) are missing, so the store may have been "
                "altered outside estime. Recover its events with plain sqlite3.")

    # ------------------------------------------------------------------ plumbing

    @property
    def conn(self) -> sqlite3.Connection:
        """The underlying ``sqlite3`` connection (``ValueError`` once closed)."""
        if self._conn is None:
            raise ValueError(f"the EventStore at {self.path} is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): all of it commits or none of it."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else f"{len(self):,} events"
        return f"EventStore({str(self.path)!r}, {state})"

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """The number of stored events."""
        with self._lock:
            return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])

    @property
    def head(self) -> int:
        """The seq of the last stored event (0 when the store is empty)."""
        with self._lock:
            return int(self.conn.execute(
                "SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def version(self, stream: str) -> int:
        """The version of ``stream``'s last event (its event count), 0 when it has none."""
        _text_name(stream, "stream")
        with self._lock:
            row = self.conn.execute(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream = ?", (stream,)
            ).fetchone()
        return int(row[0])

    def streams(self) -> list[str]:
        """Every stream, in order of first appearance (marker stream ``$estime`` included)."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT stream FROM events GROUP BY stream ORDER BY min(seq)").fetchall()
        return [r[0] for r in rows]

    def load(self, until: int | None = None, streams: str | Iterable[str] | None = None,
             types: str | Iterable[str] | None = None, *, markers: bool = True) -> EventLog:
        """The stored events (a consistent snapshot) as an :class:`EventLog`, in seq order.

        ``until`` keeps seq ≤ ``until``; ``streams`` / ``types`` keep those streams / types.
        When filtering by stream or type, rollback markers (stream ``$estime``) are kept too
        unless ``markers=False``, so that a replay of the subset still honours them.
        """
        where: list[str] = []
        params: list[Any] = []
        post: list[pl.Expr] = []
        if until is not None:
            where.append("seq <= ?")
            params.append(_int(until, "until", 0))
        subset: list[str] = []
        for column, values in (("stream", streams), ("type", types)):
            if values is None:
                continue
            names = _names(values, f"{column}s")
            if len(names) > _MAX_IN:
                post.append(pl.col(column).is_in(names))
                continue
            subset.append(f"{column} IN {_in(len(names))}" if names else "0")
            params.extend(names)
        if subset:
            cond = " AND ".join(subset)
            if markers:
                cond = f"(({cond}) OR (stream = ? AND type = ?))"
                params += [MARKER_STREAM, ROLLED_BACK]
            where.append(cond)
        sql = f"SELECT {_COLUMNS} FROM events"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._fetch(sql + " ORDER BY seq", params)
        frame = self._frame(rows)
        if post:
            keep = pl.all_horizontal(post)
            if markers:
                keep = keep | ((pl.col("stream") == MARKER_STREAM)
                               & (pl.col("type") == ROLLED_BACK))
            frame = frame.filter(keep)
        return EventLog._trusted(frame, source=str(self.path))

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql, params)
        first = cur.fetchmany(100_000)
        if len(first) < 100_000:
            return first
        rows = first
        bar = progress(None, "loading events")
        bar.update(len(first))
        while chunk := cur.fetchmany(100_000):
            rows.extend(chunk)
            bar.update(len(chunk))
        bar.close()
        return rows

    @staticmethod
    def _frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
        frame = pl.DataFrame(rows, schema=_ROW_SCHEMA, orient="row")
        return frame.with_columns(
            pl.col("time").str.strptime(pl.Datetime("us", "UTC"), _PL_TIME, strict=True))

    # ------------------------------------------------------------------ appending

    def append(self, stream: str, events: Iterable[Event | Mapping[str, Any]] | Event
               | Mapping[str, Any], expected_version: int | None = None) -> list[int]:
        """Append ``events`` to ``stream`` atomically (all or nothing); return their seqs.

        ``events``: :class:`~estime.Event` values or mappings with ``type`` and ``data``
        (optional ``meta``, ``event_id``, ``time``, ``schema_version``; ``seq`` and ``version``
        are assigned, versions consecutively). A missing event_id becomes the UUIDv5 of
        (stream, version), a missing time the current UTC time. ``expected_version``: ``None``
        no check, ``0`` a new stream, ``n`` the stream's version, else ``ConcurrencyError``.

        Idempotent: an event whose event_id is stored with the same stream, type, data, meta
        and schema_version (canonical JSON; time not compared) is not stored again, its seq is
        returned. A call whose events are *all* stored is a retry of a committed append and
        succeeds whatever ``expected_version`` says; a retry without event_ids is recognised
        when it passes the same ``expected_version`` (the ids derive from it). The same
        event_id with other content: :class:`~estime.errors.ImmutableLogError`.
        """
        _text_name(stream, "stream")
        if stream == MARKER_STREAM:
            raise ValueError(f"stream {MARKER_STREAM!r} is reserved for estime's markers; "
                             "use store.rollback(...) to append a rollback marker")
        if expected_version is not None:
            expected_version = _int(expected_version, "expected_version", 0)
        pending = self._prepare(stream, events)
        try:
            with self._write() as conn:
                return self._append(conn, stream, pending, expected_version)
        except UnicodeEncodeError as exc:
            raise LogFormatError(f"append to stream {stream!r}: a type or event_id is not "
                                 f"valid Unicode text ({exc}). Nothing was stored.") from None

    def _prepare(self, stream: str, events: Any) -> list[_Pending]:
        if isinstance(events, (Event, Mapping)):
            events = [events]
        now: str | None = None
        out: list[_Pending] = []
        ids: dict[str, int] = {}
        prefix = f"append to stream {stream!r}: event "
        for i, ev in enumerate(events):
            where = f"{prefix}{i}"
            if isinstance(ev, Event):
                fields: Mapping[str, Any] = ev.to_dict()
            elif type(ev) is dict or isinstance(ev, Mapping):
                fields = ev
                if not fields.keys() <= _FIELDS:
                    unknown = [k for k in fields if k not in _FIELDS]
                    raise LogFormatError(
                        f"{where}: unknown field {unknown[0]!r}; an event has type, data, meta, "
                        "event_id, time and schema_version (put payload fields under 'data')")
            else:
                raise LogFormatError(f"{where} is a {type(ev).__name__}, not an Event or a "
                                     "mapping with 'type' and 'data'")
            if fields.get("stream", stream) != stream:
                raise LogFormatError(f"{where} belongs to stream {fields['stream']!r}")
            etype = fields.get("type")
            if not isinstance(etype, str) or not etype:
                raise LogFormatError(f"{where}: field 'type' must be a non-empty string, "
                                     f"got {etype!r}")
            texts = []
            for name in ("data", "meta"):
                value = fields.get(name)
                if name == "meta" and not (value is None or type(value) is dict
                                           or isinstance(value, Mapping)):
                    raise LogFormatError(f"{where}: field 'meta' must be a mapping (a JSON "
                                         f"object), got {type(value).__name__}")
                try:
                    texts.append("{}" if value is None else to_json_text(value))
                except TypeError as exc:
                    raise LogFormatError(f"{where}: field {name!r} is not JSON-compatible "
                                         f"({exc}). Use dicts, lists, str, int, float, bool "
                                         "and None only.") from None
            event_id = fields.get("event_id")
            if event_id is not None:
                if type(event_id) is not str or not event_id:
                    _text_name(event_id, f"{where}: field 'event_id'")
                if event_id in ids:
                    raise LogFormatError(f"{where} repeats the event_id {event_id!r} of event "
                                         f"{ids[event_id]} in the same append")
                ids[event_id] = i
            t = fields.get("time")
            if t is None:
                now = now or _time_text(datetime.now(UTC))
                time = now
            elif isinstance(t, datetime):
                time = _time_text(t)
            elif isinstance(t, str):
                try:
                    time = _time_text(parse_iso(t))
                except ValueError:
                    raise LogFormatError(f"{where}: field 'time' is not ISO 8601: {t[:60]!r}"
                                         ) from None
            else:
                raise LogFormatError(f"{where}: field 'time' must be a datetime or ISO 8601 "
                                     f"text, got {type(t).__name__}")
            sv = fields.get("schema_version")
            if sv is None:
                sv = 1
            elif isinstance(sv, bool) or not isinstance(sv, int) or sv < 1:
                raise LogFormatError(f"{where}: field 'schema_version' must be an integer >= 1, "
                                     f"got {sv!r}")
            out.append(_Pending(etype, texts[0], texts[1], event_id, time, sv))
        return out

    def _stored(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        found: dict[str, tuple[Any, ...]] = {}
        for lo in range(0, len(ids), 500):
            part = ids[lo:lo + 500]
            for row in conn.execute(_BY_ID + _in(len(part)), part):
                found[row[0]] = row
        return found

    def _append(self, conn: sqlite3.Connection, stream: str, pending: list[_Pending],
                expected: int | None) -> list[int]:
        current = int(conn.execute("SELECT coalesce(max(version), 0) FROM events WHERE "
                                   "stream = ?", (stream,)).fetchone()[0])
        base = current if expected is None else expected
        tentative = [p.event_id or event_id_for(stream, base + i + 1)
                     for i, p in enumerate(pending)]
        seqs: list[int | None] = [None] * len(pending)
        # Ids assigned from versions above the stream's cannot be stored yet: look up only
        # given ids, and assigned ones when the stream moved past expected_version (a retry?).
        lookup = [t for t, p in zip(tentative, pending)
                  if p.event_id is not None or base != current]
        if lookup:
            stored = self._stored(conn, lookup)
            for i, p in enumerate(pending):
                row = stored.get(tentative[i])
                if row is None:
                    continue
                diff = _difference(row, stream, p)
                if diff is None:
                    seqs[i] = row[1]
                elif p.event_id is not None:
                    field, old, new = diff
                    raise ImmutableLogError(
                        f"event_id {p.event_id!r} (event {i} of this append) is already stored "
                        f"at seq {row[1]} (stream {row[2]!r}, version {row[3]}) with a "
                        f"different {field}: stored {str(old)[:80]!r}, appended "
                        f"{str(new)[:80]!r}. Stored events never change; append a new event "
                        "with a new event_id (for instance a correction) instead.")
            if all(s is not None for s in seqs):
                return [int(s) for s in seqs if s is not None]
        if expected is not None and current != expected:
            raise ConcurrencyError(
                f"stream {stream!r} is at version {current}, not at the expected version "
                f"{expected}: " + ("it already exists. " if expected == 0 else
                                   "another writer appended to it since it was read. ")
                + f"Reload it (store.load(streams=[{stream!r}]) or store.version({stream!r})), "
                "decide again and retry the append with the new expected_version.",
                stream=stream, expected=expected, actual=current)
        head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
        rows = []
        for i, p in enumerate(pending):
            if seqs[i] is not None:
                continue
            head += 1
            current += 1
            seqs[i] = head
            rows.append((head, stream, current, p.type, p.time, p.data, p.meta,
                         p.event_id or event_id_for(stream, current), p.schema_version))
        try:
            conn.executemany(_INSERT, rows)
        except sqlite3.IntegrityError as exc:
            raise ImmutableLogError(f"append to stream {stream!r} refused by the database: "
                                    f"{exc}. Nothing was stored.") from None
        return [int(s) for s in seqs if s is not None]

    def rollback(self, to: int, reason: str) -> int:
        """Append a rollback marker and return its seq; nothing is deleted.

        The marker (type ``estime.RolledBack``, stream ``$estime``, data ``{"to": to,
        "reason": reason}``) tells replays to skip the events after ``to`` and before the
        marker. ``to`` must be a stored seq below the head.
        """
        to = _int(to, "to", 1)
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("give a reason for the rollback (a non-empty string)")
        with self._write() as conn:
            head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
            exists = conn.execute("SELECT 1 FROM events WHERE seq = ?", (to,)).fetchone()
            if exists is None or to >= head:
                why = "is the last event: nothing to roll back" if to == head else (
                    "is not a stored seq")
                raise ValueError(f"cannot roll back to seq {to}: it {why} (the store holds "
                                 f"seqs 1..{head})")
            data = to_json_text({"to": to, "reason": reason})
            pending = [_Pending(ROLLED_BACK, data, "{}", None,
                                _time_text(datetime.now(UTC)), 1)]
            return self._append(conn, MARKER_STREAM, pending, None)[0]

    # ------------------------------------------------------------------ bulk import

    def append_log(self, log: EventLog, *, batch_size: int = 50_000) -> range:
        """Import a whole :class:`EventLog` in one transaction and return the new seqs.

        The log's streams, versions, event_ids and times are kept; seqs become the store's
        (the next free ones, in the log's order) and rollback markers' ``to`` is translated
        to them. A stream that already has stored events must continue after its version;
        an event_id already stored is an error. All or nothing.
        """
        from estime._store_import import append_log

        return append_log(self, log, batch_size=batch_size)

    @classmethod
    def from_log(cls, path: str | Path, log: EventLog, **options: Any) -> EventStore:
        """Open (or create) the store at ``path``, import ``log`` into it and return it."""
        store = cls(path, **options)
        try:
            store.append_log(log)
        except BaseException:
            store.close()
            raise
        return store

    # ------------------------------------------------------------------ branches

    def save_branch(self, branch: Branch, name: str | None = None, *,
                    overwrite: bool = False) -> str:
        """Save a what-if branch as edits over its parent (table ``branches``); its name.

        See :mod:`estime.branch_store`: never a copy of the log; a parent branch is saved
        first; the same branch again is a no-op.
        """
        from estime.branch_store import save_branch

        return save_branch(self, branch, name, overwrite=overwrite)

    def branches(self) -> pl.DataFrame:
        """The saved branches: name, parent, at, edits (count), created."""
        from estime.branch_store import branches

        return branches(self)

    def load_branch(self, name: str) -> Branch:
        """Rebuild a saved branch from the stored events and its edits."""
        from estime.branch_store import load_branch

        return load_branch(self, name)


def _difference(row: tuple[Any, ...], stream: str, p: _Pending) -> tuple[str, Any, Any] | None:
    """The first content field where a stored row and a pending event differ, if any."""
    _, _, r_stream, _, r_type, r_data, r_meta, r_sv = row
    if r_stream != stream:
        return "stream", r_stream, stream
    if r_type != p.type:
        return "type", r_type, p.type
    if r_data != p.data and _canon(r_data) != _canon(p.data):
        return "data", r_data, p.data
    if r_meta != p.meta and _canon(r_meta) != _canon(p.meta):
        return "meta", r_meta, p.meta
    if r_sv != p.schema_version:
        return "schema_version", r_sv, p.schema_version
    return None
