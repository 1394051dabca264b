"""Benchmark: routing per time step, the compiled backend against the reference, same run.

Run: ``python bench/routing.py [--quick] [--full-day] [--only a,b,c]``. Prints per-step times
(wall, and CPU = ``time.process_time`` of all threads) for the new routing
(``Router(backend="numba")``) and the old one (``Router(backend="scipy")``, scipy's Dijkstra)
on the same inputs, checks that both give the same answers, and prints ratios. The machine may
be shared with other work: wall times under load are pessimistic.

(a) Site to site, Starlink Gen1 shell 1 (72 x 22 at 550 km, 53 deg; FCC DA-19-342, see
    ../shared/facts.md) with +Grid lasers and 100 ground sites; per step: laser links, ground
    links (every satellite above 25 deg), and all site-to-site shortest paths with RTT and laser
    hop counts (`Router.between_sites`). Also a networkx baseline (Dijkstra from every site on
    the same directed graph) on one step.
(b) The same with the real 9,543-satellite file (2026-02-23) and +Grid lasers on planes
    recovered from its elements; and a variant with nearest-neighbour lasers added for the
    satellites the grid leaves out.
(c) Users to PoPs: the default scenario's Ukraine service cells (H3 res 5, ~2,470 cells) on the
    Starlink Gen1 preset (4,408 satellites, +Grid lasers) at 15 s slots through
    `iter_coverage` (usable pairs) and `iter_network_from_coverage` (highest routable
    satellite, path to the home PoP, metrics): new = compiled coverage kernel + compiled
    routing for a whole day (``--quick``: 1 h), old = the previous code path (NumPy kernel,
    scipy routing, slant ranges recomputed from positions, NumPy GSO-arc minimisation for the
    gateway links) on the first hour (``--quick``: 15 min), per slot, with equal RTTs checked.
"""

from __future__ import annotations

import argparse
import os
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


def _site_workload(label: str, const, grid, n_steps: int, n_nx: int, n_site: int = 100,
                   t0: str = START) -> None:
    """Per-step site-to-site routing, new and old backends on the same graphs."""
    t = time_grid(t0, 60.0 * (n_steps - 1), 60.0)
    eph = propagate(const, t)
    lat, lon = ground_sites(n_site)
    routers = {"new": Router(backend="numba"), "old": Router(backend="scipy")}
    wall = {k: [] for k in ("lasers", "ground links", "new", "old")}
    cpu = {k: [] for k in ("new", "old")}
    nx_ms = []
    n_lasers = []
    for k in range(t.size):
        r = eph.r_km[:, k, :]
        s0 = time.perf_counter()
        pairs, lk = laser_links(r, grid)
        s1 = time.perf_counter()
        si, sj, _, rk = visible_pairs(lat, lon, 0.0, r, 25.0)
        s2 = time.perf_counter()
        wall["lasers"].append(s1 - s0)
        wall["ground links"].append(s2 - s1)
        n_lasers.append(pairs.shape[0])
        snap = Snapshot.space_only(r, pairs, lk)
        res = {}
        for name in ("new", "old") if k % 2 == 0 else ("old", "new"):
            w0, c0 = time.perf_counter(), time.process_time()
            res[name] = routers[name].between_sites(snap, n_site, si, sj, rk)
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
        np.testing.assert_allclose(res["new"].rtt_ms, res["old"].rtt_ms, rtol=0, atol=1e-9,
                                   equal_nan=True)
        np.testing.assert_array_equal(res["new"].n_laser_hops, res["old"].n_laser_hops)
        if k < n_nx:
            s0 = time.perf_counter()
            rtt_nx, _ = networkx_all_sites(r, pairs, si, sj, rk, n_site)
            nx_ms.append(time.perf_counter() - s0)
            np.testing.assert_allclose(res["new"].rtt_ms, rtt_nx, atol=1e-9, equal_nan=True)
    med = {k: 1e3 * float(np.median(v)) for k, v in wall.items()}
    medc = {k: 1e3 * float(np.median(v)) for k, v in cpu.items()}
    links = med["lasers"] + med["ground links"]
    print(f"{label}: {len(const):,} satellites, {int(np.median(n_lasers)):,} lasers, {n_site} "
          f"sites, {t.size} steps (medians)")
    print(f"    links: lasers {med['lasers']:.2f} ms + ground links {med['ground links']:.2f} ms")
    for name in ("new", "old"):
        print(f"    {name} routing (all {n_site}x{n_site} paths with hops): "
              f"{med[name]:7.2f} ms wall, {medc[name]:7.2f} ms CPU; per step with links "
              f"{med[name] + links:7.2f} ms")
    print(f"    old / new: {med['old'] / med['new']:.1f}x routing, "
          f"{(med['old'] + links) / (med['new'] + links):.1f}x per step; RTTs equal to "
          f"1e-9 ms and laser hop counts equal on all {t.size} steps")
    if nx_ms:
        print(f"    networkx baseline, same graph: {1e3 * np.median(nx_ms):.0f} ms/step "
              f"(RTTs equal to 1e-9 ms) = {1e3 * np.median(nx_ms) / med['new']:.0f}x new")
    finite = np.isfinite(res["new"].rtt_ms) & ~np.eye(n_site, dtype=bool)
    print(f"    reachable pairs {finite.mean():.1%}; RTT median "
          f"{np.median(res['new'].rtt_ms[finite]):.1f} ms; laser hops median "
          f"{np.median(res['new'].n_laser_hops[finite]):.0f}")


def bench_site_to_site(n_steps: int, n_nx: int) -> None:
    const = preset("starlink-gen1-1", START)
    grid = PlusGrid.from_constellation(const, START)
    _site_workload("(a) shell 1 + 100 sites", const, grid, n_steps, n_nx)


def bench_real_file(tle: Path, n_steps: int, nearest: bool) -> None:
    from skyfence.network import NearestNeighbourLasers, UnionLasers
    from skyfence.orbits import load_constellation

    const = load_constellation(str(tle), skip_invalid=True)
    s0 = time.perf_counter()
    grid = PlusGrid.from_constellation(const, START)
    print(f"(b) {tle.name}: +Grid on recovered planes built in {time.perf_counter() - s0:.1f} s")
    _site_workload("(b) full file, +Grid, + 100 sites", const, grid, n_steps, 0)
    if nearest:
        lasers = UnionLasers((grid, NearestNeighbourLasers()))
        _site_workload("(b') full file, +Grid and nearest-neighbour lasers, + 100 sites", const,
                       lasers, max(2, n_steps // 2), 0)


def _ukraine_run(hours: float, kernel: str, backend: str) -> dict:
    """One run of (c). The old run (numpy kernel, scipy routing) also undoes the two other
    changes that speed up this workload: slant ranges from the kernel (recomputed from the
    positions instead) and the compiled GSO-arc minimisation (NumPy's instead)."""
    import dataclasses

    from skyfence.coverage import GroundIndex, gso, iter_coverage
    from skyfence.earth import enu_basis, geodetic_to_itrs
    from skyfence.ground import cells_to_latlng, region_cells, resolve_region

    old = backend == "scipy"
    saved_gso = gso._min_separation_fast
    if old:
        gso._min_separation_fast = gso._min_separation_rad  # type: ignore[assignment]

    cells = region_cells(resolve_region("Ukraine"), 5)
    lat, lon = cells_to_latlng(cells)
    sites = default_sites()
    users = GroundUsers.from_points([str(c) for c in cells], lat, lon, sites,
                                    countries=["UA"] * cells.size)
    const = preset("starlink-gen1", START)
    t = time_grid(START, hours * 3600.0, 15.0)
    grid = PlusGrid.from_constellation(const, t[0])
    ground = GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2], kernel=kernel)
    metrics = NetworkMetrics(len(users), len(sites.gateways), len(sites.pops),
                             group=np.zeros(len(users), int), group_names=["UA"])
    cfg = TopologyConfig(lasers=grid)
    router = Router(backend=backend)
    # First call outside the timing (JIT code loaded from the cache).
    ground.visibility(propagate(const, t[:1]).r_km[:, 0], 25.0, pairs=True)
    cov_wall = cov_cpu = 0.0
    cov = iter_coverage(const, ground, t, min_elevation_deg=25.0, pairs=True)

    def timed_coverage():
        nonlocal cov_wall, cov_cpu
        while True:
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                step = next(cov)
            except StopIteration:
                return
            cov_wall += time.perf_counter() - w0
            cov_cpu += time.process_time() - c0
            if old:  # no kernel slant ranges: the network stage recomputes them
                pairs = dataclasses.replace(step.visibility.pairs, range_km=None)
                step = dataclasses.replace(
                    step, visibility=dataclasses.replace(step.visibility, pairs=pairs))
            yield step

    n = 0
    rtt = []
    w0, c0 = time.perf_counter(), time.process_time()
    for st in iter_network_from_coverage(timed_coverage(), users, sites, cfg, router,
                                         serving=HighestElevation()):
        p = st.paths["baseline"]
        metrics.update(st.t_utc, p)
        if n < 240:
            rtt.append(p.rtt_ms)
        n += 1
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    gso._min_separation_fast = saved_gso  # type: ignore[assignment]
    return dict(n=n, wall=wall, cpu=cpu, cov_wall=cov_wall, cov_cpu=cov_cpu, metrics=metrics,
                rtt=np.array(rtt), cells=cells.size, sats=len(const),
                lasers=grid.pairs.shape[0])


def bench_ukraine(hours_new: float, hours_old: float) -> None:
    new = _ukraine_run(hours_new, "numba", "numba")
    old = _ukraine_run(hours_old, "numpy", "scipy")
    print(f"(c) Ukraine: {new['cells']} res-5 cells, Gen1 ({new['sats']} satellites, "
          f"{new['lasers']} grid lasers), 15 s slots")
    for name, r in (("new", new), ("old", old)):
        n = r["n"]
        print(f"    {name}: {n} slots ({n * 15 / 3600:g} h) in {r['wall']:.1f} s wall, "
              f"{r['cpu']:.1f} s CPU = {1e3 * r['wall'] / n:.1f} ms/slot (coverage kernel + "
              f"propagation {1e3 * r['cov_wall'] / n:.1f} ms, network "
              f"{1e3 * (r['wall'] - r['cov_wall']) / n:.1f} ms; CPU {1e3 * r['cpu'] / n:.1f} "
              f"ms/slot)")
        print(f"         1 day (5,760 slots) at this rate: {r['wall'] / n * 5760:.0f} s wall, "
              f"{r['cpu'] / n * 5760:.0f} s CPU" + ("" if n >= 5760 else " (scaled)"))
    k = min(new["rtt"].shape[0], old["rtt"].shape[0])
    np.testing.assert_allclose(new["rtt"][:k], old["rtt"][:k], rtol=0, atol=1e-6,
                               equal_nan=True)
    print(f"    old / new per slot: {old['wall'] / old['n'] / (new['wall'] / new['n']):.1f}x "
          f"wall, {old['cpu'] / old['n'] / (new['cpu'] / new['n']):.1f}x CPU; per-cell RTTs "
          f"of the first {k} slots equal (1e-6 ms)")
    s = new["metrics"].summary()
    g = new["metrics"].per_group().iloc[0]
    print(f"    served {s['served_share']:.1%} of cell-slots; bent pipe {s['bent_pipe_share']:.1%}"
          f"; RTT p5/p50/p95 {g['rtt_p5_ms']:.1f}/{g['rtt_p50_ms']:.1f}/{g['rtt_p95_ms']:.1f} ms"
          f"; mean laser hops {s['mean_laser_hops']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    ap.add_argument("--full-day", action="store_true",
                    help="(c): the new pipeline over 24 h (default); with --quick, 1 h")
    ap.add_argument("--only", default="a,b,c", help="workloads to run, e.g. a,c")
    ap.add_argument("--tle", type=Path, default=Path(os.environ.get(
        "SKYFENCE_SHARED_DATA", _HERE.parents[1] / "shared" / "data"))
        / "starlink-2026-02-23.tle")
    ap.add_argument("--nearest", action="store_true",
                    help="(b): also the variant with nearest-neighbour lasers")
    args = ap.parse_args()
    which = set(args.only.split(","))
    if "a" in which:
        bench_site_to_site(n_steps=10 if args.quick else 60, n_nx=1)
    if "b" in which:
        bench_real_file(args.tle, 4 if args.quick else 20, args.nearest)
    if "c" in which:
        if args.quick:
            bench_ukraine(1.0, 0.25)
        else:
            bench_ukraine(24.0, 1.0)


if __name__ == "__main__":
    main()
