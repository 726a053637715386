"""Read JSON Lines event logs: estime's own files and foreign ones (:func:`read_jsonl`).

One JSON object per line. Files written by :meth:`EventLog.write_jsonl` load as they were
written; foreign files load through a column mapping (``stream="aggregate_id"``). Payloads
(``data``, ``meta``) keep the file's JSON text when it is compact (as estime, orjson and most
writers produce it), lose the blanks between tokens when spaced or indented (``json.dumps``'
default ", " and ": " included), and are re-encoded compactly otherwise (escapes in spaced
text, deep nesting); either way every JSON value round-trips exactly: key order, big
integers, floats and unicode.

How it is fast without being lossy: polars' ``read_ndjson`` infers a struct schema (a key
first seen late is dropped or nulls are invented), so it is not used. Instead polars' line
scanner streams the lines (several threads) into one lazy query that cuts the lines sharing
the first line's key layout into their top-level values with literal searches (string
columns are cut inside their quotes) and checks each value with a regular expression that
accepts exactly the JSON grammar (compact, nested up to 3 levels; deeper values, and floats
too large for a double, are checked with a parser). A decomposition into values that are
each valid JSON is the parse of the line, so this is exact. Lines that do not fit (other key
orders, a payload that contains a later key's text) try the next layout or are parsed one
by one, which is also where a malformed line is reported with its file and line number.
Spaced payloads are made compact column-wise and checked the same way (see
:func:`compact_json`). RFC 3339 times of one form (``write_jsonl``'s, ``isoformat()``'s,
the CloudEvents SDK's) are parsed with numpy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any

import orjson
import polars as pl

from estime._json import gc_paused
from estime._normalize import SCHEMA, Duplicates, normalize
from estime._progress import progress
from estime.errors import LogFormatError
from estime.io._text import (  # noqa: F401 (re-exported for the other readers and tests)
    _INT_RE,
    _NUM,
    _OBJECT_RE,
    _SCALAR_RE,
    _STR_BODY_RE,
    _VALUE_RE,
    PathLike,
    _no_constant,
    check_utf8,
    dumps,
    fast_times,
    loads,
    may_hold_big_integers,
    read_bytes,
    split_lines,
    unspaced,
    unspaced_exprs,
    without_blanks,
)
from estime.log import EventLog

__all__ = ["read_jsonl"]


FAST_MIN_ROWS = 2_000
#: From this many lines, a progress bar follows the pass that cuts them (about 0.15 s per
#: 100,000 lines; shown only when the read lasts over a second, see estime._progress).
BAR_MIN_LINES = 100_000
MAX_LAYOUTS = 16
_RESERVED = ("_line", "__pos")


def compact_json(col: pl.Series, *, ok: pl.Series | None = None
                 ) -> tuple[pl.Series, pl.Series]:
    """``(ok, texts)``: which values are valid JSON (nulls are), and the values as compact
    single-line JSON text: unchanged when already compact; else without the blanks between
    tokens (spaced or indented JSON, see :func:`~estime.io._text.without_blanks`), checked
    column-wise; else (escapes, deep nesting, few rows) parsed and re-encoded. ``ok``:
    which values the caller already found compact and valid (the check is not repeated;
    see :func:`compact_checks`)."""
    n = len(col)
    if n >= FAST_MIN_ROWS:
        if ok is None:
            ok = col.str.contains(_VALUE_RE).fill_null(True)
        todo = (~ok).arg_true()
        for strip in (unspaced, without_blanks):  # spaced or indented JSON, column-wise
            if not len(todo):
                break
            stripped = strip(col.gather(todo))
            good = stripped.str.contains(_VALUE_RE)
            if good.any():
                done = todo.filter(good)
                col = col.clone().scatter(done, stripped.filter(good))
                ok = ok.scatter(done, True)
                todo = todo.filter(~good)
    else:
        ok = col.is_null()
        todo = (~ok).arg_true()
    if len(todo) == 0:
        return ok, col
    results: list[bool] = []
    texts: list[str] = []
    for t in col.gather(todo).to_list():
        try:
            texts.append(dumps(loads(t)))
            results.append(True)
        except ValueError:
            texts.append(t)
            results.append(False)
    return ok.scatter(todo, results), col.clone().scatter(todo, texts)


def compact_checks(frame: pl.DataFrame, names: list[str]) -> dict[str, pl.Series | None]:
    """Per JSON text column of ``frame``: which values are compact valid JSON (nulls are),
    the columns checked in parallel; ``None`` for all when the frame is too small."""
    if frame.height < FAST_MIN_ROWS:
        return dict.fromkeys(names)
    checks = frame.select(pl.col(n).str.contains(_VALUE_RE).fill_null(True) for n in names)
    return {n: checks[n] for n in names}


def checked_payloads(frame: pl.DataFrame, columns: Mapping[str, str],
                     where: Callable[[int], str]) -> list[pl.Series]:
    """The payload columns of a reader's ``frame`` (``data`` and ``meta`` under their mapped
    names, the text ones) validated by :func:`checked_json`, checked in parallel first."""
    present = {c: columns.get(c, c) for c in ("data", "meta")}
    present = {c: n for c, n in present.items()
               if n in frame.columns and frame[n].dtype == pl.String}
    oks = compact_checks(frame, list(dict.fromkeys(present.values())))
    return [checked_json(frame[n], n, where, objects=c == "meta", ok=oks[n])
            for c, n in present.items()]


def checked_json(col: pl.Series, name: str, where: Callable[[int], str], *,
                 objects: bool = False, ok: pl.Series | None = None) -> pl.Series:
    """``col`` (JSON text) validated: raise naming the first bad row, make multi-line values
    compact. ``objects`` requires JSON objects (``meta``). ``ok``: see :func:`compact_json`."""
    ok, col = compact_json(col, ok=ok)
    if not ok.all():
        i = int((~ok).arg_true()[0])
        text = col[i]
        try:
            loads(text)
        except ValueError as exc:
            raise LogFormatError(
                f"{where(i)}: field {name!r} is not valid JSON ({exc}); got {text[:80]!r}. "
                "Payloads must be JSON text."
            ) from None
    if objects:
        not_obj = col.is_not_null() & ~col.str.starts_with("{")
        if not_obj.any():
            i = int(not_obj.arg_true()[0])
            raise LogFormatError(f"{where(i)}: field {name!r} must be a JSON object, "
                                 f"got {col[i][:60]!r}")
    return col


# --------------------------------------------------------------------------- files


# --------------------------------------------------------------------------- columns


def column_from_values(name: str, values: list[Any]) -> pl.Series:
    """A typed column from parsed JSON values: one scalar type stays typed, ints and floats
    make Float64, anything else (mixed, nested, beyond Int64) becomes JSON text."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pl.Series(name, values, pl.Null)
    if kinds == {str}:
        return pl.Series(name, values, pl.String)
    if kinds == {bool}:
        return pl.Series(name, values, pl.Boolean)
    if kinds <= {int, float} and (float in kinds or all(
            -(2**63) <= v < 2**63 for v in values if v is not None)):
        return pl.Series(name, values, pl.Float64 if float in kinds else pl.Int64)
    return pl.Series(name, [v if v is None or isinstance(v, str) else dumps(v)
                            for v in values], pl.String)


def _kind(value: Any) -> str:
    """How a first-line value's column is decoded on the fast path."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return "int"
    if value is None:
        return "null"
    return "any"


class _Plan:
    """Which keys hold payloads, for one reading of one file.

    A key's role: ``column`` (a typed column), ``data`` or ``meta`` (a JSON text column),
    ``payload`` (gathered with the other payload keys, in file order, into one JSON object
    column named :attr:`payload_name`), or ``both`` (a column and part of the payload).
    """

    payload_name = "data"

    def __init__(self, columns: Mapping[str, str], first: Mapping[str, Any]) -> None:
        self.data_key = columns.get("data", "data")
        self.meta_key = columns.get("meta", "meta")
        # Without a data key (and no mapping for one), the other keys form the payload.
        self.no_data = "data" not in columns and self.data_key not in first
        self.canonical = {columns.get(c, c) for c in SCHEMA if c != "data"}

    def role(self, key: str) -> str:
        if key == self.meta_key:
            return "meta"
        if self.no_data:
            return "column" if key in self.canonical else "payload"
        return "data" if key == self.data_key else "column"

    @staticmethod
    def column_name(key: str) -> str:
        return f"{key}_source" if key in _RESERVED else key

    def check(self, obj: dict[str, Any], no: int, source: str) -> None:
        """Raise :class:`LogFormatError` for a parsed line the reader refuses (none here)."""

    def accepts(self, obj: dict[str, Any]) -> bool:
        """Whether lines laid out like ``obj`` may take the vectorised path (their values
        have the types of ``obj``'s, which :meth:`check` accepts)."""
        try:
            self.check(obj, 0, "")
        except LogFormatError:
            return False
        return True


def _nbytes(text: str) -> int:
    return len(text.encode())


def _cut(keys: list[str], quoted: list[bool], spaced: bool
         ) -> tuple[list[pl.Expr], list[pl.Expr | str]]:
    """Two steps of expressions cutting column ``line`` at the keys (in this order) into
    ``shape`` (the line has this layout), ``escapes`` (it has a backslash) and the top-level
    values ``v0``, ``v1``, ... as text (meaningless where the shape is wrong). A ``quoted``
    value is a string cut inside its quotes: the quotes are part of the literals searched
    for."""
    colon = ": " if spaced else ":"
    comma = ", " if spaced else ","
    q = ['"' if x else "" for x in quoted]
    names = [orjson.dumps(k).decode() for k in keys]
    head = "{" + names[0] + colon + q[0]
    seps = [q[i - 1] + comma + names[i] + colon + q[i] for i in range(1, len(keys))]
    tail = q[-1] + "}"
    line = pl.col("line")
    finds = [line.str.find(t, literal=True).cast(pl.Int64).alias(f"p{i}")
             for i, t in enumerate(seps)]
    found = [pl.col(f"p{i}") for i in range(len(seps))]
    starts = [pl.lit(_nbytes(head), pl.Int64)] + [p + _nbytes(t) for p, t in zip(found, seps)]
    stops = [*found, pl.col("end")]
    shape = pl.col("shape0")
    for a, b in zip(starts, stops):
        shape = shape & (b >= a)
    # In a line of this shape, cuts fall on ASCII tokens, so every piece is valid UTF-8.
    # Other lines get empty pieces: a cut at the head's length may split a character there.
    raw = line.cast(pl.Binary)
    sized = shape.fill_null(False)
    pieces = [raw.bin.slice(a, pl.when(sized).then(b - a).otherwise(0)).cast(pl.String)
              .alias(f"v{i}") for i, (a, b) in enumerate(zip(starts, stops))]
    return (
        [*finds,
         (line.str.starts_with(head) & line.str.ends_with(tail)).alias("shape0"),
         (line.str.len_bytes().cast(pl.Int64) - _nbytes(tail)).alias("end"),
         line.str.contains("\\", literal=True).alias("escapes")],
        [shape.fill_null(False).alias("shape"), "escapes", *pieces],
    )


def _check_exprs(i: int, kind: str, role: str, spaced: bool = False) -> list[pl.Expr]:
    """Column ``g{i}`` (piece ``v{i}`` is valid) and, where the piece is not the value
    itself, ``o{i}`` (its value). In ``spaced`` lines, payloads are made compact as
    :func:`~estime.io._text.unspaced` does, in the same pass."""
    v = pl.col(f"v{i}")
    good = f"g{i}"
    if role != "column":
        grammar = _OBJECT_RE if role == "meta" else _VALUE_RE
        if not spaced:
            return [v.str.contains(grammar).alias(good)]
        joined, plain = unspaced_exprs(v)
        return [(plain & joined.str.contains(grammar)).alias(good), joined.alias(f"o{i}")]
    if kind == "str":  # cut inside the quotes
        return [v.str.contains(_STR_BODY_RE).alias(good)]
    if kind == "int":
        out = v.cast(pl.Int64, strict=False)
        return [(v.str.contains(_INT_RE) & out.is_not_null()).alias(good), out.alias(f"o{i}")]
    if kind == "bool":
        return [v.is_in(["true", "false"]).alias(good), (v == "true").alias(f"o{i}")]
    if kind == "null":
        return [(v == "null").alias(good), pl.lit(None).alias(f"o{i}")]
    return [v.str.contains(_SCALAR_RE).alias(good)]


def _collect(query: pl.LazyFrame, bar: Any = None) -> pl.DataFrame:
    """Run a layout pass; with a progress ``bar`` shown, on polars' streaming engine in
    batches that advance it by the lines done (the bar's total is an estimate, raised if
    passed). Measured on 1M lines of a file: 1.50-1.65 s in batches, 1.48-1.73 s at once."""
    if bar is None or bar.disable:
        return query.collect()
    parts: list[pl.DataFrame] = []
    for batch in query.collect_batches():
        parts.append(batch)
        if bar.n + batch.height > bar.total:
            bar.total = bar.n + batch.height
        bar.update(batch.height)
    bar.total = bar.n  # done: the estimate gives way to the count (not redrawn: a bar is
    # shown only once the read has lasted a second, and a redraw would show it at once)
    return pl.concat(parts, rechunk=False) if len(parts) != 1 else parts[0]


def _layout_pass(rows: pl.LazyFrame, first: Mapping[str, Any], spaced: bool, plan: _Plan,
                 bar: Any = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cut the lines (``rows``: columns ``line``, ``_line``) with ``first``'s key layout into
    values: (the frame of the lines that match, with ``_line``; the other rows).

    The other lines are left to the next layout or the line-by-line parser. ``bar``: a
    progress bar to advance by the lines passed (see :func:`_collect`)."""
    keys = list(first)
    kinds = [_kind(v) for v in first.values()]
    # a "both" key is cut as a column (its payload part is added below)
    roles = ["column" if r == "both" else r for r in map(plan.role, keys)]
    quoted = [r == "column" and k == "str" for k, r in zip(kinds, roles)]
    checks = [e for i, (k, r) in enumerate(zip(kinds, roles))
              for e in _check_exprs(i, k, r, spaced)]
    find, cut = _cut(keys, quoted, spaced)
    sure = pl.all_horizontal("shape", *(pl.col(f"g{i}") for i in range(len(keys))))
    f = _collect(rows.with_columns(find).select(*cut, "_line", "line").with_columns(checks)
                 # a line surely matched is not kept (parsers below may accept some others)
                 .with_columns(pl.when(sure.fill_null(False)).then(None).otherwise("line")
                               .alias("line")), bar)
    ok = f["shape"]
    fixed: list[pl.Series] = []
    for i, (kind, role) in enumerate(zip(kinds, roles)):
        good = f[f"g{i}"].fill_null(False)
        if role != "column" or kind == "any":
            # Deeper nesting, spaced JSON the quick joins missed, null meta or (in a plain
            # column) arrays and objects: made compact and checked column-wise, or parsed.
            again = (ok & ~good).arg_true()
            if len(again):
                piece = f[f"v{i}"].gather(again)
                valid, texts = compact_json(piece, ok=piece.is_null())
                if role == "meta":
                    valid = valid & (texts.str.starts_with("{") | (texts == "null"))
                good = good.scatter(again, valid)
                if role != "column":
                    target = f"o{i}" if f"o{i}" in f.columns else f"v{i}"
                    o = f[target].clone().scatter(again, texts)
                    fixed.append(_null_if(o, "null") if role == "meta" else o)
        ok = ok & good
    if fixed:
        f = f.with_columns(fixed)
    sub = f if ok.all() else f.filter(ok)
    escapes = sub["escapes"].arg_true()
    out: list[pl.Series] = []
    payload: list[tuple[str, pl.Series]] = []
    for i, (key, kind, role) in enumerate(zip(keys, kinds, roles)):
        name = plan.column_name(key)
        o = sub[f"o{i}"] if f"o{i}" in sub.columns else sub[f"v{i}"]
        if role == "payload":
            payload.append((key, o))
            continue
        if plan.role(key) == "both":  # the value's JSON text joins the payload too
            payload.append((key, ('"' + sub[f"v{i}"] + '"') if kind == "str" else sub[f"v{i}"]))
        if role == "column" and kind == "str" and len(escapes):
            values = o.gather(escapes).to_list()
            decode = [j for j, t in enumerate(values) if t is not None and "\\" in t]
            if decode:
                o = o.scatter(escapes.gather(decode),
                              [orjson.loads(f'"{values[j]}"') for j in decode])
        elif role == "column" and kind == "any":
            o = column_from_values(name, [None if t is None else loads(t) for t in o])
        out.append(o.alias(name))
    if payload:
        parts: list[pl.Expr] = []
        for j, (key, v) in enumerate(payload):
            parts.append(pl.lit(("{" if j == 0 else ",") + orjson.dumps(key).decode() + ":"))
            parts.append(pl.lit(v))
        parts.append(pl.lit("}"))
        out.append(pl.select(pl.concat_str(parts).alias(plan.payload_name)).to_series())
    out.append(sub["_line"].cast(pl.Int64))
    return pl.DataFrame(out, height=sub.height), f.select("line", "_line").filter(~ok)


def _null_if(s: pl.Series, value: str) -> pl.Series:
    return pl.select(pl.when(s == value).then(None).otherwise(s)).to_series().alias(s.name)


# --------------------------------------------------------------------------- the slow path


def _parse_line(text: str, no: int, source: str, last: bool, long: bool = True
                ) -> dict[str, Any]:
    """The line's JSON object (``long``: it may hold integers beyond 64 bits, see
    :func:`~estime.io._text.may_hold_big_integers`)."""
    try:
        obj = loads(text) if long else orjson.loads(text)
    except ValueError as exc:
        hint = (" The last line is incomplete: was the file truncated while being written?"
                if last else "")
        raise LogFormatError(
            f"line {no} of {source}: not valid JSON ({exc}); got {text[:80]!r}.{hint}"
        ) from None
    if not isinstance(obj, dict):
        raise LogFormatError(
            f"line {no} of {source}: expected one JSON object per line, got a JSON "
            f"{_json_kind(obj)} ({text[:60]!r}). A JSON array of events? Write one event per line."
        )
    return obj


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _slow_frame(lines: pl.Series, numbers: list[int], source: str, plan: _Plan,
                last_no: int) -> pl.DataFrame:
    """Parse lines one by one (exact errors with line numbers)."""
    longs = may_hold_big_integers(lines)
    return frame_of_objects(
        (_parse_line(text, no, source, no == last_no, long)
         for text, no, long in zip(lines.to_list(), numbers, longs)),
        numbers, source, plan)


def frame_of_objects(objects: Iterable[Any], numbers: list[int], source: str,
                     plan: _Plan) -> pl.DataFrame:
    """The raw frame of parsed lines (``numbers``: their line numbers), each checked by
    ``plan`` (which must refuse values that are not objects)."""
    with gc_paused():  # many small dicts (see gc_paused)
        rows, keys = _rows_of(objects, numbers, source, plan)
    payload_names = {plan.data_key, plan.meta_key, plan.payload_name}
    series = [pl.Series("_line", numbers, pl.Int64)]
    for k in keys:
        values = [r.get(k) for r in rows]
        if k in payload_names:
            series.append(pl.Series(k, values, pl.String))
        else:
            series.append(column_from_values(k, values))
    return pl.DataFrame(series)


def _rows_of(objects: Iterable[Any], numbers: list[int], source: str, plan: _Plan
             ) -> tuple[list[dict[str, Any]], dict[str, None]]:
    rows: list[dict[str, Any]] = []
    keys: dict[str, None] = {}
    bar = progress(len(numbers), "reading", unit="line") if len(numbers) > 100_000 else None
    for j, (obj, no) in enumerate(zip(objects, numbers)):
        plan.check(obj, no, source)
        row: dict[str, Any] = {}
        payload: dict[str, Any] = {}
        for key, value in obj.items():
            role = plan.role(key)
            if role == "payload":
                payload[key] = value
            elif role == "both":
                payload[key] = row[plan.column_name(key)] = value
            elif role == "meta":
                if value is not None and not isinstance(value, dict):
                    raise LogFormatError(
                        f"line {no} of {source}: field {key!r} (the metadata) must be a JSON "
                        f"object, got a JSON {_json_kind(value)}")
                row[key] = None if value is None else dumps(value)
            elif role == "data":
                row[key] = dumps(value)
            else:
                row[plan.column_name(key)] = value
        if payload:
            row[plan.payload_name] = dumps(payload)
        keys.update(dict.fromkeys(row))
        rows.append(row)
        if bar is not None and j % 65_536 == 65_535:
            bar.update(65_536)
    if bar is not None:
        bar.close()
    return rows, keys


# --------------------------------------------------------------------------- entry point


def tidy_lines(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (columns ``line``, ``_line``) with JSON whitespace stripped from the lines (and
    a UTF-8 BOM from line 1), blank ones dropped."""
    line = pl.col("line").str.strip_chars(" \t\r\n")
    line = pl.when(pl.col("_line") == 1).then(line.str.strip_prefix("\ufeff").str.strip_chars(
        " \t\r\n")).otherwise(line)
    return rows.with_columns(line).filter(pl.col("line").str.len_bytes() > 0)


def _first_object(lines: Iterable[str]) -> tuple[str, Any] | None:
    """The first non-blank line (stripped) and its value, when it is a non-empty JSON
    object (``None`` otherwise, or when the first 16 lines are blank)."""
    for text in islice(lines, 16):
        text = text.strip(" \t\r\n\ufeff")
        if text:
            try:
                first = loads(text)
            except ValueError:
                return None
            return (text, first) if isinstance(first, dict) and first else None
    return None


def frame_from_lines(lines: pl.Series, numbers: pl.Series, source: str,
                     columns: Mapping[str, str], *, unterminated: bool = False,
                     plan: _Plan | None = None) -> pl.DataFrame:
    """The raw frame (source keys as columns, payloads as JSON text, ``_line``) of the lines.

    Lines may carry JSON whitespace and blank lines may be among them (they are skipped).
    ``unterminated``: the file does not end with a newline (a bad last line was probably cut
    short, and the error says so).
    """
    rows = pl.DataFrame({"line": lines, "_line": numbers.cast(pl.Int64)})
    first = _first_object(lines.head(16)) if rows.height >= FAST_MIN_ROWS else None
    if rows.height < BAR_MIN_LINES:
        return _frame(rows.lazy(), first, source, columns, unterminated, plan)
    with progress(rows.height, f"reading {os.path.basename(source)}", unit="line") as bar:
        return _frame(rows.lazy(), first, source, columns, unterminated, plan, bar)


def _max_line(rows: pl.DataFrame) -> int:
    return int(rows["_line"].max() or 0)  # type: ignore[arg-type]


def _frame(rows: pl.LazyFrame, first: tuple[str, Any] | None, source: str,
           columns: Mapping[str, str], unterminated: bool, plan: _Plan | None = None,
           bar: Any = None) -> pl.DataFrame:
    """:func:`frame_from_lines` of lazy ``rows`` (columns ``line``, ``_line`` Int64), read
    with ``first`` (the first line and its value) as the first layout tried, or line by line
    when it is ``None``. ``bar``: a progress bar the first layout pass advances."""
    parts: list[pl.DataFrame] = []
    rest: pl.DataFrame | None = None  # lines left, stripped and without blank ones
    last_no = 0
    for _ in range(MAX_LAYOUTS):
        if rest is not None:
            first = _first_object(rest["line"].head(16)) if rest.height >= FAST_MIN_ROWS else None
        if first is None:
            break
        text, value = first
        if plan is None:
            plan = _Plan(columns, value)
        if not plan.accepts(value):
            break
        spaced = text.startswith("{" + orjson.dumps(next(iter(value))).decode() + ": ")
        frame, others = _layout_pass(rows if rest is None else rest.lazy(), value, spaced, plan,
                                     bar if rest is None else None)
        if rest is None and unterminated:
            last_no = max(_max_line(frame), _max_line(others))
        if frame.height:
            parts.append(frame)
        rest = tidy_lines(others)
        if frame.height < max(1, rest.height // 20):
            break
    if bar is not None:
        bar.close()  # the lines left (few, or a file of no layout) have a bar of their own
    if rest is None:
        everything = rows.collect()
        last_no = _max_line(everything) if unterminated else 0
        rest = tidy_lines(everything)
    if rest.height:
        texts = rest["line"]
        if plan is None:
            try:
                value = loads(texts[0])
            except ValueError:
                value = {}
            plan = _Plan(columns, value if isinstance(value, dict) else {})
        parts.append(_slow_frame(texts, rest["_line"].to_list(), source, plan, last_no))
    if not parts:
        return pl.DataFrame({"_line": pl.Series([], dtype=pl.Int64)})
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts, how="diagonal_relaxed").sort("_line")


def log_from_raw(frame: pl.DataFrame, source: str, columns: Mapping[str, str],
                 duplicates: Duplicates) -> EventLog:
    """An EventLog from a reader's frame whose payload columns (JSON text) the reader
    validated; everything else is checked by :func:`estime._normalize.normalize`."""
    if frame.height == 0:
        for c in ("stream", "type"):
            name = columns.get(c, c)
            if name not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(name))
    time = columns.get("time", "time")
    if time in frame.columns and frame[time].dtype == pl.String:
        parsed = fast_times(frame[time])
        if parsed is not None:
            frame = frame.with_columns(parsed)
    out, dropped = normalize(frame, columns=columns, source=source, duplicates=duplicates,
                             trusted=True)
    log = EventLog._trusted(out, source)
    log.duplicates_dropped = dropped
    return log


def read_jsonl(path: PathLike, *, duplicates: Duplicates = "error", **columns: str) -> EventLog:
    """Read a JSON Lines event log (one JSON object per line; ``.gz`` read transparently).

    Files written by :meth:`EventLog.write_jsonl` need no arguments. For other files, map
    canonical names to the file's keys: ``read_jsonl(p, stream="aggregate_id", type="kind",
    data="payload")``. Without a ``data`` key, the keys that are not canonical become the
    payload, line by line (a key absent from a line is absent from its payload). Payloads keep
    the file's exact JSON text. Blank lines are skipped; a UTF-8 BOM is ignored.

    Raises :class:`~estime.errors.LogFormatError` naming the file and line for a line that is
    not a JSON object, bytes that are not UTF-8, and every validation rule of
    :meth:`EventLog.from_frame`. ``duplicates="drop"`` keeps the first of identical copies.

    >>> import tempfile, pathlib, estime as es
    >>> from estime.io import read_jsonl
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"id": "a", "kind": "Opened", "owner": "ada"}\\n')
    >>> log = read_jsonl(p, stream="id", type="kind")
    >>> log.event(1).data["owner"]
    'ada'
    """
    source = str(path)
    return log_from_raw(_read_frame(path, source, columns), source, columns, duplicates)


def _read_frame(path: PathLike, source: str, columns: Mapping[str, str]) -> pl.DataFrame:
    """The raw frame of a file. Large plain files stream through polars' line scanner into
    the first layout pass (reading and cutting overlap, on every core); small ones are read
    whole first, gzip files decompressed in memory."""
    with open(path, "rb") as fh:
        magic = fh.read(3)
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 1))
        unterminated = size > 0 and fh.read(1) != b"\n"
        fh.seek(0)
        head = [fh.readline().decode("utf-8", "replace") for _ in range(16)]
    gzipped = magic[:2] == b"\x1f\x8b"
    scan = getattr(pl, "scan_lines", None)  # recent polars; read_lines likewise
    read = getattr(pl, "read_lines", None)
    try:
        if not gzipped and scan is not None and size >= 32 * FAST_MIN_ROWS:
            rows = scan(path, row_index_name="_line", row_index_offset=1, glob=False)
            # the bar's total: the lines the file holds if they are as long as its first ones
            expected = size * len(head) // max(1, sum(map(_nbytes, head)))
            with progress(expected, f"reading {os.path.basename(path)}", unit="line") as bar:
                return _frame(rows.with_columns(pl.col("_line").cast(pl.Int64)),
                              _first_object(head), source, columns, unterminated, bar=bar)
        if not gzipped and read is not None:
            lines = read(path, glob=False).to_series()
            numbers = pl.int_range(1, len(lines) + 1, dtype=pl.Int64, eager=True)
            return frame_from_lines(lines, numbers, source, columns, unterminated=unterminated)
    except pl.exceptions.ComputeError:
        check_utf8(read_bytes(path), source)
        raise
    raw = read_bytes(path)
    check_utf8(raw, source)
    lines, numbers = split_lines(raw)
    return frame_from_lines(lines, numbers, source, columns,
                            unterminated=bool(raw) and not raw.endswith(b"\n"))
