"""The ``estime`` command: look at a log, replay it, diff two points, open the notebooks.

    estime info LOG
    estime replay LOG --projection module:name [--at SEQ]
    estime diff LOG A B --projection module:name
    estime lab [--port 8888]

LOG is a JSON Lines, CSV, Parquet or CloudEvents file, an estime EventStore, an
``eventsourcing`` SQLite database or a LangGraph checkpoint database (recognised by their
tables). Bad input prints one line saying what is wrong and exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from estime.errors import EstimeError

__all__ = ["main", "open_log"]


class UsageError(Exception):
    """A problem with the command line or its files (printed as one line, exit 2)."""


def _sqlite_tables(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path}: not a readable SQLite database ({exc})") from None
    return {r[0] for r in rows}


def open_log(path: str | Path, fmt: str | None = None) -> Any:
    """Open any log estime reads, choosing the reader by ``fmt`` or by the file itself."""
    from estime import io

    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    if p.is_dir():
        raise UsageError(f"{p}: is a directory; give a log file (JSONL, CSV, Parquet, "
                         "CloudEvents) or an SQLite database")
    suffix = "".join(p.suffixes[-2:]) if p.suffix == ".gz" else p.suffix
    kind = fmt or {
        ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".json": "cloudevents",
        ".csv": "csv", ".parquet": "parquet", ".pq": "parquet",
    }.get(suffix.lower())
    if kind is None:
        with p.open("rb") as fh:
            head = fh.read(16)
        if head.startswith(b"SQLite format 3"):
            tables = _sqlite_tables(p)
            if "events" in tables:
                kind = "store"
            elif "stored_events" in tables:
                kind = "eventsourcing"
            elif "checkpoints" in tables:
                kind = "langgraph"
            else:
                raise UsageError(f"{p}: an SQLite database without an event table estime knows "
                                 f"(found: {', '.join(sorted(tables)) or 'no tables'})")
        else:
            kind = "jsonl"
    if kind == "store":
        from estime.store import EventStore

        with EventStore(p) as store:
            return store.load()
    readers = {
        "jsonl": "read_jsonl", "csv": "read_csv", "parquet": "read_parquet",
        "cloudevents": "read_cloudevents", "eventsourcing": "read_eventsourcing",
        "langgraph": "read_langgraph",
    }
    if kind not in readers:
        raise UsageError(f"unknown format {kind!r}; use one of {', '.join(sorted(readers))}, store")
    return getattr(io, readers[kind])(p)


def _load_projection(spec: str) -> Any:
    from estime.projection import Projection

    module, _, name = spec.partition(":")
    if not module or not name:
        raise UsageError(f"--projection takes module:name (e.g. myproj:balances), got {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"cannot import projection module {module!r}: {exc}") from None
    except Exception as exc:  # the user's module failed while importing: say so, briefly
        raise UsageError(f"importing projection module {module!r} raised "
                         f"{type(exc).__name__}: {exc}") from None
    obj = getattr(mod, name, None)
    if obj is None:
        raise UsageError(f"module {module!r} has no {name!r}")
    if isinstance(obj, type) and issubclass(obj, Projection):
        obj = obj()
    if not isinstance(obj, Projection):
        raise UsageError(f"{spec} is a {type(obj).__name__}, not an estime.Projection")
    return obj


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def cmd_info(args: argparse.Namespace) -> int:
    log = open_log(args.log, args.format)
    d = log.describe()
    print(f"{args.log}: {d['events']:,} events, {d['streams']:,} streams, {d['types']:,} types")
    print(f"seq {d['first_seq']} .. {d['last_seq']}")
    print(f"time {d['first_time']} .. {d['last_time']}")
    counts = log.frame.group_by("type").len().sort("len", descending=True)
    for t, n in counts.head(args.top).iter_rows():
        print(f"  {n:>10,}  {t}")
    if counts.height > args.top:
        print(f"  ... and {counts.height - args.top} more types")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from estime.projection import replay

    log = open_log(args.log, args.format)
    rp = replay(log, _load_projection(args.projection))
    state = rp.final if args.at is None else rp.state_at(args.at)
    print(_dump(state))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from estime.projection import replay

    log = open_log(args.log, args.format)
    rp = replay(log, _load_projection(args.projection))
    d = rp.diff(args.a, args.b)
    if args.json_patch:
        print(_dump(d.to_json_patch()))
        return 0
    if not d:
        print(f"no change between seq {args.a} and seq {args.b}")
        return 0
    for path, op, before, after in d.frame.select("path", "op", "before", "after").iter_rows():
        print(f"{op:8} {path or '/'}  {before or ''} -> {after or ''}")
    return 0


def lab_command(args: argparse.Namespace) -> list[str]:
    """The JupyterLab command line ``estime lab`` runs (127.0.0.1 only, token on)."""
    here = Path(__file__).resolve().parent
    notebooks = args.notebooks or (here.parent / "notebooks")
    if not Path(notebooks).is_dir():
        raise UsageError(f"no notebooks folder at {notebooks}; pass --notebooks DIR")
    cmd = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={args.port}",
           f"--ServerApp.root_dir={notebooks}",
           # no network: no news feed, no update check
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    if args.no_browser:
        cmd.append("--no-browser")
    return cmd


def cmd_lab(args: argparse.Namespace) -> int:
    cmd = lab_command(args)
    try:
        return subprocess.call(cmd)  # noqa: S603 - our own interpreter and arguments
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``estime --help``)."""
    parser = argparse.ArgumentParser(
        prog="estime", description="Temporal analysis of event-sourced logs.")
    sub = parser.add_subparsers(dest="command", required=True)

    def log_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("log", help="JSONL, CSV, Parquet, CloudEvents, or an SQLite event store")
        p.add_argument("--format", choices=["jsonl", "csv", "parquet", "cloudevents", "store",
                                            "eventsourcing", "langgraph"],
                       help="reader to use (default: guessed from the file)")

    p = sub.add_parser("info", help="events, streams, types and time range of a log")
    log_args(p)
    p.add_argument("--top", type=int, default=10, help="how many event types to list")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("replay", help="replay a projection and print the state")
    log_args(p)
    p.add_argument("--projection", required=True, help="module:name of an estime.Projection")
    p.add_argument("--at", type=int, help="seq to replay up to (default: the whole log)")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("diff", help="what changed in a projection between two seqs")
    log_args(p)
    p.add_argument("a", type=int, help="first seq")
    p.add_argument("b", type=int, help="second seq")
    p.add_argument("--projection", required=True, help="module:name of an estime.Projection")
    p.add_argument("--json-patch", action="store_true", help="print an RFC 6902 JSON Patch")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("lab", help="open JupyterLab on the notebooks (127.0.0.1, with a token)")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--notebooks", type=Path, help="folder to open (default: notebooks/)")
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=cmd_lab)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``estime`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `estime info LOG | head`: stop quietly
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        return 130
    except (UsageError, EstimeError, OSError, ValueError, KeyError) as exc:
        print(f"estime: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("ESTIME_DEBUG"):
            raise
        print(f"estime: error: {type(exc).__name__}: {_one_line(exc)} (set ESTIME_DEBUG=1 "
              "to see the traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, KeyError):
        msg = msg.strip("\"'")
    return msg


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
