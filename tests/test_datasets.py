"""Tests of estime.datasets: determinism, invariants, the decider, the planted agent fault,
and that the files shipped in datasets/ equal a fresh generation."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import re
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estime import datasets
from estime.log import EventLog

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "datasets"
REJECTIONS = ("WithdrawalRejected", "CommandRejected")


@pytest.fixture(scope="module")
def bank_log() -> EventLog:
    return datasets.bank()


@pytest.fixture(scope="module")
def bank_cmds() -> pl.DataFrame:
    return datasets.bank_commands()


@pytest.fixture(scope="module")
def agent_log() -> EventLog:
    return datasets.agent_run()


def _meta(log: EventLog, key: str) -> pl.Series:
    return log.frame["meta"].str.json_path_match(f"$.{key}")


def _load_make() -> Any:
    spec = importlib.util.spec_from_file_location("datasets_make", SHIPPED / "make.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("make", [
    lambda: datasets.bank(accounts=20, events=500, seed=3),
    lambda: datasets.orders(orders=40, seed=3),
    lambda: datasets.agent_run(seed=3, scale=2),
])
def test_generators_are_deterministic(make: Any) -> None:
    a, b = make(), make()
    assert a == b
    assert a.frame.equals(b.frame)


def test_seeds_give_different_logs() -> None:
    assert datasets.bank(seed=0) != datasets.bank(seed=1)
    assert datasets.orders(seed=0) != datasets.orders(seed=1)
    assert datasets.agent_run(seed=0) != datasets.agent_run(seed=1)
    assert not datasets.bank_commands(seed=0).equals(datasets.bank_commands(seed=1))


@pytest.mark.parametrize("make", [datasets.bank, datasets.orders, datasets.agent_run])
def test_generated_frames_pass_full_validation(make: Any) -> None:
    """The generators skip per-row JSON validation; the validating constructor agrees."""
    log = make()
    assert EventLog.from_frame(log.frame) == log
    assert EventLog.from_records(log.to_records()) == log


# --------------------------------------------------------------------------- bank


def _signed_amounts(log: EventLog) -> pl.DataFrame:
    f = log.frame
    amount = f["data"].str.json_path_match("$.amount").cast(pl.Int64).fill_null(0)
    sign = (pl.when(pl.col("type").is_in(["MoneyDeposited", "TransferReceived"])).then(1)
            .when(pl.col("type").is_in(["MoneyWithdrawn", "TransferSent"])).then(-1)
            .otherwise(0))
    return f.with_columns(amount.alias("amount")).with_columns(
        (sign * pl.col("amount")).alias("delta")).with_columns(
        pl.col("delta").cum_sum().over("stream").alias("balance"))


def check_bank(log: EventLog, commands: pl.DataFrame, accounts: int, events: int) -> None:
    f = log.frame
    assert len(log) == events
    assert f["stream"].n_unique() == accounts
    assert set(f["type"].unique()) <= {"AccountOpened", "MoneyDeposited", "MoneyWithdrawn",
                                       "TransferSent", "TransferReceived",
                                       "WithdrawalRejected"}
    # versions are 1..n in seq order within each stream, and each stream starts opened
    expected = f.select(pl.int_range(1, pl.len() + 1).over("stream"))
    assert f["version"].to_list() == expected.to_series().to_list()
    assert f.filter(pl.col("version") == 1)["type"].unique().to_list() == ["AccountOpened"]
    assert f.filter(pl.col("type") == "AccountOpened").height == accounts
    # balances never go negative; amounts are positive ints
    b = _signed_amounts(log)
    assert (b["balance"] >= 0).all()
    moving = b.filter(pl.col("type") != "AccountOpened")
    assert (moving["amount"] > 0).all()
    assert all(isinstance(orjson.loads(d)["amount"], int) for d in moving["data"])
    # a rejection reports the balance it met, which could not cover the amount
    before = b.with_columns((pl.col("balance") - pl.col("delta")).alias("before"))
    rej = before.filter(pl.col("type") == "WithdrawalRejected")
    rej_balance = rej["data"].str.json_path_match("$.balance").cast(pl.Int64)
    assert (rej_balance == rej["before"]).all()
    assert (rej["amount"] > rej["before"]).all()
    # transfer pairs: Received right after Sent, linked by causation, same amount and id
    rows = log.to_records()
    for i, e in enumerate(rows):
        if e["type"] == "TransferSent":
            r = rows[i + 1]
            assert r["type"] == "TransferReceived"
            assert r["meta"]["causation_id"] == e["event_id"]
            assert r["meta"]["correlation_id"] == e["meta"]["correlation_id"]
            assert r["stream"] == e["data"]["to"] and r["data"]["from"] == e["stream"]
            assert r["data"]["amount"] == e["data"]["amount"]
            assert r["data"]["transfer_id"] == e["data"]["transfer_id"]
        elif e["type"] == "TransferReceived":
            assert rows[i - 1]["type"] == "TransferSent"
    # every causation id resolves to a command or an event; correlation is the command
    command_ids = set(commands["command_id"])
    event_ids = set(f["event_id"])
    assert f["event_id"].n_unique() == len(log)
    for e in rows:
        meta = e["meta"]
        assert set(meta) == {"causation_id", "correlation_id", "actor"} and meta["actor"]
        assert meta["correlation_id"] in command_ids
        if e["type"] == "TransferReceived":
            assert meta["causation_id"] in event_ids
        else:
            assert meta["causation_id"] == meta["correlation_id"]
    # commands: at_seq is the last seq before the command; its events follow immediately
    first = (f.with_columns(_meta(log, "correlation_id").alias("command_id"))
             .group_by("command_id").agg(pl.col("seq").min().alias("first"),
                                         pl.len().alias("n")))
    joined = commands.join(first, on="command_id", how="left")
    assert joined["first"].null_count() == 0
    assert (joined["first"] == joined["at_seq"] + 1).all()
    assert commands["at_seq"].is_sorted()
    assert commands["time"].is_sorted()
    # accepted is False exactly when the command was decided as a rejection
    decided = f.with_columns(_meta(log, "causation_id").alias("command_id")).select(
        "command_id", pl.col("type").alias("decision"))
    j = commands.join(decided, on="command_id", how="inner")
    assert j.height == commands.height
    assert ((j["decision"] == "WithdrawalRejected") == ~j["accepted"]).all()


def test_bank_default_invariants(bank_log: EventLog, bank_cmds: pl.DataFrame) -> None:
    check_bank(bank_log, bank_cmds, 100, 2_000)
    assert bank_log.frame["type"].value_counts().height == 6  # every type occurs
    assert (~bank_cmds["accepted"]).sum() > 0


def redecide(commands: pl.DataFrame, skip: frozenset[str] = frozenset(),
             check_pure: bool = False) -> list[dict[str, Any]]:
    """Re-decide the recorded commands in order (minus ``skip``) with the bank decider."""
    decide, evolve, initial = datasets.bank_decider()
    state = initial()
    out: list[dict[str, Any]] = []
    for cmd in commands.iter_rows(named=True):
        if cmd["command_id"] in skip:
            continue
        before = copy.deepcopy(state) if check_pure else None
        decided = decide(state, cmd)
        assert before is None or state == before, "decide must not change the state"
        for e in decided:
            state = evolve(state, e)
        out.extend(decided)
    return out


def test_decider_reproduces_the_log_exactly(bank_log: EventLog,
                                            bank_cmds: pl.DataFrame) -> None:
    decided = redecide(bank_cmds, check_pure=True)
    assert EventLog.from_records(decided) == bank_log
    # and it agrees with the recorded outcome of every command, at the recorded position
    position = 0
    for cmd in bank_cmds.iter_rows(named=True):
        assert cmd["at_seq"] == position
        kind = decided[position]["type"]
        assert (kind not in REJECTIONS) == cmd["accepted"]
        position += 2 if kind == "TransferSent" else 1


@settings(max_examples=25, deadline=None)
@given(accounts=st.integers(1, 8), extra=st.integers(0, 120), seed=st.integers(0, 2**32 - 1))
def test_bank_property(accounts: int, extra: int, seed: int) -> None:
    events = accounts + extra
    log = datasets.bank(accounts=accounts, events=events, seed=seed)
    commands = datasets.bank_commands(accounts=accounts, events=events, seed=seed)
    check_bank(log, commands, accounts, events)
    assert EventLog.from_records(redecide(commands)) == log


def test_dropping_the_pivotal_deposit_rejects_a_later_withdrawal(
        bank_log: EventLog, bank_cmds: pl.DataFrame) -> None:
    case = datasets.bank_pivotal_deposit()
    assert case is not None
    deposit = bank_log.event(case["deposit_seq"])
    withdrawal = bank_log.event(case["withdrawal_seq"])
    assert deposit.type == "MoneyDeposited" and withdrawal.type == "MoneyWithdrawn"
    assert deposit.stream == withdrawal.stream == case["stream"]
    assert deposit.event_id == case["deposit_event_id"]
    assert deposit.meta["causation_id"] == case["deposit_command_id"]
    assert withdrawal.meta["causation_id"] == case["withdrawal_command_id"]
    assert deposit.seq < withdrawal.seq
    assert withdrawal.data["amount"] == case["withdrawal_amount"]
    assert case["balance_without_deposit"] < case["withdrawal_amount"]
    # re-deciding without the deposit's command turns that withdrawal into a rejection
    what_if = redecide(bank_cmds, skip=frozenset({case["deposit_command_id"]}))
    mine = [e for e in what_if if e["meta"]["causation_id"] == case["withdrawal_command_id"]]
    assert [e["type"] for e in mine] == ["WithdrawalRejected"]
    assert mine[0]["data"]["balance"] == case["balance_without_deposit"]
    # it is the earliest such deposit: dropping any earlier one flips no withdrawal
    withdrawals = bank_cmds.filter(pl.col("type") == "Withdraw", pl.col("accepted"))
    deposit_seq: int = case["deposit_seq"]
    earlier = bank_cmds.filter(pl.col("type") == "Deposit", pl.col("at_seq") < deposit_seq - 1)
    for cid, stream in earlier.select("command_id", "stream").iter_rows():
        decision = decisions(redecide(bank_cmds, skip=frozenset({cid})))
        same_stream = withdrawals.filter(pl.col("stream") == stream)["command_id"]
        assert all(decision[w] == "MoneyWithdrawn" for w in same_stream)


def decisions(events: list[dict[str, Any]]) -> dict[str, str]:
    """command_id -> the type of the first event it decided."""
    out: dict[str, str] = {}
    for e in events:
        out.setdefault(e["meta"]["correlation_id"], e["type"])
    return out


def test_decide_rejects_what_the_state_cannot_satisfy() -> None:
    decide, evolve, initial = datasets.bank_decider()
    state = initial()
    opened = decide(state, {"command_id": "c1", "type": "OpenAccount", "stream": "a",
                            "data": {"owner": "Ada", "currency": "EUR"}, "actor": "t"})
    for e in opened:
        evolve(state, e)
    again = decide(state, {"command_id": "c2", "type": "OpenAccount", "stream": "a",
                           "data": {"owner": "Ada", "currency": "EUR"}})
    assert [e["type"] for e in again] == ["CommandRejected"]
    ghost = decide(state, {"command_id": "c3", "type": "Deposit", "stream": "zz",
                           "data": '{"amount": 5}'})
    assert ghost[0]["type"] == "CommandRejected" and "zz" in ghost[0]["data"]["reason"]
    to_ghost = decide(state, {"command_id": "c4", "type": "Transfer", "stream": "a",
                              "data": {"to": "zz", "amount": 5, "transfer_id": "t"}})
    assert to_ghost[0]["type"] == "CommandRejected"
    with pytest.raises(ValueError, match="unknown bank command type 'Close'"):
        decide(state, {"command_id": "c5", "type": "Close", "stream": "a", "data": {}})
    with pytest.raises(ValueError, match="positive int"):
        decide(state, {"command_id": "c6", "type": "Deposit", "stream": "a",
                       "data": {"amount": -3}})


def test_evolve_folds_log_events_to_the_true_balances(bank_log: EventLog) -> None:
    _, evolve, initial = datasets.bank_decider()
    state = initial()
    for e in bank_log:  # Event objects, not dicts
        state = evolve(state, e)
    final = _signed_amounts(bank_log).group_by("stream").agg(pl.col("balance").last())
    assert {s: a["balance"] for s, a in state.items()} == dict(final.iter_rows())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"accounts": 0}, "accounts must be a positive int, got 0"),
    ({"accounts": 10, "events": 5}, "events must be an int >= accounts (10)"),
    ({"accounts": 2.5}, "accounts must be a positive int, got 2.5"),
])
def test_bank_bad_sizes(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.bank(**kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.bank_commands(**kwargs)


def test_bank_scales() -> None:
    log = datasets.bank(accounts=1_000, events=40_000, seed=7)
    commands = datasets.bank_commands(accounts=1_000, events=40_000, seed=7)
    check_bank(log, commands, 1_000, 40_000)
    assert EventLog.from_records(redecide(commands)) == log
    times = log.frame["time"].to_list()
    assert (times[-1] - times[0]).days in range(60, 91)  # about a quarter at any size


# --------------------------------------------------------------------------- orders


def test_orders_lifecycles() -> None:
    log = datasets.orders(orders=300, seed=5)
    f = log.frame
    assert f["stream"].n_unique() == 300
    assert f["time"].is_sorted()
    ids = dict(zip(f["event_id"], f["seq"]))
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for e in log.to_records():
        by_stream.setdefault(e["stream"], []).append(e)
    fates = set()
    for events in by_stream.values():
        types = [e["type"] for e in events]
        assert [e["version"] for e in events] == list(range(1, len(events) + 1))
        assert types[0] == "OrderPlaced" and types.count("OrderPlaced") == 1
        root = events[0]
        assert root["meta"]["causation_id"] is None
        basket: dict[str, int] = {}
        paid = shipped = delivered = cancelled = refunded = None
        for e in events:
            meta, d, t = e["meta"], e["data"], e["type"]
            assert meta["correlation_id"] == root["event_id"] and meta["actor"]
            if e is not root:
                cause = meta["causation_id"]
                assert ids[cause] < e["seq"]  # an earlier event of the same order
                assert cause in {x["event_id"] for x in events}
            assert cancelled is None or t == "OrderRefunded", "nothing but a refund after a cancel"
            if t == "ItemAdded":
                assert paid is None
                basket[d["sku"]] = d["quantity"] * d["unit_price"]
            elif t == "ItemRemoved":
                assert paid is None
                del basket[d["sku"]]
            elif t == "PaymentAuthorized":
                paid = d["amount"]
                assert paid == sum(basket.values()) > 0
            elif t == "OrderShipped":
                assert paid is not None
                shipped = e
            elif t == "OrderDelivered":
                assert shipped is not None
                delivered = e
            elif t == "OrderCancelled":
                assert shipped is None
                cancelled = e
            elif t == "OrderRefunded":
                assert paid is not None and d["amount"] == paid
                assert cancelled is not None or delivered is not None
                refunded = e
        if cancelled is not None and paid is not None:
            assert refunded is not None
        fates.add((paid is not None, cancelled is not None, delivered is not None,
                   refunded is not None))
    assert len(fates) >= 4  # abandoned, cancelled+refunded, delivered, returned


def test_orders_bad_size() -> None:
    with pytest.raises(ValueError, match="orders"):
        datasets.orders(orders=0)


# --------------------------------------------------------------------------- agent run


def fold_agent(events: list[Any], honour: bool) -> dict[str, Any]:
    """Fold with the documented projection; rollback markers reset to the state at ``to``."""
    spec = datasets.agent_projection_spec()
    handlers = spec["handlers"]
    tos = {e.data["to"] for e in events if e.type == "estime.RolledBack"} if honour else set()
    state = spec["initial"]()
    saved = {0: copy.deepcopy(state)} if 0 in tos else {}
    for e in events:
        if honour and e.type == "estime.RolledBack":
            state = copy.deepcopy(saved[e.data["to"]])
            continue
        handler = handlers.get(e.type)
        if handler is not None:
            handler(state, e)
        if e.seq in tos:
            saved[e.seq] = copy.deepcopy(state)
    return state


def check_agent(log: EventLog) -> dict[str, Any]:
    f = log.frame
    assert log.streams == ["planner", "executor", "$estime"]
    assert _meta(log, "correlation_id").n_unique() == 1
    events = list(log)
    seq_of = {e.event_id: e.seq for e in events}
    for e in events:
        assert e.meta["actor"] in ("planner", "executor")
        cause = e.meta["causation_id"]
        if e.type == "TaskReceived":
            assert cause is None and e.seq == 1
        else:
            assert seq_of[cause] < e.seq
    expected = f.select(pl.int_range(1, pl.len() + 1).over("stream")).to_series()
    assert f["version"].to_list() == expected.to_list()
    fault = datasets.agent_fault(log)
    stale = log.event(fault["stale_seq"])
    assert stale.type == "ToolReturned" and stale.stream == "executor"
    assert stale.data["cached"] is True and stale.data["tool"] == fault["tool"]
    assert stale.time is not None and stale.data["fetched_at"] < stale.time.isoformat()
    assert fault["stale_api_version"] != fault["api_version"]
    assert fault["fresh_result"]["api_version"] == fault["api_version"]
    assert fault["fresh_seq"] < fault["rollback_to"] < fault["stale_seq"]
    # the rollback goes to the last CheckpointSaved before the stale result
    to = log.event(fault["rollback_to"])
    assert to.type == "CheckpointSaved"
    between = log.between(fault["rollback_to"] + 1, fault["stale_seq"])
    assert "CheckpointSaved" not in between.types
    assert "CheckpointSaved" in log.between(fault["stale_seq"], fault["rollback_seq"]).types
    marker = log.event(fault["rollback_seq"])
    assert (marker.stream, marker.type) == ("$estime", "estime.RolledBack")
    assert marker.data["to"] == to.seq and marker.data["reason"]
    # several steps separate the stale result from the bad writes, whose cause it is
    writes = fault["bad_write_seqs"]
    assert len(writes) == 3 and writes[0] - fault["stale_seq"] > 10
    assert log.between(fault["stale_seq"], writes[0]).filter(type="StepPlanned").frame.height >= 4
    # the failing test run's causation chain leads back to the stale result
    chain, cur = [], log.event(fault["failed_tests_seq"])
    while cur.meta["causation_id"] is not None:
        cur = log.event(seq_of[cur.meta["causation_id"]])
        chain.append(cur.seq)
    assert fault["stale_seq"] in chain and fault["bad_write_seqs"][-1] in chain
    order = [fault[k] for k in ("stale_seq", "failed_tests_seq", "error_seq", "rollback_seq",
                                "refetch_seq", "passed_tests_seq", "completed_seq")]
    assert order == sorted(order) and order[-1] == len(log)
    assert log.event(fault["failed_tests_seq"]).data["status"] == "failed"
    assert log.event(fault["passed_tests_seq"]).data["status"] == "passed"
    refetch = log.event(fault["refetch_seq"])
    assert refetch.data["cached"] is False and refetch.data["result"] == fault["fresh_result"]
    # the projection: honoured rollback passes, ignoring it fails, the attempt failed
    assert not datasets.agent_failed(fold_agent(events, honour=True))
    assert datasets.agent_failed(fold_agent(events, honour=False))
    attempt = [e for e in events if e.seq < fault["rollback_seq"]]
    assert datasets.agent_failed(fold_agent(attempt, honour=True))
    without_stale = [e for e in attempt if e.seq != fault["stale_seq"]]
    assert not datasets.agent_failed(fold_agent(without_stale, honour=True))
    assert not datasets.agent_failed(
        fold_agent([e for e in events if e.seq != fault["stale_seq"]], honour=False))
    return fault


def test_agent_run_default(agent_log: EventLog) -> None:
    fault = check_agent(agent_log)
    assert 60 <= len(agent_log) <= 120
    assert {"TaskReceived", "PlanCreated", "StepPlanned", "ToolCalled", "ToolReturned",
            "FileWritten", "TestsRun", "ErrorRaised", "CheckpointSaved", "estime.RolledBack",
            "TaskCompleted"} <= set(agent_log.types)
    assert fault["tool"] == "fetch_api_version"


def test_recorded_test_status_matches_the_projection(agent_log: EventLog) -> None:
    """Replaying as it happened (rollback honoured), the projection's verdict at every
    TestsRun equals the recorded one; on counterfactuals it is what makes removals matter."""
    events = list(agent_log)
    for i, e in enumerate(events):
        if e.type == "TestsRun":
            state = fold_agent(events[: i + 1], honour=True)
            assert state["tests"] == e.data["status"]
            assert len(state["failures"]) == e.data["failed"]


def test_only_the_stale_result_is_a_culprit(agent_log: EventLog) -> None:
    """On the failed attempt, removing one event flips the outcome only for the stale
    ToolReturned, and no pair of other events flips it: ddmin must find it."""
    fault = datasets.agent_fault(agent_log)
    attempt = list(agent_log.until(fault["rollback_seq"] - 1))
    assert datasets.agent_failed(fold_agent(attempt, honour=True))
    flips = [e.seq for i, e in enumerate(attempt)
             if not datasets.agent_failed(fold_agent(attempt[:i] + attempt[i + 1:], True))]
    assert flips == [fault["stale_seq"]]
    others = [i for i, e in enumerate(attempt) if e.seq != fault["stale_seq"]]
    for i, j in itertools.combinations(others, 2):
        rest = [e for k, e in enumerate(attempt) if k not in (i, j)]
        assert datasets.agent_failed(fold_agent(rest, honour=True)), (i, j)


def test_agent_projection_with_replay(agent_log: EventLog) -> None:
    projection_mod = pytest.importorskip("estime.projection")
    fault = datasets.agent_fault(agent_log)
    p = datasets.agent_projection()
    assert not datasets.agent_failed(projection_mod.replay(agent_log, p).final)
    assert datasets.agent_failed(
        projection_mod.replay(agent_log, p, honour_rollbacks=False).final)
    rp = projection_mod.replay(agent_log.until(fault["rollback_seq"] - 1), p)
    assert datasets.agent_failed(rp.final)
    assert rp.first(lambda s: s["tests"] == "failed").seq == fault["failed_tests_seq"]
    client = rp.final["files"]["src/api_client.py"]
    assert client["api_version"] == fault["stale_api_version"]
    assert f'API_VERSION = "{fault["stale_api_version"]}"' in client["content"]


@pytest.mark.parametrize("kwargs", [{"scale": 30}, {"steps": 3}, {"steps": 200, "seed": 9}])
def test_agent_run_scales_with_one_fault(kwargs: dict[str, Any]) -> None:
    log = datasets.agent_run(**kwargs)
    check_agent(log)
    cached = log.frame.filter(pl.col("type") == "ToolReturned")["data"].str.json_path_match(
        "$.cached")
    assert (cached == "true").sum() == 1


def test_agent_run_size_follows_scale() -> None:
    sizes = [len(datasets.agent_run(scale=s)) for s in (1, 10, 100)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert 4 * 90 * 10 < sizes[2] < 7 * 100 * 10  # about five events per benign step


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": 2}, "steps must be an int >= 3"),
    ({"scale": 0}, "scale must be a positive int, got 0"),
    ({"steps": "many"}, "steps must be an int >= 3"),
])
def test_agent_run_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.agent_run(**kwargs)


def test_agent_fault_rejects_other_logs(bank_log: EventLog, agent_log: EventLog) -> None:
    with pytest.raises(ValueError, match="exactly one stale tool result"):
        datasets.agent_fault(bank_log)
    fault = datasets.agent_fault(agent_log)
    fixed = agent_log.filter(pl.col("seq") != fault["stale_seq"])
    with pytest.raises(ValueError, match="found 0"):
        datasets.agent_fault(fixed)


# --------------------------------------------------------------------------- shipped files


def test_shipped_files_equal_a_fresh_generation() -> None:
    make = _load_make()
    assert make.stale_files(SHIPPED) == [], "run: python datasets/make.py"
    for name in make.FILES:
        assert (SHIPPED / name).stat().st_size < 700 * 1024, name


def test_shipped_jsonl_round_trips(bank_log: EventLog, agent_log: EventLog) -> None:
    for name, log in (("bank.jsonl", bank_log), ("agent_run.jsonl", agent_log)):
        lines = (SHIPPED / name).read_bytes().splitlines()
        rows = [orjson.loads(line) for line in lines]
        assert rows == [
            {**r, "time": r["time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
            for r in log.to_records()]
    commands = [orjson.loads(x) for x in (SHIPPED / "bank_commands.jsonl").read_bytes()
                .splitlines()]
    frame = datasets.bank_commands()
    assert [c["command_id"] for c in commands] == frame["command_id"].to_list()
    assert [c["data"] for c in commands] == [orjson.loads(d) for d in frame["data"]]
    assert [c["accepted"] for c in commands] == frame["accepted"].to_list()


def test_readme_names_the_computed_cases(agent_log: EventLog) -> None:
    readme = (SHIPPED / "README.md").read_text()
    case = datasets.bank_pivotal_deposit()
    assert case is not None
    fault = datasets.agent_fault(agent_log)
    for key, value in [*case.items(), *fault.items()]:
        if isinstance(value, (int, str)):
            assert re.search(rf"\| `{key}` \| `?{re.escape(str(value))}`? \|", readme), key


@pytest.mark.parametrize("name", ["bank", "orders", "agent_run"])
def test_shipped_logs_load_back_equal(name: str) -> None:
    io = pytest.importorskip("estime.io")
    fresh = getattr(datasets, name)()
    assert io.read_jsonl(SHIPPED / f"{name}.jsonl") == fresh
    assert io.read_parquet(SHIPPED / f"{name}.parquet") == fresh
