"""read_csv and read_parquet: canonical round trips, foreign mappings, bad input."""

from __future__ import annotations

import gzip
from datetime import UTC
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estime import EventLog, LogFormatError
from estime.io import read_csv, read_parquet
from estime.log import DuplicatesDropped


def sample_log() -> EventLog:
    return EventLog.from_records([
        {"stream": "acc-1", "type": "Opened", "data": {"owner": "ada", "big": 10**30},
         "time": "2024-05-01T12:00:00Z", "meta": {"actor": "u1"}},
        {"stream": "acc-1", "type": "Deposited", "data": {"amount": 50.5, "k": [1, {"z": None}]}},
        {"stream": "acc-2\u00e9", "type": "Opened", "data": "text", "schema_version": 2},
    ])


# --------------------------------------------------------------------------- parquet


def test_parquet_round_trip(tmp_path):
    log = sample_log()
    p = log.write_parquet(tmp_path / "log.parquet")
    back = read_parquet(p)
    assert back == log
    assert back.source == str(p)
    assert read_parquet(str(p)) == log


def test_parquet_keeps_extra_columns(tmp_path):
    log = EventLog.from_frame(sample_log().frame.with_columns(
        pl.Series("parent_seq", [None, 1, 2], pl.Int64)))
    assert read_parquet(log.write_parquet(tmp_path / "b.parquet")) == log


def test_parquet_foreign_struct_and_list_payloads(tmp_path):
    df = pl.DataFrame({
        "aggregate_id": ["a", "a", "b"],
        "kind": ["Opened", "Deposited", "Opened"],
        "payload": [{"n": 1, "who": "x"}, {"n": 2, "who": None}, {"n": 3, "who": "z"}],
        "tags": [["t"], [], ["u", "v"]],
        "ts": pl.Series(["2024-01-01T00:00:00", "2024-01-02T00:00:00", None]).str.to_datetime(),
    })
    p = tmp_path / "f.parquet"
    df.write_parquet(p)
    log = read_parquet(p, stream="aggregate_id", type="kind", data="payload", time="ts")
    assert log.event(1).data == {"n": 1, "who": "x"}
    assert log.event(2).data == {"n": 2, "who": None}
    assert log.frame["tags"].to_list() == [["t"], [], ["u", "v"]]
    assert log.event(2).time.isoformat() == "2024-01-02T00:00:00+00:00"
    lst = read_parquet(p, stream="aggregate_id", type="kind", data="tags")
    assert [list(e.data) for e in lst] == [["t"], [], ["u", "v"]]


def test_parquet_json_text_is_validated_with_row_numbers(tmp_path):
    df = pl.DataFrame({"stream": ["a", "a", "a"], "type": ["X", "Y", "Z"],
                       "data": ['{"a":1}', '{"a":', "[1]"]})
    df.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(LogFormatError, match=r"row 2 of .*bad\.parquet: field 'data' is not "
                                             "valid JSON"):
        read_parquet(tmp_path / "bad.parquet")
    df = df.with_columns(data=pl.lit("{}"), meta=pl.Series(["{}", "{}", "[1]"]))
    df.write_parquet(tmp_path / "meta.parquet")
    with pytest.raises(LogFormatError, match=r"row 3 of .*'meta' must be a JSON object"):
        read_parquet(tmp_path / "meta.parquet")


def test_parquet_multiline_json_text_becomes_one_line(tmp_path):
    df = pl.DataFrame({"stream": ["a", "a"], "type": ["X", "Y"],
                       "data": ['{\n  "a": [1,\n 2]\n}', " [1] "], "meta": ["{}", ' {"m": 1}\t']})
    df.write_parquet(tmp_path / "m.parquet")
    log = read_parquet(tmp_path / "m.parquet")
    assert log.frame["data"].to_list() == ['{"a":[1,2]}', "[1]"]
    assert log.frame["meta"].to_list() == ["{}", '{"m":1}']


def test_parquet_not_a_parquet_file(tmp_path):
    p = tmp_path / "x.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(LogFormatError, match=r"x\.parquet: not a readable Parquet file"):
        read_parquet(p)
    good = sample_log().write_parquet(tmp_path / "t.parquet").read_bytes()
    (tmp_path / "t.parquet").write_bytes(good[: len(good) // 2])
    with pytest.raises(LogFormatError, match="not a readable Parquet file"):
        read_parquet(tmp_path / "t.parquet")
    with pytest.raises(FileNotFoundError):
        read_parquet(tmp_path / "missing.parquet")


def test_parquet_binary_payload_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "bytes.parquet"
    pl.DataFrame({"stream": ["a"], "type": ["T"], "data": [b"\x00\x01"]}).write_parquet(p)
    with pytest.raises(LogFormatError, match=r"bytes\.parquet: column 'data' has type Binary, "
                       r"which is not a JSON payload"):
        read_parquet(p)


def test_parquet_validation_and_duplicates(tmp_path):
    df = pl.DataFrame({"stream": ["a", "a", "a"], "type": ["X", "X", "Y"],
                       "event_id": ["e1", "e1", "e2"], "seq": [1, 2, 3]})
    df.write_parquet(tmp_path / "d.parquet")
    with pytest.raises(LogFormatError, match=r"row 2 of .*d\.parquet: duplicate event"):
        read_parquet(tmp_path / "d.parquet")
    df = df.drop("seq")
    df.write_parquet(tmp_path / "d2.parquet")
    with pytest.warns(DuplicatesDropped):
        log = read_parquet(tmp_path / "d2.parquet", duplicates="drop")
    assert len(log) == 2 and log.duplicates_dropped == 1


# --------------------------------------------------------------------------- csv


def write(tmp_path: Path, text: str | bytes, name: str = "log.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_csv_with_json_payload_columns(tmp_path):
    log = sample_log()
    log.frame.write_csv(tmp_path / "log.csv")
    back = read_csv(tmp_path / "log.csv")
    assert back.to_records() == log.to_records()
    assert back.frame["data"].to_list() == log.frame["data"].to_list()


def test_csv_plain_columns_become_the_payload(tmp_path):
    p = write(tmp_path, "account,kind,amount,note,at\n"
                        "007,Deposited,5,hi,2024-01-01T00:00:00Z\n"
                        "008,Withdrawn,7.5,,2024-01-01T00:01:00+01:00\n")
    log = read_csv(p, stream="account", type="kind", time="at")
    assert log.streams == ["007", "008"]  # kept as text
    assert [dict(e.data) for e in log] == [{"amount": 5.0, "note": "hi"},
                                          {"amount": 7.5, "note": None}]
    assert log.event(2).time.isoformat() == "2023-12-31T23:01:00+00:00"


def test_csv_quoted_newlines_blank_lines_and_line_numbers(tmp_path):
    text = ('stream,type,data\n'
            'a,X,"{""note"": ""two"",\n ""n"": 2}"\n'
            '\n'
            'a,Y,{}\n'
            'a,Z,"{""bad"": }"\n')
    with pytest.raises(LogFormatError, match=r"line 6 of .*log\.csv: field 'data' is not valid"):
        read_csv(write(tmp_path, text))
    ok = read_csv(write(tmp_path, text.replace('{""bad"": }', "[]"), "ok.csv"))
    assert ok.types == ["X", "Y", "Z"]
    assert ok.event(1).data == {"note": "two", "n": 2}
    assert ok.frame["data"][0] == '{"note":"two","n":2}'  # made one line


def test_csv_validation_errors_cite_lines(tmp_path):
    text = "stream,type,time\na,X,2024-01-01\n\nb,Y,yesterday\n"
    with pytest.raises(LogFormatError, match=r"line 4 of .*log\.csv: field 'time' is not a time"):
        read_csv(write(tmp_path, text))
    with pytest.raises(LogFormatError, match=r"line 3 of .*'meta' must be a JSON object"):
        read_csv(write(tmp_path, 'stream,type,meta\na,X,{}\na,Y,"[1]"\n', "m.csv"))


def test_csv_missing_and_mapped_columns_are_listed_as_in_the_file(tmp_path):
    p = tmp_path / "kinds.csv"
    p.write_text("stream,kind\na,X\n")
    with pytest.raises(LogFormatError, match=r"kinds\.csv has no 'type' column \(it has "
                       r"stream, kind\); map one with type="):
        read_csv(p)
    with pytest.raises(LogFormatError, match=r"column 'typ' \(mapped to 'type'\) is not in "
                       r".*kinds\.csv; it has stream, kind$"):
        read_csv(p, type="typ")
    assert read_csv(p, type="kind").types == ["X"]


def test_csv_ragged_rows_and_bad_bytes(tmp_path):
    with pytest.raises(LogFormatError, match=r"line 3 has 3 fields, the header has 2"):
        read_csv(write(tmp_path, "stream,type\na,X\nb,Y,extra\n"))
    with pytest.raises(LogFormatError, match=r"line 2 of .*not UTF-8"):
        read_csv(write(tmp_path, b"stream,type\na\xff,X\n", "u.csv"))
    with pytest.raises(LogFormatError, match="is empty"):
        read_csv(write(tmp_path, "", "e.csv"))


def test_csv_bom_gzip_separator_and_mapping(tmp_path):
    text = "\ufeffid;kind;payload\nx;Opened;{\"n\": 1}\n"
    p = tmp_path / "s.csv.gz"
    p.write_bytes(gzip.compress(text.encode()))
    log = read_csv(p, separator=";", stream="id", type="kind", data="payload")
    assert log.event(1).data == {"n": 1}
    assert log.source == str(p)
    with pytest.raises(LogFormatError, match=r"'aggregate' \(mapped to 'stream'\)"):
        read_csv(p, separator=";", stream="aggregate")


def test_csv_duplicates(tmp_path):
    text = "stream,type,event_id\na,X,e1\na,X,e1\na,Y,e2\n"
    p = write(tmp_path, text)
    with pytest.raises(LogFormatError, match=r"line 3 of .*duplicate event"):
        read_csv(p)
    with pytest.warns(DuplicatesDropped):
        assert len(read_csv(p, duplicates="drop")) == 2


# --------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
records = st.lists(
    st.fixed_dictionaries({
        "stream": st.sampled_from(["a", "b", "c,\"d\n"]),
        "type": st.sampled_from(["X", "Y"]),
        "data": json_values,
        "meta": st.dictionaries(st.text(max_size=4), json_values, max_size=2),
        "time": st.none() | st.datetimes(timezones=st.just(UTC)),
    }),
    max_size=10,
)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recs=records)
def test_records_parquet_round_trip(tmp_path_factory, recs):
    log = EventLog.from_records(recs)
    p = log.write_parquet(tmp_path_factory.mktemp("p") / "h.parquet")
    assert read_parquet(p) == log


@settings(max_examples=50, deadline=None)
@given(recs=records)
def test_records_csv_round_trip_values(tmp_path_factory, recs):
    """A canonical frame written as CSV reads back with the same events."""
    log = EventLog.from_records(recs)
    p = tmp_path_factory.mktemp("c") / "h.csv"
    log.frame.write_csv(p)
    back = read_csv(p)
    assert back.to_records() == log.to_records()
    assert back.frame["data"].to_list() == log.frame["data"].to_list()


# --------------------------------------------------------------------------- large files


def _large(tmp_path: Path, kind: str, data: list[str], meta: list[str]) -> Path:
    frame = pl.DataFrame({"stream": [f"s{i % 7}" for i in range(len(data))],
                          "type": "T", "data": data, "meta": meta})
    if kind == "csv":
        frame.write_csv(tmp_path / "log.csv")
        return tmp_path / "log.csv"
    frame.write_parquet(tmp_path / "log.parquet")
    return tmp_path / "log.parquet"


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_large_files_with_spaced_and_indented_payloads(tmp_path, kind):
    """Thousands of rows take the column-wise checks (both payload columns at once);
    spaced and indented JSON is made compact, the values unchanged."""
    import json

    values = [{"i": i, "s": f"a, b: {i}", "l": [i, None]} for i in range(3000)]
    data = [json.dumps(v, indent=2 if i % 3 == 0 else None) if i % 2 else
            json.dumps(v, separators=(",", ":")) for i, v in enumerate(values)]
    meta = [json.dumps({"m": i}) for i in range(3000)]
    log = (read_csv if kind == "csv" else read_parquet)(_large(tmp_path, kind, data, meta))
    assert [e.to_dict()["data"] for e in log] == values
    assert log.frame["data"][0] == '{"i":0,"s":"a, b: 0","l":[0,null]}'
    assert log.frame["data"][3] == '{"i":3,"s":"a, b: 3","l":[3,null]}'
    assert log.event(2501).meta == {"m": 2500}


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize(("column", "bad", "message"), [
    ("data", '{"i": 1,}', "field 'data' is not valid JSON"),
    ("meta", "[1, 2]", "field 'meta' must be a JSON object"),
])
def test_large_files_name_the_bad_row(tmp_path, kind, column, bad, message):
    data = ['{"i":1}'] * 3000
    meta = ['{"m":1}'] * 3000
    (data if column == "data" else meta)[2500] = bad
    where = "line 2502" if kind == "csv" else "row 2501"
    with pytest.raises(LogFormatError, match=rf"{where} of .*{message}"):
        (read_csv if kind == "csv" else read_parquet)(_large(tmp_path, kind, data, meta))


def _shown_bars(monkeypatch) -> list:
    """Bars of :func:`estime._progress.steps` shown at once (to a buffer) and kept."""
    import io

    from tqdm import tqdm

    import estime._progress

    bars: list = []

    def progress(total, desc, unit="event", **kwargs):
        bars.append(tqdm(total=total, desc=desc, unit=unit, file=io.StringIO(), delay=0))
        return bars[-1]

    monkeypatch.setattr(estime._progress, "progress", progress)
    return bars


@pytest.mark.parametrize("kind", ["csv", "parquet", "parquet structs"])
def test_readers_step_a_bar_through_their_work(tmp_path, monkeypatch, kind):
    """read_csv and read_parquet advance a bar by step (parse, payloads, the log's checks),
    ending at the last, and read the same log as without it; a failing read stops it."""
    log = sample_log()
    if kind == "csv":
        p = tmp_path / "log.csv"
        log.frame.write_csv(p)
        read = read_csv
    else:
        p = tmp_path / "log.parquet"
        frame = log.frame
        if kind == "parquet structs":  # a foreign file: the payload a struct column
            frame = pl.DataFrame({"stream": ["a", "b"], "type": ["T", "T"],
                                  "data": [{"n": 1, "s": "x"}, {"n": 2, "s": None}]})
        frame.write_parquet(p)
        read = read_parquet
    plain = read(p)
    bars = _shown_bars(monkeypatch)
    assert read(p) == plain
    assert len(bars) == 1 and bars[0].desc == f"reading {p.name}"
    assert bars[0].n == bars[0].total == 3
    assert "checking the log" in bars[0].postfix
    bad = tmp_path / f"bad.{p.suffix[1:]}"
    bad.write_bytes(b"stream,type\n" if kind == "csv" else b"PAR1 not really")
    if kind == "csv":
        bad.write_text('stream,type,data\ns,T,"{""a"":}"\n')
    with pytest.raises(LogFormatError):
        read(bad)
    assert bars[-1].n < 3


def test_a_quick_csv_read_shows_no_bar(tmp_path, monkeypatch, capsys):
    """With progress on, a read under a second prints nothing: naming a step does not
    draw the bar."""
    import estime._progress

    monkeypatch.setattr(estime._progress, "_enabled", lambda: True)
    p = tmp_path / "log.csv"
    sample_log().frame.write_csv(p)
    assert read_csv(p) == read_csv(p)
    assert capsys.readouterr().err == ""
