"""Altair charts of event logs, replays and branches, safe at any size and offline.

Every function returns an ``alt.Chart`` (or a layer of charts). Above ``max_rows`` (5,000,
altair's own limit) the data is aggregated in polars first (binned by time or seq), so no
chart raises ``MaxRowsError`` or ships a million rows to the browser.

>>> import estime as es
>>> from estime import charts
>>> log = es.EventLog.from_records([
...     {"stream": "a", "type": "Opened"}, {"stream": "a", "type": "Deposited"},
...     {"stream": "b", "type": "Opened"},
... ])
>>> charts.type_counts(log).data.height
2

Offline rendering: in a notebook (an IPython kernel), the first chart made here switches
altair from its default renderer (which loads vega from a CDN) to static SVG through
``vl-convert``; :func:`enable_offline` does it explicitly. A renderer the user chose
themselves is left alone. Importing this module imports neither altair nor anything from
Jupyter; altair is imported by the first chart (and altair itself imports ipywidgets and
anywidget when they are installed).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    import altair as alt

    from estime.log import EventLog
    from estime.projection import Replay

__all__ = [
    "MAX_ROWS",
    "PALETTE",
    "branch_comparison",
    "enable_offline",
    "events_over_time",
    "tracked",
    "type_colors",
    "type_counts",
]

#: Charts with more rows than this are aggregated in polars first (altair's own limit).
MAX_ROWS = 5_000

#: Colours given to event types in order of first appearance (Tableau 10, then more).
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#98df8a", "#d62728",
    "#9467bd", "#c5b0d5", "#8c564b", "#e377c2",
)
OTHER = "(other)"
_OTHER_COLOR = "#c7c7c7"
_FEW_STREAMS = 8
_TOP_TYPES = 12


# ---------------------------------------------------------------------------- rendering


def enable_offline() -> str:
    """Make altair render charts as static SVG through vl-convert (no CDN); return the
    active renderer's name.

    Only altair's ``default`` renderer is replaced: a renderer chosen by the user stays.
    Without ``vl-convert-python`` installed a warning says how to install it.
    """
    import altair as alt

    if alt.renderers.active != "default":
        return str(alt.renderers.active)
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        warnings.warn(
            "charts need vl-convert-python to render offline; install it with "
            "`pip install vl-convert-python` (or `pip install estime[lab]`)",
            stacklevel=2,
        )
        return str(alt.renderers.active)
    alt.renderers.enable("svg")
    return "svg"


def _in_kernel() -> bool:
    """True inside an IPython kernel (checked without importing IPython)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    return shell is not None and "Kernel" in type(shell).__name__


def _altair() -> Any:
    """altair, imported on first use (it pulls in Jupyter packages when they are installed),
    set to render offline inside a kernel."""
    import altair

    if _in_kernel():
        enable_offline()
    return altair


# ---------------------------------------------------------------------------- colours


def type_colors(types: Sequence[str]) -> dict[str, str]:
    """A colour per event type (stable: by position in ``types``, cycling the palette).

    >>> type_colors(["A", "B"])
    {'A': '#4e79a7', 'B': '#f28e2b'}
    """
    out = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}
    if OTHER in out:
        out[OTHER] = _OTHER_COLOR
    return out


def _color(types: Sequence[str]) -> alt.Color:
    import altair as alt

    colors = type_colors(types)
    return alt.Color("type:N", title="type",
                     scale=alt.Scale(domain=list(colors), range=list(colors.values())))


def _top(frame: pl.DataFrame, column: str, keep: int) -> tuple[pl.DataFrame, list[str]]:
    """Replace all but the ``keep`` most frequent values of ``column`` with ``(other)``."""
    counts = frame[column].value_counts(sort=True)
    if counts.height <= keep:
        return frame, frame[column].unique(maintain_order=True).to_list()
    kept = counts[column].head(keep - 1).to_list()
    order = [v for v in frame[column].unique(maintain_order=True).to_list() if v in set(kept)]
    frame = frame.with_columns(
        pl.when(pl.col(column).is_in(kept)).then(pl.col(column)).otherwise(pl.lit(OTHER))
        .alias(column))
    return frame, [*order, OTHER]


# ---------------------------------------------------------------------------- log charts


def _x_axis(log: EventLog, x: str) -> str:
    if x not in ("auto", "time", "seq"):
        raise ValueError(f"x must be 'auto', 'time' or 'seq', got {x!r}")
    if x != "auto":
        return x
    t = log.frame["time"]
    return "time" if len(t) and t.null_count() == 0 else "seq"


def events_over_time(log: EventLog, *, lanes: str = "auto", x: str = "auto",
                     max_rows: int = MAX_ROWS, bins: int = 200, width: int = 640) -> alt.Chart:
    """Events over time, coloured by type: one lane per stream (a few streams) or per type.

    ``lanes``: ``"stream"``, ``"type"`` or ``"auto"`` (streams when there are at most 8).
    ``x``: ``"time"``, ``"seq"`` or ``"auto"`` (time when every event has one). Up to
    ``max_rows`` events each event is a tick; beyond, events are counted in ``bins`` bins
    per lane and type (fewer bins when there are many lanes), drawn as stacked bars.
    """
    alt = _altair()
    if lanes not in ("auto", "stream", "type"):
        raise ValueError(f"lanes must be 'auto', 'stream' or 'type', got {lanes!r}")
    xcol = _x_axis(log, x)
    f = log.frame
    if lanes == "auto":
        lanes = "stream" if f["stream"].n_unique() <= _FEW_STREAMS else "type"
    f, types = _top(f.select("seq", "stream", "type", "time"), "type", _TOP_TYPES)
    if lanes == "stream":
        f, lane_order = _top(f, "stream", _FEW_STREAMS)
    else:
        lane_order = types
    xtype = "T" if xcol == "time" else "Q"
    height = max(60, 22 * len(lane_order))
    if f.height <= max_rows:
        data = f.with_columns(pl.col("time").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"))
        return alt.Chart(data).mark_tick(thickness=2).encode(
            x=alt.X(f"{xcol}:{xtype}", title=xcol),
            y=alt.Y(f"{lanes}:N", sort=lane_order, title=lanes),
            color=_color(types),
            tooltip=["seq:Q", "stream:N", "type:N", "time:N"],
        ).properties(width=width, height=height, title=f"{log.frame.height:,} events")
    nbins = max(10, min(bins, max_rows // max(1, len(types) * len(lane_order))))
    data = _binned_counts(f, xcol, lanes, nbins)
    if xcol == "time":
        data = data.with_columns(pl.col("start", "end").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ"))
    enc: dict[str, Any] = {}
    if lanes == "stream":
        enc["yOffset"] = alt.YOffset("type:N", sort=types)
        height = len(lane_order) * max(22, 5 * len(types))
    return alt.Chart(data).mark_rect().encode(
        x=alt.X(f"start:{xtype}", title=f"{xcol} ({nbins} bins)"),
        x2="end",
        y=alt.Y(f"{lanes}:N", sort=lane_order, title=lanes),
        color=_color(types),
        opacity=alt.Opacity("count:Q", scale=alt.Scale(type="log", range=[0.3, 1.0]),
                            title="events"),
        tooltip=["start", "end", f"{lanes}:N", "type:N", "count:Q"],
        **enc,
    ).properties(width=width, height=height,
                 title=f"{log.frame.height:,} events, counted in {nbins} bins")


def _binned_counts(f: pl.DataFrame, xcol: str, lane: str, nbins: int) -> pl.DataFrame:
    """Counts per (bin, lane, type) with each bin's start and end on the x axis."""
    xs = pl.col(xcol).cast(pl.Int64) if xcol == "time" else pl.col(xcol)
    lo, hi = f.select(xs.min().alias("lo"), xs.max().alias("hi")).row(0)
    span = max(1, (hi - lo + 1))
    step = -(-span // nbins)
    keys = ["bin", lane] if lane == "type" else ["bin", lane, "type"]
    out = (f.with_columns(((xs - lo) // step).alias("bin"))
           .group_by(keys).agg(pl.len().alias("count"))
           .with_columns((pl.col("bin") * step + lo).alias("start"),
                         ((pl.col("bin") + 1) * step + lo).alias("end"))
           .sort(keys))
    if xcol == "time":
        out = out.with_columns(pl.col("start", "end").cast(pl.Datetime("us", "UTC")))
    return out


def type_counts(log: EventLog, *, by: str = "type", top: int = 20) -> alt.Chart:
    """A bar chart of the number of events per type (or per stream with ``by="stream"``),
    the ``top`` most frequent first, the rest counted as ``(other)``."""
    alt = _altair()
    if by not in ("type", "stream"):
        raise ValueError(f"by must be 'type' or 'stream', got {by!r}")
    counts = log.frame[by].value_counts(sort=True, name="count")
    if counts.height > top:
        rest = counts["count"].slice(top - 1).sum()
        counts = pl.concat([counts.head(top - 1),
                            pl.DataFrame({by: [OTHER], "count": [rest]},
                                         schema=counts.schema)])
    order = counts[by].to_list()
    color = _color(log.types) if by == "type" else alt.value(PALETTE[0])
    return alt.Chart(counts).mark_bar().encode(
        x=alt.X("count:Q", title="events"),
        y=alt.Y(f"{by}:N", sort=order, title=by),
        color=color,
        tooltip=[f"{by}:N", "count:Q"],
    ).properties(width=480, height=max(60, 20 * counts.height),
                 title=f"events per {by}")


# ---------------------------------------------------------------------------- value charts


def _numeric(col: pl.Series) -> pl.Series:
    if col.dtype == pl.Boolean:
        return col.cast(pl.Int64)
    return col


def _bin_by_seq(frame: pl.DataFrame, value_cols: Sequence[str], max_rows: int,
                bins: int) -> tuple[pl.DataFrame, bool]:
    """Aggregate a (seq, values...) frame to at most ``bins`` rows per value column when it
    has more than ``max_rows`` rows: last value (line) and min/max (band) per bin."""
    if frame.height <= max_rows:
        return frame, False
    nb = max(1, min(bins, max_rows // max(1, len(value_cols))))
    per = -(-frame.height // nb)
    aggs: list[pl.Expr] = [pl.col("seq").last()]
    for c in value_cols:
        aggs.append(pl.col(c).last())
        if frame[c].dtype.is_numeric():
            aggs += [pl.col(c).min().alias(f"{c}_min"), pl.col(c).max().alias(f"{c}_max")]
    out = (frame.with_row_index("_i").with_columns((pl.col("_i") // per).alias("_bin"))
           .group_by("_bin", maintain_order=True).agg(aggs).drop("_bin"))
    return out, True


def tracked(data: pl.DataFrame | Replay, selector: Callable[[Any], Any] | None = None, *,
            cursor: int | None = None, title: str = "value", max_rows: int = MAX_ROWS,
            bins: int = 1_000, width: int = 640, height: int = 200) -> alt.Chart | alt.LayerChart:
    """A tracked value over seq: ``data`` is a ``rp.track(selector)`` frame (seq, value), or a
    Replay with ``selector``. ``cursor`` draws a rule at that seq. Beyond ``max_rows`` points
    the line shows each bin's last value over a band from its min to its max.
    """
    alt = _altair()
    frame = _as_frame(data, selector, "track")
    _need(frame, ("seq", "value"))
    frame = frame.select("seq", _numeric(frame["value"]).alias("value"))
    frame, binned = _bin_by_seq(frame, ["value"], max_rows, bins)
    numeric = frame["value"].dtype.is_numeric()
    base = alt.Chart(frame)
    line = base.mark_line(interpolate="step-after" if numeric else "linear").encode(
        x=alt.X("seq:Q", title="seq"),
        y=alt.Y("value:Q" if numeric else "value:N", title=title),
        tooltip=["seq:Q", "value"],
    )
    layers: list[Any] = []
    if binned and numeric:
        layers.append(base.mark_area(opacity=0.25).encode(x="seq:Q", y="value_min:Q",
                                                          y2="value_max:Q"))
    layers.append(line)
    if cursor is not None:
        layers.append(_rule(cursor))
    chart: Any = layers[0] if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(width=width, height=height, title=_title(title, frame, binned))


def branch_comparison(data: Any, selector: Callable[[Any], Any] | None = None, *,
                      names: tuple[str, str] = ("parent", "branch"),
                      divergence: int | None = None, title: str = "value",
                      max_rows: int = MAX_ROWS, bins: int = 1_000,
                      width: int = 640, height: int = 200) -> alt.Chart | alt.LayerChart:
    """A value tracked on two logs side by side: ``data`` is a frame (seq, a, b), as from
    ``Comparison.track(selector)``, or a Comparison with ``selector``. ``divergence`` draws a
    rule at that seq. Long frames are binned as in :func:`tracked`.
    """
    alt = _altair()
    frame = _as_frame(data, selector, "track")
    _need(frame, ("seq", "a", "b"))
    frame = frame.select("seq", _numeric(frame["a"]).alias("a"), _numeric(frame["b"]).alias("b"))
    frame, binned = _bin_by_seq(frame, ["a", "b"], max_rows, bins)
    long = frame.select("seq", "a", "b").rename({"a": names[0], "b": names[1]}).unpivot(
        index="seq", variable_name="log", value_name="value")
    numeric = long["value"].dtype.is_numeric()
    line = alt.Chart(long).mark_line(interpolate="step-after" if numeric else "linear").encode(
        x=alt.X("seq:Q", title="seq"),
        y=alt.Y("value:Q" if numeric else "value:N", title=title),
        color=alt.Color("log:N", sort=list(names),
                        scale=alt.Scale(domain=list(names), range=[PALETTE[0], PALETTE[1]])),
        strokeDash=alt.StrokeDash("log:N", sort=list(names), legend=None),
        tooltip=["seq:Q", "log:N", "value"],
    )
    chart: Any = line if divergence is None else alt.layer(line, _rule(divergence))
    return chart.properties(width=width, height=height, title=_title(title, frame, binned))


def _rule(seq: int) -> alt.Chart:
    import altair as alt

    return alt.Chart(pl.DataFrame({"seq": [seq]})).mark_rule(color="#d62728").encode(x="seq:Q")


def _title(title: str, frame: pl.DataFrame, binned: bool) -> str:
    return f"{title} (binned to {frame.height:,} points)" if binned else title


def _as_frame(data: Any, selector: Callable[[Any], Any] | None, method: str) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        if selector is not None:
            raise TypeError("pass a selector with a Replay or Comparison, not with a frame")
        return data
    if selector is None:
        raise TypeError(f"pass a frame, or a {type(data).__name__} with a selector "
                        "(a function of the state)")
    fn = getattr(data, method, None)
    if fn is None:
        raise TypeError(f"expected a polars DataFrame, a Replay or a Comparison, "
                        f"got {type(data).__name__}")
    frame = fn(selector)
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"{type(data).__name__}.{method}() did not return a polars DataFrame")
    return frame


def _need(frame: pl.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame needs columns {', '.join(cols)}; missing "
                         f"{', '.join(missing)} (it has {', '.join(frame.columns) or 'none'})")
