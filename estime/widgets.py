"""Notebook widgets: TimeSlider, DiffView, BranchView and EventTable.

The only estime module that imports ipywidgets / anywidget. Each widget holds UI state only
and calls the core (replay, diff, compare); its front end is a plain ES module shipped in
``widgets/`` (``estime/_static`` once installed). Every widget has a synced ``seq`` trait,
so widgets can be linked::

    import ipywidgets as W
    from estime.widgets import TimeSlider, EventTable
    ts, table = TimeSlider(rp), EventTable(rp.log)
    W.jslink((ts, "seq"), (table, "seq"))

Every value shown passes through ``html.escape``. An exception raised while a widget reacts
to a change is shown in the widget and kept in its ``error`` trait (and ``errors`` list)
instead of vanishing in the comm layer. Importing this module makes altair render charts
as static SVG (:func:`estime.charts.enable_offline`): no chart ever loads from a CDN.
"""

from __future__ import annotations

import functools
import html
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import anywidget
import numpy as np
import polars as pl
import traitlets as t

from estime import _views as R
from estime.charts import enable_offline
from estime.diff import Diff, diff
from estime.log import EventLog
from estime.projection import Projection, Replay

__all__ = ["BranchView", "DiffView", "EventTable", "TimeSlider", "static_dir"]

log_ = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------- assets


def static_dir() -> Path:
    """The folder holding the widgets' ES modules and CSS.

    From an install: ``estime/_static`` (the wheel force-includes the repo's ``widgets/``
    there); from a checkout: the repo's ``widgets/``. ``FileNotFoundError`` if neither exists.
    """
    installed = Path(str(resources.files("estime"))) / "_static"
    checkout = Path(__file__).resolve().parent.parent / "widgets"
    for d in (installed, checkout):
        if (d / "estime.js").is_file():
            return d
    raise FileNotFoundError(
        f"estime's widget assets (estime.js) are in neither {installed} nor {checkout}; "
        "reinstall estime (`pip install estime[lab]`) or run from a full checkout")


@functools.cache
def _asset(name: str) -> str:
    return (static_dir() / name).read_text(encoding="utf-8")


enable_offline()


# ---------------------------------------------------------------------------- base


def _guard(fn: F) -> F:
    """Run an observer / message handler; an exception lands in ``self.error`` (shown in
    the widget, readable by tests) and ``self.errors`` instead of vanishing."""

    @functools.wraps(fn)
    def wrapper(self: _Widget, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:
            self.errors.append(exc)
            last = traceback.extract_tb(exc.__traceback__)[-1]
            self.error = (f"{type(exc).__name__}: {exc} "
                          f"(in {fn.__name__}, {Path(last.filename).name}:{last.lineno})")
            log_.debug("estime widget %s failed", type(self).__name__, exc_info=True)
            return None

    return wrapper  # type: ignore[return-value]


class _Widget(anywidget.AnyWidget):
    """Shared traits: ``seq`` (linkable), ``error`` (the last failure, or "")."""

    _esm = t.Unicode("").tag(sync=True)
    _css = t.Unicode("").tag(sync=True)
    _kind = t.Unicode("").tag(sync=True)
    seq = t.Int(0).tag(sync=True)
    error = t.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(_esm=_asset("estime.js"), _css=_asset("estime.css"), **kwargs)
        self.errors: list[BaseException] = []
        self.add_class("estime-widget")
        self.add_class(f"estime-{self._kind}")
        self.on_msg(self._on_msg)

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("action"), str):
            self._action(content)

    @_guard
    def _action(self, content: dict[str, Any]) -> None:
        raise ValueError(f"unknown action {content.get('action')!r}")


# ---------------------------------------------------------------------------- TimeSlider


class TimeSlider(_Widget):
    """Step through a replay: play/pause, step, a slider over the log's seqs (0 = initial
    state), a timeline strip coloured by event type, jumps to the next/previous event of a
    type or stream, the current event, and the state with what that event changed highlighted.

    ``selector`` (a function of the state) adds a tracked-value chart with a cursor.
    ``page_size`` bounds how many entries of a big state are shown at once (with a pager).
    Keyboard: ←/→ step (Shift ×10), Home/End, Space plays or pauses.

    >>> import estime as es
    >>> p = es.Projection("n", initial=dict)
    >>> @p.on("Added")
    ... def added(s, e): s["n"] = s.get("n", 0) + e.data["k"]
    >>> ts = TimeSlider(es.replay(es.EventLog.from_records(
    ...     [{"stream": "a", "type": "Added", "data": {"k": 2}}]), p))
    >>> ts.seq = 1
    >>> ts.changed_paths, ts.state
    (['/n'], {'n': 2})
    """

    _kind = t.Unicode("timeslider").tag(sync=True)
    position = t.Int(0).tag(sync=True)
    n = t.Int(0).tag(sync=True)
    last_seq = t.Int(0).tag(sync=True)
    rendered = t.Int(0).tag(sync=True)
    playing = t.Bool(False).tag(sync=True)
    interval = t.Int(250).tag(sync=True)
    stride = t.Int(1).tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(50).tag(sync=True)
    pager = t.Dict().tag(sync=True)
    event_html = t.Unicode("").tag(sync=True)
    state_html = t.Unicode("").tag(sync=True)
    changes_html = t.Unicode("").tag(sync=True)
    changed_paths = t.List(t.Unicode()).tag(sync=True)
    value_text = t.Unicode("").tag(sync=True)
    timeline = t.Dict().tag(sync=True)
    track = t.Dict().tag(sync=True)
    types = t.List(t.Unicode()).tag(sync=True)
    streams = t.List(t.Unicode()).tag(sync=True)
    jump_type = t.Unicode("").tag(sync=True)
    jump_stream = t.Unicode("").tag(sync=True)
    #: render the next position ahead of time, so a step forward shows at once
    prefetch = t.Bool(True).tag(sync=True)

    def __init__(self, replay: Replay, selector: Callable[[Any], Any] | None = None, *,
                 seq: int = 0, page_size: int = 50) -> None:
        if not isinstance(replay, Replay):
            raise TypeError(f"TimeSlider needs a Replay (es.replay(log, projection)), "
                            f"got {type(replay).__name__}")
        self.replay = replay
        self.selector = selector
        self._cursor = R.Cursor(replay)
        self._shown = -1
        self._ahead: tuple[dict[str, Any], Diff, tuple[int, int]] | None = None
        self._changes: Diff = diff(None, None)
        self._jumps: dict[tuple[str, str], np.ndarray] = {}
        #: kernel-side seconds of the latest moves (for benchmarks and curiosity)
        self.step_seconds: deque[float] = deque(maxlen=1_000)
        log = replay.log
        super().__init__(n=len(log), last_seq=self._cursor.seq_of(len(log)),
                         page_size=page_size, types=log.types, streams=log.streams[:1_000],
                         timeline=R.timeline(log), track=R.track_points(replay, selector))
        self.observe(self._on_position, "position")
        self.observe(self._on_seq, "seq")
        self.observe(self._on_page, ["page", "page_size"])
        self._go(self._cursor.index_of(seq))

    # ------------------------------------------------------------------ public

    @property
    def state(self) -> Any:
        """The state shown (after the event at ``seq``): a copy the caller may mutate."""
        return self._cursor.peek(self._shown)

    @property
    def changes(self) -> Diff:
        """What the event at ``seq`` changed (empty at seq 0)."""
        return self._changes

    def step(self, by: int = 1) -> None:
        """Move ``by`` events forward (negative: back), within the log."""
        self.position = max(0, min(self.n, self.position + by))

    def jump(self, direction: int = 1, *, type: str | None = None,
             stream: str | None = None) -> bool:
        """Move to the next (``direction`` > 0) or previous event of ``type`` and/or
        ``stream`` (default: the ``jump_type`` / ``jump_stream`` traits); False if none."""
        key = (self.jump_type if type is None else type,
               self.jump_stream if stream is None else stream)
        rows = self._jumps.get(key)
        if rows is None:
            f = self.replay.log.frame.select("type", "stream")
            mask = pl.repeat(True, f.height, eager=True)
            if key[0]:
                mask = mask & (f["type"] == key[0])
            if key[1]:
                mask = mask & (f["stream"] == key[1])
            rows = mask.arg_true().to_numpy() + 1  # positions after each matching event
            self._jumps[key] = rows
        here = self.position
        if direction > 0:
            k = int(np.searchsorted(rows, here, side="right"))
            target = int(rows[k]) if k < len(rows) else None
        else:
            k = int(np.searchsorted(rows, here, side="left")) - 1
            target = int(rows[k]) if k >= 0 else None
        if target is None:
            return False
        self.position = target
        return True

    # ------------------------------------------------------------------ observers

    @_guard
    def _on_position(self, change: dict[str, Any]) -> None:
        if change["new"] != self._shown:
            self._go(change["new"])
        else:
            self.rendered += 1

    @_guard
    def _on_seq(self, change: dict[str, Any]) -> None:
        index = self._cursor.index_of(change["new"])
        if index != self.position:
            self._go(index)
        elif self._cursor.seq_of(index) != change["new"]:
            self.seq = self._cursor.seq_of(index)

    @_guard
    def _on_page(self, _change: dict[str, Any]) -> None:
        self._render_state()

    @_guard
    def _action(self, content: dict[str, Any]) -> None:
        act = content["action"]
        if act == "jump":
            found = self.jump(int(content.get("direction", 1)),
                              type=str(content.get("type", "")),
                              stream=str(content.get("stream", "")))
            if not found:
                self.rendered += 1  # release a waiting front end
        else:
            raise ValueError(f"unknown action {act!r}")

    # ------------------------------------------------------------------ rendering

    def _go(self, index: int) -> None:
        index = max(0, min(index, self.n))
        started = time.perf_counter()
        with self.hold_sync():
            try:
                ahead, self._ahead = self._ahead, None
                if ahead is not None and ahead[0]["position"] == index \
                        and ahead[2] == (self.page, self.page_size):
                    traits, self._changes = ahead[0], ahead[1]
                else:
                    traits, self._changes = self._compute(index)
                self._shown = index
                for name, value in traits.items():
                    setattr(self, name, value)
                self.error = ""
            finally:
                self.rendered += 1  # the front end waits for this before its next request
        self.step_seconds.append(time.perf_counter() - started)
        self._prefetch(index + 1)

    def _compute(self, index: int) -> tuple[dict[str, Any], Diff]:
        """Everything the front end shows at row position ``index``."""
        state, changes = self._cursor.move(index)
        event = None if index == 0 else next(self.replay.log.iter_events(index - 1, index))
        value = "" if self.selector is None else R.short(R.json_text(
            R.safe_select(self.selector, state)), 200)
        state_html, pager = R.state_html(state, changes, page=self.page,
                                         page_size=max(1, self.page_size))
        return {"position": index, "seq": self._cursor.seq_of(index),
                "event_html": R.event_html(event, self.replay.log.source),
                "changes_html": R.changes_html(changes),
                "changed_paths": changes.frame["path"].head(500).to_list(),
                "value_text": value, "state_html": state_html, "pager": pager}, changes

    def _prefetch(self, index: int) -> None:
        """Render the next position ahead of time and send it to the front end, which shows
        it at once when the user steps there (the kernel still confirms the move)."""
        if not self.prefetch or index > self.n:
            return
        try:
            traits, changes = self._compute(index)
        except Exception:  # shown when the user actually moves there
            return
        self._ahead = (traits, changes, (self.page, self.page_size))
        self.send({"prefetch": traits})

    def _render_state(self) -> None:
        html_text, pager = R.state_html(self.state, self._changes, page=self.page,
                                        page_size=max(1, self.page_size))
        with self.hold_sync():
            self.state_html = html_text
            self.pager = pager
        self._ahead = None
        self.send({"prefetch": None})
        self._prefetch(self._shown + 1)


# ---------------------------------------------------------------------------- DiffView


class DiffView(_Widget):
    """What changed between the states at seqs ``a`` and ``b`` of a replay, as a paged
    table of JSON Pointer paths; changing either end (or ``seq``, which is ``b``) updates it.

    ``path_filter`` keeps the rows whose path contains that text.
    """

    _kind = t.Unicode("diffview").tag(sync=True)
    a = t.Int(0).tag(sync=True)
    b = t.Int(0).tag(sync=True)
    path_filter = t.Unicode("").tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(100).tag(sync=True)
    pager = t.Dict().tag(sync=True)
    summary_html = t.Unicode("").tag(sync=True)
    table_html = t.Unicode("").tag(sync=True)

    def __init__(self, replay: Replay, a: int | range | tuple[int, int] = 0,
                 b: int | None = None, *, page_size: int = 100) -> None:
        if not isinstance(replay, Replay):
            raise TypeError(f"DiffView needs a Replay (es.replay(log, projection)), "
                            f"got {type(replay).__name__}")
        if isinstance(a, (range, tuple)):
            if b is not None:
                raise TypeError("pass either a range (a, b) or two seqs, not both")
            a, b = (a.start, a.stop) if isinstance(a, range) else (int(a[0]), int(a[1]))
        self.replay = replay
        seqs = replay.log.frame["seq"]
        last = int(seqs[-1]) if len(seqs) else 0
        b = last if b is None else b
        self._diff: Diff = diff(None, None)
        self._key: tuple[int, int] | None = None
        super().__init__(a=max(0, a), b=max(0, b), seq=max(0, b), page_size=page_size)
        self.observe(self._on_ends, ["a", "b"])
        self.observe(self._on_seq, "seq")
        self.observe(self._on_view, ["path_filter", "page", "page_size"])
        self._render()

    @property
    def diff(self) -> Diff:
        """The Diff shown (between the states at ``a`` and ``b``)."""
        return self._diff

    @_guard
    def _on_seq(self, change: dict[str, Any]) -> None:
        self.b = change["new"]

    @_guard
    def _on_ends(self, change: dict[str, Any]) -> None:
        if change["name"] == "b" and self.seq != change["new"]:
            self.seq = change["new"]
        self.page = 0
        self._render()

    @_guard
    def _on_view(self, _change: dict[str, Any]) -> None:
        self._render()

    def _render(self) -> None:
        key = (self.a, self.b)
        if key != self._key:
            self._diff = self.replay.diff(self.a, self.b)
            self._key = key
        frame = self._diff.frame
        if self.path_filter:
            frame = frame.filter(pl.col("path").str.contains(self.path_filter, literal=True))
        size = max(1, self.page_size)
        pages = max(1, -(-frame.height // size))
        page = min(max(0, self.page), pages - 1)
        shown = frame.slice(page * size, size)
        what = f"seq {self.a} → seq {self.b}: {self._diff.summary()}"
        if self.path_filter:
            what += f"; {frame.height:,} rows match {self.path_filter!r}"
        with self.hold_sync():
            self.error = ""
            self.summary_html = f'<div class="es-summary-text">{html.escape(what)}</div>'
            self.table_html = (R.diff_table(shown) if frame.height else
                               '<div class="es-more">no changes to show</div>')
            self.pager = {"page": page, "pages": pages, "total": frame.height}


# ---------------------------------------------------------------------------- EventTable


class EventTable(_Widget):
    """The events of a log, filtered by type, stream and text, one page at a time.

    Selecting a row sets ``seq``; link it to a TimeSlider (``widgets.link`` or ``jslink``)
    to move the slider there. Setting ``seq`` from outside shows the page holding that event.
    ``stream_filter`` matches a stream exactly when one has that name, else by substring;
    ``text`` is searched (ignoring case) in data, meta, type, stream and event_id.
    """

    _kind = t.Unicode("eventtable").tag(sync=True)
    type_filter = t.Unicode("").tag(sync=True)
    stream_filter = t.Unicode("").tag(sync=True)
    text = t.Unicode("").tag(sync=True)
    page = t.Int(0).tag(sync=True)
    page_size = t.Int(50).tag(sync=True)
    pager = t.Dict().tag(sync=True)
    info = t.Unicode("").tag(sync=True)
    table_html = t.Unicode("").tag(sync=True)
    types = t.List(t.Unicode()).tag(sync=True)

    def __init__(self, log: EventLog | Replay | Any, *, page_size: int = 50,
                 columns: tuple[str, ...] = ("seq", "time", "stream", "type", "data")) -> None:
        log = getattr(log, "log", log)
        if not isinstance(log, EventLog):
            raise TypeError(f"EventTable needs an EventLog (or a Replay / Branch), "
                            f"got {type(log).__name__}")
        missing = [c for c in columns if c not in log.frame.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)} in this log; its columns are "
                             f"{', '.join(log.frame.columns)}")
        self.event_log = log
        self.columns = columns
        self._key: tuple[str, str, str] | None = None
        self._rows = log.frame
        self._seqs = log.frame["seq"].to_numpy()
        self._stream_set = set(log.streams)
        super().__init__(types=log.types, page_size=page_size)
        self.observe(self._on_filter, ["type_filter", "stream_filter", "text"])
        self.observe(self._on_seq, "seq")
        self.observe(self._on_view, ["page", "page_size"])
        self._render()

    @property
    def rows(self) -> pl.DataFrame:
        """The events that pass the filters (all pages)."""
        self._filtered()
        return self._rows

    def _filtered(self) -> None:
        key = (self.type_filter, self.stream_filter, self.text)
        if key == self._key:
            return
        exprs: list[pl.Expr] = []
        if self.type_filter:
            exprs.append(pl.col("type") == self.type_filter)
        if self.stream_filter:
            if self.stream_filter in self._stream_set:
                exprs.append(pl.col("stream") == self.stream_filter)
            else:
                exprs.append(pl.col("stream").str.contains(self.stream_filter, literal=True))
        if self.text:
            needle = self.text.lower()
            exprs.append(pl.any_horizontal(
                pl.col(c).str.to_lowercase().str.contains(needle, literal=True)
                for c in ("data", "meta", "type", "stream", "event_id")))
        frame = self.event_log.frame
        self._rows = frame.filter(*exprs) if exprs else frame
        self._seqs = self._rows["seq"].to_numpy()
        self._key = key

    @_guard
    def _on_filter(self, _change: dict[str, Any]) -> None:
        self._filtered()
        self.page = self._page_of(self.seq)
        self._render()

    @_guard
    def _on_seq(self, change: dict[str, Any]) -> None:
        page = self._page_of(change["new"])
        if page != self.page:
            self.page = page  # renders
        else:
            self._render()

    @_guard
    def _on_view(self, _change: dict[str, Any]) -> None:
        self._render()

    def _page_of(self, seq: int) -> int:
        self._filtered()
        k = int(np.searchsorted(self._seqs, seq, side="right")) - 1
        return max(0, k) // max(1, self.page_size)

    def _render(self) -> None:
        self._filtered()
        size = max(1, self.page_size)
        total = self._rows.height
        pages = max(1, -(-total // size))
        page = min(max(0, self.page), pages - 1)
        shown = self._rows.slice(page * size, size)
        if total:
            info = (f"{page * size + 1:,}–{page * size + shown.height:,} of {total:,} events"
                    + (f" (of {len(self.event_log):,})" if total != len(self.event_log) else ""))
        else:
            info = f"no event matches (of {len(self.event_log):,})"
        with self.hold_sync():
            self.error = ""
            self.info = info
            self.table_html = R.events_table(shown, self.seq, self.columns)
            self.pager = {"page": page, "pages": pages, "total": total}


# ---------------------------------------------------------------------------- BranchView


class BranchView(_Widget):
    """A what-if branch against its parent: the edits, the first divergence, the final
    difference, and (with ``selector``) a value tracked on both sides.

    ``seq`` (a seq of the parent) picks the point where both states are compared side by
    side; it starts at the first divergence.
    """

    _kind = t.Unicode("branchview").tag(sync=True)
    header_html = t.Unicode("").tag(sync=True)
    edits_html = t.Unicode("").tag(sync=True)
    divergence_html = t.Unicode("").tag(sync=True)
    final_html = t.Unicode("").tag(sync=True)
    at_html = t.Unicode("").tag(sync=True)
    track = t.Dict().tag(sync=True)
    divergence_seq = t.Int(-1).tag(sync=True)

    def __init__(self, projection: Projection, parent: EventLog | Any, branch: Any,
                 selector: Callable[[Any], Any] | None = None, *, rows: int = 200) -> None:
        from estime.compare import Comparison, compare

        if not isinstance(projection, Projection):
            raise TypeError(f"BranchView needs a Projection first, got {type(projection).__name__}")
        self.projection = projection
        self.parent, self.branch, self.selector = parent, branch, selector
        label = str(getattr(branch, "label", None) or getattr(branch, "name", None) or "branch")
        cmp = compare(projection, parent, branch, names=("parent", label))
        if not isinstance(cmp, Comparison):
            raise TypeError("BranchView compares exactly two logs")
        self.comparison = cmp
        self._rows = rows
        self._map = R.seq_map(cmp)
        fd = cmp.first_divergence
        div = -1 if fd is None else self._a_seq_of(fd)
        super().__init__(seq=max(div, 0), divergence_seq=div)
        with self.hold_sync():
            self.header_html = self._header()
            self.edits_html = R.edits_html(branch)
            self.divergence_html = self._divergence(fd)
            self.final_html = self._final()
            self.track = self._compare_track(div)
        self.observe(self._on_seq, "seq")
        self._render_at()

    @_guard
    def _on_seq(self, _change: dict[str, Any]) -> None:
        self._render_at()

    def _a_seq_of(self, pair: tuple[Any, Any]) -> int:
        ea, eb = pair
        if ea is not None:
            return int(ea.seq)
        pairs = self.comparison.pairs
        hit = pairs.with_columns(pl.col("seq_a").forward_fill()).filter(
            pl.col("seq_b") == eb.seq)
        value = hit["seq_a"][0] if hit.height else None
        return int(value) if value is not None else int(self.comparison.fork_seq)

    def _b_seq_at(self, seq: int) -> int:
        """The branch seq aligned with parent seq ``seq`` (the last b event at or before)."""
        cmp = self.comparison
        sa, sb = self._map
        k = int(np.searchsorted(sa, seq, side="right")) - 1
        if k >= 0 and sb[k] >= 0:
            return int(sb[k])
        i = cmp.log_a.index_of(seq)
        i = min(i, cmp.prefix)
        return int(cmp.log_b.frame["seq"][i - 1]) if i > 0 else 0

    def _header(self) -> str:
        lines = self.comparison.summary().splitlines()
        return "".join(f"<div>{html.escape(line)}</div>" for line in lines)

    def _divergence(self, fd: tuple[Any, Any] | None) -> str:
        if fd is None:
            return '<div class="es-none">the states never differ</div>'
        sides = []
        for name, e in zip(("parent", self.comparison.name_b), fd):
            body = (R.event_html(e) if e is not None else
                    '<div class="es-more">no event on this side here (dropped or inserted)</div>')
            sides.append(f'<div><div class="es-side-title">{html.escape(name)}</div>{body}</div>')
        return f'<div class="es-pair">{"".join(sides)}</div>'

    def _final(self) -> str:
        d = self.comparison.final
        frame = d.frame
        more = frame.height - self._rows
        tail = f'<div class="es-more">… {more:,} more changes</div>' if more > 0 else ""
        head = f"<div>{html.escape('parent → branch: ' + d.summary())}</div>"
        return head + (R.diff_table(frame.head(self._rows)) if frame.height else "") + tail

    def _compare_track(self, div: int) -> dict[str, Any]:
        if self.selector is None:
            return {}
        sel = self.selector
        frame = self.comparison.track(lambda s: R.safe_select(sel, s))
        frame = frame.with_columns(pl.col("seq").forward_fill().fill_null(0))
        for c in ("a", "b"):
            if frame[c].dtype == pl.Boolean:
                frame = frame.with_columns(pl.col(c).cast(pl.Int64))
        if not (frame["a"].dtype.is_numeric() and frame["b"].dtype.is_numeric()):
            return {"note": "the tracked value is not a number"}
        every = max(1, -(-frame.height // R.TRACK_POINTS))
        keep = frame.gather_every(every)
        if frame.height and (frame.height - 1) % every:
            keep = pl.concat([keep, frame.tail(1)])
        return {"seq": keep["seq"].to_list(),
                "a": [None if v is None else float(v) for v in keep["a"].to_list()],
                "b": [None if v is None else float(v) for v in keep["b"].to_list()],
                "names": ["parent", self.comparison.name_b],
                "divergence": div if div >= 0 else None}

    def _render_at(self) -> None:
        cmp = self.comparison
        seq = max(0, self.seq)
        b_seq = self._b_seq_at(seq)
        sa, sb = cmp.replay_a.state_at(seq), cmp.replay_b.state_at(b_seq)
        d = diff(sa, sb)
        rows = [("parent seq", str(seq)), (f"{cmp.name_b} seq", str(b_seq))]
        if self.selector is not None:
            rows += [("parent value", R.json_text(R.safe_select(self.selector, sa))),
                     (f"{cmp.name_b} value", R.json_text(R.safe_select(self.selector, sb)))]
        rows.append(("states", "equal" if not d else "parent → branch: " + d.summary()))
        table = R.diff_table(d.frame.head(self._rows)) if d else ""
        with self.hold_sync():
            self.error = ""
            self.at_html = R.kv_table(rows) + table
