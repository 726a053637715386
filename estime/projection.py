"""Projections and replay: fold a log into state, and answer "what was the state at seq n?".

>>> import estime as es
>>> balances = es.Projection("balances", initial=dict)
>>> @balances.on("MoneyDeposited")
... def deposited(state, event):
...     state[event.stream] = state.get(event.stream, 0) + event.data["amount"]
>>> log = es.EventLog.from_records([
...     {"stream": "a", "type": "MoneyDeposited", "data": {"amount": 5}},
...     {"stream": "b", "type": "MoneyDeposited", "data": {"amount": 7}},
...     {"stream": "a", "type": "MoneyDeposited", "data": {"amount": 1}},
... ])
>>> rp = es.replay(log, balances)
>>> rp.final, rp.state_at(2), rp.state_at(0)
({'a': 6, 'b': 7}, {'a': 5, 'b': 7}, {})
>>> rp.first(lambda s: s.get("a", 0) > 5).seq
3

Checkpoints
-----------
One fold over the log keeps checkpoints: copies of the state every ``checkpoint_every``
events, so ``state_at(seq)`` is one restore plus a fold of fewer than ``checkpoint_every``
events. With ``checkpoint_every=None`` the interval adapts as the fold goes: after each
checkpoint of ``s`` bytes the next one comes

    max(256, ceil(n * s / budget), s // 64)

events later, where ``n`` is the log's length and ``budget`` is ``checkpoint_memory``
(default 128 MiB). The second term bounds memory: all checkpoints together stay within about
``budget``. The third balances time: writing a checkpoint costs about 2-4 ns per byte and
folding an event about 1 µs, so checkpoints cost about a quarter of a fold over decoded
events while ``state_at`` restores one and folds at most ``s // 64`` events (for a state of
10k accounts, about 470 KB, one checkpoint every ~7.4k events). A point is never more than one
interval from a checkpoint. The fold itself may go on with a checkpoint's copy of the state
(see ``Replay._fold_building``), so a handler should not keep the state object between
events: it is handed the state on every call.

States made of builtin values (dicts, lists, tuples, sets, strings, numbers, None) are kept
as :mod:`marshal` bytes, which read back exactly (shared references included) in a few ms;
states holding anything else (datetimes, dataclasses, enums, ...) as deep copies.
"""

from __future__ import annotations

import bisect as _bisect
import copy
import marshal
import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from estime import _decode
from estime._json import gc_paused
from estime._progress import progress
from estime.errors import EstimeError, LogFormatError, ProjectionError
from estime.log import Event, EventLog

if TYPE_CHECKING:
    from estime.branch import Branch
    from estime.diff import Diff
    from estime.upcast import Upcasters

__all__ = ["ROLLBACK_TYPE", "Projection", "Replay", "replay"]

#: Type of the marker event appended by ``EventStore.rollback``.
ROLLBACK_TYPE = "estime.RolledBack"
ROLLBACK_STREAM = "$estime"

Handler = Callable[[Any, Event], Any]


class Projection:
    """A named fold of events into state.

    ``initial`` is a value (deep-copied for every replay) or a zero-argument factory
    (``dict``, ``list``, a class). With ``per_stream=True`` each stream folds its own state,
    created from ``initial`` at the stream's first event (handled or not), and the
    projection's state is ``{stream: state}``.

    Handlers are registered with :meth:`on`; a handler either mutates the state and returns
    None or returns the new state. ``@p.on("*")`` handles every type without a handler of
    its own; other events are skipped.

    A class-based form: subclass and name methods after event types (dots become ``_``)::

        class Balances(es.Projection):
            initial = dict
            def MoneyDeposited(self, state, event): ...
    """

    initial: Any = None
    per_stream: bool = False

    def __init__(self, name: str | None = None, initial: Any = None,
                 per_stream: bool | None = None) -> None:
        self.name = name or type(self).__name__
        if initial is not None:
            self.initial = initial
        if per_stream is not None:
            self.per_stream = per_stream
        self._handlers: dict[str, Handler] = {}
        self._wildcard: Handler | None = None
        if type(self) is not Projection:
            for attr in dir(type(self)):
                if attr[:1].isupper() and callable(getattr(type(self), attr)):
                    self._handlers[attr] = getattr(self, attr)
            self._class_handlers = True

    def on(self, *types: str) -> Callable[[Handler], Handler]:
        """Decorator: register the function as the handler of these event types."""
        if not types:
            raise TypeError("on() needs at least one event type, or '*'")

        def decorate(fn: Handler) -> Handler:
            for t in types:
                if t == "*":
                    self._wildcard = fn
                else:
                    self._handlers[t] = fn
            return fn

        return decorate

    def handler_for(self, type: str) -> Handler | None:
        """The handler that folds events of ``type`` (None when they are skipped)."""
        h = self._handlers.get(type)
        if h is None and "." in type:
            h = self._handlers.get(type.replace(".", "_"))
        return h if h is not None else self._wildcard

    def new_state(self) -> Any:
        """A fresh initial state."""
        init = self.initial
        if callable(init):
            return init()
        return copy.deepcopy(init)

    def __repr__(self) -> str:
        types = ", ".join(sorted(self._handlers)) + (", *" if self._wildcard else "")
        return f"Projection({self.name!r}, handles: {types or 'nothing yet'})"


# ---------------------------------------------------------------------------- checkpoints


class _Checkpoint:
    """A copy of the state after ``index`` rows: :mod:`marshal` bytes, or a deep copy."""

    __slots__ = ("blob", "index", "obj")

    def __init__(self, index: int, state: Any) -> None:
        self.index = index
        self.blob: bytes | None = None
        self.obj: Any = None
        try:
            # marshal writes the builtin types exactly (dicts, lists, tuples, sets, str, int of
            # any size, float incl. NaN, bool, None, bytes; shared references kept) and
            # refuses anything else (subclasses such as enums, datetimes, UUIDs, instances).
            self.blob = marshal.dumps(state)
        except (ValueError, RecursionError):
            self.obj = copy.deepcopy(state)

    @property
    def size(self) -> int:
        if self.blob is not None:
            return len(self.blob)
        return _approx_size(self.obj)

    def restore(self) -> Any:
        if self.blob is not None:
            return marshal.loads(self.blob)  # noqa: S302 (bytes this process wrote)
        return copy.deepcopy(self.obj)


def _approx_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return 1024


# ---------------------------------------------------------------------------- replay


def replay(log: EventLog | Branch, projection: Projection, checkpoint_every: int | None = None,
           upcasters: Upcasters | None = None, *, honour_rollbacks: bool = True,
           checkpoint_memory: int = 128 * 2**20, base: Replay | None = None,
           shared: int = 0) -> Replay:
    """Fold ``log`` through ``projection`` once, keeping checkpoints; return a :class:`Replay`.

    ``upcasters`` upcast old payloads on the way in. Rollback markers (``estime.RolledBack``)
    are honoured unless ``honour_rollbacks=False``. ``base``/``shared``: reuse the checkpoints
    of another replay of the same projection whose log shares its first ``shared`` rows with
    this one (used by branches).
    """
    from estime.branch import Branch

    if isinstance(log, Branch):
        if base is not None or checkpoint_every is not None:
            raise TypeError("replay(branch, ...) reuses its parent's checkpoints; pass "
                            "branch.log to choose checkpoint_every or base yourself")
        return log.replay(projection, upcasters=upcasters, honour_rollbacks=honour_rollbacks)
    return Replay(log, projection, checkpoint_every=checkpoint_every, upcasters=upcasters,
                  honour_rollbacks=honour_rollbacks, checkpoint_memory=checkpoint_memory,
                  base=base, shared=shared)


class Replay:
    """The result of :func:`replay`: temporal queries over one projection of one log."""

    def __init__(self, log: EventLog, projection: Projection, *,
                 checkpoint_every: int | None = None, upcasters: Upcasters | None = None,
                 honour_rollbacks: bool = True, checkpoint_memory: int = 128 * 2**20,
                 base: Replay | None = None, shared: int = 0) -> None:
        if checkpoint_every is not None and checkpoint_every < 1:
            raise ValueError("checkpoint_every must be a positive number of events")
        self.log = log
        self.projection = projection
        self.upcasters = upcasters
        self.honour_rollbacks = honour_rollbacks
        self._fixed_every = checkpoint_every
        self._budget = checkpoint_memory
        self._n = len(log)
        self._markers = self._find_markers() if honour_rollbacks else {}
        self._marker_rows = sorted(self._markers)
        # type → handler (or None), resolved once: the hot loop is one dict lookup per event.
        self._dispatch = {t: projection.handler_for(t) for t in log.types}
        self._where: tuple[Any, Event | None] = (None, None)
        self._cps: list[_Checkpoint] = []
        self._cp_index: list[int] = []
        self._build(base, shared)

    # -------------------------------------------------------------- building

    def _find_markers(self) -> dict[int, int]:
        """Row index of each rollback marker → the seq it rolls back to."""
        f = self.log.frame.with_row_index("__i").filter(pl.col("type") == ROLLBACK_TYPE)
        out: dict[int, int] = {}
        for i, seq, data in f.select("__i", "seq", "data").iter_rows():
            try:
                to = orjson.loads(data)["to"]
                to = int(to)
            except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
                raise LogFormatError(
                    f"seq {seq}: rollback marker {ROLLBACK_TYPE} needs data {{'to': <seq>}}, "
                    f"got {data[:80]}; fix the marker or replay with honour_rollbacks=False"
                ) from None
            if to >= seq:
                raise LogFormatError(
                    f"seq {seq}: rollback marker rolls back to seq {to}, which is not before "
                    "the marker; a rollback can only return to an earlier point"
                )
            out[int(i)] = to
        return out

    def _interval(self, state_size: int) -> int:
        if self._fixed_every is not None:
            return self._fixed_every
        by_memory = math.ceil(self._n * max(state_size, 1) / self._budget)
        by_time = state_size // 64
        return max(256, by_memory, by_time)

    def _add_checkpoint(self, index: int, state: Any) -> _Checkpoint:
        cp = _Checkpoint(index, state)
        self._cps.append(cp)
        self._cp_index.append(index)
        return cp

    def _build(self, base: Replay | None, shared: int) -> None:
        if base is not None and shared > 0 and base.projection is not self.projection:
            raise ValueError("a replay can only reuse checkpoints of the same projection")
        if base is not None and shared > 0:
            start = min(shared, self._n)
            for cp in base._cps:
                if cp.index > start:
                    break
                self._cps.append(cp)
                self._cp_index.append(cp.index)
            if self._cp_index[-1] != start:
                self._add_checkpoint(start, base._state_at_index(start))
            state = self._cps[-1].restore()
        else:
            start = 0
            state = {} if self.projection.per_stream else self.projection.new_state()
            self._add_checkpoint(0, state)
        self._fold_building(state, start)
        self.checkpoint_every = self._interval(self._cps[-1].size)

    def _fold_building(self, state: Any, start: int) -> None:
        """The one full fold: decode in large chunks, checkpoint at interval boundaries.

        Chunks are decoded once and sliced at checkpoints (not re-cut per interval), so a
        checkpoint costs the copy of the state alone. The cyclic GC stays off for the whole
        fold: with a decoded chunk alive, each collection would walk hundreds of thousands
        of objects (measured: about a quarter of a replay).

        A state built up over a long fold is scattered in memory among the decoded events, and
        copying it into a checkpoint is mostly waiting on memory (10k accounts: 6 ms in place,
        1.7 ms once contiguous). So when the state has doubled in size since the fold last did
        so, or 32 checkpoints later, the fold goes on with the checkpoint's copy, which was
        just read back contiguously: an exact copy (shared references included), as every
        ``state_at`` hands to the fold anyway. Later checkpoints, and the fold, get cheaper
        (measured: repeated replay 1.7 s → 1.2 s at 1M events).
        """
        n = self._n
        next_cp = start + self._interval(self._cps[-1].size)
        laid, since = 0, 0  # state size when the fold last went on with a copy; checkpoints since
        with progress(n - start, f"replay {self.projection.name}") as bar, gc_paused():
            for a, b, to in self._segments(start, n):
                if to is not None:
                    state = self._state_at_index(self.log.index_of(to))
                    if b >= next_cp:
                        next_cp = b + self._interval(self._add_checkpoint(b, state).size)
                    continue
                lo = a
                for chunk in self._chunks(a, b):
                    pos, m = 0, len(chunk)
                    while pos < m:
                        take = min(m - pos, next_cp - lo - pos)
                        part = chunk if take == m else chunk[pos:pos + take]
                        state = self._run(state, (part,))
                        pos += take
                        if lo + pos == next_cp:
                            cp = self._add_checkpoint(next_cp, state)
                            since += 1
                            if cp.blob is not None and (cp.size >= 2 * laid or since >= 32):
                                # go on with the checkpoint's compact copy (see above)
                                state, laid, since = cp.restore(), cp.size, 0
                            next_cp += self._interval(cp.size)
                    lo += m
                    bar.update(m)
            if self._cp_index[-1] != n:
                self._add_checkpoint(n, state)
            # Still paused: with the collector back on, the first allocation would run a young
            # collection over every object the fold made (0.2 s per million events kept);
            # settle moves them to the oldest generation unwalked.
            _decode.settle()

    # -------------------------------------------------------------- folding

    def _events(self, start: int, stop: int) -> Iterator[Event]:
        it = self.log.iter_events(start, stop)
        return self.upcasters.iter(it) if self.upcasters is not None else it

    def _chunks(self, start: int, stop: int) -> Iterator[list[Event]]:
        up = self.upcasters
        for chunk in self.log.iter_chunks(start, stop):
            yield chunk if up is None else list(up.iter(chunk))

    def _segments(self, start: int, stop: int) -> Iterator[tuple[int, int, int | None]]:
        """Split rows [start, stop) at rollback markers: (a, b, marker_to or None)."""
        a = start
        rows = self._marker_rows
        for m in rows[_bisect.bisect_left(rows, start):_bisect.bisect_left(rows, stop)]:
            yield a, m, None
            yield m, m + 1, self._markers[m]
            a = m + 1
        if a < stop:
            yield a, stop, None

    def _fold(self, state: Any, start: int, stop: int) -> Any:
        """Fold rows [start, stop) into ``state`` (mutated or replaced) and return it."""
        for a, b, to in self._segments(start, stop):
            if to is not None:
                state = self._state_at_index(self.log.index_of(to))
            else:
                state = self._fold_plain(state, a, b)
        return state

    def _fold_plain(self, state: Any, start: int, stop: int) -> Any:
        return self._run(state, self._chunks(start, stop))

    def _run(self, state: Any, chunks: Iterable[list[Event]]) -> Any:
        """Fold decoded chunks of events; handler errors become :class:`ProjectionError`."""
        try:
            with gc_paused():
                return self._fold_loop(state, chunks)
        except EstimeError:
            raise
        except Exception as exc:
            raise self._handler_error(*self._where, exc) from exc

    def _fold_loop(self, state: Any, chunks: Iterable[list[Event]]) -> Any:
        proj = self.projection
        dispatch = self._dispatch
        handler: Any = None
        e: Any = None
        try:
            if not proj.per_stream:
                for chunk in chunks:
                    for e in chunk:
                        handler = dispatch[e[3]]
                        if handler is not None:
                            r = handler(state, e)
                            if r is not None:
                                state = r
            else:
                new = proj.new_state
                for chunk in chunks:
                    for e in chunk:
                        s = e[1]
                        try:
                            sub = state[s]
                        except KeyError:
                            sub = state[s] = new()
                        handler = dispatch[e[3]]
                        if handler is not None:
                            r = handler(sub, e)
                            if r is not None:
                                state[s] = r
        except Exception:
            self._where = (handler, e)
            raise
        return state

    def _handler_error(self, handler: Any, e: Event | None, exc: Exception) -> ProjectionError:
        name = getattr(handler, "__qualname__", repr(handler))
        if e is None:
            return ProjectionError(f"projection {self.projection.name!r} failed: {exc!r}")
        return ProjectionError(
            f"projection {self.projection.name!r}: handler {name} raised "
            f"{type(exc).__name__}: {exc} at seq {e.seq} (stream {e.stream!r}, type "
            f"{e.type!r}, event_id {e.event_id}). Fix the handler, or check that event's data."
        )

    def _state_at_index(self, index: int) -> Any:
        """A fresh state after the first ``index`` rows."""
        k = _bisect.bisect_right(self._cp_index, index) - 1
        cp = self._cps[k]
        state = cp.restore()
        if index > cp.index:
            state = self._fold(state, cp.index, index)
        return state

    def steps(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[Event, Any]]:
        """Yield ``(event, state)`` after each event of rows [start, stop).

        The state is live (the same object is mutated as the fold goes on): read from it
        inside the loop and copy what you keep.
        """
        stop = self._n if stop is None else min(stop, self._n)
        state = self._state_at_index(start)
        bar = progress(stop - start, f"{self.projection.name}: walking")
        try:
            done = 0
            for a, b, to in self._segments(start, stop):
                if to is not None:
                    state = self._state_at_index(self.log.index_of(to))
                    yield next(self.log.iter_events(a, b)), state
                    continue
                for e in self._events(a, b):
                    state = self._fold_one(state, e)
                    yield e, state
                    done += 1
                    if not done & 0xFFFF:
                        bar.update(0x10000)
        finally:
            bar.close()

    def fold(self, state: Any, start: int, stop: int) -> Any:
        """Fold rows ``[start, stop)`` of the log into ``state`` (mutated or replaced).

        The building block of cursors that move forward without restoring a checkpoint:
        ``fold(state_after_row_i, i, j)`` is the state after row ``j``. Rollback markers and
        upcasters apply as in the replay.
        """
        return self._fold(state, start, stop)

    def _fold_one(self, state: Any, e: Event) -> Any:
        proj = self.projection
        handler = self._dispatch[e[3]]
        try:
            if not proj.per_stream:
                if handler is not None:
                    r = handler(state, e)
                    if r is not None:
                        state = r
                return state
            sub = state.get(e.stream)
            if sub is None:
                sub = state[e.stream] = proj.new_state()
            if handler is not None:
                r = handler(sub, e)
                if r is not None:
                    state[e.stream] = r
            return state
        except EstimeError:
            raise
        except Exception as exc:
            raise self._handler_error(handler, e, exc) from exc

    # -------------------------------------------------------------- queries

    def __len__(self) -> int:
        return self._n

    @property
    def final(self) -> Any:
        """The state after the whole log (a fresh copy)."""
        return self._cps[-1].restore()

    def state_at(self, seq: int | None = None, *, time: datetime | str | None = None) -> Any:
        """The state after every event with seq ≤ ``seq`` (or recorded at or before ``time``).

        ``state_at(0)`` is the initial state. The result is the caller's own copy.
        """
        if (seq is None) == (time is None):
            raise TypeError("state_at() takes a seq or time=..., not both or neither")
        if time is not None:
            return self._state_at_index(len(self.log.as_of(time)))
        return self._state_at_index(self.log.index_of(seq))  # type: ignore[arg-type]

    def diff(self, a: int, b: int) -> Diff:
        """What changed between the states at seqs ``a`` and ``b``."""
        from estime.diff import diff

        return diff(self.state_at(a), self.state_at(b))

    def changes(self, seq: int) -> Diff:
        """What the event at ``seq`` changed (the diff from the state just before it)."""
        from estime.diff import diff

        i = self.log.index_of(seq)
        return diff(self._state_at_index(max(i - 1, 0)), self._state_at_index(i))

    def track(self, selector: Callable[[Any], Any], *, every: int = 1) -> pl.DataFrame:
        """``selector(state)`` after each event: a frame with columns seq, value.

        ``every=k`` samples every k-th event (and the last), for long logs.
        """
        seqs: list[int] = []
        values: list[Any] = []
        last = self._n - 1
        for i, (e, state) in enumerate(self.steps()):
            if i % every == 0 or i == last:
                seqs.append(e.seq)
                values.append(_snapshot(selector(state)))
        return _frame_of(seqs, values)

    def first(self, predicate: Callable[[Any], bool]) -> Event | None:
        """The first event after which ``predicate(state)`` holds (None if it never does)."""
        for e, state in self.steps():
            if predicate(state):
                return e
        return None

    def bisect(self, predicate: Callable[[Any], bool]) -> Event | None:
        """:meth:`first` by binary search, for predicates that stay true once true.

        Assumes monotonicity (false ... false true ... true over the log); then it needs
        O(log n) state materialisations instead of a full fold. On a predicate that is not
        monotone it returns *an* event where the predicate flips from false to true.
        """
        lo, hi = 0, self._n  # predicate false at lo (initial), test up to hi
        if self._n == 0 or not predicate(self._state_at_index(self._n)):
            return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if predicate(self._state_at_index(mid)):
                hi = mid
            else:
                lo = mid
        return next(self.log.iter_events(hi - 1, hi))

    def blame(self, selector: Callable[[Any], Any]) -> pl.DataFrame:
        """Every event that changed ``selector(state)``, oldest first.

        Columns: seq, stream, type, event_id, before, after (values as JSON text).
        """
        rows: list[tuple[int, str, str, str, str, str]] = []
        prev = _snapshot(_safe(selector, self._state_at_index(0)))
        for e, state in self.steps():
            cur = _snapshot(_safe(selector, state))
            if cur != prev:
                rows.append((e.seq, e.stream, e.type, e.event_id, _text(prev), _text(cur)))
                prev = cur
        return pl.DataFrame(rows, schema={"seq": pl.Int64, "stream": pl.String,
                                          "type": pl.String, "event_id": pl.String,
                                          "before": pl.String, "after": pl.String},
                            orient="row")

    @property
    def checkpoints(self) -> pl.DataFrame:
        """The checkpoints kept: seq (last event folded), index (events folded), bytes."""
        seqs = self.log.frame["seq"]
        return pl.DataFrame({
            "seq": [int(seqs[cp.index - 1]) if cp.index else 0 for cp in self._cps],
            "index": [cp.index for cp in self._cps],
            "bytes": [cp.size for cp in self._cps],
        })

    def __repr__(self) -> str:
        return (f"Replay({self.projection.name!r}: {self._n:,} events, "
                f"{len(self._cps)} checkpoints)")


_MISSING = object()


def _safe(selector: Callable[[Any], Any], state: Any) -> Any:
    """``selector(state)``, with a missing key/index meaning "absent" for blame."""
    try:
        return selector(state)
    except (KeyError, IndexError):
        return _MISSING


def _snapshot(value: Any) -> Any:
    if isinstance(value, (dict, list, set)):
        return copy.deepcopy(value)
    return value


def _text(value: Any) -> str:
    if value is _MISSING:
        return "null"
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def _frame_of(seqs: list[int], values: Iterable[Any]) -> pl.DataFrame:
    values = list(values)
    try:
        col = pl.Series("value", values, strict=False)
        if col.dtype == pl.Object:
            raise TypeError
    except (TypeError, pl.exceptions.PolarsError):
        col = pl.Series("value", [_text(v) for v in values], pl.String)
    return pl.DataFrame([pl.Series("seq", seqs, pl.Int64), col])
