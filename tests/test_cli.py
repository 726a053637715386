"""The ``estime`` command, run as ``python -m estime.cli`` in a subprocess like a user would.

Good input: ``info``, ``replay`` and ``diff`` on the shipped datasets and on every format the
command reads, checked against what the library computes in-process. Bad input: one line on
stderr starting ``estime: error:``, a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import estime as es
from estime import datasets
from estime.io import read_jsonl, read_parquet
from estime.store import EventStore

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "datasets"

PROJECTIONS = '''
import estime as es

balances = es.Projection("balances", initial=dict)

@balances.on("AccountOpened")
def opened(state, e):
    state[e.stream] = 0

@balances.on("MoneyDeposited", "TransferReceived")
def credited(state, e):
    state[e.stream] += e.data["amount"]

@balances.on("MoneyWithdrawn", "TransferSent")
def debited(state, e):
    state[e.stream] -= e.data["amount"]


class Counts(es.Projection):
    initial = dict

    def MoneyDeposited(self, state, e):
        state["deposits"] = state.get("deposits", 0) + 1


boom = es.Projection("boom", initial=dict)

@boom.on("MoneyWithdrawn")
def explode(state, e):
    raise RuntimeError("handler exploded")

not_a_projection = 42
'''


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESTIME_PROGRESS": "0"}
    env.pop("ESTIME_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "estime.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
                          check=False)


@pytest.fixture
def proj_dir(tmp_path: Path) -> Path:
    (tmp_path / "bankproj.py").write_text(PROJECTIONS)
    (tmp_path / "raising.py").write_text("raise RuntimeError('module exploded')\n")
    (tmp_path / "broken_syntax.py").write_text("def f(:\n")
    return tmp_path


def _fold(log: es.EventLog, upto: int | None = None) -> dict[str, int]:
    state: dict[str, int] = {}
    for e in log if upto is None else log.until(upto):
        if e.type == "AccountOpened":
            state[e.stream] = 0
        elif e.type in ("MoneyDeposited", "TransferReceived"):
            state[e.stream] += e.data["amount"]
        elif e.type in ("MoneyWithdrawn", "TransferSent"):
            state[e.stream] -= e.data["amount"]
    return state


def _assert_info(out: str, log: es.EventLog) -> None:
    lines = out.splitlines()
    assert f"{len(log):,} events, {len(log.streams):,} streams, {len(log.types):,} types" \
        in lines[0]
    seqs = log.frame["seq"]
    assert lines[1] == f"seq {seqs.min()} .. {seqs.max()}"
    counts = dict(log.frame.group_by("type").len().iter_rows())
    listed = {}
    for line in lines[3:]:
        n, _, t = line.strip().partition("  ")
        if n.replace(",", "").isdigit():
            listed[t.strip()] = int(n.replace(",", ""))
    assert listed and all(counts[t] == n for t, n in listed.items())
    assert max(counts.values()) == max(listed.values())


# ---------------------------------------------------------------------------- good input


@pytest.mark.parametrize("name", ["bank.jsonl", "bank.parquet", "orders.jsonl",
                                  "orders.parquet", "agent_run.jsonl", "agent_run.parquet"])
def test_info_on_shipped_datasets(name: str) -> None:
    path = SHIPPED / name
    log = read_jsonl(path) if name.endswith(".jsonl") else read_parquet(path)
    proc = cli("info", path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    _assert_info(proc.stdout, log)


def test_info_top_limits_the_types_listed() -> None:
    proc = cli("info", SHIPPED / "agent_run.jsonl", "--top", "3")
    assert proc.returncode == 0, proc.stderr
    types = len(read_jsonl(SHIPPED / "agent_run.jsonl").types)
    assert f"... and {types - 3} more types" in proc.stdout


def test_info_on_other_formats(tmp_path: Path) -> None:
    log = datasets.bank(accounts=5, events=60)
    csv = tmp_path / "bank.csv"
    log.frame.with_columns(pl.col("time").dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")).write_csv(csv)
    ce = tmp_path / "bank.json"  # a CloudEvents batch (JSON array)
    ce.write_text(json.dumps([{"specversion": "1.0", "id": e.event_id, "source": "/bank",
                               "subject": e.stream, "type": e.type,
                               "time": e.time.isoformat(), "data": e.to_dict()["data"]}
                              for e in log]))
    store = tmp_path / "bank.db"
    EventStore.from_log(store, log).close()
    for path in (csv, ce, store):
        proc = cli("info", path)
        assert proc.returncode == 0, (path, proc.stderr)
        _assert_info(proc.stdout, log)
    # an explicit --format wins over the suffix
    copy = tmp_path / "bank.events"
    copy.write_text(ce.read_text())
    proc = cli("info", copy, "--format", "cloudevents")
    assert proc.returncode == 0, proc.stderr
    _assert_info(proc.stdout, log)


def test_info_on_an_eventsourcing_database(tmp_path: Path) -> None:
    pytest.importorskip("eventsourcing")
    script = f'''
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str):
        self.owner = owner
    @event("Deposited")
    def deposit(self, amount: int):
        pass
app = Application(env={{"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": {str(tmp_path / "es.db")!r}}})
a = Account("ada"); a.deposit(5); a.deposit(7)
b = Account("bob")
app.save(a, b); app.close()
'''
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    proc = cli("info", tmp_path / "es.db")
    assert proc.returncode == 0, proc.stderr
    assert "4 events, 2 streams, 2 types" in proc.stdout
    assert "Account.Deposited" in proc.stdout


def test_info_on_a_langgraph_database(tmp_path: Path) -> None:
    pytest.importorskip("langgraph.checkpoint.sqlite")
    script = f'''
import sqlite3
from typing import TypedDict
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
class S(TypedDict):
    n: int
g = StateGraph(S)
g.add_node("inc", lambda s: {{"n": s["n"] + 1}})
g.add_edge(START, "inc"); g.add_edge("inc", END)
conn = sqlite3.connect({str(tmp_path / "lg.db")!r}, check_same_thread=False)
app = g.compile(checkpointer=SqliteSaver(conn))
for t in ("t1", "t2"):
    app.invoke({{"n": 1}}, {{"configurable": {{"thread_id": t}}}})
conn.close()
'''
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    proc = cli("info", tmp_path / "lg.db")
    assert proc.returncode == 0, proc.stderr
    assert " 2 streams" in proc.stdout and "langgraph.loop" in proc.stdout


def test_replay_prints_the_state_at_a_seq(proj_dir: Path) -> None:
    log = read_jsonl(SHIPPED / "bank.jsonl")
    for at in (None, 1, 777):
        extra = () if at is None else ("--at", str(at))
        proc = cli("replay", SHIPPED / "bank.jsonl", "--projection", "bankproj:balances",
                   *extra, cwd=proj_dir)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == _fold(log, at)


def test_replay_with_a_class_based_projection(proj_dir: Path) -> None:
    log = read_jsonl(SHIPPED / "bank.jsonl")
    proc = cli("replay", SHIPPED / "bank.jsonl", "--projection", "bankproj:Counts",
               cwd=proj_dir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"deposits": len(log.filter(type="MoneyDeposited"))}


def test_diff_lists_the_changes_and_a_json_patch(proj_dir: Path) -> None:
    jsonpatch = pytest.importorskip("jsonpatch")
    log = read_jsonl(SHIPPED / "bank.jsonl")
    a, b = 300, 340
    expected = es.diff(_fold(log, a), _fold(log, b))
    proc = cli("diff", SHIPPED / "bank.jsonl", a, b, "--projection", "bankproj:balances",
               cwd=proj_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(expected) > 0
    for line, (path, op) in zip(lines, expected.frame.select("path", "op").iter_rows()):
        assert line.split()[:2] == [op, path]
    proc = cli("diff", SHIPPED / "bank.jsonl", a, b, "--projection", "bankproj:balances",
               "--json-patch", cwd=proj_dir)
    assert proc.returncode == 0, proc.stderr
    patch = json.loads(proc.stdout)
    assert jsonpatch.apply_patch(_fold(log, a), patch) == _fold(log, b)
    proc = cli("diff", SHIPPED / "bank.jsonl", 5, 5, "--projection", "bankproj:balances",
               cwd=proj_dir)
    assert proc.returncode == 0 and "no change between seq 5 and seq 5" in proc.stdout


@pytest.mark.parametrize("sub", [None, "info", "replay", "diff", "lab"])
def test_help_everywhere(sub: str | None) -> None:
    proc = cli(*([sub] if sub else []), "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: estime" + (f" {sub}" if sub else ""))


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "estime"
    if not script.exists():
        pytest.skip("the estime console script is not installed in this environment "
                    "(pip install -e . creates it)")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and "info" in proc.stdout


def test_a_broken_pipe_is_quiet() -> None:
    cmd = (f"{sys.executable} -m estime.cli info {SHIPPED / 'bank.jsonl'} --top 50 "
           "| head -n 1")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""


# ---------------------------------------------------------------------------- bad input


def _write_bad_files(tmp: Path) -> None:
    bad_json = tmp / "bad.jsonl"
    lines = (SHIPPED / "bank.jsonl").read_text().splitlines()[:5]
    lines[2] = lines[2][:40]
    bad_json.write_text("\n".join(lines) + "\n")
    latin = tmp / "latin.jsonl"
    latin.write_bytes('{"stream": "caf\xe9", "type": "X"}\n'.encode("latin-1"))
    junk = tmp / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    other_db = tmp / "other.db"
    with sqlite3.connect(other_db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    not_db = tmp / "fake.db"
    not_db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    missing_stream = tmp / "nostream.jsonl"
    missing_stream.write_text('{"type": "X"}\n')
    bad_parquet = tmp / "bad.parquet"
    bad_parquet.write_text("not parquet")


def _bad_cases(tmp: Path) -> dict[str, tuple[list[str | Path], str]]:
    bank = SHIPPED / "bank.jsonl"
    bad_json, latin, junk = tmp / "bad.jsonl", tmp / "latin.jsonl", tmp / "junk.bin"
    other_db, not_db = tmp / "other.db", tmp / "fake.db"
    missing_stream, bad_parquet = tmp / "nostream.jsonl", tmp / "bad.parquet"
    return {
        "missing file": (["info", tmp / "nope.jsonl"], "no such file"),
        "directory": (["info", tmp], "is a directory"),
        "invalid json line": (["info", bad_json], "line 3"),
        "not utf-8": (["info", latin], "UTF-8"),
        "binary junk": (["info", junk], "junk.bin"),
        "unknown sqlite tables": (["info", other_db], "customers"),
        "truncated sqlite": (["info", not_db], "fake.db"),
        "missing stream": (["info", missing_stream], "stream"),
        "bad parquet": (["info", bad_parquet], "bad.parquet"),
        "format mismatch": (["info", bank, "--format", "parquet"], "bank.jsonl"),
        "spec without colon": (["replay", bank, "--projection", "bankproj"], "module:name"),
        "missing module": (["replay", bank, "--projection", "nosuchmod:p"], "nosuchmod"),
        "module raises": (["replay", bank, "--projection", "raising:p"], "module exploded"),
        "module syntax error": (["replay", bank, "--projection", "broken_syntax:p"],
                                "SyntaxError"),
        "missing name": (["replay", bank, "--projection", "bankproj:nope"], "'nope'"),
        "not a projection": (["replay", bank, "--projection", "bankproj:not_a_projection"],
                             "not an estime.Projection"),
        "handler raises": (["replay", bank, "--projection", "bankproj:boom"],
                           "handler exploded"),
        "diff handler raises": (["diff", bank, "1", "900", "--projection", "bankproj:boom"],
                                "seq"),
        "lab without notebooks": (["lab", "--notebooks", tmp / "nowhere"], "no notebooks"),
    }


CASES = list(_bad_cases(Path("/nonexistent")))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_and_a_non_zero_exit(case: str, proj_dir: Path) -> None:
    _write_bad_files(proj_dir)
    args, expect = _bad_cases(proj_dir)[case]
    proc = cli(*args, cwd=proj_dir)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("estime: error: ")
    assert expect in lines[0]
    assert proc.stdout == ""


def test_bad_input_never_modifies_the_file(proj_dir: Path) -> None:
    bad = proj_dir / "bad.jsonl"
    bad.write_text('{"stream": "a", "type": "X"}\n{"stream": \n')
    before = bad.read_bytes()
    assert cli("info", bad).returncode != 0
    assert bad.read_bytes() == before


@pytest.mark.parametrize("args", [["info"], ["replay", "x.jsonl"], ["diff", "x.jsonl", "1"],
                                  ["frobnicate"], ["info", "x.jsonl", "--top", "many"]])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and proc.stderr.startswith("usage: estime")


def test_lab_binds_localhost_with_a_token_and_no_network(tmp_path):
    import os

    from estime.cli import UsageError, build_parser, lab_command

    args = build_parser().parse_args(["lab", "--notebooks", str(tmp_path), "--port", "9999"])
    cmd = lab_command(args)
    assert "--ip=127.0.0.1" in cmd and "--port=9999" in cmd
    assert f"--ServerApp.root_dir={tmp_path}" in cmd
    assert not any("token=" in c.lower() for c in cmd)  # JupyterLab's own random token stays on
    assert "--LabApp.news_url=None" in cmd
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)
    missing = build_parser().parse_args(["lab", "--notebooks", str(tmp_path / "nope")])
    try:
        lab_command(missing)
    except UsageError as exc:
        assert "no notebooks folder" in str(exc)
    else:
        raise AssertionError("a missing notebooks folder must be an error")
