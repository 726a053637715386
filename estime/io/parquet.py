"""Read Parquet event logs (:func:`read_parquet`).

Files written by :meth:`EventLog.write_parquet` load back exactly. Foreign files map their
columns (``stream="aggregate_id"``); payloads may be JSON text or struct / list columns.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from estime._normalize import Duplicates
from estime._progress import steps
from estime.errors import LogFormatError
from estime.io.jsonl import _RESERVED, PathLike, checked_payloads, log_from_raw
from estime.log import EventLog

__all__ = ["read_parquet"]


def read_parquet(path: PathLike, *, duplicates: Duplicates = "error",
                 **columns: str) -> EventLog:
    """Read a Parquet event log.

    ``columns`` maps canonical names to the file's columns. ``data`` and ``meta`` may be JSON
    text (validated) or struct / list columns (encoded as JSON; a struct has every field in
    every row, null where a row had none). Errors name the file and row.

    >>> import tempfile, pathlib, estime as es
    >>> from estime.io import read_parquet
    >>> log = es.EventLog.from_records([{"stream": "a", "type": "X", "data": {"n": 1}}])
    >>> p = log.write_parquet(pathlib.Path(tempfile.mkdtemp()) / "log.parquet")
    >>> read_parquet(p) == log
    True
    """
    source = str(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"no such file: {source}")
    with steps(f"reading {Path(path).name}", 3) as step:
        step("parsing")
        try:
            df = pl.read_parquet(Path(path))
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise LogFormatError(
                f"{source}: not a readable Parquet file ({str(exc).splitlines()[0]}); is it "
                "truncated, or another format?"
            ) from None
        names = {c: columns.get(c, c) for c in ("data", "meta")}
        df = df.rename({c: f"{c}_source" for c in _RESERVED if c in df.columns})
        step("checking payloads")
        if all(df.schema[n] == pl.String for n in names.values() if n in df.columns):
            checked = checked_payloads(df, columns, lambda i: f"row {i + 1} of {source}")
            step("checking the log")
            return log_from_raw(df.with_columns(checked), source, columns, duplicates)
        # Struct, list or other payload columns: the general path encodes and checks them.
        step("encoding payloads, checking the log")
        return EventLog.from_frame(df, duplicates=duplicates, source=source, **columns)
