"""Assigned event ids in normalize(): vectorised UUIDv5 vs the per-row hashlib loop.

Run: .venv/bin/python benchmarks/bench_normalize.py   (1M rows; pass n= to main for less)
"""

from __future__ import annotations

import sys
import uuid
from functools import partial
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import table, timed

from estime._normalize import _event_id_column, event_ids_for, normalize


def _loop(streams: pl.Series, versions: pl.Series) -> pl.Series:
    return pl.Series(event_ids_for(streams.to_list(), versions.to_list()), dtype=pl.String)


def main(n: int = 1_000_000) -> None:
    """Print a table: the old loop is the baseline, run in the same process."""
    cases = {
        "short streams (order-N)": [f"order-{i % 50_000}" for i in range(n)],
        "UUID streams": [str(uuid.UUID(int=i % 50_000)) for i in range(n)],
        "long streams (~100 B, 2-3 blocks)": [f"{'tenant/' * 12}{i % 50_000}" for i in range(n)],
    }
    versions = pl.Series([i // 50_000 + 1 for i in range(n)], dtype=pl.Int64)
    rows: list[tuple[str, float, str, float | None, str]] = []
    for label, names in cases.items():
        streams = pl.Series(names, dtype=pl.String)
        t_old, a = timed(partial(_loop, streams, versions), repeat=2)
        t_new, b = timed(partial(_event_id_column, streams, versions), repeat=2)
        assert a.equals(b), label
        rows.append((f"event ids, {label}, {n:,} rows", t_new, "hashlib loop", t_old, ">= 5x"))
    frame = pl.DataFrame({"stream": cases["UUID streams"], "type": ["Deposited"] * n,
                          "data": ['{"amount": 1}'] * n})
    t_norm, _ = timed(lambda: normalize(frame), repeat=1)
    rows.append((f"normalize() of a foreign frame, {n:,} rows (no baseline)", t_norm, "", None, ""))
    table("normalize: assigned event ids", rows)


if __name__ == "__main__":
    main()
