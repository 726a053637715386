"""Benchmark the dataset generators against loading the same log from Parquet.

Run: .venv/bin/python benchmarks/bench_datasets.py [--events 1000000] [--repeat 3]

For each generator the table shows the median time to generate the log, the median time of
``pl.read_parquet`` + ``EventLog.from_frame`` on the same log written to a temporary file
(the baseline: what a user pays to load a stored log of that size), and the ratio
generate / load. A plain Python loop over as many iterations as the bank has commands is
printed as a calibration of the machine's speed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from estime import datasets
from estime.log import EventLog


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.events
    cases: list[tuple[str, Callable[[], EventLog]]] = [
        (f"bank(accounts={n // 100:,}, events={n:,})",
         lambda: datasets.bank(accounts=max(1, n // 100), events=n)),
        ("agent_run(scale=2000)", lambda: datasets.agent_run(scale=2000)),
        ("orders(orders=20,000)", lambda: datasets.orders(orders=20_000)),
    ]
    print(f"{'generator':<42} {'events':>10} {'generate s':>11} {'load s':>8} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in cases:
            log = make()
            path = Path(tmp) / "log.parquet"
            log.write_parquet(path)
            gen = median_time(make, args.repeat)
            load = median_time(lambda p=path: EventLog.from_frame(pl.read_parquet(p)),
                               args.repeat)
            print(f"{name:<42} {len(log):>10,} {gen:>11.2f} {load:>8.2f} {gen / load:>7.1f}")
    commands = datasets.bank_commands(accounts=max(1, n // 100), events=n).height

    def loop() -> None:
        for _ in range(commands):
            pass

    print(f"calibration: empty Python loop of {commands:,} iterations: "
          f"{median_time(loop, args.repeat):.3f} s")


if __name__ == "__main__":
    main()
