"""The widgets in real JupyterLab in headless Chromium, used the way a user uses them.

One notebook holds every widget; it is opened once, run with Run All, and each test drives
one widget. What the page shows is checked against the same log replayed in this process.
Every request to a host other than 127.0.0.1 is aborted and must not have been attempted.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _lab import Lab, Watch, copy_screenshots, open_and_run, wait_idle

SETUP = textwrap.dedent('''
    import polars as pl
    import estime as es
    from estime.datasets import bank
    from estime.log import EventLog

    base = bank(accounts=12, events=300)
    last = base.event(300)
    xss = {"seq": 301, "stream": "notes", "version": 1, "type": "NoteAdded",
           "time": last.time, "event_id": "note-1",
           "data": {"note": "<img src=x onerror=alert(1)>",
                    "html": "<script>alert(2)</script>",
                    "also": "<img src=y onerror=\\"window.__estimeXss = 1\\">"}}
    log = EventLog.from_records([*base.to_records(), xss])

    p = es.Projection("accounts", initial=dict)

    @p.on("AccountOpened")
    def opened(s, e):
        s[e.stream] = {"owner": e.data["owner"], "currency": e.data["currency"], "balance": 0}

    @p.on("MoneyDeposited", "TransferReceived")
    def credit(s, e):
        s[e.stream]["balance"] += e.data["amount"]

    @p.on("MoneyWithdrawn", "TransferSent")
    def debit(s, e):
        s[e.stream]["balance"] -= e.data["amount"]

    @p.on("NoteAdded")
    def note(s, e):
        s[e.stream] = {"note": e.data["note"]}

    def total(s):
        return sum(a.get("balance", 0) for a in s.values())

    rp = es.replay(log, p)
    withdrawals = log.frame.filter((pl.col("type") == "MoneyWithdrawn") & (pl.col("seq") > 100))
    branch = log.fork(at=100, name="what-if").drop(int(withdrawals["seq"][0]))
''')

CELLS = [
    SETUP + "\nimport ipywidgets as W\nfrom estime.widgets import (BranchView, DiffView, "
    "EventTable, TimeSlider)\n",
    "ts = TimeSlider(rp, selector=total)\nts",
    "dv = DiffView(rp, 0, 50)\ndv",
    "bv = BranchView(p, log, branch, selector=total)\nbv",
    "et = EventTable(log, page_size=15)\nW.jslink((ts, 'seq'), (et, 'seq'))\net",
    "from estime import charts\ncharts.events_over_time(log)",
]
SHOTS = ["timeslider.png", "diffview.png", "branchview.png", "eventtable.png"]


@pytest.fixture(scope="module")
def ns() -> dict[str, Any]:
    """The notebook's objects, built in this process: the truth the page is checked against."""
    space: dict[str, Any] = {}
    exec(SETUP, space)  # our own constant
    return space


class Session:
    def __init__(self, page: Any, watch: Watch) -> None:
        self.page = page
        self.watch = watch

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).first.inner_text()).strip()

    def wait_text(self, selector: str, value: str, timeout: float = 15.0) -> None:
        self.page.wait_for_function(
            "([s, v]) => { const n = document.querySelector(s);"
            " return !!n && n.textContent.trim() === v; }",
            arg=[selector, value], timeout=timeout * 1000)

    def paths(self, selector: str) -> list[str]:
        return list(self.page.eval_on_selector_all(
            selector, "ns => ns.map(n => n.getAttribute('data-path'))"))

    def shot(self, widget: str, path: Path) -> None:
        self.page.locator(f".estime-{widget}").first.screenshot(path=str(path))


@pytest.fixture(scope="module")
def lab_page(lab: Lab, browser: Any, output_dir: Path) -> Iterator[Session]:
    lab.write_notebook("widgets.ipynb", CELLS)
    lab.start_kernel("widgets.ipynb")
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    watch = Watch()
    watch.attach(context, page)
    try:
        open_and_run(page, lab, "widgets.ipynb")
        wait_idle(page)
        for sel in (".estime-timeslider .es-state-view .es-row",
                    ".estime-diffview .es-table-view tr", ".estime-branchview .es-divergence",
                    ".estime-eventtable tr[data-seq]", ".jp-Cell-outputArea svg, "
                    ".jp-Cell-outputArea img"):
            page.wait_for_selector(sel, timeout=60_000)
        yield Session(page, watch)
    finally:
        page.screenshot(path=str(output_dir / "notebook.png"), full_page=True)
        context.close()
        if os.environ.get("ESTIME_UPDATE_DOCS", "") == "1":
            copy_screenshots(output_dir, SHOTS)


TS = ".estime-timeslider"


def test_time_slider_steps_with_the_keyboard(lab_page: Session, ns: dict[str, Any],
                                             output_dir: Path) -> None:
    s, rp = lab_page, ns["rp"]
    s.page.locator(f"{TS} .es-ts").focus()
    for seq in (1, 2, 3):
        s.page.keyboard.press("ArrowRight")
        s.wait_text(f"{TS} .es-f-seq", str(seq))
    s.page.keyboard.press("ArrowLeft")
    s.wait_text(f"{TS} .es-f-seq", "2")
    s.page.keyboard.press("Shift+ArrowRight")
    s.wait_text(f"{TS} .es-f-seq", "12")
    s.wait_text(f"{TS} .es-f-type", rp.log.event(12).type)
    want = rp.changes(12).frame["path"].to_list()
    assert want and s.paths(f"{TS} .es-state-view .es-changed") == want
    assert s.page.locator(f"{TS} .es-range").input_value() == "12"
    assert s.page.locator(f"{TS} .es-seq-input").input_value() == "12"


def test_time_slider_goes_to_a_typed_seq(lab_page: Session, ns: dict[str, Any],
                                         output_dir: Path) -> None:
    s, rp = lab_page, ns["rp"]
    box = s.page.locator(f"{TS} .es-seq-input")
    box.fill("150")
    box.press("Enter")
    s.wait_text(f"{TS} .es-f-seq", "150")
    ev = rp.log.event(150)
    assert s.text(f"{TS} .es-f-stream") == ev.stream
    want = rp.changes(150).frame
    assert s.paths(f"{TS} .es-state-view .es-changed") == want["path"].to_list()
    assert s.text(f"{TS} .es-changes-view b") == rp.changes(150).summary()
    # every account shown (one line each, the changed one opened) is the state after seq 150
    state = rp.state_at(150)
    rows = s.page.eval_on_selector_all(
        f"{TS} .es-state-view .es-state > .es-row > .es-children > .es-row",
        "ns => ns.map(n => [n.getAttribute('data-path'), n.textContent])")
    assert [p for p, _ in rows] == [f"/{k}" for k in state]
    for path, text in rows:
        balance = state[path[1:]].get("balance")
        assert balance is None or str(balance) in text
    changed = want["path"][0]
    row = s.page.locator(f'{TS} .es-state-view [data-path="{changed}"]').first
    assert row.locator("del").inner_text() == want["before"][0]
    s.shot("timeslider", output_dir / "timeslider.png")


def test_time_slider_plays_and_pauses(lab_page: Session) -> None:
    s = lab_page
    seq = lambda: int(s.text(f"{TS} .es-f-seq"))  # noqa: E731
    start = seq()
    s.page.locator(f"{TS} .es-play").click()
    s.page.wait_for_function(
        "([sel, v]) => +document.querySelector(sel).textContent > v",
        arg=[f"{TS} .es-f-seq", start + 3], timeout=20_000)
    assert "es-on" in (s.page.locator(f"{TS} .es-play").get_attribute("class") or "")
    s.page.locator(f"{TS} .es-play").click()
    time.sleep(0.8)  # a step in flight may still land
    paused = seq()
    time.sleep(1.2)
    assert seq() == paused > start + 3
    assert s.text(f"{TS} .es-play") == "▶"


def test_time_slider_jumps_to_the_next_event_of_a_type(lab_page: Session,
                                                       ns: dict[str, Any]) -> None:
    s, log = lab_page, ns["log"]
    here = int(s.text(f"{TS} .es-f-seq"))
    s.page.locator(f"{TS} .es-jump-type").select_option("WithdrawalRejected")
    s.page.locator(f"{TS} .es-jump-next").click()
    nxt = log.frame.filter((pl.col("type") == "WithdrawalRejected") & (pl.col("seq") > here))
    s.wait_text(f"{TS} .es-f-seq", str(nxt["seq"][0]))
    s.wait_text(f"{TS} .es-f-type", "WithdrawalRejected")


def test_xss_payload_shows_as_text_and_runs_nothing(lab_page: Session) -> None:
    s = lab_page
    box = s.page.locator(f"{TS} .es-seq-input")
    box.fill("301")
    box.press("Enter")
    s.wait_text(f"{TS} .es-f-type", "NoteAdded")
    shown = s.text(f"{TS} .es-event-view .es-f-data")
    assert "<img src=x onerror=alert(1)>" in shown and "<script>alert(2)</script>" in shown
    assert "<img src=x onerror=alert(1)>" in s.text(f"{TS} .es-state-view")
    s.page.locator(".estime-eventtable .es-text").fill("onerror")
    s.page.wait_for_selector('.estime-eventtable tr[data-seq="301"]', timeout=10_000)
    assert "onerror=alert(1)" in s.text('.estime-eventtable tr[data-seq="301"]')
    s.page.locator(".estime-eventtable .es-text").fill("")
    time.sleep(0.5)
    assert s.page.locator(".estime img, .estime script").count() == 0
    assert s.page.evaluate("() => window.__estimeXss") is None
    assert s.watch.dialogs == []


def test_diff_view_follows_a_changed_end(lab_page: Session, ns: dict[str, Any],
                                         output_dir: Path) -> None:
    s, rp = lab_page, ns["rp"]
    dv = ".estime-diffview"
    assert "seq 0 → seq 50" in s.text(f"{dv} .es-summary")
    end = s.page.locator(f"{dv} .es-b")
    end.fill("120")
    end.press("Enter")
    s.page.wait_for_function(
        "s => document.querySelector(s).textContent.includes('seq 0 → seq 120')",
        arg=f"{dv} .es-summary", timeout=15_000)
    want = rp.diff(0, 120).frame
    shown = s.page.eval_on_selector_all(f"{dv} td.es-path", "ns => ns.map(n => n.textContent)")
    assert shown == want["path"].head(100).to_list()
    start = s.page.locator(f"{dv} .es-a")
    start.fill("100")
    start.press("Enter")
    s.page.wait_for_function(
        "s => document.querySelector(s).textContent.includes('seq 100 → seq 120')",
        arg=f"{dv} .es-summary", timeout=15_000)
    assert rp.diff(100, 120).summary() in s.text(f"{dv} .es-summary")
    s.shot("diffview", output_dir / "diffview.png")


def test_branch_view_shows_the_divergence(lab_page: Session, ns: dict[str, Any],
                                          output_dir: Path) -> None:
    from estime.compare import compare

    s = lab_page
    bv = ".estime-branchview"
    cmp = compare(ns["p"], ns["log"], ns["branch"])
    ea, eb = cmp.first_divergence
    assert eb is None
    assert s.text(f"{bv} .es-divergence .es-f-seq") == str(ea.seq)
    assert "no event on this side" in s.text(f"{bv} .es-divergence")
    assert "drop" in s.text(f"{bv} .es-edits")
    shown = s.page.eval_on_selector_all(f"{bv} .es-final td.es-path",
                                        "ns => ns.map(n => n.textContent)")
    assert shown == cmp.final.frame["path"].head(200).to_list()
    assert s.page.locator(f"{bv} svg .es-chart-line").count() == 2
    s.shot("branchview", output_dir / "branchview.png")


def test_event_table_row_moves_the_linked_slider(lab_page: Session, ns: dict[str, Any],
                                                 output_dir: Path) -> None:
    s = lab_page
    et = ".estime-eventtable"
    s.page.locator(f"{et} .es-type").select_option("TransferSent")
    s.page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(n => n.textContent === 'TransferSent')",
        arg=f"{et} td.es-c-type", timeout=15_000)
    shown = s.page.eval_on_selector_all(f"{et} tr[data-seq]", "ns => ns.map(n => +n.dataset.seq)")
    want = ns["log"].frame.filter(pl.col("type") == "TransferSent")["seq"].to_list()
    i = want.index(shown[0])  # the page holding the slider's seq: a run of TransferSent
    assert shown == want[i:i + 15]
    target = shown[4]
    s.page.locator(f'{et} tr[data-seq="{target}"]').click()
    s.wait_text(f"{TS} .es-f-seq", str(target))  # jslink: the slider followed
    s.page.wait_for_selector(f'{et} tr[data-seq="{target}"].es-selected', timeout=10_000)
    s.shot("eventtable", output_dir / "eventtable.png")


def test_charts_render_offline_in_the_page(lab_page: Session) -> None:
    outputs = lab_page.page.locator(".jp-Cell-outputArea").last
    assert outputs.locator("svg, img").count() >= 1
    assert "vega" not in outputs.inner_html().lower() or "cdn" not in outputs.inner_html()


def test_nothing_left_127_0_0_1_and_no_console_errors(lab_page: Session) -> None:
    w = lab_page.watch
    assert w.blocked == []
    assert w.page_errors == []
    assert w.console_errors == []
    assert w.dialogs == []
