"""Regenerate the small datasets shipped in this directory from ``estime.datasets``.

    python datasets/make.py            # rewrite the files next to this script
    python datasets/make.py --check    # exit 1 if a shipped file differs from a fresh one
    python datasets/make.py --out DIR  # write somewhere else

The generators are deterministic, so the output is the same on every run and machine;
``tests/test_datasets.py`` checks that the shipped files equal a fresh generation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from estime import datasets
from estime.log import EventLog

HERE = Path(__file__).resolve().parent

#: file stem -> (generator, keyword arguments); the defaults of each generator
LOGS: dict[str, tuple[Callable[..., EventLog], dict[str, Any]]] = {
    "bank": (datasets.bank, {"accounts": 100, "events": 2_000, "seed": 0}),
    "orders": (datasets.orders, {"orders": 200, "seed": 0}),
    "agent_run": (datasets.agent_run, {"seed": 0}),
}
FILES = [f"{stem}.{ext}" for stem in LOGS for ext in ("jsonl", "parquet")]
FILES.append("bank_commands.jsonl")


def write_commands_jsonl(commands: pl.DataFrame, path: Path) -> Path:
    """One command per line; ``data`` inline as a JSON object, ``time`` as ISO 8601 (UTC)."""
    with path.open("wb") as fh:
        for row in commands.iter_rows(named=True):
            row["time"] = row["time"].strftime("%Y-%m-%dT%H:%M:%SZ")
            row["data"] = orjson.loads(row["data"])
            fh.write(orjson.dumps(row) + b"\n")
    return path


def write_all(out: Path) -> list[Path]:
    """Write every shipped file into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (generate, kwargs) in LOGS.items():
        log = generate(**kwargs)
        written.append(log.write_jsonl(out / f"{stem}.jsonl"))
        written.append(log.write_parquet(out / f"{stem}.parquet"))
    bank_kwargs = LOGS["bank"][1]
    written.append(write_commands_jsonl(datasets.bank_commands(**bank_kwargs),
                                        out / "bank_commands.jsonl"))
    return written


def stale_files(shipped: Path) -> list[str]:
    """Names of shipped files whose content differs from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        write_all(fresh)
        bad = []
        for name in FILES:
            a, b = shipped / name, fresh / name
            if not a.exists():
                bad.append(name)
            elif name.endswith(".parquet"):
                if not pl.read_parquet(a).equals(pl.read_parquet(b)):
                    bad.append(name)
            elif a.read_bytes() != b.read_bytes():
                bad.append(name)
        return bad


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write into")
    parser.add_argument("--check", action="store_true",
                        help="compare the shipped files with a fresh generation, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale_files(args.out)
        for name in bad:
            print(f"stale: {args.out / name} (run: python datasets/make.py)", file=sys.stderr)
        return 1 if bad else 0
    for path in write_all(args.out):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
