"""Node sequences of the routed paths (`Router.path_nodes`, `Router.path_node_table`).

For every served user of random small networks (Walker shells, random gateways, PoPs, users,
outages, fallbacks, strategies, per-hop processing), with both backends: the sequence starts
at the serving satellite and ends at the gateway and PoP `UserPaths` reports, has its number
of links and laser hops, hashes to its ``path_id``, uses only links of the snapshot, and its
one-way delay recomputed from the node positions (ITRS chords for radio and lasers, great
circle x route factor for fibre) plus the access link equals ``propagation_ms``. Against
networkx: the sequence is a shortest path from the PoP (or, for fallback users, from any PoP
that is up) to the serving satellite in the router's directed graph, built here from the
snapshot's links. The sequences come from the searches `to_pops` already ran.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from skyfence.errors import InputError
from skyfence.network import FewestHops, Router, great_circle_km
from skyfence.network.topology import KIND_FEEDER, KIND_FIBRE, KIND_LASER
from test_network_routing import C_KM_MS, random_case

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
BACKENDS = ["scipy", *(["numba"] if Router().backend == "numba" else [])]


def _fnv(nodes: list[int]) -> int:
    """FNV-1a-style hash of a node sequence, as `UserPaths.path_id` documents it."""
    h = _FNV_OFFSET
    for n in nodes:
        h = ((h ^ n) * _FNV_PRIME) % 2**64
    return h


def _directed(snap, router: Router) -> nx.DiGraph:
    """The graph searched from PoPs: PoP -> gateway (fibre), gateway -> satellite (feeder),
    satellite <-> satellite (lasers); usable gateways only; weights = strategy weights."""
    g = nx.DiGraph()
    u, v, d, k = snap.links()
    usable = snap.gateway_up & router.strategy.usable_gateways(snap.gateway_country)
    w = router.strategy.edge_weights(d + router.processing_ms_per_hop, k)
    ns = snap.n_sat
    for a, b, wt, kind in zip(u, v, w, k, strict=True):
        a, b = int(a), int(b)
        if kind == KIND_LASER:
            g.add_edge(a, b, w=float(wt))
            g.add_edge(b, a, w=float(wt))
        elif kind == KIND_FEEDER and usable[b - ns]:
            g.add_edge(b, a, w=float(wt))  # gateway -> satellite
        elif kind == KIND_FIBRE and usable[a - ns]:
            g.add_edge(b, a, w=float(wt))  # PoP -> gateway
    return g


def _delay_ms(case, snap, nodes: list[int]) -> float:
    """One-way propagation delay along ``nodes`` from the positions, ms."""
    r, sites, cfg = case["r"], case["sites"], case["cfg"]
    ns, ng = snap.n_sat, snap.n_gw
    pos = np.concatenate([r, sites.gateway_itrs_km])
    total = 0.0
    for a, b in itertools.pairwise(nodes):
        if b < ns + ng:  # radio or laser: the straight chord
            total += float(np.linalg.norm(pos[a] - pos[b])) / C_KM_MS
        else:  # fibre gateway -> PoP
            gw, pop = sites.gateways[a - ns], sites.pops[b - ns - ng]
            km = float(great_circle_km(gw.lat_deg, gw.lon_deg, pop.lat_deg, pop.lon_deg))
            total += km * cfg.fibre_route_factor / (C_KM_MS * cfg.fibre_speed_fraction)
    return total


def _check_case(seed: int, backend: str, strategy, outage: bool) -> int:
    case = random_case(seed, n_users=60)
    snap = case["snap"]
    proc = 0.25 if seed % 2 else 0.0
    router = Router(backend=backend, processing_ms_per_hop=proc,
                    **({} if strategy is None else {"strategy": strategy}))
    if outage:  # the PoP most users are homed at is down: they fall back
        pop_up = np.ones(snap.n_pop, bool)
        pop_up[np.bincount(case["home"]).argmax()] = False
        from dataclasses import replace

        snap = replace(snap, pop_up=pop_up)
    up = router.to_pops(snap, case["serving"], case["access"], case["home"])
    cached = dict(snap.cache)
    search = next(iter(cached.values()))
    rows_before = search.dist.shape[0]
    table = router.path_node_table(snap, up.serving_sat, up.pop, case["home"])
    # The searches `to_pops` ran are reused: nothing new is searched or cached.
    assert dict(snap.cache) == cached and search.dist.shape[0] == rows_before
    assert table.shape[0] == len(up)
    g = _directed(snap, router)
    ns, ng = snap.n_sat, snap.n_gw
    up_pops = [ns + ng + p for p in np.flatnonzero(snap.pop_up)]
    served = 0
    for u in range(len(up)):
        row = table[u]
        nodes = [int(x) for x in row[row >= 0]]
        one = router.path_nodes(snap, int(up.serving_sat[u]), int(up.pop[u]),
                                int(case["home"][u]))
        assert one == nodes
        if not up.served[u]:
            assert nodes == []
            continue
        served += 1
        assert np.all(row[len(nodes):] == -1)
        assert nodes[0] == up.serving_sat[u]
        assert nodes[-1] == ns + ng + up.pop[u] and nodes[-2] == ns + up.gateway[u]
        assert all(n < ns for n in nodes[:-2])  # no ground relay
        assert len(nodes) == up.n_links[u]  # links = (nodes - 1) + the access link
        assert sum(a < ns and b < ns for a, b in itertools.pairwise(nodes)) \
            == up.n_laser_hops[u]
        assert _fnv(nodes) == int(up.path_id[u])
        for a, b in itertools.pairwise(nodes):
            assert g.has_edge(b, a), (a, b)
        want = up.access_km[u] / C_KM_MS + _delay_ms(case, snap, nodes)
        assert want == pytest.approx(up.propagation_ms[u], rel=1e-9, abs=1e-9)
        # networkx: a shortest path from the PoP (home) or from every PoP that is up.
        cost = sum(g[b][a]["w"] for a, b in itertools.pairwise(nodes))
        if up.home_pop_used[u]:
            best = nx.shortest_path_length(g, nodes[-1], nodes[0], weight="w")
        else:
            assert router.pop_fallback and up.pop[u] != case["home"][u]
            best = nx.multi_source_dijkstra(g, set(up_pops), nodes[0], weight="w")[0]
        assert cost == pytest.approx(best, rel=1e-12, abs=1e-12)
    return served


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [31, 32, 33, 34])
def test_path_nodes_match_user_paths_and_networkx(seed: int, backend: str) -> None:
    served = _check_case(seed, backend, None, outage=False)
    assert served > 10


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [35, 36])
def test_path_nodes_of_fallback_users_and_fewest_hops(seed: int, backend: str) -> None:
    assert _check_case(seed, backend, FewestHops(), outage=True) > 5


def test_both_backends_give_the_same_sequences() -> None:
    if len(BACKENDS) < 2:
        pytest.skip("numba is not available")
    case = random_case(41, n_users=80)
    tables = []
    for backend in BACKENDS:
        router = Router(backend=backend)
        snap = case["snap"]
        snap.cache.clear()
        up = router.to_pops(snap, case["serving"], case["access"], case["home"])
        t = router.path_node_table(snap, up.serving_sat, up.pop, case["home"])
        tables.append(t)
    np.testing.assert_array_equal(tables[0], tables[1])


def test_path_nodes_without_a_prior_search_and_bad_input() -> None:
    case = random_case(42, n_users=30)
    snap = case["snap"]
    router = Router()
    up = router.to_pops(snap, case["serving"], case["access"], case["home"])
    u = int(np.flatnonzero(up.served & up.home_pop_used)[0])
    want = router.path_nodes(snap, int(up.serving_sat[u]), int(up.pop[u]))
    snap.cache.clear()  # searched again on demand: the same path
    assert router.path_nodes(snap, int(up.serving_sat[u]), int(up.pop[u])) == want
    assert router.path_nodes(snap, -1, int(up.pop[u])) == []
    assert router.path_nodes(snap, int(up.serving_sat[u]), -1) == []
    # A PoP the router would not route this user to (not its home, not the fallback's).
    other = [p for p in range(snap.n_pop) if p != up.pop[u]]
    for p in other:
        nodes = router.path_nodes(snap, int(up.serving_sat[u]), p, int(up.pop[u]))
        assert nodes == [] or nodes[-1] == snap.n_sat + snap.n_gw + p
    with pytest.raises(InputError, match="serving satellite"):
        router.path_node_table(snap, [snap.n_sat], [0])
    with pytest.raises(InputError, match="PoP index"):
        router.path_node_table(snap, [0], [snap.n_pop])
    with pytest.raises(InputError, match="home PoP"):
        router.path_node_table(snap, [0], [0], [-1])
