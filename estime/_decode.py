"""From columns to :class:`Event` values: the hot path of every replay, and its cache.

A log is a polars frame; handlers want Python objects. A chunk of rows is decoded with bulk
C-level operations (one orjson parse of the chunk's payloads joined as a JSON array, numpy
for integers, shared string objects for streams and types; ``meta`` and ``event_id`` are
read only when asked for): about a microsecond per event, more than a bare fold of already
decoded events costs.

So decoded chunks are kept, per log, while a process-wide budget allows: replaying the log
again (another projection, a compare, a root-cause search, the slider scrubbing) folds
events already decoded, twice as fast. Only chunks whose payloads are flat (no nested object
or array) are kept: their events are immutable all the way down, so a handler cannot alter
what the next replay sees. Kept events are ordinary Python objects, which full collections
of the cyclic garbage collector walk (about 0.2 s per million kept; Python runs those
rarely). The budget is ``min(1 GiB, 1/8 of physical memory)``, about two million events;
set the environment variable ``ESTIME_DECODED_CACHE`` to a size (``512M``, ``2G``, ``0`` to
turn it off) or call :func:`set_cache_limit`. Memory is given back when the log is freed.
"""

from __future__ import annotations

import gc
import os
import weakref
from itertools import repeat
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime._event import Event, _Rows
from estime._json import freeze, gc_paused
from estime._json import loads as json_loads

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CHUNK", "cache_info", "iter_chunks", "set_cache_limit"]

#: Rows per decoded chunk (chunks are aligned to multiples of it).
CHUNK = 65_536

#: Reads at least this long use (and fill) the log's store of decoded chunks; shorter ones
#: (one event, a short fold) decode just what they need.
_CACHED_FROM = 4096


class _Columns:
    """What a log keeps to decode faster next time: decoded chunks, rows with big integers.

    ``big[k]``: the rows of aligned chunk ``k`` whose JSON may hold an integer beyond 64 bits
    (orjson would read those as floats), which are decoded exactly.
    """

    __slots__ = ("big", "chunks")

    def __init__(self) -> None:
        self.chunks: dict[int, list[Event] | None] = {}  # None: seen, not kept
        self.big: dict[int, np.ndarray] = {}


def _codes(col: pl.Series) -> list[str]:
    """The column as strings, one object per distinct value (kept events share them)."""
    labels = col.unique(maintain_order=True)
    if len(labels) * 4 > len(col):
        return col.to_list()
    codes = col.cast(pl.Enum(labels)).to_physical().to_numpy()
    return np.array(labels.to_list(), dtype=object)[codes].tolist()


def _big_rows(texts: pl.Series, joined: bytes | None = None) -> np.ndarray:
    """Indices of the rows whose JSON text has a run of 19 or more digits.

    ``joined``: the rows' texts joined (as :func:`_decoded` parses them), checked first for
    two digits 9 bytes apart (every run of 19 digits has such a pair): most chunks have
    none, and the per-row search is skipped.
    """
    if not len(texts) or (texts.str.len_bytes().max() or 0) < 19:  # type: ignore[operator]
        return np.empty(0, dtype=np.int64)
    if joined is not None:
        digit = (np.frombuffer(joined, np.uint8)[::9] - 48) < 10
        if not (digit[:-1] & digit[1:]).any():
            return np.empty(0, dtype=np.int64)
    return texts.str.contains(r"[0-9]{19}").arg_true().to_numpy().astype(np.int64)


def decode(part: pl.DataFrame, big: np.ndarray | None = None) -> list[Event]:
    """The events of a canonical frame slice (``big``: its rows with big integers)."""
    return _decoded(part, big)[0]


def _decoded(part: pl.DataFrame, big: np.ndarray | None) -> tuple[list[Event], np.ndarray, bool]:
    """(the events, ``big``, whether every payload is flat: no nested object or array)."""
    texts = part["data"]
    n = part.height
    if not n:
        return [], np.empty(0, dtype=np.int64), True
    # One parse of the whole chunk as a JSON array: a third cheaper than a call per row.
    joined = ("[" + texts.str.join(",").item() + "]").encode()
    if big is None:
        big = _big_rows(texts, joined)
    objects = bool(texts.str.starts_with("{").all())
    with gc_paused():
        datas = orjson.loads(joined)
        for i in big.tolist():
            datas[i] = json_loads(texts[i])
        events = _events(part, datas, objects)
    if objects:  # flat: no bracket but each row's first and the array's own
        a = np.frombuffer(joined, np.uint8)
        flat = np.count_nonzero(a == 123) + np.count_nonzero(a == 91) == n + 1
    else:
        flat = not texts.str.slice(1).str.contains(r"[\[{]").any()
    return events, big, flat


def _events(part: pl.DataFrame, datas: list[Any], objects: bool) -> list[Event]:
    n = part.height
    columns = (
        part["seq"].to_numpy().tolist(), _codes(part["stream"]),
        part["version"].to_numpy().tolist(), _codes(part["type"]),
        part["time"].dt.epoch("us").to_list(),  # Event.time converts on access
        map(MappingProxyType if objects else freeze, datas),
        repeat(_Rows(part.select("meta", "event_id")), n),  # Event.meta and .event_id
        range(n),                                            # read these on access
        part["schema_version"].to_numpy().tolist(),
    )
    return list(map(tuple.__new__, repeat(Event), zip(*columns)))


# ----------------------------------------------------------------------------- the cache


def _parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    try:
        return int(float(text[:-1] if scale > 1 else text) * scale)
    except ValueError:
        raise ValueError(f"ESTIME_DECODED_CACHE={text!r}: expected a size such as 512M, "
                         "2G or 0") from None


def _default_limit() -> int:
    env = os.environ.get("ESTIME_DECODED_CACHE")
    if env is not None:
        return _parse_size(env)
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        physical = 8 * 2**30
    return min(2**30, physical // 8)


_limit = _default_limit()
_used = 0
_unsettled = 0  # events kept since the last full collection (see settle)


def set_cache_limit(nbytes: int) -> int:
    """Set the decoded-events budget (bytes, 0 turns caching off); return the old one.

    Chunks already kept stay until their log is freed.
    """
    global _limit
    old, _limit = _limit, max(0, int(nbytes))
    return old


def cache_info() -> dict[str, int]:
    """The budget and what is in use (estimated bytes), process-wide."""
    return {"limit": _limit, "used": _used}


def _release(nbytes: int) -> None:
    global _used
    _used -= nbytes


def settle() -> None:
    """Run the full collection that newly kept events will cause anyway, now.

    Python's cyclic GC runs a full collection soon after many new objects survive; with a
    million events just kept that takes ~0.3 s. Called at the end of a replay, it happens
    while the user waits for the replay anyway, not later in the middle of a slider drag;
    afterwards the kept events count as long-lived and full collections are rare again.
    """
    global _unsettled
    if _unsettled >= 100_000:  # works with the collector paused too
        _unsettled = 0
        gc.collect()


def _keep(owner: Any, cols: _Columns, k: int, part: pl.DataFrame, d: list[Event],
          flat: bool) -> None:
    global _used, _unsettled
    # estimated bytes, generously (measured: ~530 B/event for bank, ~580 for orders)
    size = part.height * 400 + 6 * int(part["data"].str.len_bytes().sum() or 0)
    if flat and _used + size <= _limit:
        cols.chunks[k] = d
        _used += size
        _unsettled += len(d)
        weakref.finalize(owner, _release, size)
    else:
        cols.chunks[k] = None


def iter_chunks(owner: Any, frame: pl.DataFrame, cols: _Columns | None, start: int,
                stop: int) -> Iterator[list[Event]]:
    """Events of rows ``[start, stop)`` of ``frame``, in lists of at most :data:`CHUNK`.

    ``cols`` (the log's :class:`_Columns`, or None) enables the cache: chunks already kept
    are sliced, whole aligned chunks are decoded once and kept while the budget allows.
    """
    if cols is None:
        for lo in range(start, stop, CHUNK):
            yield decode(frame.slice(lo, min(CHUNK, stop - lo)))
        return
    height = frame.height
    for k in range(start // CHUNK, (stop - 1) // CHUNK + 1 if stop > start else 0):
        lo, hi = k * CHUNK, min(height, (k + 1) * CHUNK)
        a, b = max(start, lo), min(stop, hi)
        kept = cols.chunks.get(k)
        if kept is not None:
            yield kept if (a, b) == (lo, hi) else kept[a - lo:b - lo]
        elif (a, b) == (lo, hi):
            part = frame.slice(lo, hi - lo)
            events, cols.big[k], flat = _decoded(part, cols.big.get(k))
            if k not in cols.chunks:
                _keep(owner, cols, k, part, events, flat)
            yield events
        else:
            yield decode(frame.slice(a, b - a))
