"""The network stage: paths and RTT from every ground point to its home PoP.

On a sub-grid of the steps (``network.rtt_every``, aligned to the window start) each point is
attached to a satellite in view (``network.serving``: ``min-rtt`` — lowest RTT to its home PoP,
as a latency-minimising scheduler would; ``highest-routable``; ``highest`` — highest in view
even without a route; or ``coverage`` — the coverage stage's serving satellite) among the
coverage kernel's usable pairs of the step (no second visibility pass), and routed over the
step's graph (feeder links to gateways, lasers, fibre to PoPs) by `skyfence.network.Router`.
Only points the policy serves count. With ``network.outages`` the scenario's case (sites down)
is routed and reported, and the baseline (all sites up) beside it for the what-if tables.

RTT statistics
--------------
- terminals: exact percentiles of their per-step values;
- cells: exact percentiles (float32 samples, 1e-7 relative) when the samples fit in the
  memory budget, otherwise left out with a note in the report;
- regions: area-weighted percentiles from per-region histograms in 0.01 ms bins (a sparse
  map of (region, bin) -> area x steps), exact to 0.005 ms at any number of points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..ground import get_catalogue
from ..network import (
    AllowedGatewayCountries,
    Candidates,
    FewestHops,
    GivenServing,
    GroundUsers,
    HighestElevation,
    MinimumDelay,
    MinimumRtt,
    NearestNeighbourLasers,
    NetworkMetrics,
    Outage,
    PlusGrid,
    Router,
    RoutingStrategy,
    Sites,
    TopologyConfig,
    UnionLasers,
    UserPaths,
    availability,
    build_snapshot,
    laser_capable_by_launch_year,
    load_sites,
    parse_outage,
    world_sites,
)
from ..network.latency import DEFAULT_LATENCY_MODEL, LatencyModel
from ..network.topology import LaserTopology
from .protocol import StepData

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["NetworkPart", "NetworkStage", "RegionHistogram", "weighted_hist_percentiles"]

#: Width of the region RTT histogram bins, ms.
RTT_BIN_MS = 0.01


@dataclass(frozen=True)
class RegionHistogram:
    """Sparse per-region RTT histogram: sorted keys ``region * n_bins + bin`` and their
    weights (km^2 x steps). Merges by adding weights of equal keys."""

    keys: np.ndarray
    weights: np.ndarray

    @classmethod
    def empty(cls) -> RegionHistogram:
        return cls(np.zeros(0, np.int64), np.zeros(0))

    @classmethod
    def of(cls, keys: np.ndarray, weights: np.ndarray) -> RegionHistogram:
        if keys.size == 0:
            return cls.empty()
        u, inv = np.unique(keys, return_inverse=True)
        return cls(u, np.bincount(inv, weights=weights, minlength=u.size))

    def __add__(self, other: RegionHistogram) -> RegionHistogram:
        return RegionHistogram.of(np.concatenate([self.keys, other.keys]),
                                  np.concatenate([self.weights, other.weights]))


def weighted_hist_percentiles(hist: RegionHistogram, n_region: int, n_bins: int,
                              q: tuple[float, ...]) -> np.ndarray:
    """(n_region, len(q)) percentiles (ms) of a `RegionHistogram`: the smallest bin value whose
    cumulative weight share reaches ``q`` percent (NaN for regions without samples)."""
    out = np.full((n_region, len(q)), np.nan)
    if hist.keys.size == 0:
        return out
    reg = hist.keys // n_bins
    val = (hist.keys % n_bins) * RTT_BIN_MS
    starts = np.searchsorted(reg, np.arange(n_region + 1))
    for r in range(n_region):
        a, b = starts[r], starts[r + 1]
        if b <= a:
            continue
        w = hist.weights[a:b]
        cum = np.cumsum(w) / w.sum()
        for k, qq in enumerate(q):
            i = np.searchsorted(cum, qq / 100.0 - 1e-12, side="left")
            out[r, k] = val[a + min(i, b - a - 1)]
    return out


@dataclass(frozen=True)
class NetworkPart:
    """Partial network results of consecutive steps (immutable).

    metrics / base_metrics : per-point counters of the scenario case and of the baseline
        (all sites up; only with outages)
    region_hist / base_region_hist : `RegionHistogram`
    cell_rtt : float32 (n_cell, n_routed) RTT of served cells (NaN otherwise), or None
    t_routed : datetime64[ns] (n_routed,)
    term_* : (n_routed, n_terminal) per-step path of each terminal (-1 / NaN where unserved)
    term_path_len : int32 (n_routed, n_terminal), nodes on each terminal's path (0 = none)
    term_path_nodes : int32 (sum of term_path_len,), the paths' nodes (`Snapshot` numbering:
        satellite -> ... -> gateway -> PoP), step by step, terminals in order
    """

    metrics: NetworkMetrics
    base_metrics: NetworkMetrics | None
    region_hist: RegionHistogram
    base_region_hist: RegionHistogram | None
    cell_rtt: np.ndarray | None
    t_routed: np.ndarray
    term_sat: np.ndarray
    term_gateway: np.ndarray
    term_pop: np.ndarray
    term_hops: np.ndarray
    term_rtt_ms: np.ndarray
    term_rtt_floor_ms: np.ndarray
    term_base_rtt_ms: np.ndarray | None
    term_path_len: np.ndarray
    term_path_nodes: np.ndarray


def scenario_sites(spec: Any) -> Sites:
    """The scenario's ground segment: its gateway/PoP files, else the real ground segment
    (``network.ground_segment = "world"``) or the sites of facts.md (``"facts"``)."""
    if spec.gateways or spec.pops or spec.ground_segment == "facts":
        return load_sites(spec.gateways, spec.pops)
    return world_sites()


def _laser_topology(name: str, ctx: RunContext, range_km: float) -> LaserTopology:
    parts: list[LaserTopology] = []
    if "grid" in name:
        parts.append(PlusGrid.from_constellation(ctx.constellation, ctx.t_utc[0]))
    if "nearest" in name:
        parts.append(NearestNeighbourLasers(range_km))
    return parts[0] if len(parts) == 1 else UnionLasers(tuple(parts))


class _Acc:
    def __init__(self, stage: NetworkStage, ctx: RunContext, t_utc: np.ndarray) -> None:
        self.stage = stage
        self.ctx = ctx
        n_user = len(stage.users)
        n_gw, n_pop = len(stage.sites.gateways), len(stage.sites.pops)
        self.metrics = NetworkMetrics(n_user, n_gw, n_pop, per_user_histograms=False)
        self.base = (NetworkMetrics(n_user, n_gw, n_pop, per_user_histograms=False)
                     if stage.outages else None)
        self.hist_keys: list[np.ndarray] = []
        self.hist_w: list[np.ndarray] = []
        self.base_keys: list[np.ndarray] = []
        self.base_w: list[np.ndarray] = []
        i0 = int(np.searchsorted(ctx.t_utc, t_utc[0]))
        n_routed = sum(1 for k in range(t_utc.size) if stage.routed(i0 + k))
        n_cell, n_term = ctx.ground.n_cells, ctx.ground.n_terminals
        self.cell_rtt = (np.full((n_cell, n_routed), np.nan, np.float32)
                         if stage.keep_cell_samples else None)
        self.t_routed = np.zeros(n_routed, "datetime64[ns]")
        self.term = {k: np.full((n_routed, n_term), -1, np.int64)
                     for k in ("sat", "gateway", "pop", "hops")}
        self.term_f = {k: np.full((n_routed, n_term), np.nan)
                       for k in ("rtt", "floor", "base")}
        self.path_len = np.zeros((n_routed, n_term), np.int32)
        self.path_nodes: list[np.ndarray] = []
        self.j = 0

    def _hist(self, paths: UserPaths, counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = self.stage
        ok = paths.served & counted
        sel = ok[st.pair_point]
        if not sel.any():
            return np.zeros(0, np.int64), np.zeros(0)
        pts = st.pair_point[sel]
        b = np.minimum(np.rint(paths.rtt_ms[pts] / RTT_BIN_MS).astype(np.int64), st.n_bins - 1)
        return st.pair_region[sel] * st.n_bins + b, st.pair_area[sel]

    def update(self, step: StepData) -> None:
        st = self.stage
        if not st.routed(step.i):
            return
        ctx = self.ctx
        r = np.asarray(step.r_sat_itrs_km, float)
        t = np.atleast_1d(np.asarray(step.t_utc, "datetime64[ns]"))
        snap = build_snapshot(r, st.sites, st.config)
        users = st.users_at(ctx, step.i)
        if st.selector is None:
            cand = Candidates.from_serving(r, users, step.serving)
            select: Any = GivenServing(np.zeros((0, len(users)), np.int64))
        else:
            pairs = step.visibility.pairs
            if pairs is None:  # pragma: no cover - the pipeline asks for pairs on routed steps
                raise InputError("routed step without visibility pairs", "network")
            cand = Candidates.from_pairs(r, users, pairs.point, pairs.sat,
                                         pairs.elevation_deg, pairs.range_km)
            select = st.selector
        served = step.status == 2
        if st.outages:
            gw_up, pop_up = availability(st.outages, t, st.sites)
            down = not (gw_up.all() and pop_up.all())
        else:
            down = False
        case = (replace(snap, gateway_up=gw_up[0].copy(), pop_up=pop_up[0].copy())
                if down else snap)
        sat, acc = select.choose(cand, case, st.router, users)
        paths = st.modelled(st.router.to_pops(case, sat, acc, users.home_pop))
        self.metrics.update(step.t_utc, paths, counted=served)
        k, v = self._hist(paths, served)
        self.hist_keys.append(k)
        self.hist_w.append(v)
        base_paths = None
        if self.base is not None:
            if down:
                bsat, bacc = select.choose(cand, snap, st.router, users)
                base_paths = st.modelled(st.router.to_pops(snap, bsat, bacc, users.home_pop))
            else:
                base_paths = paths
            self.base.update(step.t_utc, base_paths, counted=served)
            k, v = self._hist(base_paths, served)
            self.base_keys.append(k)
            self.base_w.append(v)
        j = self.j
        self.t_routed[j] = t[0]
        ok = paths.served & served
        n_cell = ctx.ground.n_cells
        if self.cell_rtt is not None:
            self.cell_rtt[:, j] = np.where(ok[:n_cell], paths.rtt_ms[:n_cell], np.nan)
        ti = ctx.ground.terminal_index
        tok = ok[ti]
        self.term["sat"][j] = np.where(tok, paths.serving_sat[ti], -1)
        self.term["gateway"][j] = np.where(tok, paths.gateway[ti], -1)
        self.term["pop"][j] = np.where(tok, paths.pop[ti], -1)
        self.term["hops"][j] = np.where(tok, paths.n_laser_hops[ti], -1)
        self.term_f["rtt"][j] = np.where(tok, paths.rtt_ms[ti], np.nan)
        self.term_f["floor"][j] = np.where(tok, 2.0 * paths.propagation_ms[ti], np.nan)
        if base_paths is not None:
            bok = base_paths.served[ti] & served[ti]
            self.term_f["base"][j] = np.where(bok, base_paths.rtt_ms[ti], np.nan)
        got = np.flatnonzero(tok)
        if got.size:
            # The node sequences of the terminals' paths, from the router's searches of this
            # step (cached on the snapshot: nothing is searched again).
            nodes = st.router.path_node_table(case, paths.serving_sat[ti[got]],
                                              paths.pop[ti[got]], users.home_pop[ti[got]])
            keep = nodes >= 0
            self.path_len[j, got] = keep.sum(axis=1)
            self.path_nodes.append(nodes[keep].astype(np.int32))
        self.j = j + 1
        # Keep the sparse histograms compact.
        if len(self.hist_keys) >= 32:
            self._compact()

    def _compact(self) -> None:
        h = RegionHistogram.of(np.concatenate(self.hist_keys), np.concatenate(self.hist_w))
        self.hist_keys, self.hist_w = [h.keys], [h.weights]
        if self.base_keys:
            b = RegionHistogram.of(np.concatenate(self.base_keys), np.concatenate(self.base_w))
            self.base_keys, self.base_w = [b.keys], [b.weights]

    def result(self) -> NetworkPart:
        hist = (RegionHistogram.of(np.concatenate(self.hist_keys), np.concatenate(self.hist_w))
                if self.hist_keys else RegionHistogram.empty())
        base_hist = None
        if self.base is not None:
            base_hist = (RegionHistogram.of(np.concatenate(self.base_keys),
                                            np.concatenate(self.base_w))
                         if self.base_keys else RegionHistogram.empty())
        n = self.j
        return NetworkPart(
            metrics=self.metrics, base_metrics=self.base, region_hist=hist,
            base_region_hist=base_hist,
            cell_rtt=None if self.cell_rtt is None else self.cell_rtt[:, :n].copy(),
            t_routed=self.t_routed[:n].copy(),
            term_sat=self.term["sat"][:n].copy(), term_gateway=self.term["gateway"][:n].copy(),
            term_pop=self.term["pop"][:n].copy(), term_hops=self.term["hops"][:n].copy(),
            term_rtt_ms=self.term_f["rtt"][:n].copy(),
            term_rtt_floor_ms=self.term_f["floor"][:n].copy(),
            term_base_rtt_ms=self.term_f["base"][:n].copy() if self.base is not None else None,
            term_path_len=self.path_len[:n].copy(),
            term_path_nodes=(np.concatenate(self.path_nodes) if self.path_nodes
                             else np.zeros(0, np.int32)),
        )


def _cat(a: np.ndarray | None, b: np.ndarray | None, axis: int = 0) -> np.ndarray | None:
    if a is None or b is None:
        return None
    return np.concatenate([a, b], axis=axis)


@dataclass(frozen=True)
class NetworkStage:
    """Sites, users, topology, router and selector of a run, and which steps are routed."""

    sites: Sites
    users: GroundUsers
    config: TopologyConfig
    router: Router
    every_steps: int
    selector: MinimumRtt | HighestElevation | None
    outages: tuple[Outage, ...]
    pair_point: np.ndarray
    pair_region: np.ndarray
    pair_area: np.ndarray
    n_bins: int
    keep_cell_samples: bool
    latency: LatencyModel | None = None
    name: str = "network"

    def modelled(self, paths: UserPaths) -> UserPaths:
        """``paths`` with ``rtt_ms`` as users measure it: the fitted overhead model on the
        propagation floor (``2 x propagation_ms``), plus the router's per-hop processing."""
        if self.latency is None:
            return paths
        floor = 2.0 * paths.propagation_ms
        processing = paths.rtt_ms - floor
        rtt, _ = self.latency.apply(replace(paths, rtt_ms=floor), self.sites.pop_names)
        return replace(paths, rtt_ms=rtt + processing)

    def users_at(self, ctx: RunContext, i_step: int) -> GroundUsers:
        """The users at step ``i_step`` (moving terminals at their track positions)."""
        state = ctx.terminal_state
        moving = ctx.ground.moving
        if state is None or not moving.any():
            return self.users
        pts = ctx.ground.terminal_index[moving]
        lat, lon, alt = (np.array(self.users.lat_deg), np.array(self.users.lon_deg),
                         np.array(self.users.alt_km))
        lat[pts] = state.lat_deg[moving, i_step]
        lon[pts] = state.lon_deg[moving, i_step]
        alt[pts] = state.alt_km[moving, i_step]
        return replace(self.users, lat_deg=lat, lon_deg=lon, alt_km=alt)

    def routed(self, i_step: int) -> bool:
        """Whether step ``i_step`` (index in the run's grid) is routed."""
        return i_step % self.every_steps == 0

    def n_routed(self, ctx: RunContext) -> int:
        """Routed steps in the run."""
        return int(-(-ctx.n_steps // self.every_steps))

    @classmethod
    def prepare(cls, ctx: RunContext) -> NetworkStage:
        spec = ctx.scenario.network
        sites = scenario_sites(spec)
        outages = tuple(parse_outage(o.text, sites, f"network.outages[{i}]")
                        for i, o in enumerate(spec.outages))
        g = ctx.ground
        cat = get_catalogue(ctx.scenario.ground.edition)
        idx = np.asarray(cat.locate_index(g.lat_deg, g.lon_deg))
        iso = [c.iso_a2 or "" for c in cat.countries]
        countries = [iso[i] if i >= 0 else "" for i in idx]
        users = GroundUsers.from_points(g.point_names, g.lat_deg, g.lon_deg, sites,
                                        countries=countries, alt_km=g.alt_km)
        lasers = (_laser_topology(spec.laser_topology, ctx, spec.laser_range_km)
                  if spec.lasers else None)
        capable = (laser_capable_by_launch_year(ctx.constellation, spec.laser_min_year)
                   if spec.lasers and spec.laser_min_year is not None else None)
        config = TopologyConfig(lasers=lasers, laser_capable=capable,
                                max_laser_range_km=spec.laser_range_km,
                                fibre_route_factor=spec.fibre_route_factor)
        strat: RoutingStrategy = FewestHops() if spec.routing == "fewest-hops" else MinimumDelay()
        if spec.allow_gateway_countries:
            strat = AllowedGatewayCountries(spec.allow_gateway_countries, strat)
        selectors: dict[str, MinimumRtt | HighestElevation | None] = {
            "min-rtt": MinimumRtt(), "highest-routable": HighestElevation(),
            "highest": HighestElevation(require_route=False), "coverage": None}
        every = max(1, round(spec.rtt_every_s / ctx.step_s))
        w = ctx.ground.region_area_matrix().tocoo()
        order = np.lexsort((w.row, w.col))
        n_bins = round(2000.0 / RTT_BIN_MS)
        n_routed = int(-(-ctx.n_steps // every))
        need = float(g.n_cells) * n_routed * 4.0
        budget = ctx.scenario.run.memory_budget_gib * 2**30
        keep = need <= 0.5 * budget
        if not keep:
            ctx.notes.append(
                f"Per-cell RTT percentiles were left out: their samples need "
                f"{need / 2**30:,.2f} GiB, over half the memory budget "
                f"({budget / 2**30:,.2f} GiB); raise run.memory_budget_gib or network.rtt_every."
                " Region percentiles (histograms) and terminal percentiles are exact.")
        return cls(
            sites=sites, users=users, config=config,
            router=Router(strat, processing_ms_per_hop=spec.per_hop_ms,
                          threads=ctx.scenario.run.threads),
            every_steps=every, selector=selectors[spec.serving], outages=outages,
            pair_point=w.col[order].astype(np.int64), pair_region=w.row[order].astype(np.int64),
            pair_area=w.data[order].astype(np.float64), n_bins=n_bins, keep_cell_samples=keep,
            latency=DEFAULT_LATENCY_MODEL if spec.latency_model == "measured" else None,
        )

    def start(self, ctx: RunContext, t_utc: np.ndarray) -> _Acc:
        return _Acc(self, ctx, t_utc)

    def concat(self, a: NetworkPart, b: NetworkPart) -> NetworkPart:
        base = None
        if a.base_metrics is not None and b.base_metrics is not None:
            base = a.base_metrics.merge(b.base_metrics)
        bh = None
        if a.base_region_hist is not None and b.base_region_hist is not None:
            bh = a.base_region_hist + b.base_region_hist
        return NetworkPart(
            metrics=a.metrics.merge(b.metrics), base_metrics=base,
            region_hist=a.region_hist + b.region_hist, base_region_hist=bh,
            cell_rtt=_cat(a.cell_rtt, b.cell_rtt, axis=1),
            t_routed=np.concatenate([a.t_routed, b.t_routed]),
            term_sat=np.concatenate([a.term_sat, b.term_sat]),
            term_gateway=np.concatenate([a.term_gateway, b.term_gateway]),
            term_pop=np.concatenate([a.term_pop, b.term_pop]),
            term_hops=np.concatenate([a.term_hops, b.term_hops]),
            term_rtt_ms=np.concatenate([a.term_rtt_ms, b.term_rtt_ms]),
            term_rtt_floor_ms=np.concatenate([a.term_rtt_floor_ms, b.term_rtt_floor_ms]),
            term_base_rtt_ms=_cat(a.term_base_rtt_ms, b.term_base_rtt_ms),
            term_path_len=np.concatenate([a.term_path_len, b.term_path_len]),
            term_path_nodes=np.concatenate([a.term_path_nodes, b.term_path_nodes]),
        )

    # ------------------------------------------------------------------------- finalize
    def finalize(self, ctx: RunContext, part: NetworkPart) -> dict[str, Any]:
        """Per-point columns, per-region rows, terminal paths, gateway load and what-if."""
        g = ctx.ground
        gw = np.array(self.sites.gateway_names, dtype=object)
        pops = np.array(self.sites.pop_names, dtype=object)
        per_user = part.metrics.per_user(gateway_names=list(gw), pop_names=list(pops))
        n_reg = len(g.regions)
        q = (5.0, 50.0, 95.0)
        out: dict[str, Any] = {}
        # --- per point
        cols: dict[str, np.ndarray] = {
            "routed_steps": per_user["steps"].to_numpy(),
            "routed_served_share": per_user["served_share"].to_numpy(),
            "rtt_mean_ms": per_user["rtt_mean_ms"].to_numpy(),
            "rtt_min_ms": per_user["rtt_min_ms"].to_numpy(),
            "rtt_max_ms": per_user["rtt_max_ms"].to_numpy(),
            "bent_pipe_share": per_user["bent_pipe_share"].to_numpy(),
            "mean_laser_hops": per_user["mean_laser_hops"].to_numpy(),
            "gateway_changes": per_user["gateway_changes"].to_numpy(),
            "path_changes": per_user["path_changes"].to_numpy(),
            "main_gateway": per_user.get("main_gateway", pd.Series([None] * g.n_points))
            .to_numpy(dtype=object),
            "main_pop": per_user.get("main_pop", pd.Series([None] * g.n_points))
            .to_numpy(dtype=object),
            "home_pop": pops[self.users.home_pop],
        }
        pct = np.full((g.n_points, len(q)), np.nan)
        if part.cell_rtt is not None and g.n_cells:
            for a in range(0, g.n_cells, 65536):
                b = min(a + 65536, g.n_cells)
                block = part.cell_rtt[a:b].astype(np.float64)
                has = np.flatnonzero(np.isfinite(block).any(axis=1))
                if has.size:
                    pct[a + has] = np.nanpercentile(block[has], q, axis=1).T
        ti = g.terminal_index
        if ti.size:
            has = np.isfinite(part.term_rtt_ms).any(axis=0)
            if has.any():
                pct[ti[has]] = np.nanpercentile(part.term_rtt_ms[:, has], q, axis=0).T
        if part.cell_rtt is None and g.n_cells:
            pct[: g.n_cells] = np.nan
        for k, qq in enumerate(q):
            cols[f"rtt_p{qq:g}_ms"] = pct[:, k]
        if part.base_metrics is not None:
            bm = part.base_metrics
            mm = part.metrics
            with np.errstate(invalid="ignore", divide="ignore"):
                cols["routed_share_change"] = np.where(
                    mm.samples > 0, (mm.served - bm.served) / np.maximum(mm.samples, 1), np.nan)
                cols["rtt_change_mean_ms"] = np.where(
                    (mm.served > 0) & (bm.served > 0),
                    mm.rtt_sum / np.maximum(mm.served, 1)
                    - bm.rtt_sum / np.maximum(bm.served, 1), np.nan)
        out["point_columns"] = cols
        out["cell_percentiles"] = part.cell_rtt is not None
        # --- per region
        rp = weighted_hist_percentiles(part.region_hist, n_reg, self.n_bins, q)
        m = part.metrics
        rows = []
        for r, name in enumerate(g.regions):
            idx = g.members[name]
            w = g.area_km2[idx]
            tot = float(np.sum(w * m.served[idx]))
            row: dict[str, Any] = {"region": name}
            for k, qq in enumerate(q):
                row[f"rtt_p{qq:g}_ms"] = float(rp[r, k])
            row["laser_path_share"] = (float(np.sum(w * (m.served[idx] - m.bent_pipe[idx])))
                                       / tot if tot > 0 else np.nan)
            rows.append(row)
        out["region_rows"] = rows
        # --- terminal paths per routed step
        out["terminal_paths"] = {
            "t_utc": part.t_routed,
            "path_sat": part.term_sat,
            "gateway": part.term_gateway,
            "pop": part.term_pop,
            "n_laser_hops": part.term_hops,
            "rtt_ms": part.term_rtt_ms,
            "rtt_floor_ms": part.term_rtt_floor_ms,
            "path": self.path_text(ctx, part.term_path_len, part.term_path_nodes),
        }
        out["gateway_names"] = gw
        out["pop_names"] = pops
        out["gateway_load"] = m.gateway_load(list(gw))
        out["rtt_by_time"] = m.per_time()
        # --- what-if (scenario with outages vs baseline with every site up)
        if part.base_metrics is not None and part.base_region_hist is not None:
            out["whatif"] = self._whatif(ctx, part, rp, q)
        return out

    def node_labels(self, ctx: RunContext) -> np.ndarray:
        """A label per `Snapshot` node: ``sat:<NORAD id>``, ``gw:<gateway>``, ``pop:<PoP>``."""
        norad = np.asarray(ctx.constellation.norad_ids, np.int64)
        return np.array([f"sat:{int(n)}" for n in norad]
                        + [f"gw:{n}" for n in self.sites.gateway_names]
                        + [f"pop:{n}" for n in self.sites.pop_names], dtype=object)

    def path_text(self, ctx: RunContext, length: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """(n_routed, n_terminal) object array of paths as text, ``sat:44714 > sat:44890 >
        gw:Wola Krobowska > pop:Warsaw`` (None where a terminal has no path at a step)."""
        flat = length.ravel()
        texts = np.full(flat.size, None, dtype=object)
        if not nodes.size:
            return texts.reshape(length.shape)
        labels = self.node_labels(ctx)
        ends = np.cumsum(flat, dtype=np.int64)
        seen: dict[bytes, str] = {}
        for k in np.flatnonzero(flat):
            seq = nodes[ends[k] - flat[k]:ends[k]]
            key = seq.tobytes()
            text = seen.get(key)
            if text is None:
                text = seen[key] = " > ".join(labels[seq])
            texts[k] = text
        return texts.reshape(length.shape)

    def _whatif(self, ctx: RunContext, part: NetworkPart, rp: np.ndarray,
                q: tuple[float, ...]) -> dict[str, pd.DataFrame]:
        g = ctx.ground
        base = part.base_metrics
        assert base is not None and part.base_region_hist is not None
        bp = weighted_hist_percentiles(part.base_region_hist, len(g.regions), self.n_bins, q)
        m = part.metrics
        rows = []
        for r, name in enumerate(g.regions):
            idx = g.members[name]
            w = g.area_km2[idx]
            samples = np.sum(w * m.samples[idx])
            row: dict[str, Any] = {
                "region": name,
                "baseline_routed_share": float(np.sum(w * base.served[idx]) / samples)
                if samples else np.nan,
                "outage_routed_share": float(np.sum(w * m.served[idx]) / samples)
                if samples else np.nan,
                "baseline_rtt_p50_ms": float(bp[r, 1]),
                "outage_rtt_p50_ms": float(rp[r, 1]),
                "cells_losing_service": int(np.sum((base.served[idx] > 0)
                                                   & (m.served[idx] < base.served[idx]))),
            }
            row["routed_share_change"] = row["outage_routed_share"] - row["baseline_routed_share"]
            row["rtt_p50_change_ms"] = row["outage_rtt_p50_ms"] - row["baseline_rtt_p50_ms"]
            rows.append(row)
        ti = g.terminal_index
        trows = []
        for k, name in enumerate(g.terminal_names):
            a = part.term_base_rtt_ms[:, k] if part.term_base_rtt_ms is not None else np.zeros(0)
            b = part.term_rtt_ms[:, k]
            trows.append({
                "terminal": name,
                "baseline_served_steps": int(base.served[ti[k]]),
                "outage_served_steps": int(m.served[ti[k]]),
                "baseline_rtt_p50_ms": float(np.nanmedian(a)) if np.isfinite(a).any()
                else np.nan,
                "outage_rtt_p50_ms": float(np.nanmedian(b)) if np.isfinite(b).any() else np.nan,
                "rtt_change_mean_ms": float(np.nanmean(b - a)) if np.isfinite(b - a).any()
                else np.nan,
            })
        outages = pd.DataFrame([{
            "site": o.name, "kind": o.kind,
            "start_utc": None if o.start_utc is None else pd.Timestamp(o.start_utc, tz="UTC"),
            "end_utc": None if o.end_utc is None else pd.Timestamp(o.end_utc, tz="UTC")}
            for o in self.outages])
        return {"whatif_regions": pd.DataFrame(rows), "whatif_terminals": pd.DataFrame(trows),
                "outages": outages}

