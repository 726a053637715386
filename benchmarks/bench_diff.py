"""Benchmark estime.diff against jsonpatch.make_patch on bank-account states.

Run: .venv/bin/python benchmarks/bench_diff.py [--accounts 10000] [--repeat 7]

Each case diffs two states of N accounts; the table shows the median time of estime.diff
(diff only, and diff + .frame + .to_json_patch()), of jsonpatch.make_patch on the same pair,
and the ratio jsonpatch / estime (higher is better for estime). Both results are checked to
round-trip with jsonpatch.apply_patch before timing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jsonpatch

from estime.diff import diff


def accounts(n: int) -> dict[str, Any]:
    return {
        f"acct-{i:05d}": {
            "owner": f"owner {i}",
            "balance": (i * 37) % 10_000 + 0.5,
            "currency": "EUR",
            "open": True,
            "limits": {"daily": 1_000, "monthly": 10_000},
            "history": [i % 7, i % 11, i % 13],
        }
        for i in range(n)
    }


def change_three(state: dict[str, Any], *, share: bool) -> dict[str, Any]:
    """A later state: 3 accounts changed (a deposit, a closed account, a new transaction).

    With share=True untouched accounts are the same objects (a functional-style update);
    otherwise the whole state is a deep copy, as Replay.state_at returns it.
    """
    keys = list(state)
    a, b, c = keys[7], keys[len(keys) // 2], keys[-3]
    if share:
        new = dict(state)
        for k in (a, b, c):
            new[k] = copy.deepcopy(state[k])
    else:
        new = copy.deepcopy(state)
    new[a]["balance"] += 100
    new[b]["open"] = False
    new[c]["history"].append(42)
    return new


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median CPU time of the process in ms (steadier than wall time on a shared machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times) * 1000


def main(n: int = 0, argv: list[str] | None = None) -> None:
    """Run the diff benchmark (``n``, the log size run.py passes, is not used)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args([] if argv is None else argv)
    n, repeat = args.accounts, args.repeat

    base = accounts(n)
    as_list = list(base.values())
    one_insert = copy.deepcopy(as_list)
    one_insert.insert(n // 2, {"owner": "new", "balance": 0})
    two_edits = copy.deepcopy(as_list)
    two_edits.insert(n // 2, {"owner": "new", "balance": 0})
    del two_edits[-2]
    hidden = copy.deepcopy(base)
    hidden[next(iter(hidden))]["open"] = 1  # == True: only a strict check sees it
    cases: list[tuple[str, Any, Any]] = [
        (f"{n:,} accounts, 3 changed (deep copy)", base, change_three(base, share=False)),
        (f"{n:,} accounts, 3 changed (shared)", base, change_three(base, share=True)),
        (f"{n:,} accounts, unchanged (deep copy)", base, copy.deepcopy(base)),
        (f"{n:,} accounts, True -> 1 in one", base, hidden),
        (f"{n:,} accounts vs empty (all added)", {}, base),
        (f"list of {n:,}: 1 insert in the middle", as_list, one_insert),
        (f"list of {n:,}: 1 insert + 1 delete far apart", as_list, two_edits),
    ]

    head = f"{'case':44} {'rows':>7} {'estime ms':>10} {'+frame+patch':>13} {'== ms':>7} "
    head += f"{'jsonpatch ms':>13} {'ops':>7} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for name, before, after in cases:
        d = diff(before, after)
        assert jsonpatch.apply_patch(before, d.to_json_patch()) == after
        ops = len(list(jsonpatch.make_patch(before, after)))
        ours = timed(lambda b=before, a=after: diff(b, a), repeat)
        full = timed(lambda b=before, a=after: _full(b, a), repeat)
        floor = timed(lambda b=before, a=after: b == a, repeat)
        theirs = timed(lambda b=before, a=after: jsonpatch.make_patch(b, a), max(1, repeat // 2))
        print(
            f"{name:44} {len(d):>7,} {ours:>10.2f} {full:>13.2f} {floor:>7.2f} "
            f"{theirs:>13.2f} {ops:>7,} {theirs / ours:>6.1f}x"
        )
    print(
        "\nms: median CPU time of this process.\n"
        "rows: estime's changes; ops: jsonpatch's operations.\n"
        "== ms: Python's deep equality of the same pair (C speed, cannot tell True from 1),\n"
        "a floor for any exact diff. ratio = jsonpatch.make_patch / estime.diff, same process."
    )


def _full(before: Any, after: Any) -> None:
    d = diff(before, after)
    d.frame  # noqa: B018
    d.to_json_patch()


if __name__ == "__main__":
    main(argv=sys.argv[1:])
