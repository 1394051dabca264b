"""Routing on a `Snapshot`: users to their PoP, and ground site to ground site.

Paths and their rules
---------------------
- **User -> PoP**: terminal or cell -> its serving satellite -> lasers (zero or more) -> one
  gateway -> fibre -> PoP. Ground nodes are never transit (no relaying through a gateway back
  up to space, no PoP-to-PoP fibre). Each user goes to its home PoP; if that PoP is down or
  unreachable and ``pop_fallback`` is set, to the best reachable PoP that is up.
- **Site <-> site**: ground site -> any satellite it sees -> lasers -> a satellite the other
  site sees -> ground site (no ground relays), as in the peers' site-to-site studies.

Delays and what is not modelled
-------------------------------
One-way delay = propagation (radio and lasers at c, fibre at the configured fraction of c)
+ ``processing_ms_per_hop`` for each link traversed; RTT = 2 x one-way (the return path is
the same path). Not modelled: queueing, link capacity and congestion, MAC / scheduling delay
of the 15 s slot frame, ground-to-internet delay beyond the PoP, and asymmetric return paths.

Strategies
----------
A `RoutingStrategy` turns link delays into edge weights and says which gateways may be used:
`MinimumDelay` (default), `FewestHops` (hop count, delay as tie-break) and
`AllowedGatewayCountries` (a policy hook wrapping another strategy).

Shortest paths
--------------
Users are routed on trees grown from the few PoPs they need (one per home PoP that is up,
plus one multi-source tree from every PoP that is up for the fallback), never from each
user; path details (gateway, laser hops, delay, a hash of the node sequence) come from walking
each distinct (tree, serving satellite) up to its root; `Router.path_nodes` (one user) and
`Router.path_node_table` (many) return the node sequences by walking the same trees, kept on
the snapshot, so no search runs twice. Site-to-site routing searches from
each source site and stops once every site is settled.

Two backends compute the same paths (``Router(backend=...)``):

``"numba"`` (default when numba imports)
    `skyfence.network._paths`: a compiled binary-heap Dijkstra on a CSR graph, searches from
    several roots spread over threads (``threads``; default ``NUMBA_NUM_THREADS``), early exit
    once the wanted sites are settled, and a compiled walk.
``"scipy"``
    The reference: ``scipy.sparse.csgraph.dijkstra`` and a vectorized NumPy walk.

Both update a predecessor only on a strict improvement, so they differ only where two paths
have exactly equal weights, and the per-path sums are formed in the same order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.csgraph import dijkstra

from ..earth import SPEED_OF_LIGHT_KM_S
from ..errors import InputError, PolicyError
from .topology import KIND_ACCESS, KIND_FEEDER, KIND_FIBRE, KIND_LASER, Snapshot

__all__ = [
    "ROUTING_BACKENDS",
    "STATUS_NO_ROUTE",
    "STATUS_NO_SATELLITE",
    "STATUS_SERVED",
    "AllowedGatewayCountries",
    "FewestHops",
    "MinimumDelay",
    "Router",
    "RoutingStrategy",
    "SitePaths",
    "UserPaths",
]

#: User path status codes.
STATUS_SERVED, STATUS_NO_SATELLITE, STATUS_NO_ROUTE = 0, 1, 2

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)

#: Names of the shortest-path backends (`Router` ``backend=``).
ROUTING_BACKENDS = ("numba", "scipy")

_log = logging.getLogger(__name__)
_kernels: tuple[ModuleType, ModuleType] | None = None
_kernels_error: str | None = None
_fallback_logged = False


def _compiled() -> tuple[ModuleType, ModuleType] | None:
    """``(_paths, skyfence.threads)``, or None when numba does not import (reason kept)."""
    global _kernels, _kernels_error
    if _kernels is None and _kernels_error is None:
        try:
            from .. import threads as threads_mod
            from . import _paths as paths_mod
        except Exception as exc:  # numba missing or broken: scipy stays
            _kernels_error = f"{type(exc).__name__}: {exc}"
        else:
            _kernels = (paths_mod, threads_mod)
    return _kernels


def _resolve_backend(backend: str | None) -> str:
    global _fallback_logged
    if backend is not None:
        name = str(backend).strip().lower()
        if name not in ROUTING_BACKENDS:
            raise InputError(f"unknown routing backend {backend!r}; choose one of "
                             f"{', '.join(ROUTING_BACKENDS)}", "backend")
        if name == "numba" and _compiled() is None:
            raise InputError(f"the numba routing backend is not available ({_kernels_error}); "
                             "use backend='scipy' or install numba", "backend")
        return name
    if _compiled() is not None:
        return "numba"
    if not _fallback_logged:
        _log.warning("numba is not available (%s); routing with scipy's Dijkstra",
                     _kernels_error)
        _fallback_logged = True
    return "scipy"


# --- strategies -----------------------------------------------------------------------------

@runtime_checkable
class RoutingStrategy(Protocol):
    """Edge weights and usable gateways for shortest-path routing.

    ``edge_weights`` maps one-way link delays (ms, processing included) and link kinds
    (``KIND_*`` codes of `topology`) to non-negative weights, same shape.
    ``usable_gateways`` maps gateway country codes (n_gw,) to a bool mask.
    """

    def edge_weights(self, delay_ms: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Weights of edges with these delays and kinds."""
        ...

    def usable_gateways(self, gateway_country: np.ndarray) -> np.ndarray:
        """Which gateways routes may use."""
        ...


@dataclass(frozen=True)
class MinimumDelay:
    """Minimum one-way delay (propagation + per-hop processing)."""

    #: The weights are the delays (lets the router read delays off the distances).
    weights_are_delays = True

    def edge_weights(self, delay_ms: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """The delays themselves."""
        return np.asarray(delay_ms, float)

    def usable_gateways(self, gateway_country: np.ndarray) -> np.ndarray:
        """All gateways."""
        return np.ones(len(gateway_country), bool)


@dataclass(frozen=True)
class FewestHops:
    """Fewest links; among equal hop counts, the lowest delay.

    Weight = 1 + ``tie_break_per_ms`` x delay. With the default 1e-6 per ms the delay term of a
    whole path stays far below one hop for any path under 1e5 ms.
    """

    tie_break_per_ms: float = 1e-6
    weights_are_delays = False

    def edge_weights(self, delay_ms: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """1 per link plus a small delay term."""
        return 1.0 + self.tie_break_per_ms * np.asarray(delay_ms, float)

    def usable_gateways(self, gateway_country: np.ndarray) -> np.ndarray:
        """All gateways."""
        return np.ones(len(gateway_country), bool)


@dataclass(frozen=True)
class AllowedGatewayCountries:
    """Policy hook: only gateways in ``allowed`` countries (ISO alpha-2) carry traffic.

    Wraps another strategy (``inner``, default `MinimumDelay`) for the weights.

    >>> AllowedGatewayCountries({"pl", "LT"}).allowed == frozenset({"PL", "LT"})
    True
    """

    allowed: frozenset[str]
    inner: RoutingStrategy = MinimumDelay()

    def __init__(self, allowed: Iterable[str], inner: RoutingStrategy | None = None) -> None:
        codes = []
        for c in allowed:
            text = str(c).strip().upper()
            if len(text) != 2 or not text.isalpha():
                raise PolicyError(f"allowed gateway country must be an ISO alpha-2 code, got "
                                  f"{c!r}", "allowed_countries")
            codes.append(text)
        object.__setattr__(self, "allowed", frozenset(codes))
        object.__setattr__(self, "inner", inner if inner is not None else MinimumDelay())

    @property
    def weights_are_delays(self) -> bool:
        """As the inner strategy."""
        return _weights_are_delays(self.inner)

    def edge_weights(self, delay_ms: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """The inner strategy's weights."""
        return self.inner.edge_weights(delay_ms, kind)

    def usable_gateways(self, gateway_country: np.ndarray) -> np.ndarray:
        """Gateways in the allowed countries (and usable by the inner strategy)."""
        countries = np.asarray(gateway_country).astype(str)
        ok = np.isin(countries, sorted(self.allowed))
        return ok & self.inner.usable_gateways(countries)


# --- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class UserPaths:
    """Per-user routes at one step (all arrays shape (n_user,)).

    Attributes
    ----------
    serving_sat : int64, satellite index (-1 = none)
    access_km : float64, slant range user -> serving satellite, km (NaN = none)
    gateway : int64, gateway index (-1 = unserved)
    pop : int64, PoP index (-1 = unserved)
    n_laser_hops : int64, laser links on the path (-1 = unserved); 0 = bent pipe
    n_links : int64, all links including the access link (0 = unserved)
    propagation_ms : float64, one-way propagation delay (NaN = unserved)
    rtt_ms : float64, 2 x (propagation + processing per link) (NaN = unserved)
    path_id : uint64, hash of the node sequence (0 = unserved); changes when the path changes
    status : int8, `STATUS_SERVED`, `STATUS_NO_SATELLITE` or `STATUS_NO_ROUTE`
    home_pop_used : bool, True where the PoP is the user's home PoP
    """

    serving_sat: np.ndarray
    access_km: np.ndarray
    gateway: np.ndarray
    pop: np.ndarray
    n_laser_hops: np.ndarray
    n_links: np.ndarray
    propagation_ms: np.ndarray
    rtt_ms: np.ndarray
    path_id: np.ndarray
    status: np.ndarray
    home_pop_used: np.ndarray

    @property
    def served(self) -> np.ndarray:
        """Bool (n_user,): a path to a PoP exists."""
        return self.status == STATUS_SERVED

    @property
    def bent_pipe(self) -> np.ndarray:
        """Bool (n_user,): served without lasers."""
        return self.served & (self.n_laser_hops == 0)

    def __len__(self) -> int:
        return int(self.serving_sat.size)


@dataclass(frozen=True)
class SitePaths:
    """Site-to-site routes at one step.

    Attributes
    ----------
    sources : int64 (n_src,), site indices of the rows
    rtt_ms : float64 (n_src, n_site), NaN where unreachable; 0 from a site to itself
    one_way_ms : float64 (n_src, n_site), propagation + processing, one way
    n_laser_hops : int64 (n_src, n_site), -1 where unreachable or with_hops was off
    """

    sources: np.ndarray
    rtt_ms: np.ndarray
    one_way_ms: np.ndarray
    n_laser_hops: np.ndarray


# --- router ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Graph:
    csr: sp.csr_matrix
    keys: np.ndarray      # sorted src * n + dst
    delay_ms: np.ndarray  # propagation only, aligned with keys
    kind: np.ndarray
    n: int


def _graph(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray, delay_ms: np.ndarray,
           kind: np.ndarray) -> _Graph:
    csr = sp.csr_matrix((weight, (src, dst)), shape=(n, n))
    keys = src.astype(np.int64) * n + dst
    order = np.argsort(keys, kind="stable")
    return _Graph(csr, keys[order], delay_ms[order], kind[order], n)


# Bucket queue for the compiled Dijkstra when the weights allow it: at most this many buckets
# span the largest edge weight (else the heap is used).
_MAX_BUCKET_SLOTS = 1 << 16


@dataclass(frozen=True)
class _CGraph:
    """A graph for the compiled backend: per-edge arrays and a CSR index by source node.

    ``delta`` > 0: the bucket width of the compiled Dijkstra (just under the smallest weight),
    with ``n_slots`` buckets; 0: weights allow no buckets (a zero weight, or too wide a range),
    the binary heap is used.
    """

    n: int
    dst: np.ndarray       # (n_edge,) int64
    weight: np.ndarray    # (n_edge,) strategy weights
    delay_ms: np.ndarray  # (n_edge,) propagation only
    indptr: np.ndarray    # (n + 1,)
    eid: np.ndarray       # edge ids grouped by source node
    delta: float
    n_slots: int

    @property
    def search_args(self) -> tuple:
        """The graph arguments of the compiled searches."""
        return self.indptr, self.eid, self.dst, self.weight, self.delta, self.n_slots


def _cgraph(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray,
            delay_ms: np.ndarray) -> _CGraph:
    kern = _compiled()
    assert kern is not None
    src = np.ascontiguousarray(src, np.int64)
    dst = np.ascontiguousarray(dst, np.int64)
    w = np.ascontiguousarray(weight, float)
    indptr, eid = kern[0].csr(n, src, dst)
    delta, n_slots = 0.0, 1
    if w.size:
        w_min, w_max = float(w.min()), float(w.max())
        if w_min > 0.0 and np.isfinite(w_max) and w_max / w_min < _MAX_BUCKET_SLOTS - 2:
            delta = w_min * (1.0 - 1e-9)
            n_slots = int(w_max / delta) + 2
    return _CGraph(n, dst, w, np.ascontiguousarray(delay_ms, float), indptr, eid, delta,
                   n_slots)


def _walk(g: _Graph, pred: np.ndarray, tree: np.ndarray, start: np.ndarray, n_sat: int,
          gw_lo: int, gw_hi: int, lookup_delay: bool) -> tuple[np.ndarray, ...]:
    """Walk predecessor trees from ``start`` nodes to their roots, all at once.

    ``pred`` is (n_tree, n); ``tree`` and ``start`` are (m,). A link is a laser when both ends
    are satellites (nodes below ``n_sat``). Returns per start: summed propagation delay (ms;
    zeros unless ``lookup_delay``), laser links, all links, the gateway node passed (-1 if
    none; gateways are nodes in ``[gw_lo, gw_hi)``) and a hash of the node sequence.
    """
    m = start.size
    n = pred.shape[1]
    flat = pred.ravel()
    base = tree.astype(np.int64) * n
    delay = np.zeros(m)
    n_laser = np.zeros(m, np.int64)
    n_links = np.zeros(m, np.int64)
    gw = np.full(m, -1, np.int64)
    cur = start.astype(np.int64).copy()
    h = (np.full(m, _FNV_OFFSET, np.uint64) ^ cur.astype(np.uint64)) * _FNV_PRIME
    p_all = flat[base + cur].astype(np.int64)
    active = np.flatnonzero(p_all >= 0)
    p = p_all[active]
    while active.size:
        c = cur[active]
        if lookup_delay:
            pos = np.searchsorted(g.keys, p * g.n + c)
            delay[active] += g.delay_ms[pos]
        n_laser[active] += (p < n_sat) & (c < n_sat)
        n_links[active] += 1
        if gw_hi > gw_lo:
            is_gw = (p >= gw_lo) & (p < gw_hi)
            gw[active[is_gw]] = p[is_gw]
        h[active] = (h[active] ^ p.astype(np.uint64)) * _FNV_PRIME
        cur[active] = p
        nxt = flat[base[active] + p].astype(np.int64)
        keep = nxt >= 0
        active, p = active[keep], nxt[keep]
    return delay, n_laser, n_links, gw, h


def _weights_are_delays(strategy: RoutingStrategy) -> bool:
    return bool(getattr(strategy, "weights_are_delays", False))


def _segment_argmin(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Index of the first minimum of each segment ``values[starts[i]:starts[i+1]]``; -1 where
    the minimum is infinite."""
    mins = np.minimum.reduceat(values, starts)
    counts = np.diff(np.r_[starts, values.size])
    hit = np.flatnonzero(values == np.repeat(mins, counts))
    first = hit[np.searchsorted(hit, starts)] if hit.size else np.zeros(0, np.int64)
    return np.where(np.isfinite(mins), first, -1)


class _PopSearch:
    """Shortest-path trees rooted at PoPs for one snapshot and router, computed on demand.

    Rows of ``dist``/``pred``: one per home PoP searched, then (once) the multi-source tree of
    all PoPs that are up (``fallback_src`` holds its source node per node). With the compiled
    backend ``pred_edge`` holds the edge each node was reached by (for `walk`).
    """

    def __init__(self, router: Router, snap: Snapshot) -> None:
        self.snap = snap
        self.router = router
        self.compiled = router.backend == "numba"
        n = snap.n_nodes
        if self.compiled:
            src, dst, delay, kind = router._pop_edges(snap)
            self.cg = _cgraph(n, src, dst, router._weights(delay, kind), delay)
        else:
            self.g = router.pop_graph(snap)
        self.pop0 = snap.n_sat + snap.n_gw
        self.row_of_pop = np.full(snap.n_pop, -1, np.int64)
        self.dist = np.zeros((0, n))
        self.pred = np.zeros((0, n), np.int64 if self.compiled else np.int32)
        self.pred_edge = np.zeros((0, n), np.int64)
        self.fallback_row = -1
        self.fallback_src = np.zeros(0, np.int64)

    def _append(self, d: np.ndarray, p: np.ndarray, pe: np.ndarray | None = None) -> int:
        first = self.dist.shape[0]
        self.dist = np.concatenate([self.dist, d])
        self.pred = np.concatenate([self.pred, p.astype(self.pred.dtype)])
        if pe is not None:
            self.pred_edge = np.concatenate([self.pred_edge, pe])
        return first

    def ensure_homes(self, pops: np.ndarray) -> None:
        """Search from each PoP in ``pops`` not searched yet."""
        new = pops[self.row_of_pop[pops] < 0] if pops.size else pops
        if new.size:
            roots = (self.pop0 + new).astype(np.int64)
            if self.compiled:
                paths, threads = _compiled()  # type: ignore[misc]
                n = self.snap.n_nodes
                d = np.empty((roots.size, n))
                p = np.empty((roots.size, n), np.int64)
                pe = np.empty((roots.size, n), np.int64)
                cg = self.cg
                threads.run_chunks(paths.trees, min(self.router.n_threads, roots.size),
                                   *cg.search_args, roots, d, p, pe)
                first = self._append(d, p, pe)
            else:
                d, p = dijkstra(self.g.csr, indices=roots, return_predecessors=True)
                first = self._append(d, p)
            self.row_of_pop[new] = first + np.arange(new.size)

    def ensure_fallback(self) -> int:
        """Row of the tree grown from every PoP that is up at once."""
        if self.fallback_row < 0:
            up = np.flatnonzero(self.snap.pop_up)
            roots = (self.pop0 + up).astype(np.int64)
            if self.compiled:
                paths, _ = _compiled()  # type: ignore[misc]
                cg = self.cg
                n = self.snap.n_nodes
                d = np.full(n, np.inf)
                p = np.full(n, -1, np.int64)
                pe = np.full(n, -1, np.int64)
                src = np.full(n, -1, np.int64)
                paths.search(cg.indptr, cg.eid, cg.dst, cg.weight, roots, np.zeros(0, bool), 0,
                             d, p, pe, src, cg.delta, cg.n_slots,
                             *paths.buffers(n, cg.dst.size, roots.size, cg.n_slots))
                self.fallback_row = self._append(d[None, :], p[None, :], pe[None, :])
            else:
                d, p, src = dijkstra(self.g.csr, indices=roots, min_only=True,
                                     return_predecessors=True)
                self.fallback_row = self._append(d[None, :], p[None, :])
            self.fallback_src = src.astype(np.int64)
        return self.fallback_row

    def walk(self, tree: np.ndarray, start: np.ndarray, lookup_delay: bool
             ) -> tuple[np.ndarray, ...]:
        """Per (tree row, start node): delay, laser links, links, gateway node, path hash."""
        ns, ng = self.snap.n_sat, self.snap.n_gw
        if not self.compiled:
            return _walk(self.g, self.pred, tree, start, ns, ns, ns + ng, lookup_delay)
        paths, _ = _compiled()  # type: ignore[misc]
        m = start.size
        out = (np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64),
               np.empty(m, np.int64), np.empty(m, np.uint64))
        paths.walk_many(self.pred, self.pred_edge, self.cg.delay_ms,
                        np.ascontiguousarray(tree, np.int64),
                        np.ascontiguousarray(start, np.int64), ns, ns, ns + ng, *out)
        return out

    def nodes(self, tree: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Node sequences from each ``start`` node to its tree's root (the same predecessor
        rows `walk` reads), as an (m, L) int64 array padded with -1 (a vectorized walk, one
        step of every path at a time; both backends keep ``pred``)."""
        start = np.asarray(start, np.int64)
        tree = np.asarray(tree, np.int64)
        m = start.size
        cols = [start.copy()]
        cur = start.copy()
        active = np.arange(m)
        while active.size:
            p = self.pred[tree[active], cur[active]].astype(np.int64)
            keep = p >= 0
            active, p = active[keep], p[keep]
            if not active.size:
                break
            col = np.full(m, -1, np.int64)
            col[active] = p
            cur[active] = p
            cols.append(col)
        return np.stack(cols, axis=1) if m else np.zeros((0, 1), np.int64)


@dataclass(frozen=True)
class Router:
    """Shortest-path routing with a pluggable strategy.

    Parameters
    ----------
    strategy : RoutingStrategy
        Edge weights and usable gateways (default `MinimumDelay`).
    processing_ms_per_hop : float
        Processing time added per link traversed, ms, each direction (>= 0).
    pop_fallback : bool
        Route users whose home PoP is down or unreachable to the best other PoP that is up.
    backend : {"numba", "scipy"}, optional
        Shortest-path implementation (module docstring): default numba when it imports, else
        scipy (with a logged notice). Both give the same paths.
    threads : int, optional
        Threads for searches from several roots (compiled backend); default
        ``NUMBA_NUM_THREADS`` (every core), never more.
    """

    strategy: RoutingStrategy = MinimumDelay()
    processing_ms_per_hop: float = 0.0
    pop_fallback: bool = True
    backend: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.processing_ms_per_hop) and self.processing_ms_per_hop >= 0):
            raise InputError(f"processing_ms_per_hop must be >= 0, got "
                             f"{self.processing_ms_per_hop}", "processing_ms_per_hop")
        if not isinstance(self.strategy, RoutingStrategy):
            raise InputError("strategy must provide edge_weights() and usable_gateways()",
                             "strategy")
        if self.threads is not None and (isinstance(self.threads, bool) or not (
                isinstance(self.threads, int | np.integer) and self.threads >= 1)):
            raise InputError(f"threads must be an integer >= 1, got {self.threads!r}",
                             "threads")
        object.__setattr__(self, "backend", _resolve_backend(self.backend))

    @property
    def n_threads(self) -> int:
        """Threads used by the compiled backend."""
        kern = _compiled()
        cap = kern[1].max_threads() if kern is not None else 1
        return cap if self.threads is None else min(int(self.threads), cap)

    def _weights(self, delay_ms: np.ndarray, kind: np.ndarray) -> np.ndarray:
        w = np.asarray(self.strategy.edge_weights(delay_ms + self.processing_ms_per_hop, kind),
                       float)
        if w.shape != delay_ms.shape or not np.all(w >= 0):
            raise InputError("strategy weights must be >= 0 with one weight per edge",
                             "strategy")
        return w

    def pop_graph(self, snap: Snapshot) -> _Graph:
        """The directed graph searched from PoPs: PoP -> gateway -> satellite <-> satellite.

        Edges into a gateway or PoP do not exist, so ground nodes are never transit.
        """
        src, dst, delay, kind = self._pop_edges(snap)
        return _graph(snap.n_nodes, src, dst, self._weights(delay, kind), delay, kind)

    def _pop_edges(self, snap: Snapshot
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Edges of `pop_graph`: source and destination nodes, delay (ms), kind."""
        ns, ng = snap.n_sat, snap.n_gw
        usable = snap.gateway_up & np.asarray(
            self.strategy.usable_gateways(snap.gateway_country), bool)
        fk = usable[snap.feeder_gw]
        fo = usable[snap.fibre_gw]
        lp = snap.laser_pairs
        src = np.concatenate([lp[:, 0], lp[:, 1], ns + snap.feeder_gw[fk],
                              ns + ng + snap.fibre_pop[fo]])
        dst = np.concatenate([lp[:, 1], lp[:, 0], snap.feeder_sat[fk], ns + snap.fibre_gw[fo]])
        delay = np.concatenate([snap.laser_ms, snap.laser_ms, snap.feeder_ms[fk],
                                snap.fibre_ms[fo]])
        kind = np.concatenate([np.full(2 * lp.shape[0], KIND_LASER, np.int8),
                               np.full(int(fk.sum()), KIND_FEEDER, np.int8),
                               np.full(int(fo.sum()), KIND_FIBRE, np.int8)])
        return src.astype(np.int64), dst.astype(np.int64), delay, kind

    def _search(self, snap: Snapshot) -> _PopSearch:
        """The PoP-rooted searches of ``snap`` for this router (cached on the snapshot)."""
        try:
            key = ("pop-search", self)
            hash(key)
        except TypeError:  # an unhashable user strategy: no caching
            return _PopSearch(self, snap)
        search = snap.cache.get(key)
        if search is None:
            search = snap.cache[key] = _PopSearch(self, snap)
        return search

    def to_pops(
        self,
        snap: Snapshot,
        serving_sat: ArrayLike,
        access_km: ArrayLike,
        home_pop: ArrayLike,
    ) -> UserPaths:
        """Route every user from its serving satellite to its PoP.

        Parameters
        ----------
        snap : Snapshot
        serving_sat : int array (n_user,)
            Serving satellite index per user (-1 = not covered), e.g. from the coverage stage.
        access_km : float array (n_user,)
            Slant range user -> serving satellite, km (ignored where serving_sat is -1).
        home_pop : int array (n_user,) or int
            Home PoP index per user (`Sites.home_pop`).

        Returns
        -------
        UserPaths
        """
        sat = np.atleast_1d(np.asarray(serving_sat, np.int64))
        n_user = sat.size
        acc = np.broadcast_to(np.asarray(access_km, float), (n_user,))
        home = np.broadcast_to(np.asarray(home_pop, np.int64), (n_user,))
        ns, npop = snap.n_sat, snap.n_pop
        if sat.size and (sat.max() >= ns or sat.min() < -1):
            raise InputError(f"serving satellite index out of range [-1, {ns - 1}]",
                             "serving_sat")
        if home.size and (home.min() < 0 or home.max() >= npop):
            raise InputError(f"home PoP index out of range [0, {npop - 1}]", "home_pop")
        covered = sat >= 0
        if np.any(covered & ~np.isfinite(acc)):
            raise InputError("access_km must be finite for covered users", "access_km")
        search = self._search(snap)
        acc_ms = np.where(covered, acc, 0.0) / SPEED_OF_LIGHT_KM_S * 1e3

        # Home PoPs first (one search per distinct home PoP that is up), then the fallback.
        tree = np.full(n_user, -1, np.int64)
        pop = np.full(n_user, -1, np.int64)
        homes = np.unique(home[covered])
        homes = homes[snap.pop_up[homes]] if homes.size else homes
        search.ensure_homes(homes)
        row = search.row_of_pop[home]
        via_home = covered & (row >= 0)
        if via_home.any():
            reach = np.isfinite(search.dist[row[via_home], sat[via_home]])
            idx = np.flatnonzero(via_home)[reach]
            tree[idx], pop[idx] = row[idx], home[idx]
        need = covered & (tree < 0)
        if self.pop_fallback and need.any() and snap.pop_up.any():
            k = search.ensure_fallback()
            reach = np.isfinite(search.dist[k, sat[need]])
            idx = np.flatnonzero(need)[reach]
            tree[idx], pop[idx] = k, search.fallback_src[sat[idx]] - search.pop0
        routed = tree >= 0
        out_gw = np.full(n_user, -1, np.int64)
        n_laser = np.full(n_user, -1, np.int64)
        n_links = np.zeros(n_user, np.int64)
        prop = np.full(n_user, np.nan)
        path_id = np.zeros(n_user, np.uint64)
        if routed.any():
            # Walk each distinct (tree, satellite) once.
            key = tree[routed] * ns + sat[routed]
            ukey, inv = np.unique(key, return_inverse=True)
            ut, us = ukey // ns, ukey % ns
            exact = _weights_are_delays(self.strategy)
            dly, nl, nk, gwn, h = search.walk(ut, us, not exact)
            if exact:
                dly = search.dist[ut, us] - self.processing_ms_per_hop * nk
            ridx = np.flatnonzero(routed)
            out_gw[ridx] = gwn[inv] - ns
            n_laser[ridx] = nl[inv]
            n_links[ridx] = nk[inv] + 1
            prop[ridx] = dly[inv] + acc_ms[ridx]
            path_id[ridx] = h[inv]
        status = np.where(routed, STATUS_SERVED,
                          np.where(covered, STATUS_NO_ROUTE, STATUS_NO_SATELLITE)).astype(np.int8)
        rtt = 2.0 * (prop + self.processing_ms_per_hop * n_links)
        return UserPaths(
            serving_sat=np.where(covered, sat, -1), access_km=np.where(covered, acc, np.nan),
            gateway=out_gw, pop=pop,
            n_laser_hops=n_laser, n_links=n_links, propagation_ms=prop,
            rtt_ms=np.where(routed, rtt, np.nan), path_id=path_id, status=status,
            home_pop_used=routed & (pop == home),
        )

    def path_node_table(
        self,
        snap: Snapshot,
        serving_sat: ArrayLike,
        pop: ArrayLike,
        home_pop: ArrayLike | None = None,
    ) -> np.ndarray:
        """Node sequences of the paths `to_pops` chose, padded: (n, L) int64, -1 after the end.

        Row i is ``serving_sat[i] -> (lasers) -> gateway -> pop[i]`` in `Snapshot` numbering
        (satellites ``0..n_sat-1``, gateways ``n_sat + g``, PoPs ``n_sat + n_gw + p``), read
        from the same shortest-path trees `to_pops` grew for ``snap`` (cached on the snapshot;
        a search is run only if `to_pops` has not run it yet), so the sequence is the one whose
        gateway, laser hops, links, delay and ``path_id`` `UserPaths` reports.

        Parameters
        ----------
        snap : Snapshot
            The snapshot given to `to_pops` (with its availability).
        serving_sat, pop : int arrays (n,)
            `UserPaths.serving_sat` and `UserPaths.pop` (-1 = unserved: a row of -1).
        home_pop : int array (n,) or int, optional
            The users' home PoPs as given to `to_pops`: where ``pop`` differs, the path is the
            fallback tree's. Default: ``pop`` (users routed to their home PoP).

        Returns
        -------
        int64 (n, L), ``L >= 1``; a row of -1 where no path of `to_pops` serves that
        satellite at that PoP (unserved, unreachable, or a PoP the router would not use).
        """
        sat = np.atleast_1d(np.asarray(serving_sat, np.int64))
        n = sat.size
        p = np.broadcast_to(np.asarray(pop, np.int64), (n,))
        home = p if home_pop is None else np.broadcast_to(np.asarray(home_pop, np.int64), (n,))
        ns, npop = snap.n_sat, snap.n_pop
        if n and (sat.max() >= ns or sat.min() < -1):
            raise InputError(f"serving satellite index out of range [-1, {ns - 1}]",
                             "serving_sat")
        if n and (p.max() >= npop or p.min() < -1):
            raise InputError(f"PoP index out of range [-1, {npop - 1}]", "pop")
        if home_pop is not None and n and (home.min() < 0 or home.max() >= npop):
            raise InputError(f"home PoP index out of range [0, {npop - 1}]", "home_pop")
        out = np.full((n, 1), -1, np.int64)
        ok = (sat >= 0) & (p >= 0)
        if not ok.any():
            return out
        search = self._search(snap)
        tree = np.full(n, -1, np.int64)
        pc = np.where(ok, p, 0)
        # Home trees: the user's own PoP, up, searched from (as in `to_pops`).
        via_home = ok & (p == home) & snap.pop_up[pc]
        if via_home.any():
            search.ensure_homes(np.unique(p[via_home]))
            idx = np.flatnonzero(via_home)
            row = search.row_of_pop[p[idx]]
            reach = np.isfinite(search.dist[row, sat[idx]])
            tree[idx[reach]] = row[reach]
        # The fallback tree: the PoP it labels the satellite with must be the one asked for.
        need = ok & (p != home)
        if need.any() and self.pop_fallback and snap.pop_up.any():
            k = search.ensure_fallback()
            idx = np.flatnonzero(need)
            reach = (np.isfinite(search.dist[k, sat[idx]])
                     & (search.fallback_src[sat[idx]] == search.pop0 + p[idx]))
            tree[idx[reach]] = k
        got = np.flatnonzero(tree >= 0)
        if not got.size:
            return out
        nodes = search.nodes(tree[got], sat[got])
        out = np.full((n, nodes.shape[1]), -1, np.int64)
        out[got] = nodes
        return out

    def path_nodes(self, snap: Snapshot, serving_sat: int, pop: int,
                   home_pop: int | None = None) -> list[int]:
        """The node sequence ``serving satellite -> ... -> gateway -> PoP`` (`Snapshot`
        numbering) of the path `to_pops` chose for a user served by ``serving_sat`` at
        ``pop`` (``home_pop``: the user's home PoP when it differs, i.e. a fallback route);
        empty when there is none. One row of `path_node_table`.
        """
        row = self.path_node_table(snap, [int(serving_sat)], [int(pop)],
                                   None if home_pop is None else [int(home_pop)])[0]
        return [int(x) for x in row[row >= 0]]

    def choose_serving(
        self,
        snap: Snapshot,
        n_user: int,
        cand_user: ArrayLike,
        cand_sat: ArrayLike,
        cand_km: ArrayLike,
        home_pop: ArrayLike,
        *,
        score: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pick each user's serving satellite among candidates that have a route to a PoP.

        Candidates that reach the user's home PoP are preferred (then, with ``pop_fallback``,
        those reaching another PoP that is up, as in `to_pops`). Among them the lowest
        ``score`` wins (e.g. minus elevation), then the lowest satellite index; without
        ``score`` the lowest RTT.

        Parameters
        ----------
        snap : Snapshot
        n_user : int
        cand_user, cand_sat, cand_km : arrays (n_cand,)
            Candidate (user, satellite) pairs and slant ranges (km), e.g. every satellite above
            the user's mask from `topology.visible_pairs`.
        home_pop : int array (n_user,) or int
        score : float array (n_cand,), optional

        Returns
        -------
        serving_sat : int64 (n_user,), -1 where no candidate has a route
        access_km : float64 (n_user,), NaN where none
        """
        cu = np.asarray(cand_user, np.int64)
        cs = np.asarray(cand_sat, np.int64)
        ck = np.asarray(cand_km, float)
        home = np.broadcast_to(np.asarray(home_pop, np.int64), (n_user,))
        serving = np.full(n_user, -1, np.int64)
        access = np.full(n_user, np.nan)
        if cu.size == 0:
            return serving, access
        if not (cu.shape == cs.shape == ck.shape) or cu.min() < 0 or cu.max() >= n_user:
            raise InputError("candidate arrays must have one shape and valid user indices",
                             "candidates")
        sc = None if score is None else np.asarray(score, float)
        if self.backend == "numba":
            return self._choose_compiled(snap, n_user, cu, cs, ck, home, sc, serving, access)
        if np.any(np.diff(cu) < 0) or np.any((np.diff(cu) == 0) & (np.diff(cs) < 0)):
            order = np.lexsort((cs, cu))
            cu, cs, ck = cu[order], cs[order], ck[order]
            sc = None if sc is None else sc[order]
        search = self._search(snap)
        acc_w = self._weights(ck / SPEED_OF_LIGHT_KM_S * 1e3, np.full(ck.size, KIND_ACCESS,
                                                                         np.int8))
        homes = np.unique(home[cu])
        homes = homes[snap.pop_up[homes]]
        search.ensure_homes(homes)
        row = search.row_of_pop[home[cu]]
        cost_home = np.full(cu.size, np.inf)
        ok = row >= 0
        cost_home[ok] = search.dist[row[ok], cs[ok]] + acc_w[ok]
        starts = np.flatnonzero(np.r_[True, cu[1:] != cu[:-1]])
        users = cu[starts]
        pick = _segment_argmin(np.where(np.isfinite(cost_home),
                                        cost_home if sc is None else sc, np.inf), starts)
        if self.pop_fallback and snap.pop_up.any() and np.any(pick < 0):
            k = search.ensure_fallback()
            cost_fb = search.dist[k, cs] + acc_w
            # Only users without a home route fall back.
            no_home = np.repeat(pick < 0, np.diff(np.r_[starts, cu.size]))
            val = np.where(no_home & np.isfinite(cost_fb), cost_fb if sc is None else sc, np.inf)
            fb = _segment_argmin(val, starts)
            pick = np.where(pick < 0, fb, pick)
        got = pick >= 0
        serving[users[got]] = cs[pick[got]]
        access[users[got]] = ck[pick[got]]
        return serving, access

    def _choose_compiled(self, snap: Snapshot, n_user: int, cu: np.ndarray, cs: np.ndarray,
                         ck: np.ndarray, home: np.ndarray, sc: np.ndarray | None,
                         serving: np.ndarray, access: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """`choose_serving` with the compiled backend: one pass over the candidates."""
        paths, _ = _compiled()  # type: ignore[misc]
        if cs.shape != cu.shape or (sc is not None and sc.shape != cu.shape):
            raise InputError("candidate arrays must have one shape", "candidates")
        ordered, starts = paths.segments(cu, cs)
        if not ordered:
            order = np.lexsort((cs, cu))
            cu, cs, ck = cu[order], cs[order], ck[order]
            sc = None if sc is None else sc[order]
            _, starts = paths.segments(cu, cs)
        search = self._search(snap)
        acc_w = self._weights(ck / SPEED_OF_LIGHT_KM_S * 1e3,
                              np.full(ck.size, KIND_ACCESS, np.int8))
        users = cu[starts]
        homes = np.unique(home[users])
        homes = homes[snap.pop_up[homes]]
        search.ensure_homes(homes)
        pick = np.empty(starts.size, np.int64)
        score = np.zeros(0) if sc is None else np.ascontiguousarray(sc)
        paths.pick_home(starts, cu, cs, acc_w, np.ascontiguousarray(home), search.row_of_pop,
                        search.dist, score, sc is not None, pick)
        if self.pop_fallback and snap.pop_up.any() and np.any(pick < 0):
            k = search.ensure_fallback()
            paths.pick_fallback(starts, cs, acc_w, search.dist[k], score, sc is not None, pick)
        got = pick >= 0
        serving[users[got]] = cs[pick[got]]
        access[users[got]] = ck[pick[got]]
        return serving, access

    def between_sites(
        self,
        snap: Snapshot,
        n_site: int,
        link_site: ArrayLike,
        link_sat: ArrayLike,
        link_km: ArrayLike,
        *,
        sources: ArrayLike | None = None,
        with_hops: bool = True,
    ) -> SitePaths:
        """Shortest paths between ground sites through the satellites (no ground relays).

        Parameters
        ----------
        snap : Snapshot
            Only its satellites and lasers are used.
        n_site : int
        link_site, link_sat, link_km : arrays (n_link,)
            Ground-satellite links (e.g. every satellite each site sees, from
            `topology.visible_pairs`), km slant range.
        sources : int array, optional
            Source sites (default all).
        with_hops : bool
            Also count laser hops (a vectorized walk of the predecessor arrays).
        """
        ns = snap.n_sat
        ls = np.asarray(link_site, np.int64)
        lt = np.asarray(link_sat, np.int64)
        lk = np.asarray(link_km, float)
        if not (ls.shape == lt.shape == lk.shape):
            raise InputError("link_site, link_sat and link_km must have the same shape",
                             "site links")
        if ls.size and (ls.min() < 0 or ls.max() >= n_site or lt.min() < 0 or lt.max() >= ns):
            raise InputError("site link index out of range", "site links")
        src_sites = np.arange(n_site) if sources is None else np.asarray(sources, np.int64)
        n = ns + 2 * n_site
        lp = snap.laser_pairs
        acc_ms = lk / SPEED_OF_LIGHT_KM_S * 1e3
        src = np.concatenate([lp[:, 0], lp[:, 1], ns + ls, lt])
        dst = np.concatenate([lp[:, 1], lp[:, 0], lt, ns + n_site + ls])
        delay = np.concatenate([snap.laser_ms, snap.laser_ms, acc_ms, acc_ms])
        kind = np.concatenate([np.full(2 * lp.shape[0], KIND_LASER, np.int8),
                               np.full(2 * ls.size, KIND_ACCESS, np.int8)])
        weight = self._weights(delay, kind)
        targets = ns + n_site + np.arange(n_site)
        n_src = src_sites.size
        hops = np.full((n_src, n_site), -1, np.int64)
        exact = _weights_are_delays(self.strategy)
        if self.backend == "numba":
            paths, threads = _compiled()  # type: ignore[misc]
            cg = _cgraph(n, src, dst, weight, delay)
            is_target = np.zeros(n, bool)
            is_target[targets] = True
            dist = np.full((n_src, n_site), np.inf)
            nl = np.zeros((n_src, n_site), np.int64)
            nk = np.zeros((n_src, n_site), np.int64)
            dly = np.zeros((n_src, n_site))
            roots = (ns + src_sites).astype(np.int64)
            threads.run_chunks(paths.site_rows, max(1, min(self.n_threads, n_src)),
                               *cg.search_args, cg.delay_ms, roots, targets, is_target, ns,
                               with_hops or not exact, dist, nl, nk, dly)
            reach = np.isfinite(dist)
            if exact:
                one_way = np.where(reach, dist, np.nan)
            else:
                one_way = np.where(reach, dly + self.processing_ms_per_hop * nk, np.nan)
            if with_hops:
                hops = np.where(reach, nl, -1)
        elif not with_hops and exact:
            # The weights are the one-way delays themselves (processing included).
            g = _graph(n, src, dst, weight, delay, kind)
            w = dijkstra(g.csr, indices=ns + src_sites)[:, targets]
            one_way = np.where(np.isfinite(w), w, np.nan)
        else:
            g = _graph(n, src, dst, weight, delay, kind)
            d, p = dijkstra(g.csr, indices=ns + src_sites, return_predecessors=True)
            ri, rj = np.nonzero(np.isfinite(d[:, targets]))
            dly, nl, nk, _, _ = _walk(g, p, ri, targets[rj], ns, 0, 0, not exact)
            one_way = np.full((n_src, n_site), np.nan)
            one_way[ri, rj] = d[ri, targets[rj]] if exact else (
                dly + self.processing_ms_per_hop * nk)
            hops[ri, rj] = nl
        rows = np.arange(n_src)
        one_way[rows, src_sites] = 0.0
        hops[rows, src_sites] = 0
        return SitePaths(sources=src_sites, rtt_ms=2.0 * one_way, one_way_ms=one_way,
                         n_laser_hops=hops)
