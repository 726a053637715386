"""Materialise a branch: the parent's frame with the edits applied (vectorised in polars).

Sort key of the rows after the fork point: (anchor, sub, order) where a parent row's anchor
is its own seq (sub 0) and an added event's anchor is the seq it was inserted after (sub 1,
in the order the edits added them; appended events anchor after everything). Dropped rows
stay in the frame until versions are computed: per stream, a row's new version is the last
parent version at or before it plus (events inserted - events dropped) so far in the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime._json import to_json_text
from estime.log import EventLog

if TYPE_CHECKING:
    from estime._edits import _New
    from estime.branch import Branch

__all__ = ["materialize"]


def _new_rows(items: Sequence[tuple[int, int, _New]], extras: dict[str, pl.DataType]
              ) -> pl.DataFrame:
    schema: dict[str, Any] = {
        "seq": pl.Int64, "stream": pl.String, "version": pl.Int64, "type": pl.String,
        "time": pl.Datetime("us", "UTC"), "data": pl.String, "meta": pl.String,
        "event_id": pl.String, "schema_version": pl.Int64, "_anchor": pl.Int64,
        "_sub": pl.Int64, "_ord": pl.Int64}
    rows = [(None, e.stream, None, e.type, e.time, e.data, e.meta, e.event_id,
             e.schema_version, anchor, 1, order) for anchor, order, e in items]
    f = pl.DataFrame(rows, schema=schema, orient="row")
    return f.with_columns([pl.lit(None, t).alias(c) for c, t in extras.items()])


def materialize(b: Branch) -> EventLog:
    from estime.projection import ROLLBACK_TYPE

    plog = b.parent_log
    pf = plog.frame
    if "parent_seq" in pf.columns:
        pf = pf.drop("parent_seq")
    k, at, plan = b._k, b.at, b._plan
    head = pf.head(k).with_columns(pl.col("seq").alias("parent_seq"))
    tail = pf.slice(k)
    extras = {c: pf.schema[c] for c in pf.columns if c not in _CANON}
    if not b._edits:
        n = tail.height
        tail = tail.with_columns(pl.col("seq").alias("parent_seq"))
        if n and (int(tail["seq"][0]) != at + 1 or int(tail["seq"][-1]) != at + n):
            tail = tail.with_columns(pl.int_range(at + 1, at + n + 1, dtype=pl.Int64)
                                     .alias("seq"))
            tail = _remap_rollbacks(tail, at, ROLLBACK_TYPE)
        return EventLog._trusted(pl.concat([head, tail]), plog.source)

    dropped = list(plan.dropped)
    t = tail.with_columns(
        pl.col("seq").alias("parent_seq"), pl.col("seq").alias("_anchor"),
        pl.lit(0, pl.Int64).alias("_sub"), pl.lit(0, pl.Int64).alias("_ord"),
        (pl.lit(True) if plan.truncated else pl.col("seq").is_in(dropped)).alias("_drop"),
    )
    if plan.replaced:
        rep = pl.DataFrame(
            [(s, *v) for s, v in plan.replaced.items()],
            schema={"parent_seq": pl.Int64, "_type": pl.String, "_data": pl.String,
                    "_meta": pl.String, "_eid": pl.String}, orient="row")
        t = t.join(rep, on="parent_seq", how="left", maintain_order="left").with_columns(
            pl.coalesce("_type", "type").alias("type"),
            pl.coalesce("_data", "data").alias("data"),
            pl.coalesce("_meta", "meta").alias("meta"),
            pl.coalesce("_eid", "event_id").alias("event_id"),
        ).drop("_type", "_data", "_meta", "_eid")
    if plan.inserts:
        ins = _new_rows(plan.inserts, extras).with_columns(
            pl.lit(None, pl.Int64).alias("parent_seq"), pl.lit(False).alias("_drop"))
        t = pl.concat([t, ins.select(t.columns)], how="vertical_relaxed")
    t = t.sort("_anchor", "_sub", "_ord")
    # the version before the fork of each stream an added event belongs to (parent rows
    # carry their own version, which the forward fill below spreads)
    new_streams = list({e.stream for _, _, e in plan.inserts})
    base = head.filter(pl.col("stream").is_in(new_streams)).group_by("stream").agg(
        pl.col("version").max().alias("_base")) if new_streams else pl.DataFrame(
        schema={"stream": pl.String, "_base": pl.Int64})
    ins_flag = pl.col("parent_seq").is_null().cast(pl.Int64)
    drop_flag = pl.col("_drop").cast(pl.Int64)
    t = t.join(base, on="stream", how="left", maintain_order="left")
    t = t.with_columns(
        (pl.col("version").forward_fill().over("stream").fill_null(pl.col("_base"))
         .fill_null(0)
         + (ins_flag - drop_flag).cum_sum().over("stream")).alias("version"),
    )
    t = t.filter(~pl.col("_drop"))
    t = t.with_columns(pl.int_range(at + 1, at + t.height + 1, dtype=pl.Int64).alias("seq"))
    t = _remap_rollbacks(t, at, ROLLBACK_TYPE)
    out = pl.concat([head, t.select(head.columns)])
    return EventLog._trusted(out, plog.source)


_CANON = ("seq", "stream", "version", "type", "time", "data", "meta", "event_id",
          "schema_version")


def _remap_rollbacks(t: pl.DataFrame, at: int, marker: str) -> pl.DataFrame:
    """Rollback markers after the fork point that return to a later seq: renumber ``to``."""
    marks = t.with_row_index("__i").filter(pl.col("type") == marker)
    if marks.height == 0:
        return t
    pseq = t["parent_seq"]
    kept = t.filter(pl.col("parent_seq").is_not_null()).select("parent_seq", "seq")
    ps = kept["parent_seq"].to_numpy()
    ss = kept["seq"].to_numpy()
    datas = t["data"].to_list()
    for i, data in marks.select("__i", "data").iter_rows():
        try:
            d = orjson.loads(data)
            to = int(d["to"])
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            continue  # the replay reports malformed markers with their seq
        if to <= at or pseq[i] is None:
            continue
        j = int(np.searchsorted(ps, to, side="right")) - 1
        d["to"] = int(ss[j]) if j >= 0 else at
        datas[i] = to_json_text(d)
    return t.with_columns(pl.Series("data", datas, pl.String))
