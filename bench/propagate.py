"""Benchmark: SGP4 -> ITRS propagation throughput and peak memory.

Workloads: Starlink Gen1 (4,408 Walker satellites) and the real 9,543-satellite element file,
each over 1 day at 60 s steps (1,441 times), streamed in time chunks. Baselines measured in the
same run:
- raw ``SatrecArray.sgp4`` (TEME only, no frame rotation): skyfence should stay within 2x;
- a naive per-satellite, per-time Python loop (``Satrec.sgp4``), timed on a subset.

Usage: python bench/propagate.py [--quick] [--tle PATH]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from skyfence.orbits import iter_ephemeris, load_constellation, propagate
from skyfence.timeutil import julian_date_utc, time_grid

DEFAULT_TLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "starlink-2026-02-23.tle"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(name: str, const, t: np.ndarray, naive_sats: int) -> None:
    n_sat, n_time = len(const), t.size
    evals = n_sat * n_time
    _ = const.satrec_array  # build once (not timed: a one-time setup cost)

    # Raw SatrecArray over the same chunks (TEME only).
    jd, fr = julian_date_utc(t)
    chunk = 240
    t0 = time.perf_counter()
    for i in range(0, n_time, chunk):
        const.satrec_array.sgp4(jd[i : i + chunk], fr[i : i + chunk])
    raw_s = time.perf_counter() - t0

    # skyfence: SGP4 + UT1 + TEME -> ITRS, streamed.
    tracemalloc.start()
    t0 = time.perf_counter()
    checksum = 0.0
    for eph in iter_ephemeris(const, t, chunk_size=chunk):
        checksum += float(np.nansum(eph.r_km[:, :, 2]))
    ours_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Naive loop: one Satrec.sgp4 call per satellite per time, with per-call rotation skipped.
    sub = const.satrecs[:naive_sats]
    t0 = time.perf_counter()
    for sat in sub:
        for j in range(n_time):
            sat.sgp4(jd[j], fr[j])
    naive_s = (time.perf_counter() - t0) * n_sat / len(sub)

    print(f"\n{name}: {n_sat:,} satellites x {n_time:,} times = {evals:,} evaluations")
    print(f"  skyfence propagate (SGP4+UT1+ITRS, chunks of {chunk}): {ours_s:7.2f} s  "
          f"{evals / ours_s / 1e6:6.2f} M sat-times/s  peak traced {peak / 2**20:6.1f} MiB")
    print(f"  raw SatrecArray.sgp4 (TEME only):                 {raw_s:7.2f} s  "
          f"{evals / raw_s / 1e6:6.2f} M sat-times/s  -> skyfence/raw time ratio "
          f"{ours_s / raw_s:4.2f}x")
    print(f"  naive per-satellite loop (extrapolated from {len(sub)} sats): {naive_s:7.1f} s  "
          f"-> skyfence is {naive_s / ours_s:5.1f}x faster")
    print(f"  max RSS so far {_rss_mib():.0f} MiB (checksum {checksum:.3e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 hours instead of 1 day")
    parser.add_argument("--tle", type=Path, default=DEFAULT_TLE)
    args = parser.parse_args()
    hours = 2 if args.quick else 24
    gen1_t = time_grid("2026-02-23T00:00:00Z", hours * 3600, 60)
    gen1 = load_constellation("starlink-gen1", epoch=gen1_t[0])
    bench("Starlink Gen1 (Walker)", gen1, gen1_t, naive_sats=100)
    if args.tle.exists():
        real = load_constellation(str(args.tle), skip_invalid=True)
        bench(f"{args.tle.name}", real, gen1_t, naive_sats=100)
    # One-shot (unchunked) call for comparison of memory: (n_sat, n_time, 3) float64 arrays.
    t_short = gen1_t[:120]
    t0 = time.perf_counter()
    eph = propagate(gen1, t_short)
    print(f"\nunchunked propagate Gen1 x {t_short.size} times: "
          f"{time.perf_counter() - t0:.2f} s, array {eph.r_km.nbytes / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
