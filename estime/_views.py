"""The Jupyter-free half of the notebook widgets (:mod:`estime.widgets`).

HTML fragments (every value passes through ``html.escape``), the :class:`Cursor` that makes a
slider step cost one event's fold, the timeline bins and tracked-value samples.

Big values are rendered bounded: a state with thousands of entries shows the entries the
current event changed, then one page of the others; at most ``MAX_NODES`` rows in all.
"""

from __future__ import annotations

import copy
import html
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime.charts import type_colors
from estime.diff import Diff, diff, json_pointer

if TYPE_CHECKING:
    from estime.log import EventLog
    from estime.projection import Replay

MAX_NODES = 600
VALUE_CHARS = 160
PAYLOAD_CHARS = 4_000
SMALL = 8  # containers up to this size open by themselves (near the top)
OPEN_DEPTH = 2
#: At most this many bins in a timeline strip (aggregated in polars).
TIMELINE_BINS = 2_000
#: At most this many points in a tracked-value chart shipped to the browser.
TRACK_POINTS = 2_000

esc = html.escape


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _default(v: Any) -> Any:
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, (set, frozenset)):
        return sorted(v, key=repr)
    return str(v)


def json_text(value: Any, *, indent: bool = False) -> str:
    """Compact (or indented) JSON text of a value; ``str()`` of what JSON cannot hold."""
    opt = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, default=_default, option=opt).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, default=_default, indent=2 if indent else None,
                          ensure_ascii=False)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    return "other"


def scalar(value: Any, limit: int = VALUE_CHARS) -> str:
    """One value as an escaped, typed span."""
    return (f'<span class="es-v es-{_kind(value)}">'
            f"{esc(short(json_text(value), limit))}</span>")


def _text(json_value: str, limit: int = VALUE_CHARS) -> str:
    """JSON text (as in a diff frame) as an escaped span."""
    return f'<span class="es-v">{esc(short(json_value, limit))}</span>'


# ---------------------------------------------------------------------------- the event


def event_html(event: Any, source: str | None = None) -> str:
    """The current event: seq, time, stream, version, type, id, payload and meta."""
    if event is None:
        return ('<div class="es-event es-initial">seq 0: the initial state, before the '
                "first event</div>")
    time = event.time.isoformat() if event.time is not None else "—"
    rows = [("seq", str(event.seq)), ("time", time), ("stream", event.stream),
            ("version", str(event.version)), ("type", event.type),
            ("event_id", event.event_id)]
    if getattr(event, "schema_version", 1) != 1:
        rows.append(("schema_version", str(event.schema_version)))
    cells = "".join(f'<tr><th>{esc(k)}</th><td class="es-f-{esc(k)}">{esc(v)}</td></tr>'
                    for k, v in rows)
    payload = esc(short(json_text(_plain(event.data), indent=True), PAYLOAD_CHARS))
    meta = _plain(event.meta)
    meta_row = (f'<tr><th>meta</th><td class="es-f-meta"><pre>'
                f"{esc(short(json_text(meta), PAYLOAD_CHARS))}</pre></td></tr>") if meta else ""
    return (f'<div class="es-event"><table class="es-kv">{cells}'
            f'<tr><th>data</th><td class="es-f-data"><pre>{payload}</pre></td></tr>'
            f"{meta_row}</table></div>")


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def changes_html(changes: Diff, limit: int = 12) -> str:
    """A one-line summary of what the event changed and its first paths."""
    if not changes:
        return '<div class="es-changes es-none">no change to the state</div>'
    chips = []
    for path, op in changes.frame.head(limit).select("path", "op").iter_rows():
        chips.append(f'<code class="es-chip es-op-{esc(op)}">{esc(path or "(root)")}</code>')
    more = len(changes) - limit
    tail = f' <span class="es-more">… {more} more</span>' if more > 0 else ""
    return (f'<div class="es-changes"><b>{esc(changes.summary())}</b> '
            f"{' '.join(chips)}{tail}</div>")


# ---------------------------------------------------------------------------- the state


class _Ctx:
    def __init__(self, changes: Diff, page: int, page_size: int) -> None:
        self.op: dict[str, str] = {}
        self.before: dict[str, str] = {}  # JSON text of the value before
        self.removed: dict[str, list[tuple[str, str, str]]] = {}
        self.touched: set[str] = {""}
        self.children: dict[str, set[str]] = {}  # path -> tokens of its touched children
        for path, op, before, _after in changes.frame.iter_rows():
            self.op[path] = op
            self.before[path] = before or ""
            parent, _, key = path.rpartition("/")
            if op == "remove":
                self.removed.setdefault(parent, []).append((path, key, before or ""))
            p = path
            while p:
                self.touched.add(p)
                parent, _, token = p.rpartition("/")
                self.children.setdefault(parent, set()).add(token)
                p = parent
        self.page = max(0, page)
        self.page_size = page_size
        self.pager: dict[str, Any] = {}
        self.nodes = 0
        self.cut = False


def state_html(state: Any, changes: Diff, *, page: int = 0,
               page_size: int = 50) -> tuple[str, dict[str, Any]]:
    """The state as a bounded tree with what ``changes`` touched highlighted.

    Returns the HTML and the pager (path, total, page, pages) of the first container with
    more than ``page_size`` entries: that one shows the changed entries, then page ``page``
    of the rest; other big containers show their first page and a count.
    """
    ctx = _Ctx(changes, page, page_size)
    body = _node(state, "", "", 0, ctx)
    note = ('<div class="es-more">… stopped after '
            f"{MAX_NODES} rows; page through or narrow the state</div>") if ctx.cut else ""
    return f'<div class="es-state">{body}</div>{note}', ctx.pager


def _ordered(value: Any, keys: set[Any]) -> list[Any]:
    """``keys`` in the container's own order (few keys: no scan of a big mapping)."""
    if not isinstance(value, Mapping):
        return sorted(keys)
    if len(keys) * 64 < len(value):
        pos = {k: i for i, k in enumerate(value) if k in keys} if len(keys) > 1 else {}
        return sorted(keys, key=lambda k: pos.get(k, 0))
    return [k for k in value if k in keys]


def _node(value: Any, path: str, label: str, depth: int, ctx: _Ctx, crowd: bool = False) -> str:
    """One entry; ``crowd``: it has many siblings, so it stays one line unless it changed."""
    ctx.nodes += 1
    op = ctx.op.get(path)
    container = isinstance(value, (Mapping, list, tuple))
    n = len(value) if container else 0
    opened = container and (path in ctx.touched or depth == 0 or (
        n <= SMALL and depth < OPEN_DEPTH and not crowd)) and ctx.nodes <= MAX_NODES
    cls = "es-row"
    if op is not None:
        cls += f" es-changed es-op-{op}"
    elif path in ctx.touched and path:
        cls += " es-has-change"
    if container and not opened:
        cls += " es-collapsed"
    attrs = f'class="{cls}" data-path="{esc(path)}"'
    key = f'<span class="es-k">{esc(label)}</span>: ' if label != "" else ""
    if not container:
        shown = scalar(value)
        if op == "replace":
            shown = f'<del class="es-before">{_text(ctx.before.get(path, ""))}</del> → {shown}'
        return f"<div {attrs}>{key}{shown}</div>"
    brackets = ("{", "}") if isinstance(value, Mapping) else ("[", "]")
    size = f'<span class="es-size">{n} {"keys" if brackets[0] == "{" else "items"}</span>'
    if not opened:
        ctx.cut = ctx.cut or ctx.nodes > MAX_NODES
        preview = esc(short(json_text(value), VALUE_CHARS))
        return f'<div {attrs}>{key}<span class="es-preview">{preview}</span> {size}</div>'
    before = ""
    if op == "replace":
        before = f' <del class="es-before">{esc(short(ctx.before.get(path, ""), 80))}</del>'
    inner = _children(value, path, depth, ctx)
    return (f"<div {attrs}>{key}{brackets[0]} {size}{before}"
            f'<div class="es-children">{inner}</div>{brackets[1]}</div>')


def _child_path(path: str, k: Any) -> str:
    return path + json_pointer([k])


def _touched_keys(value: Any, tokens: set[str]) -> set[Any]:
    """The keys (or indices) of ``value`` named by these JSON Pointer tokens."""
    out: set[Any] = set()
    for token in tokens:
        ref = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping):
            if ref in value:
                out.add(ref)
            else:
                out.update(k for k in value if type(k) is not str and str(k) == ref)
        elif ref.isdigit() and int(ref) < len(value):
            out.add(int(ref))
    return out


def _children(value: Any, path: str, depth: int, ctx: _Ctx) -> str:
    out: list[str] = []
    n = len(value)
    pairs = value.items() if isinstance(value, Mapping) else enumerate(value)
    if n <= ctx.page_size:
        shown: list[tuple[Any, Any]] = list(pairs)
        rest = ""
    else:
        keys = _touched_keys(value, ctx.children.get(path, set()))
        pinned = [(k, value[k]) for k in _ordered(value, keys)]
        others = n - len(pinned)
        pages = max(1, -(-others // ctx.page_size))
        page = 0
        if not ctx.pager:
            page = min(ctx.page, pages - 1)
            ctx.pager = {"path": path, "total": n, "page": page, "pages": pages,
                         "pinned": len(pinned)}
        lo = page * ctx.page_size
        rest_pairs = (kv for kv in pairs if kv[0] not in keys) if keys else pairs
        shown = list(islice(rest_pairs, lo, lo + ctx.page_size))
        hidden = others - len(shown)
        rest = (f'<div class="es-more">{hidden:,} more entries '
                f"(showing {lo + 1:,}–{lo + len(shown):,} of {others:,})</div>")
        if pinned:
            out.append('<div class="es-pinned-label">changed by this event</div>')
            out.extend(_node(v, _child_path(path, k), str(k), depth + 1, ctx, True)
                       for k, v in pinned)
            out.append('<div class="es-pinned-label">entries</div>')
    for k, v in shown:
        if ctx.nodes > MAX_NODES:
            ctx.cut = True
            break
        out.append(_node(v, _child_path(path, k), str(k), depth + 1, ctx, n > SMALL))
    for rpath, key, before in ctx.removed.get(path, []):
        out.append(f'<div class="es-row es-changed es-op-remove" data-path="{esc(rpath)}">'
                   f'<span class="es-k">{esc(key)}</span>: '
                   f'<del class="es-before">{_text(before)}</del> (removed)</div>')
    out.append(rest)
    return "".join(out)


# ---------------------------------------------------------------------------- tables


def diff_rows(frame: pl.DataFrame, *, limit: int = VALUE_CHARS) -> str:
    """Rows of a diff frame (path, op, before, after) as escaped table rows."""
    rows = []
    for path, op, before, after in frame.select("path", "op", "before", "after").iter_rows():
        rows.append(
            f'<tr class="es-op-{esc(op)}" data-path="{esc(path)}">'
            f'<td class="es-path">{esc(path or "(root)")}</td><td>{esc(op)}</td>'
            f"<td>{esc(short(before or '', limit))}</td>"
            f"<td>{esc(short(after or '', limit))}</td></tr>")
    return "".join(rows)


def diff_table(frame: pl.DataFrame, caption: str = "") -> str:
    """A diff frame as a table (the caller pages it)."""
    head = "<tr><th>path</th><th>op</th><th>before</th><th>after</th></tr>"
    cap = f'<caption>{esc(caption)}</caption>' if caption else ""
    return (f'<table class="es-table es-diff">{cap}<thead>{head}</thead>'
            f"<tbody>{diff_rows(frame)}</tbody></table>")


def events_table(frame: pl.DataFrame, selected: int | None = None,
                 columns: Sequence[str] = ("seq", "time", "stream", "type", "data")) -> str:
    """Events (a slice of a log's frame) as a table; each row carries ``data-seq``."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in frame.select(list(columns)).iter_rows(named=True):
        seq = row.get("seq")
        cls = ' class="es-selected"' if seq is not None and seq == selected else ""
        cells = "".join(f'<td class="es-c-{esc(c)}">{esc(short(_cell(row[c]), 120))}</td>'
                        for c in columns)
        body.append(f'<tr data-seq="{esc(str(seq))}"{cls}>{cells}</tr>')
    return (f'<table class="es-table es-events"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return str(v.isoformat())
    return str(v)


def kv_table(rows: Iterable[tuple[str, str]], cls: str = "es-kv") -> str:
    """Key/value rows (already text) as an escaped two-column table."""
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="{esc(cls)}">{cells}</table>'


# ---------------------------------------------------------------------------- cursor


class Cursor:
    """The state at one position of a replay, kept so that a step costs one event's fold.

    Positions are row indices: 0 is the initial state, ``i`` the state after the first
    ``i`` events. A far jump asks the core (``state_at``: a checkpoint and a short fold); a
    step forward folds from the state held here; recent states are kept as compact JSON
    (or deep copies when the state does not survive JSON) for steps back.

    What a step changed is found without diffing the whole state when the state is a big
    dict (thousands of accounts): the JSON of the states before and after the event is
    compared byte-wise, and only the top-level entries in the differing span are diffed
    (see :class:`Layout`).
    """

    NEAR = 2_048
    KEEP_BYTES = 64 * 2**20
    ENTRIES = 256  # top-level dicts at least this big are diffed entry by entry

    def __init__(self, rp: Replay) -> None:
        self.rp = rp
        self.n = len(rp.log)
        self.seqs = rp.log.frame["seq"].to_numpy()
        self.index = -1
        self.state: Any = None
        self._snaps: OrderedDict[int, Any] = OrderedDict()
        self._snap_bytes = 0
        self._json: bool | None = None
        self._checked = 0
        self._fold = getattr(rp, "fold", None)
        self._layout: Layout | None = None

    def seq_of(self, index: int) -> int:
        return 0 if index <= 0 else int(self.seqs[min(index, self.n) - 1])

    def index_of(self, seq: int) -> int:
        return 0 if seq <= 0 else self.rp.log.index_of(seq)

    # snapshots: JSON bytes when the state round-trips, else deep copies
    def _snapshot(self, state: Any) -> Any:
        if self._json is not False:
            try:
                blob = orjson.dumps(state, default=_refuse, option=_OPTS)
            except (TypeError, orjson.JSONEncodeError):
                self._json = False
            else:
                check = self._checked < 4 or self._checked % 64 == 0
                if check and orjson.loads(blob) != state:  # tuples and the like
                    self._json = False
                    self._snaps.clear()
                    self._snap_bytes = 0
                    return copy.deepcopy(state)
                self._checked += 1
                self._json = True
                return blob
        return copy.deepcopy(state)

    def _restore(self, snap: Any) -> Any:
        return orjson.loads(snap) if isinstance(snap, bytes) else copy.deepcopy(snap)

    def _keep(self, index: int, snap: Any) -> None:
        size = len(snap) if isinstance(snap, bytes) else 1 << 16
        old = self._snaps.pop(index, None)
        if old is not None:
            self._snap_bytes -= len(old) if isinstance(old, bytes) else 1 << 16
        self._snaps[index] = snap
        self._snap_bytes += size
        while self._snap_bytes > self.KEEP_BYTES and len(self._snaps) > 1:
            _, gone = self._snaps.popitem(last=False)
            self._snap_bytes -= len(gone) if isinstance(gone, bytes) else 1 << 16

    def _advance(self, state: Any, start: int, stop: int) -> Any:
        if self._fold is not None:
            return self._fold(state, start, stop)
        return self.rp.state_at(self.seq_of(stop))

    def _owned(self, index: int) -> Any:
        """A state after ``index`` rows that the caller may mutate."""
        if self.index == index and self.state is not None:
            state, self.state, self.index = self.state, None, -1
            return state
        snap = self._snaps.get(index)
        if snap is not None:
            self._snaps.move_to_end(index)
            return self._restore(snap)
        if self.state is not None and 0 < index - self.index <= self.NEAR:
            state = self._advance(self.state, self.index, index)
            self.state, self.index = None, -1
            return state
        return self.rp.state_at(self.seq_of(index))

    def peek(self, index: int) -> Any:
        """A copy of the state after ``index`` rows (the cursor does not move)."""
        snap = self._snaps.get(index)
        if snap is not None:
            return self._restore(snap)
        if index == self.index and self.state is not None:
            return self._restore(self._snapshot(self.state))
        return self.rp.state_at(self.seq_of(index))

    def _layout_of(self, state: Any, snap: Any) -> Layout | None:
        if (not isinstance(snap, bytes) or type(state) is not dict
                or len(state) < self.ENTRIES):
            return None
        return Layout.of(state, snap)

    def move(self, index: int) -> tuple[Any, Diff]:
        """The state after ``index`` rows and what the event at that row changed."""
        index = max(0, min(index, self.n))
        if index == 0:
            state = self._owned(0)
            self.state, self.index, self._layout = state, 0, None
            return state, diff(None, None)
        layout = self._layout if self.index == index - 1 else None
        before = self._owned(index - 1)
        snap = self._snaps.get(index - 1)
        if snap is None:
            snap = self._snapshot(before)
            self._keep(index - 1, snap)
        if layout is None or layout.blob is not snap:
            layout = self._layout_of(before, snap)
        after = self._advance(before, index - 1, index)
        snap_after = self._snapshot(after)
        self._keep(index, snap_after)
        step = None
        if layout is not None and isinstance(snap_after, bytes) and type(after) is dict:
            step = layout.step(snap_after, after)
        if step is None:
            changes, new_layout = diff(self._restore(snap), after), None
            new_layout = self._layout_of(after, snap_after)
        else:
            changes, new_layout = step
        self.state, self.index, self._layout = after, index, new_layout
        return after, changes


_OPTS = orjson.OPT_PASSTHROUGH_DATETIME


class Layout:
    """Where each top-level entry of a dict's compact JSON lies: ``{e0,e1,...}`` with entry
    ``j`` (``"key":value``) at ``blob[starts[j]:ends[j]]``.

    :meth:`step` finds what changed between this state and the next from their JSON alone:
    bytes before the first difference and after the last one are shared, so every entry
    whose text (and the delimiters around it) lies entirely in those spans is unchanged
    (parsing is deterministic from the front; from the back, a quote's escaping and the
    bracket depth depend only on the bytes after it). Only the entries in between are
    decoded and diffed.
    """

    __slots__ = ("blob", "ends", "keys", "lens")

    def __init__(self, blob: bytes, keys: list[Any], lens: np.ndarray) -> None:
        self.blob, self.keys, self.lens = blob, keys, lens
        self.ends = np.cumsum(lens + 1)

    @classmethod
    def of(cls, state: dict[Any, Any], blob: bytes) -> Layout | None:
        """The layout of ``state`` whose compact JSON is ``blob`` (None if it does not add up)."""
        dumps = orjson.dumps
        try:
            lens = np.fromiter((len(dumps(k)) + 1 + len(dumps(v, default=_refuse, option=_OPTS))
                                for k, v in state.items()), np.int64, len(state))
        except (TypeError, orjson.JSONEncodeError):
            return None
        layout = cls(blob, list(state), lens)
        return layout if layout.fits() else None

    def fits(self) -> bool:
        return bool(len(self.keys)) and int(self.ends[-1]) == len(self.blob) - 1

    def step(self, blob: bytes, state: dict[Any, Any]) -> tuple[Diff, Layout] | None:
        """What changed from this state to ``state`` (whose JSON is ``blob``), and its layout;
        None when the keys are not the same ones in the same order."""
        keys = list(state)
        if keys != self.keys:
            return None
        if blob == self.blob:
            return diff(None, None), Layout(blob, keys, self.lens)
        a = np.frombuffer(self.blob, np.uint8)
        b = np.frombuffer(blob, np.uint8)
        m = min(len(a), len(b))
        head = np.flatnonzero(a[:m] != b[:m])
        p = int(head[0]) if len(head) else m
        tail = np.flatnonzero(a[::-1][: m - p] != b[::-1][: m - p])
        s = int(tail[0]) if len(tail) else m - p
        starts = self.ends - self.lens
        j0 = int(np.searchsorted(self.ends, p, side="left"))  # entries with end < p
        j1 = int(np.searchsorted(starts - 1, len(a) - s, side="left"))
        j1 = max(j1, j0 + 1) if j0 < len(keys) else j0
        dumps = orjson.dumps
        try:
            old = orjson.loads(b"{" + self.blob[int(starts[j0]):int(self.ends[j1 - 1])] + b"}")
            lens = self.lens.copy()
            lens[j0:j1] = [len(dumps(k)) + 1 + len(dumps(state[k], default=_refuse, option=_OPTS))
                           for k in keys[j0:j1]]
        except (TypeError, orjson.JSONEncodeError, IndexError):
            return None
        layout = Layout(blob, keys, lens)
        if not layout.fits() or list(old) != keys[j0:j1]:
            return None
        return diff(old, {k: state[k] for k in keys[j0:j1]}), layout


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def safe_select(selector: Callable[[Any], Any], state: Any) -> Any:
    try:
        return selector(state)
    except (KeyError, IndexError, TypeError):
        return None


def timeline(log: EventLog, bins: int = TIMELINE_BINS) -> dict[str, Any]:
    """Per-bin counts of each type over row positions (≤ ``bins`` bins), from polars."""
    n = len(log)
    types = log.types
    colors = type_colors(types)
    if n == 0:
        return {"n": 0, "bins": 0, "types": [], "colors": [], "counts": []}
    nb = min(n, bins)
    code = {ty: i for i, ty in enumerate(types)}
    f = (log.frame.select("type").with_row_index("i")
         .with_columns((pl.col("i").cast(pl.Int64) * nb // n).alias("bin"),
                       pl.col("type").replace_strict(code, return_dtype=pl.Int64).alias("t"))
         .group_by("bin", "t").agg(pl.len().alias("c")))
    counts = np.zeros((nb, len(types)), dtype=np.int64)
    counts[f["bin"].to_numpy(), f["t"].to_numpy()] = f["c"].to_numpy()
    return {"n": n, "bins": nb, "types": types, "colors": [colors[ty] for ty in types],
            "counts": counts.ravel().tolist()}


def track_points(rp: Replay, selector: Callable[[Any], Any] | None) -> dict[str, Any]:
    """A tracked value sampled to ≤ TRACK_POINTS numeric points (seq, value)."""
    if selector is None:
        return {}
    every = max(1, -(-len(rp) // TRACK_POINTS))
    frame = rp.track(lambda s: safe_select(selector, s), every=every)
    values = frame["value"]
    if values.dtype == pl.Boolean:
        values = values.cast(pl.Int64)
    if not values.dtype.is_numeric():
        return {"seq": [], "value": [], "note": "the tracked value is not a number"}
    first = safe_select(selector, rp.state_at(0))
    seqs = [0, *frame["seq"].to_list()]
    vals = [first if isinstance(first, (int, float)) else None, *values.to_list()]
    return {"seq": seqs, "value": [None if v is None else float(v) for v in vals]}


def seq_map(cmp: Any) -> tuple[np.ndarray, np.ndarray]:
    """Parent seqs (forward-filled) of the aligned pairs and the branch seq at each (-1: none)."""
    pairs = cmp.pairs.with_columns(pl.col("seq_a").forward_fill(), pl.col("seq_b").forward_fill())
    pairs = pairs.filter(pl.col("seq_a").is_not_null())
    return (pairs["seq_a"].to_numpy().astype(np.int64),
            pairs["seq_b"].fill_null(-1).to_numpy().astype(np.int64))


def edits_html(branch: Any) -> str:
    edits = getattr(branch, "edits", None)
    if not isinstance(edits, pl.DataFrame):
        return '<div class="es-more">not a branch: compared as two logs</div>'
    if edits.height == 0:
        return '<div class="es-more">no edits</div>'
    at = getattr(branch, "at", None)
    cols = [c for c in ("op", "seq", "after", "stream", "type", "data") if c in edits.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(short('' if v is None else str(v), 160))}</td>"
                         for v in row) + "</tr>"
        for row in edits.select(cols).iter_rows())
    fork = f"<div>forked at seq {html.escape(str(at))}</div>" if at is not None else ""
    return (f'{fork}<table class="es-table es-edits"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")
