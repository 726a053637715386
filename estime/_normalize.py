"""Turn any tabular input into the canonical event-log frame, or say exactly what is wrong.

Used by :meth:`EventLog.from_frame` / :meth:`EventLog.from_records` and by every reader.
The rules (DESIGN.md, "The event log"):

* ``stream`` and ``type`` are required; every other canonical column is assigned when absent:
  ``seq`` from row order (1, 2, ...), ``version`` per stream from 1, ``event_id`` a UUIDv5 of
  (stream, version), ``schema_version`` 1, ``time`` null, ``meta`` ``{}``, ``data`` ``{}``.
* When there is no ``data`` column, the columns that are not canonical become the payload
  (a CSV ``account,kind,amount`` mapped with ``stream="account", type="kind"`` gets
  ``data = {"amount": ...}``). Otherwise extra columns are kept after the canonical ones.
* Validation: non-increasing seq, duplicate (stream, version) or event_id, unparsable time,
  payload that is not JSON, null stream/type. Errors name the row (or the file line when
  the frame carries a ``_line`` column) and the field.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from estime._event import parse_iso
from estime._json import to_json_text
from estime._uuid5 import NAMESPACE, _assigned_ids, event_id_for, event_ids_for
from estime._uuid5 import _event_id_column as _event_id_column  # re-exported for tests
from estime.errors import LogFormatError

__all__ = [
    "CANONICAL",
    "NAMESPACE",
    "SCHEMA",
    "DuplicatesDropped",
    "event_id_for",
    "event_ids_for",
    "normalize",
]

SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "stream": pl.String(),
    "version": pl.Int64(),
    "type": pl.String(),
    "time": pl.Datetime("us", "UTC"),
    "data": pl.String(),
    "meta": pl.String(),
    "event_id": pl.String(),
    "schema_version": pl.Int64(),
}
CANONICAL = tuple(SCHEMA)

Duplicates = Literal["error", "drop"]


class DuplicatesDropped(UserWarning):
    """Identical copies of events (an at-least-once delivery) were dropped while loading."""


class _Where:
    """Names a row for error messages: "line 12 of events.jsonl" or "row 3"."""

    def __init__(self, frame: pl.DataFrame, source: str | None) -> None:
        self.source = source
        self.label = "line" if "_line" in frame.columns else "row"

    def __call__(self, frame: pl.DataFrame, i: int) -> str:
        pos = frame["__pos"][i]
        where = f"{self.label} {pos}"
        return f"{where} of {self.source}" if self.source else where


def _fail(msg: str) -> LogFormatError:
    return LogFormatError(msg)


def _listing(frame: pl.DataFrame) -> str:
    """The input's columns for a message (not the readers' line numbers)."""
    return ", ".join(c for c in frame.columns if c != "_line") or "no columns"


# --------------------------------------------------------------------------- payloads


def _json_column(frame: pl.DataFrame, name: str, where: _Where, *, trusted: bool,
                 default: str) -> pl.Series:
    """The column as compact, single-line JSON text; validated unless ``trusted``."""
    col = frame[name]
    dtype = col.dtype
    if dtype == pl.Null:
        return pl.Series(name, [default] * frame.height, pl.String)
    if isinstance(dtype, (pl.Struct, pl.List, pl.Array)):
        # polars encodes a struct row as an object with every field of the struct: a key
        # absent in the source comes back as null. That is the frame the user gave us.
        if isinstance(dtype, pl.Struct):
            enc = col.struct.json_encode()
        else:
            enc = pl.Series(name, [None if v is None else to_json_text(v)
                                   for v in col.to_list()], pl.String)
        return enc.fill_null(default).alias(name)
    if dtype == pl.String:
        if trusted:
            return col.fill_null(default)
        values = col.to_list()
        out: list[str] = []
        import orjson

        for i, text in enumerate(values):
            if text is None:
                out.append(default)
                continue
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise _fail(
                    f"{where(frame, i)}: field {name!r} is not valid JSON ({exc}); "
                    f"got {text[:80]!r}. Payloads must be JSON text or JSON-compatible values."
                ) from None
            if "\n" in text or "\r" in text:
                text = orjson.dumps(value).decode()
            out.append(text)
        return pl.Series(name, out, pl.String)
    if dtype == pl.Object or dtype.is_numeric() or dtype == pl.Boolean:
        out = []
        for i, value in enumerate(col.to_list()):
            try:
                out.append(default if value is None else to_json_text(value))
            except TypeError as exc:
                raise _fail(
                    f"{where(frame, i)}: field {name!r} is not JSON-compatible ({exc}). "
                    "Use dicts, lists, str, int, float, bool and None only."
                ) from None
        return pl.Series(name, out, pl.String)
    raise _fail(f"{where.source or 'the input'}: column {name!r} has type {dtype}, which is not "
                "a JSON payload; give JSON text, a struct/list column or Python objects")


def _time_column(frame: pl.DataFrame, where: _Where) -> pl.Series:
    col = frame["time"]
    dtype = col.dtype
    target = pl.Datetime("us", "UTC")
    if dtype == pl.Null:
        return pl.Series("time", [None] * frame.height, target)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            col = col.dt.replace_time_zone("UTC")
        else:
            col = col.dt.convert_time_zone("UTC")
        return col.cast(target)
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype == pl.String:
        parsed = col.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        bad = parsed.is_null() & col.is_not_null()
        if bad.any():
            # Mixed formats: let Python's ISO parser handle the rows polars could not.
            values = parsed.to_list()
            texts = col.to_list()
            for i in bad.arg_true().to_list():
                values[i] = _parse_time(texts[i], lambda i=i: where(frame, i))
            parsed = pl.Series("time", values, target)
        return parsed.alias("time")
    if dtype == pl.Object:
        values = []
        for i, v in enumerate(col.to_list()):
            if v is None or isinstance(v, datetime):
                values.append(_as_utc(v) if v is not None else None)
            else:
                values.append(_parse_time(str(v), lambda i=i: where(frame, i)))
        return pl.Series("time", values, target)
    present = col.is_not_null().arg_true()
    if not len(present):  # a typed column of nulls only: no times
        return pl.Series("time", [None] * frame.height, target)
    i = int(present[0])
    raise _fail(
        f"{where(frame, i)}: column 'time' has type {dtype} (this value: {col[i]!r}); give "
        "datetimes or ISO 8601 text. estime does not guess the unit of epoch numbers: "
        "convert them first, e.g. pl.from_epoch(df['time'], time_unit='ms') on a frame "
        "passed to EventLog.from_frame")


def _as_utc(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _parse_time(text: str, where: Any) -> datetime:
    try:
        return _as_utc(parse_iso(text))
    except ValueError:
        raise _fail(
            f"{where()}: field 'time' is not a time: {text[:60]!r}. "
            "Use ISO 8601 such as 2024-05-01T12:00:00Z (times without an offset are taken as UTC)."
        ) from None


# --------------------------------------------------------------------------- main entry


def _content_columns(frame: pl.DataFrame, given: set[str]) -> list[str]:
    cols = ["stream", "type", "data", "meta", "schema_version"]
    cols += [c for c in ("version", "time") if c in given]
    return [c for c in cols if c in frame.columns]


def _distinct(col: pl.Series) -> bool:
    """Whether the column's values are surely all distinct: their 64-bit hashes are (a
    hash table of integers is several times cheaper than one of strings)."""
    return col.hash().n_unique() == len(col)


def _dedupe(frame: pl.DataFrame, key: list[str], given: set[str], where: _Where,
            duplicates: Duplicates) -> tuple[pl.DataFrame, int]:
    if len(key) == 1 and _distinct(frame[key[0]]):
        return frame, 0
    dup_mask = frame.select(
        pl.struct(key).is_duplicated() & pl.all_horizontal(pl.col(key).is_not_null())
    ).to_series()
    if not dup_mask.any():
        return frame, 0
    content = _content_columns(frame, given)
    first_of = frame.with_row_index("__i").filter(dup_mask)
    groups = first_of.group_by(key, maintain_order=True).agg(pl.col("__i"))
    drop: list[int] = []
    for row in groups.iter_rows(named=True):
        idx = row["__i"]
        base = frame.row(idx[0], named=True)
        for j in idx[1:]:
            other = frame.row(j, named=True)
            differing = [c for c in content if base[c] != other[c]]
            label = " and ".join(f"{k}={row[k]!r}" for k in key)
            if differing:
                raise _fail(
                    f"{where(frame, j)}: {label} was already used at {where(frame, idx[0])} "
                    f"with different content (field {differing[0]!r} differs: "
                    f"{str(base[differing[0]])[:60]!r} vs {str(other[differing[0]])[:60]!r}). "
                    "Two different events cannot share an identity; fix the source."
                )
            if duplicates != "drop":
                raise _fail(
                    f"{where(frame, j)}: duplicate event {label} (identical to "
                    f"{where(frame, idx[0])}; an at-least-once redelivery?). "
                    "Pass duplicates='drop' to keep the first copy."
                )
            drop.append(j)
    keep = pl.Series(range(frame.height)).is_in(drop).not_()
    return frame.filter(keep), len(drop)


def normalize(
    frame: pl.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    source: str | None = None,
    duplicates: Duplicates = "error",
    trusted: bool = False,
) -> tuple[pl.DataFrame, int]:
    """Return ``(canonical_frame, n_duplicates_dropped)`` or raise :class:`LogFormatError`."""
    if duplicates not in ("error", "drop"):
        raise ValueError(f"duplicates must be 'error' or 'drop', not {duplicates!r}")
    columns = dict(columns or {})
    for canonical, name in columns.items():
        if canonical not in SCHEMA:
            raise ValueError(
                f"unknown canonical column {canonical!r} in the column mapping; "
                f"expected some of {', '.join(CANONICAL)}"
            )
        if name not in frame.columns:
            raise _fail(
                f"column {name!r} (mapped to {canonical!r}) is not in "
                f"{source or 'the input'}; it has {_listing(frame)}"
            )
    if frame.height == 0 and not frame.columns:
        return pl.DataFrame(schema=SCHEMA), 0
    rename = {name: canonical for canonical, name in columns.items() if name != canonical}
    shadowed = [c for c in rename.values() if c in frame.columns and c not in rename]
    if shadowed:
        frame = frame.rename({c: f"{c}_source" for c in shadowed})
    frame = frame.rename(rename)
    for required in ("stream", "type"):
        if required not in frame.columns:
            raise _fail(
                f"{source or 'the input'} has no {required!r} column (it has "
                f"{_listing(frame)}); map one with "
                f"{required}='<column name>'"
            )
    given = set(frame.columns)
    pos = frame["_line"].cast(pl.Int64) if "_line" in given else pl.int_range(
        1, frame.height + 1, eager=True)
    frame = frame.with_columns(pos.alias("__pos"))
    where = _Where(frame, source)

    if "data" not in given:
        extras = [c for c in frame.columns if c not in SCHEMA and c not in ("_line", "__pos")]
        if extras:
            frame = frame.with_columns(pl.struct(extras).alias("data")).drop(extras)

    for name in ("stream", "type"):
        col = frame[name]
        if col.dtype != pl.String:
            frame = frame.with_columns(col.cast(pl.String))
        nulls = frame[name].is_null()
        if nulls.any():
            i = nulls.arg_true()[0]
            raise _fail(f"{where(frame, i)}: field {name!r} is missing (null); every event needs "
                        "a stream and a type")

    for name in ("seq", "version", "schema_version"):
        if name in frame.columns:
            col = frame[name]
            # 3.0 is 3, but polars' cast would truncate 1.5 to 1: fractions are refused
            fraction = (col.is_not_null() & ~(col.is_finite() & (col.floor() == col))
                        if col.dtype.is_float() else None)
            try:
                if fraction is not None and fraction.any():
                    raise pl.exceptions.InvalidOperationError
                col = col.cast(pl.Int64, strict=True)
            except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
                bad = col.cast(pl.Int64, strict=False).is_null() & col.is_not_null()
                if fraction is not None:
                    bad = bad | fraction
                i = bad.arg_true()[0] if bad.any() else 0
                raise _fail(f"{where(frame, i)}: field {name!r} is not an integer: "
                            f"{col[i]!r}") from None
            if name != "schema_version" and col.is_null().any():
                i = col.is_null().arg_true()[0]
                raise _fail(f"{where(frame, i)}: field {name!r} is missing (null); give every "
                            f"event a {name} or drop the column to have it assigned")
            frame = frame.with_columns(col)

    frame = frame.with_columns(
        _json_column(frame, "data", where, trusted=trusted, default="{}")
        if "data" in frame.columns else pl.lit("{}").alias("data"),
        _json_column(frame, "meta", where, trusted=trusted, default="{}")
        if "meta" in frame.columns else pl.lit("{}").alias("meta"),
        _time_column(frame, where) if "time" in frame.columns
        else pl.lit(None, pl.Datetime("us", "UTC")).alias("time"),
        pl.col("schema_version").fill_null(1) if "schema_version" in frame.columns
        else pl.lit(1, pl.Int64).alias("schema_version"),
    )
    if not trusted:
        not_obj = ~frame["meta"].str.starts_with("{")
        if not_obj.any():
            i = not_obj.arg_true()[0]
            raise _fail(f"{where(frame, i)}: field 'meta' must be a JSON object, "
                        f"got {frame['meta'][i][:60]!r}")
    if "event_id" in frame.columns and frame["event_id"].dtype != pl.String:
        frame = frame.with_columns(pl.col("event_id").cast(pl.String))

    dropped = 0
    if "event_id" in frame.columns:
        frame, dropped = _dedupe(frame, ["event_id"], given, where, duplicates)
    elif "version" in frame.columns:
        frame, dropped = _dedupe(frame, ["stream", "version"], given, where, duplicates)

    if "seq" in frame.columns:
        bad = frame["seq"].diff() <= 0
        if bad.any():
            i = bad.arg_true()[0]
            raise _fail(
                f"{where(frame, i)}: seq {frame['seq'][i]} is not greater than the previous "
                f"seq {frame['seq'][i - 1]}; seqs must strictly increase. Sort the events by "
                "seq, or drop the seq column to number them by row order."
            )
    else:
        frame = frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("seq"))

    if "version" in frame.columns:
        # versions increasing within each stream are unique too: the duplicate search only
        # runs to explain a failure
        bad = frame.select(pl.col("version").diff().over("stream") <= 0).to_series()
        if bad.any():
            dup = frame.select(pl.struct("stream", "version").is_duplicated()).to_series()
            if dup.any():
                i = dup.arg_true()[-1]
                first = frame.with_row_index("__i").filter(
                    (pl.col("stream") == frame["stream"][i])
                    & (pl.col("version") == frame["version"][i])
                )["__i"][0]
                raise _fail(
                    f"{where(frame, i)}: stream {frame['stream'][i]!r} version "
                    f"{frame['version'][i]} already appears at {where(frame, first)}; each "
                    "(stream, version) must be unique."
                )
            i = bad.arg_true()[0]
            raise _fail(
                f"{where(frame, i)}: stream {frame['stream'][i]!r} version {frame['version'][i]} "
                "is not greater than the stream's previous version; versions must increase "
                "within each stream in seq order."
            )
    else:
        frame = frame.with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("stream").alias("version"))

    if "event_id" not in frame.columns or frame["event_id"].null_count():
        # ids assigned to every event are distinct, as (stream, version) pairs are
        assigned = _assigned_ids(frame["stream"], frame["version"])
        some_given = "event_id" in frame.columns
        if some_given:
            assigned = frame["event_id"].fill_null(assigned)
        frame = frame.with_columns(assigned.alias("event_id"))
        if some_given and not _distinct(frame["event_id"]):
            dup = frame["event_id"].is_duplicated()
            if dup.any():
                i = dup.arg_true()[-1]
                raise _fail(f"{where(frame, i)}: event_id {frame['event_id'][i]!r} is used "
                            "twice (an assigned id collides with a given one); give every "
                            "event an id")

    extras = [c for c in frame.columns if c not in SCHEMA and c not in ("_line", "__pos")]
    frame = frame.select(
        [pl.col(c).cast(t) for c, t in SCHEMA.items()] + [pl.col(c) for c in extras]
    )
    if dropped:
        warnings.warn(
            f"dropped {dropped} duplicate event(s) from {source or 'the input'} "
            "(identical redeliveries; the first copy of each was kept)",
            DuplicatesDropped,
            stacklevel=4,
        )
    return frame, dropped
