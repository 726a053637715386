"""Benchmark the SQLite event store against raw sqlite3 and sqlite-utils on the same rows.

Run: .venv/bin/python benchmarks/bench_store.py [n]   (or `make bench`; default n = 1,000,000)

Every database gets the same file settings (WAL, synchronous=FULL, 64 MiB cache) and, unless
said otherwise, estime's exact schema (constraints, indexes, append-only triggers), so the
ratios measure what estime adds on top of SQLite. Appends start from the same EventLog
(``estime.datasets.bank(accounts=10_000, events=n)``); the raw baseline gets its rows already
built as tuples. Ratio = baseline time / estime time (above 1: estime is faster).

Targets (issue 2): store load within 1.5x of sqlite3 fetchall -> polars (ratio >= 0.67);
batched append at least as fast as sqlite-utils ``insert_all`` (ratio >= 1).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import sqlite_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _util import fmt, table, timed

from estime import EventLog
from estime._normalize import CANONICAL
from estime.store import _DDL, _INSERT, _PL_TIME, EventStore

COLUMNS = ", ".join(CANONICAL)
PER_CALL = 100  # events per store.append call in the command-handling case
CALLS = 2_000  # append calls timed


def bank_log(n: int) -> EventLog:
    """The benchmark log: the bank dataset when available, else similar synthetic events."""
    try:
        from estime.datasets import bank
    except ImportError:
        bank = None
    if bank is not None:
        return bank(accounts=10_000, events=n)
    i = pl.int_range(0, n, eager=True)
    return EventLog.from_frame(pl.DataFrame({
        "stream": pl.format("account-{}", (i * 7919) % 10_000),
        "type": pl.when(i % 3 == 0).then(pl.lit("MoneyWithdrawn"))
        .otherwise(pl.lit("MoneyDeposited")),
        "time": pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(seconds=i),
        "data": pl.format('{"amount":{}}', (i * 37) % 1000),
        "meta": pl.format('{"causation_id":"cmd-{}","actor":"teller"}', i),
    }))


def fresh(dirpath: Path, name: str, schema: bool = True) -> sqlite3.Connection:
    path = dirpath / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")
    if schema:
        for statement in _DDL:
            conn.execute(statement)
    else:
        conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, stream TEXT, version INT, "
                     "type TEXT, time TEXT, data TEXT, meta TEXT, event_id TEXT, "
                     "schema_version INT)")
    return conn


def rows_of(log: EventLog) -> list[tuple]:
    return log.frame.select(CANONICAL).with_columns(
        pl.col("time").dt.to_string(_PL_TIME)).rows()


def chunks_by_stream(log: EventLog, size: int) -> Iterator[tuple[str, list[dict]]]:
    """The log's events grouped by stream, ``size`` at a time, as an application has them
    (type, data and meta as Python values, an event_id; no time: the store stamps it)."""
    f = log.frame
    for (stream,), part in f.group_by("stream", maintain_order=True):
        recs = [{"type": t, "data": orjson.loads(d), "meta": orjson.loads(m), "event_id": i}
                for t, d, m, i in part.select("type", "data", "meta", "event_id").iter_rows()]
        for lo in range(0, len(recs), size):
            yield str(stream), recs[lo:lo + size]


def main(n: int = 1_000_000) -> None:
    t = time.perf_counter()
    log = bank_log(n)
    print(f"\nstore benchmark on {len(log):,} bank events over {len(log.streams):,} streams "
          f"(generated in {fmt(time.perf_counter() - t)})")
    rows = rows_of(log)
    dicts = [dict(zip(CANONICAL, r)) for r in rows]
    with tempfile.TemporaryDirectory(prefix="estime-bench-") as tmp:
        d = Path(tmp)

        # ---------------------------------------------------------- bulk append
        def estime_import() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{d / 'estime.db'}{suffix}").unlink(missing_ok=True)
            EventStore.from_log(d / "estime.db", log).close()

        def raw_executemany(schema: bool = True) -> None:
            conn = fresh(d, "raw" if schema else "bare", schema)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
            conn.close()

        def utils_insert_all() -> None:
            conn = fresh(d, "utils")
            conn.isolation_level = ""  # sqlite-utils' default transaction handling
            db = sqlite_utils.Database(conn, execute_plugins=False)
            with db.atomic():
                db["events"].insert_all(dicts, batch_size=1000)
            db.close()

        t_est, _ = timed(estime_import, repeat=1)
        t_raw, _ = timed(raw_executemany, repeat=1)
        t_bare, _ = timed(lambda: raw_executemany(schema=False), repeat=1)
        t_utils, _ = timed(utils_insert_all, repeat=1)
        size = sum(p.stat().st_size for p in d.glob("estime.db*"))
        table(f"Store batched append: {len(log):,} events in one transaction", [
            ("EventStore.from_log (append_log)", t_est, "sqlite-utils insert_all (same schema)",
             t_utils, ">= 1x"),
            ("EventStore.from_log (append_log)", t_est,
             "raw sqlite3 executemany (same schema)", t_raw, "info"),
            ("EventStore.from_log (append_log)", t_est,
             "raw executemany, bare table (no constraints)", t_bare, "info: schema cost"),
        ])
        print(f"\n{len(log) / t_est:,.0f} events/s imported; "
              f"{size / len(log):.0f} bytes per event on disk")

        # ---------------------------------------------------------- command-sized appends
        calls = list(itertools.islice(chunks_by_stream(log, PER_CALL), CALLS))
        n_calls = sum(len(events) for _, events in calls)

        def estime_calls(durable: bool) -> None:
            path = d / "calls.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            with EventStore(path, durable=durable) as store:
                for stream, events in calls:
                    store.append(stream, events)

        def raw_calls(durable: bool) -> None:
            """The same appends written by hand: version lookup, JSON encoding, one
            transaction per call; no validation, no idempotency check."""
            conn = fresh(d, "rawcalls")
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            for stream, events in calls:
                conn.execute("BEGIN IMMEDIATE")
                head = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
                v = conn.execute("SELECT coalesce(max(version), 0) FROM events "
                                 "WHERE stream = ?", (stream,)).fetchone()[0]
                now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                batch = []
                for e in events:
                    head += 1
                    v += 1
                    batch.append((head, stream, v, e["type"], now,
                                  orjson.dumps(e["data"]).decode(),
                                  orjson.dumps(e["meta"]).decode(), e["event_id"], 1))
                conn.executemany(_INSERT, batch)
                conn.execute("COMMIT")
            conn.close()

        rows_calls = []
        for durable in (True, False):
            t_calls, _ = timed(lambda durable=durable: estime_calls(durable), repeat=1)
            t_rawcalls, _ = timed(lambda durable=durable: raw_calls(durable), repeat=1)
            rows_calls.append((f"EventStore(durable={durable}).append per call", t_calls,
                               f"raw sqlite3, one transaction per call (synchronous="
                               f"{'FULL' if durable else 'NORMAL'})", t_rawcalls, "info"))
        table(f"Store append calls: {n_calls:,} events in {len(calls):,} calls "
              f"(<= {PER_CALL} events of one stream each)", rows_calls)

        # ---------------------------------------------------------- load
        path = d / "estime.db"
        store = EventStore(path)
        sql = f"SELECT {COLUMNS} FROM events ORDER BY seq"

        def raw_load() -> pl.DataFrame:
            conn = sqlite3.connect(str(path))
            frame = pl.DataFrame(conn.execute(sql).fetchall(), schema=list(CANONICAL),
                                 orient="row")
            conn.close()
            return frame

        def read_database() -> pl.DataFrame:
            conn = sqlite3.connect(str(path))
            frame = pl.read_database(sql, conn)
            conn.close()
            return frame

        some = log.streams[:100]

        def raw_subset() -> pl.DataFrame:
            conn = sqlite3.connect(str(path))
            q = (f"SELECT {COLUMNS} FROM events WHERE stream IN "
                 f"({', '.join('?' * len(some))}) ORDER BY seq")
            frame = pl.DataFrame(conn.execute(q, some).fetchall(), schema=list(CANONICAL),
                                 orient="row")
            conn.close()
            return frame

        t_load, loaded = timed(store.load, repeat=3)
        t_rawload, _ = timed(raw_load, repeat=3)
        t_rd, _ = timed(read_database, repeat=3)
        t_sub, part = timed(lambda: store.load(streams=some, markers=False), repeat=3)
        t_rawsub, _ = timed(raw_subset, repeat=3)
        store.close()
        assert loaded.frame.drop("seq").equals(log.frame.select(CANONICAL).drop("seq")), \
            "load does not give the imported log back"
        table(f"Store load: {len(log):,} events -> EventLog", [
            ("EventStore.load()", t_load, "sqlite3 fetchall -> pl.DataFrame", t_rawload,
             ">= 0.67x (within 1.5x)"),
            ("EventStore.load()", t_load, "pl.read_database (sqlite3 connection)", t_rd,
             "info"),
            (f"EventStore.load(streams=<100 streams>) ({len(part):,} events)", t_sub,
             "sqlite3 fetchall -> pl.DataFrame, same filter", t_rawsub, "info"),
        ])
        print(f"\n{len(log) / t_load:,.0f} events/s loaded")


if __name__ == "__main__":
    os.environ.setdefault("ESTIME_PROGRESS", "0")
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
