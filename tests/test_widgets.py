"""Notebook widgets, kernel side: set traits, check what each widget renders.

The browser side (keyboard, play, screenshots) is tests/browser/test_widgets_browser.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import ipywidgets as W
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import estime as es
from estime import _views
from estime.compare import compare
from estime.log import EventLog
from estime.widgets import BranchView, DiffView, EventTable, TimeSlider, static_dir

REPO = Path(__file__).resolve().parents[1]
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(2)</script>"


def bank_projection() -> es.Projection:
    p = es.Projection("bank", initial=dict)

    @p.on("Opened")
    def opened(s, e):
        s[e.stream] = {"owner": e.data["owner"], "balance": 0}

    @p.on("Deposited")
    def deposited(s, e):
        s[e.stream]["balance"] += e.data["amount"]

    @p.on("Withdrawn")
    def withdrawn(s, e):
        s[e.stream]["balance"] -= e.data["amount"]

    @p.on("Noted")
    def noted(s, e):
        s[e.stream]["note"] = e.data["note"]

    @p.on("Closed")
    def closed(s, e):
        del s[e.stream]

    return p


def make_log(accounts: int = 4, events: int = 40, xss: bool = False) -> EventLog:
    recs: list[dict] = [{"stream": f"acc-{i}", "type": "Opened", "data": {"owner": f"o{i}"}}
                        for i in range(accounts)]
    for k in range(events - accounts):
        acc = f"acc-{(k * 7) % accounts}"
        typ = "Deposited" if k % 3 else "Withdrawn"
        recs.append({"stream": acc, "type": typ, "data": {"amount": 1 + k % 5}})
    if xss:
        recs.append({"stream": "acc-0", "type": "Noted",
                     "data": {"note": XSS_IMG, "html": XSS_SCRIPT}})
    return EventLog.from_records(recs)


@pytest.fixture
def rp() -> es.Replay:
    return es.replay(make_log(xss=True), bank_projection())


def html_traits(w: W.Widget) -> list[str]:
    return [getattr(w, n) for n in w.trait_names() if n.endswith("_html")]


def no_markup_from_data(text: str) -> None:
    assert "<img" not in text and "<script" not in text
    assert "onerror=alert" not in text or "&lt;img" in text


# ----------------------------------------------------------------------------- assets


def test_static_dir_from_a_checkout_has_the_front_end():
    d = static_dir()
    assert (d / "estime.js").is_file() and (d / "estime.css").is_file()
    js = (d / "estime.js").read_text()
    assert "export default" in js
    # nothing fetched: no URL to another host and no dynamic import in the front end
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", js)
    assert "import(" not in js and "fetch(" not in js


def test_static_dir_prefers_an_installed_copy_and_explains_when_missing(tmp_path, monkeypatch):
    import estime.widgets as mod

    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "estime.js").write_text("export default {}")
    monkeypatch.setattr(mod.resources, "files", lambda _pkg: tmp_path)
    assert mod.static_dir() == tmp_path / "_static"
    (tmp_path / "_static" / "estime.js").unlink()
    monkeypatch.setattr(mod, "__file__", str(tmp_path / "estime" / "widgets.py"))
    with pytest.raises(FileNotFoundError, match=r"estime\.js"):
        mod.static_dir()


def test_wheel_ships_the_front_end_as_estime_static():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["widgets"] == "estime/_static"
    assert (REPO / "widgets" / "estime.js").is_file()


def test_an_installed_layout_finds_estime_static(tmp_path):
    """Copy the package as a wheel would lay it out (widgets/ → estime/_static), import it."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(REPO / "estime", site / "estime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "widgets", site / "estime" / "_static")
    code = ("import estime.widgets as w, estime; "
            "print(w.static_dir()); print(estime.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": ""}, check=True)
    static, init = out.stdout.split()
    assert Path(static) == site / "estime" / "_static"
    assert Path(init).parent == site / "estime"


def test_core_modules_import_nothing_from_jupyter():
    code = ("import sys, estime, estime.charts, estime._views, estime.branch; "
            "bad = [m for m in ('ipywidgets', 'anywidget', 'IPython', 'ipykernel', "
            "'traitlets', 'comm') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_importing_widgets_makes_altair_render_svg_offline():
    import altair as alt

    assert alt.renderers.active == "svg"  # estime.widgets was imported above


def test_every_widget_has_a_synced_seq_trait(rp):
    log = rp.log
    widgets = [TimeSlider(rp), DiffView(rp, 0, 5), EventTable(log),
               BranchView(rp.projection, log, log.fork(at=10).drop(12))]
    for w in widgets:
        assert w.trait_metadata("seq", "sync") is True
        assert w.error == ""


# ----------------------------------------------------------------------------- TimeSlider


def test_time_slider_shows_event_state_and_highlight(rp):
    ts = TimeSlider(rp)
    assert ts.seq == 0 and ts.position == 0 and "initial state" in ts.event_html
    assert ts.changed_paths == []
    ts.seq = 7  # a Deposited/Withdrawn on some account
    ev = rp.log.event(7)
    assert ts.position == 7 and ts.rendered > 0
    assert f'<td class="es-f-type">{ev.type}</td>' in ts.event_html
    expected = rp.changes(7).frame
    assert ts.changed_paths == expected["path"].to_list() == [f"/{ev.stream}/balance"]
    row = re.search(r'<div class="es-row es-changed es-op-replace" data-path="/'
                    + re.escape(ev.stream) + r'/balance">(.*?)</div>', ts.state_html)
    assert row is not None
    before, after = expected.row(0)[2:]
    assert f'<del class="es-before"><span class="es-v">{before}</span></del>' in row.group(1)
    assert f">{after}</span>" in row.group(1)
    assert ts.state == rp.state_at(7)
    # the parent of the changed value is marked as containing a change
    assert f'class="es-row es-has-change" data-path="/{ev.stream}"' in ts.state_html


def test_time_slider_steps_match_the_core_everywhere(rp):
    ts = TimeSlider(rp)
    n = len(rp.log)
    order = [*range(1, n + 1), *range(n - 1, -1, -3), 5, n, 0, 17, 16, 18]
    for i in order:
        ts.position = i
        seq = 0 if i == 0 else rp.log.frame["seq"][i - 1]
        assert ts.seq == seq
        assert ts.state == rp.state_at(seq)
        want = rp.changes(seq).frame if i else pl.DataFrame()
        assert ts.changes.frame.equals(want) or (i == 0 and len(ts.changes) == 0)
    assert ts.errors == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moves=st.lists(st.one_of(st.integers(-3, 3), st.integers(0, 400).map(lambda x: ("to", x))),
                      min_size=1, max_size=30),
       entries=st.sampled_from([1, 256]))
def test_cursor_agrees_with_replay_under_any_moves(moves, entries):
    """Steps, jumps and back-steps, with and without entry-wise diffs, equal the core's."""
    log = make_log(accounts=30, events=400)
    rp = es.replay(log, bank_projection(), checkpoint_every=50)
    cur = _views.Cursor(rp)
    cur.ENTRIES = entries
    pos = 0
    for m in moves:
        pos = m[1] if isinstance(m, tuple) else min(max(pos + m, 0), len(log))
        state, changes = cur.move(pos)
        seq = cur.seq_of(pos)
        assert state == rp.state_at(seq)
        if pos:
            assert changes.frame.equals(rp.changes(seq).frame)


def test_cursor_handles_states_that_json_cannot_hold():
    p = es.Projection("tuples", initial=dict)

    @p.on("*")
    def add(s, e):
        s[e.stream] = (*s.get(e.stream, ()), e.seq)  # tuples: JSON would give lists back

    log = make_log(accounts=3, events=30)
    rp = es.replay(log, p)
    cur = _views.Cursor(rp)
    for i in [*range(1, 31), 10, 9, 8]:
        state, changes = cur.move(i)
        assert state == rp.state_at(i) and isinstance(next(iter(state.values())), tuple)
        assert changes.frame.equals(rp.changes(i).frame)
    assert cur._json is False


def test_time_slider_renders_big_states_bounded_with_a_pager():
    accounts = 3_000
    log = make_log(accounts=accounts, events=accounts + 20)
    rp = es.replay(log, bank_projection())
    ts = TimeSlider(rp, page_size=40)
    ts.position = len(log)  # the last event changes one account
    changed = ts.changed_paths[0].split("/")[1]
    assert ts.pager["total"] == accounts and ts.pager["pinned"] == 1
    assert ts.pager["pages"] == -(-(accounts - 1) // 40)
    rows = re.findall(r'data-path="/(acc-\d+)"', ts.state_html)
    assert rows[0] == changed  # pinned first, whatever page
    assert len(set(rows)) == 41 and len(ts.state_html) < 40_000
    # one line per unchanged account, the changed one opened down to the changed value
    assert ts.state_html.count("es-collapsed") == 40
    assert f'data-path="/{changed}/balance"' in ts.state_html
    ts.page = 3
    rows = re.findall(r'data-path="/(acc-\d+)"', ts.state_html)
    others = [k for k in rp.state_at(ts.seq) if k != changed]
    assert rows[0] == changed and rows[1:] == others[120:160]
    assert "entries" in ts.state_html and ts.pager["page"] == 3


def test_time_slider_jumps_by_type_and_stream(rp):
    ts = TimeSlider(rp)
    f = rp.log.frame
    wd = f.filter(pl.col("type") == "Withdrawn")["seq"].to_list()
    assert ts.jump(1, type="Withdrawn") and ts.seq == wd[0]
    assert ts.jump(1, type="Withdrawn") and ts.seq == wd[1]
    assert ts.jump(-1, type="Withdrawn") and ts.seq == wd[0]
    assert not ts.jump(-1, type="Withdrawn") and ts.seq == wd[0]
    acc = f.filter((pl.col("stream") == "acc-2") & (pl.col("seq") > ts.seq))["seq"][0]
    assert ts.jump(1, stream="acc-2") and ts.seq == acc
    both = f.filter((pl.col("stream") == "acc-1") & (pl.col("type") == "Deposited"))["seq"]
    ts.seq = 0
    ts.jump_type, ts.jump_stream = "Deposited", "acc-1"
    assert ts.jump(1) and ts.seq == both[0]
    assert not ts.jump(1, type="NoSuchType")
    ts._action({"action": "jump", "direction": 1, "type": "Deposited", "stream": "acc-1"})
    assert ts.seq == both[1] and ts.error == ""


def test_time_slider_snaps_seqs_between_events():
    log = EventLog.from_records([{"seq": s, "stream": "acc-0", "type": t, "data": d}
                                 for s, t, d in [(10, "Opened", {"owner": "x"}),
                                                 (20, "Deposited", {"amount": 5}),
                                                 (30, "Deposited", {"amount": 6})]])
    ts = TimeSlider(es.replay(log, bank_projection()))
    ts.seq = 25
    assert ts.seq == 20 and ts.position == 2 and ts.state["acc-0"]["balance"] == 5
    ts.position = 3
    assert ts.seq == 30
    ts.seq = 5
    assert ts.seq == 0 and ts.position == 0


def test_time_slider_timeline_and_track(rp):
    ts = TimeSlider(rp, selector=lambda s: sum(a["balance"] for a in s.values()))
    tl = ts.timeline
    n, types = len(rp.log), tl["types"]
    assert tl["bins"] == n and len(tl["counts"]) == n * len(types)
    for i, ty in enumerate(rp.log.frame["type"]):  # one event per bin here
        row = tl["counts"][i * len(types):(i + 1) * len(types)]
        assert row[types.index(ty)] == 1 and sum(row) == 1
    track = ts.track
    want = rp.track(lambda s: sum(a["balance"] for a in s.values()))
    assert track["seq"] == [0, *want["seq"].to_list()]
    assert track["value"][1:] == [float(v) for v in want["value"]]
    ts.seq = 12
    assert ts.value_text == str(want.filter(pl.col("seq") == 12)["value"][0])


def test_timeline_is_binned_for_big_logs():
    log = make_log(accounts=10, events=9_000)
    tl = _views.timeline(log, bins=500)
    assert tl["bins"] == 500
    counts = tl["counts"]
    k = len(tl["types"])
    per_type = {t: sum(counts[i::k]) for i, t in enumerate(tl["types"])}
    assert per_type == dict(log.frame["type"].value_counts().iter_rows())


def test_track_of_many_events_is_sampled():
    log = make_log(accounts=5, events=9_000)
    rp = es.replay(log, bank_projection())
    tr = _views.track_points(rp, lambda s: s["acc-0"]["balance"])
    assert 1_500 <= len(tr["seq"]) <= 2_002 and tr["seq"][-1] == 9_000
    full = rp.track(lambda s: s["acc-0"]["balance"])
    values = dict(full.iter_rows())
    assert all(values[s] == v for s, v in zip(tr["seq"][1:], tr["value"][1:]))


def test_every_value_is_escaped_everywhere(rp):
    xss_seq = len(rp.log)
    ts = TimeSlider(rp)
    ts.seq = xss_seq
    assert "&lt;img src=x onerror=alert(1)&gt;" in ts.event_html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in ts.event_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in ts.state_html  # the note in the state
    dv = DiffView(rp, 0, xss_seq)
    et = EventTable(rp.log)
    et.seq = xss_seq
    log = rp.log
    bv = BranchView(rp.projection, log, log.fork(at=xss_seq - 1).drop(xss_seq))
    for w in (ts, dv, et, bv):
        for text in html_traits(w):
            no_markup_from_data(text)
    assert "&lt;img" in dv.table_html and "&lt;img" in et.table_html and "&lt;img" in bv.final_html


def test_stream_and_type_names_are_escaped_too():
    log = EventLog.from_records([
        {"stream": XSS_IMG, "type": "Opened", "data": {"owner": XSS_SCRIPT}},
        {"stream": XSS_IMG, "type": XSS_SCRIPT, "data": {}}])
    rp = es.replay(log, bank_projection())
    ts = TimeSlider(rp)
    ts.seq = 1
    for text in html_traits(ts):
        no_markup_from_data(text)
    assert 'data-path="/&lt;img src=x onerror=alert(1)&gt;/owner"' in ts.state_html
    ts.seq = 2
    et = EventTable(log)
    for text in html_traits(ts) + html_traits(et):
        no_markup_from_data(text)


def test_observer_exceptions_surface_in_the_error_trait():
    p = es.Projection("fragile", initial=dict)

    @p.on("*")
    def boom(s, e):
        if e.seq == 5 and s.get("armed"):
            raise ValueError("handler exploded")
        s["armed"] = True
        s["n"] = e.seq

    log = make_log(accounts=2, events=10)
    rp = es.replay(log.until(4), p)  # the replay itself would fail at seq 5
    ts = TimeSlider(rp)
    ts.selector = lambda s: 1 / (s["n"] - 3)
    ts.seq = 3
    assert "ZeroDivisionError" in ts.error and len(ts.errors) == 1
    assert "_on_seq" in ts.error and "_go" not in ts.error
    assert ts.rendered > 0  # the front end is released even so
    ts.seq = 2
    assert ts.error == "" and ts.state == rp.state_at(2)
    good = TimeSlider(rp)
    good._action({"action": "nonsense"})
    assert "unknown action" in good.error


def test_failures_in_the_core_show_and_the_widget_recovers():
    rp = es.replay(make_log(), bank_projection())
    ts = TimeSlider(rp)

    def broken(*_a, **_k):
        raise RuntimeError("checkpoint store unreadable")

    healthy = ts._cursor
    ts._cursor = _views.Cursor(es.replay(make_log(), bank_projection()))
    ts._cursor._fold = broken
    ts._cursor.rp.state_at = broken
    ts.seq = 20
    assert "RuntimeError: checkpoint store unreadable" in ts.error
    ts._cursor = healthy
    ts.seq = 21
    assert ts.error == "" and ts.state == rp.state_at(21)


def test_linked_widgets_follow_each_other(rp):
    ts, et, dv = TimeSlider(rp), EventTable(rp.log, page_size=10), DiffView(rp, 0, 0)
    W.link((ts, "seq"), (et, "seq"))
    W.link((ts, "seq"), (dv, "seq"))
    et.seq = 33  # selecting a row
    assert ts.seq == 33 and ts.position == 33 and dv.b == 33
    assert et.page == 3 and '<tr data-seq="33" class="es-selected">' in et.table_html
    ts.step(-10)
    assert et.seq == 23 and et.page == 2 and dv.b == 23
    assert dv.diff.frame.equals(rp.diff(0, 23).frame)


# ----------------------------------------------------------------------------- DiffView


def test_diff_view_rows_follow_both_ends(rp):
    dv = DiffView(rp, 3, 20)
    assert dv.seq == 20 and dv.diff.frame.equals(rp.diff(3, 20).frame)
    paths = re.findall(r'<td class="es-path">(.*?)</td>', dv.table_html)
    assert paths == rp.diff(3, 20).frame["path"].to_list()
    assert "seq 3 → seq 20" in dv.summary_html
    dv.a = 10
    assert dv.diff.frame.equals(rp.diff(10, 20).frame) and "seq 10 → seq 20" in dv.summary_html
    dv.b = 30
    assert dv.seq == 30 and dv.diff.frame.equals(rp.diff(10, 30).frame)
    dv.seq = 15
    assert dv.b == 15
    for op in dv.diff.frame["op"].unique():
        assert f'<tr class="es-op-{op}"' in dv.table_html


def test_diff_view_filters_and_pages():
    log = make_log(accounts=300, events=330)
    rp = es.replay(log, bank_projection())
    dv = DiffView(rp, range(0, 330), page_size=25)
    total = rp.diff(0, 330).frame.height
    assert dv.pager == {"page": 0, "pages": -(-total // 25), "total": total}
    assert dv.table_html.count("<tr class=") == 25
    dv.page = dv.pager["pages"] - 1
    assert dv.table_html.count("<tr class=") == total - 25 * (dv.pager["pages"] - 1)
    dv.path_filter = "acc-29/"
    want = rp.diff(0, 330).frame.filter(pl.col("path").str.contains("acc-29/", literal=True))
    assert dv.pager["total"] == want.height and dv.pager["page"] == 0
    assert f"{want.height:,} rows match" in dv.summary_html
    dv.path_filter = "nothing-like-this"
    assert "no changes to show" in dv.table_html


def test_diff_view_rejects_bad_arguments(rp):
    with pytest.raises(TypeError, match="Replay"):
        DiffView(rp.log)
    with pytest.raises(TypeError, match="range"):
        DiffView(rp, range(1, 3), 5)
    with pytest.raises(TypeError, match="Replay"):
        TimeSlider(rp.log)


# ----------------------------------------------------------------------------- EventTable


def test_event_table_filters_match_polars():
    log = make_log(accounts=12, events=300, xss=True)
    et = EventTable(log, page_size=20)
    f = log.frame
    assert et.info == "1–20 of 301 events" and et.pager["pages"] == 16
    et.type_filter = "Withdrawn"
    want = f.filter(pl.col("type") == "Withdrawn")
    assert et.rows.equals(want) and f"of {want.height:,} events (of 301)" in et.info
    et.stream_filter = "acc-1"  # an exact stream name: not acc-10, acc-11
    want = want.filter(pl.col("stream") == "acc-1")
    assert et.rows.equals(want)
    et.stream_filter = "acc-1"
    et.type_filter = ""
    et.stream_filter = "c-1"  # a substring
    assert et.rows["stream"].unique().sort().to_list() == ["acc-1", "acc-10", "acc-11"]
    et.stream_filter = ""
    et.text = "ONERROR"  # case-insensitive, in the payload
    assert et.rows["seq"].to_list() == [301]
    et.text = "zzz-nothing"
    assert et.info == "no event matches (of 301)" and et.rows.height == 0
    seqs = re.findall(r'<tr data-seq="(\d+)"', EventTable(log, page_size=20).table_html)
    assert seqs == [str(s) for s in range(1, 21)]


def test_event_table_selection_and_columns():
    log = make_log(accounts=4, events=120)
    et = EventTable(log, page_size=25, columns=("seq", "type", "stream"))
    et.seq = 77
    assert et.page == 3 and '<tr data-seq="77" class="es-selected">' in et.table_html
    assert "<th>data</th>" not in et.table_html
    et.type_filter = "Withdrawn"
    kept = log.frame.filter(pl.col("type") == "Withdrawn")["seq"]
    assert et.page == ((kept <= 77).sum() - 1) // 25
    with pytest.raises(ValueError, match="no column nope"):
        EventTable(log, columns=("seq", "nope"))
    with pytest.raises(TypeError, match="EventLog"):
        EventTable([1, 2])


# ----------------------------------------------------------------------------- BranchView


def test_branch_view_shows_edits_divergence_and_final(rp):
    log = rp.log
    first_wd = log.frame.filter((pl.col("type") == "Withdrawn") & (pl.col("seq") > 10))["seq"][0]
    branch = log.fork(at=10).drop(first_wd).replace(30, data={"amount": 1000})
    sel = lambda s: sum(a["balance"] for a in s.values())  # noqa: E731
    bv = BranchView(rp.projection, log, branch, selector=sel)
    cmp = compare(rp.projection, log, branch)
    ea, eb = cmp.first_divergence
    assert bv.divergence_seq == ea.seq == first_wd and eb is None and bv.seq == first_wd
    assert f'<td class="es-f-seq">{first_wd}</td>' in bv.divergence_html
    assert "no event on this side" in bv.divergence_html
    assert "<td>drop</td>" in bv.edits_html and "<td>replace</td>" in bv.edits_html
    assert "forked at seq 10" in bv.edits_html
    paths = re.findall(r'<td class="es-path">(.*?)</td>', bv.final_html)
    assert paths == cmp.final.frame["path"].to_list()
    assert "parent → branch" in bv.at_html and "states</th><td>equal" not in bv.at_html
    track = bv.track
    want = cmp.track(sel)
    assert track["a"] == [float(v) for v in want["a"]] and track["divergence"] == first_wd
    assert track["names"] == ["parent", branch.label]
    bv.seq = 5  # before the fork: the states are the same
    assert "<th>states</th><td>equal</td>" in bv.at_html
    b_seq = re.search(r"<th>branch@10 seq</th><td>(\d+)</td>", bv.at_html)
    assert b_seq is not None and b_seq.group(1) == "5"


def test_branch_view_of_two_equal_logs_says_so():
    log = make_log()
    p = bank_projection()
    bv = BranchView(p, log, log.fork(at=5))
    assert bv.divergence_seq == -1 and "never differ" in bv.divergence_html
    assert "no edits" in bv.edits_html and bv.track == {}
    bv2 = BranchView(p, log, make_log())
    assert "not a branch" in bv2.edits_html
    with pytest.raises(TypeError, match="Projection"):
        BranchView(log, log, log)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(alphabet='"\\{}[],:ab \n', max_size=6))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text('"\\{}:,ab', max_size=3), inner,
                                                 max_size=3)), max_leaves=8)
ops = st.lists(st.tuples(st.sampled_from(["set", "nest", "del"]),
                         st.text(alphabet='"\\{}[],:xy', min_size=0, max_size=3),
                         json_values), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, moves=st.lists(st.integers(0, 60), min_size=1, max_size=20))
def test_cursor_byte_layout_diff_is_exact_for_any_json(ops, moves):
    """Keys and values full of quotes, backslashes and brackets: the byte-span diff of the
    cursor equals the core's diff after every event, stepping and jumping."""
    p = es.Projection("kv", initial=dict)

    @p.on("Op")
    def apply(s, e):
        kind, key, value = e.data["kind"], e.data["key"], e.data["value"]
        if kind == "set":
            s[key] = value
        elif kind == "nest":
            s.setdefault(key, {}) if isinstance(s.get(key), dict) else s.__setitem__(key, {})
            s[key]["v"] = value
        else:
            s.pop(key, None)

    seed = [{"stream": "s", "type": "Op",
             "data": {"kind": "set", "key": f"k{i}\"{i % 3}", "value": i}} for i in range(5)]
    recs = seed + [{"stream": "s", "type": "Op", "data": {"kind": k, "key": key, "value": v}}
                   for k, key, v in ops]
    log = EventLog.from_records(recs)
    rp = es.replay(log, p, checkpoint_every=7)
    cur = _views.Cursor(rp)
    cur.ENTRIES = 1
    for pos in [*range(len(log) + 1), *moves]:
        pos = min(pos, len(log))
        state, changes = cur.move(pos)
        seq = cur.seq_of(pos)
        assert state == rp.state_at(seq)
        if pos:
            assert changes.frame.equals(rp.changes(seq).frame), (pos, seq)


def test_the_next_step_is_rendered_ahead_and_matches_a_fresh_render(rp, monkeypatch):
    ts = TimeSlider(rp, selector=lambda s: len(s))
    plain = TimeSlider(rp, selector=lambda s: len(s))
    plain.prefetch = False
    sent: list[dict] = []
    monkeypatch.setattr(ts, "send", lambda content, buffers=None: sent.append(content))
    ts.seq = 20
    assert sent[-1]["prefetch"]["position"] == 21 and ts._ahead is not None
    plain.seq = 21
    names = ["event_html", "state_html", "changes_html", "changed_paths", "value_text", "seq"]
    assert {k: sent[-1]["prefetch"][k] for k in names} == {k: getattr(plain, k) for k in names}
    computed = []
    real = ts._compute
    monkeypatch.setattr(ts, "_compute", lambda i: computed.append(i) or real(i))
    ts.step(1)  # uses what was rendered ahead: only the next one is computed
    assert computed == [22] and ts.seq == 21 and ts.state_html == plain.state_html
    assert ts.state == rp.state_at(21) and ts.changes.frame.equals(rp.changes(21).frame)
    ts.page_size = 2  # a new page invalidates what the front end holds
    assert {"prefetch": None} in sent and sent[-1]["prefetch"]["position"] == 22
    ts.step(1)
    assert ts.state_html.count('class="es-more"') >= 1 and ts.pager["page"] == 0
