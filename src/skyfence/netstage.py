"""The engine's network stage: paths and RTT from every ground point to its home PoP.

On a sub-grid of the time steps (``network.rtt_every``, aligned to the window start) each
point is attached to a satellite in view (``network.serving``: by default the one giving the
lowest RTT to its home PoP, as a latency-minimising scheduler would; or the highest routable
one; or the coverage stage's serving satellite) and routed over the step's graph (feeder links
to gateways, +Grid lasers, fibre to PoPs) by `skyfence.network.Router`. Only points the policy
serves count in the statistics. Results accumulate per point (RTT
histograms, bent-pipe share, gateway and PoP use) and per terminal step (the path itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .ground import get_catalogue
from .network import (
    Candidates,
    GroundUsers,
    HighestElevation,
    MinimumRtt,
    NetworkMetrics,
    PlusGrid,
    Router,
    Sites,
    TopologyConfig,
    build_snapshot,
    laser_capable_by_launch_year,
    load_sites,
)
from .network.metrics import histogram_percentiles
from .network.routing import MinimumDelay
from .timeutil import parse_duration

if TYPE_CHECKING:
    from .coverage import CoverageStep
    from .engine import RunContext

__all__ = ["NetworkAccumulator", "NetworkContext", "prepare_network"]

#: Points above which per-point RTT histograms are not kept (memory: ~8 KB per point).
MAX_POINTS_WITH_HISTOGRAMS = 50_000


@dataclass
class NetworkContext:
    """Sites, users, topology and router of a run, and which steps are routed."""

    sites: Sites
    users: GroundUsers
    config: TopologyConfig
    router: Router
    every_steps: int
    histograms: bool
    gateway_names: tuple[str, ...]
    pop_names: tuple[str, ...]
    selector: MinimumRtt | HighestElevation | None  # None: the coverage stage's satellite

    def routed(self, i_time: int) -> bool:
        """Whether time step ``i_time`` (index in the window) is routed."""
        return i_time % self.every_steps == 0


def prepare_network(ctx: RunContext) -> NetworkContext:
    """Build the network stage for a prepared run (sites, home PoPs, lasers)."""
    spec = ctx.scenario.network
    sites = load_sites(spec.gateways, spec.pops)
    g = ctx.ground
    cat = get_catalogue(ctx.scenario.ground.edition)
    idx = cat.locate_index(g.lat_deg, g.lon_deg)
    countries = [cat.countries[i].iso_a2 or "" if i >= 0 else "" for i in np.asarray(idx)]
    names = [f"cell{i}" for i in range(g.n_cells)] + list(g.terminal_names)
    users = GroundUsers.from_points(names, g.lat_deg, g.lon_deg, sites, countries=countries,
                                    alt_km=g.alt_km)
    const = ctx.constellation
    lasers = PlusGrid.from_constellation(const, ctx.t_utc[0]) if spec.lasers else None
    capable = laser_capable_by_launch_year(const) if spec.lasers else None
    config = TopologyConfig(lasers=lasers, laser_capable=capable,
                            max_laser_range_km=spec.laser_range_km)
    every = max(1, round(parse_duration(spec.rtt_every, "network.rtt_every")
                             / ctx.step_s))
    selectors = {"min-rtt": MinimumRtt(), "highest-routable": HighestElevation(),
                 "coverage": None}
    return NetworkContext(
        sites=sites, users=users, config=config,
        router=Router(MinimumDelay(), processing_ms_per_hop=spec.per_hop_ms),
        every_steps=every, histograms=g.n_points <= MAX_POINTS_WITH_HISTOGRAMS,
        gateway_names=tuple(gw.name for gw in sites.gateways),
        pop_names=tuple(p.name for p in sites.pops),
        selector=selectors[spec.serving],
    )


@dataclass
class NetworkAccumulator:
    """Per-point network statistics of a time chunk (merge chunks in time order)."""

    metrics: NetworkMetrics
    rows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, ctx: RunContext) -> NetworkAccumulator:
        net: NetworkContext = ctx.network  # type: ignore[assignment]
        m = NetworkMetrics(len(net.users), len(net.sites.gateways), len(net.sites.pops),
                           per_user_histograms=net.histograms)
        return cls(m)

    def update(self, ctx: RunContext, i_time: int, step: CoverageStep,
               served: np.ndarray) -> None:
        """Route step ``i_time`` (when on the sub-grid) and count the served points."""
        net: NetworkContext = ctx.network  # type: ignore[assignment]
        if not net.routed(i_time):
            return
        r = np.asarray(step.r_sat_itrs_km, float)
        snap = build_snapshot(r, net.sites, net.config)
        if net.selector is None:
            serving = np.asarray(step.serving, np.int64)
            access = np.full(serving.size, np.nan)
            has = serving >= 0
            if has.any():
                access[has] = np.linalg.norm(r[serving[has]] - net.users.itrs_km[has], axis=1)
        else:
            # Every usable pair of this step (same kernel, masks and GSO rule as coverage).
            vis = ctx.ground_index().visibility(
                r, ctx.masks_deg, gso=ctx.scenario.constellation.gso_exclusion, pairs=True)
            pairs = vis.pairs
            cand = Candidates.from_pairs(r, net.users, pairs.point, pairs.sat,
                                         pairs.elevation_deg)
            serving, access = net.selector.choose(cand, snap, net.router, net.users)
        paths = net.router.to_pops(snap, serving, access, net.users.home_pop)
        self.metrics.update(step.t_utc, paths, counted=served)
        g = ctx.ground
        gw_names, pop_names = net.gateway_names, net.pop_names
        for k, name in zip(g.terminal_index, g.terminal_names, strict=True):
            ok = bool(served[k] and paths.served[k])
            self.rows.append({
                "terminal": name,
                "t_utc": np.datetime64(step.t_utc, "ns"),
                "path_norad_id": (int(ctx.constellation.norad_ids[paths.serving_sat[k]])
                                  if ok else None),
                "gateway": gw_names[paths.gateway[k]] if ok else None,
                "pop": pop_names[paths.pop[k]] if ok else None,
                "n_laser_hops": int(paths.n_laser_hops[k]) if ok else None,
                "rtt_ms": float(paths.rtt_ms[k]) if ok else np.nan,
            })

    def merge(self, later: NetworkAccumulator) -> NetworkAccumulator:
        """Fold in the accumulator of the chunk right after this one."""
        self.metrics.merge(later.metrics)
        self.rows.extend(later.rows)
        return self

    # --- tables used by skyfence.outputs.report ----------------------------------------------

    def point_columns(self, ctx: RunContext) -> dict[str, np.ndarray]:
        """Per-point columns: RTT percentiles (ms), bent-pipe share, main gateway and PoP."""
        net: NetworkContext = ctx.network  # type: ignore[assignment]
        df = self.metrics.per_user(gateway_names=net.gateway_names, pop_names=net.pop_names)
        out: dict[str, np.ndarray] = {}
        for col in ("rtt_p50_ms", "rtt_p95_ms", "rtt_min_ms", "bent_pipe_share",
                    "mean_laser_hops", "gateway_changes", "main_gateway", "main_pop"):
            if col in df.columns:
                out[col] = df[col].to_numpy()
        return out

    def region_row(self, ctx: RunContext, idx: np.ndarray) -> dict[str, float]:
        """Area-weighted RTT percentiles and laser share of the served cell-slots of a region."""
        m = self.metrics
        w = ctx.ground.area_km2[idx]
        row: dict[str, float] = {}
        served = m.served[idx].astype(float)
        tot = float(np.sum(w * served))
        row["laser_path_share"] = (float(np.sum(w * (m.served[idx] - m.bent_pipe[idx])) / tot)
                                   if tot > 0 else np.nan)
        if m.user_hist is not None and tot > 0:
            hist = (m.user_hist[idx].astype(np.float64) * w[:, None]).sum(axis=0)
            p = histogram_percentiles(hist[None, :], m.edges, (5.0, 50.0, 95.0))[0]
            row["rtt_p5_ms"], row["rtt_p50_ms"], row["rtt_p95_ms"] = (float(x) for x in p)
        else:
            row["rtt_p5_ms"] = row["rtt_p50_ms"] = row["rtt_p95_ms"] = np.nan
        return row

    def terminal_columns(self, ctx: RunContext, frame: pd.DataFrame) -> pd.DataFrame:
        """Add ``gateway, pop, n_laser_hops, rtt_ms`` at routed steps to the terminal table."""
        if not self.rows:
            return frame
        paths = pd.DataFrame(self.rows)
        paths["t_utc"] = pd.DatetimeIndex(paths["t_utc"]).tz_localize("UTC")
        paths["n_laser_hops"] = paths["n_laser_hops"].astype("Int64")
        paths["path_norad_id"] = paths["path_norad_id"].astype("Int64")
        return frame.merge(paths, on=["terminal", "t_utc"], how="left")

    def terminal_summary(self, ctx: RunContext, frame: pd.DataFrame) -> pd.DataFrame:
        """Add RTT percentiles, main gateway / PoP and handover counts per terminal."""
        cols = self.point_columns(ctx)
        term = ctx.ground.terminal_index
        out = frame.copy()
        for col in ("rtt_p50_ms", "rtt_p95_ms", "rtt_min_ms", "bent_pipe_share",
                    "gateway_changes", "main_gateway", "main_pop"):
            if col in cols:
                out[col] = cols[col][term]
        return out
