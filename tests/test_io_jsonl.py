"""read_jsonl: canonical and foreign files, losslessness, both parsing paths, hostile input."""

from __future__ import annotations

import gzip
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import estime.io.jsonl as jsonl_mod
from estime import EventLog, LogFormatError
from estime.io import read_jsonl
from estime.log import DuplicatesDropped


@pytest.fixture(params=["fast", "slow"])
def path_kind(request, monkeypatch):
    """Run a test through the vectorised path (every file size) and the line-by-line one."""
    monkeypatch.setattr(jsonl_mod, "FAST_MIN_ROWS", 0 if request.param == "fast" else 10**9)
    return request.param


def read_on_both_paths(p: Path) -> list[Any]:
    """``read_jsonl(p)`` through the vectorised path, then the line-by-line one; a
    LogFormatError is returned as its message."""
    saved = jsonl_mod.FAST_MIN_ROWS
    out: list[Any] = []
    try:
        for fast in (0, 10**9):
            jsonl_mod.FAST_MIN_ROWS = fast
            try:
                out.append(read_jsonl(p))
            except LogFormatError as exc:
                out.append(str(exc))
    finally:
        jsonl_mod.FAST_MIN_ROWS = saved
    return out


def write(tmp_path: Path, text: str | bytes, name: str = "log.jsonl") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def lines(*objs: object) -> str:
    return "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=False) + "\n"
                   for o in objs)


# --------------------------------------------------------------------------- canonical


def sample_log() -> EventLog:
    return EventLog.from_records([
        {"stream": "acc-1", "type": "Opened", "data": {"owner": "ada"},
         "time": "2024-05-01T12:00:00Z", "meta": {"actor": "u1"}},
        {"stream": "acc-1", "type": "Deposited", "data": {"amount": 50, "note": 'a,"meta":b'},
         "time": "2024-05-01T12:00:01.5+02:00"},
        {"stream": "acc-2", "type": "Opened", "data": [1, {"x": None}], "meta": {"k": [1]}},
        {"stream": 'we"ird\\name\u00e9', "type": "T\u2603", "data": "text"},
    ])


def test_canonical_round_trip(tmp_path, path_kind):
    log = sample_log()
    p = log.write_jsonl(tmp_path / "log.jsonl")
    back = read_jsonl(p)
    assert back == log
    assert back.source == str(p)
    assert read_jsonl(str(p)) == log


def test_canonical_file_takes_the_fast_path(tmp_path, monkeypatch):
    """Files written by write_jsonl never fall back to line-by-line parsing."""
    recs = [{"stream": f"s{i % 7}", "type": "T", "data": {"i": i, "nested": {"a": [i]}},
             "time": f"2024-01-01T00:00:{i % 60:02d}Z"} for i in range(3000)]
    log = EventLog.from_records(recs)
    p = log.write_jsonl(tmp_path / "log.jsonl")

    def boom(*a, **k):
        raise AssertionError("slow path used")

    monkeypatch.setattr(jsonl_mod, "_slow_frame", boom)
    assert read_jsonl(p) == log


def test_branch_extra_columns_round_trip(tmp_path, path_kind):
    log = sample_log()
    extra = EventLog.from_frame(log.frame.with_columns(
        pl.Series("parent_seq", [None, 2, 3, None], pl.Int64)))
    back = read_jsonl(extra.write_jsonl(tmp_path / "b.jsonl"))
    assert back == extra
    assert back.frame["parent_seq"].to_list() == [None, 2, 3, None]


def test_gzip_is_read_transparently(tmp_path, path_kind):
    log = sample_log()
    p = tmp_path / "log.jsonl.gz"
    p.write_bytes(gzip.compress(log.write_jsonl(tmp_path / "x.jsonl").read_bytes()))
    assert read_jsonl(p) == log


def test_empty_file_is_an_empty_log(tmp_path, path_kind):
    log = read_jsonl(write(tmp_path, "\n\n"))
    assert len(log) == 0
    assert log.frame.columns[:9] == list(jsonl_mod.SCHEMA)


# --------------------------------------------------------------------------- lossless payloads

EXACT = [
    '{"z":1,"a":2,"m":3}',
    '{"big":123456789012345678901234567890,"neg":-98765432109876543210}',
    '{"f":1.0,"g":1e300,"h":-0.0,"i":0.1,"j":1.5E-7,"k":12345678901234567.5}',
    '{"u":"\\u00e9\\ud83d\\ude00 é 😀","esc":"tab\\tquote\\"slash\\\\"}',
    '{"deep":{"a":{"b":{"c":{"d":{"e":[1,[2,[3,{"f":null}]]]}}}}}}',
    '{"tricky":",\\"meta\\":{},\\"event_id\\":","k":{"meta":1,"event_id":2}}',
    "[1,2,3]",
    '"just text"',
    "42",
    "null",
    "{}",
]


@pytest.mark.parametrize("text", EXACT)
def test_payload_text_is_kept_exactly(tmp_path, text):
    """Canonical lines keep the file's exact payload text (fast path on large files)."""
    body = "".join(
        f'{{"seq":{i},"stream":"s","version":{i},"type":"T","time":null,"data":{text},'
        f'"meta":{{"n":{i}}},"event_id":"e{i}","schema_version":1}}\n'
        for i in range(1, 2501))
    log = read_jsonl(write(tmp_path, body))
    assert log.frame["data"].unique().to_list() == [text]
    assert log.frame["meta"][2499] == '{"n":2500}'


@pytest.mark.parametrize("text", EXACT)
def test_payload_values_round_trip(tmp_path, path_kind, text):
    """Whichever path parses a line, the value is exactly the file's (big ints included)."""
    log = read_jsonl(write(tmp_path, f'{{"stream":"s","type":"T","data":{text}}}\n'))
    value, expected = json.loads(log.frame["data"][0]), json.loads(text)
    assert value == expected
    if isinstance(expected, dict):
        assert list(value) == list(expected)  # key order


def test_key_first_seen_on_line_5000_and_changing_types(tmp_path, path_kind):
    """polars' read_ndjson would infer from 100 rows; nothing here may be lost."""
    recs = []
    for i in range(1, 6001):
        data: dict = {"amount": i}
        if i >= 5000:
            data["late"] = {"k": [i]}
        if i % 3 == 0:
            data["amount"] = str(i)
        if i % 5 == 0:
            data["amount"] = {"value": i}
        recs.append({"stream": f"s{i % 11}", "type": "T", "data": data})
    log = EventLog.from_records(recs)
    back = read_jsonl(log.write_jsonl(tmp_path / "l.jsonl"))
    assert back == log
    assert back.event(5000).data["late"] == {"k": [5000]}
    assert "late" not in back.event(4999).data
    assert back.event(3).data["amount"] == "3" and back.event(5).data["amount"] == {"value": 5}
    # foreign file without a data key: the other keys are each line's payload
    foreign = "".join(json.dumps({"id": f"s{i % 11}", "kind": "T", **r["data"]}) + "\n"
                      for i, r in enumerate(recs, 1))
    back = read_jsonl(write(tmp_path, foreign, "f.jsonl"), stream="id", type="kind")
    assert back.frame["data"].to_list() == log.frame["data"].to_list()


# --------------------------------------------------------------------------- foreign files


def test_foreign_mapping(tmp_path, path_kind):
    text = lines(
        {"aggregate_id": "a", "kind": "Opened", "payload": {"n": 1}, "ts": "2024-01-01T00:00:00Z",
         "headers": {"actor": "x"}, "tenant": "t1"},
        {"aggregate_id": "a", "kind": "Closed", "payload": None, "ts": None, "headers": None,
         "tenant": "t2"},
    )
    log = read_jsonl(write(tmp_path, text), stream="aggregate_id", type="kind", data="payload",
                     time="ts", meta="headers")
    assert log.frame["data"].to_list() == ['{"n":1}', "null"]
    assert log.frame["meta"].to_list() == ['{"actor":"x"}', "{}"]
    assert log.frame["tenant"].to_list() == ["t1", "t2"]
    assert log.event(1).time.isoformat() == "2024-01-01T00:00:00+00:00"
    assert log.frame["version"].to_list() == [1, 2]


def test_foreign_without_data_key_uses_the_other_keys(tmp_path, path_kind):
    text = lines({"account": "a", "kind": "Deposited", "amount": 5, "note": "x"},
                 {"account": "a", "kind": "Renamed", "name": "bob"},
                 {"account": "b", "kind": "Deposited", "amount": 7, "note": None, "meta": {}})
    log = read_jsonl(write(tmp_path, text), stream="account", type="kind")
    assert [dict(e.data) for e in log] == [{"amount": 5, "note": "x"}, {"name": "bob"},
                                          {"amount": 7, "note": None}]


def test_shadowed_canonical_key_is_kept(tmp_path, path_kind):
    text = lines({"aggregate_id": "a", "stream": "orig", "type": "X", "data": {}})
    log = read_jsonl(write(tmp_path, text), stream="aggregate_id")
    assert log.frame["stream"][0] == "a"
    assert log.frame["stream_source"][0] == "orig"


def test_spaced_json_and_many_layouts(tmp_path, path_kind):
    rows = []
    for i in range(3000):
        if i % 3 == 0:
            rows.append({"stream": f"s{i % 5}", "type": "A", "data": {"i": i}})
        elif i % 3 == 1:
            rows.append({"type": "B", "stream": f"s{i % 5}", "data": {"j": [i]}, "meta": {"m": i}})
        else:
            rows.append({"stream": f"s{i % 5}", "type": "C"})
    text = "".join(json.dumps(r) + "\n" for r in rows)  # ", " and ": " separators
    log = read_jsonl(write(tmp_path, text))
    assert len(log) == 3000
    assert log.event(2).meta["m"] == 1
    assert log.event(2).data == {"j": [1]}
    assert log.event(3).data == {}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1, "b": [true, null]}', '{"a":1,"b":[true,null]}'),
    ('{\n  "a": {\n    "b": "x, y: z"\n  }\n}', '{"a":{"b":"x, y: z"}}'),
    ('\t[ 1 ,\r\n 2 ] ', "[1,2]"),
    ('"a" , "b"', '"a","b"'),  # kept apart by the comma, both sides
    ("[1 2]", "[1 2]"),  # touching no structural character: would join two tokens
    ("[tr ue]", "[tr ue]"),
    ('["a" "b"]', '["a" "b"]'),
    ('{"a": "b\\" , c"}', '{"a": "b\\" , c"}'),  # a backslash: left to the parser
    ('{"é": "ü ,"}', '{"é":"ü ,"}'),
    ("{}", "{}"),
    ("", ""),
])
def test_without_blanks(text, expected):
    from estime.io._text import without_blanks

    rows = ["[1]", text, '{ "x" : 0 }']
    assert without_blanks(pl.Series(rows)).to_list() == ["[1]", expected, '{"x":0}']


def test_spaced_payloads_are_made_compact_without_the_line_parser(tmp_path, monkeypatch):
    """json.dumps' default separators (the CloudEvents SDK writes them too) and indented
    payloads in CSV take the column-wise path: no line-by-line parse, same values."""
    recs = [{"stream": f"s{i % 5}", "type": "T",
             "data": {"i": i, "f": i / 4, "s": f"a, b: {i}", "l": [i, None, True]},
             "meta": {"m": [i]}} for i in range(3000)]
    for i in range(0, 3000, 7):  # strings without ", ", escapes, null meta, a scalar payload
        recs[i]["data"] = [{"i": i, "q": 'x"y'}, "é"] if i % 2 else i
        recs[i]["meta"] = None if i % 3 else {"k": "v"}
    text = "".join(json.dumps(r) + "\n" for r in recs)
    calls = []
    parse = jsonl_mod.loads
    monkeypatch.setattr(jsonl_mod, "loads", lambda t: calls.append(t) or parse(t))
    log = read_jsonl(write(tmp_path, text))
    # only the first line (to learn the layout) and the few special rows (escapes, null
    # meta: fewer than FAST_MIN_ROWS of them, so a parser is quicker) are parsed
    assert len(calls) <= 1 + 2 * len(range(0, 3000, 7))  # data and meta
    assert not any("a, b: " in t for t in calls[1:])
    assert [e.to_dict()["data"] for e in log] == [r["data"] for r in recs]
    assert log.frame["data"][1] == '{"i":1,"f":0.25,"s":"a, b: 1","l":[1,null,true]}'
    assert log.event(3).meta == {"m": [2]}
    assert log.event(8).meta == {}
    assert log.frame["data"][7] == '[{"i":7,"q":"x\\"y"},"é"]'
    monkeypatch.undo()
    assert [e.to_dict() for e in read_on_both_paths(tmp_path / "log.jsonl")[1]] == [
        e.to_dict() for e in log]


def test_mapped_column_missing(tmp_path, path_kind):
    with pytest.raises(LogFormatError, match=r"'aggregate_id' \(mapped to 'stream'\)"):
        read_jsonl(write(tmp_path, lines({"stream": "a", "type": "X"})), stream="aggregate_id")


# --------------------------------------------------------------------------- hostile input


def test_non_utf8_names_the_line(tmp_path, path_kind):
    raw = lines({"stream": "a", "type": "X"}).encode() + b'{"stream":"b\xff","type":"X"}\n'
    with pytest.raises(LogFormatError, match=r"line 2 of .*log\.jsonl.*not UTF-8"):
        read_jsonl(write(tmp_path, raw))


def test_truncated_last_line(tmp_path, path_kind):
    text = lines({"stream": "a", "type": "X"}) + '{"stream":"a","ty'
    with pytest.raises(LogFormatError, match=r"line 2 of .*truncated"):
        read_jsonl(write(tmp_path, text))


def test_bad_line_in_the_middle_names_file_and_line(tmp_path, path_kind):
    good = [{"stream": "a", "type": "X", "data": {"i": i}} for i in range(3000)]
    text = lines(*good[:1234]) + '{"stream":"a","type":"X","data":{"i":1,}}\n' + lines(*good)
    with pytest.raises(LogFormatError, match=r"line 1235 of .*log\.jsonl: not valid JSON") as e:
        read_jsonl(write(tmp_path, text))
    assert "truncated" not in str(e.value)


def test_blank_lines_bom_crlf(tmp_path, path_kind):
    raw = (b"\xef\xbb\xbf\n  \n" + b'{"stream":"a","type":"X"}\r\n\r\n\t\n'
           + b'{"stream":"a","type":"Y","time":"not a time"}\r\n')
    with pytest.raises(LogFormatError, match=r"line 6 of .*'time' is not a time"):
        read_jsonl(write(tmp_path, raw))
    log = read_jsonl(write(tmp_path, raw.replace(b"not a time", b"2024-01-01"), "ok.jsonl"))
    assert log.types == ["X", "Y"]


@pytest.mark.parametrize("line,what", [
    ("[1,2]", "got a JSON array"),
    ('"event"', "got a JSON string"),
    ("null", "got a JSON null"),
    ("12", "got a JSON number"),
    ('{"stream":"a","type":"X","data":NaN}', "not valid JSON"),
    ('{"stream":"a","type":"X","data":1e400}', "not valid JSON"),
    ('{"stream":"a","type":"X","meta":[1]}', "'meta' .* must be a JSON object"),
    ('{"stream":"a","type":"X","meta":"m"}', "'meta' .* must be a JSON object"),
    ('{"stream":"a","type":"X"} {"stream":"b"}', "not valid JSON"),
    ('{"stream":"a","type":"X","data":"\\ud800"}', "not valid JSON"),
    ('{"stream":"a","type":"X","data":' + "[" * 5000 + "]" * 5000 + "}", "not valid JSON"),
    ('{"stream":"a","type":"X","data":' + "[" * 3000 + "1" * 20 + "]" * 3000 + "}",
     "not valid JSON"),
])
def test_malformed_line(tmp_path, path_kind, line, what):
    text = lines({"stream": "a", "type": "X"}) + line + "\n"
    with pytest.raises(LogFormatError, match=rf"line 2 of .*log\.jsonl.*{what}"):
        read_jsonl(write(tmp_path, text))


def test_huge_ints_everywhere(tmp_path, path_kind):
    text = lines({"stream": "a", "type": "X", "data": {"n": 10**30}, "meta": {"m": -(10**25)},
                  "extra": 10**40})
    log = read_jsonl(write(tmp_path, text))
    assert json.loads(log.frame["data"][0]) == {"n": 10**30}
    assert json.loads(log.frame["meta"][0]) == {"m": -(10**25)}
    assert log.frame["extra"][0] == str(10**40)  # beyond Int64: kept as JSON text


@pytest.mark.parametrize("rule,line2,message", [
    ("seq", '{"seq":1,"stream":"a","version":2,"type":"X","event_id":"e2"}',
     "seq 1 is not greater"),
    ("id", '{"seq":5,"stream":"b","version":1,"type":"Y","event_id":"e1"}',
     "event_id='e1' was already used"),
    ("version", '{"seq":5,"stream":"a","version":1,"type":"Y","event_id":"e2"}', "version 1"),
    ("stream", '{"seq":5,"stream":null,"type":"X","event_id":"e2"}', "'stream' is missing"),
])
def test_validation_errors_cite_the_line(tmp_path, path_kind, rule, line2, message):
    text = '{"seq":2,"stream":"a","version":1,"type":"X","event_id":"e1"}\n\n' + line2 + "\n"
    with pytest.raises(LogFormatError, match=rf"line 3 of .*log\.jsonl.*{message}"):
        read_jsonl(write(tmp_path, text))


def test_duplicates_are_passed_through(tmp_path, path_kind):
    e = {"stream": "a", "version": 1, "type": "X", "event_id": "e1", "data": {"n": 1}}
    text = lines(e, e, {"stream": "a", "version": 2, "type": "X", "event_id": "e2"})
    p = write(tmp_path, text)
    with pytest.raises(LogFormatError, match=r"line 2 of .*duplicates='drop'"):
        read_jsonl(p)
    with pytest.warns(DuplicatesDropped):
        log = read_jsonl(p, duplicates="drop")
    assert len(log) == 2 and log.duplicates_dropped == 1
    changed = text.replace('"data":{"n":1}', '"data":{"n":2}', 1)
    with warnings.catch_warnings(), pytest.raises(LogFormatError, match="different content"):
        read_jsonl(write(tmp_path, changed, "c.jsonl"), duplicates="drop")


# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
records = st.lists(
    st.fixed_dictionaries({
        "stream": st.sampled_from(["a", "b", 'c"\\,"meta":', "d\u00e9"]),
        "type": st.sampled_from(["X", "Y"]),
        "data": json_values,
        "meta": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    }),
    max_size=12,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records)
def test_records_jsonl_round_trip_on_both_paths(tmp_path_factory, recs):
    log = EventLog.from_records(recs)
    p = log.write_jsonl(tmp_path_factory.mktemp("h") / "h.jsonl")
    assert read_on_both_paths(p) == [log, log]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records, ascii=st.booleans())
def test_json_dumps_files_read_alike_on_both_paths(tmp_path_factory, recs, ascii):
    """Lines written by json.dumps (spaced; payload strings holding ", ", escapes,
    non-ASCII) read the same through the vectorised path as line by line."""
    text = "".join(json.dumps(r, ensure_ascii=ascii) + "\n" for r in recs)
    p = tmp_path_factory.mktemp("d") / "d.jsonl"
    p.write_text(text)
    fast_r, slow_r = read_on_both_paths(p)  # values alike (an escape may stay an escape)
    assert [e.to_dict() for e in fast_r] == [e.to_dict() for e in slow_r]
    if recs:
        assert [e.to_dict()["data"] for e in fast_r] == [r["data"] for r in recs]


@settings(max_examples=60, deadline=None)
@given(objs=st.lists(st.dictionaries(st.sampled_from(["stream", "type", "k", "m", "data"]),
                                     json_values, max_size=5), min_size=1, max_size=8))
def test_both_paths_agree_on_foreign_lines(tmp_path_factory, objs):
    """Whatever the vectorised path accepts, it reads as the line-by-line path does."""
    objs = [{"stream": "s", "type": "T", **o} for o in objs]
    text = "".join(jsonl_mod.dumps(o) + "\n" for o in objs)
    p = tmp_path_factory.mktemp("f") / "f.jsonl"
    p.write_text(text)
    fast_r, slow_r = read_on_both_paths(p)
    if isinstance(fast_r, str) or isinstance(slow_r, str):
        assert fast_r == slow_r
    else:
        assert [e.to_dict() for e in fast_r] == [e.to_dict() for e in slow_r]


# --------------------------------------------------------------------------- the fast path


@pytest.fixture(params=["read_lines", "numpy"])
def line_reader(request, monkeypatch):
    """Lines come from polars' readers, or from the numpy splitter when polars has none."""
    if request.param == "numpy":
        monkeypatch.delattr(pl, "read_lines", raising=False)
        monkeypatch.delattr(pl, "scan_lines", raising=False)
    return request.param


def test_line_reader_blank_lines_bom_crlf_and_numbers(tmp_path, line_reader, path_kind):
    good = [{"stream": f"s{i % 3}", "type": "X", "data": {"i": i}} for i in range(2500)]
    body = lines(*good).replace("\n", "\r\n", 7)
    raw = b"\xef\xbb\xbf\n \t\n" + body.encode() + b"\n\n" + b'{"stream":"a","type":}\n'
    with pytest.raises(LogFormatError, match=r"line 2505 of .*log\.jsonl: not valid JSON"):
        read_jsonl(write(tmp_path, raw))
    log = read_jsonl(write(tmp_path, raw.rsplit(b"\n", 2)[0] + b"\n", "ok.jsonl"))
    assert [e.data["i"] for e in log] == list(range(2500))


def test_gzip_keeps_line_numbers(tmp_path, line_reader):
    text = "\n" + lines({"stream": "a", "type": "X"}) + "\n" + '{"stream":"a"\n'
    p = tmp_path / "log.jsonl.gz"
    p.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(LogFormatError, match=r"line 4 of .*log\.jsonl\.gz: not valid JSON"):
        read_jsonl(p)


def test_non_utf8_on_both_line_readers(tmp_path, line_reader):
    raw = lines(*[{"stream": "a", "type": "X"}] * 3).encode() + b'{"stream":"\xc3","type":"X"}\n'
    with pytest.raises(LogFormatError, match=r"line 4 of .*log\.jsonl.*not UTF-8"):
        read_jsonl(write(tmp_path, raw))


def test_escaped_and_unicode_column_strings_on_the_fast_path(tmp_path, monkeypatch):
    """ensure_ascii writers escape names: the cut inside quotes decodes them exactly."""
    names = ["plain", 'quo"te', "back\\slash", "caf\u00e9", "\u2603\U0001f600", "tab\tnl\n",
             '","version":', "\\", "\x00\x1f", "/"]
    recs = [{"stream": names[i % len(names)], "type": names[(i * 3) % len(names)],
             "data": {"i": i}, "event_id": f"e{i}-{names[(i * 7) % len(names)]}"}
            for i in range(3000)]
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs)  # \uXXXX escapes

    def boom(*a, **k):
        raise AssertionError("slow path used")

    monkeypatch.setattr(jsonl_mod, "_slow_frame", boom)
    log = read_jsonl(write(tmp_path, text))
    assert log.frame["stream"].to_list() == [r["stream"] for r in recs]
    assert log.frame["type"].to_list() == [r["type"] for r in recs]
    assert log.frame["event_id"].to_list() == [r["event_id"] for r in recs]


def test_payload_holding_a_later_key_text(tmp_path, path_kind):
    """An object payload with a key named like the next key: the cut falls inside the payload
    and the line is parsed another way, never misread."""
    recs = [{"stream": "s", "type": "T", "data": {"a": i, "meta": {"x": i}} if i % 2 else {"b": i},
             "meta": {"m": i}} for i in range(2500)]
    log = read_jsonl(write(tmp_path, lines(*recs)))
    assert [dict(e.data) for e in log] == [r["data"] for r in recs]
    assert [dict(e.meta) for e in log] == [r["meta"] for r in recs]


def test_null_and_mixed_column_values_across_layouts(tmp_path, path_kind):
    recs = []
    for i in range(3000):
        r: dict = {"stream": "s", "type": "T", "time": None if i % 4 == 0 else
                   f"2024-01-01T00:00:{i % 60:02d}.000000Z", "n": [i, None, True, 1.5][i % 4]}
        recs.append(r)
    log = read_jsonl(write(tmp_path, lines(*recs)), stream="stream", type="type")
    assert log.frame["time"].null_count() == 750
    assert [e.data["n"] for e in log] == [r["n"] for r in recs]


def test_fast_times_rejects_other_forms():
    ok = "2024-02-29T23:59:59.999999Z"
    assert jsonl_mod.fast_times(pl.Series([ok, None])).to_list()[1] is None
    for good in ["2000-02-29T00:00:00.000000Z", "0001-01-01T00:00:00.000000Z",
                 "9999-12-31T23:59:59.999999Z", "1970-01-01T00:00:00.000001Z"]:
        expected = pl.Series([good]).str.to_datetime(time_unit="us", time_zone="UTC")
        assert jsonl_mod.fast_times(pl.Series([good])).to_list() == expected.to_list()
    for bad in ["2023-02-29T00:00:00.000000Z", "1900-02-29T00:00:00.000000Z",
                "2024-04-31T00:00:00.000000Z", "2024-13-01T00:00:00.000000Z",
                "2024-00-01T00:00:00.000000Z", "2024-01-00T00:00:00.000000Z",
                "2024-01-01T24:00:00.000000Z", "2024-01-01T00:60:00.000000Z",
                "2024-01-01T00:00:60.000000Z", "2024-01-01 00:00:00.000000Z",
                "2024-01-01T00:00:00.000000+", "2024-01-0aT00:00:00.000000Z",
                "2024-01-01T00:00:00.00000/Z", "2024-01-01T00:00:00.000000z"]:
        assert jsonl_mod.fast_times(pl.Series([ok, bad])) is None, bad
    # one form for every value, else the general parser decides
    for first, other in [("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.1Z"),
                         ("2024-01-01T00:00:00.5+01:00", "2024-01-01T00:00:00.123456Z"),
                         ("2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00.12345Z"),
                         ("2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00*01:00"),
                         ("2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00+24:00"),
                         ("2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00+01:60"),
                         ("2024-01-01T00:00:00+0100", "2024-01-01T00:00:00*0100"),
                         ("2024-01-01T00:00:00+0100", "2024-01-01T00:00:00+01:0"),
                         ("2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.1234567Z")]:
        assert jsonl_mod.fast_times(pl.Series([first, other])) is None, (first, other)


def _utc(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(times=st.lists(st.none() | st.datetimes(min_value=datetime(1900, 1, 1),
                                               max_value=datetime(2200, 1, 1)),
                      min_size=1, max_size=30),
       digits=st.integers(0, 6),
       zone=st.sampled_from(["Z", "", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59", "+0000",
                             "-0800", "+0530"]))
def test_fast_times_equals_the_general_parser(times, digits, zone):
    """Every form it reads (write_jsonl's, isoformat's, the CloudEvents SDK's) means what
    Python's ISO parser says, naive times taken as UTC as the general path does."""
    def text(t: datetime) -> str:
        fraction = "." + f"{t.microsecond:06d}"[:digits] if digits else ""
        return t.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone

    texts = [None if t is None else text(t) for t in times]
    parsed = jsonl_mod.fast_times(pl.Series("time", texts, pl.String))
    if all(t is None for t in texts):
        assert parsed is None
    else:
        assert parsed is not None
        assert parsed.to_list() == [None if t is None else _utc(t) for t in texts]


names = st.text(max_size=6)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=st.lists(st.fixed_dictionaries({
    "stream": names, "type": names, "data": json_values,
    "meta": st.dictionaries(names, json_values, max_size=2),
}), max_size=10))
def test_any_names_and_payloads_round_trip_on_both_paths(tmp_path_factory, recs):
    """Arbitrary text (quotes, backslashes, control characters, non-ASCII) in names and
    arbitrary JSON payloads, written compactly, load back equal through either path."""
    recs = [r for r in recs if r["stream"] and r["type"]]
    log = EventLog.from_records(recs)
    p = log.write_jsonl(tmp_path_factory.mktemp("n") / "n.jsonl")
    assert read_on_both_paths(p) == [log, log]


def test_large_files_are_streamed_not_read_whole(tmp_path, monkeypatch):
    """Above 32 bytes x FAST_MIN_ROWS a plain file goes through polars' line scanner into the
    first layout pass; lines that pass no layout still reach the line-by-line parser."""
    recs = [{"stream": f"s{i % 5}", "type": "T", "data": {"i": i}} for i in range(3000)]
    text = lines(*recs[:2000]) + json.dumps(recs[2000]) + "\n" + lines(*recs[2001:])
    p = write(tmp_path, "\ufeff" + text)

    def boom(*a, **k):
        raise AssertionError("read whole")

    monkeypatch.setattr(jsonl_mod, "frame_from_lines", boom)
    log = read_jsonl(p)
    assert [e.data["i"] for e in log] == list(range(3000))
    bad = write(tmp_path, text + '{"stream":"s","type":"T","data":{"i":1,}}', "bad.jsonl")
    with pytest.raises(LogFormatError, match=r"line 3001 of .*bad\.jsonl.*truncated"):
        read_jsonl(bad)


@pytest.mark.parametrize("where", ["data", "meta", "column"])
def test_overflowing_float_is_refused_on_both_paths(tmp_path, path_kind, where):
    """1e400 matches JSON's grammar but no double: the fast path must not keep it as text
    that fails later; it reports the line as the line-by-line parser does."""
    recs = [{"stream": "s", "type": "T", "data": {"i": i}, "meta": {"m": i}, "x": i}
            for i in range(2500)]
    text = lines(*recs).splitlines()
    bad = {"data": '"data":{"i":1e400}', "meta": '"meta":{"m":-1E+400}', "column": '"x":1e400'}
    good = {"data": '"data":{"i":999}', "meta": '"meta":{"m":999}', "column": '"x":999'}
    text[999] = text[999].replace(good[where], bad[where])
    assert bad[where] in text[999]
    with pytest.raises(LogFormatError, match=r"line 1000 of .*log\.jsonl: not valid JSON"):
        read_jsonl(write(tmp_path, "\n".join(text) + "\n"))


def test_float_forms_load_equal_on_both_paths(tmp_path):
    forms = ["1e-400", "1E+99", "1.0e-99", "-0.0", "1" + "0" * 250 + ".5", "2.5e-7", "1e308",
             "1" + "0" * 40 + ".5", "1" + "0" * 60 + "e5", "1.5e300"]
    body = lines(*[{"stream": "s", "type": "T", "data": {"i": i}} for i in range(2500)])
    body += "".join(f'{{"stream":"s","type":"T","data":{{"f":{f}}}}}\n' for f in forms)
    p = write(tmp_path, body)
    results = [[e.to_dict()["data"] for e in log] for log in read_on_both_paths(p)]
    assert results[0] == results[1]
    assert [d["f"] for d in results[0][2500:]] == [json.loads(f) for f in forms]


@settings(max_examples=300, deadline=None)
@given(x=st.floats(allow_nan=False) | st.integers(min_value=-(10**400), max_value=10**400),
       form=st.sampled_from(["{!r}", "{:e}", "{:.17g}", "{:E}", "{:.3e}", "{}0", "{}e-9"]))
def test_numbers_the_fast_path_accepts_always_parse(x, form):
    """Whatever number text the grammar's fast check accepts parses to a finite value."""
    import re

    try:
        text = form.format(x)
    except OverflowError:  # "{:e}" of an int beyond floats
        text = f"{x}e0"
    if re.fullmatch(jsonl_mod._NUM, text):
        value = jsonl_mod.loads(text)
        assert value == (int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text))
        assert not isinstance(value, float) or abs(value) != float("inf")


def test_a_layout_cut_never_splits_a_character_of_another_layout(tmp_path):
    # The first layout's head ('{"stream":"', 11 bytes) ends inside a 4-byte character of
    # the other layout's lines: those lines must go on to their own layout, not fail.
    a = '{"stream":"s","type":"T","data":%d}'
    b = '{"data":"\U00010000\U00010000%d","stream":"s","type":"T"}'
    p = tmp_path / "two.jsonl"
    p.write_text("\n".join((b if i % 3 == 1 else a) % i for i in range(3000)) + "\n",
                 encoding="utf-8")
    log = read_jsonl(p)
    assert [e.data for e in log] == [
        f"\U00010000\U00010000{i}" if i % 3 == 1 else i for i in range(3000)]


def test_write_jsonl_of_an_empty_log_and_of_hostile_text(tmp_path):
    empty = EventLog.from_records([])
    p = empty.write_jsonl(tmp_path / "empty.jsonl")
    assert p.read_bytes() == b"" and len(read_jsonl(p)) == 0
    log = EventLog.from_records([
        {"stream": 'a\nb,"c"\\', "type": "T\u2028", "data": {"x": "y\nz", "n": 10**30}},
        {"stream": "é", "type": "U", "data": [1, {"k": None}], "meta": {"m": "\t"}},
    ])
    p = log.write_jsonl(tmp_path / "hostile.jsonl")
    assert p.read_bytes().count(b"\n") == 2
    assert read_jsonl(p) == log


def test_times_in_every_rfc3339_form_producers_write(tmp_path):
    """Offsets, nanoseconds (Go's RFC3339Nano), a space for "T", and the lowercase "t" and
    "z" RFC 3339 allows, mixed in one file: all become the same UTC instants."""
    forms = ["2024-01-01T10:00:00.123456Z", "2024-01-01T12:00:00.123456789+02:00",
             "2024-01-01 10:00:00.123456Z", "2024-01-01t10:00:00.123456z",
             "2024-01-01T04:30:00.123456-05:30", "2024-01-01T10:00:00.123456"]
    lines = [json.dumps({"stream": "s", "type": "T", "time": t, "data": {}}) for t in forms]
    log = read_jsonl(write(tmp_path, "\n".join(lines).encode() + b"\n", "times.jsonl"))
    want = datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert [e.time for e in log] == [want] * len(forms)


def test_epoch_number_times_are_refused_naming_the_line(tmp_path):
    lines = [json.dumps({"stream": "s", "type": "T", "time": None, "data": {}}),
             json.dumps({"stream": "s", "type": "T", "time": 1700000000, "data": {}})]
    with pytest.raises(LogFormatError, match=r"line 2 of .*epochs\.jsonl: column 'time' has "
                       r"type Int64 \(this value: 1700000000\).*pl\.from_epoch"):
        read_jsonl(write(tmp_path, "\n".join(lines) + "\n", "epochs.jsonl"))


@pytest.mark.parametrize("first", [1, 1.5])  # the fast path's first layout: an int, a float
def test_a_fractional_seq_is_refused_not_truncated(tmp_path, first):
    rows = [{"seq": i, "stream": "s", "type": "T", "data": {}} for i in range(1, 3001)]
    rows[0]["seq"], rows[2499]["seq"] = first, 2500.5
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    line = 1 if first == 1.5 else 2500
    with pytest.raises(LogFormatError, match=rf"line {line} of .*field 'seq' is not an integer"):
        read_jsonl(write(tmp_path, text))


@settings(max_examples=300, deadline=None)
@given(value=json_values, indent=st.sampled_from([None, 0, 2, "\t"]))
def test_without_blanks_makes_json_dumps_compact(value, indent):
    """What json.dumps writes spaced or indented becomes exactly what it writes compactly
    (texts with escapes are left to the parser, unchanged)."""
    from estime.io._text import without_blanks

    text = json.dumps(value, indent=indent, ensure_ascii=False)
    out = without_blanks(pl.Series([text, text]))[1]
    if "\\" in text:
        assert out == text
    else:
        assert out == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _strict_json(text: str) -> Any:
    return json.loads(text, parse_constant=jsonl_mod._no_constant)


@settings(max_examples=500, deadline=None)
@given(text=st.lists(st.sampled_from(
    ["{", "}", "[", "]", ",", ":", '"a"', '"a, b"', '"', "1", "2", "-", ".5", "e3", "tr", "ue",
     "true", "null", " ", " ", ", ", ": ", "\t", "\n", "\\", "é"]), max_size=16).map("".join))
@example("[1 2]")
@example("[- 1]")
@example("[1 e3]")
@example("[tr ue]")
@example('["a, "b"]')
def test_removing_blanks_never_makes_invalid_json_valid(text):
    """The reader checks the result instead of the input: a result that is valid JSON
    must come from valid JSON of the same value."""
    from estime.io._text import unspaced, without_blanks

    for strip in (unspaced, without_blanks):
        out = strip(pl.Series([text]))[0]
        try:
            value = _strict_json(out)
        except ValueError:
            continue
        assert _strict_json(text) == value, strip


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_unspaced_makes_json_dumps_default_compact(value):
    """json.dumps' default ", " and ": " separators go, unless a string holds one of them
    (or a backslash): then the text is left to without_blanks."""
    from estime.io._text import unspaced

    text = json.dumps(value, ensure_ascii=False)
    out = unspaced(pl.Series([text, text]))[1]
    if "\\" in text or any(", " in t or ": " in t for t in _strings(value)):
        assert out == text
    else:
        assert out == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _strings(value: Any) -> list[str]:
    """Every string of a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(t for v in value.values() for t in _strings(v))]
    if isinstance(value, list):
        return [t for v in value for t in _strings(v)]
    return []


def _recording_bars(monkeypatch) -> list[Any]:
    """Make ``jsonl_mod.progress`` hand out shown tqdm bars (to a buffer) and keep them."""
    import io

    from tqdm import tqdm

    bars: list[Any] = []

    def progress(total, desc, unit="event", **kwargs):
        bars.append(tqdm(total=total, desc=desc, unit=unit, file=io.StringIO(), delay=0))
        return bars[-1]

    monkeypatch.setattr(jsonl_mod, "progress", progress)
    return bars


@pytest.mark.parametrize("whole", [False, True], ids=["scanned", "read whole"])
def test_a_progress_bar_follows_the_lines_and_changes_nothing(tmp_path, monkeypatch, whole):
    """With a bar shown, the first layout pass runs in batches that advance it; the bar
    ends at the count of lines (its estimate given way) and the log is the one read
    without a bar, a line of another layout and a bad line included."""
    recs = [{"seq": i + 1, "stream": f"s{i % 7}", "type": "T",
             "data": {"i": i, "pad": "x" * (i % 50)}} for i in range(6000)]
    text = lines(*recs[:4000]) + json.dumps(recs[4000]) + "\n" + lines(*recs[4001:])
    p = write(tmp_path, text)
    if whole:  # the reader of polars Series (CloudEvents, small files, other line readers)
        monkeypatch.setattr(jsonl_mod, "BAR_MIN_LINES", 1000)
        monkeypatch.setattr(jsonl_mod.pl, "scan_lines", None, raising=False)
    plain = read_jsonl(p)
    bars = _recording_bars(monkeypatch)
    shown = read_jsonl(p)
    assert shown == plain and shown.frame.equals(plain.frame)
    assert len(bars) == 1 and bars[0].desc.startswith(f"reading {p.name}")
    assert bars[0].n == bars[0].total == 6000
    bad = write(tmp_path, text + '{"stream":"s","type":"T","data":{"i":1,}}\n', "bad.jsonl")
    with pytest.raises(LogFormatError, match=r"line 6001 of .*bad\.jsonl"):
        read_jsonl(bad)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(text.encode() + b'{"stream":"s","type":"T","data":{"i":"\xe9"}}\n')
    with pytest.raises(LogFormatError, match=r"line 6001 of .*latin\.jsonl.*not UTF-8"):
        read_jsonl(latin)


def test_a_quick_read_shows_no_bar(tmp_path, monkeypatch, capsys):
    """Bars appear only once a read has lasted a second: a quick one, with progress on,
    prints nothing (finishing the pass must not draw the bar)."""
    import estime._progress

    monkeypatch.setattr(estime._progress, "_enabled", lambda: True)
    p = write(tmp_path, lines(*({"stream": "s", "type": "T", "data": {"i": i}}
                                for i in range(3000))))
    assert p.stat().st_size >= 32 * jsonl_mod.FAST_MIN_ROWS  # polars' line scanner
    assert len(read_jsonl(p)) == 3000
    assert capsys.readouterr().err == ""
