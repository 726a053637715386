"""Reading an ``eventsourcing`` application's SQLite database: estime vs the library itself.

    python benchmarks/bench_interop.py          # 1M events, 10k accounts
    BENCH_N=100000 python benchmarks/bench_interop.py
    BENCH_OUT=/tmp/bench python benchmarks/bench_interop.py   # where the database is cached

The database is generated once (bulk inserts of rows in the library's exact format: the
first rows are checked byte for byte against the library's own JSONTranscoder, and a sample of
accounts is rebuilt by the library and checked against the generator) and cached under
``benchmarks/out/`` (or ``$BENCH_OUT``). Baselines run in the same process on the same file:

* the library's notification log reader: ``recorder.select_notifications`` in batches of 1000
  (the raw rows), and the same with ``app.mapper.to_domain_event`` on each (the events);
* ``app.repository.get(id)`` for every account, against ``read_eventsourcing`` followed by a
  per-stream ``es.replay`` of a balances projection.

The breakdown rows time the reader's phases separately: the table read from the file's pages,
the whole read of the columns (pages, states decoded, event ids), the log's checks; and, for
reference, the read of a copy whose write-ahead log is pending (an application still running:
read from a backup copy's pages) and the row-by-row read through SQLite.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import fmt, table
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    UUIDAsHex,
)
from eventsourcing.utils import register_topic

import estime as es
import estime.io.eventsourcing as es_io
from estime.io.eventsourcing import read_eventsourcing, read_sqlite

OUT = Path(os.environ.get("BENCH_OUT") or Path(__file__).resolve().parent / "out")
MODULE = "estime_bench_bank"  # the topics' module: registered to the classes below
BATCH = 1000


class Account(Aggregate):
    """The benchmark's aggregate: a bank account with Decimal amounts."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = Decimal("0")

    @event("Deposited")
    def deposit(self, amount: Decimal) -> None:
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount: Decimal) -> None:
        self.balance -= amount


def _register_topics() -> None:
    register_topic(f"{MODULE}:Account", Account)
    for name in ("Opened", "Deposited", "Withdrawn"):  # classes made by @event
        register_topic(f"{MODULE}:Account.{name}", getattr(Account, name))


def _env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def _rows(n: int, accounts: int, seed: int = 7) -> tuple[list[tuple[Any, ...]],
                                                         dict[str, Decimal]]:
    rnd = random.Random(seed)
    ids = [UUID(int=rnd.getrandbits(128), version=4).hex for _ in range(accounts)]
    versions = [0] * accounts
    balances = [Decimal(0)] * accounts
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    head = '{"timestamp":{"_type_":"datetime_iso","_data_":"%s"},'
    rows = []
    for i in range(n):
        a = i if i < accounts else rnd.randrange(accounts)
        versions[a] += 1
        ts = (t0 + timedelta(microseconds=i * 1000 + rnd.randrange(1000))).isoformat()
        if versions[a] == 1:
            topic = f"{MODULE}:Account.Opened"
            state = (head % ts) + f'"originator_topic":"{MODULE}:Account","owner":"owner-{a}"}}'
        else:
            amount = Decimal(rnd.randrange(1, 100_000)) / 100
            if rnd.random() < 0.7 or balances[a] < amount:
                topic = f"{MODULE}:Account.Deposited"
                balances[a] += amount
            else:
                topic = f"{MODULE}:Account.Withdrawn"
                balances[a] -= amount
            state = (head % ts) + f'"amount":{{"_type_":"decimal_str","_data_":"{amount}"}}}}'
        rows.append((ids[a], versions[a], topic, state.encode()))
    return rows, dict(zip(ids, balances))


def _check_format(rows: list[tuple[Any, ...]]) -> None:
    """The generated states are byte for byte what the library's transcoder writes."""
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(t)
    for _, _, _, state in rows[:2000]:
        decoded = transcoder.decode(state)
        if transcoder.encode(decoded) != state:
            raise AssertionError(f"generated state differs from the library's: {state!r}")


def generate(path: Path, n: int) -> Path:
    """Write (or reuse) an eventsourcing database of ``n`` events on ``n // 100`` accounts."""
    if path.exists():
        return path
    accounts = max(1, n // 100)
    rows, balances = _rows(n, accounts)
    _check_format(rows)
    tmp = path.with_name(path.name + ".tmp")
    for p in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        p.unlink(missing_ok=True)
    Application(env=_env(tmp)).close()  # the library creates its own tables
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", rows)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    _register_topics()
    app: Application[UUID] = Application(env=_env(tmp))
    for oid in random.Random(1).sample(sorted(balances), min(20, accounts)):
        got: Decimal = app.repository.get(UUID(oid)).balance
        if got != balances[oid]:
            raise AssertionError(f"library rebuilt {oid} as {got}, generator says "
                                 f"{balances[oid]}")
    app.close()
    tmp.rename(path)
    return path


def _wal_pending_read(path: Path, log: es.EventLog) -> float:
    """The read of a copy of the database whose application is still running: a write sits
    in its write-ahead log, so estime reads a backup copy's pages (see read_eventsourcing)."""
    copy = path.with_name(path.stem + "-wal-pending.db")
    shutil.copyfile(path, copy)
    writer = sqlite3.connect(copy)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("CREATE TABLE pending (x)")
        writer.commit()
        assert Path(f"{copy}-wal").stat().st_size > 0
        t, wal_log = _clock(lambda: read_eventsourcing(copy))
        assert wal_log.frame.equals(log.frame)
        return t
    finally:
        writer.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)


def _lib_notifications(app: Application[UUID], decode: bool) -> int:
    rec = app.recorder
    to_event = app.mapper.to_domain_event
    count, start = 0, 1
    while batch := rec.select_notifications(start=start, limit=BATCH):
        if decode:
            for notification in batch:
                to_event(notification)
        count += len(batch)
        start = batch[-1].id + 1
    return count


def _balances() -> es.Projection:
    p = es.Projection("balances", initial=dict, per_stream=True)

    @p.on("Account.Opened")
    def opened(state: dict[str, Any], e: es.Event) -> None:
        state["balance"] = 0.0

    @p.on("Account.Deposited")
    def deposited(state: dict[str, Any], e: es.Event) -> None:
        state["balance"] += e.data["amount"]

    @p.on("Account.Withdrawn")
    def withdrawn(state: dict[str, Any], e: es.Event) -> None:
        state["balance"] -= e.data["amount"]

    return p


def _clock(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main(n: int = 1_000_000) -> None:
    """Print the tables (see the module docstring)."""
    os.environ.setdefault("ESTIME_PROGRESS", "0")
    OUT.mkdir(exist_ok=True)
    t_gen, path = _clock(lambda: generate(OUT / f"eventsourcing-{n}.db", n))
    print(f"database: {path} ({path.stat().st_size / 1e6:.0f} MB, {n:,} events, "
          f"{max(1, n // 100):,} accounts; ready in {fmt(t_gen)})")
    _register_topics()
    app: Application[UUID] = Application(env=_env(path))

    t_raw, count = _clock(lambda: _lib_notifications(app, decode=False))
    t_lib, count2 = _clock(lambda: _lib_notifications(app, decode=True))
    t_read, log = _clock(lambda: read_eventsourcing(path))
    t_read2, _ = _clock(lambda: read_eventsourcing(path))
    t_read = min(t_read, t_read2)
    assert count == count2 == len(log) == n, (count, count2, len(log), n)
    # Where estime's time goes
    source = f"{path} (table stored_events)"
    t_pages, _ = _clock(lambda: read_sqlite(path, "db", lambda conn: es_io.read_columns(
        path, conn, "stored_events", es_io._PAGE_COLUMNS)))
    t_columns, frame = _clock(lambda: read_sqlite(
        path, "db", lambda conn: es_io._read_events(path, conn, "stored_events", "float")))
    t_log, _ = _clock(lambda: es_io._event_log(frame, "error", source))
    pages = es_io._read_pages
    es_io._read_pages = lambda *a: None
    try:
        t_sql, sql_log = _clock(lambda: read_eventsourcing(path))
    finally:
        es_io._read_pages = pages
    assert sql_log.frame.equals(log.frame)
    t_wal = _wal_pending_read(path, log)
    table(f"read {n:,} events", [
        ("read_eventsourcing", t_read, "select_notifications + mapper.to_domain_event",
         t_lib, ">= 5x"),
        ("read_eventsourcing", t_read, "select_notifications (raw rows, undecoded)", t_raw,
         "(for reference)"),
        ("  of which: the table's pages parsed", t_pages, "", None, "(breakdown)"),
        ("  of which: columns (pages, states decoded, event ids)", t_columns,
         "select_notifications + mapper.to_domain_event", t_lib, "(breakdown)"),
        ("  of which: the log's checks", t_log, "", None, "(breakdown)"),
        ("read_eventsourcing, a write-ahead log pending (from 8 MB, a backup copy's pages)", t_wal,
         "select_notifications + mapper.to_domain_event", t_lib, "(for reference)"),
        ("read_eventsourcing row by row through SQLite (small files, no space to copy)",
         t_sql, "select_notifications + mapper.to_domain_event", t_lib, "(for reference)"),
    ])

    ids = [UUID(s) for s in log.streams]
    projection = _balances()

    def estime_rebuild() -> dict[str, Any]:
        return es.replay(read_eventsourcing(path), projection).final

    t_fold, _ = _clock(lambda: es.replay(log, projection).final)
    t_est, final = _clock(estime_rebuild)

    def lib_rebuild() -> dict[UUID, Decimal]:
        return {i: app.repository.get(i).balance for i in ids}

    t_repo, balances = _clock(lib_rebuild)
    worst = max(abs(float(balances[i]) - final[str(i)]["balance"]) for i in ids)
    assert worst < 1e-6 * max(1.0, max(abs(float(b)) for b in balances.values())), worst
    table(f"rebuild all {len(ids):,} accounts", [
        ("read_eventsourcing + replay", t_est, "repository.get for every account", t_repo,
         ">= 25x"),
        ("replay of the read log only", t_fold, "repository.get for every account", t_repo,
         "(for reference)"),
    ])
    app.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_N", 1_000_000)))
