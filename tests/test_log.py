"""EventLog and Event: construction, every validation rule, queries, round trips."""

from __future__ import annotations

import json
import math
import uuid
import warnings
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estime import Event, EventLog, LogFormatError
from estime._normalize import NAMESPACE, SCHEMA
from estime.io import read_jsonl, read_parquet
from estime.log import DuplicatesDropped

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def uuid5(stream: str, version: int) -> str:
    """The documented id rule, computed independently of estime's fast implementation."""
    return str(uuid.uuid5(NAMESPACE, f"{stream}\x00{version}"))


def bank() -> EventLog:
    return EventLog.from_records([
        {"stream": "acc-1", "type": "Opened", "data": {"owner": "ada"}, "time": T0},
        {"stream": "acc-2", "type": "Opened", "data": {"owner": "bob"},
         "time": T0 + timedelta(minutes=1)},
        {"stream": "acc-1", "type": "Deposited", "data": {"amount": 50}, "time": None,
         "meta": {"causation_id": "c1"}},
        {"stream": "acc-1", "type": "Deposited", "data": {"amount": 20, "memo": "late key"},
         "time": T0 + timedelta(minutes=3)},
        {"stream": "acc-2", "type": "Withdrawn", "data": {"amount": 5},
         "time": T0 + timedelta(minutes=4)},
    ])


# --------------------------------------------------------------------------- construction


def test_assigned_columns():
    log = EventLog.from_records([{"stream": "a", "type": "X"}, {"stream": "b", "type": "X"},
                                 {"stream": "a", "type": "Y"}])
    f = log.frame
    assert f.schema == pl.Schema(SCHEMA)
    assert f["seq"].to_list() == [1, 2, 3]
    assert f["version"].to_list() == [1, 1, 2]
    assert f["event_id"].to_list() == [uuid5("a", 1), uuid5("b", 1), uuid5("a", 2)]
    assert f["schema_version"].to_list() == [1, 1, 1]
    assert f["time"].to_list() == [None] * 3
    assert f["data"].to_list() == ["{}"] * 3 and f["meta"].to_list() == ["{}"] * 3


def test_assigned_ids_are_stable_and_distinct():
    recs = [{"stream": s, "type": "T"} for s in ["x", "y", "x", "z\u00e9", "x"]]
    a, b = EventLog.from_records(recs), EventLog.from_records(recs)
    assert a == b
    assert a.frame["event_id"].n_unique() == 5


def test_given_columns_are_kept():
    log = EventLog.from_records([
        {"seq": 10, "stream": "a", "version": 3, "type": "X", "event_id": "e1",
         "schema_version": 2, "time": "2024-05-01T14:00:00+02:00", "extra": "kept",
         "data": {}},
        {"seq": 20, "stream": "a", "version": 7, "type": "X", "event_id": "e2"},
    ])
    assert log.frame["seq"].to_list() == [10, 20]
    assert log.frame["version"].to_list() == [3, 7]
    assert log.frame["schema_version"].to_list() == [2, 1]
    assert log.event(10).time == T0
    assert log.frame.columns == [*SCHEMA, "extra"]
    assert log.frame["extra"].to_list() == ["kept", None]


def test_column_mapping_records_polars_pandas():
    recs = [{"agg": "a", "kind": "X", "payload": {"n": 1}, "ts": "2024-05-01T12:00:00Z"},
            {"agg": "a", "kind": "Y", "payload": {"n": 2}, "ts": None}]
    mapping = {"stream": "agg", "type": "kind", "data": "payload", "time": "ts"}
    a = EventLog.from_records(recs, **mapping)
    b = EventLog.from_frame(pl.DataFrame(recs), **mapping)
    c = EventLog.from_frame(pd.DataFrame(recs), **mapping)
    assert a == b == c
    assert a.event(1).data == {"n": 1} and a.event(1).time == T0


def test_frame_payload_kinds():
    base = {"stream": ["a", "a"], "type": ["X", "Y"]}
    text = EventLog.from_frame(pl.DataFrame({**base, "data": ['{"n":1}', "[1,2]"]}))
    struct = EventLog.from_frame(pl.DataFrame({**base, "data": [{"n": 1}, {"n": None}]}))
    lists = EventLog.from_frame(pl.DataFrame({**base, "data": [[1], [2, 3]]}))
    pandas = EventLog.from_frame(pd.DataFrame({**base, "data": [{"n": 1}, [1, 2]]}))
    assert text.frame["data"].to_list() == pandas.frame["data"].to_list() == ['{"n":1}', "[1,2]"]
    assert struct.frame["data"].to_list() == ['{"n":1}', '{"n":null}']
    assert lists.frame["data"].to_list() == ["[1]", "[2,3]"]


def test_no_data_column_other_columns_become_payload():
    log = EventLog.from_frame(pl.DataFrame({"acct": ["a"], "kind": ["Dep"], "amount": [5]}),
                              stream="acct", type="kind")
    assert log.event(1).data == {"amount": 5}


def test_empty_log():
    log = EventLog.from_records([])
    assert len(log) == 0 and list(log) == [] and log.streams == [] and log.types == []
    assert log.frame.schema == pl.Schema(SCHEMA)


# --------------------------------------------------------------------------- validation


def df(**cols) -> pl.DataFrame:
    return pl.DataFrame(cols)


@pytest.mark.parametrize("frame,message", [
    (df(type=["X"]), r"has no 'stream' column \(it has type\); map one with stream="),
    (df(stream=["a"]), r"has no 'type' column .* map one with type="),
    (df(stream=["a", None], type=["X", "X"]), r"row 2: field 'stream' is missing \(null\)"),
    (df(stream=["a", "a"], type=["X", None]), r"row 2: field 'type' is missing \(null\)"),
    (df(seq=[1, 5, 2], stream=["a", "b", "c"], type=["X"] * 3),
     r"row 3: seq 2 is not greater than the previous seq 5; seqs must strictly increase"),
    (df(seq=[1, 1], stream=["a", "b"], type=["X"] * 2), r"row 2: seq 1 is not greater"),
    (df(seq=[1, None], stream=["a", "b"], type=["X"] * 2), r"row 2: field 'seq' is missing"),
    (df(seq=["1", "x"], stream=["a", "b"], type=["X"] * 2),
     r"row 2: field 'seq' is not an integer: 'x'"),
    (df(stream=["a", "b", "a"], version=[1, 1, 1], type=["X", "X", "Y"]),
     r"row 3: stream='a' and version=1 was already used at row 1 with different content"),
    (df(stream=["a", "a"], version=[1, 1], type=["X", "X"]),
     r"row 2: duplicate event stream='a' and version=1 .*duplicates='drop'"),
    (df(stream=["a", "a"], version=[1, 1], type=["X", "X"], event_id=["e1", "e2"]),
     r"row 2: stream 'a' version 1 already appears at row 1"),
    (df(stream=["a", "a"], version=[2, 1], type=["X", "Y"]),
     r"row 2: stream 'a' version 1 is not greater than the stream's previous version"),
    (df(stream=["a", "b"], type=["X", "Y"], event_id=["e", "e"]),
     r"row 2: event_id='e' was already used at row 1 with different content "
     r"\(field 'stream' differs"),
    (df(stream=["a", "a"], type=["X", "X"], event_id=["e", "e"]),
     r"row 2: duplicate event event_id='e' \(identical to row 1.*duplicates='drop'"),
    (df(stream=["a", "a"], type=["X", "X"], time=["2024-01-01", "soon"]),
     r"row 2: field 'time' is not a time: 'soon'.*ISO 8601"),
    (df(stream=["a"], type=["X"], time=[5]), r"column 'time' has type Int64"),
    (df(seq=[1.0, 2.5], stream=["a", "b"], type=["X", "X"]),
     r"row 2: field 'seq' is not an integer: 2.5"),
    (df(stream=["a", "a"], type=["X", "X"], version=[1.0, float("nan")]),
     r"row 2: field 'version' is not an integer: nan"),
    (df(stream=["a", "b"], type=["X", "X"], time=[None, 1.5]),
     r"row 2: column 'time' has type Float64 \(this value: 1.5\).*unit of epoch numbers"),
    (df(stream=["a", "a"], type=["X", "X"], data=["{}", "{nope"]),
     r"row 2: field 'data' is not valid JSON"),
    (df(stream=["a"], type=["X"], meta=["[1]"]), r"row 1: field 'meta' must be a JSON object"),
    (df(stream=["a", "b"], type=["X", "X"], version=[1, 1], event_id=[None, uuid5("a", 1)]),
     r"event_id .* is used twice"),
])
def test_validation_rules(frame, message):
    with pytest.raises(LogFormatError, match=message):
        EventLog.from_frame(frame)


def test_errors_name_the_source():
    with pytest.raises(LogFormatError, match=r"row 2 of orders\.csv: field 'stream'"):
        EventLog.from_frame(df(stream=["a", None], type=["X", "X"]), source="orders.csv")


def test_errors_cite_file_lines():
    frame = df(stream=["a", None], type=["X", "X"], _line=[3, 7])
    with pytest.raises(LogFormatError, match=r"line 7 of f\.jsonl: field 'stream' is missing"):
        EventLog.from_frame(frame, source="f.jsonl")
    assert "_line" not in EventLog.from_frame(frame.head(1)).frame.columns


@pytest.mark.parametrize("value", [{1, 2}, math.nan, {"x": math.inf}, [-math.inf], object(),
                                   b"bytes"])
def test_records_payload_not_json(value):
    with pytest.raises(LogFormatError, match=r"record 2: field 'data' is not JSON-compatible"):
        EventLog.from_records([{"stream": "a", "type": "X"},
                               {"stream": "a", "type": "X", "data": value}])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown canonical column 'strem'"):
        EventLog.from_records([{"stream": "a", "type": "X"}], strem="stream")
    with pytest.raises(LogFormatError, match=r"column 'agg' \(mapped to 'stream'\) is not in"):
        EventLog.from_records([{"stream": "a", "type": "X"}], stream="agg")
    with pytest.raises(ValueError, match="duplicates must be 'error' or 'drop'"):
        EventLog.from_records([{"stream": "a", "type": "X"}], duplicates="keep")  # type: ignore
    with pytest.raises(LogFormatError, match="is a list, not a mapping"):
        EventLog.from_records([["a", "X"]])  # type: ignore[list-item]


def test_duplicates_drop():
    e = {"stream": "a", "version": 1, "type": "X", "event_id": "e1", "data": {"n": 1}}
    recs = [e, {**e, "version": 2, "event_id": "e2"}, e, e]
    with pytest.warns(DuplicatesDropped, match="dropped 2 duplicate"):
        log = EventLog.from_records(recs, duplicates="drop")
    assert len(log) == 2 and log.duplicates_dropped == 2
    assert log.frame["seq"].to_list() == [1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert EventLog.from_records(recs[:2]).duplicates_dropped == 0
    with pytest.raises(LogFormatError, match="different content"):
        EventLog.from_records([e, {**e, "data": {"n": 2}}], duplicates="drop")


# --------------------------------------------------------------------------- events


def test_iteration_and_events():
    log = bank()
    events = list(log)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert all(isinstance(e, Event) for e in events)
    e = events[3]
    assert (e.stream, e.version, e.type) == ("acc-1", 3, "Deposited")
    assert e.data == {"amount": 20, "memo": "late key"}
    assert e.time == T0 + timedelta(minutes=3) and e.time.tzinfo is not None
    assert events[2].meta == {"causation_id": "c1"} and events[2].time is None
    with pytest.raises(TypeError):
        e.data["amount"] = 1  # type: ignore[index]
    d = e.to_dict()
    d["data"]["amount"] = 1
    assert log.event(4).data["amount"] == 20
    assert EventLog.from_records(log.to_records()) == log
    assert EventLog.from_records(list(log)) == log


def test_nested_values_are_plain_json():
    log = EventLog.from_records([{"stream": "a", "type": "X",
                                  "data": {"l": [1, {"k": None}], "o": {"p": 1.5}}}])
    data = log.event(1).data
    assert type(data["l"]) is list and type(data["o"]) is dict
    assert log.event(1).to_dict()["data"] == {"l": [1, {"k": None}], "o": {"p": 1.5}}


def test_event_lookup():
    log = EventLog.from_frame(df(seq=[2, 5, 9], stream=["a"] * 3, type=["X", "Y", "Z"]))
    assert log.event(5).type == "Y"
    for missing in (1, 3, 10):
        with pytest.raises(KeyError, match=rf"no event with seq {missing}; this log holds seqs "
                                           r"2\.\.9"):
            log.event(missing)
    with pytest.raises(KeyError, match="it is empty"):
        EventLog.from_records([]).event(1)
    assert log.event_by_id(log.frame["event_id"][2]).seq == 9
    with pytest.raises(KeyError, match="no event with event_id 'nope'"):
        log.event_by_id("nope")


# --------------------------------------------------------------------------- queries


def test_until():
    log = EventLog.from_frame(df(seq=[2, 5, 9], stream=["a"] * 3, type=["X", "Y", "Z"]))
    assert log.until(5).frame["seq"].to_list() == [2, 5]
    assert log.until(8).frame["seq"].to_list() == [2, 5]
    assert len(log.until(1)) == 0 and log.until(100) == log
    assert len(log) == 3  # the original is untouched


def test_as_of():
    log = bank()
    assert [e.seq for e in log.as_of(T0 + timedelta(minutes=3))] == [1, 2, 3, 4]
    # the untimed event 3 belongs to the prefix only when a later event does
    assert [e.seq for e in log.as_of(T0 + timedelta(minutes=2))] == [1, 2]
    assert [e.seq for e in log.as_of("2024-05-01T12:01:00Z")] == [1, 2]
    assert [e.seq for e in log.as_of(datetime(2024, 5, 1, 12, 0))] == [1]  # naive = UTC
    assert [e.seq for e in log.as_of("2024-05-01T14:00:00+02:00")] == [1]
    assert len(log.as_of(T0 - timedelta(days=1))) == 0
    with pytest.raises(LogFormatError, match="not a time"):
        log.as_of("whenever")


def test_between():
    log = bank()
    assert log.between(2, 4).frame["seq"].to_list() == [2, 3, 4]
    assert len(log.between(4, 2)) == 0
    timed = log.between(T0 + timedelta(minutes=1), "2024-05-01T12:04:00Z")
    assert timed.frame["seq"].to_list() == [2, 4, 5]
    with pytest.raises(TypeError, match="two seqs or two times"):
        log.between(1, T0)


def test_filter():
    log = bank()
    assert log.filter(type="Deposited").frame["seq"].to_list() == [3, 4]
    assert log.filter(type=["Opened", "Withdrawn"]).frame["seq"].to_list() == [1, 2, 5]
    assert log.filter(pl.col("seq") > 3, stream="acc-1").frame["seq"].to_list() == [4]
    assert log.filter() == log
    with pytest.raises(KeyError, match="no column 'kind'"):
        log.filter(kind="X")


def test_streams_types_payload():
    log = bank()
    assert log.streams == ["acc-1", "acc-2"]
    assert log.types == ["Opened", "Deposited", "Withdrawn"]
    p = log.payload("Deposited")
    assert p.columns == ["seq", "stream", "version", "time", "amount", "memo"]
    assert p["amount"].to_list() == [50, 20] and p["memo"].to_list() == [None, "late key"]
    assert p["amount"].dtype == pl.Int64
    assert log.payload("Nope").columns == ["seq", "stream", "version", "time"]
    clash = EventLog.from_records([{"stream": "a", "type": "X", "data": {"seq": 7, "v": 1}}])
    assert clash.payload("X")["data.seq"].to_list() == [7]
    arr = EventLog.from_records([{"stream": "a", "type": "X", "data": [1, 2]}])
    assert arr.payload("X")["data"].to_list() == [[1, 2]]


def test_payload_keeps_keys_first_seen_late():
    recs = [{"stream": "a", "type": "X", "data": {"n": i}} for i in range(5000)]
    recs.append({"stream": "a", "type": "X", "data": {"n": 1, "late": "yes"}})
    p = EventLog.from_records(recs).payload("X")
    assert p["late"].to_list()[-2:] == [None, "yes"]


def test_to_pandas():
    log = bank()
    pdf = log.to_pandas()
    assert isinstance(pdf, pd.DataFrame)
    assert list(pdf.columns) == log.frame.columns
    assert pdf["seq"].tolist() == [1, 2, 3, 4, 5]
    assert json.loads(pdf["data"][0]) == {"owner": "ada"}
    assert EventLog.from_frame(pdf) == log


def test_logs_are_immutable_values():
    log = bank()
    before = log.frame.clone()
    log.filter(type="Opened"), log.until(2), log.between(1, 2), log.head(1), log.tail(1)
    assert log.frame.equals(before)
    assert log.head(2).frame["seq"].to_list() == [1, 2]
    assert log.tail(2).frame["seq"].to_list() == [4, 5]


def test_write_jsonl_is_one_canonical_object_per_line(tmp_path):
    log = bank()
    lines = log.write_jsonl(tmp_path / "b.jsonl").read_text().splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert list(first) == list(SCHEMA)
    assert first["data"] == {"owner": "ada"} and first["time"] == "2024-05-01T12:00:00.000000Z"
    assert json.loads(lines[2])["time"] is None


# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=10,
)
times = st.none() | st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
records = st.lists(
    st.fixed_dictionaries(
        {"stream": st.text(min_size=1, max_size=5), "type": st.sampled_from(["A", "B"])},
        optional={"data": json_values,
                  "meta": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
                  "time": times, "schema_version": st.integers(1, 3)}),
    max_size=15,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records)
def test_round_trips(tmp_path_factory, recs):
    log = EventLog.from_records(recs)
    d = tmp_path_factory.mktemp("rt")
    assert read_jsonl(log.write_jsonl(d / "l.jsonl")) == log
    assert read_parquet(log.write_parquet(d / "l.parquet")) == log
    assert EventLog.from_records(log.to_records()) == log
    assert EventLog.from_frame(log.frame) == log
    # assigned ids are stable: the documented UUIDv5 of (stream, version)
    assert log.frame["event_id"].to_list() == [
        uuid5(s, v) for s, v in zip(log.frame["stream"], log.frame["version"])]
    assert EventLog.from_records(recs) == log


@settings(max_examples=40, deadline=None)
@given(recs=records)
def test_decoded_values_equal_the_records(recs):
    log = EventLog.from_records(recs)
    for rec, event in zip(recs, log):
        got = event.to_dict()
        assert got["data"] == (rec.get("data") if rec.get("data") is not None else {})
        assert got["meta"] == rec.get("meta", {})
        want = rec.get("time")
        assert got["time"] == (None if want is None else want.astimezone(UTC))


# --------------------------------------------------------------------------- decoding paths


def _long_log(n: int = 5000) -> EventLog:
    """Long enough for the bulk decoding path (cached string codes, big-integer rows)."""
    return EventLog.from_records([
        {"stream": f"s{i % 7}", "type": ("A", "B", "C")[i % 3],
         "data": {"i": i, "big": 2**70 + i} if i % 1000 == 999 else {"i": i},
         "meta": {"m": i}, "time": T0 + timedelta(seconds=i)}
        for i in range(n)
    ])


def test_bulk_and_single_decoding_agree():
    log = _long_log()
    bulk = list(log)  # one call decodes everything: the cached-columns path
    assert len(bulk) == len(log)
    for i in (0, 1, 998, 999, 2999, 4999):
        one = log.event(i + 1)  # a single row: the direct path
        assert one == bulk[i] and hash(one) == hash(bulk[i])
        assert bulk[i].data == {"i": i, "big": 2**70 + i} if i % 1000 == 999 else {"i": i}
        assert bulk[i].meta == {"m": i} and bulk[i].event_id == one.event_id
        assert bulk[i].time == T0 + timedelta(seconds=i)
        rebuilt = Event(**bulk[i]._asdict())
        assert rebuilt == bulk[i] and bulk[i] == rebuilt
        assert not (rebuilt != bulk[i])  # noqa: SIM202 (tuple.__ne__ must not leak through)
    assert bulk[1] != bulk[2]
    assert bulk[999].data["big"] == 2**70 + 999 and type(bulk[999].data["big"]) is int


def test_events_pickle_and_copy():
    import copy
    import pickle

    log = _long_log()
    for e in (next(iter(log)), list(log)[4500], Event(seq=1, stream="a", version=1, type="X",
                                                    data={"n": [1]}, meta={"k": 1},
                                                    event_id="e1")):
        assert pickle.loads(pickle.dumps(e)) == e
        deep = copy.deepcopy(e)
        assert deep == e and type(deep) is Event
        assert copy.copy(e) is e
    # a state holding events can be deep-copied (checkpoints of such states)
    state = {"last": list(log)[10]}
    assert copy.deepcopy(state) == state


def test_a_typed_time_column_of_nulls_means_no_times():
    log = EventLog.from_frame(pl.DataFrame({"stream": ["a", "b"], "type": ["X", "Y"],
                                            "time": pl.Series([None, None], dtype=pl.Int64)}))
    assert [e.time for e in log] == [None, None]


def test_integral_floats_are_integers():
    log = EventLog.from_frame(pl.DataFrame({"seq": [1.0, 3.0], "stream": ["a", "a"],
                                            "type": ["X", "Y"], "version": [1.0, 2.0]}))
    assert log.frame["seq"].to_list() == [1, 3] and log.frame["version"].to_list() == [1, 2]


def test_event_time_given_as_text_or_microseconds():
    def at(t):
        return Event(seq=1, stream="a", version=1, type="T", time=t).time

    want = datetime(2024, 1, 1, tzinfo=UTC)
    assert (at("2024-01-01T01:00:00+01:00") == at("2024-01-01t00:00:00z") == at("2024-01-01")
            == at(1_704_067_200_000_000) == at(want) == want)
    assert at(None) is None
    with pytest.raises(ValueError, match=r"Event time 'soon' is not ISO 8601"):
        at("soon")
    for bad in (1.5, True):
        with pytest.raises(TypeError, match=rf"not {type(bad).__name__}$"):
            at(bad)


def test_from_records_of_events_made_without_event_ids():
    """``Event(...)`` defaults event_id to "": from_records assigns ids, keeps given ones."""
    made = [Event(seq=1, stream="a", version=1, type="X", data={"k": 1}),
            Event(seq=2, stream="a", version=2, type="X"),
            Event(seq=3, stream="a", version=3, type="X", event_id="mine")]
    log = EventLog.from_records(made)
    plain = EventLog.from_records([{"stream": "a", "type": "X"}] * 2)
    assert [e.event_id for e in log] == [*plain.frame["event_id"].to_list(), "mine"]
