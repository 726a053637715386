"""Root-cause tools: causal links, culprit search by delta debugging, compensation.

* :func:`causes` / :func:`effects` (also ``log.causes(id)`` / ``log.effects(id)``): every
  ancestor / descendant of an event through ``meta.causation_id``, transitively.
* :func:`culprits`: the smallest set of events whose removal flips ``outcome(final_state)``.
* :func:`compensate`: the compensating events for an event, from a registry of functions.

>>> import estime as es
>>> log = es.EventLog.from_records([
...     {"stream": "s", "type": "Asked", "event_id": "q"},
...     {"stream": "s", "type": "Answered", "event_id": "a", "meta": {"causation_id": "q"}},
...     {"stream": "s", "type": "Noted", "event_id": "n", "meta": {"causation_id": "a"}},
... ])
>>> causes(log, "n").frame.select("event_id", "depth").rows()
[('q', 2), ('a', 1)]
>>> effects(log, "q").frame["event_id"].to_list()
['a', 'n']
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime._json import thaw
from estime._progress import progress
from estime.errors import EstimeError
from estime.log import Event, EventLog

if TYPE_CHECKING:
    from estime.branch import Branch
    from estime.projection import Projection, Replay
    from estime.upcast import Upcasters

__all__ = ["Culprits", "MissingCompensator", "causes", "compensate", "culprits", "effects"]

_LINKS_ATTR = "_estime_causal_links"
COMPENSATION_NAMESPACE = uuid.UUID("6f1c9a3e-3c1b-5e0e-9d1a-e57173e00003")


def _log(x: EventLog | Branch) -> EventLog:
    from estime.branch import Branch

    if isinstance(x, Branch):
        return x.log
    if isinstance(x, EventLog):
        return x
    raise TypeError(f"expected an EventLog or a Branch, got {type(x).__name__}")


# ---------------------------------------------------------------------------- causality


class _Links:
    """The causation graph of a log: event_id → row, cause id per row, children per id."""

    def __init__(self, log: EventLog) -> None:
        f = log.frame.select(
            "event_id", pl.col("meta").str.json_path_match("$.causation_id").alias("cause"))
        ids = f["event_id"].to_list()
        self.row = {eid: i for i, eid in enumerate(ids)}
        self.cause: list[str | None] = f["cause"].to_list()
        kids = (f.with_row_index("i").filter(pl.col("cause").is_not_null())
                .group_by("cause", maintain_order=True).agg(pl.col("i")))
        self.children: dict[str, list[int]] = dict(zip(kids["cause"].to_list(),
                                                       kids["i"].to_list()))
        self.ids = ids


def _links(log: EventLog) -> _Links:
    links = vars(log).get(_LINKS_ATTR)
    if links is None:
        links = vars(log)[_LINKS_ATTR] = _Links(log)
    return links


def _start(log: EventLog, links: _Links, event: str | int | Event) -> int:
    if isinstance(event, Event):
        event = event.event_id
    if isinstance(event, (int, np.integer)) and not isinstance(event, bool):
        i = log.index_of(int(event)) - 1
        if i < 0 or int(log.frame["seq"][i]) != int(event):
            raise KeyError(f"no event with seq {event} in this log")
        return i
    if not isinstance(event, str):
        raise TypeError(f"give an event_id (str), a seq (int) or an Event, not {event!r}")
    row = links.row.get(event)
    if row is None:
        raise KeyError(f"no event with event_id {event!r} in this log")
    return row


def _subset(log: EventLog, rows: dict[int, int]) -> EventLog:
    if not rows:
        return EventLog._trusted(log.frame.clear().with_columns(
            pl.lit(None, pl.Int64).alias("depth")), log.source)
    order = sorted(rows)
    f = log.frame[order].with_columns(pl.Series("depth", [rows[i] for i in order], pl.Int64))
    return EventLog._trusted(f, log.source)


def _ancestors(links: _Links, i: int) -> dict[int, int]:
    """Row → depth of every ancestor of row ``i`` (the chain of causation ids)."""
    seen: dict[int, int] = {}
    depth = 0
    cause = links.cause[i]
    while cause is not None:
        j = links.row.get(cause)
        if j is None or j in seen or j == i:
            break
        depth += 1
        seen[j] = depth
        cause = links.cause[j]
    return seen


def causes(log: EventLog | Branch, event: str | int | Event) -> EventLog:
    """Every ancestor of ``event`` through ``meta.causation_id`` links, transitively.

    ``event`` is an event_id, a seq or an Event of the log. The result is an EventLog of
    those events in seq order (its ``.frame`` is the frame of events) with an extra column
    ``depth`` (1 = the direct cause). A causation_id that names no event of the log (a
    command id, an event outside this slice) ends the chain; a cycle is followed once.
    """
    lg = _log(log)
    links = _links(lg)
    return _subset(lg, _ancestors(links, _start(lg, links, event)))


def effects(log: EventLog | Branch, event: str | int | Event) -> EventLog:
    """Every descendant of ``event``: events caused by it, by those, and so on.

    Same conventions as :func:`causes`; ``depth`` is the shortest causal distance.
    The graph is built once per log with polars (group_by on the causation ids) and then
    walked breadth first, so repeated queries on a big log cost only their answer.
    """
    lg = _log(log)
    links = _links(lg)
    i = _start(lg, links, event)
    seen: dict[int, int] = {}
    frontier = [i]
    depth = 0
    while frontier:
        depth += 1
        nxt = []
        for r in frontier:
            for c in links.children.get(links.ids[r], ()):
                if c not in seen and c != i:
                    seen[c] = depth
                    nxt.append(c)
        frontier = nxt
    return _subset(lg, seen)


# ---------------------------------------------------------------------------- culprits


class _Budget(Exception):
    pass


class Culprits:
    """The result of :func:`culprits`; iterating yields the culprit Events in seq order.

    Attributes: ``events`` (the culprits), ``found`` (whether removing them flips the
    outcome), ``baseline`` (the outcome on the whole log), ``flipped`` (the outcome without
    the culprits, or None), ``replays`` (replays used), ``unresolved`` (removals whose
    replay or outcome raised; never counted as flips), ``exhausted`` (``max_replays`` ran out
    before the search finished: the set flips the outcome but may not be minimal),
    ``candidates`` (how many events were considered) and ``ranking`` (leave-one-out
    results: seq, event_id, stream, type, flips, unresolved, changes, culprit).
    """

    def __init__(self, events: list[Event], *, found: bool, baseline: Any, flipped: Any,
                 replays: int, unresolved: int, exhausted: bool, candidates: int,
                 ranking: pl.DataFrame) -> None:
        """Hold the result (made by :func:`culprits`)."""
        self.events = events
        self.found = found
        self.baseline = baseline
        self.flipped = flipped
        self.replays = replays
        self.unresolved = unresolved
        self.exhausted = exhausted
        self.candidates = candidates
        self.ranking = ranking

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __bool__(self) -> bool:
        return bool(self.events)

    @property
    def seqs(self) -> list[int]:
        """The culprits' seqs."""
        return [e.seq for e in self.events]

    def summary(self) -> str:
        """One paragraph: what was found and what it cost."""
        if not self.found and self.exhausted:
            head = (f"no set of the {self.candidates:,} candidate events found that flips the "
                    f"outcome ({self.baseline!r}) within max_replays")
        elif not self.found:
            head = (f"no set of the {self.candidates:,} candidate events flips the outcome "
                    f"({self.baseline!r})")
        else:
            what = ", ".join(f"seq {e.seq} {e.type} ({e.stream})" for e in self.events[:10])
            more = f" and {len(self.events) - 10} more" if len(self.events) > 10 else ""
            head = (f"removing {len(self.events)} event{'s' if len(self.events) != 1 else ''} "
                    f"flips the outcome from {self.baseline!r} to {self.flipped!r}: "
                    f"{what}{more}")
        tail = (f"; {self.replays} replays, {self.unresolved} unresolved"
                + ("; max_replays reached, the set may not be minimal" if self.exhausted else ""))
        return head + tail

    def __repr__(self) -> str:
        return f"Culprits({self.summary()})"

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                e.seq, e.stream, e.type, orjson.dumps(thaw(e.data)).decode()[:200])) + "</tr>"
            for e in self.events[:100])
        head = "".join(f"<th>{h}</th>" for h in ("seq", "stream", "type", "data"))
        return (f"<div class='estime-culprits'><p>{html.escape(self.summary())}</p>"
                f"<table><tr>{head}</tr>{rows}</table></div>")


def _candidate_rows(log: EventLog, projection: Projection, candidates: Any, types: Any,
                    streams: Any, honour_rollbacks: bool) -> np.ndarray:
    """Row indices of the candidate events, in order."""
    from estime.projection import ROLLBACK_TYPE

    f = log.frame.with_row_index("__i")
    if candidates is None:
        if not projection.per_stream:
            # an event no handler folds cannot change the state: removing it changes nothing
            handled = [t for t in log.types if projection.handler_for(t) is not None]
            if honour_rollbacks:
                handled.append(ROLLBACK_TYPE)
            f = f.filter(pl.col("type").is_in(handled))
    elif isinstance(candidates, pl.Expr):
        f = f.filter(candidates)
    elif isinstance(candidates, EventLog):
        f = f.filter(pl.col("event_id").is_in(candidates.frame["event_id"].implode()))
    elif isinstance(candidates, pl.DataFrame):
        if "seq" not in candidates.columns:
            raise ValueError("a candidates frame needs a seq column")
        f = f.filter(pl.col("seq").is_in(candidates["seq"].implode()))
    else:
        seqs = [c.seq if isinstance(c, Event) else int(c) for c in candidates]
        f = f.filter(pl.col("seq").is_in(seqs))
    if types is not None:
        f = f.filter(pl.col("type").is_in([types] if isinstance(types, str) else list(types)))
    if streams is not None:
        f = f.filter(pl.col("stream").is_in(
            [streams] if isinstance(streams, str) else list(streams)))
    return f["__i"].cast(pl.Int64).to_numpy()


def _priority(log: EventLog, rows: np.ndarray, symptom: Any) -> list[int]:
    """Candidates in the order single removals are tried: causal ancestors of the symptom
    (nearest first), then the rest from the end of the log backwards."""
    cand = set(rows.tolist())
    out: list[int] = []
    if len(log):
        links = _links(log)
        target = symptom if symptom is not None else int(log.frame["seq"][-1])
        anc = _ancestors(links, _start(log, links, target))
        out = [i for i, _ in sorted(anc.items(), key=lambda kv: kv[1]) if i in cand]
    first = set(out)
    out += [i for i in rows[::-1].tolist() if i not in first]
    return out


def culprits(log: EventLog | Branch, projection: Projection, outcome: Callable[[Any], Any],
             candidates: Any = None, *, types: str | Sequence[str] | None = None,
             streams: str | Sequence[str] | None = None, max_replays: int = 256,
             rank: int = 32, symptom: str | int | None = None,
             upcasters: Upcasters | None = None, honour_rollbacks: bool = True) -> Culprits:
    """The smallest set of events whose removal flips ``outcome(final_state)``.

    ``outcome`` maps the final state to any value; a removal "flips" it when the value
    differs from the one on the whole log. A removal whose replay (or outcome) raises is
    *unresolved*: never a flip, counted in the result.

    Candidates (the events that may be removed): by default every event some handler of
    the projection folds, plus rollback markers (removing an event nothing folds cannot
    change the state; with ``per_stream`` every event); or an EventLog / list of seqs or
    Events / polars expression / frame with a seq column; ``types=`` / ``streams=`` narrow
    them further.

    Search: when removing every candidate flips the outcome, delta debugging (ddmin)
    shrinks that set to a 1-minimal one (removing any single culprit less no longer flips).
    Otherwise single removals come first, in order of causal distance to ``symptom`` (an
    event_id or seq; default the last event) through ``meta.causation_id``, then the other
    candidates from the end backwards; a single event that flips is the smallest possible
    answer. Failing that, ever smaller chunks (and their complements) are tried, and ddmin
    shrinks the first that flips. Then up to ``rank`` candidates are left out one at a time
    for the ranking frame. At most ``max_replays`` replays in all (``exhausted`` tells).

    Every replay reuses the checkpoints of the whole log's replay up to the first removed
    event, so its cost grows with the events after it. Removed events keep the seqs of the
    others unchanged (no renumbering).
    """
    from estime.branch import replay_of
    from estime.diff import diff
    from estime.projection import replay

    if max_replays < 1:
        raise ValueError("max_replays must be at least 1")
    lg = _log(log)
    base = replay_of(log, projection, upcasters=upcasters, honour_rollbacks=honour_rollbacks)
    base_final = base.final
    baseline = outcome(base_final)
    rows = _candidate_rows(lg, projection, candidates, types, streams, honour_rollbacks)
    frame = lg.frame
    n = len(lg)
    cache: dict[frozenset[int], tuple[bool, bool, Any]] = {}
    count = {"replays": 0, "unresolved": 0}
    bar = progress(max_replays, f"culprits {projection.name}", unit="replay")
    idx_col = pl.int_range(0, n, dtype=pl.Int64, eager=True)

    def run(removed: Sequence[int]) -> tuple[bool, bool, Any]:
        """(flips, unresolved, final state or None) after removing these rows."""
        key = frozenset(removed)
        if key in cache:
            return cache[key]
        if count["replays"] >= max_replays:
            raise _Budget
        count["replays"] += 1
        bar.update(1)
        first = min(removed)
        keep = ~idx_col.slice(first).is_in(list(key))
        sub = EventLog._trusted(pl.concat([frame.head(first), frame.slice(first).filter(keep)]),
                                lg.source)
        try:
            rp: Replay = replay(sub, projection, checkpoint_every=max(n, 1),
                                upcasters=upcasters, honour_rollbacks=honour_rollbacks,
                                base=base, shared=first)
            final = rp.final
            flips = bool(outcome(final) != baseline)
            res = (flips, False, final)
        except Exception:
            count["unresolved"] += 1
            res = (False, True, None)
        cache[key] = res
        return res

    def flips(removed: Sequence[int]) -> bool:
        return bool(removed) and run(removed)[0]

    loo: dict[int, tuple[bool, bool, Any]] = {}

    def single(i: int) -> bool:
        r = run([i])
        loo[i] = r
        return r[0]

    found: list[int] | None = None
    exhausted = False
    cand = rows.tolist()
    order = _priority(lg, rows, symptom) if cand else []
    try:
        if cand and flips(cand):
            found = _ddmin(cand, flips)
        elif cand:
            probe = order[: max(1, max_replays // 2)]
            for i in probe:
                if single(i):
                    found = [i]
                    break
            if found is None:
                tried = set(probe)
                chunk = _first_flipping_chunk(cand, flips, skip_singles=tried)
                if chunk is not None:
                    found = _ddmin(chunk, flips)
    except _Budget:
        exhausted = True
        found = _best_known(cache)
    # leave-one-out ranking, within what is left of the budget
    try:
        for i in order[:rank]:
            if i not in loo:
                single(i)
    except _Budget:
        pass  # the ranking is best effort
    bar.close()

    culprit_rows = sorted(found or [])
    flipped = None
    if found:
        final = cache[frozenset(found)][2]
        flipped = outcome(final)
    events = [lg.events(i, i + 1)[0] for i in culprit_rows]
    ranking = _ranking(lg, loo, set(culprit_rows), base_final, diff)
    return Culprits(events, found=bool(found), baseline=baseline, flipped=flipped,
                    replays=count["replays"], unresolved=count["unresolved"],
                    exhausted=exhausted, candidates=len(cand), ranking=ranking)


def _best_known(cache: Mapping[frozenset[int], tuple[bool, bool, Any]]) -> list[int] | None:
    hits = sorted((len(k), sorted(k)) for k, v in cache.items() if v[0])
    return hits[0][1] if hits else None


def _split(items: list[int], n: int) -> list[list[int]]:
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        out.append(items[start:end])
        start = end
    return [c for c in out if c]


def _ddmin(start: list[int], flips: Callable[[Sequence[int]], bool]) -> list[int]:
    """Zeller's ddmin: shrink a flipping set to a 1-minimal flipping set."""
    cur = list(start)
    n = 2
    while len(cur) >= 2:
        chunks = _split(cur, n)
        for c in chunks:
            if flips(c):
                cur, n = c, 2
                break
        else:
            for c in chunks:
                rest = [x for x in cur if x not in set(c)]
                if len(chunks) > 2 and flips(rest):
                    cur, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(cur):
                    break
                n = min(2 * n, len(cur))
    return cur


def _first_flipping_chunk(cand: list[int], flips: Callable[[Sequence[int]], bool],
                          skip_singles: set[int]) -> list[int] | None:
    """A flipping subset of ``cand`` when the whole set does not flip: chunks, then their
    complements, at doubling granularity."""
    n = 2
    while n <= len(cand):
        chunks = _split(cand, n)
        for c in chunks:
            if len(c) == 1 and c[0] in skip_singles:
                continue
            if flips(c):
                return c
        for c in chunks:
            cs = set(c)
            rest = [x for x in cand if x not in cs]
            if len(chunks) > 2 and flips(rest):
                return rest
        if n == len(cand):
            break
        n = min(2 * n, len(cand))
    return None


def _ranking(log: EventLog, loo: dict[int, tuple[bool, bool, Any]], culprit_rows: set[int],
             base_final: Any, diff: Any) -> pl.DataFrame:
    schema = {"seq": pl.Int64, "event_id": pl.String, "stream": pl.String, "type": pl.String,
              "flips": pl.Boolean, "unresolved": pl.Boolean, "changes": pl.Int64,
              "culprit": pl.Boolean}
    if not loo:
        return pl.DataFrame(schema=schema)
    order = sorted(loo)
    f = log.frame[order].select("seq", "event_id", "stream", "type")
    changes: list[int | None] = []
    for i in order:
        _, unres, final = loo[i]
        try:
            changes.append(None if unres else len(diff(base_final, final)))
        except Exception:
            changes.append(None)
    return f.with_columns(
        pl.Series("flips", [loo[i][0] for i in order], pl.Boolean),
        pl.Series("unresolved", [loo[i][1] for i in order], pl.Boolean),
        pl.Series("changes", changes, pl.Int64),
        pl.Series("culprit", [i in culprit_rows for i in order], pl.Boolean),
    ).sort(["flips", "changes", "seq"], descending=[True, True, False], nulls_last=True)


# ---------------------------------------------------------------------------- compensation


class MissingCompensator(EstimeError, LookupError):
    """No compensating function is registered for an event's type."""


def compensate(log: EventLog | Branch, seq: int,
               compensators: Mapping[str, Callable[[Event], Any]]) -> list[dict[str, Any]]:
    """The compensating events for the event at ``seq``, ready to append.

    ``compensators`` maps event types to ``fn(event) -> event mapping(s)`` (type, data and
    optionally stream, meta, event_id; a list for several, None or [] for none). Each
    result gets ``stream`` (default: the original's), ``meta.causation_id`` = the original
    event_id (always), ``meta.correlation_id`` (default: the original's) and a deterministic
    ``event_id`` (UUIDv5 of the original id and its position) unless given, so compensating
    twice appends nothing new. Returns plain dicts for ``store.append`` or ``branch.append``.
    """
    lg = _log(log)
    event = lg.event(seq)
    fn = compensators.get(event.type)
    if fn is None:
        known = ", ".join(sorted(compensators)) or "none"
        raise MissingCompensator(
            f"no compensator for type {event.type!r} (seq {seq}, stream {event.stream!r}); "
            f"registered: {known}. Add compensators[{event.type!r}] = fn(event) -> event(s).")
    out = fn(event)
    if out is None:
        return []
    if isinstance(out, Mapping):
        out = [out]
    result: list[dict[str, Any]] = []
    orig_meta = thaw(event.meta)
    for j, e in enumerate(out):
        if not isinstance(e, Mapping) or not isinstance(e.get("type"), str):
            raise EstimeError(f"compensator for {event.type!r} returned {e!r} for seq {seq}; "
                              "return a mapping (or list of mappings) with type and data")
        d = {k: thaw(v) for k, v in e.items()}
        d.setdefault("stream", event.stream)
        d.setdefault("data", {})
        meta = dict(d.get("meta") or {})
        meta["causation_id"] = event.event_id
        if "correlation_id" in orig_meta:
            meta.setdefault("correlation_id", orig_meta["correlation_id"])
        d["meta"] = meta
        d.setdefault("event_id", str(uuid.uuid5(COMPENSATION_NAMESPACE,
                                                f"{event.event_id}\x00{j}")))
        result.append(d)
    return result
