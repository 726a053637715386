"""Bulk import of a whole :class:`EventLog` into an :class:`~estime.store.EventStore`."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import orjson
import polars as pl

from estime._json import to_json_text
from estime._normalize import CANONICAL
from estime._progress import progress
from estime.errors import ImmutableLogError
from estime.log import EventLog
from estime.store import _INSERT, _MAX_VERSIONS, _PL_TIME, MARKER_STREAM, ROLLED_BACK, _in

if TYPE_CHECKING:
    from estime.store import EventStore

__all__ = ["append_log"]


def append_log(store: EventStore, log: EventLog, *, batch_size: int = 50_000) -> range:
    """Import a whole :class:`EventLog` in one transaction and return the new seqs.

    The log's streams, versions, event_ids and times are kept; seqs become the store's
    (the next free ones, in the log's order) and rollback markers' ``to`` is translated
    to them. A stream that already has stored events must continue after its version;
    an event_id already stored is an error. All or nothing.
    """
    if not isinstance(log, EventLog):
        raise TypeError(f"append_log takes an EventLog, not {type(log).__name__}")
    frame = log.frame.select(CANONICAL)
    with store._write() as conn:
        head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
        if frame.height == 0:
            return range(head + 1, head + 1)
        _check_import(conn, frame)
        new_seq = pl.int_range(head + 1, head + 1 + frame.height, dtype=pl.Int64)
        frame = _translate_markers(frame, head).with_columns(
            new_seq.alias("seq"), pl.col("time").dt.to_string(_PL_TIME))
        bar = progress(frame.height, "importing events")
        try:
            for lo in range(0, frame.height, batch_size):
                chunk = frame.slice(lo, batch_size)
                conn.executemany(_INSERT, chunk.iter_rows())
                bar.update(chunk.height)
        except sqlite3.IntegrityError as exc:
            raise ImmutableLogError(_explain_import(store, conn, frame, exc)) from None
        finally:
            bar.close()
    return range(head + 1, head + 1 + frame.height)

def _check_import(conn: sqlite3.Connection, frame: pl.DataFrame) -> None:
    firsts = frame.group_by("stream", maintain_order=True).agg(pl.col("version").min())
    for lo in range(0, firsts.height, 500):
        part = firsts.slice(lo, 500)
        names = part["stream"].to_list()
        stored = dict(conn.execute(
            _MAX_VERSIONS + _in(len(names)) + " GROUP BY stream", names).fetchall())
        for stream, first in part.iter_rows():
            if stream in stored and first <= stored[stream]:
                raise ImmutableLogError(
                    f"cannot import: stream {stream!r} is stored up to version "
                    f"{stored[stream]} and the log starts it again at version {first}. "
                    "Import logs whose streams continue after what is stored, or use a "
                    "new store. Nothing was stored.")

def _translate_markers(frame: pl.DataFrame, head: int) -> pl.DataFrame:
    is_marker = (pl.col("stream") == MARKER_STREAM) & (pl.col("type") == ROLLED_BACK)
    seqs = frame["seq"]
    if not frame.select(is_marker.any()).item() or (
            head == 0 and seqs.equals(pl.int_range(1, frame.height + 1, eager=True,
                                                  dtype=pl.Int64).alias("seq"))):
        return frame
    data = frame["data"].to_list()
    for i in frame.with_row_index("__i").filter(is_marker)["__i"].to_list():
        value = orjson.loads(data[i])
        if isinstance(value, dict) and isinstance(value.get("to"), int):
            value["to"] = head + int(seqs.search_sorted(value["to"], side="right"))
            data[i] = to_json_text(value)
    return frame.with_columns(pl.Series("data", data, pl.String))

def _explain_import(store: EventStore, conn: sqlite3.Connection, frame: pl.DataFrame,
                    exc: sqlite3.IntegrityError) -> str:
    conn.execute("ROLLBACK")  # the stored ids are now the ones before this import
    ids = frame["event_id"].to_list()
    for lo in range(0, len(ids), 500):
        found = store._stored(conn, ids[lo:lo + 500])
        if found:
            event_id, row = next(iter(found.items()))
            return (f"cannot import: event_id {event_id!r} is already stored at seq "
                    f"{row[1]} (stream {row[2]!r}). Import only events the store does "
                    "not hold yet. Nothing was stored.")
    return f"cannot import the log: the database refused it ({exc}). Nothing was stored."
