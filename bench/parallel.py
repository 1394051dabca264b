"""Dask against one process on the same scenario, same run: wall time, speed-up, equality.

Default workload (issue 8): every land cell at H3 resolution 5 (~570,000 cells), the real
2026 element set (9,543 satellites), 2 h at 60 s, coverage and policy (no routing). Prints the
wall time of each mode, the speed-up and whether every table is identical.

    python bench/parallel.py [--quick] [--workers N] [--duration 2h] [--tle FILE]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from skyfence.engine import run
from skyfence.scenario import parse_scenario

SHARED = Path(os.environ.get("SKYFENCE_SHARED_DATA", Path(__file__).parents[1] / ".." /
                             "shared" / "data"))


def scenario(tle: str, duration: str, region: str, resolution: int, chunk: int,
             dask: str | None, workers: int | None, threads: int | None = None):
    return parse_scenario({
        "name": "bench-dask",
        "time": {"start": "2026-02-23T00:00:00Z", "duration": duration, "step": "60s"},
        "constellation": {"source": tle, "skip_invalid": True},
        "ground": {"regions": [{"name": region, "resolution": resolution}]},
        "network": {"enabled": False},
        "capacity": {"enabled": False},
        "run": {"chunk_steps": chunk, "dask": dask, "workers": workers, "threads": threads,
                "memory_budget_gib": 8},
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="Ukraine at res 5, 30 min")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--duration", default="2h")
    ap.add_argument("--tle", default=str(SHARED / "starlink-2026-02-23.tle"))
    args = ap.parse_args()
    region, duration = ("Ukraine", "30m") if args.quick else ("land", args.duration)
    n_steps = int(pd.Timedelta(duration).total_seconds() // 60) + 1
    chunk = max(1, n_steps // (4 * args.workers))
    times = {}
    tables = {}
    # Warm-up (imports, compiled kernels, boundary and policy caches) so neither mode pays it.
    run(scenario(args.tle, "2m", region, 5, chunk, None, args.workers))
    modes = [("one process", None, args.workers, None),
             (f"dask local x{args.workers}", "local", args.workers, None)]
    if args.workers > 1:
        modes += [("dask local x1", "local", 1, None),
                  ("one process, 1 thread", None, 1, 1)]
    for mode, dask, workers, threads in modes:
        sc = scenario(args.tle, duration, region, 5, chunk, dask, workers, threads)
        t0 = time.perf_counter()
        tables[mode] = run(sc)
        times[mode] = time.perf_counter() - t0
        print(f"{mode:>20}: {times[mode]:7.1f} s  ({len(tables[mode].cells):,} cells, "
              f"{n_steps} steps, chunks of {chunk})", flush=True)
    names = list(tables)
    a = tables[names[0]]
    same = True
    for other in names[1:]:
        for name, frame in a.tables().items():
            if name == "rules":
                continue
            try:
                pd.testing.assert_frame_equal(frame, tables[other].tables()[name],
                                              check_exact=True)
            except AssertionError as exc:
                same = False
                print(f"  {other}: {name} differs: {str(exc).splitlines()[0]}")
    one = times[names[0]]
    for other in names[1:]:
        print(f"speed-up of {other} over one process: {one / times[other]:.2f}x")
    if len(names) > 3:
        print(f"strong scaling, dask x1 -> x{args.workers}: "
              f"{times[names[2]] / times[names[1]]:.2f}x; one process, 1 -> "
              f"{args.workers} threads: {times[names[3]] / times[names[0]]:.2f}x")
    print(f"tables identical: {same}")


if __name__ == "__main__":
    main()
