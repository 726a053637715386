"""Event log I/O on bank events: readers against polars alone, writers, memory per event.

    python benchmarks/bench_log.py            # 1M events
    BENCH_N=100000 python benchmarks/bench_log.py

Baselines run in the same process on the same files: ``pl.read_ndjson`` (which infers struct
payloads from the first rows and is therefore not lossless), ``pl.read_lines`` (the file's
lines as text, nothing parsed: a floor for any JSON Lines reader built on polars),
``pl.read_parquet``, ``pl.read_csv`` and ``DataFrame.write_ndjson``. A second table splits
``read_jsonl`` into its stages.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import orjson
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import fmt, table, timed

from estime import EventLog
from estime.io import jsonl as jsonl_mod
from estime.io import read_cloudevents, read_csv, read_jsonl, read_parquet


def bank_log(n: int) -> EventLog:
    """The shipped bank generator at size n (or a synthetic stand-in)."""
    try:
        from estime.datasets import bank
    except ImportError:  # pragma: no cover - datasets not built yet
        accounts = max(10, n // 100)
        return EventLog.from_frame(pl.DataFrame({
            "stream": [f"account-{i % accounts:05d}" for i in range(n)],
            "type": ["MoneyDeposited"] * n,
            "data": [f'{{"amount":{i % 997}}}' for i in range(n)],
        }))
    return bank(accounts=max(10, n // 100), events=n)


def main(n: int = 1_000_000) -> None:
    """Print the tables (see the module docstring)."""
    log = bank_log(n)
    tmp = Path(tempfile.mkdtemp(prefix="estime-bench-"))
    jl = log.write_jsonl(tmp / "bank.jsonl")
    pq = log.write_parquet(tmp / "bank.parquet")
    csv = tmp / "bank.csv"
    log.frame.write_csv(csv)
    foreign = tmp / "foreign.jsonl"
    f = log.frame.with_columns(pl.col("time").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"))
    foreign.write_bytes(b"".join(
        orjson.dumps({"aggregate_id": s, "kind": t, "ts": ts, "payload": orjson.Fragment(d)})
        + b"\n" for s, t, ts, d in zip(f["stream"], f["type"], f["time"], f["data"])))
    spaced = tmp / "spaced.jsonl"  # what json.dumps writes: ", " and ": " separators
    with open(jl, "rb") as src, open(spaced, "w") as out:
        out.writelines(json.dumps(orjson.loads(line)) + "\n" for line in src)
    ce_n = max(1, n // 10)
    ce = tmp / "events.ce.jsonl"  # spaced like the CloudEvents SDK's JSON format
    ce.write_text("".join(
        json.dumps({"specversion": "1.0", "id": e.event_id, "source": "/bank",
                    "subject": e.stream, "type": e.type, "sequence": str(e.seq),
                    "time": e.time.isoformat() if e.time else None,
                    "datacontenttype": "application/json", "data": e.to_dict()["data"]})
        + "\n" for e in log.head(ce_n)))
    mb = jl.stat().st_size / 1e6

    t_jl, back = timed(lambda: read_jsonl(jl), repeat=3)
    assert back == log
    t_nd, _ = timed(lambda: pl.read_ndjson(jl), repeat=3)
    t_lines = timed(lambda: pl.read_lines(jl), repeat=3)[0] if hasattr(pl, "read_lines") else 0.0
    t_fo, _ = timed(lambda: read_jsonl(foreign, stream="aggregate_id", type="kind",
                                       data="payload", time="ts"), repeat=2)
    t_fo_nd, _ = timed(lambda: pl.read_ndjson(foreign), repeat=2)
    t_sp, back = timed(lambda: read_jsonl(spaced), repeat=2)
    assert [e.to_dict() for e in back.head(1000)] == [e.to_dict() for e in log.head(1000)]
    t_sp_nd, _ = timed(lambda: pl.read_ndjson(spaced), repeat=2)
    t_pq, back = timed(lambda: read_parquet(pq), repeat=3)
    assert back == log
    t_pq0, _ = timed(lambda: pl.read_parquet(pq), repeat=3)
    t_csv, _ = timed(lambda: read_csv(csv), repeat=2)
    t_csv0, _ = timed(lambda: pl.read_csv(csv), repeat=2)
    t_ce, _ = timed(lambda: read_cloudevents(ce), repeat=2)
    t_ce0, _ = timed(lambda: [orjson.loads(x) for x in ce.read_bytes().splitlines()], repeat=2)
    t_ce_nd, _ = timed(lambda: pl.read_ndjson(ce), repeat=2)
    t_wj, _ = timed(lambda: log.write_jsonl(tmp / "out.jsonl"), repeat=3)
    t_wn, _ = timed(lambda: log.frame.write_ndjson(tmp / "out.ndjson"), repeat=3)
    t_wp, _ = timed(lambda: log.write_parquet(tmp / "out.parquet"), repeat=3)
    t_wp0, _ = timed(lambda: log.frame.write_parquet(tmp / "out0.parquet"), repeat=3)

    table(f"Event log I/O, {n:,} bank events ({mb:.0f} MB of JSON Lines, "
          f"{os.cpu_count()} cores)", [
        ("read_jsonl (canonical)", t_jl, "pl.read_ndjson", t_nd, "< 1 s at 1M"),
        ("read_jsonl (canonical)", t_jl, "pl.read_lines (no parsing)", t_lines, ""),
        ("read_jsonl (foreign, mapped)", t_fo, "pl.read_ndjson", t_fo_nd, ""),
        ("read_jsonl (written by json.dumps: spaced)", t_sp, "pl.read_ndjson", t_sp_nd, ""),
        ("read_parquet", t_pq, "pl.read_parquet", t_pq0, ""),
        ("read_csv", t_csv, "pl.read_csv", t_csv0, ""),
        (f"read_cloudevents ({ce_n:,}, spaced)", t_ce, "orjson.loads per line", t_ce0, ""),
        (f"read_cloudevents ({ce_n:,}, spaced)", t_ce, "pl.read_ndjson", t_ce_nd, ""),
        ("write_jsonl", t_wj, "DataFrame.write_ndjson", t_wn, ""),
        ("write_parquet", t_wp, "DataFrame.write_parquet", t_wp0, ""),
    ])
    per_event = log.frame.estimated_size() / max(1, len(log))
    print(f"\nmemory: {per_event:.0f} bytes per event in log.frame "
          f"(target <= 300); JSON Lines {jl.stat().st_size / max(1, len(log)):.0f} bytes/line")
    print(f"read_jsonl throughput: {mb / t_jl:.0f} MB/s, {len(log) / t_jl / 1e6:.2f} M events/s")
    jsonl_stages(jl, t_jl)
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


def jsonl_stages(path: Path, total: float) -> None:
    """Where ``read_jsonl`` spends its time on a canonical file (best of 2 per stage)."""
    source = str(path)
    t_cut, frame = timed(lambda: jsonl_mod._read_frame(path, source, {}), repeat=2)
    t_log, _ = timed(lambda: jsonl_mod.log_from_raw(frame, source, {}, "error"), repeat=2)
    print(f"\nread_jsonl stages: read + cut + validate {fmt(t_cut)}, then times + "
          f"normalize (id, version and seq checks) {fmt(t_log)}; whole {fmt(total)}")


if __name__ == "__main__":
    main(int(os.environ.get("BENCH_N", "1000000")))
