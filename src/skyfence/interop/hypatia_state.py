"""Hypatia's dynamic state for its ns-3 module, computed with vectorized shortest paths.

Files (satgenpy ``satgen/dynamic_state``; read by ns-3's ``arbiter-single-forward-helper.cc``
and ``gsl-if-bandwidth-helper.cc`` at t = 0, step, 2 step, ... < duration):

``fstate_<t_ns>.txt``
    ``<current node>,<destination node>,<next hop node>,<my interface>,<next hop interface>``
    (``%d`` x 5; ``-1,-1,-1`` = drop). Complete at the first step, then only the entries that
    changed. Destinations are ground stations; nodes are satellites ``0..n_sats-1`` then
    ground stations ``n_sats + gid``. A satellite's interfaces are its ISLs (numbered in
    ``isls.txt`` order) then its GSL interfaces; a ground station's GSL interface is 0. Lines
    come in satgenpy's order: every satellite to every ground station, then every ground
    station to every other one (with GS relays: every node to every ground station).
``gsl_if_bandwidth_<t_ns>.txt``
    ``<node>,<interface>,<bandwidth fraction>`` (``%d,%d,%f``). The ``free`` algorithms write
    it at t = 0 only (empty files afterwards); ``paired_many`` writes the changes.

Algorithms (strategy objects; `ALGORITHMS` maps satgenpy's names to them):

- `FreeOneOnlyOverIsls` (``algorithm_free_one_only_over_isls``): one GSL interface per node;
  paths ground station -> satellite -> ISLs -> satellite -> ground station.
- `FreeGsOneSatManyOnlyOverIsls` (``algorithm_free_gs_one_sat_many_only_over_isls``): every
  satellite has one GSL interface per ground station (``num_isls + gid``).
- `PairedManyOnlyOverIsls` (``algorithm_paired_many_only_over_isls``): each ground station
  only uses its nearest satellite; bandwidth shared among the stations paired to a satellite.
- `FreeOneOnlyGsRelays` (``algorithm_free_one_only_gs_relays``): no ISLs; paths alternate
  satellites and ground stations.

Choices and ties, as satgenpy makes them
-----------------------------------------
Distances are straight lines in metres. Over ISLs, satgenpy takes, for a satellite and a
destination station, the satellite in range of the station minimising (ISL distance + range),
lowest id on equal totals, and forwards to the first neighbour, in ISL-interface order,
minimising (link length + its distance to that satellite); a source station picks the
satellite in range minimising (range + that satellite's distance to the destination station),
lowest id on equal totals. skyfence runs one Dijkstra search per destination station
(``scipy.sparse.csgraph.dijkstra`` from a source node linked to the station's satellites in
range by edges of their range) and takes the same arg-mins over neighbours and candidates in
the same order. Results are identical (bench/hypatia.py compares all 168,300 entries of
Starlink-550 with satgenpy's own loops) except where two choices are equal to the last bits:
the sums of the same link lengths are formed in another order than Floyd-Warshall's, so an
exact tie in one can be a 1e-9 m difference in the other, and a satellite in range whose own
range equals the best total hands over directly where satgenpy would prefer a lower-id
satellite with the very same total. Such ties need exactly symmetric geometry. Positions also
differ slightly: skyfence propagates with python-sgp4 (TEME -> ITRS with UT1 and GMST 1982,
stations on WGS-84), satgenpy with PyEphem; paths whose lengths differ by less than that
(metres) may be chosen differently, with no effect on the RTT beyond it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ..earth import SPEED_OF_LIGHT_KM_S, geodetic_to_itrs
from ..errors import InputError
from ..network.links import LinkCandidates
from ..orbits import propagate
from ..timeutil import parse_duration

if TYPE_CHECKING:  # annotations only: hypatia.py builds networks with these algorithms
    from .hypatia import HypatiaNetwork

__all__ = [
    "ALGORITHMS",
    "DynamicStateAlgorithm",
    "DynamicStateSummary",
    "DynamicStep",
    "ForwardingState",
    "FreeGsOneSatManyOnlyOverIsls",
    "FreeOneOnlyGsRelays",
    "FreeOneOnlyOverIsls",
    "PairedManyOnlyOverIsls",
    "duration_ns",
    "get_algorithm",
    "iter_dynamic_state",
    "path_length_m",
    "read_fstate_dir",
    "write_dynamic_state",
]

# Cells of padded work arrays processed at once (bounds memory: 8 bytes each).
_BLOCK_CELLS = 4_000_000


def duration_ns(text: str | float, field_name: str = "duration") -> int:
    """A duration (``"2s"``, ``"100ms"``, seconds) as integer nanoseconds."""
    return round(parse_duration(text, field_name) * 1e9)


# --------------------------------------------------------------------------------------------
# Step context
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Topology:
    """Per-network constants: ISLs and interface numbers, neighbour tables, node counts."""

    n_sat: int
    n_gs: int
    isls: np.ndarray        # (m, 2) file order
    num_isls: np.ndarray    # (n_sat,)
    nb: np.ndarray          # (n_sat, deg) neighbour satellite in interface order, -1 pad
    nb_isl: np.ndarray      # (n_sat, deg) ISL line of that neighbour, -1 pad
    rev_if: np.ndarray      # (n_sat, deg) interface, at the neighbour, of the link back

    @classmethod
    def of(cls, net: HypatiaNetwork) -> _Topology:
        if_a, if_b, num = net.isl_interfaces
        pairs = net.isl_array
        deg = int(num.max(initial=0))
        nb = np.full((net.n_sats, max(deg, 1)), -1, np.int64)
        nb_isl = np.full_like(nb, -1)
        k = np.arange(pairs.shape[0])
        nb[pairs[:, 0], if_a] = pairs[:, 1]
        nb[pairs[:, 1], if_b] = pairs[:, 0]
        nb_isl[pairs[:, 0], if_a] = k
        nb_isl[pairs[:, 1], if_b] = k
        rev = np.full_like(nb, -1)
        rev[pairs[:, 0], if_a] = if_b
        rev[pairs[:, 1], if_b] = if_a
        return cls(net.n_sats, net.n_gs, pairs, num, nb, nb_isl, rev)


# --------------------------------------------------------------------------------------------
# Algorithms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicStateAlgorithm:
    """Base of the dynamic-state algorithms (see the module docstring).

    Subclasses set ``name`` (satgenpy's), ``relays`` (paths through ground stations instead of
    ISLs) and override the interface layout, checks, candidate selection and bandwidth.
    """

    name: str = ""
    relays: bool = False

    def default_interfaces(self, n_sats: int, n_gs: int) -> list[tuple[int, float]]:
        """``gsl_interfaces_info`` this algorithm expects (used when the file is absent)."""
        return [(1, 1.0)] * (n_sats + n_gs)

    def check(self, net: HypatiaNetwork, interfaces: Sequence[tuple[int, float]]) -> None:
        """Raise `InputError` when the directory does not meet the algorithm's conditions."""
        if net.isls and self.relays:
            raise InputError(f"{self.name} permits no ISLs, but isls.txt has {len(net.isls)}",
                             "isls.txt")

    def sat_interface_of_gs(self, n_gs: int) -> np.ndarray:
        """Index, among a satellite's GSL interfaces, used towards each ground station."""
        return np.zeros(n_gs, np.int64)

    def select(self, cand: LinkCandidates, n_gs: int) -> LinkCandidates:
        """The ground links the forwarding state may use (default: all in range)."""
        return cand

    def bandwidth(self, topo: _Topology, interfaces: Sequence[tuple[int, float]],
                  cand: LinkCandidates) -> tuple[np.ndarray, np.ndarray]:
        """``keys`` (n, 2) (node, interface) and ``values`` (n,) of the bandwidth state."""
        agg = np.array([bw for _, bw in interfaces], float)
        nodes = np.arange(topo.n_sat + topo.n_gs)
        ifs = np.concatenate([topo.num_isls, np.zeros(topo.n_gs, np.int64)])
        return np.stack([nodes, ifs], axis=1), agg

    #: Bandwidth written at every step (changes only) rather than once at t = 0.
    bandwidth_every_step: bool = False


@dataclass(frozen=True)
class FreeOneOnlyOverIsls(DynamicStateAlgorithm):
    """satgenpy's ``algorithm_free_one_only_over_isls``."""

    name: str = "algorithm_free_one_only_over_isls"


@dataclass(frozen=True)
class FreeOneOnlyGsRelays(DynamicStateAlgorithm):
    """satgenpy's ``algorithm_free_one_only_gs_relays`` (no ISLs; ground-station relays)."""

    name: str = "algorithm_free_one_only_gs_relays"
    relays: bool = True


@dataclass(frozen=True)
class FreeGsOneSatManyOnlyOverIsls(DynamicStateAlgorithm):
    """satgenpy's ``algorithm_free_gs_one_sat_many_only_over_isls``."""

    name: str = "algorithm_free_gs_one_sat_many_only_over_isls"

    def default_interfaces(self, n_sats: int, n_gs: int) -> list[tuple[int, float]]:
        return [(n_gs, float(n_gs))] * n_sats + [(1, 1.0)] * n_gs

    def check(self, net: HypatiaNetwork, interfaces: Sequence[tuple[int, float]]) -> None:
        for i, (n_if, bw) in enumerate(interfaces):
            where = f"gsl_interfaces_info.txt: node {i}"
            if i < net.n_sats:
                if n_if != net.n_gs:
                    raise InputError(f"{self.name}: satellites need one GSL interface per "
                                     f"ground station ({net.n_gs}), got {n_if}", where)
                if bw != net.n_gs:
                    raise InputError(f"{self.name}: a satellite's aggregate bandwidth must be "
                                     f"the number of ground stations ({net.n_gs}), got {bw}",
                                     where)
            elif n_if != 1 or bw != 1.0:
                raise InputError(f"{self.name}: ground stations need exactly 1 interface with "
                                 f"aggregate bandwidth 1.0, got {n_if}, {bw}", where)

    def sat_interface_of_gs(self, n_gs: int) -> np.ndarray:
        return np.arange(n_gs, dtype=np.int64)

    def bandwidth(self, topo: _Topology, interfaces: Sequence[tuple[int, float]],
                  cand: LinkCandidates) -> tuple[np.ndarray, np.ndarray]:
        n_if = np.array([n for n, _ in interfaces[:topo.n_sat]], np.int64)
        agg = np.array([bw for _, bw in interfaces], float)
        sat = np.repeat(np.arange(topo.n_sat), n_if)
        first = np.repeat(np.cumsum(n_if) - n_if, n_if)
        idx = np.arange(sat.size) - first
        gs = topo.n_sat + np.arange(topo.n_gs)
        keys = np.concatenate([np.stack([sat, topo.num_isls[sat] + idx], axis=1),
                               np.stack([gs, np.zeros_like(gs)], axis=1)])
        values = np.concatenate([agg[sat] / n_if[sat], agg[topo.n_sat:]])
        return keys, values


@dataclass(frozen=True)
class PairedManyOnlyOverIsls(DynamicStateAlgorithm):
    """satgenpy's ``algorithm_paired_many_only_over_isls``: each ground station uses only its
    nearest satellite (lowest id on equal ranges)."""

    name: str = "algorithm_paired_many_only_over_isls"
    bandwidth_every_step: bool = True

    def default_interfaces(self, n_sats: int, n_gs: int) -> list[tuple[int, float]]:
        return [(n_gs, 1.0)] * n_sats + [(1, 1.0)] * n_gs

    def check(self, net: HypatiaNetwork, interfaces: Sequence[tuple[int, float]]) -> None:
        for i, (n_if, bw) in enumerate(interfaces):
            where = f"gsl_interfaces_info.txt: node {i}"
            want = net.n_gs if i < net.n_sats else 1
            if n_if != want:
                kind = "satellites" if i < net.n_sats else "ground stations"
                raise InputError(f"{self.name}: {kind} need {want} GSL interface(s), got "
                                 f"{n_if}", where)
            if bw != 1.0:
                raise InputError(f"{self.name}: aggregate bandwidths must be 1.0, got {bw}",
                                 where)

    def sat_interface_of_gs(self, n_gs: int) -> np.ndarray:
        return np.arange(n_gs, dtype=np.int64)

    def select(self, cand: LinkCandidates, n_gs: int) -> LinkCandidates:
        if len(cand) == 0:
            return cand
        # Candidates are sorted by station then satellite: the first minimum is the lowest id.
        order = np.lexsort((cand.sat, cand.range_km, cand.point))
        first = np.r_[True, cand.point[order][1:] != cand.point[order][:-1]]
        pick = np.sort(order[first])
        return LinkCandidates(cand.point[pick], cand.sat[pick], cand.range_km[pick])

    def bandwidth(self, topo: _Topology, interfaces: Sequence[tuple[int, float]],
                  cand: LinkCandidates) -> tuple[np.ndarray, np.ndarray]:
        n_sat, n_gs = topo.n_sat, topo.n_gs
        paired_sat = np.full(n_gs, -1, np.int64)
        paired_sat[cand.point] = cand.sat
        share = np.bincount(cand.sat, minlength=n_sat)
        sat_vals = np.ones((n_sat, n_gs))
        ok = paired_sat >= 0
        sat_vals[paired_sat[ok], np.flatnonzero(ok)] = 1.0 / share[paired_sat[ok]]
        gs_vals = np.ones(n_gs)
        gs_vals[ok] = 1.0 / share[paired_sat[ok]]
        sat = np.repeat(np.arange(n_sat), n_gs)
        i = np.tile(np.arange(n_gs), n_sat)
        gs = n_sat + np.arange(n_gs)
        keys = np.concatenate([np.stack([sat, topo.num_isls[sat] + i], axis=1),
                               np.stack([gs, np.zeros_like(gs)], axis=1)])
        return keys, np.concatenate([sat_vals.ravel(), gs_vals])


#: satgenpy's algorithm names -> strategies.
ALGORITHMS: dict[str, DynamicStateAlgorithm] = {
    a.name: a for a in (FreeOneOnlyOverIsls(), FreeGsOneSatManyOnlyOverIsls(),
                        PairedManyOnlyOverIsls(), FreeOneOnlyGsRelays())
}


def get_algorithm(name: str | DynamicStateAlgorithm) -> DynamicStateAlgorithm:
    """An algorithm by satgenpy's name, with or without the ``algorithm_`` prefix."""
    if isinstance(name, DynamicStateAlgorithm):
        return name
    key = str(name).strip()
    key = key if key.startswith("algorithm_") else f"algorithm_{key}"
    if key not in ALGORITHMS:
        import difflib

        close = difflib.get_close_matches(key, ALGORITHMS, n=1)
        hint = f"; did you mean {close[0].removeprefix('algorithm_')!r}?" if close else ""
        raise InputError(f"unknown algorithm {name!r}{hint} Known: "
                         f"{', '.join(k.removeprefix('algorithm_') for k in ALGORITHMS)}",
                         "algorithm")
    return ALGORITHMS[key]


# --------------------------------------------------------------------------------------------
# Kernels (one time step)
# --------------------------------------------------------------------------------------------


def _padded(cand: LinkCandidates, n_gs: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates per station, padded: satellite (-1) and range in m (inf), each
    (n_gs, k_max), satellites ascending within a station."""
    counts = np.bincount(cand.point, minlength=n_gs)
    kmax = int(counts.max(initial=0))
    sat = np.full((n_gs, max(kmax, 1)), -1, np.int64)
    dist = np.full(sat.shape, np.inf)
    if cand.point.size:
        start = np.cumsum(counts) - counts
        pos = np.arange(cand.point.size) - start[cand.point]
        sat[cand.point, pos] = cand.sat
        dist[cand.point, pos] = cand.range_km * 1000.0
    return sat, dist


def _fstate_over_isls(topo: _Topology, isl_m: np.ndarray, cand: LinkCandidates,
                      sat_if_of_gs: np.ndarray) -> np.ndarray:
    """Forwarding entries (n_sat * n_gs + n_gs * (n_gs - 1), 3) without ground relays.

    One Dijkstra search per destination station, from a source node linked to the station's
    satellites in range by edges of their range (edges only leave it, so it is never
    transit): ``best[g, s]`` = min over b in range of g of (ISL distance s..b + range of b),
    satgenpy's ``dist_satellite_to_ground_station``.
    """
    n_sat, n_gs = topo.n_sat, topo.n_gs
    n = n_sat + n_gs
    pairs = topo.isls
    rho = cand.range_km * 1000.0
    graph = sp.csr_matrix((np.concatenate([isl_m, isl_m, rho]),
                           (np.concatenate([pairs[:, 0], pairs[:, 1], n_sat + cand.point]),
                            np.concatenate([pairs[:, 1], pairs[:, 0], cand.sat]))),
                          shape=(n, n))
    has = np.flatnonzero(np.bincount(cand.point, minlength=n_gs) > 0)
    best = np.full((n_gs, n_sat), np.inf)
    if has.size:
        best[has] = dijkstra(graph, directed=True, indices=n_sat + has)[:, :n_sat]
    reach = np.isfinite(best)
    # A satellite in range whose own range is the best total hands over to the station.
    at_dst = np.zeros((n_gs, n_sat), bool)
    at_dst[cand.point, cand.sat] = rho <= best[cand.point, cand.sat]
    hop = np.full((n_gs, n_sat, 3), -1, np.int64)
    gs_node = (n_sat + np.arange(n_gs))[:, None]
    hop[..., 0] = np.where(at_dst, gs_node, hop[..., 0])
    hop[..., 1] = np.where(at_dst, topo.num_isls[None, :] + sat_if_of_gs[:, None], hop[..., 1])
    hop[..., 2] = np.where(at_dst, 0, hop[..., 2])
    # Otherwise: the first neighbour (interface order) minimising link length + its distance
    # to the station.
    need = reach & ~at_dst
    nb = topo.nb
    w_nb = np.where(nb >= 0, isl_m[np.maximum(topo.nb_isl, 0)], np.inf)
    deg = nb.shape[1]
    block = max(1, _BLOCK_CELLS // max(deg * n_sat, 1))
    nb_safe = np.maximum(nb, 0)
    for g0 in range(0, n_gs, block):
        g = slice(g0, min(g0 + block, n_gs))
        vals = w_nb[None, :, :] + best[g][:, nb_safe]
        kk = np.argmin(vals, axis=2)
        gi, si = np.nonzero(need[g])
        kq = kk[gi, si]
        blk = hop[g]
        blk[gi, si, 0] = nb[si, kq]
        blk[gi, si, 1] = kq
        blk[gi, si, 2] = topo.rev_if[si, kq]
    sat_to_gs = hop.transpose(1, 0, 2).reshape(-1, 3)
    # Station -> station: the satellite in range minimising range + its distance to the
    # destination station (first minimum = lowest id).
    pad_sat, pad_d = _padded(cand, n_gs)
    kmax = pad_sat.shape[1]
    gs_to_gs = np.full((n_gs, n_gs, 3), -1, np.int64)
    block = max(1, _BLOCK_CELLS // max(kmax * n_gs, 1))
    for g0 in range(0, n_gs, block):
        g = slice(g0, min(g0 + block, n_gs))
        ps = pad_sat[g]
        val = pad_d[g][:, :, None] + best.T[np.maximum(ps, 0)]  # (b, kmax, n_gs)
        val[ps < 0] = np.inf
        k = np.argmin(val, axis=1)
        tot = np.take_along_axis(val, k[:, None, :], axis=1)[:, 0, :]
        a = np.take_along_axis(ps, k, axis=1)
        ok = np.isfinite(tot)
        src = np.arange(g.start, g.stop)[:, None]
        block_hop = gs_to_gs[g]
        block_hop[..., 0] = np.where(ok, a, -1)
        block_hop[..., 1] = np.where(ok, 0, -1)
        block_hop[..., 2] = np.where(ok, topo.num_isls[np.maximum(a, 0)]
                                     + sat_if_of_gs[src], -1)
    off = ~np.eye(n_gs, dtype=bool)
    return np.concatenate([sat_to_gs, gs_to_gs[off]])


def _fstate_relays(topo: _Topology, cand: LinkCandidates, sat_if_of_gs: np.ndarray
                   ) -> np.ndarray:
    """Forwarding entries (n_nodes * n_gs - n_gs, 3) with ground-station relays (no ISLs)."""
    n_sat, n_gs = topo.n_sat, topo.n_gs
    n = n_sat + n_gs
    d_m = cand.range_km * 1000.0
    gsn = n_sat + cand.point
    graph = sp.csr_matrix((np.concatenate([d_m, d_m]),
                           (np.concatenate([cand.sat, gsn]), np.concatenate([gsn, cand.sat]))),
                          shape=(n, n))
    dist = dijkstra(graph, directed=True, indices=n_sat + np.arange(n_gs))  # (n_gs, n)
    # Neighbours in satgenpy's insertion order: a satellite's stations by gid, a station's
    # satellites by id (candidates are sorted by station then satellite).
    order = np.lexsort((cand.point, cand.sat))
    src = np.concatenate([cand.sat[order], gsn])
    dst = np.concatenate([gsn[order], cand.sat])
    w = np.concatenate([d_m[order], d_m])
    o2 = np.argsort(src, kind="stable")
    src, dst, w = src[o2], dst[o2], w[o2]
    counts = np.bincount(src, minlength=n)
    deg = int(counts.max(initial=0))
    nb = np.full((n, max(deg, 1)), -1, np.int64)
    wt = np.full(nb.shape, np.inf)
    pos = np.arange(src.size) - (np.cumsum(counts) - counts)[src]
    nb[src, pos] = dst
    wt[src, pos] = w
    out = np.full((n, n_gs, 3), -1, np.int64)
    block = max(1, _BLOCK_CELLS // max(n * nb.shape[1], 1))
    nb_safe = np.maximum(nb, 0)
    for h0 in range(0, n_gs, block):
        h = np.arange(h0, min(h0 + block, n_gs))
        dn = dist[h][:, nb_safe]  # (b, n, deg)
        vals = np.where(np.isfinite(dn) & (nb >= 0)[None], wt[None] + dn, np.inf)
        k = np.argmin(vals, axis=2)
        best = np.take_along_axis(vals, k[:, :, None], axis=2)[:, :, 0]
        nxt = nb[np.arange(n)[None, :], k]
        ok = np.isfinite(best)
        cur = np.arange(n)[None, :]
        cur_is_sat = cur < n_sat
        my_if = np.where(cur_is_sat, topo.num_isls[np.minimum(cur, n_sat - 1)]
                         + sat_if_of_gs[np.clip(nxt - n_sat, 0, n_gs - 1)], 0)
        nx_if = np.where(cur_is_sat, 0, topo.num_isls[np.clip(nxt, 0, n_sat - 1)]
                         + sat_if_of_gs[np.clip(cur - n_sat, 0, n_gs - 1)])
        blk = np.stack([np.where(ok, nxt, -1), np.where(ok, my_if, -1),
                        np.where(ok, nx_if, -1)], axis=-1)
        out[:, h, :] = blk.transpose(1, 0, 2)
    keep = np.ones((n, n_gs), bool)
    keep[n_sat + np.arange(n_gs), np.arange(n_gs)] = False
    return out[keep]


def fstate_keys(n_sat: int, n_gs: int, relays: bool) -> np.ndarray:
    """(current, destination) of every forwarding entry, in satgenpy's line order."""
    gs = n_sat + np.arange(n_gs)
    if relays:
        cur = np.repeat(np.arange(n_sat + n_gs), n_gs)
        dst = np.tile(gs, n_sat + n_gs)
        keep = cur != dst
        return np.stack([cur[keep], dst[keep]], axis=1)
    a = np.stack([np.repeat(np.arange(n_sat), n_gs), np.tile(gs, n_sat)], axis=1)
    src, dst = np.meshgrid(gs, gs, indexing="ij")
    off = src != dst
    return np.concatenate([a, np.stack([src[off], dst[off]], axis=1)])


# --------------------------------------------------------------------------------------------
# Iteration and files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicStep:
    """The full state at one time step.

    Attributes
    ----------
    t_ns : int
        Nanoseconds since the epoch.
    fstate : int64 (n_entries, 3)
        ``next_hop, my_interface, next_hop_interface`` per entry of ``keys``.
    bandwidth : float64 (n_bw,)
        Per entry of ``bw_keys``.
    candidates : LinkCandidates
        Ground links used (stations x satellites in range, after the algorithm's selection).
    compute_s : float
        Seconds spent computing this step (propagation excluded).
    """

    t_ns: int
    fstate: np.ndarray
    bandwidth: np.ndarray
    candidates: LinkCandidates
    compute_s: float


def _interfaces(net: HypatiaNetwork, algo: DynamicStateAlgorithm) -> list[tuple[int, float]]:
    ifs = list(net.interfaces_or(algo.default_interfaces(net.n_sats, net.n_gs)))
    algo.check(net, ifs)
    return ifs


def iter_dynamic_state(
    net: HypatiaNetwork,
    algorithm: str | DynamicStateAlgorithm,
    duration_ns: int,
    step_ns: int,
    *,
    offset_ns: int = 0,
    chunk_steps: int = 32,
    link_rule=None,
) -> Iterator[DynamicStep]:
    """Full states at ``offset, offset + step, ... < duration`` ns after the epoch.

    ``link_rule`` (default ``net.link_rule``, Hypatia's range rule) decides the ground links.
    Raises `InputError` when an ISL exceeds ``max_isl_length_m`` (as satgenpy does).
    """
    algo = get_algorithm(algorithm)
    if step_ns <= 0 or duration_ns <= 0:
        raise InputError(f"duration and step must be > 0, got {duration_ns} ns and {step_ns} ns",
                         "step")
    if offset_ns % step_ns:
        raise InputError("the offset must be a multiple of the time step", "offset")
    ifs = _interfaces(net, algo)
    topo = _Topology.of(net)
    rule = link_rule if link_rule is not None else net.link_rule
    gs_itrs = geodetic_to_itrs(net.gs_lat_deg, net.gs_lon_deg, net.gs_alt_km).reshape(-1, 3)
    sat_if = algo.sat_interface_of_gs(net.n_gs)
    const = net.constellation
    epoch = net.epoch_utc
    times = np.arange(offset_ns, duration_ns, step_ns, dtype=np.int64)
    pairs = topo.isls
    for c0 in range(0, times.size, chunk_steps):
        tc = times[c0:c0 + chunk_steps]
        r_all = propagate(const, epoch + tc.astype("timedelta64[ns]")).r_km
        for j, t_ns in enumerate(tc):
            t0 = time.perf_counter()
            r = r_all[:, j, :]
            if not np.isfinite(r).all():
                bad = int(np.flatnonzero(~np.isfinite(r).all(axis=1))[0])
                raise InputError(f"SGP4 fails for satellite {bad} at t = {int(t_ns)} ns",
                                 "tles.txt")
            isl_m = np.linalg.norm(r[pairs[:, 0]] - r[pairs[:, 1]], axis=1) * 1000.0
            over = np.flatnonzero(isl_m > net.max_isl_length_m)
            if over.size:
                k = int(over[0])
                raise InputError(
                    f"the ISL {pairs[k, 0]} {pairs[k, 1]} is {isl_m[k]:.2f} m long at t = "
                    f"{int(t_ns)} ns, above max_isl_length_m = {net.max_isl_length_m:.2f} m "
                    "(satgenpy refuses this too)", "isls.txt")
            cand = algo.select(rule.candidates_itrs(gs_itrs, r), net.n_gs)
            if algo.relays:
                fs = _fstate_relays(topo, cand, sat_if)
            else:
                fs = _fstate_over_isls(topo, isl_m, cand, sat_if)
            _, bw = algo.bandwidth(topo, ifs, cand)
            yield DynamicStep(int(t_ns), fs, bw, cand, time.perf_counter() - t0)


@dataclass(frozen=True)
class DynamicStateSummary:
    """What `write_dynamic_state` wrote.

    Attributes
    ----------
    out_dir : Path
    algorithm : str
    t_ns : tuple of int
        The steps.
    fstate_lines : tuple of int
        Lines written per step (all entries at the first, changes afterwards).
    n_entries : int
        Forwarding entries in a full state.
    compute_s : tuple of float
        Seconds per step (shortest paths and selection; propagation and writing excluded).
    wall_s : tuple of float
        Seconds per step, everything included (propagation of its chunk shared out).
    total_s : float
        Wall time of the whole run, s.
    """

    out_dir: Path
    algorithm: str
    t_ns: tuple[int, ...]
    fstate_lines: tuple[int, ...]
    n_entries: int
    compute_s: tuple[float, ...]
    wall_s: tuple[float, ...] = ()
    total_s: float = field(default=0.0)


def _rows(a: np.ndarray) -> str:
    if a.size == 0:
        return ""
    return "\n".join(",".join(r) for r in a.astype(str).tolist()) + "\n"


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="ascii", newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_dynamic_state(
    net: HypatiaNetwork,
    out_dir: str | os.PathLike[str],
    algorithm: str | DynamicStateAlgorithm,
    duration: str | float,
    step: str | float,
    *,
    overwrite: bool = False,
    on_step: Callable[[int, int], None] | None = None,
    link_rule=None,
) -> DynamicStateSummary:
    """Write ``fstate_<t>.txt`` and ``gsl_if_bandwidth_<t>.txt`` for t = 0, step, ... <
    duration (``"200s"``, ``"100ms"`` or seconds), as satgenpy would.

    Refuses to replace existing state files in ``out_dir`` unless ``overwrite``.
    ``on_step(done, total)`` is called after each step (progress).
    """
    t_start = time.perf_counter()
    algo = get_algorithm(algorithm)
    dur, stp = duration_ns(duration, "duration"), duration_ns(step, "step")
    if stp <= 0:
        raise InputError(f"step must be > 0, got {step!r}", "step")
    if dur <= 0:
        raise InputError(f"duration must be > 0, got {duration!r}", "duration")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", str(out))
    old = sorted(out.glob("fstate_*.txt")) + sorted(out.glob("gsl_if_bandwidth_*.txt")) if (
        out.is_dir()) else []
    if old and not overwrite:
        raise InputError(f"already holds {len(old)} dynamic-state files (e.g. {old[0].name}); "
                         "choose another folder or overwrite", str(out))
    out.mkdir(parents=True, exist_ok=True)
    for f in old:
        f.unlink()
    n_steps = len(range(0, dur, stp))
    keys = fstate_keys(net.n_sats, net.n_gs, algo.relays)
    ifs = _interfaces(net, algo)
    bw_keys, _ = algo.bandwidth(_Topology.of(net), ifs, LinkCandidates.empty())
    prev_fs: np.ndarray | None = None
    prev_bw: np.ndarray | None = None
    ts, lines, comp, wall = [], [], [], []
    t_prev = time.perf_counter()
    for i, st in enumerate(iter_dynamic_state(net, algo, dur, stp, link_rule=link_rule)):
        if prev_fs is None:
            changed = np.ones(keys.shape[0], bool)
        else:
            changed = np.any(st.fstate != prev_fs, axis=1)
        fs_text = _rows(np.concatenate([keys[changed], st.fstate[changed]], axis=1))
        if algo.bandwidth_every_step:
            bw_changed = (np.ones(bw_keys.shape[0], bool) if prev_bw is None
                          else st.bandwidth != prev_bw)
        else:
            bw_changed = np.full(bw_keys.shape[0], st.t_ns == 0)
        bw_text = "".join(f"{n},{k},{v:f}\n" for (n, k), v in zip(
            bw_keys[bw_changed].tolist(), st.bandwidth[bw_changed].tolist(), strict=True))
        _atomic(out / f"fstate_{st.t_ns}.txt", fs_text)
        _atomic(out / f"gsl_if_bandwidth_{st.t_ns}.txt", bw_text)
        prev_fs, prev_bw = st.fstate, st.bandwidth
        ts.append(st.t_ns)
        lines.append(int(changed.sum()))
        comp.append(st.compute_s)
        now = time.perf_counter()
        wall.append(now - t_prev)
        t_prev = now
        if on_step is not None:
            on_step(i + 1, n_steps)
    return DynamicStateSummary(out, algo.name, tuple(ts), tuple(lines), int(keys.shape[0]),
                               tuple(comp), tuple(wall), time.perf_counter() - t_start)


# --------------------------------------------------------------------------------------------
# Reading forwarding state back
# --------------------------------------------------------------------------------------------


def read_fstate_dir(path: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The ``fstate_<t_ns>.txt`` files of a dynamic-state folder, sorted by time."""
    d = Path(path)
    if not d.is_dir():
        raise InputError("not a dynamic-state folder", str(d))
    out = []
    for f in d.glob("fstate_*.txt"):
        m = re.fullmatch(r"fstate_(\d+)\.txt", f.name)
        if m:
            out.append((int(m.group(1)), f))
    if not out:
        raise InputError("no fstate_<t_ns>.txt files", str(d))
    return sorted(out)


class ForwardingState:
    """The forwarding table of a Hypatia network, built by applying fstate files in order.

    ``table[(current, destination)] = (next_hop, my_interface, next_hop_interface)``.
    """

    def __init__(self, n_nodes: int) -> None:
        self.n_nodes = int(n_nodes)
        self.table: dict[tuple[int, int], tuple[int, int, int]] = {}

    def apply(self, path: str | os.PathLike[str]) -> int:
        """Apply one fstate file; returns the number of entries it held."""
        p = Path(path)
        n = 0
        for i, line in enumerate(p.read_text(encoding="ascii").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split(",")
            if len(parts) != 5:
                raise InputError("expected 5 comma-separated integers", f"{p}:{i}")
            try:
                c, d, nh, a, b = (int(x) for x in parts)
            except ValueError:
                raise InputError(f"not integers: {line!r}", f"{p}:{i}") from None
            if not (0 <= c < self.n_nodes and 0 <= d < self.n_nodes and -1 <= nh < self.n_nodes):
                raise InputError(f"node id out of range [0, {self.n_nodes})", f"{p}:{i}")
            if (nh == -1) != (a == -1) or (nh == -1) != (b == -1):
                raise InputError("a drop needs all three of next hop and interfaces at -1",
                                 f"{p}:{i}")
            self.table[(c, d)] = (nh, a, b)
            n += 1
        return n

    def path(self, src: int, dst: int) -> list[int] | None:
        """Node sequence from ``src`` to ``dst``; None when dropped (or looping)."""
        out = [src]
        cur = src
        for _ in range(self.n_nodes + 1):
            if cur == dst:
                return out
            nh = self.table.get((cur, dst), (-1, -1, -1))[0]
            if nh < 0:
                return None
            out.append(nh)
            cur = nh
        return None


def path_length_m(net: HypatiaNetwork, t_ns: int, path: Sequence[int]) -> float:
    """Length (m) of a node path at ``t_ns`` after the epoch, with skyfence's positions."""
    r_sat = propagate(net.constellation, np.array([net.epoch_utc + np.timedelta64(int(t_ns),
                                                                                  "ns")])).r_km
    gs = geodetic_to_itrs(net.gs_lat_deg, net.gs_lon_deg, net.gs_alt_km).reshape(-1, 3)
    pos = np.concatenate([r_sat[:, 0, :], gs])
    p = pos[np.asarray(path, np.int64)]
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() * 1000.0)


def rtt_ms(length_m: float) -> float:
    """Round-trip time (ms) of a path of one-way length ``length_m`` at the speed of light."""
    return 2.0 * length_m / 1000.0 / SPEED_OF_LIGHT_KM_S * 1e3
