"""Routing against brute-force networkx references on small random constellations, and the
invariants of issue 5: symmetric link delays, bent-pipe RTT equal to the slant-range sum,
removing a gateway never shortens a path, processing time per hop."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from skyfence.earth import SPEED_OF_LIGHT_KM_S, look_angles
from skyfence.errors import InputError, PolicyError
from skyfence.network import (
    STATUS_NO_ROUTE,
    STATUS_NO_SATELLITE,
    AllowedGatewayCountries,
    FewestHops,
    Gateway,
    MinimumDelay,
    PlusGrid,
    Pop,
    Router,
    Sites,
    TopologyConfig,
    build_snapshot,
    great_circle_km,
    visible_pairs,
)
from skyfence.orbits import propagate
from skyfence.orbits.shells import WalkerShell, walker_constellation

C_KM_MS = SPEED_OF_LIGHT_KM_S / 1e3  # km per ms
TOL_MS = 1e-9


def random_case(seed: int, *, n_users: int = 40, laser_share: float = 0.8):
    """A small random Walker shell, random gateways/PoPs/users, one random time."""
    rng = np.random.default_rng(seed)
    shell = WalkerShell("T", float(rng.uniform(900, 1400)), float(rng.uniform(45, 85)),
                        int(rng.integers(6, 10)), int(rng.integers(9, 14)),
                        phasing=int(rng.integers(0, 3)))
    const = walker_constellation([shell], "2026-01-01T00:00:00Z")
    t = np.datetime64("2026-01-01T00:00:00", "ns") + np.timedelta64(
        int(rng.integers(0, 86400)), "s")
    r = propagate(const, np.array([t]), frame="ITRS").r_km[:, 0, :]
    countries = ["AA", "BB", "CC"]
    n_gw = int(rng.integers(6, 11))
    gws = tuple(Gateway(f"G{i}", float(rng.uniform(-55, 55)), float(rng.uniform(-180, 180)),
                        countries[i % 3], min_elevation_deg=float(rng.uniform(10, 30)),
                        gso_exclusion_deg=0.0) for i in range(n_gw))
    n_pop = 3
    assoc = [[] for _ in range(n_pop)]
    for i in range(n_gw):
        for j in rng.choice(n_pop, size=int(rng.integers(1, 3)), replace=False):
            assoc[j].append(f"G{i}")
    pops = tuple(Pop(f"P{j}", float(rng.uniform(-50, 50)), float(rng.uniform(-180, 180)),
                     "AA", tuple(assoc[j]) or ("G0",)) for j in range(n_pop))
    sites = Sites(gws, pops)
    grid = PlusGrid.from_constellation(const, t)
    capable = rng.random(len(const)) < laser_share
    cfg = TopologyConfig(lasers=grid, laser_capable=capable, max_laser_range_km=6000.0,
                         gso_exclusion=False)
    snap = build_snapshot(r, sites, cfg)
    ulat = rng.uniform(-55, 55, n_users)
    ulon = rng.uniform(-180, 180, n_users)
    ui, si, el, rk = visible_pairs(ulat, ulon, 0.0, r, 15.0)
    serving = np.full(n_users, -1)
    access = np.full(n_users, np.nan)
    for u in range(n_users):  # a few users: the highest satellite in view
        m = np.flatnonzero(ui == u)
        if m.size:
            k = m[np.argmax(el[m])]
            serving[u], access[u] = si[k], rk[k]
    home = rng.integers(0, n_pop, n_users)
    return dict(const=const, r=r, sites=sites, snap=snap, cfg=cfg, serving=serving,
                access=access, home=home, ulat=ulat, ulon=ulon, rng=rng)


def laser_graph(snap, r, proc_ms: float = 0.0, weight: str = "delay") -> nx.Graph:
    """Undirected laser graph, delays recomputed from the positions (not from the snapshot)."""
    g = nx.Graph()
    g.add_nodes_from(range(r.shape[0]))
    for a, b in snap.laser_pairs:
        d = float(np.linalg.norm(r[a] - r[b])) / C_KM_MS + proc_ms
        g.add_edge(int(a), int(b), delay=d, hops=1.0)
    return g


def reference_to_pop(case, user: int, pop: int, proc_ms: float = 0.0, usable=None):
    """Brute force: min over gateways g of PoP, satellites x linked to g, of
    access + laser distance (networkx) + feeder + fibre. Returns (cost, gateway, hops)."""
    snap, r, sites = case["snap"], case["r"], case["sites"]
    s = int(case["serving"][user])
    g = laser_graph(snap, r, proc_ms)
    dist, paths = nx.single_source_dijkstra(g, s, weight="delay")
    gw_lat, gw_lon = sites.gateway_lat_lon_deg
    best = (np.inf, -1, -1)
    for name in sites.pops[pop].gateways:
        gi = sites.gateway_index(name)
        if usable is not None and not usable[gi]:
            continue
        gc = float(great_circle_km(gw_lat[gi], gw_lon[gi], sites.pops[pop].lat_deg,
                                   sites.pops[pop].lon_deg))
        fibre = gc * case["cfg"].fibre_route_factor / (C_KM_MS * 2.0 / 3.0) + proc_ms
        for x in snap.feeder_sat[snap.feeder_gw == gi]:
            if int(x) not in dist:
                continue
            _, _, rng_km = look_angles(gw_lat[gi], gw_lon[gi], 0.0, r[x])
            cost = (case["access"][user] / C_KM_MS + proc_ms + dist[int(x)]
                    + float(rng_km) / C_KM_MS + proc_ms + fibre)
            if cost < best[0]:
                best = (cost, gi, len(paths[int(x)]) - 1)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_user_paths_equal_networkx_reference(seed: int) -> None:
    case = random_case(seed)
    proc = 0.25
    paths = Router(processing_ms_per_hop=proc, pop_fallback=False).to_pops(
        case["snap"], case["serving"], case["access"], case["home"])
    n_checked = n_laser = 0
    for u in range(case["serving"].size):
        if case["serving"][u] < 0:
            assert paths.status[u] == STATUS_NO_SATELLITE
            continue
        cost, gw, hops = reference_to_pop(case, u, int(case["home"][u]), proc)
        if not np.isfinite(cost):
            assert paths.status[u] == STATUS_NO_ROUTE and np.isnan(paths.rtt_ms[u])
            continue
        n_checked += 1
        n_laser += hops > 0
        assert paths.rtt_ms[u] == pytest.approx(2 * cost, abs=TOL_MS)
        assert paths.gateway[u] == gw
        assert paths.pop[u] == case["home"][u]
        assert paths.n_laser_hops[u] == hops
        assert paths.n_links[u] == hops + 3
    assert n_checked >= 10 and n_laser >= 3  # the case exercises lasers and bent pipes


@pytest.mark.parametrize("seed", [5, 6])
def test_fewest_hops_equals_networkx_hop_count(seed: int) -> None:
    case = random_case(seed)
    paths = Router(FewestHops(), pop_fallback=False).to_pops(
        case["snap"], case["serving"], case["access"], case["home"])
    g = laser_graph(case["snap"], case["r"])
    sites, snap = case["sites"], case["snap"]
    checked = 0
    for u in np.flatnonzero(case["serving"] >= 0):
        hops = nx.single_source_shortest_path_length(g, int(case["serving"][u]))
        best = np.inf
        for name in sites.pops[int(case["home"][u])].gateways:
            gi = sites.gateway_index(name)
            for x in snap.feeder_sat[snap.feeder_gw == gi]:
                if int(x) in hops:
                    best = min(best, hops[int(x)])
        if np.isfinite(best):
            checked += 1
            assert paths.n_laser_hops[u] == best
            # Hop count first: never more laser hops than the minimum-delay route.
        else:
            assert paths.status[u] == STATUS_NO_ROUTE
    md = Router(pop_fallback=False).to_pops(snap, case["serving"], case["access"], case["home"])
    both = md.served & paths.served
    assert checked > 5
    assert np.all(paths.n_laser_hops[both] <= md.n_laser_hops[both])
    assert np.all(paths.rtt_ms[both] >= md.rtt_ms[both] - TOL_MS)


def test_allowed_gateway_countries_equals_reference_without_other_gateways() -> None:
    case = random_case(7)
    sites = case["sites"]
    strategy = AllowedGatewayCountries({"AA", "BB"})
    paths = Router(strategy, pop_fallback=False).to_pops(
        case["snap"], case["serving"], case["access"], case["home"])
    usable = np.isin(sites.gateway_countries, ["AA", "BB"])
    served = np.flatnonzero(paths.served)
    assert served.size > 5
    assert set(sites.gateway_countries[paths.gateway[served]]) <= {"AA", "BB"}
    for u in np.flatnonzero(case["serving"] >= 0):
        cost, gw, _ = reference_to_pop(case, u, int(case["home"][u]), usable=usable)
        if np.isfinite(cost):
            assert paths.rtt_ms[u] == pytest.approx(2 * cost, abs=TOL_MS)
            assert paths.gateway[u] == gw
        else:
            assert not paths.served[u]


@pytest.mark.parametrize("seed", [8, 9])
def test_site_to_site_equals_networkx(seed: int) -> None:
    case = random_case(seed)
    rng = case["rng"]
    n_site = 12
    lat, lon = rng.uniform(-50, 50, n_site), rng.uniform(-180, 180, n_site)
    si, sj, _, rk = visible_pairs(lat, lon, 0.0, case["r"], 15.0)
    res = Router().between_sites(case["snap"], n_site, si, sj, rk)
    fast = Router().between_sites(case["snap"], n_site, si, sj, rk, with_hops=False)
    g = laser_graph(case["snap"], case["r"])
    allp = dict(nx.all_pairs_dijkstra(g, weight="delay"))
    finite = 0
    for a in range(n_site):
        for b in range(n_site):
            if a == b:
                assert res.rtt_ms[a, b] == 0.0
                continue
            best, hops = np.inf, -1
            for x, ra in zip(sj[si == a], rk[si == a], strict=True):
                dist, paths = allp[int(x)]
                for y, rb in zip(sj[si == b], rk[si == b], strict=True):
                    if int(y) in dist:
                        c = ra / C_KM_MS + dist[int(y)] + rb / C_KM_MS
                        if c < best:
                            best, hops = c, len(paths[int(y)]) - 1
            if np.isfinite(best):
                finite += 1
                assert res.rtt_ms[a, b] == pytest.approx(2 * best, abs=TOL_MS)
                assert fast.rtt_ms[a, b] == pytest.approx(2 * best, abs=TOL_MS)
                assert res.n_laser_hops[a, b] == hops
            else:
                assert np.isnan(res.rtt_ms[a, b])
    assert finite > 20
    # Symmetry of the whole matrix: RTT(a, b) == RTT(b, a).
    np.testing.assert_allclose(res.rtt_ms, res.rtt_ms.T, atol=TOL_MS, equal_nan=True)


def test_link_delays_are_symmetric() -> None:
    case = random_case(10)
    snap = case["snap"]
    g = Router().pop_graph(snap)
    csr = g.csr
    lp = snap.laser_pairs
    fwd = np.asarray(csr[lp[:, 0], lp[:, 1]]).ravel()
    rev = np.asarray(csr[lp[:, 1], lp[:, 0]]).ravel()
    np.testing.assert_array_equal(fwd, rev)
    r = case["r"]
    np.testing.assert_allclose(fwd, np.linalg.norm(r[lp[:, 0]] - r[lp[:, 1]], axis=1) / C_KM_MS,
                               rtol=1e-12)
    _, _, d, _ = snap.links()
    assert np.all(d >= 0)
    # Ground nodes are never transit: no edge leads into a gateway or a PoP.
    coo = csr.tocoo()
    assert np.all(coo.col < snap.n_sat + snap.n_gw)
    assert not np.any((coo.row < snap.n_sat) & (coo.col >= snap.n_sat))


@pytest.mark.parametrize("seed", [11, 12])
def test_bent_pipe_rtt_is_the_slant_range_sum(seed: int) -> None:
    case = random_case(seed, laser_share=0.0)
    sites = case["sites"]
    proc = 0.1
    paths = Router(processing_ms_per_hop=proc).to_pops(
        case["snap"], case["serving"], case["access"], case["home"])
    served = np.flatnonzero(paths.served)
    assert served.size >= 5
    assert np.all(paths.n_laser_hops[served] == 0)
    glat, glon = sites.gateway_lat_lon_deg
    for u in served:
        s, gw, p = case["serving"][u], paths.gateway[u], paths.pop[u]
        _, _, up_km = look_angles(case["ulat"][u], case["ulon"][u], 0.0, case["r"][s])
        _, _, down_km = look_angles(glat[gw], glon[gw], 0.0, case["r"][s])
        fibre_km = great_circle_km(glat[gw], glon[gw], sites.pops[p].lat_deg,
                                   sites.pops[p].lon_deg) * 1.5
        floor = 2 * (float(up_km) + float(down_km) + float(fibre_km) / (2 / 3)) / C_KM_MS
        assert paths.rtt_ms[u] >= floor - TOL_MS
        assert paths.rtt_ms[u] == pytest.approx(floor + 2 * 3 * proc, abs=1e-9)


@pytest.mark.parametrize("seed", [13, 14, 15])
def test_removing_a_gateway_never_shortens_a_path(seed: int) -> None:
    case = random_case(seed)
    snap = case["snap"]
    router = Router(pop_fallback=False)
    base = router.to_pops(snap, case["serving"], case["access"], case["home"])
    rng = np.random.default_rng(seed)
    for gw in rng.choice(snap.n_gw, size=3, replace=False):
        up = np.ones(snap.n_gw, bool)
        up[gw] = False
        alt = router.to_pops(dataclasses.replace(snap, gateway_up=up), case["serving"],
                             case["access"], case["home"])
        assert not np.any(alt.served & ~base.served)
        both = alt.served & base.served
        assert np.all(alt.rtt_ms[both] >= base.rtt_ms[both] - TOL_MS)
        assert not np.any(alt.gateway == gw)
        # Users whose route avoided the gateway keep exactly the same RTT.
        kept = base.served & (base.gateway != gw)
        np.testing.assert_allclose(alt.rtt_ms[kept], base.rtt_ms[kept], atol=TOL_MS)


def test_pop_down_falls_back_or_loses_service() -> None:
    case = random_case(16)
    snap = case["snap"]
    home = np.zeros_like(case["home"])  # everyone homed at P0
    up = np.array([False, True, True])
    down = dataclasses.replace(snap, pop_up=up)
    with_fb = Router(pop_fallback=True).to_pops(down, case["serving"], case["access"], home)
    no_fb = Router(pop_fallback=False).to_pops(down, case["serving"], case["access"], home)
    assert not no_fb.served.any()
    assert with_fb.served.sum() > 5
    assert set(with_fb.pop[with_fb.served]) <= {1, 2}
    assert not with_fb.home_pop_used.any()
    # The fallback PoP is the best of the PoPs that are up.
    for u in np.flatnonzero(with_fb.served):
        c1 = reference_to_pop(case, u, 1)[0]
        c2 = reference_to_pop(case, u, 2)[0]
        assert with_fb.rtt_ms[u] == pytest.approx(2 * min(c1, c2), abs=TOL_MS)


def test_choose_serving_picks_routable_highest_and_min_rtt() -> None:
    case = random_case(17, laser_share=0.0)
    snap, n = case["snap"], case["serving"].size
    ui, si, el, rk = visible_pairs(case["ulat"], case["ulon"], 0.0, case["r"], 15.0)
    router = Router(pop_fallback=False)
    best_rtt_sat, _ = router.choose_serving(snap, n, ui, si, rk, case["home"])
    hi_sat, _ = router.choose_serving(snap, n, ui, si, rk, case["home"], score=-el)
    for u in range(n):
        m = np.flatnonzero(ui == u)
        rtts = []
        for k in m:
            p = router.to_pops(snap, [si[k]], [rk[k]], [case["home"][u]])
            rtts.append(p.rtt_ms[0])
        rtts = np.array(rtts)
        ok = np.isfinite(rtts)
        if not ok.any():
            assert best_rtt_sat[u] == -1 and hi_sat[u] == -1
            continue
        assert si[m[ok][np.argmin(rtts[ok])]] == best_rtt_sat[u]
        assert si[m[ok][np.argmax(el[m][ok])]] == hi_sat[u]


def test_bad_router_input() -> None:
    case = random_case(18, n_users=3)
    with pytest.raises(InputError, match="processing_ms_per_hop"):
        Router(processing_ms_per_hop=-1.0)
    with pytest.raises(InputError, match="serving satellite index out of range"):
        Router().to_pops(case["snap"], [10_000, -1, -1], [600.0, 0, 0], [0, 0, 0])
    with pytest.raises(InputError, match="home PoP index out of range"):
        Router().to_pops(case["snap"], [-1, -1, -1], [0, 0, 0], [7, 0, 0])
    with pytest.raises(PolicyError, match="ISO alpha-2"):
        AllowedGatewayCountries({"Poland"})

    class Negative(MinimumDelay):
        def edge_weights(self, delay_ms, kind):
            return -delay_ms

    with pytest.raises(InputError, match="weights must be >= 0"):
        Router(Negative()).to_pops(case["snap"], [-1, -1, -1], [0, 0, 0], [0, 0, 0])
    with pytest.raises(InputError, match="strategy must provide"):
        Router(strategy=object())  # type: ignore[arg-type]
