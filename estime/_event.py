"""Events: immutable values with the canonical fields (see :class:`Event`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from numbers import Integral
from operator import itemgetter
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl

from estime._json import freeze, thaw, to_json_text
from estime._json import loads as json_loads

__all__ = ["Event"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELDS = ("seq", "stream", "version", "type", "time", "data", "meta", "event_id",
           "schema_version")


class _Rows:
    """Columns of one decoded chunk, converted to Python values on first access.

    A decoded event keeps this (shared by its chunk) in place of its ``time`` and ``meta``,
    and its seq in place of its ``event_id``: most folds never read them, so a replay does
    not create an integer and two strings (nor a row number) per event for nothing. The row
    is found from the seq.
    """

    __slots__ = ("first", "frame", "lists", "seqs")

    def __init__(self, frame: pl.DataFrame, seqs: np.ndarray) -> None:
        self.frame = frame  # meta, event_id and time (microseconds since the epoch)
        self.seqs = seqs  # increasing
        n = len(seqs)
        # consecutive seqs (the usual case): the row is an offset, no search
        self.first = int(seqs[0]) if n and int(seqs[-1]) - int(seqs[0]) == n - 1 else None
        self.lists: dict[str, list[Any]] = {}

    def value(self, name: str, seq: int) -> Any:
        """Column ``name`` at the row of ``seq`` (read on every event by some folds)."""
        values = self.lists.get(name)
        if values is None:
            values = self.lists[name] = self.frame[name].to_list()
        first = self.first
        return values[seq - first if first is not None
                      else int(np.searchsorted(self.seqs, seq))]


def _field(index: int, doc: str) -> Any:
    """A read-only descriptor for item ``index``: the one named tuples use (C, about 15 ns
    faster per access than ``property(itemgetter(index))``, read on every event of a fold)."""
    try:
        from _collections import _tuplegetter
    except ImportError:  # pragma: no cover - other Python implementations
        return property(itemgetter(index), doc=doc)
    return _tuplegetter(index, doc)


class Event(tuple):
    """One event: a frozen value with the canonical fields.

    ``data`` and ``meta`` are read-only at the top level (a mapping proxy for objects, a
    tuple for arrays); nested values are plain JSON values. ``to_dict()`` gives a plain copy.
    ``time`` is a UTC datetime or None (given as a datetime, ISO 8601 text or microseconds
    since the epoch; a naive time is taken as UTC).

    Events behave like named tuples (``_fields``, ``_replace``, ``_asdict``, unpacking,
    equality by value). Read fields by name: inside, ``time`` is kept as microseconds since
    the epoch, and in events decoded from a log ``time``, ``meta`` and ``event_id`` stay in
    the log's columns until read, so a replay of a million events never pays for values
    its handlers do not look at.

    >>> e = Event(seq=1, stream="a", version=1, type="X", data={"n": 1}, event_id="e1")
    >>> e.data["n"], dict(e.meta), e.time
    (1, {}, None)
    """

    __slots__ = ()
    _fields = _FIELDS

    def __new__(cls, seq: int, stream: str, version: int, type: str,
                time: datetime | str | int | None = None, data: Any = None,
                meta: Mapping[str, Any] | str | None = None, event_id: str = "",
                schema_version: int = 1) -> Event:
        if isinstance(time, datetime):
            time = _to_micros(time)
        elif isinstance(time, str):
            time = _to_micros(_iso(time))
        elif time is not None:  # (``type`` is a field here, not the builtin)
            if isinstance(time, bool) or not isinstance(time, Integral):
                raise TypeError("Event time must be a datetime, ISO 8601 text, microseconds "
                                f"since the epoch (int) or None, not {time.__class__.__name__}")
            time = int(time)
        if not isinstance(data, (MappingProxyType, tuple)):
            data = freeze(thaw(data) if data is not None else {})
        if meta is None:
            meta = "{}"
        elif not isinstance(meta, str):
            meta = to_json_text(meta)
        return tuple.__new__(cls, (seq, stream, version, type, time, data, meta, event_id,
                                   schema_version))

    seq: int = _field(0, "global position")
    stream: str = _field(1, "stream / aggregate id")
    version: int = _field(2, "position in the stream")
    type: str = _field(3, "event type")
    data: Any = _field(5, "payload (read-only)")
    schema_version: int = _field(8, "payload schema version")

    @property
    def time(self) -> datetime | None:
        """When the event was recorded (UTC), or None."""
        us = tuple.__getitem__(self, 4)
        if type(us) is _Rows:
            us = us.value("time", tuple.__getitem__(self, 0))
        if us is None or isinstance(us, datetime):
            return us
        return _EPOCH + timedelta(0, 0, us)  # positional: a third faster than keywords

    def _micros(self) -> int | datetime | None:
        us = tuple.__getitem__(self, 4)
        return us.value("time", tuple.__getitem__(self, 0)) if type(us) is _Rows else us

    @property
    def meta(self) -> Mapping[str, Any]:
        """Metadata (causation_id, correlation_id, actor, ...), read-only."""
        raw = tuple.__getitem__(self, 6)
        if type(raw) is _Rows:
            raw = raw.value("meta", tuple.__getitem__(self, 7))
        return MappingProxyType(json_loads(raw)) if isinstance(raw, str) else raw

    @property
    def event_id(self) -> str:
        """Unique id of the event."""
        raw = tuple.__getitem__(self, 6)
        if type(raw) is _Rows:
            return raw.value("event_id", tuple.__getitem__(self, 7))
        return tuple.__getitem__(self, 7)

    def _meta_text(self) -> str | Mapping[str, Any]:
        raw = tuple.__getitem__(self, 6)
        return raw.value("meta", tuple.__getitem__(self, 7)) if type(raw) is _Rows else raw

    def _key(self) -> tuple[Any, ...]:
        """The fields as comparable values (how the event is stored inside is irrelevant)."""
        get = tuple.__getitem__
        return (get(self, 0), get(self, 1), get(self, 2), get(self, 3), self._micros(),
                get(self, 5), dict(self.meta), self.event_id, get(self, 8))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event):
            return self._key() == other._key()
        return tuple(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, f) for f in _FIELDS)

    def __reduce__(self) -> tuple[Any, ...]:
        get = tuple.__getitem__
        meta = self._meta_text()
        return (Event, (get(self, 0), get(self, 1), get(self, 2), get(self, 3), self._micros(),
                        thaw(get(self, 5)), meta if isinstance(meta, str) else thaw(meta),
                        self.event_id, get(self, 8)))

    def __copy__(self) -> Event:
        return self

    def __hash__(self) -> int:
        return hash(self.event_id)

    def __repr__(self) -> str:
        return (f"Event(seq={self.seq}, stream={self.stream!r}, version={self.version}, "
                f"type={self.type!r}, data={to_json_text(self.data)[:120]})")

    def _asdict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _FIELDS}

    def _replace(self, **changes: Any) -> Event:
        unknown = set(changes) - set(_FIELDS)
        if unknown:
            raise ValueError(f"Event has no field(s) {', '.join(sorted(unknown))}")
        return Event(**{**self._asdict(), **changes})

    @classmethod
    def _make(cls, values: Iterable[Any]) -> Event:
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        """The event as a plain dict (deep copies of data and meta), ready for ``from_records``,
        ``EventStore.append`` or a branch's ``insert``. An event made without an event_id
        gives ``None`` for it, so that those assign one."""
        d = self._asdict()
        d["data"] = thaw(self.data)
        d["meta"] = thaw(self.meta)
        d["event_id"] = d["event_id"] or None
        return d


def parse_iso(text: str) -> datetime:
    """ISO 8601 text as a datetime (naive when the text has no offset); ValueError if not.

    RFC 3339 allows a lowercase "t" and "z", which Python's parser does not take."""
    return datetime.fromisoformat(text.strip().upper())


def _iso(text: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"Event time {text[:60]!r} is not ISO 8601 text such as "
                         "2024-05-01T12:00:00Z (without an offset it is taken as UTC)") from None


def _to_micros(t: datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

