"""Decode the ``eventsourcing`` library's JSON states column-wise with numpy.

The fast path of :func:`estime.io.eventsourcing.read_eventsourcing`. A state written by the
library's ``JSONTranscoder`` has an exact byte form::

    {"timestamp":{"_type_":"datetime_iso","_data_":"<iso>"},<fields>,"class_version":N}

with ``class_version`` only when it is above 1, and values the transcoder cannot write as plain
JSON wrapped as ``{"_type_":"<name>","_data_":"<text>"}``. :func:`decode` turns many states at
once into estime's columns with array operations over their bytes (no per-row Python): data
(the fields, wrappers replaced by plain values: a decimal by its number, or by its text with
``decimals="str"``; a datetime by its ISO text; a UUID by its dashed text), time and
schema_version.

A row it is not sure of is marked *slow* and left to the caller's general decoder: another
layout, other or nested wrappers, control characters, a timestamp in another form, a decimal
that is not a plain JSON number. The JSON it produces is checked before it is accepted: flat
objects (strings without escapes, numbers, booleans, nulls) with array operations, anything
else by orjson; integers of 19 digits or more (possibly beyond 64 bits) and JSON that orjson
refuses (NaN) make a row slow.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from estime.io._sqlite import binary_views

__all__ = ["Decoded", "decode", "decode_state", "hex_uuid", "json_text", "parse_state",
           "time_of", "unwrap"]

Decimals = Literal["float", "str"]

_PAD = 128  # zero bytes after a chunk's states: fixed-size reads never leave the buffer
_CHUNK = 32768  # rows per chunk: the arrays of a chunk stay in the processor's cache
_PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
_TS_TYPE_AT = 14  # where the timestamp wrapper's '"_type_"' is
_CV = b',"class_version":'
_DEC = b'{"_type_":"decimal_str","_data_":"'
_DT = b'{"_type_":"datetime_iso","_data_":"'
_UUID = b'{"_type_":"uuid_hex","_data_":"'
_MIN_STATE = len(_PREFIX) + 19 + 3  # the prefix, a time without fraction, '"}' and '}'
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_UTC = pl.Datetime("us", "UTC")


class Decoded(NamedTuple):
    """The columns of :func:`decode` (a slow row: data and time null, schema_version 1)."""

    data: pl.Series
    time: pl.Series
    schema_version: np.ndarray
    slow: np.ndarray


# ------------------------------------------------------------------- the general decoder

def _nonfinite(text: str) -> str:
    return text  # NaN, Infinity, -Infinity: kept as text (JSON has no such numbers)


_I64, _U64 = -(2**63), 2**64


_LONG_INT = re.compile(rb"[:,\[]\s*-?[0-9]{19,}\s*[,}\]]")


def parse_state(state: bytes) -> Any:
    """The JSON value of a state (NaN, Infinity and integers beyond 64 bits included)."""
    # json (the library's own codec) also writes NaN/Infinity and integers beyond 64 bits,
    # which orjson refuses or reads as floats: those states are parsed by json.
    if _LONG_INT.search(state) is None:
        try:
            return orjson.loads(state)
        except orjson.JSONDecodeError:
            pass
    return json.loads(state.decode("utf-8"), parse_constant=_nonfinite)


def hex_uuid(h: str) -> str:
    """A UUID's 32 hex digits with its dashes."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _decimal(text: Any, decimals: Decimals) -> Any:
    if decimals == "str" or not isinstance(text, str):
        return text
    try:
        f = float(text)
    except ValueError:
        return text
    return f if math.isfinite(f) else text


def unwrap(value: Any, decimals: Decimals) -> Any:
    """Plain JSON for a decoded state: ``{"_type_", "_data_"}`` wrappers turned into values."""
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            name, data = value["_type_"], unwrap(value["_data_"], decimals)
            if name == "uuid_hex" and isinstance(data, str) and len(data) == 32:
                return hex_uuid(data)
            if name == "decimal_str":
                return _decimal(data, decimals)
            if name in ("datetime_iso", "date_iso", "time_iso", "tuple_as_list", "uuid_str"):
                return data
            return {"_type_": name, "_data_": data}
        return {k: unwrap(v, decimals) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v, decimals) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and not isinstance(value, bool) and not _I64 <= value < _U64:
        return str(value)  # beyond what JSON tools (orjson) read back as a number
    return value


def json_text(value: Any) -> str:
    """Compact JSON text (integers beyond 64 bits included)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def time_of(value: Any) -> datetime | None:
    """The UTC time of an ISO 8601 text (no offset: UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or beyond year 1-9999 in UTC
        return None


def decode_state(state: bytes, decimals: Decimals) -> tuple[dict[str, Any], datetime | None, int]:
    """(data, time, class_version) of one stored state (the slow, general path)."""
    obj = parse_state(state)
    if not isinstance(obj, dict):
        raise ValueError(f"a state is a JSON object, got {type(obj).__name__}")
    version = obj.pop("class_version", 1)
    data = unwrap(obj, decimals)
    time = time_of(data.get("timestamp"))
    if time is not None:  # an unreadable timestamp stays in the data
        del data["timestamp"]
    return data, time, version if isinstance(version, int) else 1


# ------------------------------------------------------------------------------ bytes


def _u64(buf: np.ndarray) -> np.ndarray:
    """Little-endian 64-bit words at every byte offset of ``buf`` (an unaligned view)."""
    return np.ndarray((len(buf) - 7,), "<u8", buf, 0, (1,))


def _word(lit: bytes) -> np.uint64:
    return np.uint64(int.from_bytes(lit.ljust(8, b"\0")[:8], "little"))


def _has(w64: np.ndarray, pos: np.ndarray, lit: bytes) -> np.ndarray:
    """Whether the bytes ``lit`` (8 or more) are at each position."""
    ok = w64[pos + len(lit) - 8] == _word(lit[-8:])
    for k in range(0, len(lit) - 8, 8):
        ok &= w64[pos + k] == _word(lit[k:k + 8])
    return ok


def _block(w64: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes (a multiple of 8) at each position, as an (n, width) array."""
    words = np.empty((len(pos), width // 8), "<u8")
    for k in range(width // 8):
        words[:, k] = w64[pos + 8 * k]
    return words.view(np.uint8).reshape(len(pos), width)


# -------------------------------------------------------------------------------- times

_DIGITS_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_SEPARATORS_AT = [4, 7, 10, 13, 16]
_SEPARATORS = np.frombuffer(b"--T::", np.uint8)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def _times(w64: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, µs since the epoch in UTC, length) of ``datetime.isoformat()`` texts at ``p``:
    ``YYYY-MM-DDTHH:MM:SS[.ffffff][±HH:MM]`` (no offset: UTC), years 2 to 9998."""
    b = _block(w64, p, 32)
    d = b - np.uint8(48)
    isd = d < 10
    ok = isd[:, _DIGITS_AT].all(axis=1) & (b[:, _SEPARATORS_AT] == _SEPARATORS).all(axis=1)
    frac = b[:, 19] == 46
    ok &= ~frac | isd[:, 20:26].all(axis=1)
    at = np.where(frac, 26, 19)
    rows = np.arange(len(p))
    sign = b[rows, at]
    has_off = (sign == 43) | (sign == 45)
    oh = d[rows, at + 1].astype(np.int64) * 10 + d[rows, at + 2]
    om = d[rows, at + 4].astype(np.int64) * 10 + d[rows, at + 5]
    ok &= ~has_off | (isd[rows, at + 1] & isd[rows, at + 2] & (b[rows, at + 3] == 58)
                      & isd[rows, at + 4] & isd[rows, at + 5] & (oh <= 23) & (om <= 59))

    def num(a: int, z: int) -> np.ndarray:
        out = d[:, a].astype(np.int64)
        for k in range(a + 1, z):
            out *= 10
            out += d[:, k]
        return out

    y, mo, day, hh, mi, ss = num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19)
    us = np.where(frac, num(20, 26), 0)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = _DAYS_IN_MONTH[np.clip(mo, 0, 12)] + (leap & (mo == 2))
    ok &= (y >= 2) & (y <= 9998) & (mo >= 1) & (mo <= 12) & (day >= 1) & (day <= dim)
    ok &= (hh <= 23) & (mi <= 59) & (ss <= 59)
    off = np.where(has_off, (oh * 60 + om) * np.where(sign == 45, -1, 1), 0)
    yy = y - (mo <= 2)  # days since 1970-01-01 (H. Hinnant's days_from_civil)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    micros = (((days * 24 + hh) * 60 + mi) * 60 + ss - off * 60) * 1_000_000 + us
    return ok, micros, at + 6 * has_off


# ----------------------------------------------------------------------------- wrappers

# Where a wrapper's value stops: its closing '"', or a byte it may not contain (comparisons:
# faster than byte tables in numpy).


def _stop_number(b: np.ndarray) -> np.ndarray:
    digit = (b >= 48) & (b <= 57)
    return ~(digit | (b == 43) | (b == 45) | (b == 46) | ((b | np.uint8(0x20)) == 101))


def _stop_integral(b: np.ndarray) -> np.ndarray:
    return (b == 34) | (b == 46) | ((b | np.uint8(0x20)) == 101)


def _stop_plain(b: np.ndarray) -> np.ndarray:
    return (b == 34) | (b == 92) | (b < 32)  # escapes and controls: left to the slow path


def _stop_hex(b: np.ndarray) -> np.ndarray:
    return ~(((b >= 48) & (b <= 57)) | ((b >= 97) & (b <= 102)))


class _Wrappers(NamedTuple):
    ok: np.ndarray  # a known wrapper of a plain value
    end: np.ndarray  # the position after its '}'
    keep_from: np.ndarray  # its replacement: the bytes [keep_from, keep_to) after the edits
    keep_to: np.ndarray
    dot_at: np.ndarray  # where '.0' goes (an integral decimal as a float), else -1
    uuid: np.ndarray  # a UUID: its dashed text goes over the wrapper's start


def _value(block: np.ndarray, stops: Callable[[np.ndarray], np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray]:
    """(ok, length) of the string values in ``block``: ok when the first byte where
    ``stops`` holds in a row is its closing '"' (else length is meaningless)."""
    length = stops(block).argmax(axis=1)
    return block[np.arange(len(block)), length] == 34, length


def _wrappers(buf: np.ndarray, w64: np.ndarray, at: np.ndarray, decimals: Decimals) -> _Wrappers:
    """Classify the wrappers whose '{' is at ``at`` and plan their replacements."""
    m = len(at)
    name = w64[at + 11]
    ok = np.zeros(m, bool)
    end = np.zeros(m, np.int64)
    keep_from = np.zeros(m, np.int64)
    keep_to = np.zeros(m, np.int64)
    dot_at = np.full(m, -1, np.int64)
    uuid = np.zeros(m, bool)
    for lit, width in ((_DEC, 24), (_DT, 40), (_UUID, 40)):
        sel = np.flatnonzero(name == _word(lit[11:19]))
        sel = sel[_has(w64, at[sel], lit)]
        v0 = at[sel] + len(lit)
        block = _block(w64, v0, width)
        if lit is _UUID:
            good, vlen = _value(block, _stop_hex)
            good &= vlen == 32
            keep_from[sel], keep_to[sel] = at[sel], at[sel] + 38
            uuid[sel] = good
        elif lit is _DEC and decimals == "float":
            # a JSON number (checked with the JSON it ends up in); integral ones get '.0'
            good, vlen = _value(block, _stop_number)
            good &= vlen >= 1
            integral = _stop_integral(block).argmax(axis=1) == vlen
            keep_from[sel] = v0
            keep_to[sel] = v0 + vlen + 2 * integral
            dot_at[sel] = np.where(integral & good, v0 + vlen, -1)
        else:
            good, vlen = _value(block, _stop_plain)
            keep_from[sel], keep_to[sel] = v0 - 1, v0 + vlen + 1
        good &= buf[v0 + vlen + 1] == 125  # '"}' closes the wrapper
        end[sel] = v0 + vlen + 2
        ok[sel] = good
    return _Wrappers(ok, end, keep_from, keep_to, dot_at, uuid)


def _edit(buf: np.ndarray, w: _Wrappers, at: np.ndarray, sel: np.ndarray) -> None:
    """Write the replacements of the wrappers ``sel`` that are not plain slices: '.0' after
    integral decimals, the dashed text of UUIDs over the wrapper's first 38 bytes."""
    dots = w.dot_at[sel]
    dots = dots[dots >= 0]
    buf[dots] = ord(".")
    buf[dots + 1] = ord("0")
    uu = sel[w.uuid[sel]]
    if len(uu):
        v0 = at[uu] + len(_UUID)
        h = buf[v0[:, None] + np.arange(32)[None, :]]
        text = np.full((len(uu), 38), ord("-"), np.uint8)
        text[:, 0] = text[:, 37] = 34
        for dst, src, size in ((1, 0, 8), (10, 8, 4), (15, 12, 4), (20, 16, 4), (25, 20, 12)):
            text[:, dst:dst + size] = h[:, src:src + size]
        buf[at[uu][:, None] + np.arange(38)[None, :]] = text


# --------------------------------------------------------------------------- validation

# Segments between strings: 0 '{' (a row's first), 1 ':' (a value string follows), 2 ',',
# 3 ':' scalar ',', 4 '}' (a row's last), 5 ':' scalar '}' (a row's last), 6 anything else.
_AFTER_KEY = np.array([0, 1, 0, 1, 0, 1, 0], bool)  # may follow a key
_AFTER_VALUE = np.array([0, 0, 1, 0, 1, 0, 0], bool)  # may follow a value
_KEY_NEXT = np.array([1, 0, 1, 1, 0, 0, 0], bool)  # the string after it is a key


# true, false, null, an integer of at most 18 digits, a number with a fraction or an exponent
# (of at most 2 digits): JSON values orjson and the slow path read alike.
_SCALAR = (r"^(?:true|false|null|-?(?:0|[1-9][0-9]{0,17})|-?(?:0|[1-9][0-9]*)"
           r"(?:\.[0-9]+(?:[eE][+-]?[0-9]{1,2})?|[eE][+-]?[0-9]{1,2}))$")
# a decimal's text that is a JSON number (integral ones get '.0')


def _matches(k: np.ndarray, at: np.ndarray, length: np.ndarray, pattern: str) -> np.ndarray:
    """Whether the ASCII texts ``k[at:at+length]`` match the regular expression."""
    if not len(at):
        return np.zeros(0, bool)
    texts = binary_views(k, at, length).cast(pl.String, strict=False)
    return texts.str.contains(pattern).fill_null(False).to_numpy()


class _Flat(NamedTuple):
    ok: np.ndarray  # per row: a flat object
    value_from: np.ndarray  # the values of its members (strings with their quotes and
    value_to: np.ndarray  # scalars), as sorted ranges of positions in the text


def _flat(k: np.ndarray, offs: np.ndarray) -> _Flat:
    """Which rows ``k[offs[i]:offs[i+1]]`` are flat JSON objects: ``{}`` or ``{"k":v,...}``
    with strings without escapes or control characters, numbers (see :data:`_SCALAR`), true,
    false and null, and no blanks; and where their members' values are. ``k`` has 40 bytes
    to spare after the last row.

    Every byte is in a string or in the segment between two strings; a segment's form (':',
    ',', ':' scalar ',', ...) says whether the next string is a key or a value, so each
    string is checked against the segments on its two sides, without following the rows."""
    n = len(offs) - 1
    starts, ends = offs[:-1], offs[1:]
    lo, hi = int(offs[0]), int(offs[-1])
    text = k[lo:hi]
    ok = (ends - starts >= 2) & (k[starts] == 123) & (k[np.maximum(ends - 1, 0)] == 125)
    special = (text < 32) | (text == 92)  # controls and escapes: rows left to orjson
    ok[np.searchsorted(ends, np.flatnonzero(special) + lo, side="right")] = False
    quotes = np.flatnonzero(text == 34) + lo
    first = np.searchsorted(quotes, starts)
    count = np.searchsorted(quotes, ends) - first
    ok &= count % 2 == 0
    ok &= (count > 0) | (ends - starts == 2)
    row = np.repeat(np.arange(n), count)
    role = np.arange(len(quotes)) - first[row]
    paired = role < count[row] - count[row] % 2
    opening = paired & (role % 2 == 0)
    open_, close = quotes[opening], quotes[paired & (role % 2 == 1)]
    srow = row[opening]
    m = len(open_)
    if not m:
        return _Flat(ok, np.zeros(0, np.int64), np.zeros(0, np.int64))
    # the segment after each string: up to the next string of its row, or to the row's end
    last = np.append(srow[1:] != srow[:-1], True)
    seg_end = np.where(last, ends[srow], np.append(open_[1:], 0))  # exclusive
    a, z = close + 1, seg_end
    size = z - a
    f = k[a]
    g = k[np.maximum(z - 1, 0)]
    kind = np.full(m, 6, np.int64)
    one = size == 1
    kind[one & (f == 58) & ~last] = 1
    kind[one & (f == 44) & ~last] = 2
    kind[one & (f == 125) & last] = 4
    long = (size >= 3) & (f == 58) & (size - 2 <= 32)
    mid = long & (g == 44) & ~last
    end = long & (g == 125) & last
    cand = np.flatnonzero(mid | end)
    good = _matches(k, a[cand] + 1, size[cand] - 2, _SCALAR)
    kind[cand[good & mid[cand]]] = 3
    kind[cand[good & end[cand]]] = 5
    # the segment before each string: the previous one of its row, or the row's '{'
    first_s = np.append(True, srow[1:] != srow[:-1])
    before = np.where(first_s, 0, np.append(0, kind[:-1]))
    ok[srow[first_s & (open_ != starts[srow] + 1)]] = False
    key = _KEY_NEXT[before]
    fine = np.where(key, _AFTER_KEY[kind], _AFTER_VALUE[kind]) & (before != 6)
    ok[srow[~fine]] = False
    scalars = cand[good]
    value_from = np.concatenate([open_[~key], a[scalars] + 1])
    value_to = np.concatenate([close[~key] + 1, z[scalars] - 1])
    order = np.argsort(value_from, kind="stable")
    return _Flat(ok, value_from[order], value_to[order])


def _valid(k: np.ndarray, offs: np.ndarray, rep_row: np.ndarray, rep_from: np.ndarray,
           rep_to: np.ndarray) -> np.ndarray:
    """Which rows ``k[offs[i]:offs[i+1]]`` are JSON objects to take as they are.

    Row ``rep_row[j]`` has the replacement of a wrapper at ``[rep_from[j], rep_to[j])``.
    The input was valid JSON if the output is and each replacement is a whole member value
    (replacing a value by an object keeps JSON valid; but a wrapper in a string or as a key,
    or touching a number, could make invalid input look valid). Flat objects are checked by
    :func:`_flat`, which locates their values; other objects are parsed by orjson, and taken
    only without replacements (no control characters either: those rows are re-encoded on
    the slow path)."""
    flat = _flat(k, offs)
    ok = flat.ok
    whole = np.zeros(len(rep_from), bool)
    if len(rep_from) and len(flat.value_from):
        at = np.minimum(np.searchsorted(flat.value_from, rep_from), len(flat.value_from) - 1)
        whole = (flat.value_from[at] == rep_from) & (flat.value_to[at] == rep_to)
    replaced = np.zeros(len(ok), bool)
    replaced[rep_row] = True
    complex_rows = np.flatnonzero(~ok & ~replaced)
    ok[rep_row[~whole]] = False
    for i in complex_rows.tolist():
        text = k[offs[i]:offs[i + 1]].tobytes()
        if _LONG_DIGITS.search(text) is not None or re.search(rb"[\x00-\x1f]", text):
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        ok[i] = isinstance(value, dict)
    return ok


# --------------------------------------------------------------------------------- main


def _buffer(states: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(bytes with padding, offsets) of a String series without nulls."""
    arr = states.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, off_buf, data_buf = arr.buffers()
    offs = np.frombuffer(off_buf, np.int64)[arr.offset:arr.offset + len(arr) + 1]
    lo, hi = int(offs[0]), int(offs[-1])
    buf = np.zeros(hi - lo + _PAD, np.uint8)
    if hi > lo:
        buf[:hi - lo] = np.frombuffer(data_buf, np.uint8)[lo:hi]
    return buf, offs - lo


def _decode_chunk(states: pl.Series, decimals: Decimals) -> Decoded:
    n = len(states)
    buf, offs = _buffer(states)
    total = int(offs[-1])
    w64 = _u64(buf)
    start, end = offs[:-1], offs[1:]
    # ---- candidates: the timestamp member first, no control characters
    cand = states.str.starts_with(_PREFIX.decode()).to_numpy() & (end - start >= _MIN_STATE)
    cand[np.searchsorted(end, np.flatnonzero(buf[:total] < 32), side="right")] = False
    cand_rows = np.flatnonzero(cand)
    s, e = start[cand_rows], end[cand_rows]
    ok, micros, tlen = _times(w64, s + len(_PREFIX))
    q = s + len(_PREFIX) + tlen + 2  # after the timestamp's '"}'
    ok &= (q < e) & (buf[q - 2] == 34) & (buf[q - 1] == 125) & (buf[e - 1] == 125)
    # ---- ',"class_version":N}' at the end
    cv = np.ones(len(s), np.int64)
    cv_at = e - 1
    last_digit = buf[e - 2] - np.uint8(48)
    maybe = np.flatnonzero(last_digit < 10)
    if len(maybe):
        me = e[maybe]
        digits = np.zeros(len(maybe), np.int64)
        value = np.zeros(len(maybe), np.int64)
        running = np.ones(len(maybe), bool)
        for j in range(1, 10):
            c = buf[me - 1 - j].astype(np.int64) - 48
            running &= (c >= 0) & (c <= 9)
            digits += running
        for j in range(9, 0, -1):
            c = buf[me - 1 - j].astype(np.int64) - 48
            value = np.where(digits >= j, value * 10 + c, value)
        at = me - 1 - digits - len(_CV)
        found = (digits >= 1) & (at >= q[maybe]) & _has(w64, np.maximum(at, 0), _CV)
        found &= (digits == 1) | (buf[me - 1 - digits] != 48)
        cv[maybe[found]] = value[found]
        cv_at[maybe[found]] = at[found]
    has_cv = cv_at < e - 1
    # any other "class_version" (the library writes it last): the general decoder decides
    named = np.flatnonzero(states.str.contains('"class_version"', literal=True).to_numpy()[
        cand_rows])
    if len(named):
        count = states.gather(cand_rows[named]).str.count_matches('"class_version"', literal=True)
        ok[named] &= count.to_numpy() == has_cv[named]
    nxt = buf[q]
    only_cv = has_cv & (cv_at == q)
    body = (nxt == 44) & ~only_cv  # '{' + the rest + '}'
    ok &= (body & (cv_at > q + 1)) | only_cv | ((nxt == 125) & (q == e - 1))
    # ---- every '"_type_"' but the timestamp's is a known wrapper inside the rest
    hits = states.str.find_many(['"_type_"'])
    counts = hits.list.len().to_numpy()
    off = hits.explode().drop_nulls().to_numpy().astype(np.int64)
    local = np.full(n, -1, np.int64)
    local[cand_rows] = np.arange(len(cand_rows))
    lr = local[np.repeat(np.arange(n), counts)]
    mine = lr >= 0
    lr, off = lr[mine], off[mine]
    is_ts = off == _TS_TYPE_AT
    ok &= np.bincount(lr[is_ts], minlength=len(s)) == 1
    lr, off = lr[~is_ts], off[~is_ts]
    at = s[lr] + np.maximum(off - 1, 0)
    wr = _wrappers(buf, w64, at, decimals)
    good = wr.ok & (off >= 1) & body[lr] & (at > q[lr]) & (wr.end <= cv_at[lr])
    ok[lr[~good]] = False
    # ---- keep '{', the rest with replacements, '}'; delete everything else
    fast = np.flatnonzero(ok)
    sel = np.flatnonzero(ok[lr])
    _edit(buf, wr, at, sel)
    index = np.full(len(s), -1, np.int64)
    index[fast] = np.arange(len(fast))
    wrow = index[lr[sel]]
    k = np.bincount(wrow, minlength=len(fast))
    has_body = body[fast]
    pieces = np.where(has_body, 2 * k + 3, 2)
    poff = np.zeros(len(fast) + 1, np.int64)
    np.cumsum(pieces, out=poff[1:])
    k0 = np.empty(int(poff[-1]), np.int64)
    k1 = np.empty(int(poff[-1]), np.int64)
    fs, fe = s[fast], e[fast]
    k0[poff[:-1]], k1[poff[:-1]] = fs, fs + 1
    k0[poff[1:] - 1], k1[poff[1:] - 1] = fe - 1, fe
    j = np.arange(len(sel)) - np.searchsorted(wrow, wrow)
    base = poff[wrow]
    w_end = wr.end[sel]
    k0[base + 1 + 2 * j] = np.where(j == 0, q[lr[sel]] + 1, np.append(0, w_end[:-1]))
    k1[base + 1 + 2 * j] = at[sel]
    k0[base + 2 + 2 * j], k1[base + 2 + 2 * j] = wr.keep_from[sel], wr.keep_to[sel]
    b = np.flatnonzero(has_body)
    tail = poff[b] + 1 + 2 * k[b]
    last = np.searchsorted(wrow, b, side="right") - 1
    k0[tail] = np.where(k[b] > 0, np.append(w_end, 0)[last], q[fast[b]] + 1)
    k1[tail] = cv_at[fast[b]]
    runs = np.empty(2 * len(k0) + 1, np.int64)
    runs[0:-1:2] = k0 - np.append(0, k1[:-1])
    runs[1::2] = k1 - k0
    runs[-1] = total - (k1[-1] if len(k1) else 0)
    keep = np.repeat(np.tile(np.array([False, True]), len(k0) + 1)[:len(runs)], runs)
    kept = buf[:total][keep]
    out = np.empty(len(kept) + _PAD, np.uint8)
    out[:len(kept)] = kept
    out[len(kept):] = 0
    lens = np.add.reduceat(runs[1::2], poff[:-1]) if len(fast) else np.zeros(0, np.int64)
    row_offs = np.zeros(len(fast) + 1, np.int64)
    np.cumsum(lens, out=row_offs[1:])
    piece_at = np.cumsum(runs[1::2]) - runs[1::2]  # where each piece lands in the output
    rep = base + 2 + 2 * j
    valid = _valid(out, row_offs, wrow, piece_at[rep], piece_at[rep] + runs[1::2][rep])
    # ---- columns for all rows (slow rows: null)
    rows = cand_rows[fast]
    slow = np.ones(n, bool)
    slow[rows[valid]] = False
    lengths = np.zeros(n, np.int64)
    lengths[rows] = lens
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    us = np.zeros(n, np.int64)
    us[rows] = micros[fast]
    version = np.ones(n, np.int64)
    version[rows[valid]] = cv[fast][valid]
    present = pa.py_buffer(np.packbits(~slow, bitorder="little"))
    data = pa.Array.from_buffers(pa.large_string(), n, [present, pa.py_buffer(offsets),
                                                         pa.py_buffer(out)])
    time = pa.Array.from_buffers(pa.timestamp("us", "UTC"), n, [present, pa.py_buffer(us)])
    return Decoded(pl.Series("data", data, pl.String), pl.Series("time", time, _UTC),
                   version, slow)


def decode(states: pl.Series, decimals: Decimals) -> Decoded:
    """Decode a String series of states (no nulls, checked as UTF-8) in chunks."""
    parts = [_decode_chunk(states.slice(a, _CHUNK), decimals)
             for a in range(0, len(states), _CHUNK)]
    if not parts:
        return Decoded(pl.Series("data", [], pl.String), pl.Series("time", [], _UTC),
                       np.ones(0, np.int64), np.zeros(0, bool))
    return Decoded(pl.concat([p.data for p in parts], rechunk=False),
                   pl.concat([p.time for p in parts], rechunk=False),
                   np.concatenate([p.schema_version for p in parts]),
                   np.concatenate([p.slow for p in parts]))
