"""Branches, comparison and culprit search.

- fork the bank log at 90%, drop the event after the fork point, build the branch log and
  replay it reusing the parent's checkpoints; baseline: a full replay of the edited log
  without branches (a new log, so its first replay, decoding included; target: the branch
  costs ≤ 15% of it). A repeated replay of the parent, its events already decoded, is
  shown too;
- compare the log with that branch (alignment, first divergence, final diff);
- culprits on the agent_run dataset scaled to ~100k events (the failed attempt, up to the
  rollback marker): replays used and time; baseline: one full replay of that log.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import polars as pl
from _util import fmt, table, timed
from bench_replay import balances

import estime as es
from estime._replays import cached_replay
from estime.compare import compare
from estime.datasets import agent_failed, agent_fault, agent_projection, agent_run, bank
from estime.log import EventLog
from estime.rootcause import culprits


def main(n: int = 1_000_000, accounts: int = 10_000) -> None:
    t0 = time.perf_counter()
    log = bank(accounts=min(accounts, max(1, n // 10)), events=n)
    print(f"\nbank({n:,} events) generated in {fmt(time.perf_counter() - t0)}")
    p = balances()
    t_full, rp = timed(lambda: es.replay(log, p), repeat=2)  # the second run: warm

    at = int(n * 0.9)

    target = at + 1
    frame = log.frame
    deposits = frame.slice(at).filter(frame.slice(at)["type"] == "MoneyDeposited")
    if deposits.height:
        target = int(deposits["seq"][0])
    edited = log.frame.filter(pl.col("seq") != target)
    t_fresh, _ = timed(lambda: es.replay(EventLog._trusted(edited), p), repeat=2)

    def fork_and_replay() -> tuple[es.Replay, object]:
        b = log.fork(at, name="what-if").drop(target)
        return b.replay(p, parent_replay=rp), b

    t_branch, (brp, branch) = timed(fork_and_replay, repeat=3)
    t_mat, _ = timed(lambda: log.fork(at).drop(target).log, repeat=3)
    assert brp.final == es.replay(branch.log, p).final, "branch replay disagrees"

    def do_compare():
        c = compare(p, log, branch)
        return c, c.first_divergence, c.final

    cached_replay(log, p, build=lambda: rp)  # what branch.replay(p) leaves on the log
    t_cmp, (_, fd, final) = timed(do_compare, repeat=3)

    table(f"branches, {n:,} bank events, fork at 90% (seq {at:,}), drop seq {target:,}", [
        ("fork + drop + branch log + branch replay", t_branch,
         "full replay of the edited log (new log)", t_fresh,
         "≤ 15% of a full replay (ratio ≥ 6.7x)"),
        ("fork + drop + branch log + branch replay", t_branch,
         "repeated replay of the parent (decoded)", t_full, ""),
        ("  of which: branch log (materialise)", t_mat, "full replay", t_full, ""),
        ("compare(log, branch): align, first divergence, final diff (replays cached)", t_cmp,
         "full replay", t_full, ""),
    ])
    print(f"\nbranch cost / full replay of the edited log: {t_branch / t_fresh:.1%}; "
          "first divergence at seq "
          f"{fd[0].seq if fd and fd[0] else None}; final diff: {final.summary()}")

    # ------------------------------------------------------------ culprits on agent_run
    events = max(1_000, n // 10)
    scale = max(1, events // 47)
    t0 = time.perf_counter()
    run = agent_run(scale=scale)
    fault = agent_fault(run)
    failed = run.until(fault["rollback_seq"] - 1)
    print(f"\nagent_run(scale={scale:,}): {len(run):,} events, failed attempt "
          f"{len(failed):,} events, generated in {fmt(time.perf_counter() - t0)}")
    proj = agent_projection()
    t_one, _ = timed(lambda: es.replay(failed, proj), repeat=1)

    def search():
        return culprits(failed, proj, agent_failed)

    t_cul, found = timed(search, repeat=1)
    ok = [e.event_id for e in found] == [fault["stale_event_id"]]
    table(f"culprits, agent_run failed attempt ({len(failed):,} events)", [
        (f"culprits (ddmin + ranking; {found.replays} replays, {found.candidates:,} "
         f"candidates)", t_cul, "one full replay", t_one, "finds the stale tool result"),
    ])
    print(f"\nculprits found the planted stale tool result: {ok} "
          f"(seq {found.seqs}, expected {fault['stale_seq']}); {found.replays} replays, "
          f"{found.unresolved} unresolved, {t_cul / max(found.replays, 1) * 1e3:.1f} ms per "
          f"replay on average")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
