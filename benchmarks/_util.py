"""Small helpers shared by the benchmark scripts: timing and ratio tables."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs (seconds) and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def percentiles(samples: list[float], *ps: float) -> list[float]:
    """Percentiles (0-100) of samples, nearest-rank."""
    s = sorted(samples)
    return [s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] for p in ps]


def table(title: str, rows: list[tuple[str, float, str, float | None, str]]) -> None:
    """Print rows of (case, seconds, baseline name, baseline seconds, target)."""
    print(f"\n## {title}\n")
    print("| case | time | baseline | baseline time | ratio (baseline/estime) | target |")
    print("|---|---:|---|---:|---:|---|")
    for case, t, base, bt, target in rows:
        ratio = f"{bt / t:.2f}x" if bt else ""
        print(f"| {case} | {fmt(t)} | {base} | {fmt(bt) if bt else ''} | {ratio} | {target} |")


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def median(xs: list[float]) -> float:
    return statistics.median(xs)
