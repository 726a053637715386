"""Read the SQLite database of the Python ``eventsourcing`` library (version 9).

An application configured with ``PERSISTENCE_MODULE=eventsourcing.sqlite`` and
``SQLITE_DBNAME=path`` keeps its aggregate events in a table ``stored_events``
(``originator_id``, ``originator_version``, ``topic``, ``state``; the notification id is the
table's ``rowid``) and, with snapshotting on, its snapshots in ``stored_snapshots``. A state is
JSON written by the library's ``JSONTranscoder``: values it cannot write as plain JSON are
wrapped as ``{"_type_": name, "_data_": ...}``.

:func:`read_eventsourcing` turns the events table into an :class:`~estime.log.EventLog`:

=================  ==========================================================================
``seq``            the rowid (the library's notification id)
``stream``         the originator id; a 32-digit hex id is written as a dashed UUID
``version``        ``originator_version``
``type``           the class's qualified name from the topic (``Account.Deposited``)
``time``           the event's ``timestamp``
``data``           the state without ``timestamp`` and ``class_version``, wrappers unwrapped
``meta``           ``{"topic": the full topic}``
``schema_version`` the stored ``class_version`` (1 when absent: the library omits it for 1)
=================  ==========================================================================

Wrappers become plain JSON values: ``datetime_iso`` → its ISO text, ``decimal_str`` → a float
(or the decimal's text with ``decimals="str"``; non-finite decimals stay text), ``uuid_hex`` →
the dashed UUID text, and the common extension transcodings ``tuple_as_list`` → the list,
``date_iso``/``time_iso`` → the text. Any other (custom) transcoding is kept as the
``{"_type_": ..., "_data_": ...}`` object, its inner values unwrapped, so nothing is lost and
nothing fails. JSON has no NaN or infinities and most JSON tools read no integers beyond 64
bits: such values (which the library's ``json`` codec writes) become text. A timestamp without
a UTC offset is taken as UTC.

Safety: the file is opened read-only (``mode=ro``; also ``immutable=1`` when no write-ahead log
is pending) and never modified; topics are never imported or resolved. States written with a
compressor (``COMPRESSOR_TOPIC``) or a cipher (``CIPHER_TOPIC``) cannot be read without the
application's own code and key: they are refused with an error saying so.

Speed: with no write-ahead log pending, the table is read straight from the file's pages with
numpy (:mod:`estime.io._sqlite`; SQLite checks the result) and the states in the
library's exact forms are decoded column-wise (:mod:`estime.io._es_states`). With one pending
(the application is still running), a database of 8 MB or more is first copied with SQLite's
online backup to a temporary file (deleted after), whose pages are read the same way. Anything
else goes through SQLite and the per-row decoder, with the same results.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from estime._normalize import SCHEMA, _assigned_ids, normalize
from estime._progress import progress
from estime.errors import LogFormatError
from estime.io._es_states import (
    decode,
    decode_state,
    hex_uuid,
    json_text,
    parse_state,
    time_of,
    unwrap,
)
from estime.io._sqlite import (
    Kind,
    Table,
    _connect,
    binary_views,
    fixed_width,
    read_columns,
    read_sqlite,
    sqlite_error,
    table_columns,
)
from estime.log import EventLog

__all__ = ["read_eventsourcing"]
# read_sqlite, sqlite_error and table_columns are also used by estime.io.langgraph

Decimals = Literal["float", "str"]

_COLUMNS = ("originator_id", "originator_version", "topic", "state")
_UTC = pl.Datetime("us", "UTC")
_CHUNK = 65_536

# ---------------------------------------------------------------- tables


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _find_tables(path: Path, tables: dict[str, tuple[list[str], str]],
                 table: str | None) -> tuple[str, str | None]:
    """(events table, snapshots table or None): by name, else by their columns."""
    matching = {n for n, (cols, _) in tables.items() if set(_COLUMNS) <= set(cols)}
    snaps = sorted(n for n in matching if "WITHOUT ROWID" in tables[n][1].upper())
    events = sorted(n for n in matching if n not in snaps)
    snap_table = "stored_snapshots" if "stored_snapshots" in snaps else (
        snaps[0] if len(snaps) == 1 else None)
    if table is not None:
        if table not in tables:
            raise LogFormatError(
                f"{path} has no table {table!r}; its tables are: "
                f"{', '.join(tables) or 'none'}")
        if table not in matching:
            raise LogFormatError(
                f"{path}, table {table!r} has columns {', '.join(tables[table][0])}; an "
                f"eventsourcing events table has {', '.join(_COLUMNS)}")
        return table, snap_table
    if "stored_events" in events:
        return "stored_events", snap_table
    if len(events) == 1:
        return events[0], snap_table
    if len(events) > 1:
        raise LogFormatError(
            f"{path} has several eventsourcing events tables ({', '.join(events)}); choose "
            "one with read_eventsourcing(path, table=...)")
    listing = "; ".join(f"{n}({', '.join(c)})" for n, (c, _) in tables.items()) or "none"
    raise LogFormatError(
        f"{path} has no eventsourcing events table (a table with columns "
        f"{', '.join(_COLUMNS)}, normally 'stored_events'). Tables found: {listing}. Is this "
        "the database of an application run with PERSISTENCE_MODULE=eventsourcing.sqlite?")


# ---------------------------------------------------------------- state decoding


def _looks_zlib(b: bytes) -> bool:
    return len(b) >= 2 and b[0] & 0x0F == 8 and (b[0] * 256 + b[1]) % 31 == 0


def _undecodable(path: Path, table: str, where: str, state: bytes,
                 detail: str = "") -> LogFormatError:
    if _looks_zlib(state):
        try:
            zlib.decompressobj().decompress(state[:4096])
            kind = ("compressed with zlib (the application sets COMPRESSOR_TOPIC, e.g. "
                    "eventsourcing.compressor:ZlibCompressor)")
        except zlib.error:
            kind = "not JSON (binary data; encrypted with CIPHER_TOPIC or compressed?)"
    elif state.lstrip()[:1] not in (b"{", b"["):
        kind = ("encrypted or in a binary format, not JSON (the application sets "
                "CIPHER_TOPIC, e.g. eventsourcing.cipher:AESCipher, or a custom "
                "TRANSCODER_TOPIC)")
    else:
        kind = f"not valid JSON ({detail})" if detail else "not valid JSON"
    return LogFormatError(
        f"{path}, table {table!r}, {where}: the stored state is {kind}; starts with "
        f"{state[:24]!r}. estime reads only the library's plain JSONTranscoder states and "
        "never runs application code: export the events decoded by the application itself "
        "(for example app.mapper.to_domain_event over app.recorder.select_notifications) to "
        "JSON Lines and use read_jsonl.")


def _decode_states(path: Path, table: str, ids: pl.Series | _Labels, versions: pl.Series,
                   states: pl.Series, decimals: Decimals) -> pl.DataFrame:
    """data (JSON text), time, schema_version for a column of raw states (Binary): the
    library's exact forms column-wise (:mod:`estime.io._es_states`), other rows one by one."""
    if states.len() == 0:
        return pl.DataFrame(schema={"data": pl.String, "time": _UTC, "schema_version": pl.Int64})
    starts = states.bin.starts_with(b"{")
    if not starts.all():
        i = int(starts.not_().arg_true()[0])
        raise _undecodable(path, table, _row_label(ids[i], versions[i]), states[i])
    try:
        text = states.cast(pl.String)
    except pl.exceptions.PolarsError:
        for i, b in enumerate(states.to_list()):
            try:
                b.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _undecodable(path, table, _row_label(ids[i], versions[i]), b,
                                   f"invalid UTF-8: {exc}") from None
        raise
    fast = decode(text, decimals)
    data, time, sv = fast.data, fast.time, pl.Series(fast.schema_version, dtype=pl.Int64)
    rows = np.flatnonzero(fast.slow)
    if len(rows):
        d_out: list[str] = []
        t_out: list[datetime | None] = []
        v_out: list[int] = []
        raw_rows = states.gather(rows).to_list()
        for i, raw in zip(rows.tolist(), raw_rows):
            try:
                d, t, v = decode_state(raw, decimals)
            except (ValueError, UnicodeDecodeError) as exc:
                raise _undecodable(path, table, _row_label(ids[i], versions[i]), raw,
                                   str(exc)) from None
            d_out.append(json_text(d))
            t_out.append(t)
            v_out.append(v)
        data = data.scatter(rows, pl.Series(d_out, dtype=pl.String))
        time = time.scatter(rows, pl.Series(t_out, dtype=_UTC))
        sv = sv.scatter(rows, pl.Series(v_out, dtype=pl.Int64))
    return pl.DataFrame({"data": data, "time": time, "schema_version": sv})


def _row_label(originator_id: Any, version: Any) -> str:
    return f"originator_id {originator_id!s} version {version}"


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def _fixed_texts(name: str, chars: np.ndarray) -> pl.Series:
    """A String series of the rows of an (n, width) array of ASCII bytes."""
    n, width = chars.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets),
                                                       pa.py_buffer(np.ascontiguousarray(chars))])
    return pl.Series(name, arr, pl.String)


def _dashed_digits(digits: np.ndarray) -> pl.Series | None:
    """(n, 32) bytes all hex digits: their dashed lowercase UUID texts (else None)."""
    lower = digits | np.uint8(0x20)  # 'A'-'F' to 'a'-'f'; '0'-'9' have the bit already
    if not (((digits >= 48) & (digits <= 57)) | ((lower >= 97) & (lower <= 102))).all():
        return None
    out = np.full((len(digits), 36), ord("-"), np.uint8)
    for dst, src, size in ((0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12)):
        out[:, dst:dst + size] = lower[:, src:src + size]
    return _fixed_texts("stream", out)


def _dashed(ids: pl.Series) -> pl.Series | None:
    """When every id is 32 hex digits: their dashed lowercase UUID texts, column-wise."""
    n = len(ids)
    if not n or ids.null_count():
        return None
    arr = ids.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offs = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + n + 1]
    if not (np.diff(offs) == 32).all():
        return None
    dashed = _dashed_digits(
        np.frombuffer(arr.buffers()[2], np.uint8)[offs[0]:offs[-1]].reshape(n, 32))
    return None if dashed is None else dashed.alias(ids.name)


def _streams(ids: pl.Series) -> pl.Series:
    """Originator ids as text; 32 hex digits (a UUID's .hex) as a dashed UUID."""
    ids = ids.cast(pl.String)
    dashed = _dashed(ids)
    if dashed is not None:
        return dashed
    mapping = {u: hex_uuid(u.lower()) for u in ids.unique().drop_nulls().to_list()
               if _HEX32.fullmatch(u)}
    if not mapping:
        return ids
    return ids.replace_strict(mapping, default=ids, return_dtype=pl.String)


def _topics(topics: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(type, meta JSON) from topics (no nulls): ``module:Qual.Name`` → ``Qual.Name``."""
    uniq = topics.unique().sort()
    names = uniq.to_list()
    codes = uniq.search_sorted(topics)  # a binary search among the few distinct topics
    types = pl.Series([t.partition(":")[2] or t for t in names], dtype=pl.String)
    metas = pl.Series([orjson.dumps({"topic": t}).decode() for t in names], dtype=pl.String)
    return types.gather(codes), metas.gather(codes)


# ---------------------------------------------------------------- reading

_RAW_SCHEMA: dict[str, Any] = {"seq": pl.Int64, "oid": pl.String, "version": pl.Int64,
                               "topic": pl.String, "state": pl.Binary}


def _raw_frame(path: Path, table: str, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """A chunk of fetched rows as columns (column-wise construction: 3x faster than rows)."""
    try:
        return pl.DataFrame([pl.Series(name, values, dtype=dtype, strict=True)
                             for (name, dtype), values in zip(_RAW_SCHEMA.items(),
                                                              zip(*rows))])
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise LogFormatError(
            f"{path}, table {table!r}: a row has a value of the wrong type ({exc}); "
            "expected originator_id text, originator_version integer, topic text, "
            "state bytes") from None


def _decode_chunk(path: Path, table: str, raw: pl.DataFrame, decimals: Decimals) -> pl.DataFrame:
    """Check one chunk for NULLs, decode its states, assign its event ids (runs beside the
    next fetch)."""
    nulls = raw.select(pl.col("oid", "version", "topic", "state").is_null().any())
    for col in nulls.columns:
        if nulls[col][0]:
            i = int(raw[col].is_null().arg_true()[0])
            name = {"oid": "originator_id", "version": "originator_version"}.get(col, col)
            raise LogFormatError(
                f"{path}, table {table!r}, rowid {raw['seq'][i]}: {name} is NULL; every "
                "stored event needs originator_id, originator_version, topic and state")
    decoded = _decode_states(path, table, raw["oid"], raw["version"], raw["state"], decimals)
    streams = _streams(raw["oid"]).alias("stream")
    ids = _assigned_ids(streams, raw["version"]).alias("event_id")
    return pl.concat([raw.select("seq", "version", "topic"), decoded,
                      pl.DataFrame([streams, ids])], how="horizontal")


_PAGE_COLUMNS: dict[str, Kind] = {"originator_id": "text", "originator_version": "int",
                                  "topic": "text", "state": "blob"}
_DECODE_ROWS = 1 << 18


class _Labels:
    """The originator ids of a page-read table, decoded only for an error message."""

    def __init__(self, buf: np.ndarray, start: np.ndarray, size: np.ndarray) -> None:
        self.buf, self.start, self.size = buf, start, size

    def __getitem__(self, i: int) -> str:
        a = int(self.start[i])
        return self.buf[a:a + int(self.size[i])].tobytes().decode("utf-8", "replace")

    def slice(self, lo: int, n: int) -> _Labels:
        return _Labels(self.buf, self.start[lo:lo + n], self.size[lo:lo + n])


def _texts(got: Table) -> tuple[pl.Series, pl.Series | None, pl.Series] | None:
    """(originator ids, streams when all ids are UUID hex, topics) of a page-read table as
    contiguous texts (fast to hash, not keeping the file's bytes alive); None when a text
    is not UTF-8 (SQLite then words the error)."""
    (id_at, id_size), (topic_at, topic_size) = got.columns[0], got.columns[2]
    streams = None
    if len(id_at) and (id_size == 32).all():  # the library's UUID.hex: no per-row texts
        digits = fixed_width(got.buf, id_at, 32)
        streams = _dashed_digits(digits)
        if streams is not None:
            oid = _fixed_texts("oid", digits)
    oldest = pl.CompatLevel.oldest()
    try:
        if streams is None:
            oid = binary_views(got.buf, id_at, id_size).cast(pl.String)
            oid = pl.Series("oid", oid.to_arrow(compat_level=oldest), pl.String)
        topic = binary_views(got.buf, topic_at, topic_size).cast(pl.String)
    except pl.exceptions.PolarsError:
        return None
    return oid, streams, pl.Series("topic", topic.to_arrow(compat_level=oldest), pl.String)


def _read_pages(path: Path, conn: sqlite3.Connection, table: str,
                decimals: Decimals, file: Path | None = None) -> pl.DataFrame | None:
    """The canonical columns (and event ids) of a table read from the file's pages (see
    :mod:`estime.io._sqlite`), or None to read through SQLite. Only on an
    ``immutable`` connection: the file is complete. ``file``: the file read (``conn``'s),
    when it is a copy of ``path`` (which errors name).

    numpy and polars release the GIL: slices of states are decoded in worker threads while
    this one prepares the streams and topics and computes the event ids (SHA-1)."""
    if not getattr(conn, "immutable", False):
        return None
    got = read_columns(file or path, conn, table, _PAGE_COLUMNS)
    if got is None:
        return None
    n = len(got.rowid)
    states = binary_views(got.buf, *got.columns[3])
    versions = pl.Series("version", got.columns[1], pl.Int64)
    labels = _Labels(got.buf, *got.columns[0])
    bar = progress(n, f"reading {path.name}")
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
        futures = [pool.submit(_decode_states, path, table, labels.slice(lo, _DECODE_ROWS),
                               versions.slice(lo, _DECODE_ROWS), states.slice(lo, _DECODE_ROWS),
                               decimals) for lo in range(0, n, _DECODE_ROWS)]
        try:
            texts = _texts(got)
            if texts is None:
                return None
            oid, streams, topic = texts
            streams = _streams(oid) if streams is None else streams
            types, metas = _topics(topic)
            ids = _assigned_ids(streams, versions)
            parts = []
            for future in futures:
                parts.append(future.result())
                bar.update(parts[-1].height)
        finally:
            bar.close()
            for future in futures:
                future.cancel()
    decoded = pl.concat(parts) if parts else _decode_states(
        path, table, labels, versions, states, decimals)
    return pl.DataFrame({
        "seq": got.rowid, "stream": streams, "version": versions, "type": types,
        "time": decoded["time"], "data": decoded["data"], "meta": metas,
        "schema_version": decoded["schema_version"], "event_id": ids})


def _read_events(path: Path, conn: sqlite3.Connection, table: str,
                 decimals: Decimals) -> pl.DataFrame:
    """The events table as canonical columns (seq, stream, ..., event_id, schema_version).

    On an immutable connection the table is read from the file's pages with numpy; otherwise
    (a write-ahead log pending) from the pages of a backup copy (:func:`_read_snapshot`).
    Failing that, rows are fetched in chunks, each decoded (and given its event ids) in a
    worker thread while the next is fetched.
    """
    from_pages = (_read_pages(path, conn, table, decimals) if getattr(conn, "immutable", False)
                  else _read_snapshot(path, conn, table, decimals))
    if from_pages is not None:
        return from_pages
    parts = _fetch_and_decode(path, conn, table, decimals)
    if not parts:
        parts = [_decode_chunk(path, table, pl.DataFrame(schema=_RAW_SCHEMA), decimals)]
    frame = pl.concat(parts)
    types, metas = _topics(frame["topic"])
    return pl.DataFrame({
        "seq": frame["seq"],
        "stream": frame["stream"],
        "version": frame["version"],
        "type": types,
        "time": frame["time"],
        "data": frame["data"],
        "meta": metas,
        "schema_version": frame["schema_version"],
        "event_id": frame["event_id"],
    })


SNAPSHOT_MIN_BYTES = 8 << 20


def _read_snapshot(path: Path, conn: sqlite3.Connection, table: str,
                   decimals: Decimals) -> pl.DataFrame | None:
    """With a write-ahead log pending (an application still running, or one that did not
    close cleanly), the table read from the pages of a copy of the database as ``conn``
    sees it (SQLite's online backup, one consistent read; the copy is a temporary file,
    deleted after), which is quicker than fetching the rows through SQLite. None for a
    small file, or when the copy cannot be made (no space): then SQLite reads the rows."""
    try:
        if path.stat().st_size < SNAPSHOT_MIN_BYTES:
            return None
        with tempfile.TemporaryDirectory(prefix="estime-") as tmp:
            copy = Path(tmp) / "snapshot.db"
            target = sqlite3.connect(copy)
            try:
                target.execute("PRAGMA journal_mode = OFF")  # a scratch copy: no journal,
                target.execute("PRAGMA synchronous = OFF")  # no waiting for the disk
                conn.backup(target)
            finally:
                target.close()
            snap = _connect(copy, immutable=True)
            try:
                return _read_pages(path, snap, table, decimals, file=copy)
            finally:
                snap.close()
    except (sqlite3.Error, OSError):
        return None


def _fetch_and_decode(path: Path, conn: sqlite3.Connection, table: str,
                      decimals: Decimals) -> list[pl.DataFrame]:
    """Fetch the rows through SQLite in chunks; decode each in a worker thread."""
    # Table names come from the database's own catalogue and are quoted as identifiers.
    (total,) = conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()  # noqa: S608
    sql = (f"SELECT rowid, originator_id, originator_version, topic, state "  # noqa: S608
           f"FROM {_quote(table)} ORDER BY rowid")
    futures: list[Future[pl.DataFrame]] = []
    bar = progress(total, f"reading {path.name}")
    last = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            cur = conn.execute(sql)
            while rows := cur.fetchmany(_CHUNK):
                futures.append(pool.submit(_decode_chunk, path, table,
                                           _raw_frame(path, table, rows), decimals))
                bar.update(len(rows))
                last = rows[-1][0]
        except sqlite3.Error as exc:
            raise sqlite_error(path, exc, table) from None
        except UnicodeDecodeError as exc:  # a TEXT value that is not UTF-8
            after = "" if last is None else f" after rowid {last}"
            raise LogFormatError(
                f"{path}, table {table!r}: an originator_id or topic{after} is not UTF-8 "
                f"text ({exc}); the database was not written by the eventsourcing library "
                "or is damaged") from None
        finally:
            bar.close()
        return [f.result() for f in futures]


def _event_log(frame: pl.DataFrame, duplicates: Literal["error", "drop"],
               source: str) -> EventLog:
    """The log of the reader's canonical columns. Seqs (rowids) increase and each stream's
    versions increase in seq order, as the library writes them: then (stream, version) pairs
    and their assigned event ids are unique and the frame is final. Otherwise
    :func:`~estime._normalize.normalize` says what is wrong (or drops redeliveries)."""
    seq = frame["seq"]
    seq_ok = bool((seq.slice(1) > seq.slice(0, max(len(seq) - 1, 0))).all())
    versions_ok = bool(frame.select(
        (pl.col("version") > pl.col("version").shift(1).over("stream")).fill_null(True).all()
    ).item())
    if seq_ok and versions_ok:
        if "event_id" not in frame.columns:
            frame = frame.with_columns(_assigned_ids(frame["stream"], frame["version"])
                                       .alias("event_id"))
        return EventLog._trusted(frame.select([pl.col(c).cast(t) for c, t in SCHEMA.items()]),
                                 source)
    frame = frame.drop("event_id", strict=False)
    out, dropped = normalize(frame, source=source, duplicates=duplicates, trusted=True)
    log = EventLog._trusted(out, source)
    log.duplicates_dropped = dropped
    return log


def _snapshots_frame(path: Path, conn: sqlite3.Connection, table: str | None,
                     decimals: Decimals) -> pl.DataFrame:
    schema: dict[str, Any] = {"stream": pl.String, "version": pl.Int64, "type": pl.String, "time":
              pl.Datetime("us", "UTC"), "state": pl.String, "schema_version": pl.Int64,
              "topic": pl.String, "snapshot_topic": pl.String}
    if table is None:
        return pl.DataFrame(schema=schema)
    rows = conn.execute(
        f"SELECT originator_id, originator_version, topic, state FROM {_quote(table)} "  # noqa: S608
        "ORDER BY originator_id, originator_version").fetchall()
    out: dict[str, list[Any]] = {k: [] for k in schema}
    for oid, version, topic, state in rows:
        if not isinstance(state, bytes):
            state = str(state).encode()
        try:
            obj = parse_state(state)
            if not isinstance(obj, dict):
                raise ValueError("a snapshot state is a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _undecodable(path, table, _row_label(oid, version), state, str(exc)) from None
        agg_state = obj.get("state", {})
        cv = agg_state.pop("class_version", 1) if isinstance(agg_state, dict) else 1
        agg_topic = obj.get("topic")
        if not isinstance(agg_topic, str):
            agg_topic = ""
        out["stream"].append(str(oid))
        out["version"].append(version)
        out["type"].append(agg_topic.partition(":")[2] or agg_topic)
        out["time"].append(time_of(unwrap(obj.get("timestamp"), decimals)))
        out["state"].append(json_text(unwrap(agg_state, decimals)))
        out["schema_version"].append(cv if isinstance(cv, int) else 1)
        out["topic"].append(agg_topic)
        out["snapshot_topic"].append(topic)
    frame = pl.DataFrame(out, schema=schema)
    return frame.with_columns(_streams(frame["stream"]).alias("stream"))


@overload
def read_eventsourcing(path: str | os.PathLike[str], decimals: Decimals = ...,
                       snapshots: Literal[False] = ..., duplicates: Literal["error", "drop"] = ...,
                       *, table: str | None = ...) -> EventLog: ...


@overload
def read_eventsourcing(path: str | os.PathLike[str], decimals: Decimals = ...,
                       snapshots: Literal[True] = ..., duplicates: Literal["error", "drop"] = ...,
                       *, table: str | None = ...) -> tuple[EventLog, pl.DataFrame]: ...


def read_eventsourcing(path: str | os.PathLike[str], decimals: Decimals = "float",
                       snapshots: bool = False, duplicates: Literal["error", "drop"] = "error",
                       *, table: str | None = None) -> EventLog | tuple[EventLog, pl.DataFrame]:
    """Read the events of an ``eventsourcing`` application's SQLite database.

    ``path`` is the application's ``SQLITE_DBNAME``. The events table is ``stored_events``, or
    the one table with the library's columns (``table=`` chooses among several).
    ``decimals="float"`` turns ``Decimal`` values into floats, ``"str"`` keeps their exact text.
    ``duplicates`` is passed to :meth:`EventLog.from_frame`.

    With ``snapshots=True`` returns ``(log, snapshots)`` where ``snapshots`` is a polars frame
    of the snapshots table (``stream``, ``version``, ``type`` of the aggregate, ``time``,
    ``state`` as JSON text, ``schema_version``, ``topic``, ``snapshot_topic``), empty when the
    application does not snapshot.

    The file is only read (see the module documentation); a state written compressed or
    encrypted raises :class:`~estime.errors.LogFormatError` saying so.
    """
    if decimals not in ("float", "str"):
        raise ValueError(f"decimals must be 'float' or 'str', not {decimals!r}")
    p = Path(path)

    def run(conn: sqlite3.Connection) -> tuple[pl.DataFrame, pl.DataFrame, str]:
        tables = table_columns(conn)
        events_table, snaps_table = _find_tables(p, tables, table)
        raw = _read_events(p, conn, events_table, decimals)
        snaps = (_snapshots_frame(p, conn, snaps_table, decimals) if snapshots
                 else pl.DataFrame())
        return raw, snaps, events_table

    if duplicates not in ("error", "drop"):
        raise ValueError(f"duplicates must be 'error' or 'drop', not {duplicates!r}")
    frame, snaps, events_table = read_sqlite(p, "an eventsourcing SQLite database", run)
    log = _event_log(frame, duplicates, f"{p} (table {events_table})")
    return (log, snaps) if snapshots else log
