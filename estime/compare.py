"""Compare what a projection makes of two (or more) logs or branches.

>>> import estime as es
>>> log = es.EventLog.from_records([
...     {"stream": "a", "type": "Deposited", "data": {"amount": 5}},
...     {"stream": "a", "type": "Deposited", "data": {"amount": 7}},
...     {"stream": "a", "type": "Deposited", "data": {"amount": 1}},
... ])
>>> p = es.Projection("balance", initial=dict)
>>> @p.on("Deposited")
... def deposited(state, event):
...     state[event.stream] = state.get(event.stream, 0) + event.data["amount"]
>>> c = compare(p, log, log.fork(at=1).drop(2))
>>> [e.seq if e else None for e in c.first_divergence]
[2, None]
>>> c.final.summary()
'1 change: 1 replaced'
>>> c.track(lambda s: s.get("a")).rows()
[(1, 5, 5, 1), (2, 12, 5, None), (3, 13, 6, 2)]

Alignment
---------
The two logs are aligned on their longest common prefix of event_ids (row i with row i).
After it, when one is a branch of the other, or both descend from a common log through
branches, events pair by the seq they had in that common log (``parent_seq``, followed up
the chain of branches); an inserted event pairs with the event inserted at the same place on
the other side, if any. A branch's ``.log`` passed as a plain EventLog is recognised as a
branch of the other log when its parent_seqs are that log's seqs and most of those events
share their event_id. Unrelated logs pair by position. Every aligned step is a pair
``(event_a, event_b)`` where either side may be None (that side has no event there).

``first_divergence`` is the first aligned pair after which the two states differ (None when
they never do). It is exact: states are compared after every pair whose events differ in
any field (seq and version included); pairs of identical events cannot make equal states
differ, so they are folded without comparing.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime._progress import progress
from estime.log import Event, EventLog

if TYPE_CHECKING:
    import altair as alt

    from estime.branch import Branch
    from estime.diff import Diff
    from estime.projection import Projection, Replay
    from estime.upcast import Upcasters

__all__ = ["Comparison", "ComparisonTable", "compare"]

_CANON = ["seq", "stream", "version", "type", "time", "data", "meta", "event_id",
          "schema_version"]
_MAX_POINTS = 5_000
_BINS = 600
_NO_ANCHOR = -(2**62)
_UNSET: Any = object()
_PROBES = 8  # differing steps checked by direct state materialisation before a walk


def compare(projection: Projection, a: EventLog | Branch, b: EventLog | Branch,
            *more: EventLog | Branch, names: Sequence[str] | None = None,
            outcome: Callable[[Any], Any] | None = None, upcasters: Upcasters | None = None,
            honour_rollbacks: bool = True) -> Comparison | ComparisonTable:
    """Compare the states ``projection`` gives for ``a`` and ``b`` (EventLogs or Branches).

    With two logs: a :class:`Comparison`. With more (``compare(p, a, b, c, ...)``): a
    :class:`ComparisonTable` with one row per log, each compared against ``a``.
    ``names`` label the logs (default: branch names, "log" for plain logs); ``outcome``
    (N-way) adds a column with ``outcome(final_state)``.
    """
    logs = [a, b, *more]
    labels = _names(logs, names)
    kw = {"upcasters": upcasters, "honour_rollbacks": honour_rollbacks}
    if not more:
        return Comparison(projection, a, b, labels[0], labels[1], **kw)  # type: ignore[arg-type]
    return ComparisonTable(projection, logs, labels, outcome=outcome, **kw)  # type: ignore[arg-type]


def _names(logs: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    from estime.branch import Branch

    if names is not None:
        if len(names) != len(logs):
            raise ValueError(f"names has {len(names)} entries for {len(logs)} logs")
        return [str(n) for n in names]
    out: list[str] = []
    for i, x in enumerate(logs):
        base = x.label if isinstance(x, Branch) else ("log" if i == 0 else f"log {i + 1}")
        name, k = base, 2
        while name in out:
            name, k = f"{base} ({k})", k + 1
        out.append(name)
    return out


def _as_log(x: Any) -> EventLog:
    from estime.branch import Branch

    if isinstance(x, Branch):
        return x.log
    if isinstance(x, EventLog):
        return x
    raise TypeError(f"compare takes EventLogs or Branches, not {type(x).__name__}")


# ---------------------------------------------------------------------------- alignment


def _chain(x: Any) -> list[tuple[EventLog, Branch | None]]:
    """``[(log, branch that made it)]`` from ``x`` up to its root log."""
    from estime.branch import Branch

    out: list[tuple[EventLog, Branch | None]] = []
    while isinstance(x, Branch):
        out.append((x.log, x))
        x = x.parent
    out.append((x, None))
    return out


def _ancestor_seqs(chain: list[tuple[EventLog, Branch | None]], depth: int) -> pl.Series:
    """Each row's seq in the log ``depth`` steps up the chain (null for inserted rows)."""
    cur = chain[0][0].frame["seq"]
    for log, _ in chain[:depth]:
        m = log.frame.select(pl.col("seq").alias("__k"), pl.col("parent_seq").alias("__v"))
        cur = (pl.DataFrame({"__k": cur}).join(m, on="__k", how="left", maintain_order="left")
               ["__v"])
    return cur.alias("anc")


def _common(ca: list[tuple[EventLog, Branch | None]], cb: list[tuple[EventLog, Branch | None]]
            ) -> tuple[int, int] | None:
    ids = {id(log): j for j, (log, _) in enumerate(cb)}
    for i, (log, _) in enumerate(ca):
        if id(log) in ids:
            return i, ids[id(log)]
    return None


def _prefix(fa: pl.DataFrame, fb: pl.DataFrame, cols: list[str], start: int = 0) -> int:
    """Length of the longest common prefix of rows equal in ``cols`` (rows before ``start``
    are known to be equal)."""
    m = min(fa.height, fb.height)
    start = min(start, m)
    if m == start:
        return m
    exprs = [pl.col(c).ne_missing(pl.col(f"__b_{c}")) for c in cols]
    both = pl.concat([fa.slice(start, m - start).select(cols),
                      fb.slice(start, m - start).select(
                          [pl.col(c).alias(f"__b_{c}") for c in cols])], how="horizontal")
    diff = both.select(pl.any_horizontal(exprs).alias("d"))["d"]
    hits = diff.arg_true()
    return start + int(hits[0]) if len(hits) else m


def _shared(a: Any, b: Any) -> int:
    """Rows both logs hold by construction: a branch shares its parent's first rows."""
    from estime.branch import Branch

    la, lb = _as_log(a), _as_log(b)
    if isinstance(b, Branch) and (b.parent is a or b.parent_log is la):
        return b._k
    if isinstance(a, Branch) and (a.parent is b or a.parent_log is lb):
        return a._k
    if isinstance(a, Branch) and isinstance(b, Branch) and a.parent_log is b.parent_log:
        return min(a._k, b._k)
    return 0


def _keys(anc: pl.Series, start: int) -> pl.DataFrame:
    f = pl.DataFrame({"anc": anc}).with_row_index("idx").with_columns(
        pl.col("idx").cast(pl.Int64),
        pl.col("anc").forward_fill().fill_null(_NO_ANCHOR).alias("k"),
        pl.col("anc").is_null().cast(pl.Int64).alias("sub"))
    f = f.slice(start)
    return f.with_columns(pl.int_range(pl.len()).over("k", "sub").alias("j")).select(
        "idx", "k", "sub", "j")


def _child_of(child: EventLog, parent: EventLog) -> bool:
    """Whether ``child`` (a branch's ``.log`` passed as a plain EventLog) was forked from
    ``parent``: every parent_seq is a seq of ``parent`` and most of those events (the ones
    the branch kept unchanged) have the same event_id there."""
    if "parent_seq" not in child.frame.columns or "parent_seq" in parent.frame.columns:
        return False
    kids = child.frame.select("parent_seq", "event_id").drop_nulls("parent_seq")
    if kids.height == 0:
        return False
    j = kids.join(parent.frame.select(pl.col("seq").alias("parent_seq"),
                                      pl.col("event_id").alias("__pid")),
                  on="parent_seq", how="left")
    if j["__pid"].null_count():
        return False
    return bool((j["__pid"] == j["event_id"]).mean() >= 0.5)  # type: ignore[operator]


def align(a: Any, b: Any) -> tuple[int, pl.DataFrame, str]:
    """``(prefix, pairs, rule)``: rows ``[0, prefix)`` pair with themselves; ``pairs`` (ia, ib,
    nullable row indices) aligns the rest; ``rule`` is "lineage" or "position"."""
    la, lb = _as_log(a), _as_log(b)
    p = _prefix(la.frame, lb.frame, ["event_id"], _shared(a, b))
    ca, cb = _chain(a), _chain(b)
    common = _common(ca, cb)
    if common is not None:
        anc_a, anc_b = _ancestor_seqs(ca, common[0]), _ancestor_seqs(cb, common[1])
        rule = "lineage"
    elif _child_of(lb, la):
        anc_a, anc_b, rule = la.frame["seq"], lb.frame["parent_seq"], "lineage"
    elif _child_of(la, lb):
        anc_a, anc_b, rule = la.frame["parent_seq"], lb.frame["seq"], "lineage"
    else:
        anc_a = pl.int_range(0, la.frame.height, dtype=pl.Int64, eager=True)
        anc_b = pl.int_range(0, lb.frame.height, dtype=pl.Int64, eager=True)
        rule = "position"
    ka = _keys(anc_a, p).rename({"idx": "ia"})
    kb = _keys(anc_b, p).rename({"idx": "ib"})
    pairs = ka.join(kb, on=["k", "sub", "j"], how="full", coalesce=True).sort(
        "k", "sub", "j").select("ia", "ib")
    return p, pairs, rule


# ---------------------------------------------------------------------------- Comparison


def _differ(x: Any, y: Any) -> bool:
    try:
        return bool(x != y)
    except Exception:
        return orjson.dumps(x, default=str) != orjson.dumps(y, default=str)


def _value(selector: Callable[[Any], Any], state: Any) -> Any:
    from estime.projection import _snapshot

    try:
        return _snapshot(selector(state))
    except (KeyError, IndexError):
        return None


def _series(name: str, values: list[Any]) -> pl.Series:
    try:
        s = pl.Series(name, values, strict=False)
        if s.dtype != pl.Object:
            return s
    except (TypeError, pl.exceptions.PolarsError):
        pass
    return pl.Series(name, [None if v is None else orjson.dumps(
        v, default=str, option=orjson.OPT_NON_STR_KEYS).decode() for v in values], pl.String)


class Comparison:
    """Two logs (or branches) replayed through one projection, aligned event by event.

    Made by :func:`compare`. ``first_divergence``, ``final`` (a Diff of the final states),
    ``track(selector)``, ``chart(selector)``, ``summary()``; ``pairs`` is the alignment.
    """

    def __init__(self, projection: Projection, a: EventLog | Branch, b: EventLog | Branch,
                 name_a: str = "a", name_b: str = "b", *,
                 upcasters: Upcasters | None = None, honour_rollbacks: bool = True) -> None:
        """Replay both sides (a branch reuses its parent's checkpoints) and align them."""
        from estime.branch import Branch, replay_of

        self.projection = projection
        self.a, self.b = a, b
        self.name_a, self.name_b = name_a, name_b
        self.log_a, self.log_b = _as_log(a), _as_log(b)
        self.replay_a: Replay = replay_of(a, projection, upcasters=upcasters,
                                          honour_rollbacks=honour_rollbacks)
        self.replay_b: Replay = replay_of(b, projection, upcasters=upcasters,
                                          honour_rollbacks=honour_rollbacks)
        self.prefix, self._pairs, self.rule = align(a, b)
        if isinstance(b, Branch) and (b.parent is a or b.parent_log is self.log_a):
            self.fork_seq: int = b.at
        elif isinstance(a, Branch) and (a.parent is b or a.parent_log is self.log_b):
            self.fork_seq = a.at
        else:
            self.fork_seq = int(self.log_a.frame["seq"][self.prefix - 1]) if self.prefix else 0

    # ------------------------------------------------------------------ alignment

    @property
    def pairs(self) -> pl.DataFrame:
        """The alignment after the common prefix: seq_a, seq_b (null where a side has no
        event), in order."""
        return pl.DataFrame([
            _gather(self.log_a.frame["seq"], self._pairs["ia"]).alias("seq_a"),
            _gather(self.log_b.frame["seq"], self._pairs["ib"]).alias("seq_b")])

    @cached_property
    def _content_prefix(self) -> int:
        return _prefix(self.log_a.frame, self.log_b.frame, _CANON, _shared(self.a, self.b))

    @cached_property
    def _plan(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """From the content prefix c on: (c, ia, ib, identical), -1 for a missing side;
        identical: both events present and equal in every field."""
        c = min(self._content_prefix, self.prefix)
        pos = np.arange(c, self.prefix, dtype=np.int64)
        ia = np.concatenate([pos, self._pairs["ia"].fill_null(-1).to_numpy()])
        ib = np.concatenate([pos, self._pairs["ib"].fill_null(-1).to_numpy()])
        return c, ia, ib, _same_rows(self.log_a.frame, self.log_b.frame, ia, ib)

    # ------------------------------------------------------------------ results

    @cached_property
    def first_divergence(self) -> tuple[Event | None, Event | None] | None:
        """``(event_a, event_b)``: the first aligned pair after which the states differ.

        A side is None when it has no event at that step (an event dropped or inserted);
        the whole result is None when the states never differ.
        """
        c, ia, ib, ident = self._plan
        todo = np.flatnonzero(~ident)
        if not len(todo):
            return None
        ra, rb = self.replay_a, self.replay_b
        # rows of each side folded after step t
        done_a = np.maximum.accumulate(np.where(ia >= 0, ia + 1, c))
        done_b = np.maximum.accumulate(np.where(ib >= 0, ib + 1, c))

        def event(log: EventLog, i: int) -> Event | None:
            return None if i < 0 else log.events(i, i + 1)[0]

        # Usually the states part at one of the first differing steps: look there directly
        # (a checkpoint restore and a short fold each) before walking event by event.
        for t in todo[:_PROBES].tolist():
            if _differ(ra._state_at_index(int(done_a[t])), rb._state_at_index(int(done_b[t]))):
                return event(self.log_a, int(ia[t])), event(self.log_b, int(ib[t]))
        if len(todo) <= _PROBES:
            return None
        t0 = int(todo[_PROBES - 1]) + 1
        start_a, start_b = int(done_a[t0 - 1]), int(done_b[t0 - 1])
        last = int(todo[-1])
        # a side's state is only materialised if its next steps have no event
        sa: Any = _UNSET
        sb: Any = _UNSET
        ga = ra.steps(start_a)
        gb = rb.steps(start_b)
        bar = progress(last + 1 - t0, "compare")
        try:
            for t in range(t0, last + 1):
                ea = eb = None
                if ia[t] >= 0:
                    ea, sa = next(ga)
                elif sa is _UNSET:
                    sa = ra._state_at_index(start_a)
                if ib[t] >= 0:
                    eb, sb = next(gb)
                elif sb is _UNSET:
                    sb = rb._state_at_index(start_b)
                if not ident[t] and _differ(sa, sb):
                    return ea, eb
                if (t - t0) % 4096 == 0:
                    bar.update(min(4096, last + 1 - t))
        finally:
            bar.close()
        return None

    @cached_property
    def final(self) -> Diff:
        """The difference between the final states (a -> b), as a :class:`~estime.diff.Diff`."""
        from estime.diff import diff

        return diff(self.replay_a.final, self.replay_b.final)

    def track(self, selector: Callable[[Any], Any]) -> pl.DataFrame:
        """``selector(state)`` on both sides after each aligned step.

        Columns: ``seq`` (a's seq; null where only b has an event), ``a``, ``b``, ``seq_b``
        (b's seq; null where only a has one). Where a side has no event its value carries
        over. A selector raising KeyError/IndexError gives null.
        """
        c, ia, ib, _ = self._plan
        ra, rb = self.replay_a, self.replay_b
        seq_a: list[int | None] = []
        seq_b: list[int | None] = []
        va: list[Any] = []
        vb: list[Any] = []
        for e, s in ra.steps(0, c):
            v = _value(selector, s)
            seq_a.append(e.seq)
            seq_b.append(e.seq)
            va.append(v)
            vb.append(v)
        cur_a: Any = _UNSET
        cur_b: Any = _UNSET
        ga, gb = ra.steps(c), rb.steps(c)
        for t in range(len(ia)):
            sqa = sqb = None
            if ia[t] >= 0:
                e, s = next(ga)
                sqa, cur_a = e.seq, _value(selector, s)
            elif cur_a is _UNSET:
                cur_a = _value(selector, ra._state_at_index(c))
            if ib[t] >= 0:
                e, s = next(gb)
                sqb, cur_b = e.seq, _value(selector, s)
            elif cur_b is _UNSET:
                cur_b = _value(selector, rb._state_at_index(c))
            seq_a.append(sqa)
            seq_b.append(sqb)
            va.append(cur_a)
            vb.append(cur_b)
        return pl.DataFrame([pl.Series("seq", seq_a, pl.Int64), _series("a", va),
                             _series("b", vb), pl.Series("seq_b", seq_b, pl.Int64)])

    def chart(self, selector: Callable[[Any], Any], *,
              title: str | None = None) -> alt.TopLevelMixin:
        """An altair chart of ``selector(state)`` on both sides, with a rule at the fork point.

        The x axis is a's seq (b-only steps sit at the a seq before them). Above 5,000
        points the lines are downsampled in polars (first, last, min and max of each of
        ~600 bins per side), so spikes stay visible.
        """
        import altair as alt

        t = self.track(selector).with_columns(
            pl.col("seq").forward_fill().fill_null(0).alias("x"))
        long = pl.concat([
            t.select("x", pl.lit(self.name_a).alias("side"), pl.col("a").alias("value")),
            t.select("x", pl.lit(self.name_b).alias("side"), pl.col("b").alias("value")),
        ], how="vertical_relaxed")
        if long.schema["value"] == pl.Boolean:
            long = long.with_columns(pl.col("value").cast(pl.Int64))
        long = _downsample(long)
        numeric = long.schema["value"].is_numeric()
        y = alt.Y("value:Q" if numeric else "value:N", title=title or "value")
        lines = alt.Chart(long).mark_line(interpolate="step-after").encode(
            x=alt.X("x:Q", title="seq"), y=y, color=alt.Color("side:N", title=None),
            tooltip=["side:N", "x:Q", "value"])
        rule = alt.Chart(pl.DataFrame({"x": [self.fork_seq], "label": ["fork point"]})
                         ).mark_rule(strokeDash=[4, 3], color="gray").encode(
            x="x:Q", tooltip=["label:N", "x:Q"])
        return alt.layer(lines, rule).properties(
            title=title or f"{self.name_a} vs {self.name_b}", width=600, height=250)

    def summary(self) -> str:
        """A few lines: sizes, common prefix, first divergence, final difference."""
        la, lb = self.log_a, self.log_b
        lines = [f"{self.name_a}: {len(la):,} events; {self.name_b}: {len(lb):,} events",
                 f"common prefix: {self.prefix:,} events (fork point seq {self.fork_seq}); "
                 f"aligned by {self.rule} after it"]
        fd = self.first_divergence
        if fd is None:
            lines.append("the states never differ")
        else:
            lines.append("first divergence: " + " / ".join(
                f"{n} " + (f"seq {e.seq} {e.type} ({e.stream})" if e is not None else "(none)")
                for n, e in zip((self.name_a, self.name_b), fd)))
        lines.append(f"final states: {self.final.summary()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Comparison({self.name_a!r} vs {self.name_b!r})\n{self.summary()}"

    def _repr_html_(self) -> str:
        body = "<br>".join(html.escape(line) for line in self.summary().splitlines())
        return (f"<div class='estime-comparison'><p><b>{html.escape(self.name_a)} vs "
                f"{html.escape(self.name_b)}</b></p><p>{body}</p>"
                f"{self.final._repr_html_()}</div>")


def _gather(values: pl.Series, idx: pl.Series) -> pl.Series:
    """``values[idx]`` with null where ``idx`` is null."""
    if values.len() == 0:
        return pl.Series(values.name, [None] * len(idx), dtype=values.dtype)
    out = values.gather(idx.fill_null(0))
    return pl.select(pl.when(idx.is_not_null()).then(out)).to_series().alias(values.name)


def _same_rows(fa: pl.DataFrame, fb: pl.DataFrame, ia: np.ndarray, ib: np.ndarray
               ) -> np.ndarray:
    """For each (ia[t], ib[t]): both present (>= 0) and the rows equal in every field."""
    sa = pl.Series("i", ia).replace(-1, None)
    sb = pl.Series("i", ib).replace(-1, None)
    ga = pl.DataFrame([_gather(fa[c], sa).alias(f"a_{c}") for c in _CANON])
    gb = pl.DataFrame([_gather(fb[c], sb).alias(f"b_{c}") for c in _CANON])
    both = pl.concat([ga, gb], how="horizontal").with_columns(
        sa.is_not_null().alias("__pa"), sb.is_not_null().alias("__pb"))
    same = both.select(pl.all_horizontal(
        [pl.col("__pa"), pl.col("__pb")]
        + [pl.col(f"a_{c}").eq_missing(pl.col(f"b_{c}")) for c in _CANON]).alias("s"))["s"]
    return same.to_numpy()


def _downsample(long: pl.DataFrame) -> pl.DataFrame:
    """At most 4 points per bin and side (~600 bins) when there are more than 5,000 points
    (altair's limit for inline data)."""
    if long.height <= _MAX_POINTS:
        return long
    lo, hi = long["x"].min(), long["x"].max()
    assert isinstance(lo, int) and isinstance(hi, int)
    width = max(1, (hi - lo + 1) // _BINS + 1)
    f = long.with_row_index("__r").with_columns(((pl.col("x") - lo) // width).alias("__bin"))
    picks = [pl.col("__r").first().alias("r0"), pl.col("__r").last().alias("r1")]
    if long.schema["value"].is_numeric():
        picks += [pl.col("__r").get(pl.col("value").arg_min()).alias("r2"),
                  pl.col("__r").get(pl.col("value").arg_max()).alias("r3")]
    keep = f.group_by("__bin", "side").agg(picks).drop("__bin", "side")
    rows = pl.concat([keep[c] for c in keep.columns]).drop_nulls().unique()
    return f.filter(pl.col("__r").is_in(rows.implode())).drop("__r", "__bin")


# ---------------------------------------------------------------------------- N-way


class ComparisonTable:
    """One row per log or branch, each compared against the first (``compare(p, a, b, c)``).

    ``.frame`` columns: name, events, fork_at, edits (null for plain logs), common_prefix
    (events shared with the first), divergence_seq and divergence_type (this log's event
    of the first divergence; null when it has none there), divergence_base_seq (the first
    log's event there), changes (size of the final diff against the first), final (its
    summary) and, when an
    ``outcome`` function was given, outcome (JSON text). ``.comparisons`` holds the
    pairwise :class:`Comparison` objects (None for the first row).
    """

    def __init__(self, projection: Projection, logs: Sequence[EventLog | Branch],
                 names: Sequence[str], *, outcome: Callable[[Any], Any] | None = None,
                 upcasters: Upcasters | None = None, honour_rollbacks: bool = True) -> None:
        """Compare every log after the first against the first."""
        from estime.branch import Branch, replay_of

        self.names = list(names)
        base = logs[0]
        self.comparisons: list[Comparison | None] = [None]
        rows: list[dict[str, Any]] = []
        for i, x in enumerate(logs):
            c = None if i == 0 else Comparison(projection, base, x, self.names[0],
                                               self.names[i], upcasters=upcasters,
                                               honour_rollbacks=honour_rollbacks)
            if i:
                self.comparisons.append(c)
            row: dict[str, Any] = {
                "name": self.names[i], "events": len(_as_log(x)),
                "fork_at": x.at if isinstance(x, Branch) else None,
                "edits": len(x._edits) if isinstance(x, Branch) else None,
                "common_prefix": len(_as_log(x)) if c is None else c.prefix,
                "divergence_seq": None, "divergence_type": None, "divergence_base_seq": None,
                "changes": 0 if c is None else len(c.final),
                "final": "baseline" if c is None else c.final.summary(),
            }
            if c is not None and c.first_divergence is not None:
                ea, eb = c.first_divergence
                if eb is not None:
                    row["divergence_seq"], row["divergence_type"] = eb.seq, eb.type
                if ea is not None:
                    row["divergence_base_seq"] = ea.seq
            if outcome is not None:
                rp = replay_of(x, projection, upcasters=upcasters,
                               honour_rollbacks=honour_rollbacks)
                row["outcome"] = orjson.dumps(outcome(rp.final), default=str,
                                              option=orjson.OPT_NON_STR_KEYS).decode()
            rows.append(row)
        schema: dict[str, Any] = {
            "name": pl.String, "events": pl.Int64, "fork_at": pl.Int64, "edits": pl.Int64,
            "common_prefix": pl.Int64, "divergence_seq": pl.Int64,
            "divergence_type": pl.String, "divergence_base_seq": pl.Int64,
            "changes": pl.Int64, "final": pl.String}
        if outcome is not None:
            schema["outcome"] = pl.String
        self.frame = pl.DataFrame(rows, schema=schema)

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        return f"ComparisonTable({len(self)} logs)\n{self.frame}"

    def _repr_html_(self) -> str:
        cols = self.frame.columns
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>"
                             for v in row) + "</tr>" for row in self.frame.iter_rows())
        return (f"<div class='estime-comparison-table'><table><tr>{head}</tr>{body}"
                "</table></div>")
