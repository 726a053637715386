"""Text helpers of the readers: an exact JSON grammar, JSON in and out, files, times.

Shared by :mod:`estime.io.jsonl`, :mod:`estime.io.csv`, :mod:`estime.io.cloudevents` and
:mod:`estime.io.parquet`.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from estime.errors import LogFormatError

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- JSON grammar

#: The characters of a JSON string between its quotes.
_STR_BODY = (r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]'
             r"|\\u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})"
             r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})*")
_STR = f'"{_STR_BODY}"'
#: Integers of any size (kept exact); floats only in forms that cannot overflow a double
#: (under 10**200): others go to a parser, which refuses 1e400 as the line parser does.
#: Keep counted repetitions small: at {0,199} polars' regex engine slows down 50-fold.
_NUM = (r"-?(?:0|[1-9][0-9]*"
        r"|(?:0|[1-9][0-9]{0,49})(?:\.[0-9]+)?(?:[eE]-[0-9]+|[eE]\+?[0-9]{1,2})"
        r"|(?:0|[1-9][0-9]{0,49})\.[0-9]+"
        r"|[0-9](?:\.[0-9]+)?[eE]\+?(?:[12][0-9]{2}|30[0-7]))")
_SCALAR = f"(?:{_STR}|{_NUM}|true|false|null)"


def _object(inner: str) -> str:
    return rf"\{{(?:{_STR}:{inner}(?:,{_STR}:{inner})*)?\}}"


def _nest(inner: str) -> str:
    array = rf"\[(?:{inner}(?:,{inner})*)?\]"
    return f"(?:{_SCALAR}|{array}|{_object(inner)})"


#: Exactly the compact JSON values nested at most 3 deep (deeper ones are left to a parser).
_VALUE_RE = "^" + _nest(_nest(_nest(_SCALAR))) + "$"
#: The same for JSON objects only (``meta``).
_OBJECT_RE = "^" + _object(_nest(_nest(_SCALAR))) + "$"
_SCALAR_RE = f"^{_SCALAR}$"
_STR_BODY_RE = f"^{_STR_BODY}$"
_INT_RE = r"^-?(?:0|[1-9][0-9]*)$"
_LONG_DIGITS = re.compile(r"[0-9]{19}")

#: Below this many rows the regular expressions cost more (compilation) than they save.
#: Most key layouts tried with the vectorised path before parsing the rest line by line.


#: Per byte value: whether a blank next to it lies between two JSON tokens.
_TOUCHES = np.zeros(256, bool)
_TOUCHES[list(b"{}[],:")] = True


#: A text (without escapes) with a string that holds ", " or ": ": strings and other
#: characters are consumed from the start, so a quote opens a string only at odd rank.
_SPACED_STRING = r'^(?:[^"]|"[^"]*")*"[^"]*(?:, |: )'


def unspaced(texts: pl.Series) -> pl.Series:
    """``texts`` with the blank after each ``,`` and ``:`` removed by two literal
    replacements (the separators ``json.dumps`` writes by default), where no string holds
    ", " or ": " and there is no backslash; other texts unchanged. A quicker
    :func:`without_blanks` for the commonest spacing, with the same guarantee: only blanks
    outside strings next to a structural character are removed.

    >>> unspaced(pl.Series(['{"a": [1, 2]}', '{"a": "x, y"}'])).to_list()
    ['{"a":[1,2]}', '{"a": "x, y"}']
    """
    joined, plain = unspaced_exprs(pl.lit(texts))
    f = pl.select(joined.alias("joined"), plain.alias("plain"))  # evaluated in parallel
    return f["joined"].zip_with(f["plain"], texts).alias(texts.name)


def unspaced_exprs(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(the text with ", " and ": " joined, whether that is all :func:`unspaced` may do: no
    backslash and no string holding either) as expressions, for a lazy query."""
    joined = text.str.replace_all(", ", ",", literal=True).str.replace_all(": ", ":",
                                                                          literal=True)
    plain = ~(text.str.contains("\\", literal=True) | text.str.contains(_SPACED_STRING))
    return joined, plain


def without_blanks(texts: pl.Series) -> pl.Series:
    """``texts`` (a String series without nulls) with every run of JSON whitespace that lies
    outside strings and touches a structural character (``{}[],:``) or the text's start or
    end removed, column-wise. Texts with a backslash are returned unchanged.

    JSON allows whitespace exactly there, so a valid text keeps its value and becomes
    compact (what ``json.dumps`` writes with its default ", " and ": " separators, or
    indented, loses its blanks). The converse makes it safe to check the result instead of
    the input: quotes are never removed, so a result that is valid JSON has the input's
    strings, and the input is that result with whitespace inserted where JSON allows it.
    Blanks touching no structural character (``[1 2]``, ``tr ue``) are kept, so removing
    blanks never joins two tokens into one. Without backslashes, strings are the spans
    between quotes of odd rank, so "outside strings" is a count of quotes.

    >>> without_blanks(pl.Series(['{"a": [1, 2], "b": "x, y: z"}', '[1 2]'])).to_list()
    ['{"a":[1,2],"b":"x, y: z"}', '[1 2]']
    """
    n = len(texts)
    if n == 0:
        return texts
    arr = texts.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offs = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + n + 1]
    b = np.frombuffer(arr.buffers()[2], np.uint8)[offs[0]:offs[-1]]
    offs = offs - offs[0]
    blank = b == 32
    for c in b"\t\r\n":
        blank |= b == c
    quote = b == 34
    marks = np.flatnonzero(blank | quote)  # only quotes and blanks matter below
    if not len(marks):
        return texts
    # quotes before each mark, before each row and in each row: strings are the spans
    # between a quote of odd rank in its row and the next one
    count = np.cumsum(quote[marks], dtype=np.int64)
    at_row = np.searchsorted(marks, offs)
    before_row = np.concatenate(([0], count))[at_row]
    is_blank = ~quote[marks]
    row = np.repeat(np.arange(n), np.diff(at_row))[is_blank]
    outside = ((count[is_blank] - before_row[row]) & 1) == 0
    escaped = np.zeros(n, bool)
    escaped[np.searchsorted(offs, np.flatnonzero(b == 92), side="right") - 1] = True
    keep_row = outside & ~escaped[row]
    at, row = marks[is_blank][keep_row], row[keep_row]
    if not len(at):
        return texts
    # runs of consecutive blanks within a row, and the bytes on their two sides
    first = np.ones(len(at), bool)
    first[1:] = (at[1:] != at[:-1] + 1) | (row[1:] != row[:-1])
    start, stop, run_row = at[first], at[np.append(first[1:], True)] + 1, row[first]
    left = (start == offs[run_row]) | _TOUCHES[b[np.maximum(start - 1, 0)]]
    right = (stop == offs[run_row + 1]) | _TOUCHES[b[np.minimum(stop, len(b) - 1)]]
    drop = (left | right)[np.cumsum(first) - 1]
    if not drop.any():
        return texts
    gone = at[drop]
    keep = np.ones(len(b), bool)
    keep[gone] = False
    out = b[keep]
    new_offs = offs - np.searchsorted(gone, offs)
    result = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(new_offs),
                                                          pa.py_buffer(out)])
    return pl.Series(texts.name, result, pl.String)


def loads(text: str) -> Any:
    """Parse JSON exactly: orjson, or the standard library when a number may exceed 64 bits.

    orjson turns integers beyond 64 bits into floats; Python's parser keeps them exact. NaN and
    Infinity are refused (they are not JSON).
    """
    if _LONG_DIGITS.search(text) is None:
        return orjson.loads(text)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def may_hold_big_integers(lines: pl.Series) -> list[bool]:
    """Per line: whether it has a run of 19 digits (an integer orjson would round), for
    :func:`loads` over many lines: one vectorised search instead of a regex per line."""
    return lines.str.contains(r"[0-9]{19}").fill_null(False).to_list()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def dumps(value: Any) -> str:
    """Compact JSON text of a parsed value (big integers kept exact)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def read_bytes(path: PathLike) -> bytes:
    """The file's bytes: gzip (by its magic number) decompressed, a UTF-8 BOM removed."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise LogFormatError(f"{path}: damaged gzip data ({exc}); the file may be "
                                 "truncated. Re-download or re-compress it.") from None
    if raw[:3] == codecs.BOM_UTF8:
        raw = raw[3:]
    return raw


def check_utf8(raw: bytes, source: str) -> None:
    """Raise naming the line of the first byte sequence that is not UTF-8."""
    if raw.isascii():
        return
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise LogFormatError(
            f"line {line} of {source}: bytes {raw[exc.start:exc.start + 4]!r} are not UTF-8 "
            f"({exc.reason}). Re-encode the file as UTF-8."
        ) from None


def split_lines(raw: bytes) -> tuple[pl.Series, pl.Series]:
    """The non-blank lines (JSON whitespace stripped) and their 1-based line numbers."""
    a = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(a == 10) + 1
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    if offsets[-1] != len(raw):
        offsets = np.append(offsets, len(raw))
    n = len(offsets) - 1
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(raw))
    lines = pl.Series("line", arr).str.strip_chars(" \t\r\n")
    numbers = pl.int_range(1, n + 1, dtype=pl.Int64, eager=True).alias("_line")
    keep = lines.str.len_bytes() > 0
    return lines.filter(keep), numbers.filter(keep)


_TIME_SEPS = {4: ord("-"), 7: ord("-"), 10: ord("T"), 13: ord(":"), 16: ord(":")}
_TIME_FIELDS = ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))
_TIME_MAX_WIDTH = 19 + 7 + 6  # a fraction of 6 digits and an offset


def _time_form(text: str) -> tuple[int, str] | None:
    """(digits of the fraction, zone: "Z", "+:" for an offset ``±HH:MM``, "+" for ``±HHMM``,
    "" for none) of a time's text after ``YYYY-MM-DDTHH:MM:SS``, when :func:`fast_times`
    reads that form."""
    rest = text[19:]
    zone = ""
    if rest.endswith("Z"):
        zone, rest = "Z", rest[:-1]
    elif len(rest) >= 6 and rest[-6] in "+-" and rest[-3] == ":":
        zone, rest = "+:", rest[:-6]
    elif len(rest) >= 5 and rest[-5] in "+-":
        zone, rest = "+", rest[:-5]
    if not rest:
        return 0, zone
    if rest[0] == "." and 2 <= len(rest) <= 7:
        return len(rest) - 1, zone
    return None


def _calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables for years 0-9999 (proleptic Gregorian): days from 1970-01-01 to each
    January 1st, leap years (0/1), and for ``leap * 100 + month`` (month 0-99, only 1-12
    valid) the month's length (0 when invalid) and its first day within the year."""
    years = np.arange(10_000)
    leap = ((years % 4 == 0) & (years % 100 != 0)) | (years % 400 == 0)
    before_1970 = 1969 * 365 + 1969 // 4 - 1969 // 100 + 1969 // 400 + 366
    year_days = np.concatenate(([0], np.cumsum(365 + leap[:-1]))) - before_1970
    lengths = np.zeros((2, 100), np.int32)
    lengths[:, 1:13] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    lengths[1, 2] = 29
    starts = np.zeros((2, 100), np.int32)
    starts[:, 1:] = np.cumsum(lengths, axis=1)[:, :-1]
    return year_days.astype(np.int64), leap.astype(np.int32), lengths.ravel(), starts.ravel()


_YEAR_DAYS, _LEAP, _MONTH_LEN, _MONTH_START = _calendar()


def fast_times(col: pl.Series) -> pl.Series | None:
    """Parse RFC 3339 times that all have one form with numpy: ``YYYY-MM-DDTHH:MM:SS``, a
    fraction of 1 to 6 digits or none, and ``Z``, an offset (``±HH:MM`` or ``±HHMM``) or
    nothing (UTC). That is what ``write_jsonl`` (``2024-05-01T12:00:00.000000Z``), the
    CloudEvents SDK, ``datetime.isoformat()`` and polars' CSV writer (``+0000``) write.

    ``None`` when the values differ in form or one is not a valid time: the general parser
    then takes over (and names a bad value).
    """
    present = col.drop_nulls()
    n = len(present)
    if n == 0:
        return None
    width = present.str.len_bytes()
    w = int(width.min())  # type: ignore[arg-type]
    if w != width.max() or not 19 <= w <= _TIME_MAX_WIDTH:
        return None
    form = _time_form(present[0])
    if form is None:
        return None
    digits, zone = form
    arr = present.to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets, data = arr.buffers()
    start = int(np.frombuffer(offsets, np.int64)[arr.offset])
    # one row per character position (w rows of n bytes): whole-row numpy operations
    t = np.ascontiguousarray(
        np.frombuffer(data, np.uint8)[start:start + w * n].reshape(n, w).T)
    seps = dict(_TIME_SEPS)
    fields = list(_TIME_FIELDS)
    if digits:
        seps[19] = ord(".")
        fields.append((20, 20 + digits))
    if zone == "Z":
        seps[w - 1] = ord("Z")
    sign_at = {"+:": w - 6, "+": w - 5}.get(zone)
    if zone == "+:":
        seps[w - 3] = ord(":")
        fields += [(w - 5, w - 3), (w - 2, w)]
    elif zone == "+":
        fields += [(w - 4, w - 2), (w - 2, w)]
    if sign_at is not None and not ((t[sign_at] == ord("+")) | (t[sign_at] == ord("-"))).all():
        return None
    for at, char in seps.items():
        if not (t[at] == char).all():
            return None
    values = []
    for lo, hi in fields:
        digits_of = t[lo:hi] - np.uint8(48)  # wraps around below "0": one test for both ends
        if (digits_of > 9).any():
            return None
        value = digits_of[0].astype(np.int64)
        for row in digits_of[1:]:
            value *= 10
            value += row
        values.append(value)
    y, m, day, hh, mm, ss = values[:6]
    us = values[6] * 10 ** (6 - digits) if digits else 0
    month = _LEAP[y] * 100 + m
    if ((day < 1) | (day > _MONTH_LEN[month]) | (hh > 23) | (mm > 59) | (ss > 59)).any():
        return None
    days = _YEAR_DAYS[y] + (_MONTH_START[month] + day - 1)
    epoch = (days * 86400 + (hh * 3600 + mm * 60 + ss)) * 1_000_000 + us
    if sign_at is not None:
        oh, om = values[-2], values[-1]
        if ((oh > 23) | (om > 59)).any():
            return None
        sign = np.where(t[sign_at] == ord("-"), -1, 1)
        epoch -= sign * (oh * 60 + om) * 60_000_000
    parsed = pl.Series(col.name, epoch, pl.Int64).cast(pl.Datetime("us", "UTC"))
    if n == len(col):
        return parsed
    return pl.Series(col.name, [None] * len(col), pl.Datetime("us", "UTC")).scatter(
        col.is_not_null().arg_true(), parsed)
