"""Allocation per step: satellites' beams and gateways' feeders to demanded, served cells.

The model (one step)
--------------------
Every active cell ``c`` (served by the policy, in view, with demand) is assigned to one
satellite ``s(c)`` (the scheduler's choice: one satellite per cell and 15 s slot) whose traffic
lands at one gateway ``g(s)``. With ``x_c`` the carried Mbps, ``r_c`` the rate of one beam on
the cell (link budget), ``u_c`` the service (res-5) cells it stands for::

    0 <= x_c <= cap_c = min(d_c, u_c r_c)        demand; at most one beam per service cell
    sum_{c in s} x_c / r_c <= B_s                the satellite's beams (airtime, beam units)
    sum_{c in s} x_c       <= C_s                the satellite's capacity (Mbps)
    sum_{c in g} x_c       <= G_g                the gateway's feeder capacity (Mbps)

Cells beyond a satellite's ``beams x cells_per_beam`` service cells (by elevation, highest
first) are not lit at this step (`within_cell_limit`).

The rule
--------
``max-min`` (default): the lexicographically max-min fair ``x`` (no cell can gain without a
cell with less or equal losing). ``proportional``: the same with weights ``d_c`` (every cell
at a bottleneck gets the same share of its demand: pro rata). Both come from progressive
filling: all unfrozen cells rise as ``t w_c``; a cell freezes at its cap, and every cell of
a constraint freezes when the constraint binds. The constraints are nested (cells in
satellites in gateways), so progressive filling has a closed form: the level ``L_s`` of each
satellite (the lowest level at which one of its two constraints binds, given the caps), then
the level ``L_g`` of each gateway with caps ``min(cap_c, L_s w_c)``, and
``x_c = min(cap_c, L_s w_c, L_g w_c)``. Each level is a water-filling over sorted breakpoints
(`waterfill_levels`): sort, cumulative sums, one division; no loop over cells or satellites.
Tests check the result against lexicographic max-min by repeated linear programs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RULES", "Allocation", "allocate", "balance", "satellite_pressure", "waterfill_levels",
           "within_cell_limit"]

#: Allocation rules.
RULES = ("max-min", "proportional")


def waterfill_levels(group: np.ndarray, n_group: int, cap: np.ndarray, weight: np.ndarray,
                     coef: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Per group ``g``: the largest ``t`` with ``sum_{c in g} coef_c min(cap_c, t w_c) <=
    budget_g`` (``inf`` where even every cap fits).

    Parameters
    ----------
    group : int64 (n,), in [0, n_group)
    cap, coef : float64 (n,), >= 0
    weight : float64 (n,); items with weight <= 0 never rise (they hold 0)
    budget : float64 (n_group,), >= 0
    """
    n = group.size
    level = np.full(n_group, np.inf)
    if n == 0:
        return level
    w = np.asarray(weight, float)
    c = np.where(w > 0, np.asarray(cap, float), 0.0)
    b = np.where(w > 0, c / np.where(w > 0, w, 1.0), 0.0)
    order = np.lexsort((b, group))
    g, b, a, w = group[order], b[order], np.asarray(coef, float)[order], w[order]
    acap = a * c[order]
    aw = a * w
    start = np.searchsorted(g, np.arange(n_group))
    cum_acap = np.cumsum(acap)
    cum_aw = np.cumsum(aw)
    base_acap = np.where(start > 0, cum_acap[np.maximum(start - 1, 0)], 0.0)
    base_aw = np.where(start > 0, cum_aw[np.maximum(start - 1, 0)], 0.0)
    tot_aw = np.bincount(g, weights=aw, minlength=n_group)
    prefix_acap = cum_acap - acap - base_acap[g]          # sum over j < k in the group
    suffix_aw = tot_aw[g] - (cum_aw - aw - base_aw[g])     # sum over j >= k in the group
    f = prefix_acap + b * suffix_aw                        # the load at level b_k
    exceed = f > budget[g]
    big = np.iinfo(np.int64).max
    first = np.full(n_group, big, np.int64)
    np.minimum.at(first, g[exceed], np.flatnonzero(exceed))
    has = first < big
    k = first[has]
    level[has] = np.maximum((budget[has] - prefix_acap[k]) / suffix_aw[k], 0.0)
    return level


def within_cell_limit(sat: np.ndarray, units: np.ndarray, priority: np.ndarray,
                      limit: np.ndarray) -> np.ndarray:
    """Bool per cell: whether it is among the service cells its satellite can light at once
    (``limit[sat]`` service cells, ``units`` per cell, highest ``priority`` first)."""
    n = sat.size
    if n == 0:
        return np.zeros(0, bool)
    order = np.lexsort((-priority, sat))
    s = sat[order]
    u = units[order].astype(np.float64)
    cum = np.cumsum(u)
    start = np.searchsorted(s, s, side="left")
    before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    inside = (cum - before) <= limit[s] + 1e-9
    out = np.zeros(n, bool)
    out[order] = inside
    return out


@dataclass(frozen=True)
class Allocation:
    """One step's allocation.

    carried : float64 (n_cell,) Mbps (0 for inactive cells)
    headroom : float64 (n_cell,) Mbps a single extra saturating user of the cell could add
        while everybody else keeps their rate: the rest of its service cell's beam, capped by
        the satellite's spare beams and capacity and the gateway's (NaN for inactive cells)
    sat_carried, sat_airtime : float64 (n_sat,) Mbps and beams in use
    sat_saturated : bool (n_sat,) one of the satellite's constraints binds
    gw_carried : float64 (n_gw,) Mbps
    gw_saturated : bool (n_gw,)
    """

    carried: np.ndarray
    headroom: np.ndarray
    sat_carried: np.ndarray
    sat_airtime: np.ndarray
    sat_saturated: np.ndarray
    gw_carried: np.ndarray
    gw_saturated: np.ndarray


def allocate(demand_mbps: np.ndarray, beam_mbps: np.ndarray, units: np.ndarray,
             sat: np.ndarray, gateway: np.ndarray, sat_capacity_mbps: np.ndarray,
             sat_beams: np.ndarray, gw_capacity_mbps: np.ndarray, rule: str = "max-min"
             ) -> Allocation:
    """Allocate one step (see the module docstring).

    Parameters
    ----------
    demand_mbps, beam_mbps, units : float64 (n_cell,)
        Offered Mbps, one beam's Mbps on the cell, service cells it stands for.
    sat : int64 (n_cell,)
        Satellite of each cell, -1 = not active (no satellite, not served or not lit).
    gateway : int64 (n_sat,)
        Gateway of each satellite, -1 = none (its cells carry nothing).
    sat_capacity_mbps, sat_beams : float64 (n_sat,)
    gw_capacity_mbps : float64 (n_gw,)
    rule : ``max-min`` or ``proportional``
    """
    if rule not in RULES:
        raise ValueError(f"unknown allocation rule {rule!r}; rules: {', '.join(RULES)}")
    d = np.asarray(demand_mbps, float)
    r = np.asarray(beam_mbps, float)
    n_cell, n_sat, n_gw = d.size, sat_capacity_mbps.size, gw_capacity_mbps.size
    s_all = np.asarray(sat, np.int64)
    gw_of_cell = np.where(s_all >= 0, gateway[np.maximum(s_all, 0)], -1)
    act = np.flatnonzero((s_all >= 0) & (gw_of_cell >= 0) & (d > 0) & (r > 0))
    carried = np.zeros(n_cell)
    headroom = np.full(n_cell, np.nan)
    # Served cells that cannot be carried (no gateway, no usable link): headroom 0.
    dead = s_all >= 0
    dead[act] = False
    headroom[dead] = 0.0
    if act.size == 0:
        return Allocation(carried, headroom, np.zeros(n_sat), np.zeros(n_sat),
                          np.zeros(n_sat, bool), np.zeros(n_gw), np.zeros(n_gw, bool))
    s = s_all[act]
    g = gw_of_cell[act]
    dc, rc = d[act], r[act]
    cap = np.minimum(dc, np.asarray(units, float)[act] * rc)
    w = np.ones(act.size) if rule == "max-min" else dc
    ones = np.ones(act.size)
    l_air = waterfill_levels(s, n_sat, cap, w, 1.0 / rc, np.asarray(sat_beams, float))
    l_thr = waterfill_levels(s, n_sat, cap, w, ones, np.asarray(sat_capacity_mbps, float))
    l_sat = np.minimum(l_air, l_thr)
    cap1 = np.minimum(cap, l_sat[s] * w)
    l_gw = waterfill_levels(g, n_gw, cap1, w, ones, np.asarray(gw_capacity_mbps, float))
    x = np.minimum(cap1, l_gw[g] * w)
    carried[act] = x
    sat_carried = np.bincount(s, weights=x, minlength=n_sat)
    sat_air = np.bincount(s, weights=x / rc, minlength=n_sat)
    gw_carried = np.bincount(g, weights=x, minlength=n_gw)
    # Saturation: the binding level is below some cell's cap (a constraint froze cells).
    sat_sat = np.zeros(n_sat, bool)
    np.logical_or.at(sat_sat, s, cap > l_sat[s] * w + 1e-9 * np.maximum(cap, 1.0))
    gw_sat = np.zeros(n_gw, bool)
    np.logical_or.at(gw_sat, g, cap1 > l_gw[g] * w + 1e-9 * np.maximum(cap1, 1.0))
    # Headroom: what one more saturating user in the cell could add, others unchanged. The
    # user sits in one service cell under one beam; a coarser cell's traffic is spread evenly
    # over its service cells.
    uc = np.asarray(units, float)[act]
    beam_left = rc - x / uc
    air_left = (np.asarray(sat_beams, float) - sat_air)[s] * rc
    thr_left = (np.asarray(sat_capacity_mbps, float) - sat_carried)[s]
    gw_left = (np.asarray(gw_capacity_mbps, float) - gw_carried)[g]
    headroom[act] = np.maximum(np.minimum(np.minimum(beam_left, air_left),
                                          np.minimum(thr_left, gw_left)), 0.0)
    return Allocation(carried, headroom, sat_carried, sat_air, sat_sat, gw_carried, gw_sat)


def satellite_pressure(demand_mbps: np.ndarray, beam_mbps: np.ndarray, units: np.ndarray,
                       sat: np.ndarray, n_sat: int, sat_capacity_mbps: np.ndarray,
                       sat_beams: np.ndarray, sat_cell_limit: np.ndarray,
                       has_gateway: np.ndarray) -> np.ndarray:
    """Load of each satellite over what it can give if every cell got its cap: the largest of
    beams needed / beams, Mbps / capacity and service cells / cell limit (``inf`` for a loaded
    satellite without a gateway). Cells with ``sat < 0`` are not counted."""
    on = sat >= 0
    s = sat[on]
    r = beam_mbps[on]
    cap = np.minimum(demand_mbps[on], units[on] * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        air = np.bincount(s, weights=np.where(r > 0, cap / np.where(r > 0, r, 1.0), 0.0),
                          minlength=n_sat) / sat_beams
        thr = np.bincount(s, weights=cap, minlength=n_sat) / np.where(
            sat_capacity_mbps > 0, sat_capacity_mbps, np.nan)
        cnt = np.bincount(s, weights=units[on], minlength=n_sat) / sat_cell_limit
    thr = np.where(np.isnan(thr), np.where(np.bincount(s, weights=cap, minlength=n_sat) > 0,
                                           np.inf, 0.0), thr)
    p = np.maximum(np.maximum(air, thr), cnt)
    return np.where(has_gateway | (p == 0), p, np.inf)


def balance(demand_mbps: np.ndarray, units: np.ndarray, sat: np.ndarray, beam_mbps: np.ndarray,
            movable: np.ndarray, cand_cell: np.ndarray, cand_sat: np.ndarray,
            cand_beam_mbps: np.ndarray, sat_capacity_mbps: np.ndarray, sat_beams: np.ndarray,
            sat_cell_limit: np.ndarray, has_gateway: np.ndarray, rounds: int = 4,
            priority: np.ndarray | None = None, cand_priority: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A load-aware scheduler: move cells off overloaded satellites to other satellites they
    see, vectorised over cells, a few rounds.

    In each round every movable cell on a satellite whose `satellite_pressure` exceeds 1
    (or whose link carries nothing: no MODCOD at that elevation) proposes its candidate
    satellite (``cand_*``: pairs with the beam rate there) with the lowest pressure after the
    move; a proposal is kept when that pressure stays below the pressure of the cell's current
    satellite, taking the proposals to the same satellite in order of their resulting
    pressure (cumulatively), so no satellite is overfilled by simultaneous moves.
    Deterministic (ties by satellite index).

    Returns the new satellite, beam rate and ``priority`` (carried along from
    ``cand_priority``, e.g. the elevation) of every cell.
    """
    sat = np.asarray(sat, np.int64).copy()
    rate = np.asarray(beam_mbps, float).copy()
    prio = (np.zeros(sat.size) if priority is None else np.asarray(priority, float)).copy()
    c_prio = (np.zeros(cand_cell.size) if cand_priority is None
              else np.asarray(cand_priority, float))
    n_sat = sat_beams.size
    d = np.asarray(demand_mbps, float)
    u = np.asarray(units, float)
    for _ in range(rounds):
        p = satellite_pressure(d, rate, u, sat, n_sat, sat_capacity_mbps, sat_beams,
                               sat_cell_limit, has_gateway)
        # A cell's own pressure: its satellite's, or inf where its link carries nothing.
        p_cell = np.where(rate > 0, p[np.maximum(sat, 0)], np.inf)
        src = sat[cand_cell]
        over = movable[cand_cell] & (src >= 0) & (p_cell[cand_cell] > 1.0) \
            & (cand_sat != src) & (cand_beam_mbps > 0) & has_gateway[cand_sat]
        if not over.any():
            break
        ci, cs, cr, cp = (cand_cell[over], cand_sat[over], cand_beam_mbps[over],
                          c_prio[over])
        cap = np.minimum(d[ci], u[ci] * cr)
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = np.maximum(np.maximum(cap / cr / sat_beams[cs],
                                          np.where(sat_capacity_mbps[cs] > 0,
                                                   cap / sat_capacity_mbps[cs], np.inf)),
                               u[ci] / sat_cell_limit[cs])
        new = p[cs] + delta
        # Best candidate per cell (lowest resulting pressure, then lowest satellite index).
        order = np.lexsort((cs, new, ci))
        ci, cs, cr, cp, new, delta = (a[order] for a in (ci, cs, cr, cp, new, delta))
        first = np.r_[True, ci[1:] != ci[:-1]]
        ci, cs, cr, cp, new, delta = (a[first] for a in (ci, cs, cr, cp, new, delta))
        p_src = p_cell[ci]
        keep = new < p_src
        ci, cs, cr, cp, new, delta, p_src = (a[keep] for a in (ci, cs, cr, cp, new, delta,
                                                                p_src))
        if ci.size == 0:
            break
        # Per destination, in order of resulting pressure: cumulative pressure stays below
        # each mover's source pressure.
        order = np.lexsort((ci, new, cs))
        ci, cs, cr, cp, delta, p_src = (a[order] for a in (ci, cs, cr, cp, delta, p_src))
        cum = np.cumsum(delta)
        start = np.searchsorted(cs, cs, side="left")
        before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        ok = p[cs] + (cum - before) < p_src
        # Stop at the first refusal of each destination (keep a prefix).
        bad_rank = np.where(~ok, np.arange(ok.size), ok.size)
        first_bad = np.full(n_sat, ok.size)
        np.minimum.at(first_bad, cs, bad_rank)
        ok &= np.arange(ok.size) < first_bad[cs]
        if not ok.any():
            break
        sat[ci[ok]] = cs[ok]
        rate[ci[ok]] = cr[ok]
        prio[ci[ok]] = cp[ok]
    return sat, rate, prio
