"""Structural diffs of JSON-like values, as JSON Pointer paths and JSON Patch.

:func:`diff` compares two nested values (dicts, lists, tuples, read-only mappings, scalars)
and returns a :class:`Diff`: one row per change, addressed by an RFC 6901 JSON Pointer.

>>> d = diff({"a": 1, "b": [1, 2]}, {"a": 2, "b": [1, 2, 3], "c/d": None})
>>> d.summary()
'3 changes: 2 added, 1 replaced'
>>> d.frame.rows()
[('/a', 'replace', '1', '2'), ('/b/2', 'add', None, '3'), ('/c~1d', 'add', None, 'null')]
>>> d.to_json_patch()[0]
{'op': 'replace', 'path': '/a', 'value': 2}

Semantics
---------
* Objects are compared key by key, whatever the key order: a key only in ``after`` is an
  ``add``, one only in ``before`` a ``remove``; the values of a key in both are compared
  recursively, down to a ``replace`` of scalars or of values of different kinds.
* Arrays (lists and tuples alike): the common prefix and suffix are trimmed, the rest is
  aligned on equal elements (difflib's matcher, not a full LCS; by position when that gives
  fewer rows, or for long arrays of few distinct values) and unmatched elements are paired by
  position. So an insertion, removal or move is one or two rows, not one per shifted index.
  An array's rows are its removals (highest index first), additions (lowest first), then the
  changes inside kept elements. Paths follow JSON Patch: each applies to the value as changed
  by the rows above it, so add and replace paths resolve in ``after``.
* A change of kind (object, array, string, number, boolean, null) is a ``replace``. Booleans
  are not numbers: ``True`` → ``1`` is a change, as in JSON.
* Numbers compare by value, as in JSON (which has one number type) and RFC 6902's ``test``:
  ``1`` and ``1.0`` are equal. Pass ``strict_numbers=True`` to report int ↔ float changes.
  Two NaNs are equal.
* Other values (datetimes, sets, ...) compare with ``==``; shown as orjson's JSON or ``str``.

Speed: identical subtrees (``is``) are skipped; subtrees equal by ``==`` are confirmed in bulk
by comparing their orjson encodings (``==`` alone would take ``True`` for ``1``), so only the
changed branches are walked in Python.
"""

from __future__ import annotations

import difflib
import html
import json
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import orjson
import polars as pl

__all__ = ["Diff", "diff", "json_pointer", "resolve", "split_pointer"]


_MISSING: Any = object()  # the absent side of an add (before) or a remove (after)


def _escape(ref: Any) -> str:
    s = ref if type(ref) is str else str(ref)
    if "~" in s or "/" in s:
        return s.replace("~", "~0").replace("/", "~1")
    return s


def json_pointer(parts: Iterable[Any]) -> str:
    """The RFC 6901 JSON Pointer of a path given as keys and indices (``""`` for the root).

    ``~`` is written ``~0`` and ``/`` is written ``~1``; non-string keys are written ``str(key)``.

    >>> json_pointer(["accounts", "a/b", 0, "x~y"])
    '/accounts/a~1b/0/x~0y'
    >>> json_pointer([])
    ''
    """
    return "".join("/" + _escape(p) for p in parts)


def split_pointer(pointer: str) -> list[str]:
    """The unescaped reference tokens of an RFC 6901 JSON Pointer (``[]`` for ``""``).

    >>> split_pointer("/a~1b/0/x~0y/")
    ['a/b', '0', 'x~y', '']
    """
    if pointer == "":
        return []
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise ValueError(
            f"invalid JSON Pointer {pointer!r}: it must be '' (the root) or start with '/'"
        )
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _key_for(mapping: Mapping[Any, Any], ref: str) -> Any:
    if ref in mapping:
        return ref
    for key in mapping:  # non-string keys are addressed by str(key)
        if type(key) is not str and str(key) == ref:
            return key
    return _MISSING


def _index_for(seq: Any, ref: str, pointer: str, *, allow_end: bool = False) -> int:
    if ref == "-" and allow_end:
        return len(seq)
    if not ref.isdigit() or not ref.isascii() or (len(ref) > 1 and ref[0] == "0"):
        raise KeyError(f"JSON Pointer {pointer!r}: {ref!r} is not an array index")
    i = int(ref)
    if i > len(seq) or (i == len(seq) and not allow_end):
        raise KeyError(
            f"JSON Pointer {pointer!r}: index {i} is out of range for an array of {len(seq)}"
        )
    return i


def resolve(value: Any, pointer: str) -> Any:
    """The part of ``value`` that the JSON Pointer ``pointer`` refers to.

    Raises ``KeyError`` naming the pointer when it does not resolve, ``ValueError`` when it is
    not a JSON Pointer.

    >>> resolve({"a/b": [10, {"c": 3}]}, "/a~1b/1/c")
    3
    >>> resolve({"a": 1}, "")
    {'a': 1}
    """
    cur = value
    for ref in split_pointer(pointer):
        if isinstance(cur, Mapping):
            key = _key_for(cur, ref)
            if key is _MISSING:
                raise KeyError(f"JSON Pointer {pointer!r}: no member {ref!r}")
            cur = cur[key]
        elif isinstance(cur, (list, tuple)):
            cur = cur[_index_for(cur, ref, pointer)]
        else:
            raise KeyError(
                f"JSON Pointer {pointer!r}: {ref!r} goes into a {type(cur).__name__}, "
                "which has no members"
            )
    return cur


_OBJ, _ARR, _STR, _NUM, _BOOL, _NULL, _OTHER = range(7)
_KINDS: dict[type, int] = dict.fromkeys((dict, MappingProxyType), _OBJ)
_KINDS.update({list: _ARR, tuple: _ARR, str: _STR, int: _NUM, float: _NUM, bool: _BOOL})
_KINDS[type(None)] = _NULL


def _kind(x: Any) -> int:
    k = _KINDS.get(type(x))
    if k is not None:
        return k
    if isinstance(x, bool):
        return _BOOL
    if isinstance(x, str):
        return _STR
    if isinstance(x, numbers.Real):
        return _NUM
    if isinstance(x, Mapping):
        return _OBJ
    if isinstance(x, (list, tuple)):
        return _ARR
    return _OTHER


def _plain(v: Any) -> Any:
    """A deep copy as plain JSON containers (mappings → dict, tuples → list)."""
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    if t is dict or isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if t is list or isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _verify_default(v: Any) -> Any:
    if isinstance(v, Mapping):
        return dict(v)
    raise TypeError("not JSON")


def _same_text(xs: Sequence[Any], ys: Sequence[Any], *, sort: bool | None = None) -> bool:
    """True when both sequences have the same JSON encoding (False if unencodable): as they
    are or else with sorted keys (``sort=None``), only as they are (False), only sorted (True)."""
    dumps, dflt = orjson.dumps, _verify_default
    try:
        if not sort and dumps(xs, default=dflt) == dumps(ys, default=dflt):
            return True
        opt = orjson.OPT_SORT_KEYS
        return sort is not False and dumps(xs, default=dflt, option=opt) == dumps(
            ys, default=dflt, option=opt
        )
    except (TypeError, RecursionError):
        return False


def _display_default(v: Any) -> Any:
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, (set, frozenset)):
        try:
            return sorted(v)
        except TypeError:
            return list(v)
    return str(v)


def _to_json(v: Any) -> str | None:
    """JSON text of a value for display (None for a missing side)."""
    if v is _MISSING:
        return None
    try:
        return orjson.dumps(v, default=_display_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, RecursionError):  # e.g. an int beyond 64 bits
        return json.dumps(_plain(v), default=_display_default, ensure_ascii=False)


_EXACT: Any = object()  # an own copy that is orjson.loads(text): the text decodes to the value
_Side = tuple[str | None, Any]  # (JSON text or None when absent, own copy or _EXACT)


def _snapshot(v: Any) -> _Side:
    """The JSON text and an own copy of one side of a change, safe from later mutation."""
    if v is _MISSING:
        return None, _MISSING
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return _to_json(v), v  # immutable
    try:
        raw = orjson.dumps(v, default=_verify_default)
        exact = orjson.loads(raw) == v  # False for tuples, datetimes, NaN, ...: copy by hand
    except Exception:
        exact = False
    if exact is True:
        return raw.decode(), _EXACT
    return _to_json(v), _plain(v)


def _copy(side: _Side) -> Any:
    text, own = side
    return orjson.loads(text) if own is _EXACT and text is not None else _plain(own)


def _scalar_equal(a: Any, b: Any, kind: int, strict: bool) -> bool:
    try:
        eq = a == b
    except Exception:
        return False
    if kind == _NUM:
        if eq is True:
            if not strict:
                return True
            if isinstance(a, float) and isinstance(b, float):
                return math.copysign(1.0, a) == math.copysign(1.0, b)  # 0.0 vs -0.0
            return isinstance(a, numbers.Integral) == isinstance(b, numbers.Integral)
        return a != a and b != b  # both NaN
    return eq is True


_Row = tuple[str, str, Any, Any]


def _loose(x: Any, y: Any) -> bool:
    if x is y:
        return True
    try:
        return (x == y) is True
    except Exception:
        return False


def _diff(a: Any, b: Any, path: str, out: list[_Row], strict: bool) -> None:
    if a is b:
        return
    ka = _kind(a)
    if ka != _kind(b):
        out.append((path, "replace", a, b))
    elif ka == _OBJ:
        _diff_obj(a, b, path, out, strict)
    elif ka == _ARR:
        _diff_arr(a, b, path, out, strict)
    elif not _scalar_equal(a, b, ka, strict):
        out.append((path, "replace", a, b))


def _suspects(a: Any, b: Any, keys: list[Any]) -> list[Any]:
    """The keys (or indices) among ``keys`` whose values may differ although ``==`` said equal:
    split the candidates 16 ways until their encodings match (about 2 encodings of the values
    in all when few differ)."""
    if _same_text([a[k] for k in keys], [b[k] for k in keys]):
        return []
    found: list[Any] = []
    stack = [keys]
    while stack:
        ks = stack.pop()
        if len(ks) <= 4:
            found.extend(ks)
            continue
        step = -(-len(ks) // 16)
        chunks = [ks[i : i + step] for i in range(0, len(ks), step)]
        for chunk in reversed(chunks):
            if not _same_text([a[k] for k in chunk], [b[k] for k in chunk], sort=True):
                stack.append(chunk)
    return found


def _diff_obj(a: Any, b: Any, path: str, out: list[_Row], strict: bool) -> None:
    cands: list[Any] = []
    spots: list[int] = []  # where each candidate's rows belong, to keep the key order
    removed = 0
    get = b.get
    for k, va in a.items():
        vb = get(k, _MISSING)
        if vb is va:
            continue
        if vb is _MISSING:
            out.append((path + "/" + _escape(k), "remove", va, _MISSING))
            removed += 1
            continue
        t = type(va)
        if t is type(vb):
            if t is str or t is int or t is bool:
                if va != vb:
                    out.append((path + "/" + _escape(k), "replace", va, vb))
                continue
            if t is float:
                if va != vb and (va == va or vb == vb):
                    out.append((path + "/" + _escape(k), "replace", va, vb))
                continue
        try:
            eq = va == vb
        except Exception:
            eq = False
        if eq is True:
            cands.append(k)
            spots.append(len(out))
        else:
            _diff(va, vb, path + "/" + _escape(k), out, strict)
    if cands:
        suspects = set(_suspects(a, b, cands))
        if suspects:
            inserts: list[tuple[int, list[_Row]]] = []
            for k, spot in zip(cands, spots):
                if k in suspects:
                    rows: list[_Row] = []
                    _diff(a[k], b[k], path + "/" + _escape(k), rows, strict)
                    if rows:
                        inserts.append((spot, rows))
            for spot, rows in reversed(inserts):
                out[spot:spot] = rows
    if len(b) > len(a) - removed:
        for k, vb in b.items():
            if k not in a:
                out.append((path + "/" + _escape(k), "add", _MISSING, vb))


def _diff_arr(a: Any, b: Any, path: str, out: list[_Row], strict: bool) -> None:
    n, m = len(a), len(b)
    lo = min(n, m)
    p = 0
    while p < lo and _loose(a[p], b[p]):
        p += 1
    # the trimmed elements were equal by ==, which takes True for 1: confirm, else trim less
    if p and not _same_text(a[:p], b[:p]):
        p = min(_suspects(a, b, list(range(p))), default=p)
    s = 0
    while s < lo - p and _loose(a[n - 1 - s], b[m - 1 - s]):
        s += 1
    if s:
        sa, sb = a[n - s :], b[m - s :]
        if not _same_text(sa, sb):
            s -= 1 + max(_suspects(sa, sb, list(range(s))), default=-1)
    blocks = [("replace", p, n - s, p, m - s)]
    if n - s - p and m - s - p and n + m - 2 * (s + p) > 2:  # align the middles
        fa = [_fingerprint(x, strict) for x in a[p : n - s]]
        fb = [_fingerprint(y, strict) for y in b[p : m - s]]
        # matching is slow on long, very repetitive arrays: pair those by position
        slow = len(fb) > 2000 and len(set(fb)) * 4 < len(fb)
        ops = [] if slow else difflib.SequenceMatcher(None, fa, fb).get_opcodes()
        # keep the alignment unless pairing by position needs fewer rows (e.g. a reversal)
        rows = sum(max(i2 - i1, j2 - j1) for t, i1, i2, j1, j2 in ops if t != "equal")
        if ops and rows <= abs(len(fa) - len(fb)) + sum(x != y for x, y in zip(fa, fb)):
            blocks = [(t, i1 + p, i2 + p, j1 + p, j2 + p) for t, i1, i2, j1, j2 in ops]
    removes: list[int] = []
    adds: list[int] = []
    pairs: list[tuple[int, int]] = []
    for tag, i1, i2, j1, j2 in blocks:
        k = min(i2 - i1, j2 - j1)
        if tag == "equal":  # same fingerprint: equal unless == disagrees (e.g. NaN vs None)
            pairs.extend(
                (i, j) for i, j in zip(range(i1, i2), range(j1, j2)) if not _loose(a[i], b[j])
            )
        else:
            pairs.extend(zip(range(i1, i1 + k), range(j1, j1 + k)))
        removes.extend(range(i1 + k, i2))
        adds.extend(range(j1 + k, j2))
    # removals from the highest index down, then additions from the lowest up, then the changes
    # inside kept elements, which are now at their places in ``after``
    for i in reversed(removes):
        out.append((f"{path}/{i}", "remove", a[i], _MISSING))
    for j in adds:
        out.append((f"{path}/{j}", "add", _MISSING, b[j]))
    for i, j in pairs:
        _diff(a[i], b[j], f"{path}/{j}", out, strict)


def _fingerprint(x: Any, strict: bool) -> Any:
    """A hashable key, equal for strictly equal values (an alignment hint, checked after)."""
    k = _kind(x)
    if k == _NUM:
        if not strict:
            return (k, None, x)
        sign = math.copysign(1.0, x) if isinstance(x, float) else 1.0
        return (k, isinstance(x, numbers.Integral), sign, x)
    if k in (_STR, _BOOL, _NULL):
        return (k, x)
    try:
        return orjson.dumps(x, default=_verify_default, option=orjson.OPT_SORT_KEYS)
    except (TypeError, RecursionError):
        return ("id", id(x))


def diff(before: Any, after: Any, *, strict_numbers: bool = False) -> Diff:
    """The changes that turn ``before`` into ``after``, as a :class:`Diff`.

    ``before`` and ``after`` are JSON-like values: dicts and other mappings, lists and tuples,
    strings, numbers, booleans, None. Numbers compare by value (``1 == 1.0``) unless
    ``strict_numbers=True``; a boolean never equals a number. See the module docstring for the
    exact rules.

    >>> diff({"x": 1, "tags": ["a", "b"]}, {"x": 1.0, "tags": ["b"]}).frame.rows()
    [('/tags/0', 'remove', '"a"', None)]
    >>> diff({"x": 1}, {"x": 1.0}, strict_numbers=True).frame.rows()
    [('/x', 'replace', '1', '1.0')]
    >>> diff({"ok": True}, {"ok": 1}).summary()
    '1 change: 1 replaced'
    >>> bool(diff([1, {"a": None}], [1, {"a": None}]))
    False
    """
    out: list[_Row] = []
    if not (_loose(before, after) and _same_text([before], [after], sort=False)):
        _diff(before, after, "", out, strict_numbers)
    return Diff._from_rows(out)


_OP_WORDS = {"add": "added", "remove": "removed", "replace": "replaced"}
_OP_SIGNS = {"add": "+", "remove": "-", "replace": "~"}
_OP_COLORS = {"add": "#e6ffec", "remove": "#ffebe9", "replace": "#fff8c5"}
_SCHEMA = dict.fromkeys(("path", "op", "before", "after"), pl.String)
_HTML_ROWS = 200
_HTML_CELL = 300
_REPR_ROWS = 12
_REPR_CELL = 60


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Diff:
    """The changes between two JSON-like values, made by :func:`diff`; immutable.

    ``len(d)`` is the number of changes, ``bool(d)`` whether there is any.

    >>> d = diff({"n": 1, "old": True}, {"n": 2})
    >>> len(d), bool(d)
    (2, True)
    >>> d
    Diff(2 changes: 1 removed, 1 replaced)
      ~ /n: 1 → 2
      - /old: true
    """

    __slots__ = ("_frame", "_rows")
    _rows: tuple[tuple[str, str, _Side, _Side], ...]
    _frame: pl.DataFrame | None

    def __init__(self) -> None:
        raise TypeError("Diff objects are made by estime.diff(before, after)")

    @classmethod
    def _from_rows(cls, rows: Iterable[_Row]) -> Diff:
        self = object.__new__(cls)
        # own copies: later mutation of the compared states cannot change the diff
        self._rows = tuple((p, op, _snapshot(b), _snapshot(a)) for p, op, b, a in rows)
        self._frame = None
        return self

    def __len__(self) -> int:
        return len(self._rows)

    def __bool__(self) -> bool:
        return bool(self._rows)

    @property
    def frame(self) -> pl.DataFrame:
        """The changes as a polars DataFrame: path, op, before, after (JSON text; null = absent).

        >>> diff([1, 2], [1]).frame.to_dicts()
        [{'path': '/1', 'op': 'remove', 'before': '2', 'after': None}]
        """
        if self._frame is None:
            rows = [(p, op, b[0], a[0]) for p, op, b, a in self._rows]
            self._frame = pl.DataFrame(rows, schema=_SCHEMA, orient="row")
        return self._frame

    def to_json_patch(self) -> list[dict[str, Any]]:
        """The changes as an RFC 6902 JSON Patch (a new list of plain dicts).

        Applying it in order to ``before`` with any conforming library gives ``after``.

        >>> diff({"a": [1, 2, 3]}, {"a": [1, 3], "b": {}}).to_json_patch()
        [{'op': 'remove', 'path': '/a/1'}, {'op': 'add', 'path': '/b', 'value': {}}]
        """
        patch: list[dict[str, Any]] = []
        for path, op, _, a in self._rows:
            if op == "remove":
                patch.append({"op": "remove", "path": path})
            else:
                patch.append({"op": op, "path": path, "value": _copy(a)})
        return patch

    def summary(self) -> str:
        """A one-line account of the changes, e.g. ``'3 changes: 1 added, 2 replaced'``.

        >>> diff({"a": 1}, {"a": 1}).summary()
        'no changes'
        """
        n = len(self._rows)
        if not n:
            return "no changes"
        counts = {op: 0 for op in _OP_WORDS}
        for row in self._rows:
            counts[row[1]] += 1
        parts = [f"{c} {_OP_WORDS[op]}" for op, c in counts.items() if c]
        return f"{n} change{'s' if n != 1 else ''}: " + ", ".join(parts)

    def apply(self, value: Any) -> Any:
        """A new value: ``value`` (which is not modified) with the changes applied.

        ``diff(a, b).apply(a) == b`` (as plain dicts and lists). Raises ``ValueError`` naming
        the change when ``value`` does not have the shape the diff was computed from.

        >>> d = diff({"a": [1, 2]}, {"a": [0, 1, 2]})
        >>> d.apply({"a": [1, 2]})
        {'a': [0, 1, 2]}
        """
        doc = _plain(value)
        for path, op, _, a in self._rows:
            try:
                doc = _apply_one(doc, op, path, _MISSING if op == "remove" else _copy(a))
            except (KeyError, ValueError) as exc:
                reason = exc.args[0] if exc.args else exc
                raise ValueError(
                    f"cannot apply change {op} {path!r}: {reason}; the value does not have "
                    "the shape of the one the diff was computed from"
                ) from None
        return doc

    def __repr__(self) -> str:
        lines = [f"Diff({self.summary()})"]
        for path, op, b, a in self._rows[:_REPR_ROWS]:
            shown = path or "(root)"
            sides = (b, a) if op == "replace" else (b,) if op == "remove" else (a,)
            text = " → ".join(_short(v[0] or "", _REPR_CELL) for v in sides)
            lines.append(f"  {_OP_SIGNS[op]} {_short(shown, _REPR_CELL)}: {text}")
        if len(self._rows) > _REPR_ROWS:
            lines.append(f"  … {len(self._rows) - _REPR_ROWS} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = f'<div style="margin-bottom:4px"><b>Diff</b>: {esc(self.summary())}</div>'
        if not self._rows:
            return f'<div class="estime-diff">{head}</div>'
        td = 'style="padding:1px 8px;text-align:left;vertical-align:top;white-space:pre-wrap"'
        body = []
        for path, op, b, a in self._rows[:_HTML_ROWS]:
            cells = [
                esc(_short(path, _HTML_CELL)) if path else "<i>(root)</i>",
                esc(op),
                esc(_short(b[0] or "", _HTML_CELL)),
                esc(_short(a[0] or "", _HTML_CELL)),
            ]
            body.append(
                f'<tr style="background:{_OP_COLORS[op]};color:#1f2328">'
                + "".join(f"<td {td}>{c}</td>" for c in cells)
                + "</tr>"
            )
        more = len(self._rows) - _HTML_ROWS
        tail = f'<div style="margin-top:4px">… {more} more</div>' if more > 0 else ""
        header = "".join(f"<th {td}>{h}</th>" for h in ("path", "op", "before", "after"))
        return (
            f'<div class="estime-diff">{head}'
            '<table style="border-collapse:collapse;font-family:monospace;font-size:12px">'
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}</div>"
        )


def _apply_one(doc: Any, op: str, path: str, value: Any) -> Any:
    if path == "":
        if op == "remove":
            raise KeyError("the root cannot be removed")
        return value
    *parents, last = split_pointer(path)
    parent = resolve(doc, json_pointer(parents))
    if isinstance(parent, dict):
        key = _key_for(parent, last)
        if op == "add":
            parent[last if key is _MISSING else key] = value
        elif key is _MISSING:
            raise KeyError(f"no member {last!r}")
        elif op == "remove":
            del parent[key]
        else:
            parent[key] = value
    elif isinstance(parent, list):
        i = _index_for(parent, last, path, allow_end=op == "add")
        if op == "add":
            parent.insert(i, value)
        elif op == "remove":
            del parent[i]
        else:
            parent[i] = value
    else:
        raise KeyError(f"the parent is a {type(parent).__name__}, which has no members")
    return doc
