"""From columns to :class:`Event` values: the hot path of every replay, and its cache.

A log is a polars frame; handlers want Python objects. A chunk of rows is decoded with bulk
C-level operations (one orjson parse of the chunk's payloads joined as a JSON array, numpy
for integers, shared string objects for streams and types; ``meta`` and ``event_id`` are
read only when asked for): about a microsecond per event, more than a bare fold of already
decoded events costs. During a long first read, the polars and numpy half of the next
chunk's decoding runs in a worker thread while the fold goes on.

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

import bisect
import gc
import os
import sys
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
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


def _big_rows(texts: pl.Series, joined: bytes | None = None) -> np.ndarray:
    """Indices of the rows whose JSON text has a run of 19 or more digits.

    ``joined``: the rows' texts joined (as :class:`_Prepared` has them), checked first for
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
    return _build(_Prepared(part, big))


class _Prepared:
    """A chunk's columns made ready for :func:`_build` with polars and numpy alone (no
    Python object per row), so that it can run in a worker thread while the fold goes on:
    polars and numpy release the GIL."""

    __slots__ = ("big", "flat", "joined", "objects", "part", "rows", "seq", "stream", "sv",
                 "type", "version")

    def __init__(self, part: pl.DataFrame, big: np.ndarray | None) -> None:
        texts = part["data"]
        n = part.height
        self.part = part
        # One parse of the whole chunk as a JSON array: a third cheaper than a call per row.
        self.joined = ("[" + texts.str.join(",").item() + "]").encode() if n else b"[]"
        self.big = _big_rows(texts, self.joined) if big is None else big
        self.objects = bool(texts.str.starts_with("{").all())
        if self.objects:  # flat: no bracket but each row's first and the array's own
            a = np.frombuffer(self.joined, np.uint8)
            self.flat = bool(np.count_nonzero(a == 123) + np.count_nonzero(a == 91) == n + 1)
        else:
            self.flat = not texts.str.slice(1).str.contains(r"[\[{]").any()
        self.seq = part["seq"].to_numpy()
        self.version = part["version"].to_numpy()
        self.sv = part["schema_version"].to_numpy()
        # what Event.time, .meta and .event_id read on access (time: microseconds)
        self.rows = part.select("meta", "event_id", pl.col("time").dt.epoch("us"))
        self.stream = _codes(part["stream"])
        self.type = _codes(part["type"])


def _codes(col: pl.Series) -> tuple[np.ndarray, np.ndarray] | pl.Series:
    """The column as (distinct values as objects, codes), or itself when mostly distinct:
    kept events then share one string object per value."""
    labels = col.unique(maintain_order=True)
    if len(labels) * 4 > len(col):
        return col
    codes = col.cast(pl.Enum(labels)).to_physical().to_numpy()
    return np.array(labels.to_list(), dtype=object), codes


def _strings(coded: tuple[np.ndarray, np.ndarray] | pl.Series) -> list[str]:
    if isinstance(coded, pl.Series):
        return coded.to_list()
    labels, codes = coded
    return labels[codes].tolist()


def _build(prep: _Prepared) -> list[Event]:
    """The events of a prepared chunk (Python objects: in the calling thread)."""
    part = prep.part
    n = part.height
    if not n:
        return []
    texts = part["data"]
    with gc_paused():
        datas = orjson.loads(prep.joined)
        for i in prep.big.tolist():
            datas[i] = json_loads(texts[i])
        seqs = prep.seq.tolist()
        # Event.time, .meta and .event_id are read on access, from the chunk's columns
        rows = _Rows(prep.rows, prep.seq)
        columns = (
            seqs, _strings(prep.stream), prep.version.tolist(), _strings(prep.type),
            repeat(rows, n), map(MappingProxyType if prep.objects else freeze, datas),
            repeat(rows, n), seqs, prep.sv.tolist(),
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
    """Move the objects made since the last collection to the oldest generation, unwalked.

    Python's cyclic GC walks every new object that survives, once per generation it passes
    through, and runs a full collection soon after many have survived; with a million events
    just kept that is ~0.3 s spent finding that immutable, acyclic events are alive, part of
    it later, in the middle of a slider drag. Called at the end of a replay (the collector
    still paused), ``gc.freeze()`` then ``gc.unfreeze()`` moves every young object to the
    oldest generation in constant time, without counting them towards the next full
    collection: they are walked when one happens for its own reasons. Cyclic garbage among
    the young objects is freed by that collection instead of an earlier young one. When the
    program froze objects itself (``gc.get_freeze_count()``), a full collection runs instead,
    so as not to unfreeze them.
    """
    global _unsettled
    if _unsettled >= 100_000:  # works with the collector paused too
        _unsettled = 0
        if gc.get_freeze_count():
            gc.collect()
        else:
            gc.freeze()
            gc.unfreeze()


def _keep(owner: Any, cols: _Columns, k: int, prep: _Prepared, d: list[Event]) -> None:
    global _used, _unsettled
    # estimated bytes, generously (measured: ~465 B/event for bank, ~515 for orders); the
    # payloads' bytes are the joined text's but for the commas and brackets
    n = len(d)
    size = n * 400 + 6 * max(0, len(prep.joined) - n - 1)
    if prep.flat and _used + size <= _limit:
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
    ks = range(start // CHUNK, (stop - 1) // CHUNK + 1 if stop > start else 0)
    # Chunks to decode whole: the next one is prepared in a worker thread meanwhile.
    whole = [k for k in ks if start <= k * CHUNK and min(height, (k + 1) * CHUNK) <= stop
             and cols.chunks.get(k) is None]
    ahead = _Ahead(frame, cols, whole) if len(whole) > 1 and PREFETCH else None
    with _quick_handoff() if ahead is not None else nullcontext():
        for k in ks:
            lo, hi = k * CHUNK, min(height, (k + 1) * CHUNK)
            a, b = max(start, lo), min(stop, hi)
            kept = cols.chunks.get(k)
            if kept is not None:
                yield kept if (a, b) == (lo, hi) else kept[a - lo:b - lo]
            elif (a, b) == (lo, hi):
                prep = ahead.take(k) if ahead is not None else _Prepared(
                    frame.slice(lo, hi - lo), cols.big.get(k))
                events = _build(prep)
                cols.big[k] = prep.big
                if k not in cols.chunks:
                    _keep(owner, cols, k, prep, events)
                yield events
            else:
                yield decode(frame.slice(a, b - a))


#: Prepare the next chunk in a worker thread during long first reads (measured: a first
#: replay of 1M events 5-7% faster on 2 cores, and another 5% with :func:`_quick_handoff`).
PREFETCH = True

#: GIL switch interval while the worker prepares chunks (Python's default: 5 ms).
HANDOFF = 0.0005
_handoff_depth = 0
_handoff_saved = 0.005


@contextmanager
def _quick_handoff() -> Iterator[None]:
    """Shorten the interpreter's GIL switch interval while a fold consumes prefetched chunks.

    The worker needs the GIL back after each polars call that released it (a dozen per
    chunk), and while the fold runs Python code it gets it only when the switch interval
    runs out: with the default 5 ms the fold waited on the worker for 0.1-0.15 s per million
    events; at 0.5 ms, not at all. The interval only matters while another thread asks for
    the GIL, and the previous one is restored when the last such fold ends.
    """
    global _handoff_depth, _handoff_saved
    if _handoff_depth == 0:
        _handoff_saved = sys.getswitchinterval()
        if _handoff_saved > HANDOFF:
            sys.setswitchinterval(HANDOFF)
    _handoff_depth += 1
    try:
        yield
    finally:
        _handoff_depth -= 1
        if _handoff_depth == 0 and _handoff_saved > HANDOFF:
            sys.setswitchinterval(_handoff_saved)


_pool: tuple[int, ThreadPoolExecutor] | None = None  # (the process that made it, the pool)


def _worker() -> ThreadPoolExecutor:
    """The decoding worker thread's pool (a new one in a forked child: the parent's thread
    does not exist there)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=1,
                                                 thread_name_prefix="estime-decode"))
    return _pool[1]


class _Ahead:
    """Prepares the chunks ``ks`` one ahead of their use, in a worker thread."""

    def __init__(self, frame: pl.DataFrame, cols: _Columns, ks: list[int]) -> None:
        self.pool = _worker()
        self.frame, self.cols, self.ks = frame, cols, ks
        self.next: dict[int, Future[_Prepared]] = {}
        self.i = 0
        self._submit()

    def _submit(self) -> None:
        if self.i < len(self.ks):
            k = self.ks[self.i]
            part = self.frame.slice(k * CHUNK, CHUNK)
            self.next[k] = self.pool.submit(_Prepared, part, self.cols.big.get(k))
            self.i += 1

    def take(self, k: int) -> _Prepared:
        """Chunk ``k``, prepared (ahead, or now); the chunk after it starts in the worker."""
        future = self.next.pop(k, None)
        for stale in [j for j in self.next if j < k]:  # chunks kept meanwhile by others
            del self.next[stale]
        self.i = max(self.i, bisect.bisect_right(self.ks, k))
        self._submit()
        if future is None:
            return _Prepared(self.frame.slice(k * CHUNK, CHUNK), self.cols.big.get(k))
        return future.result()
