"""The capacity stage: offered and carried traffic per cell, region, satellite and gateway.

Per step, for the scenario's region cells (terminals are probes: they report the values of
the region cell holding them):

1. offered Mbps per cell from the demand model (`skyfence.capacity.demand`) at the cell's
   local time;
2. the cells the policy serves and a satellite covers, each on the scheduler's serving
   satellite (one satellite per cell and slot), its beam rate from the link budget at the
   satellite's elevation and range (`skyfence.capacity.supply`), at most ``beams x
   cells_per_beam`` service cells lit per satellite;
3. each satellite's traffic lands at a gateway (feeder links with the gateways' masks, GSO
   arc and antennas; with lasers, relayed to the nearest satellite that has one);
4. the allocation (`skyfence.capacity.allocate`, max-min fair or pro rata).

What-ifs run beside the scenario in the same steps: a second service mask (``whatif_on`` /
``whatif_off`` regions switched on / off, or a second policy ``whatif_policy``) and, with
``network.outages``, every gateway up (the scenario's case keeps its outages, as the network
stage does). The same satellites, demand and rule, so differences come from the policy or the
outage alone. In the service what-if, cells served in both cases keep their satellites and
beams and are capped at their scenario allocation; the newly served cells are balanced onto
the capacity left and share it under the rule with the others: the allocation is max-min fair
(or pro rata) among all cells subject to nobody already served gaining, so switching a
territory on shows what its users would get and what the others lose, and never raises
anyone else (max-min fairness alone is not population-monotone with mixed link rates: a
satellite spending beams on new low-elevation cells sends less through its gateway, which
another satellite's cells could otherwise use).

Sums are kept in whole kbps (int64), so partials merge exactly and associatively in any
chunking; maxima merge exactly; per-step region series concatenate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from ..capacity import (
    SUBSCRIBERS,
    Allocation,
    CellDemand,
    DemandModel,
    LinkBudget,
    allocate,
    attach_gateways,
    balance,
    gateway_capacity_mbps,
    generation_table,
    load_demand_file,
    local_solar_hour,
    satellite_generations,
    satellite_pressure,
    within_cell_limit,
)
from ..coverage import GSO_EXCLUSION_USER_DEG, gso_excluded
from ..errors import InputError
from ..ground import cells_to_latlng, latlng_to_cells, resolve_region
from ..network import Outage, Sites, availability, parse_outage
from ..policy import SERVED, PolicyEvaluation
from .network_stage import scenario_sites
from .policies import load_policy
from .protocol import StepData

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["CANDIDATES_PER_CELL", "SOLD_OUT_SATISFACTION", "CapacityPart", "CapacityStage",
           "StepAllocations"]

#: Satellites a cell may move to when balancing: its highest ones in view.
CANDIDATES_PER_CELL = 8
#: A served cell is sold out at a step when it carries less than this share of its offered
#: traffic.
SOLD_OUT_SATISFACTION = 0.99
_KBPS = 1000.0

# Rows of CapacityPart.cell_kbps and .cell_steps.
_DEMAND, _CARRIED, _DEMAND_BUSY, _CARRIED_BUSY, _HEAD_BUSY = 0, 1, 2, 3, 4
_W_CARRIED, _W_CARRIED_BUSY, _W_HEAD_BUSY, _U_CARRIED, _U_CARRIED_BUSY = 5, 6, 7, 8, 9
_N_KBPS = 10
_BUSY, _SERVED_BUSY, _SOLD_BUSY, _W_SERVED_BUSY, _W_SOLD_BUSY, _U_SERVED_BUSY = range(6)
_N_STEPS = 6
# Per-step region series.
_S_DEMAND, _S_CARRIED, _S_WHATIF, _S_ALLUP = range(4)


def _kbps(x: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x, float) * _KBPS).astype(np.int64)


@dataclass(frozen=True)
class CapacityPart:
    """Partial capacity results of consecutive steps (immutable).

    cell_kbps : int64 (10, n_cell) sums over steps of kbps (offered, carried, busy-hour ones,
        headroom, what-if, all gateways up)
    cell_steps : int32 (6, n_cell) busy-hour steps, served / sold-out busy steps (scenario,
        what-if, all up)
    sat_kbps : int64 (n_sat,) carried; sat_max_mbps : float64 (n_sat,)
    sat_steps : int32 (2, n_sat) saturated and active steps
    gw_kbps : int64 (2, n_gw) carried (scenario, all up); gw_max_mbps : float64 (n_gw,)
    gw_steps : int32 (n_gw,) saturated steps
    series : float64 (n_time, n_region, 4) offered, carried, what-if, all-up carried Mbps
    t_utc : datetime64[ns] (n_time,)
    """

    cell_kbps: np.ndarray
    cell_steps: np.ndarray
    sat_kbps: np.ndarray
    sat_max_mbps: np.ndarray
    sat_steps: np.ndarray
    gw_kbps: np.ndarray
    gw_max_mbps: np.ndarray
    gw_steps: np.ndarray
    series: np.ndarray
    t_utc: np.ndarray


@dataclass(frozen=True)
class StepAllocations:
    """One step's inputs and allocations (for tests and notebooks).

    offered_mbps : float64 (n_cell,)
    beam_mbps : float64 (n_cell,) one beam's rate on the cell from its serving satellite
    cases : allocation per case name (``scenario``, ``whatif``, ``all_up``)
    served : bool mask per case
    satellite : cell -> satellite per case (-1 where the cell is not served)
    gateway : satellite -> gateway per case
    """

    offered_mbps: np.ndarray
    beam_mbps: np.ndarray
    cases: dict[str, Allocation]
    served: dict[str, np.ndarray]
    satellite: dict[str, np.ndarray]
    gateway: dict[str, np.ndarray]


class _Acc:
    def __init__(self, stage: CapacityStage, ctx: RunContext, t_utc: np.ndarray) -> None:
        self.stage = stage
        self.ctx = ctx
        n_cell = ctx.ground.n_cells
        n_sat = len(ctx.constellation)
        n_gw = len(stage.sites.gateways)
        self.cell_kbps = np.zeros((_N_KBPS, n_cell), np.int64)
        self.cell_steps = np.zeros((_N_STEPS, n_cell), np.int32)
        self.sat_kbps = np.zeros(n_sat, np.int64)
        self.sat_max = np.zeros(n_sat)
        self.sat_steps = np.zeros((2, n_sat), np.int32)
        self.gw_kbps = np.zeros((2, n_gw), np.int64)
        self.gw_max = np.zeros(n_gw)
        self.gw_steps = np.zeros(n_gw, np.int32)
        self.series = np.full((t_utc.size, len(ctx.ground.regions), 4), np.nan)
        self.t_utc = t_utc
        self.k = 0

    def update(self, step: StepData) -> None:
        st = self.stage
        k = self.k
        self.k = k + 1
        if self.ctx.ground.n_cells == 0 or not st.sampled(step.i):
            return
        sa = st.step_allocations(self.ctx, step)
        d = sa.offered_mbps
        busy = st.busy_mask(step.t_utc)
        ck, cs = self.cell_kbps, self.cell_steps
        a = sa.cases["scenario"]
        x = a.carried
        ck[_DEMAND] += _kbps(d)
        ck[_CARRIED] += _kbps(x)
        ck[_DEMAND_BUSY] += _kbps(np.where(busy, d, 0.0))
        ck[_CARRIED_BUSY] += _kbps(np.where(busy, x, 0.0))
        served = sa.served["scenario"] & (d > 0)
        sb = busy & served
        ck[_HEAD_BUSY] += _kbps(np.where(sb, np.nan_to_num(a.headroom), 0.0))
        cs[_BUSY] += busy
        cs[_SERVED_BUSY] += sb
        cs[_SOLD_BUSY] += sb & (x < SOLD_OUT_SATISFACTION * d)
        R = st.region_matrix
        self.series[k, :, _S_DEMAND] = R @ d
        self.series[k, :, _S_CARRIED] = R @ x
        if "whatif" in sa.cases:
            w = sa.cases["whatif"]
            ck[_W_CARRIED] += _kbps(w.carried)
            ck[_W_CARRIED_BUSY] += _kbps(np.where(busy, w.carried, 0.0))
            wsb = busy & sa.served["whatif"] & (d > 0)
            ck[_W_HEAD_BUSY] += _kbps(np.where(wsb, np.nan_to_num(w.headroom), 0.0))
            cs[_W_SERVED_BUSY] += wsb
            cs[_W_SOLD_BUSY] += wsb & (w.carried < SOLD_OUT_SATISFACTION * d)
            self.series[k, :, _S_WHATIF] = R @ w.carried
        if st.outages:
            u = sa.cases.get("all_up", a)
            ck[_U_CARRIED] += _kbps(u.carried)
            ck[_U_CARRIED_BUSY] += _kbps(np.where(busy, u.carried, 0.0))
            cs[_U_SERVED_BUSY] += sb
            self.gw_kbps[1] += _kbps(u.gw_carried)
            self.series[k, :, _S_ALLUP] = R @ u.carried
        self.sat_kbps += _kbps(a.sat_carried)
        np.maximum(self.sat_max, a.sat_carried, out=self.sat_max)
        self.sat_steps[0] += a.sat_saturated
        self.sat_steps[1] += a.sat_carried > 0
        self.gw_kbps[0] += _kbps(a.gw_carried)
        np.maximum(self.gw_max, a.gw_carried, out=self.gw_max)
        self.gw_steps += a.gw_saturated

    def result(self) -> CapacityPart:
        n = self.k
        return CapacityPart(
            cell_kbps=self.cell_kbps.copy(), cell_steps=self.cell_steps.copy(),
            sat_kbps=self.sat_kbps.copy(), sat_max_mbps=self.sat_max.copy(),
            sat_steps=self.sat_steps.copy(), gw_kbps=self.gw_kbps.copy(),
            gw_max_mbps=self.gw_max.copy(), gw_steps=self.gw_steps.copy(),
            series=self.series[:n].copy(), t_utc=self.t_utc[:n].copy())


def _region_mask(ctx: RunContext, names: list[str], where: str) -> np.ndarray:
    """Points (cells and terminals) whose service cell's centre lies in any of ``names`` (as
    the policy decides), plus every cell of a scenario region of that name. A name is a
    scenario region (its file or catalogue name) or a catalogue / built-in region."""
    g = ctx.ground
    out = np.zeros(g.n_points, bool)
    if not names:
        return out
    lat, lon = cells_to_latlng(g.service_cells)
    specs = {rs.name: rs for rs in ctx.scenario.ground.regions}
    for i, name in enumerate(names):
        if name in g.members:
            out[g.members[name]] = True
        spec = specs.get(name)
        source = (spec.file or spec.name) if spec is not None else name
        if source.strip().lower() in ("land", "world") and spec is not None and not spec.file:
            continue
        try:
            region = resolve_region(source, edition=ctx.scenario.ground.edition)
        except InputError as exc:
            raise type(exc)(exc.message, f"{where}[{i}] ({name})") from None
        out |= np.asarray(region.contains(lat, lon), bool)
    return out


def _terminal_cells(ctx: RunContext) -> np.ndarray:
    """Index of the region cell holding each terminal (the finest resolution first), -1."""
    g = ctx.ground
    out = np.full(g.n_terminals, -1, np.int64)
    if g.n_cells == 0 or g.n_terminals == 0:
        return out
    ti = g.terminal_index
    for r in sorted({int(x) for x in np.unique(g.resolution)}, reverse=True):
        todo = np.flatnonzero(out < 0)
        if todo.size == 0:
            break
        c = latlng_to_cells(g.lat_deg[ti[todo]], g.lon_deg[ti[todo]], r).astype(np.uint64)
        pos = np.minimum(np.searchsorted(g.cells, c), g.n_cells - 1)
        hit = g.cells[pos] == c
        out[todo[hit]] = pos[hit]
    return out


@dataclass(frozen=True)
class CapacityStage:
    """Demand, supply, sites and what-if masks of a run (prepared once; see the module
    docstring)."""

    demand: CellDemand
    units: np.ndarray
    sat_capacity_mbps: np.ndarray
    sat_beams: np.ndarray
    sat_cell_limit: np.ndarray
    generation: np.ndarray
    link: LinkBudget
    sites: Sites
    gw_antennas: np.ndarray
    gw_capacity_mbps: np.ndarray
    lasers: bool
    rule: str
    busy_hours: tuple[float, float]
    outages: tuple[Outage, ...]
    whatif_eval: PolicyEvaluation | None
    whatif_on: np.ndarray
    whatif_off: np.ndarray
    has_whatif: bool
    assignment: str
    region_matrix: sparse.csr_matrix
    terminal_cell: np.ndarray
    info: dict[str, Any]
    every_steps: int = 1
    name: str = "capacity"

    def sampled(self, i_step: int) -> bool:
        """Whether step ``i_step`` of the run is allocated (every ``capacity.every``)."""
        return i_step % self.every_steps == 0

    def n_sampled(self, n_steps: int) -> int:
        """Allocated steps among ``n_steps`` (at least 1)."""
        return max(1, -(-n_steps // self.every_steps))

    # ------------------------------------------------------------------------- prepare
    @classmethod
    def prepare(cls, ctx: RunContext) -> CapacityStage:
        spec = ctx.scenario.capacity
        g = ctx.ground
        n = g.n_cells
        subs = {k: v for k, (v, _src) in SUBSCRIBERS.items()}
        subs.update(spec.subscribers)
        model = DemandModel(
            take_rate=spec.take_rate, take_rates=dict(spec.take_rates), subscribers=subs,
            monthly_gb=spec.monthly_gb_per_subscriber, profile=spec.profile,
            min_city_population=spec.min_city_population,
            rural_min_share=spec.rural_min_share, edition=ctx.scenario.ground.edition)
        dfile = load_demand_file(spec.demand_file) if spec.demand_file else None
        notes: list[str] = []
        if n:
            demand, notes = model.for_cells(g.cells, g.resolution, g.lon_deg[:n], dfile,
                                            spec.demand_outside_file)
        else:
            demand, _ = model.for_cells(np.zeros(0, np.uint64), np.zeros(0, np.int8),
                                        np.zeros(0), None)
        ctx.notes.extend(notes)
        units = 7.0 ** (5.0 - g.resolution.astype(np.float64))
        gens = generation_table(spec.satellite_gbps, spec.beams, spec.cells_per_beam)
        gen = satellite_generations(ctx.constellation)
        cap = np.array([gens[x].capacity_gbps * 1000.0 for x in gen])
        beams = np.array([float(gens[x].n_beams) for x in gen])
        limit = np.array([float(gens[x].n_beams * gens[x].cells_per_beam) for x in gen])
        net = ctx.stage("network")
        nspec = ctx.scenario.network
        base_sites = net.sites if net is not None else scenario_sites(nspec)
        sites, antennas, gw_cap = gateway_capacity_mbps(
            base_sites, default_antennas=spec.gateway_antennas,
            feeder_gbps_per_antenna=spec.feeder_gbps_per_antenna)
        outages = tuple(parse_outage(o.text, sites, f"network.outages[{i}]")
                        for i, o in enumerate(nspec.outages))
        outages = tuple(o for o in outages if o.kind == "gateway")
        whatif_eval = None
        if spec.whatif_policy:
            try:
                _doc, compiled = load_policy(spec.whatif_policy, ctx.scenario.ground.edition)
            except InputError as exc:
                raise type(exc)(exc.message, "capacity.whatif_policy") from None
            whatif_eval = compiled.evaluate(g.service_cells, ctx.t_utc)
        on = _region_mask(ctx, list(spec.whatif_on), "capacity.whatif_on")
        off = _region_mask(ctx, list(spec.whatif_off), "capacity.whatif_off")
        rows = [np.full(g.members[r].size, i) for i, r in enumerate(g.regions)]
        cols = [g.members[r] for r in g.regions]
        R = (sparse.csr_matrix((np.ones(sum(c.size for c in cols)),
                                (np.concatenate(rows), np.concatenate(cols))),
                               shape=(len(g.regions), n)) if rows
             else sparse.csr_matrix((0, n)))
        link = LinkBudget(esn0_zenith_db=spec.esn0_zenith_db,
                          implementation_margin_db=spec.implementation_margin_db,
                          model=spec.spectral_model)
        info = {
            "rule": spec.rule,
            "assignment": spec.assignment,
            "busy_hours_local": list(spec.busy_hours),
            "profile": spec.profile,
            "busy_mbps_per_subscriber": model.busy_mbps_per_subscriber,
            "monthly_gb_per_subscriber": spec.monthly_gb_per_subscriber,
            "take_rate": spec.take_rate,
            "subscribers": subs,
            "take_rates": dict(spec.take_rates),
            "population_source": _population_source(model, g.resolution),
            "demand_file": spec.demand_file,
            "generations": {k: {"capacity_gbps": v.capacity_gbps, "beams": v.n_beams,
                                "cells_per_beam": v.cells_per_beam, "source": v.source}
                            for k, v in gens.items()},
            "satellites_by_generation": {k: int(np.sum(gen == k)) for k in gens},
            "link": {"model": spec.spectral_model, "esn0_zenith_db": spec.esn0_zenith_db,
                     "implementation_margin_db": spec.implementation_margin_db,
                     "channel_mhz": link.channel_mhz,
                     "beam_mbps_zenith": float(link.beam_mbps(90.0, 550.0)),
                     "beam_mbps_25deg": float(link.beam_mbps(25.0, _slant_km(25.0, 550.0)))},
            "gateway_antennas_default": spec.gateway_antennas,
            "feeder_gbps_per_antenna": spec.feeder_gbps_per_antenna,
            "whatif_on": list(spec.whatif_on),
            "whatif_off": list(spec.whatif_off),
            "whatif_policy": spec.whatif_policy,
            "outages": [o.name for o in outages],
            "sold_out_satisfaction": SOLD_OUT_SATISFACTION,
        }
        return cls(
            demand=demand, units=units, sat_capacity_mbps=cap, sat_beams=beams,
            sat_cell_limit=limit, generation=gen, link=link, sites=sites, gw_antennas=antennas,
            gw_capacity_mbps=gw_cap, lasers=bool(nspec.lasers), rule=spec.rule,
            busy_hours=(float(spec.busy_hours[0]), float(spec.busy_hours[1])),
            outages=outages, whatif_eval=whatif_eval, whatif_on=on, whatif_off=off,
            has_whatif=spec.has_whatif, assignment=spec.assignment, region_matrix=R,
            terminal_cell=_terminal_cells(ctx), info=info,
            every_steps=max(1, round(spec.every_s / ctx.step_s)))

    # ------------------------------------------------------------------------- per step
    def busy_mask(self, t_utc: np.datetime64) -> np.ndarray:
        """Whether each cell is in its busy hours (local mean solar time) at ``t_utc``."""
        h = local_solar_hour(t_utc, self.demand.lon_deg)
        a, b = self.busy_hours
        return (h >= a) & (h < b) if a < b else (h >= a) | (h < b)

    def whatif_served(self, step: StepData, n_cell: int) -> np.ndarray:
        """The what-if's served mask of the cells at ``step``."""
        allowed = (self.whatif_eval.served_at(step.i)[:n_cell] if self.whatif_eval is not None
                   else step.allowed[:n_cell])
        allowed = (allowed | self.whatif_on[:n_cell]) & ~self.whatif_off[:n_cell]
        return (step.visibility.n_visible[:n_cell] > 0) & allowed

    def _geometry(self, ctx: RunContext, r_sat: np.ndarray, cells: np.ndarray,
                  sats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Elevation (deg) and beam rate (Mbps) of the links ``cells[k]`` -> ``sats[k]``."""
        g = ctx.ground
        rho = r_sat[sats] - g.r_itrs_km[cells]
        rng = np.sqrt(np.einsum("ij,ij->i", rho, rho))
        el = np.degrees(np.arcsin(np.clip(np.einsum("ij,ij->i", rho, g.up[cells])
                                          / np.maximum(rng, 1e-9), -1.0, 1.0)))
        return el, self.link.beam_mbps(el, rng)

    def _candidates(self, ctx: RunContext, r_sat: np.ndarray, cells: np.ndarray,
                    sat_of_cell: np.ndarray, tree: tuple[cKDTree, np.ndarray, float]
                    ) -> tuple[np.ndarray, ...]:
        """The usable satellites ``cells`` may move to: the satellites nearest their current
        one (``1.5 x CANDIDATES_PER_CELL`` of them, one k-d tree query per satellite, not per
        cell), kept where at or above their elevation mask from the cell (GSO arc clear when
        the scenario asks), the ``CANDIDATES_PER_CELL`` highest. Returns cell, satellite,
        elevation (deg), beam rate (Mbps) per pair."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        sat_tree, ok, _radius = tree
        if cells.size == 0 or ok.size == 0:
            return empty
        g = ctx.ground
        k = min(CANDIDATES_PER_CELL + CANDIDATES_PER_CELL // 2, ok.size)
        own, inv = np.unique(sat_of_cell, return_inverse=True)
        _d, j = sat_tree.query(r_sat[own], k=k)
        near = ok[np.asarray(j).reshape(own.size, k)]         # (n_own, k) satellite indices
        ci = np.repeat(cells, k)
        si = near[inv].ravel()
        el, rate = self._geometry(ctx, r_sat, ci, si)
        keep = el >= ctx.masks_deg[si]
        if ctx.scenario.constellation.gso_exclusion and keep.any():
            kk = np.flatnonzero(keep)
            keep[kk] = ~gso_excluded(g.r_itrs_km[ci[kk]], r_sat[si[kk]], GSO_EXCLUSION_USER_DEG)
        ci, si, el, rate = ci[keep], si[keep], el[keep], rate[keep]
        order = np.lexsort((si, -el, ci))
        ci, si, el, rate = ci[order], si[order], el[order], rate[order]
        start = np.searchsorted(ci, ci, side="left")
        top = (np.arange(ci.size) - start) < CANDIDATES_PER_CELL
        return ci[top], si[top], el[top], rate[top]

    @staticmethod
    def satellite_tree(ctx: RunContext, r_sat: np.ndarray) -> tuple[cKDTree, np.ndarray, float]:
        """A k-d tree of the step's satellites (rows with positions), their indices, and a
        range (km) no usable link exceeds (lowest mask, highest satellite, spherical bound with
        a margin for the ellipsoid)."""
        ok = np.flatnonzero(np.isfinite(r_sat).all(axis=1))
        if ok.size == 0:
            return cKDTree(np.zeros((1, 3))), ok, 0.0
        rs = float(np.linalg.norm(r_sat[ok], axis=1).max())
        rg = 6356.0  # polar radius: the lowest ground point
        e = np.radians(max(float(np.min(ctx.masks_deg)) - 0.25, 0.0))
        radius = float(np.sqrt(rs**2 - (rg * np.cos(e)) ** 2) - rg * np.sin(e)) + 5.0
        return cKDTree(r_sat[ok]), ok, radius

    def step_allocations(self, ctx: RunContext, step: StepData) -> StepAllocations:
        """Offered traffic, assignment and allocation of every case at ``step``."""
        g = ctx.ground
        n = g.n_cells
        d = self.demand.offered_mbps(step.t_utc)
        sat0 = np.asarray(step.serving[:n], np.int64)
        masks = {"scenario": np.asarray(step.status[:n] == SERVED)}
        if self.has_whatif:
            masks["whatif"] = self.whatif_served(step, n)
        any_mask = np.zeros(n, bool)
        for m in masks.values():
            any_mask |= m
        cand = (sat0 >= 0) & (d > 0) & any_mask
        todo = np.flatnonzero(cand)
        rate0 = np.zeros(n)
        elev0 = np.full(n, -90.0)
        r_sat = np.asarray(step.r_sat_itrs_km, float)
        if todo.size:
            elev0[todo], rate0[todo] = self._geometry(ctx, r_sat, todo, sat0[todo])
        n_sat = r_sat.shape[0]
        needed = np.zeros(n_sat, bool)
        needed[sat0[todo]] = True
        gw_up = None
        down = False
        if self.outages:
            up, _pop = availability(self.outages, np.atleast_1d(step.t_utc), self.sites)
            gw_up = up[0]
            down = not bool(gw_up.all())
        balanced = self.assignment == "balanced"
        if balanced:
            needed[:] = True  # cells may move to any satellite in view
        gw = attach_gateways(r_sat, self.sites, gateway_up=gw_up, lasers=self.lasers,
                             needed=needed)
        gw_all = (attach_gateways(r_sat, self.sites, gateway_up=None, lasers=self.lasers,
                                  needed=needed) if down else gw)
        # Candidate satellites, computed once per step for the cells that need them.
        pairs: list[tuple[np.ndarray, ...]] = []
        have = np.zeros(n, bool)
        trees: list[tuple[cKDTree, np.ndarray, float]] = []

        def assign(mask: np.ndarray, gw_of_sat: np.ndarray, sat: np.ndarray,
                   rate: np.ndarray, elev: np.ndarray, movable: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            active = mask & cand
            s = np.where(active, sat, -1)
            if not balanced or not (movable & active).any():
                return s, rate, elev
            has_gw = gw_of_sat >= 0
            p = satellite_pressure(d, np.where(active, rate, 0.0), self.units, s, n_sat,
                                   self.sat_capacity_mbps, self.sat_beams,
                                   self.sat_cell_limit, has_gw)
            p_cell = np.where(rate > 0, p[np.maximum(s, 0)], np.inf)
            need = np.flatnonzero(movable & active & (p_cell > 1.0))
            if need.size == 0:
                return s, rate, elev
            # Cells that may move: those on overloaded satellites (and, for the other
            # rounds, nothing new: a destination never ends above its movers' source).
            new_cells = need[~have[need]]
            if new_cells.size:
                if not trees:
                    trees.append(self.satellite_tree(ctx, r_sat))
                pairs.append(self._candidates(ctx, r_sat, new_cells, sat0[new_cells],
                                              trees[0]))
                have[new_cells] = True
            ci, si, el, rt = (np.concatenate([p_[k] for p_ in pairs]) for k in range(4))
            pick = (movable & active)[ci] & np.isin(ci, need)
            s2, r2, e2 = balance(d, self.units, s, rate, movable & active, ci[pick], si[pick],
                                 rt[pick], self.sat_capacity_mbps, self.sat_beams,
                                 self.sat_cell_limit, has_gw, priority=elev,
                                 cand_priority=el[pick])
            return s2, r2, e2

        def run(mask: np.ndarray, gw_of_sat: np.ndarray, s: np.ndarray, rate: np.ndarray,
                elev: np.ndarray, first: np.ndarray | None = None,
                demand: np.ndarray | None = None) -> Allocation:
            active = mask & cand & (s >= 0) & (rate > 0)
            lit = np.zeros(n, bool)
            idx = np.flatnonzero(active)
            # Beams go to the highest cells first; ``first`` (cells already served) before
            # any other.
            prio = elev if first is None else elev + np.where(first, 1000.0, 0.0)
            lit[idx] = within_cell_limit(s[idx], self.units[idx], prio[idx],
                                         self.sat_cell_limit)
            # Served cells that are not lit keep their satellite and no rate: carried 0.
            s_case = np.where(mask & cand, s, -1)
            sats.append(s_case)
            return allocate(d if demand is None else demand, np.where(lit, rate, 0.0),
                            self.units, s_case, gw_of_sat,
                            self.sat_capacity_mbps, self.sat_beams, self.gw_capacity_mbps,
                            self.rule)

        cases: dict[str, Allocation] = {}
        sats: list[np.ndarray] = []
        satellite: dict[str, np.ndarray] = {}
        served: dict[str, np.ndarray] = {"scenario": masks["scenario"]}
        gateways = {"scenario": gw}
        ms = masks["scenario"]
        a_sat, a_rate, a_elev = assign(ms, gw, sat0, rate0, elev0, np.ones(n, bool))
        cases["scenario"] = run(ms, gw, a_sat, a_rate, a_elev)
        satellite["scenario"] = sats[-1]
        if "whatif" in masks:
            mw = masks["whatif"]
            served["whatif"] = mw
            gateways["whatif"] = gw
            if np.array_equal(mw, ms):
                cases["whatif"] = cases["scenario"]
                satellite["whatif"] = satellite["scenario"]
            else:
                # Cells served in both keep the scenario's satellites and beams and never get
                # more than in the scenario (switching a territory on hands capacity from the
                # others to it, never to them); the new cells go where capacity is left.
                both = mw & ms
                w_sat = np.where(both, a_sat, sat0)
                w_rate = np.where(both, a_rate, rate0)
                w_elev = np.where(both, a_elev, elev0)
                b_sat, b_rate, b_elev = assign(mw, gw, w_sat, w_rate, w_elev, mw & ~ms)
                d_w = np.where(both, np.minimum(d, cases["scenario"].carried), d)
                cases["whatif"] = run(mw, gw, b_sat, b_rate, b_elev, first=both, demand=d_w)
                satellite["whatif"] = sats[-1]
        if self.outages:
            served["all_up"] = ms
            gateways["all_up"] = gw_all
            if down:
                u_sat, u_rate, u_elev = assign(ms, gw_all, sat0, rate0, elev0,
                                               np.ones(n, bool))
                cases["all_up"] = run(ms, gw_all, u_sat, u_rate, u_elev)
                satellite["all_up"] = sats[-1]
            else:
                cases["all_up"] = cases["scenario"]
                satellite["all_up"] = satellite["scenario"]
        return StepAllocations(offered_mbps=d, beam_mbps=rate0, cases=cases, served=served,
                               satellite=satellite, gateway=gateways)

    def start(self, ctx: RunContext, t_utc: np.ndarray) -> _Acc:
        return _Acc(self, ctx, t_utc)

    def concat(self, a: CapacityPart, b: CapacityPart) -> CapacityPart:
        return CapacityPart(
            cell_kbps=a.cell_kbps + b.cell_kbps, cell_steps=a.cell_steps + b.cell_steps,
            sat_kbps=a.sat_kbps + b.sat_kbps, sat_max_mbps=np.maximum(a.sat_max_mbps,
                                                                      b.sat_max_mbps),
            sat_steps=a.sat_steps + b.sat_steps, gw_kbps=a.gw_kbps + b.gw_kbps,
            gw_max_mbps=np.maximum(a.gw_max_mbps, b.gw_max_mbps),
            gw_steps=a.gw_steps + b.gw_steps,
            series=np.concatenate([a.series, b.series]),
            t_utc=np.concatenate([a.t_utc, b.t_utc]))

    # ------------------------------------------------------------------------- finalize
    def finalize(self, ctx: RunContext, part: CapacityPart) -> dict[str, Any]:
        """Cell and terminal columns, region rows, per-step and per-site tables, what-ifs."""
        g = ctx.ground
        n_steps = self.n_sampled(ctx.n_steps)
        ck = part.cell_kbps.astype(np.float64) / _KBPS
        cs = part.cell_steps.astype(np.float64)
        dem = self.demand
        cells: dict[str, np.ndarray] = {}
        cells["population"] = dem.population
        cells["subscribers"] = dem.subscribers
        busy = cs[_BUSY]
        with np.errstate(invalid="ignore", divide="ignore"):
            bmean = {k: np.where(busy > 0, ck[k] / busy, np.nan)
                     for k in (_DEMAND_BUSY, _CARRIED_BUSY, _W_CARRIED_BUSY, _U_CARRIED_BUSY)}
            cells["demand_mbps"] = bmean[_DEMAND_BUSY]
            cells["carried_mbps"] = bmean[_CARRIED_BUSY]
            cells["mbps_per_subscriber"] = np.where(dem.subscribers > 0,
                                                    bmean[_CARRIED_BUSY] / dem.subscribers,
                                                    np.nan)
            cells["oversubscription"] = np.where(bmean[_CARRIED_BUSY] > 0,
                                                 bmean[_DEMAND_BUSY] / bmean[_CARRIED_BUSY],
                                                 np.nan)
            cells["sold_out_share"] = np.where(cs[_SERVED_BUSY] > 0,
                                               cs[_SOLD_BUSY] / cs[_SERVED_BUSY], np.nan)
            cells["headroom_mbps"] = np.where(cs[_SERVED_BUSY] > 0,
                                              ck[_HEAD_BUSY] / cs[_SERVED_BUSY], np.nan)
            cells["demand_mean_mbps"] = ck[_DEMAND] / n_steps
            cells["carried_mean_mbps"] = ck[_CARRIED] / n_steps
            if self.has_whatif:
                cells["whatif_carried_mbps"] = bmean[_W_CARRIED_BUSY]
                cells["carried_change_mbps"] = bmean[_W_CARRIED_BUSY] - bmean[_CARRIED_BUSY]
                cells["whatif_mbps_per_subscriber"] = np.where(
                    dem.subscribers > 0, bmean[_W_CARRIED_BUSY] / dem.subscribers, np.nan)
                cells["whatif_sold_out_share"] = np.where(
                    cs[_W_SERVED_BUSY] > 0, cs[_W_SOLD_BUSY] / cs[_W_SERVED_BUSY], np.nan)
            if self.outages:
                cells["all_up_carried_mbps"] = bmean[_U_CARRIED_BUSY]
                cells["carried_lost_mbps"] = bmean[_U_CARRIED_BUSY] - bmean[_CARRIED_BUSY]
        # ---- regions
        rows = []
        for name in g.regions:
            idx = g.members[name]
            rows.append(self._region_row(name, idx, cells, cs))
        # ---- terminals: the values of the cell holding them
        tc = self.terminal_cell
        term = {}
        for col in ("mbps_per_subscriber", "sold_out_share", "headroom_mbps"):
            v = cells[col]
            term[col] = np.where(tc >= 0, v[np.maximum(tc, 0)] if v.size else np.nan, np.nan)
        # ---- tables
        tables: dict[str, pd.DataFrame] = {}
        if g.n_cells == 0:  # terminals only: nothing was allocated
            return {"cell_columns": cells, "region_rows": [{"region": r} for r in g.regions],
                    "region_columns": [], "terminal_columns": term, "tables": tables,
                    "info": dict(self.info)}
        tables["capacity_by_time"] = self._by_time(ctx, part)
        tables["satellite_load"] = self._satellites(ctx, part)
        tables["gateway_capacity"] = self._gateways(ctx, part)
        if self.has_whatif:
            tables["capacity_whatif_regions"] = pd.DataFrame([{
                "region": r["region"], "subscribers": r["subscribers"],
                "carried_mbps": r["carried_mbps"], "whatif_carried_mbps": r["whatif_carried_mbps"],
                "carried_change_mbps": r["carried_change_mbps"],
                "mbps_per_subscriber": r["mbps_per_subscriber"],
                "whatif_mbps_per_subscriber": r["whatif_mbps_per_subscriber"],
                "sold_out_share": r["sold_out_share"],
                "whatif_sold_out_share": r["whatif_sold_out_share"]} for r in rows])
        if self.outages:
            tables["capacity_outage_regions"] = pd.DataFrame([{
                "region": r["region"], "all_up_carried_mbps": r["all_up_carried_mbps"],
                "carried_mbps": r["carried_mbps"], "carried_lost_mbps": r["carried_lost_mbps"],
                "all_up_mbps_per_subscriber": r["all_up_mbps_per_subscriber"],
                "mbps_per_subscriber": r["mbps_per_subscriber"]} for r in rows])
        region_cols = ["population", "subscribers", "demand_mbps", "carried_mbps",
                       "mbps_per_subscriber", "oversubscription", "sold_out_share",
                       "headroom_p50_mbps", "demand_mean_mbps", "carried_mean_mbps"]
        if self.has_whatif:
            region_cols += ["whatif_carried_mbps", "carried_change_mbps",
                            "whatif_mbps_per_subscriber", "whatif_sold_out_share"]
        if self.outages:
            region_cols += ["all_up_carried_mbps", "carried_lost_mbps"]
        return {"cell_columns": cells, "region_rows": [{k: r[k] for k in ("region",
                                                                           *region_cols)}
                                                       for r in rows],
                "region_columns": region_cols, "terminal_columns": term, "tables": tables,
                "info": dict(self.info)}

    def _region_row(self, name: str, idx: np.ndarray, cells: dict[str, np.ndarray],
                    cs: np.ndarray) -> dict[str, Any]:
        subs = self.demand.subscribers[idx]
        has = np.isfinite(cells["demand_mbps"][idx])
        row: dict[str, Any] = {"region": name,
                               "population": float(self.demand.population[idx].sum()),
                               "subscribers": float(subs.sum())}

        def total(col: str) -> float:
            return float(np.sum(cells[col][idx][has])) if has.any() else np.nan

        sub_has = float(subs[has].sum())
        row["demand_mbps"] = total("demand_mbps")
        row["carried_mbps"] = total("carried_mbps")
        row["mbps_per_subscriber"] = row["carried_mbps"] / sub_has if sub_has > 0 else np.nan
        row["oversubscription"] = (row["demand_mbps"] / row["carried_mbps"]
                                   if row["carried_mbps"] > 0 else np.nan)
        w_served = subs * cs[_SERVED_BUSY][idx]
        row["sold_out_share"] = (float(np.sum(subs * cs[_SOLD_BUSY][idx]) / w_served.sum())
                                 if w_served.sum() > 0 else np.nan)
        hr = cells["headroom_mbps"][idx]
        ok = np.isfinite(hr) & (subs > 0)
        row["headroom_p50_mbps"] = _weighted_median(hr[ok], subs[ok])
        row["demand_mean_mbps"] = float(cells["demand_mean_mbps"][idx].sum())
        row["carried_mean_mbps"] = float(cells["carried_mean_mbps"][idx].sum())
        if self.has_whatif:
            row["whatif_carried_mbps"] = total("whatif_carried_mbps")
            row["carried_change_mbps"] = row["whatif_carried_mbps"] - row["carried_mbps"]
            row["whatif_mbps_per_subscriber"] = (row["whatif_carried_mbps"] / sub_has
                                                 if sub_has > 0 else np.nan)
            ww = subs * cs[_W_SERVED_BUSY][idx]
            row["whatif_sold_out_share"] = (
                float(np.sum(subs * cs[_W_SOLD_BUSY][idx]) / ww.sum()) if ww.sum() > 0
                else np.nan)
        if self.outages:
            row["all_up_carried_mbps"] = total("all_up_carried_mbps")
            row["carried_lost_mbps"] = row["all_up_carried_mbps"] - row["carried_mbps"]
            row["all_up_mbps_per_subscriber"] = (row["all_up_carried_mbps"] / sub_has
                                                 if sub_has > 0 else np.nan)
        return row

    def _by_time(self, ctx: RunContext, part: CapacityPart) -> pd.DataFrame:
        g = ctx.ground
        n_t, n_r = part.series.shape[0], len(g.regions)
        t = pd.DatetimeIndex(np.asarray(part.t_utc, "datetime64[ns]")).tz_localize("UTC")
        frame = pd.DataFrame({
            "region": np.repeat(np.asarray(g.regions, dtype=object), n_t),
            "t_utc": np.tile(t, n_r) if n_r else pd.DatetimeIndex([], tz="UTC"),
            "demand_mbps": part.series[:, :, _S_DEMAND].T.ravel(),
            "carried_mbps": part.series[:, :, _S_CARRIED].T.ravel(),
        })
        if self.has_whatif:
            frame["whatif_carried_mbps"] = part.series[:, :, _S_WHATIF].T.ravel()
        if self.outages:
            frame["all_up_carried_mbps"] = part.series[:, :, _S_ALLUP].T.ravel()
        # Only the allocated steps (every capacity.every).
        step = np.tile(np.arange(n_t), n_r)
        keep = np.array([self.sampled(int(i)) for i in range(n_t)], bool)[step] if n_t else step
        return frame[keep].reset_index(drop=True)

    def _satellites(self, ctx: RunContext, part: CapacityPart) -> pd.DataFrame:
        const = ctx.constellation
        n = self.n_sampled(ctx.n_steps)
        mean = part.sat_kbps / _KBPS / n
        shells = const.shell if len(const.shell) == len(const) else ("",) * len(const)
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(self.sat_capacity_mbps > 0, mean / self.sat_capacity_mbps, np.nan)
        return pd.DataFrame({
            "norad_id": np.asarray(const.norad_ids, np.int64),
            "shell": np.asarray(shells, dtype=object),
            "generation": self.generation,
            "capacity_mbps": self.sat_capacity_mbps,
            "beams": self.sat_beams.astype(np.int64),
            "carried_mean_mbps": mean,
            "carried_max_mbps": part.sat_max_mbps,
            "utilization": util,
            "saturated_share": part.sat_steps[0] / n,
            "active_share": part.sat_steps[1] / n,
        })

    def _gateways(self, ctx: RunContext, part: CapacityPart) -> pd.DataFrame:
        n = self.n_sampled(ctx.n_steps)
        mean = part.gw_kbps[0] / _KBPS / n
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(self.gw_capacity_mbps > 0, mean / self.gw_capacity_mbps, np.nan)
        frame = pd.DataFrame({
            "gateway": list(self.sites.gateway_names),
            "antennas": self.gw_antennas,
            "capacity_mbps": self.gw_capacity_mbps,
            "carried_mean_mbps": mean,
            "carried_max_mbps": part.gw_max_mbps,
            "utilization": util,
            "saturated_share": part.gw_steps / n,
        })
        if self.outages:
            frame["all_up_carried_mean_mbps"] = part.gw_kbps[1] / _KBPS / n
        return frame


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if values.size == 0 or not np.sum(weights) > 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) / np.sum(w)
    return float(v[np.searchsorted(cum, 0.5 - 1e-12)])


def _slant_km(elevation_deg: float, altitude_km: float) -> float:
    """Slant range to a satellite at ``altitude_km`` seen at ``elevation_deg`` (sphere)."""
    r, e = 6371.0, np.radians(elevation_deg)
    return float(np.sqrt((r + altitude_km) ** 2 - (r * np.cos(e)) ** 2) - r * np.sin(e))


def _population_source(model: DemandModel, resolution: np.ndarray) -> str:
    from ..capacity import population_grid
    from ..capacity.demand import FINEST_POPULATION_RESOLUTION

    res = sorted({min(int(r), FINEST_POPULATION_RESOLUTION) for r in np.unique(resolution)})
    if not res:
        return ""
    grid = population_grid(res[0], model.edition, min_city_population=model.min_city_population,
                           rural_min_share=model.rural_min_share)
    return grid.source

