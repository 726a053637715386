"""Run every benchmark and print its tables: `make bench` (or `python benchmarks/run.py`).

    python benchmarks/run.py                 # all, at the sizes the issues name
    python benchmarks/run.py replay store    # some of them
    BENCH_N=100000 python benchmarks/run.py  # smaller logs for a quick look

Each benchmark runs in a fresh Python process, its baselines beside it in that process, so
that its figures do not depend on what ran before it (a heap fragmented by millions of freed
objects, decoded events kept by the cache, worker threads) and a crash does not stop the rest.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ORDER = ["log", "normalize", "event_ids", "store", "replay", "diff", "interop", "branch",
         "browser"]


def main(argv: list[str]) -> int:
    os.environ.setdefault("ESTIME_PROGRESS", "0")
    wanted = argv or ORDER
    n = int(os.environ.get("BENCH_N", "1000000"))
    print(f"# estime benchmarks — {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cores, n={n:,}")
    failed = []
    for name in wanted:
        path = HERE / f"bench_{name}.py"
        if not path.exists():
            print(f"\n(skipping {name}: {path.name} not found)")
            continue
        t = time.perf_counter()
        code = f"import bench_{name} as b; b.main(n={n})"
        sys.stdout.flush()
        done = subprocess.run([sys.executable, "-c", code], cwd=HERE, check=False)
        if done.returncode:  # a broken benchmark must not hide the others
            failed.append(name)
            print(f"\n!! bench_{name} failed (exit status {done.returncode})")
        print(f"\n(bench_{name}: {time.perf_counter() - t:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
