"""Replay engine on the bank dataset: full replay, state_at, diff, checkpoint memory.

Baselines run in the same process over the same events:
- a bare Python dict fold over the events already decoded as plain dicts (the floor);
- a hand-written fold that decodes the frame's columns itself;
- a full fold from scratch (the first replay of the log, decoding included), for state_at.

A log keeps its decoded chunks while the cache budget allows (``estime._decode``), so a
replay of a log already replayed folds decoded events, like the bare fold does; the first
replay of a log pays for decoding, and is shown separately.
"""

from __future__ import annotations

import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _util import fmt, percentiles, table, timed

import estime as es
from estime.datasets import bank
from estime.log import EventLog


def balances() -> es.Projection:
    p = es.Projection("balances", initial=dict)

    @p.on("AccountOpened")
    def opened(state, e):
        state[e.stream] = {"owner": e.data["owner"], "balance": 0}

    @p.on("MoneyDeposited", "TransferReceived")
    def credit(state, e):
        state[e.stream]["balance"] += e.data["amount"]

    @p.on("MoneyWithdrawn", "TransferSent")
    def debit(state, e):
        state[e.stream]["balance"] -= e.data["amount"]

    return p


def bare_fold(events: list[dict]) -> dict:
    state: dict = {}
    for e in events:
        t = e["type"]
        if t == "AccountOpened":
            state[e["stream"]] = {"owner": e["data"]["owner"], "balance": 0}
        elif t == "MoneyDeposited" or t == "TransferReceived":
            state[e["stream"]]["balance"] += e["data"]["amount"]
        elif t == "MoneyWithdrawn" or t == "TransferSent":
            state[e["stream"]]["balance"] -= e["data"]["amount"]
    return state


def main(n: int = 1_000_000, accounts: int = 10_000) -> None:
    t0 = time.perf_counter()
    log = bank(accounts=accounts, events=n)
    took = fmt(time.perf_counter() - t0)
    print(f"\nbank({accounts:,} accounts, {n:,} events) generated in {took}")
    f = log.frame
    plain = [
        {"stream": s, "type": t, "data": orjson.loads(d)}
        for s, t, d in zip(f["stream"].to_list(), f["type"].to_list(), f["data"].to_list())
    ]
    p = balances()
    t_bare, expected = timed(lambda: bare_fold(plain), repeat=3)
    plain.clear()

    def decode_and_fold() -> dict:
        # what a hand-written fold over the same frame does: read the columns, decode JSON
        return bare_fold([
            {"stream": s, "type": t, "data": orjson.loads(d)}
            for s, t, d in zip(f["stream"].to_list(), f["type"].to_list(),
                               f["data"].to_list())
        ])

    t_hand, _ = timed(decode_and_fold, repeat=2)
    # first replay of a log: a fresh log object over the same frame, nothing decoded yet
    t_cold, rp = timed(lambda: es.replay(EventLog._trusted(f), p), repeat=2)
    assert rp.final == expected, "replay disagrees with the bare fold"
    del rp  # frees that log and the decoded chunks it kept (the cache budget is shared)
    gc.collect()
    es.replay(log, p)  # decode once (chunks are kept while the cache budget allows)
    t_replay, rp = timed(lambda: es.replay(log, p), repeat=3)
    assert rp.final == expected, "replay disagrees with the bare fold"
    t_fold, _ = timed(lambda: es.replay(log, p, checkpoint_every=n + 1).final, repeat=2)

    rng = random.Random(7)
    seqs = [rng.randint(0, n) for _ in range(200)]
    lat, lat_freed = [], []
    # full GC collections during the loop (each walks every kept event); counted from the
    # stats, not with a gc callback, which changes how fast marshal reads in this process
    full = gc.get_stats()[2]["collections"]
    for s in seqs:
        t = time.perf_counter()
        state = rp.state_at(s)
        lat.append(time.perf_counter() - t)  # until state_at returns the caller's copy
        del state  # the caller drops it: 10k small dicts freed (a slider does, per step)
        lat_freed.append(time.perf_counter() - t)
    full = gc.get_stats()[2]["collections"] - full
    p50, p99 = percentiles(lat, 50, 99)
    p50_freed = percentiles(lat_freed, 50)[0]

    a, b = rp.state_at(n // 2), rp.state_at(n // 2 + 50)
    t_diff, d = timed(lambda: es.diff(a, b), repeat=5)
    cps = rp.checkpoints

    table(f"replay, {n:,} bank events, {accounts:,} accounts", [
        ("replay, events decoded (es.replay again)", t_replay,
         "bare dict fold over pre-decoded dicts", t_bare, "≥ 0.5x, never < 0.25x"),
        ("first replay, decoding included", t_cold, "bare dict fold over pre-decoded dicts",
         t_bare, ""),
        ("first replay, decoding included", t_cold,
         "hand-written decode + dict fold of the frame", t_hand, ""),
        ("fold alone, decoded, no checkpoints", t_fold, "bare dict fold over pre-decoded dicts",
         t_bare, ""),
        ("state_at p50 (200 random seqs)", p50, "full fold from scratch", t_cold,
         "p50 ≤ 16 ms, ≥ 100x"),
        ("state_at p99", p99, "full fold from scratch", t_cold, ""),
        ("state_at p50, then the returned state freed", p50_freed, "full fold from scratch",
         t_cold, ""),
        (f"diff of two states 50 events apart ({len(d)} changes)", t_diff, "", None, ""),
    ])
    print(f"\ncheckpoints: {len(cps)} kept, every {rp.checkpoint_every:,} events, "
          f"{cps['bytes'].sum() / 2**20:.1f} MiB in all "
          f"({cps['bytes'].sum() / n:.0f} bytes per event); "
          f"log frame {f.estimated_size() / 2**20:.0f} MiB")
    print(f"full GC collections during the {len(seqs)} state_at calls: {full}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
