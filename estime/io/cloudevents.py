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
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import polars as pl

from estime._json import gc_paused
from estime._normalize import Duplicates
from estime._progress import progress
from estime.errors import LogFormatError
from estime.io.jsonl import (
    PathLike,
    _no_constant,
    _parse_line,
    check_utf8,
    dumps,
    loads,
    log_from_raw,
    may_hold_big_integers,
    read_bytes,
    split_lines,
)
from estime.log import EventLog

__all__ = ["read_cloudevents"]

REQUIRED = ("id", "source", "specversion", "type")
_NOT_META = frozenset({"id", "type", "subject", "time", "data", "data_base64"})
_JSON_TYPE = re.compile(r"^\s*(application|text)/([^\s;/]+\+)?json\s*(;.*)?$", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")


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


def _events_from_lines(raw: bytes, source: str) -> list[tuple[int, Any]]:
    lines, numbers = split_lines(raw)
    texts, nos = lines.to_list(), numbers.to_list()
    last = nos[-1] if nos and not raw.endswith(b"\n") else 0
    out: list[tuple[int, Any]] = []
    for k, (text, no, long) in enumerate(zip(texts, nos, may_hold_big_integers(lines))):
        try:
            out.append((no, _parse_line(text, no, source, no == last, long)))
        except LogFormatError:
            if k == 0:  # one pretty-printed event?
                try:
                    whole = loads(raw.decode())
                except ValueError:
                    raise
                if isinstance(whole, dict):
                    return [(no, whole)]
            raise
    return out


class _Where:
    """Formats "line N of FILE" only when an error needs it."""

    __slots__ = ("line", "source")

    def __init__(self, line: int, source: str) -> None:
        self.line, self.source = line, source

    def __format__(self, spec: str) -> str:
        return f"line {self.line} of {self.source}"


def _row(obj: Any, line: int, source: str) -> dict[str, Any]:
    if type(obj) is not dict:
        raise LogFormatError(f"line {line} of {source}: a CloudEvent must be a JSON object, "
                             f"not {type(obj).__name__}")
    get = obj.get
    event_id, src, subject, content_type = (get("id"), get("source"), get("subject"),
                                            get("datacontenttype"))
    if not (type(event_id) is str and event_id and type(src) is str and src
            and type(get("type")) is str and obj["type"] and get("specversion") == "1.0"
            and (subject is None or type(subject) is str)
            and (content_type is None or type(content_type) is str)
            and (get("time") is None or type(obj["time"]) is str)):
        _refuse(obj, _Where(line, source))
    text: str | None
    if "data_base64" in obj:
        text = _base64_data(obj, content_type, _Where(line, source))
    elif "data" in obj:
        text = dumps(obj["data"])
    else:
        text = None
    return {
        "_line": line,
        "event_id": event_id,
        "stream": subject if subject is not None else src,
        "type": obj["type"],
        "time": get("time"),
        "data": text,
        "meta": dumps({k: v for k, v in obj.items() if k not in _NOT_META}),
        "_source": src,
        "_sequence": get("sequence"),
    }


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
    raise AssertionError(f"{where}: unexplained CloudEvent refusal")  # pragma: no cover


def _base64_data(obj: dict[str, Any], content_type: str | None, where: _Where) -> str:
    """``data`` of an event with ``data_base64``: the decoded JSON text, or kept encoded."""
    if "data" in obj:
        raise LogFormatError(f"{where}: the CloudEvent has both 'data' and 'data_base64'; "
                             "the JSON format allows one of them.")
    encoded = obj["data_base64"]
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


def _order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by the Sequence extension when every event has one (stable)."""
    seqs = [r["_sequence"] for r in rows]
    if not rows or any(s is None for s in seqs):
        return rows
    if all((isinstance(s, int) and not isinstance(s, bool) and s >= 0)
           or (isinstance(s, str) and _DIGITS.fullmatch(s)) for s in seqs):
        keys: list[Any] = [int(s) for s in seqs]
    else:
        keys = [str(s) for s in seqs]
    order = sorted(range(len(rows)), key=keys.__getitem__)
    return [rows[i] for i in order]


def _check_ids(rows: list[dict[str, Any]], source: str) -> None:
    seen: dict[str, tuple[str, int]] = {}
    for r in rows:
        first = seen.setdefault(r["event_id"], (r["_source"], r["_line"]))
        if first[0] != r["_source"]:
            raise LogFormatError(
                f"line {r['_line']} of {source}: CloudEvent id {r['event_id']!r} from source "
                f"{r['_source']!r} is also used at line {first[1]} by source {first[0]!r}. "
                "CloudEvents ids are unique per source only; an event log needs them unique "
                "across the file. Give the events distinct ids."
            )


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
    text = raw.lstrip(b" \t\r\n")
    with gc_paused():  # hundreds of thousands of small dicts (see gc_paused)
        if text.startswith(b"["):
            events = _events_from_array(raw.decode(), source)
        else:
            events = _events_from_lines(raw, source)
        bar = progress(len(events), "converting", unit="event") if len(events) > 100_000 else None
        rows = []
        for k, (line, obj) in enumerate(events):
            rows.append(_row(obj, line, source))
            if bar is not None and k % 65_536 == 65_535:
                bar.update(65_536)
        if bar is not None:
            bar.close()
        del events
    rows = _order(rows)
    _check_ids(rows, source)
    frame = pl.DataFrame(
        {
            "_line": pl.Series([r["_line"] for r in rows], dtype=pl.Int64),
            **{c: pl.Series([r[c] for r in rows], dtype=pl.String)
               for c in ("event_id", "stream", "type", "time", "data", "meta")},
        }
    )
    return log_from_raw(frame, source, {}, duplicates)
