"""Assigned event ids: the vectorised UUIDv5 column (numpy SHA-1 in threads) vs the hashlib loop.

Streams shaped like the eventsourcing reader's (UUID text, versions 1..150: a third of the
messages take two SHA-1 blocks) and like a bank's ("account-00001", versions 1..100).

Run: .venv/bin/python benchmarks/bench_event_ids.py   (1M rows; pass n= to main for less)
"""

from __future__ import annotations

import sys
import uuid
from functools import partial
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import table, timed

from estime._normalize import _event_id_column, event_ids_for


def _loop(streams: pl.Series, versions: pl.Series) -> pl.Series:
    return pl.Series(event_ids_for(streams.to_list(), versions.to_list()), dtype=pl.String)


def _columns(kind: str, n: int) -> tuple[pl.Series, pl.Series]:
    per_stream = 150 if kind == "uuid" else 100
    count = max(1, n // per_stream)
    if kind == "uuid":
        names = [str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % 2**128)) for i in range(count)]
    else:
        names = [f"account-{i:05d}" for i in range(count)]
    streams = pl.Series("stream", names, pl.String).gather(
        pl.int_range(0, n, eager=True) % count)
    versions = (pl.int_range(0, n, eager=True) // count + 1).cast(pl.Int64)
    return streams, versions


def main(n: int = 1_000_000) -> None:
    """Print a table: the hashlib loop is the baseline, run in the same process."""
    rows: list[tuple[str, float, str, float | None, str]] = []
    for size in (n, n // 10):
        for kind, label in (("uuid", "UUID streams, versions 1-150"),
                            ("bank", "account-00001 streams, versions 1-100")):
            streams, versions = _columns(kind, size)
            t_loop, a = timed(partial(_loop, streams, versions), repeat=1)
            t_new, b = timed(partial(_event_id_column, streams, versions), repeat=3)
            assert a.equals(b), label
            rows.append((f"event ids, {label}, {size:,} rows", t_new,
                         "hashlib loop (event_ids_for)", t_loop, ""))
    table("event ids: vectorised UUIDv5 column", rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
