"""The immutable, columnar event log: :class:`Event` and :class:`EventLog`.

>>> import estime as es
>>> log = es.EventLog.from_records([
...     {"stream": "acc-1", "type": "AccountOpened", "data": {"owner": "ada"}},
...     {"stream": "acc-1", "type": "MoneyDeposited", "data": {"amount": 50}},
... ])
>>> len(log), log.streams, log.event(2).data["amount"]
(2, ['acc-1'], 50)
>>> log.frame.columns[:5]
['seq', 'stream', 'version', 'type', 'time']
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from estime import _decode
from estime._event import Event
from estime._json import to_json_text
from estime._normalize import (
    CANONICAL,
    SCHEMA,
    Duplicates,
    DuplicatesDropped,
    event_id_for,
    normalize,
)
from estime.errors import LogFormatError

if TYPE_CHECKING:
    import pandas as pd

    from estime.branch import Branch
    from estime.upcast import Upcasters

__all__ = ["CANONICAL", "SCHEMA", "DuplicatesDropped", "Event", "EventLog", "event_id_for"]



class EventLog:
    """An immutable, append-only event log held as a polars DataFrame (``.frame``).

    Build one with :meth:`from_records`, :meth:`from_frame` or a reader (``estime.read_jsonl``,
    ...). Every method returns a new object; the frame is never changed in place.
    """

    __slots__ = ("__dict__", "__weakref__", "_frame", "duplicates_dropped", "source")

    def __init__(self, frame: pl.DataFrame, *, source: str | None = None,
                 duplicates: Duplicates = "error") -> None:
        """Validate ``frame`` (canonical columns, or fewer: see :meth:`from_frame`)."""
        frame, dropped = normalize(frame, source=source, duplicates=duplicates)
        self._frame = frame
        self.source = source
        self.duplicates_dropped = dropped

    @classmethod
    def _trusted(cls, frame: pl.DataFrame, source: str | None = None) -> EventLog:
        """Wrap a frame already in canonical form (internal: subsets of a valid log)."""
        self = cls.__new__(cls)
        self._frame = frame
        self.source = source
        self.duplicates_dropped = 0
        return self

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | Event], *,
                     duplicates: Duplicates = "error", source: str | None = None,
                     **columns: str) -> EventLog:
        """Build a log from mappings (or :class:`Event` values).

        ``columns`` maps canonical names to the records' keys (``stream="aggregate_id"``).
        ``data`` and ``meta`` are JSON values; ``time`` a datetime or ISO 8601 text.

        >>> log = EventLog.from_records([{"aggregate_id": "a", "kind": "X", "data": [1, 2]}],
        ...                             stream="aggregate_id", type="kind")
        >>> log.event(1).data
        (1, 2)
        """
        rows = [r.to_dict() if isinstance(r, Event) else r for r in records]
        keys: dict[str, None] = {}
        for r in rows:
            if not isinstance(r, Mapping):
                raise LogFormatError(f"record {len(keys) + 1} is a {type(r).__name__}, "
                                     "not a mapping")
            keys.update(dict.fromkeys(r))
        payload = {columns.get("data", "data"), columns.get("meta", "meta")}
        series = []
        for k in keys:
            values = [r.get(k) for r in rows]
            if k in payload:
                enc: list[str | None] = []
                for i, v in enumerate(values):
                    try:
                        enc.append(None if v is None else to_json_text(v))
                    except TypeError as exc:
                        where = f"record {i + 1}" + (f" of {source}" if source else "")
                        raise LogFormatError(
                            f"{where}: field {k!r} is not JSON-compatible ({exc}). Use dicts, "
                            "lists, str, int, float, bool and None only.") from None
                series.append(pl.Series(k, enc, pl.String))
            else:
                try:
                    series.append(pl.Series(k, values, strict=False))
                except (TypeError, pl.exceptions.PolarsError):
                    series.append(pl.Series(k, values, pl.Object))
        frame = pl.DataFrame(series) if series else pl.DataFrame()
        out, dropped = normalize(frame, columns=columns, source=source, duplicates=duplicates)
        log = cls._trusted(out, source)
        log.duplicates_dropped = dropped
        return log

    @classmethod
    def from_frame(cls, df: pl.DataFrame | pd.DataFrame, *, duplicates: Duplicates = "error",
                   source: str | None = None, **columns: str) -> EventLog:
        """Build a log from a polars or pandas DataFrame.

        ``columns`` maps canonical names to the frame's columns (``stream="aggregate_id"``).
        Missing columns are assigned (see :mod:`estime._normalize`); without a ``data`` column
        the remaining columns become the payload.
        """
        if not isinstance(df, pl.DataFrame):
            df = _from_pandas(df)
        out, dropped = normalize(df, columns=columns, source=source, duplicates=duplicates)
        log = cls._trusted(out, source)
        log.duplicates_dropped = dropped
        return log

    # ------------------------------------------------------------------ basics

    @property
    def frame(self) -> pl.DataFrame:
        """The events as a polars DataFrame (canonical columns first, in DESIGN order)."""
        return self._frame

    def __len__(self) -> int:
        return self._frame.height

    def __iter__(self) -> Iterator[Event]:
        return self.iter_events()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventLog):
            return NotImplemented
        return self._frame.equals(other._frame)

    __hash__ = None  # type: ignore[assignment]

    @cached_property
    def _columns(self) -> _decode._Columns:
        return _decode._Columns()

    @cached_property
    def _seqs(self) -> np.ndarray:
        return self._frame["seq"].to_numpy()

    def index_of(self, seq: int) -> int:
        """The number of events with seq ≤ ``seq`` (the row index just after it)."""
        return int(np.searchsorted(self._seqs, seq, side="right"))

    def iter_events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Yield the events of rows ``[start, stop)`` in seq order, decoding in chunks."""
        for chunk in self.iter_chunks(start, stop):
            yield from chunk

    def iter_chunks(self, start: int = 0, stop: int | None = None) -> Iterator[list[Event]]:
        """The events of rows ``[start, stop)`` as lists of up to 65,536 (for hot loops)."""
        stop = self._frame.height if stop is None else min(stop, self._frame.height)
        # short reads use chunks already kept, but do not start a store of their own
        long = stop - start >= _decode._CACHED_FROM
        cols = self._columns if long else self.__dict__.get("_columns")
        return _decode.iter_chunks(self, self._frame, cols, start, stop)

    def events(self, start: int = 0, stop: int | None = None) -> list[Event]:
        """The events of rows ``[start, stop)`` as a list."""
        return list(self.iter_events(start, stop))

    def event(self, seq: int) -> Event:
        """The event with this seq; ``KeyError`` naming the log's range when there is none."""
        i = self.index_of(seq) - 1
        if i < 0 or self._seqs[i] != seq:
            rng = f"{self._seqs[0]}..{self._seqs[-1]}" if len(self) else "nothing (it is empty)"
            raise KeyError(f"no event with seq {seq}; this log holds seqs {rng}")
        return next(self.iter_events(i, i + 1))

    def event_by_id(self, event_id: str) -> Event:
        """The event with this event_id (``KeyError`` when absent)."""
        hits = self._frame.with_row_index("__i").filter(pl.col("event_id") == event_id)
        if hits.height == 0:
            raise KeyError(f"no event with event_id {event_id!r} in this log")
        i = int(hits["__i"][0])
        return next(self.iter_events(i, i + 1))

    def to_records(self) -> list[dict[str, Any]]:
        """Every event as a plain dict (``from_records`` gives the same log back)."""
        return [e.to_dict() for e in self]

    # ------------------------------------------------------------------ slicing

    def _slice(self, frame: pl.DataFrame) -> EventLog:
        return type(self)._trusted(frame, self.source)

    def until(self, seq: int) -> EventLog:
        """The events with seq ≤ ``seq`` (the log as it was at that point)."""
        return self._slice(self._frame.head(self.index_of(seq)))

    def as_of(self, time: datetime | str) -> EventLog:
        """The prefix of the log up to the last event recorded at or before ``time``.

        Events without a time belong to the prefix when an event after them does. Naive
        datetimes and ISO text without an offset are taken as UTC.
        """
        t = _utc(time)
        hit = self._frame.with_row_index("__i").filter(pl.col("time") <= t)
        n = 0 if hit.height == 0 else int(hit["__i"][-1]) + 1
        return self._slice(self._frame.head(n))

    def between(self, a: int | datetime | str, b: int | datetime | str) -> EventLog:
        """Events with ``a ≤ seq ≤ b`` (ints) or ``a ≤ time ≤ b`` (datetimes / ISO text)."""
        if isinstance(a, int) and isinstance(b, int):
            lo, hi = self.index_of(a - 1), self.index_of(b)
            return self._slice(self._frame.slice(lo, max(hi - lo, 0)))
        if isinstance(a, int) or isinstance(b, int):
            raise TypeError("between() takes two seqs or two times, not a mix")
        ta, tb = _utc(a), _utc(b)
        return self._slice(self._frame.filter(pl.col("time").is_between(ta, tb)))

    def filter(self, *predicates: pl.Expr, **constraints: Any) -> EventLog:
        """Events matching polars expressions and/or column constraints.

        A constraint's value may be a scalar or a collection (``type=["A", "B"]``).

        >>> log = EventLog.from_records([{"stream": "a", "type": "X"},
        ...                              {"stream": "b", "type": "Y"}])
        >>> log.filter(type=["Y"]).streams
        ['b']
        """
        exprs = list(predicates)
        for name, value in constraints.items():
            if name not in self._frame.columns:
                raise KeyError(f"no column {name!r}; columns are {', '.join(self._frame.columns)}")
            if isinstance(value, (list, tuple, set, frozenset, pl.Series)):
                exprs.append(pl.col(name).is_in(list(value)))
            else:
                exprs.append(pl.col(name) == value)
        return self._slice(self._frame.filter(*exprs) if exprs else self._frame)

    def head(self, n: int = 5) -> EventLog:
        """The first ``n`` events."""
        return self._slice(self._frame.head(n))

    def tail(self, n: int = 5) -> EventLog:
        """The last ``n`` events."""
        return self._slice(self._frame.tail(n))

    # ------------------------------------------------------------------ summaries

    @cached_property
    def streams(self) -> list[str]:
        """The streams, in order of first appearance."""
        return self._frame["stream"].unique(maintain_order=True).to_list()

    @cached_property
    def types(self) -> list[str]:
        """The event types, in order of first appearance."""
        return self._frame["type"].unique(maintain_order=True).to_list()

    def payload(self, type: str) -> pl.DataFrame:
        """The payloads of one event type as typed columns, beside seq, stream, version, time.

        Every row is considered when inferring the columns, so a key that first appears late
        is kept. Payload fields that clash with those names get a ``data.`` prefix.
        """
        sub = self._frame.filter(pl.col("type") == type)
        base = sub.select("seq", "stream", "version", "time")
        if sub.height == 0:
            return base
        decoded = sub["data"].str.json_decode(infer_schema_length=None)
        if not isinstance(decoded.dtype, pl.Struct):
            return base.with_columns(decoded.alias("data"))
        fields = decoded.struct.unnest()
        fields = fields.rename({c: f"data.{c}" for c in fields.columns if c in base.columns})
        return pl.concat([base, fields], how="horizontal")

    def to_pandas(self) -> pd.DataFrame:
        """The frame as a pandas DataFrame (data and meta stay JSON text)."""
        return self._frame.to_pandas()

    def describe(self) -> dict[str, Any]:
        """Counts and ranges: events, streams, types, first/last seq and time."""
        f = self._frame
        return {
            "events": f.height,
            "streams": f["stream"].n_unique(),
            "types": f["type"].n_unique(),
            "first_seq": f["seq"].min(),
            "last_seq": f["seq"].max(),
            "first_time": f["time"].min(),
            "last_time": f["time"].max(),
        }

    def __repr__(self) -> str:
        d = self.describe()
        return (f"EventLog: {d['events']:,} events, {d['streams']:,} streams, {d['types']:,} "
                f"types, seq {d['first_seq']}..{d['last_seq']}\n{self._frame}")

    def _repr_html_(self) -> str:
        d = self.describe()
        head = html.escape(f"EventLog: {d['events']:,} events, {d['streams']:,} streams, "
                           f"{d['types']:,} types, seq {d['first_seq']}..{d['last_seq']}")
        return f"<p><b>{head}</b></p>{self._frame._repr_html_()}"

    # ------------------------------------------------------------------ derived logs

    def upcast(self, upcasters: Upcasters) -> EventLog:
        """A new log with old payload versions upcast (this log is unchanged)."""
        return upcasters.upcast_log(self)

    def fork(self, at: int, name: str | None = None) -> Branch:
        """A what-if :class:`~estime.branch.Branch` sharing the events with seq ≤ ``at``."""
        from estime.branch import Branch

        return Branch(self, at, name)

    def causes(self, event_id: str | int | Event) -> EventLog:
        """Every ancestor of an event through ``meta.causation_id`` (see
        :func:`estime.rootcause.causes`): a log of events with a ``depth`` column."""
        from estime.rootcause import causes

        return causes(self, event_id)

    def effects(self, event_id: str | int | Event) -> EventLog:
        """Every descendant of an event through ``meta.causation_id`` (see
        :func:`estime.rootcause.effects`): a log of events with a ``depth`` column."""
        from estime.rootcause import effects

        return effects(self, event_id)

    # ------------------------------------------------------------------ writers

    def _jsonl_line(self) -> pl.Expr:
        """Each row as its JSON Lines text (payloads inline: they are compact JSON text)."""
        extras = [c for c in self._frame.columns if c not in SCHEMA]
        time_text = pl.col("time").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ").alias("time")
        head = pl.struct("seq", "stream", "version", "type", time_text).struct.json_encode()
        tail = pl.struct("event_id", "schema_version", *extras).struct.json_encode()
        return pl.concat_str(
            head.str.head(-1), pl.lit(',"data":'), pl.col("data"), pl.lit(',"meta":'),
            pl.col("meta"), pl.lit(","), tail.str.tail(-1),
        ).alias("line")

    def write_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per line (canonical fields; payloads inline as JSON)."""
        path = Path(path)
        # The lines are built and written by polars' streaming engine; a one-column CSV
        # without quoting is the lines themselves (JSON text has no raw newline).
        self._frame.lazy().select(self._jsonl_line()).sink_csv(
            path, include_header=False, quote_style="never")
        return path

    def write_parquet(self, path: str | Path) -> Path:
        """Write the frame as Parquet (``estime.read_parquet`` reads it back losslessly)."""
        path = Path(path)
        self._frame.write_parquet(path)
        return path


def _utc(t: datetime | str) -> datetime:
    from estime._normalize import _as_utc, _parse_time

    if isinstance(t, datetime):
        return _as_utc(t)
    return _parse_time(str(t), lambda: "argument")


def _from_pandas(df: Any) -> pl.DataFrame:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a polars or pandas DataFrame, got {type(df).__name__}")
    df = df.reset_index(drop=True)
    series = []
    for name in df.columns:
        col = df[name]
        if col.dtype == object:
            values = col.tolist()
            if any(isinstance(v, (dict, list, tuple)) for v in values):
                series.append(pl.Series(str(name), values, pl.Object))
                continue
            try:
                series.append(pl.Series(str(name), values, strict=False))
            except (TypeError, pl.exceptions.PolarsError):
                series.append(pl.Series(str(name), values, pl.Object))
        else:
            series.append(pl.from_pandas(col).alias(str(name)))
    return pl.DataFrame(series)


def concat(logs: Sequence[EventLog]) -> EventLog:
    """Concatenate logs in the given order and validate the result."""
    return EventLog(pl.concat([lg.frame for lg in logs], how="vertical_relaxed"))

