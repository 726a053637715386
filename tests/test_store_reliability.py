"""Reliability of the event store: append-only at the database level, racing writers, crashes.

Other processes are started with the ``spawn`` method (or as plain subprocesses), so each has
its own SQLite connection, as in production.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from estime.errors import ConcurrencyError
from estime.store import EventStore

ROOT = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> list[tuple]:
    with sqlite3.connect(str(path)) as c:
        return c.execute("SELECT * FROM events ORDER BY seq").fetchall()


# ---------------------------------------------------------------- append-only in the database


REFUSED = [
    "UPDATE events SET data = '{\"amount\": 1000000}' WHERE seq = 2",
    "UPDATE events SET stream = 'other'",
    "DELETE FROM events WHERE seq = 1",
    "DELETE FROM events",
    # REPLACE deletes the conflicting row without firing delete triggers: refused on insert
    "INSERT OR REPLACE INTO events (seq, stream, version, type, data, meta, event_id) "
    "VALUES (1, 'a', 9, 'Forged', '{}', '{}', 'forged-1')",
    "REPLACE INTO events (stream, version, type, data, meta, event_id) "
    "VALUES ('zz', 1, 'Forged', '{}', '{}', 'e-a-1')",
    "INSERT OR REPLACE INTO events (stream, version, type, data, meta, event_id) "
    "VALUES ('a', 2, 'Forged', '{}', '{}', 'forged-2')",
    "INSERT INTO events (stream, version, type, data, meta, event_id) "
    "VALUES ('a', 1, 'Backdated', '{}', '{}', 'forged-3') "
    "ON CONFLICT (stream, version) DO UPDATE SET data = excluded.data",
    # going back in order: a seq below the head, a version below the stream's
    "INSERT INTO events (seq, stream, version, type, data, meta, event_id) "
    "VALUES (0, 'new', 1, 'Backdated', '{}', '{}', 'forged-4')",
    "INSERT INTO events (stream, version, type, data, meta, event_id) "
    "VALUES ('b', 1, 'Backdated', '{}', '{}', 'forged-5')",
]


@pytest.mark.parametrize("recursive_triggers", [False, True])
@pytest.mark.parametrize("sql", REFUSED)
def test_raw_changes_are_refused_by_the_database(tmp_path: Path, sql: str,
                                                 recursive_triggers: bool):
    path = tmp_path / "s.db"
    with EventStore(path) as store:
        store.append("a", [{"type": "Deposited", "data": {"amount": 5}, "event_id": "e-a-1"},
                           {"type": "Deposited", "data": {"amount": 7}}])
        store.append("b", [{"type": "Opened", "data": {}}, {"type": "Opened", "data": {}}])
    before = _rows(path)
    conn = sqlite3.connect(str(path))  # plain sqlite3, no estime involved
    conn.execute(f"PRAGMA recursive_triggers = {int(recursive_triggers)}")
    with pytest.raises(sqlite3.IntegrityError, match="estime events are append-only"):
        conn.execute(sql)
    conn.commit()
    conn.close()
    assert _rows(path) == before


def test_raw_appends_must_still_be_valid_events(tmp_path: Path):
    path = tmp_path / "s.db"
    EventStore(path).close()
    conn = sqlite3.connect(str(path))
    insert = ("INSERT INTO events (stream, version, type, time, data, meta, event_id) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)")
    for row, constraint in [
        (("a", 1, "X", None, "{not json", "{}", "i1"), "json_valid(data)"),
        (("a", 1, "X", None, "{}", "[1]", "i2"), "json_valid(meta)"),
        (("a", 1, "X", "2024-01-01 10:00", "{}", "{}", "i3"), "time IS NULL OR time GLOB"),
        (("a", 0, "X", None, "{}", "{}", "i4"), "version >= 1"),
        (("a", "one", "X", None, "{}", "{}", "i5"), "cannot store TEXT value in INTEGER"),
    ]:
        with pytest.raises(sqlite3.IntegrityError, match=re.escape(constraint)):
            conn.execute(insert, row)
    conn.execute(insert, ("a", 1, "X", "2024-01-01T10:00:00.000000Z", "{}", "{}", "ok"))
    conn.commit()
    conn.close()
    with EventStore(path) as store:
        assert [e.event_id for e in store.load()] == ["ok"]


# ---------------------------------------------------------------- racing writers


def _racer(path: str, worker: int, ops: int, streams: list[str], barrier, results) -> None:
    """Append ``ops`` events, each decided on a freshly loaded stream; retry on conflict."""
    rng = random.Random(worker)
    conflicts = 0
    with EventStore(path) as store:
        barrier.wait()
        for op in range(ops):
            stream = rng.choice(streams)
            while True:
                seen = len(store.load(streams=[stream], markers=False))  # reload the state
                try:
                    store.append(stream, [{"type": "Incremented", "data": {"by": 1},
                                           "meta": {"worker": worker, "op": op, "seen": seen}}],
                                 expected_version=seen)
                    break
                except ConcurrencyError:
                    conflicts += 1
    results.put(conflicts)


def test_four_processes_racing_lose_and_duplicate_nothing(tmp_path: Path):
    path = str(tmp_path / "race.db")
    workers, ops, streams = 4, 40, ["hot", "warm"]
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(path, w, ops, streams, barrier, results))
             for w in range(workers)]
    for p in procs:
        p.start()
    conflicts = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with EventStore(path) as store:
        log = store.load()
        assert sorted(store.streams()) == sorted(streams)
    metas = [e.meta for e in log]
    assert len(log) == workers * ops
    assert Counter((m["worker"], m["op"]) for m in metas) == Counter(
        {(w, o): 1 for w in range(workers) for o in range(ops)})
    f = log.frame
    assert f["seq"].to_list() == list(range(1, len(log) + 1))
    for stream in streams:
        versions = f.filter(f["stream"] == stream)["version"].to_list()
        assert versions == list(range(1, len(versions) + 1))
    # every event was decided on the state just before it: no lost update
    assert [m["seen"] for m in metas] == [v - 1 for v in f["version"]]
    print(f"racing appends: {sum(conflicts)} conflicts retried")


# ---------------------------------------------------------------- crashes


# A "zygote" imports estime once, then forks one writer per round (a fresh process with its own
# connection, started in milliseconds). Writers report on the shared stdout pipe; the test
# SIGKILLs them at random moments and asks the zygote to reap them.
ZYGOTE = textwrap.dedent("""
    import os, random, sys
    from estime.store import EventStore
    path, size = sys.argv[1], int(sys.argv[2])
    print("ready", flush=True)
    for line in sys.stdin:
        cmd, arg = line.split()
        if cmd == "reap":
            _, status = os.waitpid(int(arg), 0)
            print("reaped", status, flush=True)
            continue
        if os.fork():
            continue
        try:  # the writer
            run = int(arg)
            print("pid", os.getpid(), flush=True)
            store = EventStore(path)
            rng = random.Random(run)
            for b in range(10**9):
                batch = f"{run}-{b}"
                print("start", batch, flush=True)
                events = [{"type": "Tick", "data": {"i": i, "pad": "x" * 40},
                           "meta": {"batch": batch}} for i in range(size)]
                stream = f"s{rng.randrange(6)}"
                if b % 2:
                    store.append(stream, events)
                else:
                    store.append(stream, events, expected_version=store.version(stream))
                print("done", batch, flush=True)
        finally:
            os._exit(0)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_writer_killed_mid_batch_leaves_no_partial_batch(tmp_path: Path):
    path = tmp_path / "crash.db"
    size, rounds = 1000, 10
    EventStore(path).close()
    rng = random.Random(7)
    committed: set[str] = set()
    mid_batch_kills = 0
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(path), str(size)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert zygote.stdin is not None and zygote.stdout is not None
    try:
        assert zygote.stdout.readline().strip() == "ready"
        for run in range(rounds):
            zygote.stdin.write(f"fork {run}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline().split()[1])
            # kill at a random moment after 1-3 acknowledged batches: almost surely mid-batch
            lines = []
            for _ in range(rng.randint(1, 3)):
                while not (line := zygote.stdout.readline()).startswith("done"):
                    lines.append(line)
                lines.append(line)
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(pid, signal.SIGKILL)
            zygote.stdin.write(f"reap {pid}\n")
            zygote.stdin.flush()
            while not (line := zygote.stdout.readline()).startswith("reaped"):
                lines.append(line)
            status = int(line.split()[1])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            started = [ln.split()[1] for ln in lines if ln.startswith("start")]
            done = {ln.split()[1] for ln in lines if ln.startswith("done")}

            conn = sqlite3.connect(str(path))
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            counts = dict(conn.execute(
                "SELECT json_extract(meta, '$.batch'), count(*) FROM events GROUP BY 1"))
            conn.close()
            assert all(n == size for n in counts.values()), "a batch is partly stored"
            assert done <= set(counts), "an acknowledged batch was lost"
            committed |= done
            if started[-1] not in counts:
                mid_batch_kills += 1
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    assert mid_batch_kills >= 1, "no kill landed inside a batch; nothing was tested"
    assert len(committed) >= rounds
    with EventStore(path) as store:  # still a healthy, writable store
        log = store.load()
        store.append("after", [{"type": "Tick", "data": {}}])
    assert {orjson.loads(m)["batch"] for m in log.frame["meta"]} == set(counts)
    f = log.frame
    assert f["seq"].to_list() == list(range(1, f.height + 1))
    for stream in f["stream"].unique():
        versions = f.filter(f["stream"] == stream)["version"].to_list()
        assert versions == list(range(1, len(versions) + 1))
    print(f"{mid_batch_kills}/{rounds} kills landed inside a batch; {len(counts)} batches kept")


# ---------------------------------------------------------------- idempotency, names, messages


def test_idempotent_reappend_after_reopen(tmp_path: Path):
    path = tmp_path / "s.db"
    batch = [{"type": "Paid", "data": {"amount": 10, "order": "o-1"}, "event_id": "pay-o-1"},
             {"type": "Shipped", "data": {"order": "o-1"}, "event_id": "ship-o-1"}]
    with EventStore(path) as store:
        seqs = store.append("order-1", batch, expected_version=0)
        store.append("order-2", [{"type": "Paid", "data": {"amount": 3}}])
    before = _rows(path)
    with EventStore(path) as store:  # a producer that never saw the acknowledgement retries
        assert store.append("order-1", batch, expected_version=0) == seqs
        assert store.append("order-1", [batch[1]]) == seqs[1:]
    assert _rows(path) == before


HOSTILE = [
    "x'); DROP TABLE events;--", 'r"; DELETE FROM events; --', "' OR '1'='1", "a;b;c",
    "é", "日本語", "🙂", "line\nbreak", "tab\tcr\r\n", "nul\x00byte", "back\\slash",
    "%", "_", "*", "?", " ", " padded ", "$estime2", "json\"quote", "\u2028\u2029", "a" * 5000,
]


def test_hostile_stream_names_are_plain_data(tmp_path: Path):
    path = tmp_path / "s.db"
    with EventStore(path) as store:
        for name in HOSTILE:
            store.append(name, [{"type": "Opened", "data": {"name": name}}],
                         expected_version=0)
            store.append(name, [{"type": "Renamed", "data": {}}], expected_version=1)
        assert store.streams() == HOSTILE
        assert len(store) == 2 * len(HOSTILE)
        for name in HOSTILE:
            assert store.version(name) == 2
            sub = store.load(streams=[name])
            assert [(e.stream, e.version) for e in sub] == [(name, 1), (name, 2)]
            assert sub.event(sub.frame["seq"][0]).data["name"] == name
            with pytest.raises(ConcurrencyError) as info:
                store.append(name, [{"type": "X", "data": {}}], expected_version=1)
            assert repr(name) in str(info.value) and info.value.stream == name
        assert store.load(streams=HOSTILE[:3]).frame.height == 6
    with sqlite3.connect(str(path)) as c:
        assert c.execute("SELECT count(*) FROM events").fetchone()[0] == 2 * len(HOSTILE)


def test_concurrency_error_names_everything_and_says_what_to_do(tmp_path: Path):
    with EventStore(tmp_path / "s.db") as store:
        store.append("acc-7", [{"type": "Opened", "data": {}}] * 3)
        with pytest.raises(ConcurrencyError) as info:
            store.append("acc-7", [{"type": "Closed", "data": {}}], expected_version=2)
    err = info.value
    assert (err.stream, err.expected, err.actual) == ("acc-7", 2, 3)
    msg = str(err)
    for part in ("'acc-7'", "version 3", "expected version 2", "Reload",
                 "store.load(streams=['acc-7'])", "retry"):
        assert part in msg
