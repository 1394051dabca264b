"""Geostationary-arc separation against closed forms and an independent numerical minimum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from skyfence.coverage import (
    GSO_EXCLUSION_GATEWAY_DEG,
    GSO_EXCLUSION_USER_DEG,
    GSO_RADIUS_KM,
    GroundIndex,
    gso_arc_separation_deg,
    gso_excluded,
)
from skyfence.earth import enu_basis, geodetic_to_itrs, look_angles

SEP_TOL_DEG = 1e-9


def _reference_separation_deg(g: np.ndarray, s: np.ndarray) -> float:
    """Brute force over 200,001 arc points, refined by scipy's bounded scalar minimiser."""
    d = (s - g) / np.linalg.norm(s - g)

    def angle(lam: float) -> float:
        w = np.array([GSO_RADIUS_KM * np.cos(lam), GSO_RADIUS_KM * np.sin(lam), 0.0]) - g
        return float(np.arctan2(np.linalg.norm(np.cross(d, w)), d @ w))

    lam = np.linspace(0.0, 2 * np.pi, 200_001)
    w = np.stack([GSO_RADIUS_KM * np.cos(lam), GSO_RADIUS_KM * np.sin(lam),
                  np.zeros_like(lam)], axis=1) - g
    ang = np.arctan2(np.linalg.norm(np.cross(d, w), axis=1), w @ d)
    j = int(np.argmin(ang))
    step = lam[1] - lam[0]
    res = minimize_scalar(angle, bounds=(lam[j] - step, lam[j] + step), method="bounded",
                          options={"xatol": 1e-14})
    return float(np.degrees(min(res.fun, ang[j])))


def test_against_independent_minimisation() -> None:
    rng = np.random.default_rng(1)
    lat = rng.uniform(-89, 89, 40)
    lon = rng.uniform(-180, 180, 40)
    g = geodetic_to_itrs(lat, lon, rng.uniform(0, 3, 40))
    s = g + rng.normal(size=(40, 3)) * 2000.0
    got = gso_arc_separation_deg(g, s)
    ref = np.array([_reference_separation_deg(g[i], s[i]) for i in range(40)])
    np.testing.assert_allclose(got, ref, atol=1e-8)


def test_equator_closed_form() -> None:
    # From a sea-level point on the equator the arc is the celestial equator: the separation
    # is the declination of the line of sight.
    rng = np.random.default_rng(2)
    g = geodetic_to_itrs(0.0, rng.uniform(-180, 180, 200), 0.0)
    s = g + rng.normal(size=(200, 3)) * 1500.0
    d = (s - g) / np.linalg.norm(s - g, axis=1, keepdims=True)
    expect = np.degrees(np.arcsin(np.abs(d[:, 2])))
    np.testing.assert_allclose(gso_arc_separation_deg(g, s), expect, atol=SEP_TOL_DEG)


@pytest.mark.parametrize("pole", [90.0, -90.0])
def test_pole_closed_form(pole: float) -> None:
    # From a pole every arc point sits at the same declination atan(-z / R_gso).
    rng = np.random.default_rng(3)
    g = np.repeat(geodetic_to_itrs(pole, 0.0, 0.0)[None], 100, axis=0)
    s = g + rng.normal(size=(100, 3)) * 1500.0
    d = (s - g) / np.linalg.norm(s - g, axis=1, keepdims=True)
    dec0 = np.arctan2(-g[0, 2], GSO_RADIUS_KM)
    expect = np.degrees(np.abs(np.arcsin(d[:, 2]) - dec0))
    np.testing.assert_allclose(gso_arc_separation_deg(g, s), expect, atol=SEP_TOL_DEG)


def test_looking_at_the_arc_is_zero() -> None:
    g = geodetic_to_itrs(40.0, 20.0, 0.0)
    arc_point = np.array([GSO_RADIUS_KM * np.cos(np.radians(25.0)),
                          GSO_RADIUS_KM * np.sin(np.radians(25.0)), 0.0])
    s = g + 0.02 * (arc_point - g)  # a LEO satellite on the line of sight to the arc point
    assert float(gso_arc_separation_deg(g, s)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("limit", [GSO_EXCLUSION_GATEWAY_DEG, GSO_EXCLUSION_USER_DEG, 40.0])
def test_fast_decision_equals_full_minimisation(limit: float) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    g = geodetic_to_itrs(lat, rng.uniform(-180, 180, n), 0.0)
    s = g + rng.normal(size=(n, 3)) * 2000.0
    sep = gso_arc_separation_deg(g, s)
    excluded = gso_excluded(g, s, limit)
    ok = np.abs(sep - limit) > SEP_TOL_DEG
    np.testing.assert_array_equal(excluded[ok], sep[ok] < limit)
    assert 0.05 < excluded.mean() < 0.95


def test_kernel_gso_exclusion_equals_reference() -> None:
    rng = np.random.default_rng(5)
    lat = rng.uniform(-60, 60, 400)
    lon = rng.uniform(-180, 180, 400)
    g = geodetic_to_itrs(lat, lon, 0.0)
    up = enu_basis(lat, lon)[2]
    limit = np.where(rng.random(400) < 0.3, GSO_EXCLUSION_GATEWAY_DEG, GSO_EXCLUSION_USER_DEG)
    sats = geodetic_to_itrs(rng.uniform(-60, 60, 2500), rng.uniform(-180, 180, 2500), 550.0)
    ground = GroundIndex(g, up, gso_exclusion_deg=limit)
    step = ground.visibility(sats, 20.0, gso=True, pairs=True)
    plain = ground.visibility(sats, 20.0, gso=False)
    _, el, _ = look_angles(lat[:, None], lon[:, None], 0.0, sats[None])
    pr, ps = np.nonzero(el >= 20.0)
    sep = gso_arc_separation_deg(g[pr], sats[ps])
    keep = sep >= limit[pr]
    ref = np.zeros(el.shape, bool)
    ref[pr[keep], ps[keep]] = True
    got = np.zeros(el.shape, bool)
    got[step.pairs.point, step.pairs.sat] = True
    differ = got != ref
    assert not differ.any()
    assert (step.n_visible <= plain.n_visible).all()
    assert (step.n_visible < plain.n_visible).any()  # the exclusion does remove links
    # Without gso=True the exclusion angles are ignored.
    np.testing.assert_array_equal(plain.n_visible, (el >= 20.0).sum(axis=1))
