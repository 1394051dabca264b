"""Benchmark: routing per time step.

Run: ``.venv/bin/python bench/routing.py [--quick] [--full-day]``. Prints figures and ratios
against baselines measured in the same run.

(a) Site to site. Starlink Gen1 shell 1 (72 x 22 at 550 km, 53 deg; FCC DA-19-342, see
    ../shared/facts.md) with +Grid lasers and 100 ground sites; per step: laser links, ground
    links (every satellite above 25 deg), and all site-to-site shortest paths with RTT and laser
    hop counts (`Router.between_sites`). Baseline: networkx single-source Dijkstra from every
    site on the same directed graph (same answers, checked), timed on a few steps.
(b) Users to PoPs. The default scenario's Ukraine service cells (H3 res 5, ~2,470 cells) on the
    Starlink Gen1 preset (4,408 satellites, +Grid lasers), 15 s slots: coverage kernel
    (`iter_coverage`, usable pairs) + network (highest routable satellite, path to the home PoP,
    metrics). Wall time for a window (default 1 h, ``--full-day`` for 24 h), extrapolated to a
    day when shorter.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# bench/ holds coverage.py: keep this folder off sys.path, or numba's optional
# `import coverage` (coverage.py support) would import that script instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

from skyfence.earth import SPEED_OF_LIGHT_KM_S  # noqa: E402
from skyfence.network import (  # noqa: E402
    GroundUsers,
    HighestElevation,
    NetworkMetrics,
    PlusGrid,
    Router,
    Snapshot,
    TopologyConfig,
    default_sites,
    iter_network_from_coverage,
    laser_links,
    visible_pairs,
)
from skyfence.orbits import preset, propagate  # noqa: E402
from skyfence.timeutil import time_grid  # noqa: E402

START = "2026-02-23T00:00:00Z"


def ground_sites(n: int, max_lat_deg: float = 56.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sites spread evenly (Fibonacci lattice) between +-max_lat_deg."""
    k = np.arange(n) + 0.5
    z = np.sin(np.radians(max_lat_deg)) * (1 - 2 * k / n)
    lat = np.degrees(np.arcsin(z))
    lon = (np.degrees(np.pi * (1 + 5**0.5) * k) + 180.0) % 360.0 - 180.0
    return lat, lon


def networkx_all_sites(r, pairs, si, sj, rk, n_site):
    """Baseline: the same directed graph in networkx; Dijkstra with paths from every site."""
    ns = r.shape[0]
    lk = np.linalg.norm(r[pairs[:, 0]] - r[pairs[:, 1]], axis=1) / SPEED_OF_LIGHT_KM_S * 1e3
    ak = rk / SPEED_OF_LIGHT_KM_S * 1e3
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), lk.tolist(),
                                  strict=True))
    g.add_weighted_edges_from(zip(pairs[:, 1].tolist(), pairs[:, 0].tolist(), lk.tolist(),
                                  strict=True))
    g.add_weighted_edges_from(zip((ns + si).tolist(), sj.tolist(), ak.tolist(), strict=True))
    g.add_weighted_edges_from(zip(sj.tolist(), (ns + n_site + si).tolist(), ak.tolist(),
                                  strict=True))
    rtt = np.full((n_site, n_site), np.nan)
    hops = np.full((n_site, n_site), -1)
    for a in range(n_site):
        if ns + a not in g:
            continue
        dist, path = nx.single_source_dijkstra(g, ns + a)
        for b in range(n_site):
            if ns + n_site + b in dist:
                rtt[a, b] = 2 * dist[ns + n_site + b]
                hops[a, b] = len(path[ns + n_site + b]) - 3
        rtt[a, a], hops[a, a] = 0.0, 0
    return rtt, hops


def bench_site_to_site(n_steps: int, n_nx: int, n_site: int = 100) -> None:
    const = preset("starlink-gen1-1", START)
    t = time_grid(START, 60.0 * (n_steps - 1), 60.0)
    grid = PlusGrid.from_constellation(const, t[0])
    eph = propagate(const, t)
    lat, lon = ground_sites(n_site)
    router = Router()
    times = {"lasers": [], "ground links": [], "paths + hops": [], "paths only": []}
    nx_times = []
    for k in range(t.size):
        r = eph.r_km[:, k, :]
        t0 = time.perf_counter()
        pairs, lk = laser_links(r, grid)
        t1 = time.perf_counter()
        si, sj, _, rk = visible_pairs(lat, lon, 0.0, r, 25.0)
        t2 = time.perf_counter()
        snap = Snapshot.space_only(r, pairs, lk)
        res = router.between_sites(snap, n_site, si, sj, rk)
        t3 = time.perf_counter()
        router.between_sites(snap, n_site, si, sj, rk, with_hops=False)
        t4 = time.perf_counter()
        times["lasers"].append(t1 - t0)
        times["ground links"].append(t2 - t1)
        times["paths + hops"].append(t3 - t2)
        times["paths only"].append(t4 - t3)
        if k < n_nx:
            s0 = time.perf_counter()
            rtt_nx, hops_nx = networkx_all_sites(r, pairs, si, sj, rk, n_site)
            nx_times.append(time.perf_counter() - s0)
            np.testing.assert_allclose(res.rtt_ms, rtt_nx, atol=1e-9, equal_nan=True)
            same_hops = np.mean(res.n_laser_hops == hops_nx)
    step_ms = 1e3 * (np.array(times["lasers"]) + np.array(times["ground links"])
                     + np.array(times["paths + hops"]))
    print(f"(a) site to site: shell 1 ({len(const)} satellites, {pairs.shape[0]} lasers), "
          f"{n_site} sites, {t.size} steps")
    for name, v in times.items():
        print(f"    {name:<14} {1e3 * np.median(v):8.2f} ms/step (median)")
    print(f"    total per step (links + all {n_site}x{n_site} paths with hops): "
          f"median {np.median(step_ms):.2f} ms, mean {step_ms.mean():.2f} ms")
    nx_ms = 1e3 * np.median(nx_times)
    print(f"    networkx baseline, same graph, {len(nx_times)} steps: {nx_ms:.0f} ms/step "
          f"(RTTs equal to 1e-9 ms; laser hop counts equal for {100 * same_hops:.1f}% of pairs)")
    print(f"    ratio networkx / skyfence (paths only): "
          f"{nx_ms / (1e3 * np.median(times['paths + hops'])):.0f}x; "
          f"including link building: {nx_ms / np.median(step_ms):.0f}x")
    finite = np.isfinite(res.rtt_ms) & ~np.eye(n_site, dtype=bool)
    print(f"    reachable pairs {finite.mean():.1%}; RTT median "
          f"{np.median(res.rtt_ms[finite]):.1f} ms, max {np.max(res.rtt_ms[finite]):.1f} ms; "
          f"laser hops median {np.median(res.n_laser_hops[finite]):.0f}")


def bench_ukraine(hours: float) -> None:
    from skyfence.coverage import GroundIndex, iter_coverage
    from skyfence.earth import enu_basis, geodetic_to_itrs
    from skyfence.ground import cells_to_latlng, region_cells, resolve_region

    t0 = time.perf_counter()
    cells = region_cells(resolve_region("Ukraine"), 5)
    lat, lon = cells_to_latlng(cells)
    sites = default_sites()
    users = GroundUsers.from_points([str(c) for c in cells], lat, lon, sites,
                                    countries=["UA"] * cells.size)
    const = preset("starlink-gen1", START)
    t = time_grid(START, hours * 3600.0, 15.0)
    grid = PlusGrid.from_constellation(const, t[0])
    ground = GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2])
    setup = time.perf_counter() - t0
    metrics = NetworkMetrics(len(users), len(sites.gateways), len(sites.pops),
                             group=np.zeros(len(users), int), group_names=["UA"])
    cfg = TopologyConfig(lasers=grid)
    t1 = time.perf_counter()
    cov_time = 0.0
    cov = iter_coverage(const, ground, t, min_elevation_deg=25.0, pairs=True)

    def timed_coverage():
        nonlocal cov_time
        while True:
            s = time.perf_counter()
            try:
                step = next(cov)
            except StopIteration:
                return
            cov_time += time.perf_counter() - s
            yield step

    n = 0
    for st in iter_network_from_coverage(timed_coverage(), users, sites, cfg, Router(),
                                         serving=HighestElevation()):
        metrics.update(st.t_utc, st.paths["baseline"])
        n += 1
    wall = time.perf_counter() - t1
    per_step = wall / n
    print(f"(b) Ukraine: {cells.size} res-5 cells, Gen1 ({len(const)} satellites, "
          f"{grid.pairs.shape[0]} grid lasers), {n} slots of 15 s ({hours:g} h)")
    print(f"    setup (cells, grid, index) {setup:.1f} s; run {wall:.1f} s = "
          f"{1e3 * per_step:.0f} ms/slot (coverage kernel + propagation "
          f"{1e3 * cov_time / n:.0f} ms, network {1e3 * (wall - cov_time) / n:.0f} ms)")
    if hours < 24:
        print(f"    1 day (5,760 slots) extrapolated: {per_step * 5760 / 60:.1f} min "
              f"(measured on {hours:g} h, scaled linearly)")
    s = metrics.summary()
    g = metrics.per_group().iloc[0]
    print(f"    served {s['served_share']:.1%} of cell-slots; bent pipe {s['bent_pipe_share']:.1%}"
          f"; RTT p5/p50/p95 {g['rtt_p5_ms']:.1f}/{g['rtt_p50_ms']:.1f}/{g['rtt_p95_ms']:.1f} ms"
          f"; mean laser hops {s['mean_laser_hops']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    ap.add_argument("--full-day", action="store_true", help="(b) over 24 h instead of 1 h")
    ap.add_argument("--skip-ukraine", action="store_true")
    args = ap.parse_args()
    bench_site_to_site(n_steps=10 if args.quick else 60, n_nx=1 if args.quick else 3)
    if not args.skip_ukraine:
        bench_ukraine(24.0 if args.full_day else (0.25 if args.quick else 1.0))


if __name__ == "__main__":
    main()
