"""The allocation against linear programs: lexicographic max-min (and pro-rata) fairness,
conservation, the cell limit, monotonicity when demand is added."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from skyfence.capacity import allocate, waterfill_levels, within_cell_limit


def _instance(rng: np.random.Generator) -> dict:
    n_cell = int(rng.integers(3, 11))
    n_sat = int(rng.integers(1, 4))
    n_gw = int(rng.integers(1, 3))
    sat = rng.integers(-1, n_sat, n_cell)
    sat[rng.integers(0, n_cell)] = 0  # at least one active cell
    gateway = rng.integers(0, n_gw, n_sat)
    if n_sat > 1 and rng.random() < 0.3:
        gateway[-1] = -1  # a satellite with no gateway
    demand = rng.uniform(0.0, 100.0, n_cell) * (rng.random(n_cell) > 0.1)
    beam = rng.uniform(20.0, 90.0, n_cell)
    units = rng.integers(1, 3, n_cell).astype(float)
    # Capacities around the load so that some constraints bind and others do not.
    load = np.bincount(np.maximum(sat, 0), weights=demand * (sat >= 0), minlength=n_sat)
    return {
        "demand_mbps": demand, "beam_mbps": beam, "units": units, "sat": sat,
        "gateway": gateway,
        "sat_capacity_mbps": load * rng.uniform(0.3, 1.5, n_sat),
        "sat_beams": rng.uniform(0.5, 3.0, n_sat),
        "gw_capacity_mbps": rng.uniform(30.0, 250.0, n_gw),
    }


def _constraints(inst: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The active cells, their caps and the linear constraints ``A x <= b`` over them."""
    d, r, s, g = (inst["demand_mbps"], inst["beam_mbps"], inst["sat"], inst["gateway"])
    gw_cell = np.where(s >= 0, g[np.maximum(s, 0)], -1)
    act = np.flatnonzero((s >= 0) & (gw_cell >= 0) & (d > 0))
    cap = np.minimum(d[act], inst["units"][act] * r[act])
    rows, rhs = [], []
    for k in range(inst["sat_beams"].size):
        on = s[act] == k
        rows.append(np.where(on, 1.0 / r[act], 0.0))
        rhs.append(inst["sat_beams"][k])
        rows.append(on.astype(float))
        rhs.append(inst["sat_capacity_mbps"][k])
    for k in range(inst["gw_capacity_mbps"].size):
        rows.append((gw_cell[act] == k).astype(float))
        rhs.append(inst["gw_capacity_mbps"][k])
    return act, cap, np.array(rows), np.array(rhs)


def _lexicographic_maxmin(cap: np.ndarray, w: np.ndarray, A: np.ndarray, b: np.ndarray
                          ) -> np.ndarray:
    """Weighted lexicographic max-min of ``x / w`` over ``{0 <= x <= cap, A x <= b}`` by
    repeated LPs: maximise the common level of the unfrozen cells, then freeze every cell
    that cannot exceed it while the others keep it."""
    n = cap.size
    frozen = np.zeros(n, bool)
    value = np.zeros(n)
    while not frozen.all():
        free = np.flatnonzero(~frozen)
        # Variables: x (n), t. Maximise t subject to x_c >= t w_c for free c.
        c = np.zeros(n + 1)
        c[-1] = -1.0
        A_ub = [np.r_[row, 0.0] for row in A]
        b_ub = list(b)
        for j in free:
            row = np.zeros(n + 1)
            row[j] = -1.0
            row[-1] = w[j]
            A_ub.append(row)
            b_ub.append(0.0)
        bounds = [(value[j], value[j]) if frozen[j] else (0.0, cap[j]) for j in range(n)]
        res = linprog(c, A_ub=np.array(A_ub), b_ub=np.array(b_ub),
                      bounds=[*bounds, (0.0, None)], method="highs")
        assert res.status == 0, res.message
        t = res.x[-1]
        # Which free cells can go above t (others held at >= t w)?
        any_frozen = False
        for j in free:
            c2 = np.zeros(n)
            c2[j] = -1.0 / w[j]
            A2 = list(A)
            b2 = list(b)
            for i in free:
                if i != j:
                    row = np.zeros(n)
                    row[i] = -1.0
                    A2.append(row)
                    b2.append(-t * w[i] + 1e-9)
            r2 = linprog(c2, A_ub=np.array(A2), b_ub=np.array(b2), bounds=bounds,
                         method="highs")
            assert r2.status == 0, r2.message
            if -r2.fun <= t * (1 + 1e-7) + 1e-7:
                frozen[j] = True
                value[j] = t * w[j]
                any_frozen = True
        assert any_frozen
    return value


@pytest.mark.parametrize("rule", ["max-min", "proportional"])
def test_allocation_is_lexicographic_fair_like_the_linear_program(rule: str) -> None:
    rng = np.random.default_rng(20260223 if rule == "max-min" else 7)
    bound_seen = 0
    for _ in range(30):
        inst = _instance(rng)
        got = allocate(**inst, rule=rule)
        act, cap, A, b = _constraints(inst)
        w = np.ones(act.size) if rule == "max-min" else inst["demand_mbps"][act]
        want = _lexicographic_maxmin(cap, w, A, b)
        np.testing.assert_allclose(got.carried[act], want, rtol=1e-6, atol=1e-6)
        rest = np.setdiff1d(np.arange(inst["sat"].size), act)
        assert np.all(got.carried[rest] == 0.0)
        bound_seen += int(np.any(want < cap - 1e-6))
    assert bound_seen >= 10  # the instances exercise binding constraints, not only caps


def test_conservation_and_limits_on_random_instances() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        inst = _instance(rng)
        for rule in ("max-min", "proportional"):
            a = allocate(**inst, rule=rule)
            s, g = inst["sat"], inst["gateway"]
            assert np.all(a.carried <= inst["demand_mbps"] + 1e-9)
            assert np.all(a.carried >= 0.0)
            assert np.all(a.sat_carried <= inst["sat_capacity_mbps"] * (1 + 1e-12) + 1e-9)
            assert np.all(a.sat_airtime <= inst["sat_beams"] * (1 + 1e-12) + 1e-12)
            assert np.all(a.gw_carried <= inst["gw_capacity_mbps"] * (1 + 1e-12) + 1e-9)
            total = a.carried.sum()
            assert a.sat_carried.sum() == pytest.approx(total, rel=1e-12, abs=1e-9)
            assert a.gw_carried.sum() == pytest.approx(total, rel=1e-12, abs=1e-9)
            per_sat = np.bincount(s[s >= 0], weights=a.carried[s >= 0],
                                  minlength=inst["sat_beams"].size)
            np.testing.assert_allclose(per_sat, a.sat_carried, rtol=1e-12, atol=1e-9)
            dead = (s >= 0) & (g[np.maximum(s, 0)] < 0)
            assert np.all(a.carried[dead] == 0.0)
            assert np.all(a.headroom[s >= 0] >= 0.0)


def test_adding_demand_never_raises_the_others_behind_a_gateway() -> None:
    # Switching cells on (new demand on the same satellites): what the others carry behind
    # each gateway never grows. (A single other cell can: a satellite spending beams on new
    # low-rate cells sends less through its gateway, which cells of another satellite there
    # may use; max-min fairness is not population-monotone. The stage's what-if therefore
    # caps the others at what they had; see test_capacity_stage.)
    rng = np.random.default_rng(3)
    for _ in range(400):
        inst = _instance(rng)
        off = rng.random(inst["sat"].size) < 0.4
        before = dict(inst, sat=np.where(off, -1, inst["sat"]))
        s, g = inst["sat"], inst["gateway"]
        gw = np.where(~off & (s >= 0), g[np.maximum(s, 0)], -1)
        on = gw >= 0
        for rule in ("max-min", "proportional"):
            a = allocate(**before, rule=rule)
            b = allocate(**inst, rule=rule)
            per_a = np.bincount(gw[on], weights=a.carried[on], minlength=3)
            per_b = np.bincount(gw[on], weights=b.carried[on], minlength=3)
            assert np.all(per_b <= per_a + 1e-6)
            # Capped at what they had, the others never gain, cell by cell.
            capped = dict(inst, demand_mbps=np.where(off, inst["demand_mbps"],
                                                     np.minimum(inst["demand_mbps"],
                                                                a.carried)))
            c = allocate(**capped, rule=rule)
            assert np.all(c.carried[~off] <= a.carried[~off] + 1e-9)
            assert c.carried[off].sum() >= b.carried[off].sum() - 1e-6


def test_waterfill_level_solves_the_budget() -> None:
    rng = np.random.default_rng(5)
    group = rng.integers(0, 4, 40)
    cap = rng.uniform(0, 10, 40)
    w = rng.uniform(0.5, 2.0, 40)
    coef = rng.uniform(0.1, 1.0, 40)
    budget = rng.uniform(0, 40, 4)
    level = waterfill_levels(group, 4, cap, w, coef, budget)
    for g in range(4):
        sel = group == g
        load = np.sum(coef[sel] * np.minimum(cap[sel], level[g] * w[sel]))
        if np.isfinite(level[g]):
            assert load == pytest.approx(budget[g], rel=1e-12)
        else:
            assert np.sum(coef[sel] * cap[sel]) <= budget[g]


def test_cell_limit_keeps_the_highest_priority_cells() -> None:
    sat = np.array([0, 0, 0, 1, 1, 0])
    units = np.array([1, 2, 1, 5, 1, 1])
    prio = np.array([10.0, 50.0, 30.0, 1.0, 2.0, 5.0])
    keep = within_cell_limit(sat, units, prio, np.array([3, 5]))
    # Satellite 0: 50 (2 units), 30 (1) fill its 3 units; 10 and 5 are not lit.
    # Satellite 1: 2 (1 unit) then 1 (5 units) would make 6 > 5.
    assert keep.tolist() == [False, True, True, False, True, False]
