"""Benchmark: the coverage kernel (visibility + streaming metrics) on the reference workloads.

Workloads (issue "Coverage engine"):
(a) the real 9,543-satellite element file x Ukraine's resolution-5 cells x 1 day at 60 s;
(b) Starlink Gen1 (4,408 Walker satellites) x all land resolution-5 cells x 1 hour at 60 s,
    then the same land set with the 9,543-satellite file for a few steps, to say how (b)
    scales to a full day and to the real file.

Figures: wall time, exact (cell, satellite) checks per second, effective all-pairs rate
(cells x satellites x steps / time), peak memory (``ru_maxrss`` of a fresh process per
workload), and the ratio against the all-pairs brute force (`visibility_brute_force`, the
dense look-angle evaluation) timed on a subset in the same run. The cached land-set load (or
its one-time build) is reported separately.

Usage: python bench/coverage.py [--quick] [--tle PATH] [--only a|b]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from skyfence.coverage import GroundIndex, compute_coverage, visibility_brute_force
from skyfence.orbits import load_constellation, propagate
from skyfence.timeutil import time_grid

DEFAULT_TLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "starlink-2026-02-23.tle"
START = "2026-02-23T00:00:00Z"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _brute_rate(const, r_ground, up, t_utc, n_cells: int, seed: int = 0) -> float:
    """All-pairs brute force: (cell, satellite) pairs per second on a random subset."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(r_ground.shape[0], min(n_cells, r_ground.shape[0]), replace=False)
    eph = propagate(const, t_utc)
    t0 = time.perf_counter()
    pairs = 0
    for k in range(t_utc.size):
        r = eph.r_km[:, k]
        for a in range(0, pick.size, 250):  # 250 cells x n_sat per call bounds memory
            idx = pick[a : a + 250]
            visibility_brute_force(r_ground[idx], up[idx], r, 25.0)
            pairs += idx.size * r.shape[0]
    return pairs / (time.perf_counter() - t0)


def _run(label: str, const, ground: GroundIndex, t_utc: np.ndarray) -> tuple[float, int, float]:
    checks = 0

    def count(_step) -> None:
        nonlocal checks
        checks += ground.last_checks

    t0 = time.perf_counter()
    res = compute_coverage(const, ground, t_utc, on_step=count)
    wall = time.perf_counter() - t0
    pairs = ground.n_points * len(const) * t_utc.size
    m = res.metrics
    print(f"  {label}: {ground.n_points:,} cells x {len(const):,} sats x {t_utc.size:,} steps")
    print(f"    wall {wall:8.2f} s  ({wall / t_utc.size * 1e3:7.1f} ms/step, propagation "
          f"included)")
    print(f"    exact checks {checks:,} = {checks / pairs * 100:5.2f} % of all pairs;  "
          f"{checks / wall / 1e6:7.1f} M checks/s")
    print(f"    effective all-pairs rate {pairs / wall / 1e6:9.1f} M cell-sat-steps/s")
    print(f"    mean in view {np.mean(m.mean_in_view):5.1f}, availability "
          f"{np.mean(m.availability) * 100:5.1f} %, bins {ground.n_bins} of "
          f"{ground.bin_size_km:g} km")
    return wall, pairs, checks


def workload_a(tle: Path, hours: float) -> None:
    from skyfence.ground import region_cell_set, resolve_region

    print(f"(a) {tle.name} x Ukraine res-5 x {hours:g} h at 60 s")
    t0 = time.perf_counter()
    const = load_constellation(str(tle), skip_invalid=True)
    cells = region_cell_set(resolve_region("Ukraine"))
    ground = GroundIndex(cells.r_itrs_km, cells.up)
    print(f"  setup (load elements, region cells, index): {time.perf_counter() - t0:.2f} s")
    t = time_grid(START, hours * 3600.0, 60.0)
    wall, pairs, _ = _run("kernel", const, ground, t)
    rate = _brute_rate(const, cells.r_itrs_km, cells.up, t[:2], 500)
    print(f"    brute force (500 cells x all sats x 2 steps): {rate / 1e6:6.1f} M pairs/s "
          f"-> kernel is {pairs / wall / rate:6.1f}x faster than all pairs")
    print(f"    peak RSS {_rss_mib():,.0f} MiB")


def workload_b(tle: Path, minutes: float, real_steps: int) -> None:
    from skyfence.ground import land_cache_path, land_cell_set

    cached = land_cache_path().is_file()
    t0 = time.perf_counter()
    land = land_cell_set()
    print(f"(b) Starlink Gen1 x all land res-5 cells x {minutes:g} min at 60 s")
    print(f"  land set: {len(land):,} cells, {'loaded from cache' if cached else 'BUILT'} in "
          f"{time.perf_counter() - t0:.2f} s (one-time, not in the figures below)")
    t0 = time.perf_counter()
    const = load_constellation("starlink-gen1", epoch=START)
    ground = GroundIndex(land.r_itrs_km, land.up)
    setup = time.perf_counter() - t0
    print(f"  setup (preset, spatial index of {len(land):,} cells): {setup:.2f} s")
    t = time_grid(START, minutes * 60.0, 60.0)
    wall, pairs, _ = _run("kernel", const, ground, t)
    print(f"    total with setup {wall + setup:.2f} s; peak RSS {_rss_mib():,.0f} MiB")
    rate = _brute_rate(const, land.r_itrs_km, land.up, t[:2], 2000)
    print(f"    brute force (2,000 cells x 4,408 sats x 2 steps): {rate / 1e6:6.1f} M pairs/s "
          f"-> kernel is {pairs / wall / rate:6.1f}x faster than all pairs")
    per_step = wall / t.size
    print(f"    scaling: a full day (1,441 steps) ~ {per_step * 1441 / 60:5.1f} min")
    if tle.exists() and real_steps > 0:
        real = load_constellation(str(tle), skip_invalid=True)
        tr = time_grid(START, (real_steps - 1) * 60.0, 60.0)
        wall_r, _, _ = _run(f"{tle.name} on the land set", real, ground, tr)
        print(f"    scaling: {len(real):,} satellites, a full day ~ "
              f"{wall_r / tr.size * 1441 / 60:5.1f} min ({wall_r / tr.size / per_step:4.2f}x "
              f"Gen1 per step); peak RSS {_rss_mib():,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: (a) 1 hour, (b) 10 minutes, 2 real-file steps")
    parser.add_argument("--tle", type=Path, default=DEFAULT_TLE)
    parser.add_argument("--only", choices=("a", "b"))
    args = parser.parse_args()
    hours = 1.0 if args.quick else 24.0
    minutes = 10.0 if args.quick else 60.0
    real_steps = 2 if args.quick else 6
    if args.only == "a":
        workload_a(args.tle, hours)
        return
    if args.only == "b":
        workload_b(args.tle, minutes, real_steps)
        return
    # Each workload in a fresh process, so that its peak RSS is its own.
    for which in ("a", "b"):
        cmd = [sys.executable, __file__, "--only", which, "--tle", str(args.tle)]
        if args.quick:
            cmd.append("--quick")
        subprocess.run(cmd, check=True)
        print()


if __name__ == "__main__":
    main()
