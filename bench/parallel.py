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
             dask: str | None, workers: int | None):
    return parse_scenario({
        "name": "bench-dask",
        "time": {"start": "2026-02-23T00:00:00Z", "duration": duration, "step": "60s"},
        "constellation": {"source": tle, "skip_invalid": True},
        "ground": {"regions": [{"name": region, "resolution": resolution}]},
        "network": {"enabled": False},
        "run": {"chunk_steps": chunk, "dask": dask, "workers": workers,
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
    for mode, dask in (("one process", None), (f"dask local x{args.workers}", "local")):
        sc = scenario(args.tle, duration, region, 5, chunk, dask, args.workers)
        t0 = time.perf_counter()
        tables[mode] = run(sc)
        times[mode] = time.perf_counter() - t0
        print(f"{mode:>20}: {times[mode]:7.1f} s  ({len(tables[mode].cells):,} cells, "
              f"{n_steps} steps, chunks of {chunk})", flush=True)
    a, b = tables.values()
    same = True
    for name, frame in a.tables().items():
        try:
            pd.testing.assert_frame_equal(frame, b.tables()[name], check_exact=True)
        except AssertionError as exc:
            same = False
            print(f"  {name} differs: {str(exc).splitlines()[0]}")
    one, many = times.values()
    print(f"speed-up (one process / dask): {one / many:.2f}x; tables identical: {same}")


if __name__ == "__main__":
    main()
