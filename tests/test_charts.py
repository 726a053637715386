"""estime.charts: altair charts of logs, tracked values and branches; binned above 5,000 rows,
rendered offline through vl-convert."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc
from hypothesis import given, settings
from hypothesis import strategies as st

import estime as es
from estime import charts
from estime.compare import compare
from estime.log import EventLog


@pytest.fixture(autouse=True)
def restore_renderer():
    before = alt.renderers.active
    yield
    alt.renderers.enable(before)


def make_log(n: int, streams: int = 3, types_: int = 4, timed: bool = True) -> EventLog:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return EventLog.from_frame(pl.DataFrame({
        "stream": [f"s{i % streams}" for i in range(n)],
        "type": [f"T{(i * 7) % types_}" for i in range(n)],
        "time": [t0 + timedelta(seconds=17 * i) if timed else None for i in range(n)],
        "data": ["{}"] * n,
    }))


def data_of(chart: alt.TopLevelMixin) -> pl.DataFrame:
    data = chart.data
    if isinstance(data, pl.DataFrame):
        return data
    layers = [layer.data for layer in chart.layer if isinstance(layer.data, pl.DataFrame)]
    return max(layers, key=lambda d: d.height)


def svg(chart: alt.TopLevelMixin) -> str:
    return vlc.vegalite_to_svg(chart.to_dict())


# ----------------------------------------------------------------------------- rendering


def test_enable_offline_replaces_only_the_cdn_default():
    alt.renderers.enable("default")
    assert charts.enable_offline() == "svg" and alt.renderers.active == "svg"
    alt.renderers.enable("png")
    assert charts.enable_offline() == "png" and alt.renderers.active == "png"


def test_a_chart_made_in_a_kernel_switches_to_svg(monkeypatch):
    class ZMQInteractiveShellKernel:  # the kernel shell's class name holds "Kernel"
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShellKernel()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    alt.renderers.enable("default")
    charts.type_counts(make_log(10))
    assert alt.renderers.active == "svg"
    bundle = charts.type_counts(make_log(10))._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]


def test_outside_a_kernel_the_renderer_is_left_alone(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    alt.renderers.enable("default")
    charts.type_counts(make_log(10))
    assert alt.renderers.active == "default"


# ----------------------------------------------------------------------------- log charts


def test_events_over_time_small_logs_show_every_event():
    log = make_log(200, streams=3)
    chart = charts.events_over_time(log)
    d = data_of(chart)
    assert d.height == 200 and d["seq"].to_list() == log.frame["seq"].to_list()
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "tick" and spec["encoding"]["y"]["field"] == "stream"
    assert spec["encoding"]["x"]["field"] == "time"
    assert "<svg" in svg(chart)


def test_lanes_are_types_for_many_streams_and_x_is_seq_without_times():
    log = make_log(300, streams=20, timed=False)
    spec = charts.events_over_time(log).to_dict()
    assert spec["encoding"]["y"]["field"] == "type" and spec["encoding"]["x"]["field"] == "seq"
    with pytest.raises(ValueError, match="lanes"):
        charts.events_over_time(log, lanes="nope")
    with pytest.raises(ValueError, match="x must be"):
        charts.events_over_time(log, x="nope")


@pytest.mark.parametrize("lanes", ["type", "stream"])
def test_big_logs_are_binned_and_counts_add_up(lanes):
    log = make_log(60_000, streams=4, types_=5)
    chart = charts.events_over_time(log, lanes=lanes)
    d = data_of(chart)
    assert d.height <= charts.MAX_ROWS and d["count"].sum() == 60_000
    per_type = dict(d.group_by("type").agg(pl.col("count").sum()).iter_rows())
    assert per_type == dict(log.frame["type"].value_counts().iter_rows())
    if lanes == "stream":
        per_stream = dict(d.group_by("stream").agg(pl.col("count").sum()).iter_rows())
        assert per_stream == dict(log.frame["stream"].value_counts().iter_rows())
    chart.to_dict()  # no MaxRowsError
    assert "<svg" in svg(chart)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), streams=st.integers(1, 12), types_=st.integers(1, 16),
       timed=st.booleans(), max_rows=st.integers(1, 50))
def test_binned_counts_preserve_every_event(n, streams, types_, timed, max_rows):
    log = make_log(n, streams=streams, types_=types_, timed=timed)
    d = data_of(charts.events_over_time(log, max_rows=max_rows))
    if n <= max_rows:
        assert d.height == n
    else:
        assert d["count"].sum() == n
        assert (d["start"] < d["end"]).all()


def test_many_types_are_folded_into_other():
    log = make_log(500, streams=2, types_=30)
    d = data_of(charts.events_over_time(log, lanes="type"))
    assert d["type"].n_unique() <= 12 and charts.OTHER in d["type"].to_list()


def test_type_counts_match_the_log_and_fold_the_tail():
    log = make_log(1_000, streams=40, types_=6)
    d = data_of(charts.type_counts(log))
    assert dict(d.iter_rows()) == dict(log.frame["type"].value_counts().iter_rows())
    top = charts.type_counts(log, by="stream", top=5)
    d = data_of(top)
    assert d.height == 5 and d["count"].sum() == 1_000 and d["stream"][-1] == charts.OTHER
    with pytest.raises(ValueError, match="by must be"):
        charts.type_counts(log, by="nope")


def test_markup_in_names_does_not_reach_the_svg_as_markup():
    log = EventLog.from_records([{"stream": "<img src=x onerror=alert(1)>",
                                  "type": "<script>alert(1)</script>"}])
    for chart in (charts.type_counts(log), charts.events_over_time(log)):
        text = svg(chart)
        assert "<script" not in text and "<img" not in text
        assert "&lt;script&gt;" in text


# ----------------------------------------------------------------------------- value charts


def test_tracked_small_frames_pass_through_with_a_cursor():
    frame = pl.DataFrame({"seq": [1, 2, 3], "value": [True, False, True]})
    chart = charts.tracked(frame, cursor=2)
    d = data_of(chart)
    assert d["value"].to_list() == [1, 0, 1]
    spec = chart.to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "rule"]


@settings(max_examples=20, deadline=None)
@given(values=st.lists(st.integers(-1_000, 1_000), min_size=1, max_size=3_000),
       max_rows=st.integers(10, 500), bins=st.integers(2, 200))
def test_binned_track_keeps_last_min_and_max(values, max_rows, bins):
    frame = pl.DataFrame({"seq": range(1, len(values) + 1), "value": values})
    d = data_of(charts.tracked(frame, max_rows=max_rows, bins=bins))
    if len(values) <= max_rows:
        assert d.equals(frame)
        return
    assert d.height <= bins and d["seq"][-1] == len(values)
    by_seq = dict(zip(frame["seq"], frame["value"]))
    assert all(by_seq[s] == v for s, v in zip(d["seq"], d["value"]))
    assert (d["value_min"] <= d["value"]).all() and (d["value"] <= d["value_max"]).all()
    assert d["value_min"].min() == min(values) and d["value_max"].max() == max(values)


def test_tracked_a_million_points_ships_a_few_thousand():
    frame = pl.DataFrame({"seq": pl.int_range(1, 1_000_001, eager=True),
                          "value": pl.int_range(0, 1_000_000, eager=True) % 997})
    chart = charts.tracked(frame, cursor=500_000)
    spec = chart.to_dict()
    shipped = sum(len(v) for v in spec.get("datasets", {}).values())
    assert shipped <= 1_000 + 1
    assert "binned" in spec["title"]
    assert "<svg" in svg(chart)


def bank_projection() -> es.Projection:
    p = es.Projection("balance", initial=dict)

    @p.on("Deposited")
    def deposited(s, e):
        s[e.stream] = s.get(e.stream, 0) + e.data["amount"]

    return p


def deposits(n: int) -> EventLog:
    return EventLog.from_records([{"stream": "a", "type": "Deposited", "data": {"amount": i}}
                                  for i in range(1, n + 1)])


def test_tracked_from_a_replay_equals_tracked_from_its_frame():
    rp = es.replay(deposits(50), bank_projection())
    sel = lambda s: s.get("a", 0)  # noqa: E731
    assert data_of(charts.tracked(rp, sel)).equals(data_of(charts.tracked(rp.track(sel))))
    with pytest.raises(TypeError, match="selector"):
        charts.tracked(rp)
    with pytest.raises(TypeError, match="not with a frame"):
        charts.tracked(rp.track(sel), sel)
    with pytest.raises(ValueError, match="missing value"):
        charts.tracked(pl.DataFrame({"seq": [1]}))
    with pytest.raises(TypeError, match="expected a polars DataFrame"):
        charts.tracked(object(), sel)


def test_branch_comparison_draws_both_sides_and_the_divergence():
    log = deposits(40)
    branch = log.fork(at=10).drop(15)
    cmp = compare(bank_projection(), log, branch)
    sel = lambda s: s.get("a", 0)  # noqa: E731
    chart = charts.branch_comparison(cmp, sel, divergence=15)
    spec = chart.to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "rule"]
    d = data_of(chart)
    track = cmp.track(sel)
    assert d.height == 2 * track.height
    assert set(d["log"]) == {"parent", "branch"}
    assert d.filter(pl.col("log") == "branch")["value"].to_list() == track["b"].to_list()
    assert "<svg" in svg(chart)
    big = pl.DataFrame({"seq": range(20_000), "a": range(20_000), "b": range(20_000)})
    d = data_of(charts.branch_comparison(big))
    assert d.height <= charts.MAX_ROWS
