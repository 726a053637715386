"""Read CloudEvents 1.0 in structured mode, JSON format (:func:`read_cloudevents`).

Mapping onto the canonical columns:

==================  ===================================================================
CloudEvents         estime
==================  ===================================================================
``id``              ``event_id``
``type``            ``type``
``subject``         ``stream`` (``source`` when there is no subject)
``time``            ``time``
``data``            ``data``, as is (a JSON value; text for non-JSON content types)
``data_base64``     ``data``: decoded and parsed when ``datacontenttype`` is JSON
                    (``application/json``, ``text/json``, ``*/*+json``); other binary data
                    is kept undecoded as ``{"data_base64": "..."}`` so nothing is lost
every other         ``meta``, in file order: ``source``, ``specversion``, ``datacontenttype``,
attribute           ``dataschema`` and every extension (``sequence``, ``traceparent``,
                    ``partitionkey``, ``causationid``, ...)
==================  ===================================================================

Events are ordered by the Sequence extension (``sequence``) when every event has one —
as integers when all are digit strings, else as text — and by file order otherwise. An
event without data gets ``{}``.

Lines are read column-wise like JSON Lines (:mod:`estime.io.jsonl`). So is a batch (a JSON
array) laid out one event per line; a large batch in another layout (indented, on one line)
is parsed whole by orjson and its events read back the same way. Small batches, numbers of
19 digits or more (orjson would round them) and every error go through the array parser,
which names the file's line.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import orjson
import polars as pl

import estime.io.jsonl as jsonl_mod
from estime._json import gc_paused
from estime._normalize import Duplicates
from estime.errors import LogFormatError
from estime.io.jsonl import (
    PathLike,
    _no_constant,
    _Plan,
    check_utf8,
    dumps,
    frame_from_lines,
    frame_of_objects,
    loads,
    log_from_raw,
    read_bytes,
    split_lines,
)
from estime.log import EventLog

__all__ = ["read_cloudevents"]

REQUIRED = ("id", "source", "specversion", "type")
_NOT_META = frozenset({"id", "type", "subject", "time", "data", "data_base64"})
_JSON_TYPE = re.compile(r"^\s*(application|text)/([^\s;/]+\+)?json\s*(;.*)?$", re.IGNORECASE)


def is_json_content_type(content_type: str | None) -> bool:
    """``application/json``, ``text/json`` and ``*/*+json`` (parameters allowed)."""
    return bool(content_type) and _JSON_TYPE.match(content_type or "") is not None


def _events_from_array(text: str, source: str) -> list[tuple[int, Any]]:
    """The elements of a JSON array (a CloudEvents batch) with the line each starts on."""
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    ws = re.compile(r"[ \t\r\n]*")
    i = ws.match(text, 0).end() + 1  # type: ignore[union-attr]
    line, last = 1, 0
    out: list[tuple[int, Any]] = []
    while True:
        i = ws.match(text, i).end()  # type: ignore[union-attr]
        if i < len(text) and text[i] == "]" and not out:
            i += 1
            break
        line += text.count("\n", last, i)
        last = i
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise LogFormatError(
                f"line {exc.lineno} of {source}: not valid JSON in the array of events "
                f"({exc.msg}, column {exc.colno})."
            ) from None
        out.append((line, value))
        i = ws.match(text, i).end()  # type: ignore[union-attr]
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "]":
            i += 1
            break
        line += text.count("\n", last, i)
        raise LogFormatError(
            f"line {line} of {source}: expected ',' or ']' after event {len(out)} of the "
            "array; the file may be truncated."
        )
    rest = text[i:].strip(" \t\r\n")
    if rest:
        line += text.count("\n", last, i)
        raise LogFormatError(f"line {line} of {source}: unexpected text after the array of "
                             f"events: {rest[:40]!r}")
    return out


class _Where:
    """Formats "line N of FILE" only when an error needs it."""

    __slots__ = ("line", "source")

    def __init__(self, line: int, source: str) -> None:
        self.line, self.source = line, source

    def __format__(self, spec: str) -> str:
        return f"line {self.line} of {self.source}"


class _CloudPlan(_Plan):
    """How the JSON Lines machinery reads CloudEvents: ``data`` is the payload (JSON text),
    id / type / subject / time / data_base64 become columns, every other attribute joins
    ``meta`` (source, specversion, datacontenttype and sequence are columns as well)."""

    payload_name = "meta"
    _COLUMNS = frozenset({"id", "type", "subject", "time", "data_base64"})
    _BOTH = frozenset({"source", "specversion", "datacontenttype", "sequence"})

    def __init__(self) -> None:
        self.data_key, self.meta_key, self.no_data, self.canonical = "data", "meta", False, set()

    def role(self, key: str) -> str:
        if key == "data":
            return "data"
        if key in self._COLUMNS:
            return "column"
        return "both" if key in self._BOTH else "payload"

    def check(self, obj: Any, no: int, source: str) -> None:
        if type(obj) is not dict:
            raise LogFormatError(f"line {no} of {source}: a CloudEvent must be a JSON object, "
                                 f"not {type(obj).__name__}")
        get = obj.get
        if not (type(get("id")) is str and obj["id"] and type(get("source")) is str
                and obj["source"] and type(get("type")) is str and obj["type"]
                and get("specversion") == "1.0"
                and all(get(a) is None or type(obj[a]) is str
                        for a in ("subject", "time", "datacontenttype"))
                and ("data_base64" not in obj or "data" not in obj)):
            _refuse(obj, _Where(no, source))


def _refuse(obj: dict[str, Any], where: _Where) -> None:
    """Raise the error that says what is wrong with a CloudEvent's attributes."""
    for attr in REQUIRED:
        value = obj.get(attr)
        if value is None:
            raise LogFormatError(
                f"{where}: the CloudEvent has no {attr!r} attribute; id, source, specversion "
                "and type are required (CloudEvents 1.0 structured mode, JSON format)."
            )
        if not isinstance(value, str) or not value:
            raise LogFormatError(f"{where}: attribute {attr!r} must be a non-empty string, "
                                 f"got {value!r}")
    if obj["specversion"] != "1.0":
        raise LogFormatError(f"{where}: specversion {obj['specversion']!r} is not supported; "
                             "estime reads CloudEvents 1.0.")
    for attr in ("subject", "time", "datacontenttype"):
        if obj.get(attr) is not None and not isinstance(obj[attr], str):
            raise LogFormatError(f"{where}: attribute {attr!r} must be a string, "
                                 f"got {obj[attr]!r}")
    if "data_base64" in obj and "data" in obj:
        raise LogFormatError(f"{where}: the CloudEvent has both 'data' and 'data_base64'; "
                             "the JSON format allows one of them.")
    raise AssertionError(f"{where}: unexplained CloudEvent refusal")  # pragma: no cover


def _base64_data(encoded: Any, content_type: str | None, where: _Where) -> str:
    """``data`` of an event with ``data_base64``: the decoded JSON text, or kept encoded."""
    if not isinstance(encoded, str):
        raise LogFormatError(f"{where}: 'data_base64' must be a string")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LogFormatError(f"{where}: 'data_base64' is not valid base64 ({exc})") from None
    if not is_json_content_type(content_type):
        return dumps({"data_base64": encoded})
    try:
        data = loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LogFormatError(
            f"{where}: 'data_base64' does not hold UTF-8 JSON ({exc}) although "
            f"datacontenttype is {content_type!r}"
        ) from None
    return dumps(data)


def _column(raw: pl.DataFrame, name: str) -> pl.Series:
    """A raw column as text (absent or all-null: nulls)."""
    if name not in raw.columns:
        return pl.Series(name, [None] * raw.height, pl.String)
    col = raw[name]
    return col if col.dtype == pl.String else col.cast(pl.String)


def _checked(raw: pl.DataFrame, source: str) -> None:
    """Values the layout pass cannot vouch for: empty strings, another specversion."""
    req = {a: _column(raw, a) for a in REQUIRED}
    bad = ((req["id"] == "") | (req["source"] == "") | (req["type"] == "")
           | (req["specversion"] != "1.0")).fill_null(True)
    if bad.any():
        i = int(bad.arg_true()[0])
        _refuse({a: req[a][i] for a in REQUIRED}, _Where(int(raw["_line"][i]), source))


def _data(raw: pl.DataFrame, source: str) -> pl.Series:
    """``data``: the JSON text, or ``data_base64`` decoded (rare: one at a time)."""
    data = _column(raw, "data")
    if "data_base64" not in raw.columns:
        return data
    encoded = raw["data_base64"]
    rows = encoded.is_not_null().arg_true()
    if not len(rows):
        return data
    types, lines = _column(raw, "datacontenttype"), raw["_line"]
    texts = [_base64_data(encoded[i], types[i], _Where(int(lines[i]), source))
             for i in rows.to_list()]
    return data.scatter(rows, texts)


def _order(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by the Sequence extension when every event has one (stable): as numbers
    when all are non-negative integers or digit strings, else as text."""
    if "sequence" not in frame.columns or frame["sequence"].null_count():
        return frame
    seq = frame["sequence"]
    if seq.dtype.is_integer() and (seq.min() or 0) >= 0:  # type: ignore[operator]
        return frame.sort(seq, maintain_order=True)
    text = seq.cast(pl.String)
    if text.str.contains(r"^[0-9]+$").all():  # any length: by significant digits
        digits = text.str.strip_chars_start("0")
        return frame.sort([digits.str.len_bytes(), digits], maintain_order=True)
    return frame.sort(text, maintain_order=True)


def _check_ids(frame: pl.DataFrame, source: str) -> None:
    """CloudEvents ids are unique per source; a log needs them unique (duplicates of one
    source are redeliveries, left to ``duplicates=``)."""
    if frame["_source"].n_unique() == 1 or frame["event_id"].hash().n_unique() == frame.height:
        return  # one source, or no id used twice: no clash (the common cases, cheaply)
    firsts = frame.select(
        pl.col("_source").first().over("event_id").alias("first"),
        pl.col("_line").first().over("event_id").alias("at"),
    )
    clash = (frame["_source"] != firsts["first"]).arg_true()
    if len(clash):
        i = int(clash[0])
        raise LogFormatError(
            f"line {frame['_line'][i]} of {source}: CloudEvent id {frame['event_id'][i]!r} "
            f"from source {frame['_source'][i]!r} is also used at line {firsts['at'][i]} by "
            f"source {firsts['first'][i]!r}. CloudEvents ids are unique per source only; an "
            "event log needs them unique across the file. Give the events distinct ids."
        )


def _events(raw: pl.DataFrame, source: str) -> pl.DataFrame:
    """The reader's frame (``_line`` and canonical columns) from the raw attribute frame."""
    if raw.height == 0:
        return pl.DataFrame(schema={"_line": pl.Int64, **dict.fromkeys(
            ("event_id", "stream", "type", "time", "data", "meta"), pl.String)})
    _checked(raw, source)
    src = _column(raw, "source")
    frame = pl.DataFrame([
        raw["_line"],
        _column(raw, "id").alias("event_id"),
        _column(raw, "subject").fill_null(src).alias("stream"),
        _column(raw, "type"),
        _column(raw, "time"),
        _data(raw, source).alias("data"),
        _column(raw, "meta"),
        src.alias("_source"),
        *([raw["sequence"]] if "sequence" in raw.columns else []),
    ])
    frame = _order(frame)
    _check_ids(frame, source)
    return frame.drop("_source", "sequence", strict=False)


def read_cloudevents(path: PathLike, *, duplicates: Duplicates = "error") -> EventLog:
    """Read CloudEvents 1.0 (structured mode, JSON format): one event per line, or a JSON
    array of events (a batch). ``.gz`` files are read transparently.

    See the module docstring for the mapping. Required attributes (``id``, ``source``,
    ``specversion`` "1.0", ``type``) are checked; errors name the file and line. Identical
    redeliveries (same id and content) are dropped with ``duplicates="drop"``.

    >>> import tempfile, pathlib, estime as es
    >>> from estime.io import read_cloudevents
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> _ = p.write_text('{"specversion": "1.0", "id": "1", "source": "/bank", '
    ...                  '"type": "Deposited", "subject": "acc-1", "data": {"amount": 5}}\\n')
    >>> e = read_cloudevents(p).event(1)
    >>> e.stream, e.data["amount"], e.meta["source"]
    ('acc-1', 5, '/bank')
    """
    source = str(path)
    raw = read_bytes(path)
    check_utf8(raw, source)
    plan = _CloudPlan()
    if raw.lstrip(b" \t\r\n").startswith(b"["):
        frame = _batch_by_lines(raw, source, plan)
        if frame is None:
            log = _batch_parsed(raw, source, duplicates)
            if log is not None:
                return log
            with gc_paused():
                objects = _events_from_array(raw.decode(), source)
            frame = frame_of_objects((o for _, o in objects), [n for n, _ in objects], source,
                                     plan)
    else:
        lines, numbers = split_lines(raw)
        try:
            frame = frame_from_lines(lines, numbers, source, {}, plan=plan,
                                     unterminated=bool(raw) and not raw.endswith(b"\n"))
        except LogFormatError:
            whole = _one_object(raw)  # one pretty-printed event?
            if whole is None:
                raise
            frame = frame_of_objects([whole], numbers.head(1).to_list(), source, plan)
    return log_from_raw(_events(frame, source), source, {}, duplicates)


def _batch_by_lines(raw: bytes, source: str, plan: _CloudPlan) -> pl.DataFrame | None:
    """The raw frame of a batch laid out one event per line (``[`` and ``]`` on their own
    lines or on the first and last event's; a comma ending every event's line but the
    last), read like JSON Lines; None for any other layout, or an error, which the array
    parser then words. Those lines, without the brackets and commas, are the array's
    elements: what is removed is the array's own syntax and whitespace."""
    head = raw.lstrip(b" \t\r\n[").split(b"\n", 1)[0].rstrip(b" \t\r")
    if not (head.startswith(b"{") and head.endswith((b"},", b"}", b"}]"))):
        return None  # the first event is not on a line of its own: another layout
    lines, numbers = split_lines(raw)
    n = len(lines)
    if n < 2 or not lines[0].startswith("[") or not lines[n - 1].endswith("]"):
        return None
    ends = pl.Series([0, n - 1])
    body = lines.scatter(ends, [lines[0][1:].lstrip(" \t\r\n"),
                                lines[n - 1][:-1].rstrip(" \t\r\n")])
    events = (body.str.len_bytes() > 0).arg_true()
    if not len(events):
        return None
    comma = body.str.ends_with(",").gather(events)
    if not comma.head(len(events) - 1).all() or comma[len(events) - 1]:
        return None
    body = body.scatter(events.head(len(events) - 1),
                        body.gather(events.head(len(events) - 1)).str.head(-1))
    try:
        return frame_from_lines(body, numbers, source, {}, plan=plan)
    except LogFormatError:
        return None


#: A number token of 19 digits or more (or such text in a string): orjson would round it.
_LONG_NUMBER = r"[:,\[]\s*-?[0-9]{19}"


def _batch_parsed(raw: bytes, source: str, duplicates: Duplicates) -> EventLog | None:
    """The log of a large batch in any other layout (indented, on one line): parsed whole by
    orjson, each event written back as one compact line and read like JSON Lines. None when
    orjson cannot parse it exactly (integers of 19 digits or more), for small batches, and on
    any error: its line would be a position in the array, so the array parser then reads the
    file and words the error with the file's line."""
    if pl.Series([raw], dtype=pl.Binary).cast(pl.String).str.contains(_LONG_NUMBER)[0]:
        return None
    try:
        with gc_paused():
            events = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(events, list) or len(events) < jsonl_mod.FAST_MIN_ROWS:
        return None
    try:
        texts = pl.Series("line", [orjson.dumps(e).decode() for e in events], pl.String)
        del events
        numbers = pl.int_range(1, len(texts) + 1, dtype=pl.Int64, eager=True)
        frame = frame_from_lines(texts, numbers, source, {}, plan=_CloudPlan())
        return log_from_raw(_events(frame, source), source, {}, duplicates)
    except LogFormatError:
        return None


def _one_object(raw: bytes) -> dict[str, Any] | None:
    try:
        whole = loads(raw.decode())
    except ValueError:
        return None
    return whole if isinstance(whole, dict) else None
