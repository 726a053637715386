"""read_cloudevents against events produced by the real CloudEvents Python SDK."""

from __future__ import annotations

import base64
import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1.conversion import to_json as legacy_to_json
from cloudevents.v1.http import CloudEvent as LegacyCloudEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estime import LogFormatError
from estime.io import read_cloudevents
from estime.io.cloudevents import is_json_content_type
from estime.log import DuplicatesDropped

FMT = JSONFormat()
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def sdk_events(n: int = 40) -> list[CloudEvent]:
    """A varied set: subjects or not, extensions, JSON / binary / text data, big ints."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        attrs = {"type": rng.choice(["com.bank.Deposited", "com.bank.Withdrawn"]),
                 "source": f"/bank/{i % 3}", "id": f"evt-{i}",
                 "time": T0 + timedelta(seconds=i, microseconds=i),
                 "sequence": str(i + 1), "traceparent": f"00-{i:032x}-{i:016x}-01"}
        if i % 4:
            attrs["subject"] = f"acc-{i % 5}"
        if i % 6 == 0:
            attrs["partitionkey"] = f"p{i % 2}"
        kind = i % 5
        data: object
        if kind == 0:
            attrs["datacontenttype"] = "application/json"
            attrs["dataschema"] = "https://example.com/deposit.json"
            data = {"amount": i, "big": 10**30 + i, "nested": {"k": [i, None, "é"]}}
        elif kind == 1:
            attrs["datacontenttype"] = "application/vnd.bank+json; charset=utf-8"
            data = json.dumps({"binary_json": i}).encode()
        elif kind == 2:
            attrs["datacontenttype"] = "application/octet-stream"
            data = bytes([0, 255, i % 256]) + b"raw"
        elif kind == 3:
            attrs["datacontenttype"] = "text/plain"
            data = f"line {i}"
        else:
            data = None
        out.append(CloudEvent(attrs, data))
    return out


def expected(event: CloudEvent) -> dict:
    """What estime should make of an SDK event (the module docstring's mapping)."""
    attrs = event.get_attributes()
    data = event.get_data()
    if isinstance(data, bytes):
        if is_json_content_type(attrs.get("datacontenttype")):
            data = json.loads(data)
        else:
            data = {"data_base64": base64.b64encode(data).decode()}
    elif data is None:
        data = {}
    return {
        "event_id": attrs["id"], "type": attrs["type"],
        "stream": attrs.get("subject") or attrs["source"], "time": attrs["time"],
        "data": data,
        "meta": {k: v for k, v in attrs.items() if k not in ("id", "type", "subject", "time")},
    }


def actual(log) -> list[dict]:
    return [{"event_id": e.event_id, "type": e.type, "stream": e.stream, "time": e.time,
             "data": e.to_dict()["data"], "meta": e.to_dict()["meta"]} for e in log]


def test_sdk_structured_lines(tmp_path):
    events = sdk_events()
    p = tmp_path / "events.jsonl"
    p.write_bytes(b"".join(to_structured(e, FMT).body + b"\n" for e in events))
    log = read_cloudevents(p)
    assert actual(log) == [expected(e) for e in events]
    # meta keeps every non-mapped attribute, in file order
    assert list(log.event(1).meta) == ["source", "sequence", "traceparent", "partitionkey",
                                       "datacontenttype", "dataschema", "specversion"]
    assert log.source == str(p)
    # the SDK reads the same file back to the same attributes
    for line, e in zip(p.read_bytes().splitlines(), log):
        back = FMT.read(None, line)
        assert back.get_id() == e.event_id and back.get_time() == e.time


def test_sdk_batch_array(tmp_path):
    events = sdk_events(12)
    p = tmp_path / "batch.json"
    p.write_bytes(b"[\n" + b",\n".join(FMT.write(e) for e in events) + b"\n]\n")
    assert actual(read_cloudevents(p)) == [expected(e) for e in events]
    (tmp_path / "empty.json").write_text("[ ]")
    assert len(read_cloudevents(tmp_path / "empty.json")) == 0


def test_legacy_sdk_api(tmp_path):
    e1 = LegacyCloudEvent({"type": "t.A", "source": "/s", "subject": "x"}, {"a": 1})
    e2 = LegacyCloudEvent({"type": "t.B", "source": "/s", "myext": "v"}, {"b": [1, 2]})
    p = tmp_path / "legacy.jsonl"
    p.write_bytes(legacy_to_json(e1) + b"\n" + legacy_to_json(e2) + b"\n")
    log = read_cloudevents(p)
    assert [e.event_id for e in log] == [e1["id"], e2["id"]]
    assert [e.stream for e in log] == ["x", "/s"]
    assert log.event(2).meta["myext"] == "v"
    assert log.event(2).data == {"b": [1, 2]}


def test_order_by_sequence_extension(tmp_path):
    events = sdk_events(20)
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    p = tmp_path / "shuffled.jsonl"
    p.write_bytes(b"\n".join(FMT.write(e) for e in shuffled))
    log = read_cloudevents(p)
    # "10" sorts after "9": digit strings compare as integers
    assert [e.event_id for e in log] == [e.get_id() for e in events]
    assert log.frame["seq"].to_list() == list(range(1, 21))


def ce(i: int, **extra) -> dict:
    return {"specversion": "1.0", "id": f"e{i}", "source": "/s", "type": "T", **extra}


def write(tmp_path: Path, *objs: object, name: str = "ce.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(o) + "\n" for o in objs))
    return p


def test_order_lexicographic_and_file_order(tmp_path):
    p = write(tmp_path, ce(1, sequence="b"), ce(2, sequence="a10"), ce(3, sequence="a9"))
    assert [e.event_id for e in read_cloudevents(p)] == ["e2", "e3", "e1"]
    p = write(tmp_path, ce(1, sequence=2), ce(2, sequence="1"), ce(3, sequence="10"), name="i")
    assert [e.event_id for e in read_cloudevents(p)] == ["e2", "e1", "e3"]
    p = write(tmp_path, ce(1, sequence="2"), ce(2), ce(3, sequence="1"), name="partial")
    assert [e.event_id for e in read_cloudevents(p)] == ["e1", "e2", "e3"]


@pytest.mark.parametrize("bad,message", [
    ({"specversion": "1.0", "source": "/s", "type": "T"}, "no 'id' attribute"),
    ({"specversion": "1.0", "id": "1", "type": "T"}, "no 'source' attribute"),
    ({"id": "1", "source": "/s", "type": "T"}, "no 'specversion' attribute"),
    ({"specversion": "1.0", "id": "1", "source": "/s"}, "no 'type' attribute"),
    ({**ce(9), "specversion": "0.3"}, "specversion '0.3' is not supported"),
    ({**ce(9), "id": ""}, "'id' must be a non-empty string"),
    ({**ce(9), "type": 5}, "'type' must be a non-empty string"),
    ({**ce(9), "subject": 5}, "'subject' must be a string"),
    ({**ce(9), "data": {}, "data_base64": "e30="}, "both 'data' and 'data_base64'"),
    ({**ce(9), "data_base64": "not base64!"}, "not valid base64"),
    ({**ce(9), "datacontenttype": "application/json", "data_base64": "bm90IGpzb24="},
     "does not hold UTF-8 JSON"),
    ({**ce(9), "time": "yesterday"}, "'time' is not a time"),
    ([1, 2], "expected one JSON object per line"),
])
def test_invalid_events_name_the_line(tmp_path, bad, message):
    p = write(tmp_path, ce(1), bad, ce(2))
    with pytest.raises(LogFormatError, match=rf"line 2 of .*ce\.jsonl.*{message}"):
        read_cloudevents(p)


def test_array_errors_name_the_line(tmp_path):
    p = tmp_path / "a.json"
    p.write_text("[\n" + json.dumps(ce(1)) + ",\n" + json.dumps(ce(2)).replace('"T"', "T")
                 + "\n]")
    with pytest.raises(LogFormatError, match=r"line 3 of .*a\.json: not valid JSON"):
        read_cloudevents(p)
    p.write_text("[\n" + json.dumps(ce(1)) + ",\n  7\n]")
    with pytest.raises(LogFormatError, match=r"line 3 of .*must be a JSON object"):
        read_cloudevents(p)
    p.write_text("[\n" + json.dumps(ce(1)) + "\n] trailing")
    with pytest.raises(LogFormatError, match=r"line 3 of .*unexpected text after"):
        read_cloudevents(p)
    p.write_text("[\n" + json.dumps(ce(1)) + ",\n" + json.dumps(ce(2)))
    with pytest.raises(LogFormatError, match=r"expected ',' or ']' after event 2"):
        read_cloudevents(p)


def test_ids_reused_across_sources(tmp_path):
    p = write(tmp_path, ce(1), {**ce(1), "source": "/other"})
    with pytest.raises(LogFormatError, match=r"line 2 of .*id 'e1' from source '/other' is also "
                                             r"used at line 1 by source '/s'"):
        read_cloudevents(p)


def test_duplicates(tmp_path):
    p = write(tmp_path, ce(1, data={"a": 1}), ce(1, data={"a": 1}), ce(2))
    with pytest.raises(LogFormatError, match=r"line 2 of .*duplicates='drop'"):
        read_cloudevents(p)
    with pytest.warns(DuplicatesDropped):
        log = read_cloudevents(p, duplicates="drop")
    assert [e.event_id for e in log] == ["e1", "e2"] and log.duplicates_dropped == 1
    p = write(tmp_path, ce(1, data={"a": 1}), ce(1, data={"a": 2}), name="differ.jsonl")
    with pytest.raises(LogFormatError, match="different content"):
        read_cloudevents(p, duplicates="drop")


def test_hostile_files(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(b"\xef\xbb\xbf\n" + json.dumps(ce(1)).encode() + b"\r\n\r\n"
                  + json.dumps(ce(2, subject="\u00e9")).encode())
    log = read_cloudevents(p)
    assert [e.stream for e in log] == ["/s", "\u00e9"]
    p.write_bytes(json.dumps(ce(1)).encode() + b"\n" + b'{"id": "\xff"}\n')
    with pytest.raises(LogFormatError, match=r"line 2 of .*not UTF-8"):
        read_cloudevents(p)
    p.write_bytes(json.dumps(ce(1)).encode() + b"\n" + json.dumps(ce(2)).encode()[:-9])
    with pytest.raises(LogFormatError, match=r"line 2 of .*truncated"):
        read_cloudevents(p)
    g = tmp_path / "g.jsonl.gz"
    g.write_bytes(gzip.compress(json.dumps(ce(1, data=10**40)).encode()))
    assert read_cloudevents(g).frame["data"][0] == str(10**40)
    pretty = tmp_path / "one.json"
    pretty.write_text(json.dumps(ce(1, data={"x": 1}), indent=2))
    assert read_cloudevents(pretty).event(1).data == {"x": 1}


def test_rfc3339_times_of_every_precision(tmp_path):
    times = ["2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00Z",
             "2024-01-01T01:00:00.5+01:00"]
    p = write(tmp_path, *[ce(i, time=t) for i, t in enumerate(times)])
    assert [e.time for e in read_cloudevents(p)] == [
        datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)]


def test_content_types():
    for yes in ("application/json", "text/json", "application/cloudevents+json",
                "application/vnd.a.b+json; charset=utf-8", "APPLICATION/JSON"):
        assert is_json_content_type(yes), yes
    for no in (None, "", "text/plain", "application/jsonx", "application/octet-stream",
               "image/json-ish"):
        assert not is_json_content_type(no), no


# Files of at least 2,000 lines take the vectorised path (lines cut by key layout); they
# must read exactly as the line-by-line path reads small ones.


def test_large_sdk_files_read_like_small_ones(tmp_path):
    events = sdk_events(3000)
    p = tmp_path / "large.jsonl"
    p.write_bytes(b"".join(to_structured(e, FMT).body + b"\n" for e in events))
    log = read_cloudevents(p)
    assert actual(log) == [expected(e) for e in events]
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(to_structured(e, FMT).body + b"\n" for e in events[:40]))
    assert read_cloudevents(small).frame.equals(log.frame.head(40))


def _without_big_integers(events: list[CloudEvent]) -> list[CloudEvent]:
    out = []
    for e in events:
        data = e.get_data()
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "big"}
        out.append(CloudEvent(e.get_attributes(), data))
    return out


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("layout", ["own lines", "on the event lines", "blank lines, CRLF",
                                    "indented events", "one line"])
def test_large_batches_read_like_json_lines(tmp_path, layout, big, monkeypatch):
    """A batch laid out one event per line is read like JSON Lines (column-wise); a batch in
    another layout is parsed whole by orjson and its events written back as lines, unless an
    integer may exceed 64 bits (orjson would round it): then the array parser reads it. All
    give the log of the same events as lines."""
    import estime.io.cloudevents as ce_mod

    events = sdk_events(3000) if big else _without_big_integers(sdk_events(3000))
    bodies = [FMT.write(e).decode() for e in events]
    lines_file = tmp_path / "events.jsonl"
    lines_file.write_text("".join(b + "\n" for b in bodies))
    text = {
        "own lines": "[\n" + ",\n".join(bodies) + "\n]\n",
        "on the event lines": "[" + ",\n".join(bodies) + "]",
        "blank lines, CRLF": "\r\n[\r\n\r\n" + ",\r\n\r\n".join(bodies) + "  \r\n]\r\n\r\n",
        "indented events": json.dumps([json.loads(b) for b in bodies], indent=1),
        "one line": "[" + ",".join(bodies) + "]",
    }[layout]
    batch = tmp_path / "batch.json"
    batch.write_text(text)
    parsed = []
    array_parser = ce_mod._events_from_array
    monkeypatch.setattr(ce_mod, "_events_from_array",
                        lambda *a: parsed.append(1) or array_parser(*a))
    log = read_cloudevents(batch)
    assert bool(parsed) == (big and layout in ("indented events", "one line"))
    assert actual(log) == actual(read_cloudevents(lines_file)) == [expected(e) for e in events]


@pytest.mark.parametrize("damage,message", [
    (lambda t: t.replace('"id": "evt-1234"', '"id": evt-1234'), r"line 1236 of .*not valid JSON"),
    (lambda t: t.replace('"id": "evt-1234"', '"id": ""'), r"line 1236 of .*'id' must be"),
    (lambda t: t.replace("},\n", "}\n", 1), r"line 3 of .*expected ',' or ']' after event 1"),
    (lambda t: t[:-3], r"expected ',' or ']' after event 3000.*truncated"),
    (lambda t: t.replace("\n]", ",\n]"), r"line \d+ of .*not valid JSON"),
])
def test_errors_in_large_batches_name_the_line(tmp_path, damage, message):
    bodies = [FMT.write(e).decode() for e in sdk_events(3000)]
    p = tmp_path / "batch.json"
    p.write_text(damage("[\n" + ",\n".join(bodies) + "\n]\n"))
    with pytest.raises(LogFormatError, match=message):
        read_cloudevents(p)


@pytest.mark.parametrize(("bad", "message"), [
    ({"id": ""}, "'id' must be a non-empty string"),
    ({"source": "/other", "id": "evt-7"}, "id 'evt-7' from source '/other' is also used"),
    ({"time": "yesterday"}, "not a time"),
])
def test_errors_in_indented_batches_name_the_file_line(tmp_path, bad, message):
    """The whole-array parse knows no lines: an error found after it is worded by the array
    parser, with the line of the file where the event starts."""
    objs = [json.loads(FMT.write(e)) for e in _without_big_integers(sdk_events(3000))]
    objs[2500] = {**objs[2500], **bad}
    p = tmp_path / "batch.json"
    text = json.dumps(objs, indent=1)
    p.write_text(text)
    start = text.index(json.dumps(objs[2500], indent=1).replace("\n", "\n "))
    line = text.count("\n", 0, start) + 1
    with pytest.raises(LogFormatError, match=rf"line {line} of .*{message}"):
        read_cloudevents(p)


PAYLOADS = st.one_of(st.none(), st.integers(-(2**70), 2**70), st.text(max_size=8),
                    st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4),
                                    max_size=3))
LAYOUTS = st.sampled_from(["plain", "subject", "ext", "reordered", "spaced", "nulls",
                           "escapes"])


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(LAYOUTS, PAYLOADS), min_size=1, max_size=6), st.integers(0, 99))
def test_any_mix_of_layouts_reads_like_line_by_line(tmp_path, kinds, seed):
    objs, spaced = [], []
    for i in range(2500):
        layout, data = kinds[i % len(kinds)]
        o = ce(i, time=f"2024-01-01T00:00:{i % 60:02d}Z", data=data)
        if layout == "subject":
            o["subject"] = f"acc-{i % 7}"
        elif layout == "ext":
            o["traceparent"], o["sequence"] = f"00-{i:032x}", i
        elif layout == "reordered":
            o = dict(reversed(list(o.items())))
        elif layout == "nulls":
            o["subject"], o["datacontenttype"] = None, None
        elif layout == "escapes":
            o["subject"], o["note"] = f'a"b\\c\u00e9\n{i}', "\u2028\t"
        objs.append(o)
        spaced.append(layout == "spaced")
    order = list(range(len(objs)))
    random.Random(seed).shuffle(order)
    p = tmp_path / f"mix{seed}.jsonl"
    p.write_text("".join(json.dumps(objs[j], ensure_ascii=False, separators=(
        (", ", ": ") if spaced[j] else (",", ":"))) + "\n" for j in order))
    in_file = [objs[j] for j in order]
    if all("sequence" in o for o in in_file):
        in_file.sort(key=lambda o: o["sequence"])
    want = [{"event_id": o["id"], "type": "T", "stream": o.get("subject") or "/s",
             "time": datetime.fromisoformat(o["time"]), "data": o["data"],
             "meta": {k: v for k, v in o.items()
                      if k not in ("id", "type", "subject", "time", "data")}}
            for o in in_file]
    assert actual(read_cloudevents(p)) == want


@pytest.mark.parametrize("bad,message", [
    ({"id": ""}, "'id' must be a non-empty string"),
    ({"specversion": "0.3"}, "specversion '0.3' is not supported"),
    ({"subject": 5}, "'subject' must be a string"),
    ({"data_base64": "not base64!"}, "not valid base64"),
    ({"source": "/other"}, "id 'e7' from source '/other' is also used at line 8"),
])
def test_errors_deep_in_large_files_name_the_line(tmp_path, bad, message):
    objs = [ce(i) for i in range(3000)]
    objs[2600] = {**ce(7), **bad} if "source" in bad else {**objs[2600], **bad}
    p = write(tmp_path, *objs)
    with pytest.raises(LogFormatError, match=rf"line 2601 of .*{message}"):
        read_cloudevents(p)
