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

(global) ``--global-day``: the real 9,543-satellite file x all 570,042 land resolution-5
    cells x 1 day at 60 s (``--quick``: 1 hour), with the compiled kernel on 1 and 2 threads,
    each in a fresh process: wall and CPU time (``time.process_time``, all threads), ms/step,
    the share spent in the visibility kernel, peak RSS, and the ratio to raw SGP4
    (``SatrecArray.sgp4`` alone, TEME, same satellites and steps, timed in the same process).
    Also: the JIT cost of the first call, compiled from scratch (empty ``NUMBA_CACHE_DIR``) and
    loaded from the cache; and the NumPy reference kernel on a sample of steps of the same
    workload, checked equal to the compiled one (same counts, best satellites and elevations).

Usage: python bench/coverage.py [--quick] [--tle PATH] [--only a|b]
       python bench/coverage.py --global-day [--quick] [--threads 1,2] [--numpy-steps N]

The machine may be shared: wall times under load are pessimistic; CPU times are less so.
"""

from __future__ import annotations

if __name__ == "coverage":
    # Imported as the coverage.py package (numba does `import coverage` when it loads) by a
    # script run from bench/: not that package, so say so and numba carries on without it.
    raise ImportError("bench/coverage.py is a benchmark script, not the coverage package")

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This script is named coverage.py: keep its folder off sys.path, or numba's optional
# `import coverage` (coverage.py support) would import this file instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402

from skyfence.coverage import (  # noqa: E402
    GroundIndex,
    compute_coverage,
    visibility_brute_force,
)
from skyfence.orbits import load_constellation, propagate  # noqa: E402
from skyfence.timeutil import time_grid  # noqa: E402

SHARED_DATA = Path(os.environ.get("SKYFENCE_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_TLE = SHARED_DATA / "starlink-2026-02-23.tle"
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

    # The first call loads the compiled kernel (numba cache): outside the timing.
    ground.visibility(propagate(const, t_utc[:1]).r_km[:, 0], 25.0)
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


def _global_setup(tle: Path, kernel: str, threads: int | None):
    from skyfence.ground import land_cache_path, land_cell_set

    cached = land_cache_path().is_file()
    t0 = time.perf_counter()
    land = land_cell_set()
    t_land = time.perf_counter() - t0
    t0 = time.perf_counter()
    const = load_constellation(str(tle), skip_invalid=True)
    t_const = time.perf_counter() - t0
    t0 = time.perf_counter()
    ground = GroundIndex(land.r_itrs_km, land.up, kernel=kernel, threads=threads)
    t_index = time.perf_counter() - t0
    print(f"  land set {len(land):,} cells ({'cache' if cached else 'BUILT'}) {t_land:.2f} s; "
          f"{tle.name}: {len(const):,} satellites {t_const:.2f} s; index ({ground.kernel}, "
          f"{ground.n_bins} bins of {ground.bin_size_km:g} km) {t_index:.2f} s")
    return land, const, ground


def _raw_sgp4(const, t_utc: np.ndarray, chunk: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``SatrecArray.sgp4`` alone over ``t_utc`` in chunks."""
    from skyfence.timeutil import julian_date_utc

    sat = const.satrec_array
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, t_utc.size, chunk):
        jd, fr = julian_date_utc(t_utc[i : i + chunk])
        sat.sgp4(jd, fr)
    return time.perf_counter() - w0, time.process_time() - c0


def global_day(tle: Path, hours: float, threads: int, kernel: str) -> None:
    """One process: the global workload with ``threads`` threads."""
    from skyfence.orbits.propagate import chunk_length

    print(f"(global) {kernel} kernel, threads={threads}: {hours:g} h at 60 s")
    _, const, ground = _global_setup(tle, kernel, threads)
    t = time_grid(START, hours * 3600.0, 60.0)
    # First call (JIT code loaded from the cache, or compiled when the cache is empty).
    eph0 = propagate(const, t[:1])
    w0 = time.perf_counter()
    ground.visibility(eph0.r_km[:, 0], 25.0)
    print(f"  first visibility call (JIT load or compile + one step): "
          f"{time.perf_counter() - w0:.2f} s")
    raw_wall, raw_cpu = _raw_sgp4(const, t, chunk_length(len(const), 64 * 2**20))
    vis_time = 0.0
    inner = ground.visibility

    def timed(*a, **kw):
        nonlocal vis_time
        s0 = time.perf_counter()
        out = inner(*a, **kw)
        vis_time += time.perf_counter() - s0
        return out

    ground.visibility = timed  # type: ignore[method-assign]
    checks = 0

    def count(_step) -> None:
        nonlocal checks
        checks += ground.last_checks

    w0, c0 = time.perf_counter(), time.process_time()
    res = compute_coverage(const, ground, t, on_step=count)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = t.size
    m = res.metrics
    print(f"  {ground.n_points:,} cells x {len(const):,} sats x {n:,} steps "
          f"(propagation, kernel and metrics)")
    print(f"    wall {wall:8.2f} s = {wall / n * 1e3:6.1f} ms/step; CPU {cpu:8.2f} s "
          f"({cpu / wall:4.2f} cores busy on average)")
    print(f"    visibility kernel {vis_time:7.2f} s wall ({vis_time / wall:5.1%}), "
          f"{vis_time / n * 1e3:6.1f} ms/step; exact checks {checks / n / 1e6:5.1f} M/step")
    print(f"    raw SGP4 (same satellites and steps): {raw_cpu:6.2f} s CPU, {raw_wall:6.2f} s "
          f"wall -> run wall / raw SGP4 CPU = {wall / raw_cpu:5.1f}x (run CPU / raw SGP4 CPU "
          f"= {cpu / raw_cpu:5.1f}x)")
    print(f"    mean in view {np.mean(m.mean_in_view):5.1f}, availability "
          f"{np.mean(m.availability) * 100:5.1f} %")
    print(f"    peak RSS {_rss_mib():,.0f} MiB")


def numpy_sample(tle: Path, hours: float, n_steps: int) -> None:
    """The NumPy reference kernel on ``n_steps`` steps of the global workload, compared with
    the compiled kernel on the same steps (equal results, per-step time)."""
    print(f"(global) NumPy reference vs compiled kernel on {n_steps} steps of the same window")
    land, const, ground_nb = _global_setup(tle, "numba", None)
    ground_np = GroundIndex(land.r_itrs_km, land.up, kernel="numpy")
    t_all = time_grid(START, hours * 3600.0, 60.0)
    pick = np.linspace(0, t_all.size - 1, n_steps).round().astype(int)
    eph = propagate(const, t_all[pick])
    ground_nb.visibility(eph.r_km[:, 0], 25.0)  # JIT load
    times = {"numpy": 0.0, "numba": 0.0}
    cpu = {"numpy": 0.0, "numba": 0.0}
    for k in range(pick.size):
        r = eph.r_km[:, k]
        out = {}
        for name, g in (("numpy", ground_np), ("numba", ground_nb)):
            w0, c0 = time.perf_counter(), time.process_time()
            out[name] = g.visibility(r, 25.0)
            times[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
        a, b = out["numpy"], out["numba"]
        np.testing.assert_array_equal(a.n_visible, b.n_visible)
        np.testing.assert_array_equal(a.best_sat, b.best_sat)
        np.testing.assert_allclose(a.best_elevation_deg, b.best_elevation_deg, rtol=0,
                                   atol=1e-9, equal_nan=True)
    for name in ("numpy", "numba"):
        print(f"    {name:5}: {times[name] / n_steps * 1e3:7.1f} ms/step wall, "
              f"{cpu[name] / n_steps * 1e3:7.1f} ms/step CPU")
    print(f"    compiled / NumPy speed-up: {times['numpy'] / times['numba']:5.1f}x wall "
          f"(numba on {ground_nb.threads} threads); identical counts and best satellites on "
          f"all {n_steps} steps")


def jit_cost(tle: Path) -> None:
    """First-call cost of the compiled kernels: every kernel (count, pairs, GSO) on a small
    ground set; run once with an empty cache and once with it filled."""
    from skyfence.coverage import GSO_EXCLUSION_USER_DEG

    w0 = time.perf_counter()
    import skyfence.coverage._compiled  # noqa: F401

    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 200)))
    lon = rng.uniform(-180, 180, 200)
    from skyfence.earth import enu_basis, geodetic_to_itrs

    g = GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2], kernel="numba",
                    gso_exclusion_deg=GSO_EXCLUSION_USER_DEG)
    const = load_constellation(str(tle), skip_invalid=True)
    r = propagate(const, time_grid(START, 0, 60)).r_km[:, 0]
    t_import = time.perf_counter() - w0
    w0 = time.perf_counter()
    g.visibility(r, 25.0, gso=True, pairs=True, held_sat=np.zeros(200, np.int64))
    print(f"    first call of every kernel: {time.perf_counter() - w0:6.2f} s "
          f"(setup {t_import:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: (a) 1 hour, (b) 10 minutes, 2 real-file steps; "
                             "global: 1 hour")
    parser.add_argument("--tle", type=Path, default=DEFAULT_TLE)
    parser.add_argument("--only", choices=("a", "b", "global", "numpy-sample", "jit"))
    parser.add_argument("--global-day", action="store_true",
                        help="the global day (all land cells x the real file x 24 h)")
    parser.add_argument("--threads", default="1,2",
                        help="global: thread counts to run, comma-separated (default 1,2)")
    parser.add_argument("--kernel", default="numba", choices=("numba", "numpy"),
                        help="global: the kernel (default numba)")
    parser.add_argument("--numpy-steps", type=int, default=5,
                        help="global: steps for the NumPy reference sample (0: skip)")
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
    if args.only == "global":
        global_day(args.tle, hours, int(args.threads), args.kernel)
        return
    if args.only == "numpy-sample":
        numpy_sample(args.tle, hours, args.numpy_steps)
        return
    if args.only == "jit":
        jit_cost(args.tle)
        return
    base = [sys.executable, __file__, "--tle", str(args.tle)] + (
        ["--quick"] if args.quick else [])
    if args.global_day:
        print("JIT cost of the compiled kernels (cache=True):")
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
            print("  empty cache (compiles):")
            subprocess.run([*base, "--only", "jit"], check=True, env=env)
            print("  filled cache (loads):")
            subprocess.run([*base, "--only", "jit"], check=True, env=env)
        print()
        for n in [int(x) for x in args.threads.split(",") if x.strip()]:
            subprocess.run([*base, "--only", "global", "--threads", str(n), "--kernel",
                            args.kernel], check=True)
            print()
        if args.numpy_steps > 0:
            subprocess.run([*base, "--only", "numpy-sample", "--numpy-steps",
                            str(args.numpy_steps)], check=True)
        return
    # Each workload in a fresh process, so that its peak RSS is its own.
    for which in ("a", "b"):
        subprocess.run([*base, "--only", which], check=True)
        print()


if __name__ == "__main__":
    main()
