"""The compiled routing backend (``Router(backend="numba")``) against the reference (scipy's
Dijkstra and the NumPy predecessor walk, ``backend="scipy"``) and networkx.

Same paths: every `UserPaths` field equal (gateway, PoP, laser hops, links, path hash, status),
RTTs and delays equal to 1e-9 ms; `choose_serving` picks the same satellites; site-to-site RTTs
equal to 1e-9 ms with equal laser hop counts. Cases: random Walker shells with random sites
(outages, fallbacks, strategies, per-hop processing), the real 2026 element file with the
default sites, and graphs that force each of the compiled queues (buckets and heap).
"""

from __future__ import annotations

import dataclasses
import logging

import networkx as nx
import numpy as np
import pytest

import skyfence.network.routing as routing_mod
from skyfence.errors import InputError
from skyfence.network import (
    AllowedGatewayCountries,
    FewestHops,
    Gateway,
    PlusGrid,
    Pop,
    Router,
    Sites,
    TopologyConfig,
    build_snapshot,
    default_sites,
    visible_pairs,
)
from skyfence.orbits import load_constellation, propagate
from skyfence.timeutil import time_grid
from test_network_routing import C_KM_MS, laser_graph, random_case

pytest.importorskip("numba")

TOL_MS = 1e-9
STRATEGIES = {
    "delay": lambda: None,
    "hops": FewestHops,
    "countries": lambda: AllowedGatewayCountries({"AA", "CC"}),
}


def _routers(strategy, **kw) -> tuple[Router, Router]:
    extra = {} if strategy is None else {"strategy": strategy}
    return Router(backend="numba", **extra, **kw), Router(backend="scipy", **extra, **kw)


def _same_user_paths(a, b) -> None:
    for f in ("serving_sat", "gateway", "pop", "n_laser_hops", "n_links", "path_id", "status",
              "home_pop_used"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    for f in ("access_km", "propagation_ms", "rtt_ms"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=0, atol=TOL_MS,
                                   equal_nan=True, err_msg=f)


def _user_candidates(case):
    return visible_pairs(case["ulat"], case["ulon"], 0.0, case["r"], 15.0)


@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25, 26])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_to_pops_and_choose_serving_equal_the_reference(seed: int, strategy: str) -> None:
    case = random_case(seed, n_users=120)
    snap, rng = case["snap"], case["rng"]
    proc = float(rng.choice([0.0, 0.3]))
    # Outages: one gateway and (sometimes) the PoP most users are homed at.
    gw_up = np.ones(snap.n_gw, bool)
    gw_up[rng.integers(snap.n_gw)] = False
    pop_up = np.ones(snap.n_pop, bool)
    if seed % 2:
        pop_up[np.bincount(case["home"]).argmax()] = False
    ui, si, el, rk = _user_candidates(case)
    served = 0
    for variant in (snap, dataclasses.replace(snap, gateway_up=gw_up, pop_up=pop_up)):
        for fallback in (True, False):
            new, old = _routers(STRATEGIES[strategy](), processing_ms_per_hop=proc,
                                pop_fallback=fallback)
            a = new.to_pops(variant, case["serving"], case["access"], case["home"])
            b = old.to_pops(variant, case["serving"], case["access"], case["home"])
            _same_user_paths(a, b)
            served += int(a.served.sum())
            n = case["serving"].size
            for score in (None, -el):
                ca = new.choose_serving(variant, n, ui, si, rk, case["home"], score=score)
                cb = old.choose_serving(variant, n, ui, si, rk, case["home"], score=score)
                np.testing.assert_array_equal(ca[0], cb[0])
                np.testing.assert_allclose(ca[1], cb[1], equal_nan=True, rtol=0, atol=0)
            # Candidates in any order: the same choice.
            perm = rng.permutation(ui.size)
            ca = new.choose_serving(variant, n, ui[perm], si[perm], rk[perm], case["home"])
            cb = old.choose_serving(variant, n, ui, si, rk, case["home"])
            np.testing.assert_array_equal(ca[0], cb[0])
    assert served > 50


@pytest.mark.parametrize("seed", [31, 32, 33])
@pytest.mark.parametrize("strategy", ["delay", "hops"])
def test_between_sites_equals_the_reference_and_networkx(seed: int, strategy: str) -> None:
    case = random_case(seed)
    rng = case["rng"]
    n_site = 15
    lat, lon = rng.uniform(-60, 60, n_site), rng.uniform(-180, 180, n_site)
    si, sj, _, rk = visible_pairs(lat, lon, 0.0, case["r"], 15.0)
    new, old = _routers(STRATEGIES[strategy](), processing_ms_per_hop=0.1)
    for kw in ({}, {"with_hops": False}, {"sources": np.array([3, 0, 7])}):
        a = new.between_sites(case["snap"], n_site, si, sj, rk, **kw)
        b = old.between_sites(case["snap"], n_site, si, sj, rk, **kw)
        np.testing.assert_array_equal(a.sources, b.sources)
        np.testing.assert_allclose(a.rtt_ms, b.rtt_ms, rtol=0, atol=TOL_MS, equal_nan=True)
        np.testing.assert_allclose(a.one_way_ms, b.one_way_ms, rtol=0, atol=TOL_MS,
                                   equal_nan=True)
        if kw.get("with_hops", True):
            np.testing.assert_array_equal(a.n_laser_hops, b.n_laser_hops)
    if strategy != "delay":
        return
    # networkx: minimum over the satellites each site sees of access + lasers + access.
    res = new.between_sites(case["snap"], n_site, si, sj, rk)
    g = laser_graph(case["snap"], case["r"], 0.1)
    allp = dict(nx.all_pairs_dijkstra_path_length(g, weight="delay"))
    reached = 0
    for x in range(n_site):
        for y in range(n_site):
            if x == y:
                continue
            best = min((ra / C_KM_MS + 0.1 + allp[int(p)][int(q)] + rb / C_KM_MS + 0.1
                        for p, ra in zip(sj[si == x], rk[si == x], strict=True)
                        for q, rb in zip(sj[si == y], rk[si == y], strict=True)
                        if int(q) in allp[int(p)]), default=np.inf)
            if np.isfinite(best):
                reached += 1
                assert res.one_way_ms[x, y] == pytest.approx(best, abs=TOL_MS)
            else:
                assert np.isnan(res.rtt_ms[x, y])
    assert reached > 20


def test_real_file_and_default_sites(shared_data) -> None:
    from conftest import TLE_2026

    const = load_constellation(TLE_2026, skip_invalid=True)
    t = time_grid("2026-02-23T09:00:00Z", 0, 60)
    r = propagate(const, t).r_km[:, 0]
    sites = default_sites()
    snap = build_snapshot(r, sites, TopologyConfig(lasers=PlusGrid.from_constellation(
        const, t[0])))
    rng = np.random.default_rng(4)
    n = 300
    lat, lon = rng.uniform(-55, 60, n), rng.uniform(-180, 180, n)
    ui, si, el, rk = visible_pairs(lat, lon, 0.0, r, 25.0)
    home = rng.integers(0, snap.n_pop, n)
    new, old = _routers(None, processing_ms_per_hop=0.05)
    for score in (None, -el):
        ca = new.choose_serving(snap, n, ui, si, rk, home, score=score)
        cb = old.choose_serving(snap, n, ui, si, rk, home, score=score)
        np.testing.assert_array_equal(ca[0], cb[0])
        a = new.to_pops(snap, ca[0], ca[1], home)
        b = old.to_pops(snap, cb[0], cb[1], home)
        _same_user_paths(a, b)
        assert a.served.sum() > 200 and (a.n_laser_hops > 0).sum() > 50
    m = 40
    si2, sj2, _, rk2 = visible_pairs(lat[:m], lon[:m], 0.0, r, 25.0)
    a = new.between_sites(snap, m, si2, sj2, rk2)
    b = old.between_sites(snap, m, si2, sj2, rk2)
    np.testing.assert_allclose(a.rtt_ms, b.rtt_ms, rtol=0, atol=TOL_MS, equal_nan=True)
    np.testing.assert_array_equal(a.n_laser_hops, b.n_laser_hops)
    assert np.isfinite(a.rtt_ms).mean() > 0.9


def test_heap_queue_with_zero_weight_links() -> None:
    # A PoP at its gateway (zero fibre length): a zero-weight edge, so the compiled backend
    # uses its heap instead of buckets; paths still equal the reference.
    case = random_case(41, n_users=80)
    sites = case["sites"]
    g0 = sites.gateways[0]
    pops = (*sites.pops, Pop("AT-GW", g0.lat_deg, g0.lon_deg, "AA", (g0.name,)))
    sites2 = Sites(sites.gateways, pops)
    snap = build_snapshot(case["r"], sites2, case["cfg"])
    assert np.any(snap.fibre_km == 0.0)
    home = np.full(case["serving"].size, len(pops) - 1)
    new, old = _routers(None)
    src, dst, delay, kind = new._pop_edges(snap)
    assert routing_mod._cgraph(snap.n_nodes, src, dst, new._weights(delay, kind),
                               delay).delta == 0.0  # the heap, not buckets
    a = new.to_pops(snap, case["serving"], case["access"], home)
    b = old.to_pops(snap, case["serving"], case["access"], home)
    _same_user_paths(a, b)
    assert a.served.any()


def test_threads_do_not_change_results() -> None:
    case = random_case(42)
    rng = case["rng"]
    lat, lon = rng.uniform(-60, 60, 30), rng.uniform(-180, 180, 30)
    si, sj, _, rk = visible_pairs(lat, lon, 0.0, case["r"], 15.0)
    one = Router(backend="numba", threads=1).between_sites(case["snap"], 30, si, sj, rk)
    two = Router(backend="numba", threads=2).between_sites(case["snap"], 30, si, sj, rk)
    np.testing.assert_array_equal(one.rtt_ms, two.rtt_ms)
    np.testing.assert_array_equal(one.n_laser_hops, two.n_laser_hops)


def test_backend_selection_and_errors(monkeypatch, caplog) -> None:
    assert Router().backend == "numba"
    assert Router(backend="SciPy").backend == "scipy"
    with pytest.raises(InputError, match="unknown routing backend 'gpu'; choose one of"):
        Router(backend="gpu")
    for bad in (0, -2, 1.5, True):
        with pytest.raises(InputError, match="threads must be an integer >= 1"):
            Router(threads=bad)
    assert Router(threads=10_000).n_threads >= 1
    # Without numba: scipy, with one notice; asking for numba is an error.
    monkeypatch.setattr(routing_mod, "_kernels", None)
    monkeypatch.setattr(routing_mod, "_kernels_error", "ModuleNotFoundError: numba")
    monkeypatch.setattr(routing_mod, "_fallback_logged", False)
    with caplog.at_level(logging.WARNING, logger="skyfence.network.routing"):
        assert Router().backend == "scipy"
        assert Router().backend == "scipy"
    assert sum("scipy's Dijkstra" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(InputError, match="numba routing backend is not available"):
        Router(backend="numba")


def test_unreachable_and_empty_cases() -> None:
    case = random_case(43, n_users=5)
    snap = case["snap"]
    new, old = _routers(None)
    none = np.full(5, -1)
    _same_user_paths(new.to_pops(snap, none, np.zeros(5), 0), old.to_pops(snap, none,
                                                                           np.zeros(5), 0))
    # All gateways down: covered users have no route.
    down = dataclasses.replace(snap, gateway_up=np.zeros(snap.n_gw, bool))
    a = new.to_pops(down, case["serving"], case["access"], case["home"])
    _same_user_paths(a, old.to_pops(down, case["serving"], case["access"], case["home"]))
    assert not a.served.any()
    s, acc = new.choose_serving(snap, 5, [], [], [], 0)
    assert s.tolist() == [-1] * 5 and np.isnan(acc).all()
    # Sites that see no satellite.
    res = new.between_sites(snap, 2, np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    assert np.isnan(res.rtt_ms[0, 1]) and res.rtt_ms[0, 0] == 0.0
    # Many gateways in one place (duplicate feeder geometry) still route as the reference.
    gws = tuple(Gateway(f"D{i}", 10.0, 20.0, "AA", gso_exclusion_deg=0.0) for i in range(3))
    sites = Sites(gws, (Pop("P", 10.5, 20.5, "AA", ("D0", "D1", "D2")),))
    snap2 = build_snapshot(case["r"], sites, case["cfg"])
    users = np.flatnonzero(case["serving"] >= 0)
    _same_user_paths(new.to_pops(snap2, case["serving"], case["access"], 0),
                     old.to_pops(snap2, case["serving"], case["access"], 0))
    assert users.size
