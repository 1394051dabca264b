"""Link rules: Hypatia's range rule vs the exact elevation mask, with closed-form geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from skyfence.earth import enu_basis, geodetic_to_itrs
from skyfence.errors import InputError
from skyfence.network.links import (
    ElevationMask,
    LinkRule,
    MaxRange,
    elevation_for_range_deg,
    range_for_elevation_km,
    range_rule_for_mask,
)
from skyfence.network.topology import visible_pairs

# Hypatia's Starlink-550 (paper/satellite_networks_state/main_starlink_550.py).
HYPATIA_RANGE_KM = math.sqrt(940.7**2 + 550.0**2)  # 1,089.686 km
WGS72_MU_KM3_S2 = 398600.8
WGS72_RADIUS_KM = 6378.135
ONE_MILLIDEG = 1e-3


def hypatia_radius_km() -> float:
    """Semi-major axis of 15.19 rev/day (Kepler's third law, WGS-72 mu): Hypatia's TLEs."""
    n = 15.19 * 2.0 * math.pi / 86400.0
    return (WGS72_MU_KM3_S2 / n**2) ** (1.0 / 3.0)


def elevation_by_vectors(range_km: float, sat_radius_km: float, site_radius_km: float) -> float:
    """Independent check: put the site at (R, 0, 0), slide the satellite along its circle until
    the straight-line distance is ``range_km``, measure the angle above the local horizon."""
    site = np.array([site_radius_km, 0.0, 0.0])

    def sat(theta: float) -> np.ndarray:
        return sat_radius_km * np.array([math.cos(theta), math.sin(theta), 0.0])

    theta = brentq(lambda th: np.linalg.norm(sat(th) - site) - range_km, 0.0, math.pi / 2)
    d = sat(theta) - site
    return math.degrees(math.asin(d @ (site / site_radius_km) / np.linalg.norm(d)))


def test_hypatia_range_is_23_6_deg_at_its_509_km_and_26_2_at_550() -> None:
    rs = hypatia_radius_km()
    assert rs - WGS72_RADIUS_KM == pytest.approx(508.6, abs=0.5)  # the "550" shell flies ~509
    el = float(elevation_for_range_deg(HYPATIA_RANGE_KM, rs, WGS72_RADIUS_KM))
    assert el == pytest.approx(23.6, abs=0.05)
    assert el == pytest.approx(elevation_by_vectors(HYPATIA_RANGE_KM, rs, WGS72_RADIUS_KM),
                               abs=1e-9)
    el550 = float(elevation_for_range_deg(HYPATIA_RANGE_KM, WGS72_RADIUS_KM + 550.0,
                                          WGS72_RADIUS_KM))
    assert el550 == pytest.approx(26.2, abs=0.05)
    assert el550 == pytest.approx(elevation_by_vectors(HYPATIA_RANGE_KM, WGS72_RADIUS_KM + 550,
                                                       WGS72_RADIUS_KM), abs=1e-9)


@pytest.mark.parametrize("el_deg", [0.0, 10.0, 25.0, 40.0, 89.0])
def test_range_and_elevation_are_inverse(el_deg: float) -> None:
    rs, rg = 6371.0 + 550.0, 6371.0
    d = range_for_elevation_km(el_deg, rs, rg)
    assert float(elevation_for_range_deg(d, rs, rg)) == pytest.approx(el_deg, abs=1e-9)
    assert float(elevation_by_vectors(float(d), rs, rg)) == pytest.approx(el_deg, abs=1e-7)


def test_no_single_mask_reproduces_a_range_rule() -> None:
    """On WGS-84 the same range is a different elevation at the equator and at 60 deg: the
    site's geocentric radius and the tilt of its horizon change with latitude."""
    rs = hypatia_radius_km()
    els = []
    for lat in (0.0, 60.0):
        site = geodetic_to_itrs(lat, 0.0, 0.0).reshape(3)
        east, north, up = (v.reshape(3) for v in enu_basis(lat, 0.0))

        def sat_at(az: float, el: float, site=site, east=east, north=north, up=up) -> np.ndarray:
            # The point at geocentric radius rs seen at (az, el) from the site.
            u = (math.cos(math.radians(el)) * (math.sin(az) * east + math.cos(az) * north)
                 + math.sin(math.radians(el)) * up)
            b = site @ u
            return site + (-b + math.sqrt(b * b - site @ site + rs * rs)) * u

        el = brentq(lambda e, site=site: np.linalg.norm(sat_at(0.0, e) - site)
                    - HYPATIA_RANGE_KM, 5.0, 60.0)
        # Cross-check with skyfence's exact rule: the satellite is right at the mask.
        r = sat_at(0.0, el)[None, :]
        assert visible_pairs(lat, 0.0, 0.0, r, el - 1e-6)[0].size == 1
        assert visible_pairs(lat, 0.0, 0.0, r, el + 1e-6)[0].size == 0
        els.append(el)
    assert abs(els[0] - els[1]) > 0.1  # degrees: one mask cannot match both latitudes


def test_max_range_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    lat = rng.uniform(-70, 70, 40)
    lon = rng.uniform(-180, 180, 40)
    alt = rng.uniform(0, 3, 40)
    n = 500
    v = rng.normal(size=(n, 3))
    r_sat = v / np.linalg.norm(v, axis=1, keepdims=True) * rng.uniform(6800, 7300, n)[:, None]
    r_sat[7] = np.nan
    limit = rng.uniform(900, 2500, n)
    got = MaxRange(limit).candidates(lat, lon, alt, r_sat)
    site = geodetic_to_itrs(lat, lon, alt).reshape(-1, 3)
    d = np.linalg.norm(site[:, None, :] - r_sat[None, :, :], axis=2)
    pi, si = np.nonzero(d <= limit[None, :])
    assert got.point.tolist() == pi.tolist() and got.sat.tolist() == si.tolist()
    np.testing.assert_allclose(got.range_km, d[pi, si], rtol=0, atol=1e-9)
    assert isinstance(MaxRange(1000.0), LinkRule) and isinstance(ElevationMask(), LinkRule)


def test_elevation_mask_and_range_rule_disagree_near_the_edge() -> None:
    """The translated range admits satellites below the mask at one latitude and rejects
    some above it at another: the rules differ, and the difference is small."""
    rs = 6378.137 + 550.0
    rule = range_rule_for_mask(25.0, rs)
    assert float(elevation_for_range_deg(rule.max_range_km, rs, 6371.0088)) == \
        pytest.approx(25.0, abs=ONE_MILLIDEG)
    rng = np.random.default_rng(5)
    v = rng.normal(size=(4000, 3))
    r_sat = v / np.linalg.norm(v, axis=1, keepdims=True) * rs
    lat = np.array([0.0, 45.0, 80.0])
    lon = np.zeros(3)
    a = rule.candidates(lat, lon, 0.0, r_sat)
    b = ElevationMask(25.0).candidates(lat, lon, 0.0, r_sat)
    set_a = set(zip(a.point.tolist(), a.sat.tolist(), strict=True))
    set_b = set(zip(b.point.tolist(), b.sat.tolist(), strict=True))
    assert set_a != set_b
    assert len(set_a ^ set_b) < 0.1 * len(set_a | set_b)


def test_bad_rules_raise() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError):
            MaxRange(bad)
    with pytest.raises(InputError):
        ElevationMask(90.0)
    with pytest.raises(InputError):
        range_rule_for_mask(25.0, 6000.0)
    with pytest.raises(InputError):
        range_rule_for_mask(95.0, 7000.0)
