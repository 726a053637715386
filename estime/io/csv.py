"""Read CSV event logs (:func:`read_csv`).

A header row, then one event per row. ``data`` and ``meta`` columns hold JSON text; without
a ``data`` column the columns that are not canonical become the payload (their types are
inferred from the whole file). Errors name the file and line.
"""

from __future__ import annotations

import csv as _csv
import io
import os
from collections.abc import Mapping

import numpy as np
import polars as pl

from estime._normalize import Duplicates
from estime._progress import steps
from estime.errors import LogFormatError
from estime.io.jsonl import (
    _RESERVED,
    PathLike,
    check_utf8,
    checked_payloads,
    log_from_raw,
    read_bytes,
)
from estime.log import EventLog

__all__ = ["read_csv"]

#: Canonical columns read as text whatever they look like (a stream named "007" stays so).
_TEXT = ("stream", "type", "data", "meta", "event_id", "time")


def _bad_row_line(text: str, separator: str) -> str:
    """Where Python's csv module sees a row whose field count differs from the header's."""
    reader = _csv.reader(io.StringIO(text), delimiter=separator)
    try:
        header = next(reader)
        for row in reader:
            if row and len(row) != len(header):
                return (f"line {reader.line_num} has {len(row)} fields, the header has "
                        f"{len(header)}")
    except _csv.Error as exc:
        return f"line {reader.line_num}: {exc}"
    return ""


def _infer(col: pl.Series) -> pl.Series:
    """The column's type from every value (Int64, Float64, Boolean, else text), the way
    polars infers it but over the whole file (a late "2.5" makes the column Float64)."""
    present = col.drop_nulls()
    if len(present) == 0:
        return col
    for dtype in (pl.Int64, pl.Float64):
        try:
            cast = col.cast(dtype, strict=True)
        except pl.exceptions.InvalidOperationError:
            continue
        if dtype == pl.Float64 and not cast.drop_nulls().is_finite().all():
            break  # NaN and infinities are not JSON: keep the text
        return cast
    lower = present.str.to_lowercase()
    if lower.is_in(["true", "false"]).all():
        return (col.str.to_lowercase() == "true").alias(col.name)
    return col


def _line_numbers(df: pl.DataFrame, raw: bytes) -> tuple[pl.Series, pl.Series]:
    """(file line of each row, row is a blank line) — rows that span lines (quoted newlines)
    are accounted for."""
    text_cols = [c for c, t in df.schema.items() if t == pl.String]
    if text_cols:
        nl = df.select(pl.sum_horizontal(
            pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in text_cols
        )).to_series()
    else:
        nl = pl.Series(np.zeros(df.height, dtype=np.int64))
    start = pl.int_range(2, df.height + 2, eager=True) + nl.cum_sum().shift(1, fill_value=0)
    a = np.frombuffer(raw, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(a == 10) + 1))
    ends = np.append(starts[1:] - 1, len(raw))
    blank_line = (ends - starts) <= 0
    blank_line |= (ends - starts == 1) & (a[np.minimum(starts, len(raw) - 1)] == 13)
    idx = np.clip(start.to_numpy() - 1, 0, len(starts) - 1)
    all_null = df.select(pl.all_horizontal(pl.all().is_null())).to_series() if df.width else (
        pl.Series(np.ones(df.height, dtype=bool)))
    blank = all_null & pl.Series(blank_line[idx])
    return start.cast(pl.Int64).alias("_line"), blank


def read_csv(path: PathLike, *, duplicates: Duplicates = "error", separator: str = ",",
             **columns: str) -> EventLog:
    """Read a CSV event log (header row; ``.gz`` read transparently).

    ``columns`` maps canonical names to the file's columns (``stream="account"``). ``data``
    and ``meta`` columns hold JSON text; without a ``data`` column the other non-canonical
    columns form the payload, with types inferred from the whole file. Blank lines are
    skipped. Errors (:class:`~estime.errors.LogFormatError`) name the file and line.

    >>> import tempfile, pathlib, estime as es
    >>> from estime.io import read_csv
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = p.write_text("account,kind,amount\\nacc-1,Deposited,50\\n")
    >>> read_csv(p, stream="account", type="kind").event(1).data["amount"]
    50
    """
    source = str(path)
    with steps(f"reading {os.path.basename(source)}", 3) as step:
        step("parsing")
        raw = read_bytes(path)
        check_utf8(raw, source)
        if not raw.strip():
            raise LogFormatError(f"{source} is empty; a CSV event log needs a header row")
        try:
            df = pl.read_csv(raw, separator=separator, infer_schema=False)
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
            where = _bad_row_line(raw.decode(), separator)
            raise LogFormatError(
                f"{source}: not a readable CSV file ({where or str(exc).splitlines()[0]}). "
                "Check the separator and quoting."
            ) from None
        df = df.rename({c: f"{c}_source" for c in _RESERVED if c in df.columns})
        text = {columns.get(c, c) for c in _TEXT}
        df = df.with_columns(_infer(df[c]) for c in df.columns if c not in text)
        lines, blank = _line_numbers(df, raw)
        df = df.with_columns(lines).filter(~blank)
        lines = df["_line"]
        step("checking payloads")
        df = df.with_columns(checked_payloads(df, columns,
                                              lambda i: f"line {lines[i]} of {source}"))
        step("checking the log")
        return log_from_raw(df, source, _as_dict(columns), duplicates)


def _as_dict(columns: Mapping[str, str]) -> dict[str, str]:
    return dict(columns)
