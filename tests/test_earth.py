"""WGS-84 geodesy and look angles: closed-form cases, round trips, skyfield cross-checks."""

from __future__ import annotations

import numpy as np
import pytest
from skyfield.api import load, wgs84
from skyfield.framelib import itrs as skyfield_itrs

from skyfence.earth import (
    WGS84_A_KM,
    WGS84_B_KM,
    enu_basis,
    geodetic_to_itrs,
    gmst82_rad,
    itrs_to_geodetic,
    look_angles,
    teme_to_itrs,
)
from skyfence.errors import InputError

ONE_MM_KM = 1e-6
ONE_METRE_KM = 1e-3


def test_equator_and_pole_closed_form() -> None:
    assert geodetic_to_itrs(0.0, 0.0) == pytest.approx([WGS84_A_KM, 0.0, 0.0], abs=ONE_MM_KM)
    assert geodetic_to_itrs(0.0, 90.0) == pytest.approx([0.0, WGS84_A_KM, 0.0], abs=ONE_MM_KM)
    assert geodetic_to_itrs(90.0, 0.0) == pytest.approx([0.0, 0.0, WGS84_B_KM], abs=ONE_MM_KM)
    assert geodetic_to_itrs(-90.0, 0.0, 1.0) == pytest.approx(
        [0.0, 0.0, -WGS84_B_KM - 1.0], abs=ONE_MM_KM
    )


def test_geodetic_matches_skyfield() -> None:
    rng = np.random.default_rng(1)
    lat = rng.uniform(-90, 90, 200)
    lon = rng.uniform(-180, 180, 200)
    alt_km = rng.uniform(-0.4, 9.0, 200)
    ours = geodetic_to_itrs(lat, lon, alt_km)
    ref = wgs84.latlon(lat, lon, elevation_m=alt_km * 1000).itrs_xyz.km.T
    assert np.abs(ours - ref).max() < ONE_MM_KM


@pytest.mark.parametrize("alt_km", [0.0, 550.0, 35786.0])
def test_round_trip_array(alt_km: float) -> None:
    rng = np.random.default_rng(2)
    lat = rng.uniform(-90, 90, 1000)
    lon = rng.uniform(-180, 180, 1000)
    lat2, lon2, alt2 = itrs_to_geodetic(geodetic_to_itrs(lat, lon, alt_km))
    assert np.abs(lat2 - lat).max() < 1e-9
    mask = np.abs(lat) < 89.999
    assert np.abs(((lon2 - lon + 180) % 360 - 180)[mask]).max() < 1e-9
    assert np.abs(alt2 - alt_km).max() < ONE_MM_KM


def test_round_trip_scalar() -> None:
    lat, lon, alt = itrs_to_geodetic(geodetic_to_itrs(50.45, 30.52, 0.179))
    assert np.ndim(lat) == 0
    assert (float(lat), float(lon), float(alt)) == pytest.approx((50.45, 30.52, 0.179), abs=1e-9)


def test_enu_basis_is_orthonormal_and_right_handed() -> None:
    rng = np.random.default_rng(3)
    e, n, u = enu_basis(rng.uniform(-90, 90, 50), rng.uniform(-180, 180, 50))
    for a in (e, n, u):
        assert np.allclose(np.linalg.norm(a, axis=-1), 1.0)
    assert np.allclose(np.einsum("...i,...i", e, n), 0.0, atol=1e-15)
    assert np.allclose(np.cross(e, n), u)


def test_satellite_straight_overhead_is_at_90_deg() -> None:
    rng = np.random.default_rng(4)
    lat = rng.uniform(-89, 89, 100)
    lon = rng.uniform(-180, 180, 100)
    site = geodetic_to_itrs(lat, lon, 0.0)
    _, _, up = enu_basis(lat, lon)
    sat = site + 550.0 * up
    _, el, rng_km = look_angles(lat, lon, 0.0, sat)
    assert el == pytest.approx(np.full(100, 90.0), abs=1e-6)
    assert rng_km == pytest.approx(np.full(100, 550.0), abs=ONE_MM_KM)
    # A satellite straight below (inside the Earth) is at -90 deg.
    _, el_down, _ = look_angles(lat, lon, 0.0, site - 100.0 * up)
    assert el_down == pytest.approx(np.full(100, -90.0), abs=1e-6)


def test_horizon_and_cardinal_azimuths() -> None:
    site = geodetic_to_itrs(0.0, 0.0, 0.0)
    north = site + np.array([0.0, 0.0, 1000.0])
    east = site + np.array([0.0, 1000.0, 0.0])
    az, el, _ = look_angles(0.0, 0.0, 0.0, np.stack([north, east]))
    assert az == pytest.approx([0.0, 90.0], abs=1e-9)
    assert el == pytest.approx([0.0, 0.0], abs=1e-9)


def test_look_angle_symmetry_between_two_sites() -> None:
    # Range is symmetric; elevation of B from A equals elevation of A from B for two sites on
    # the same parallel at the same height (mirror symmetry).
    _, el_ab, r_ab = look_angles(40.0, 10.0, 0.0, geodetic_to_itrs(40.0, 20.0, 0.0))
    _, el_ba, r_ba = look_angles(40.0, 20.0, 0.0, geodetic_to_itrs(40.0, 10.0, 0.0))
    assert float(r_ab) == pytest.approx(float(r_ba), abs=ONE_MM_KM)
    assert float(el_ab) == pytest.approx(float(el_ba), abs=1e-9)


def test_many_to_many_broadcast_shape() -> None:
    lat = np.array([10.0, 20.0, 30.0])
    sats = geodetic_to_itrs(np.array([0.0, 5.0, 10.0, 15.0]), 0.0, 550.0)
    az, el, r = look_angles(lat[:, None], 0.0, 0.0, sats[None, :, :])
    assert az.shape == el.shape == r.shape == (3, 4)
    _, el_single, _ = look_angles(lat[1], 0.0, 0.0, sats[2])
    assert float(el_single) == pytest.approx(el[1, 2], abs=1e-12)


def test_latitude_out_of_range_is_an_error() -> None:
    with pytest.raises(InputError, match="latitude must be within"):
        geodetic_to_itrs(95.0, 0.0)


def test_teme_to_itrs_matches_skyfield_rotation() -> None:
    from skyfield.sgp4lib import TEME

    ts = load.timescale(builtin=True)
    t = ts.utc(2026, 2, 23, 0, np.arange(0, 1440, 97))
    rng = np.random.default_rng(5)
    r_teme = rng.normal(size=(t.shape[0], 3)) * 7000.0
    ref = np.empty_like(r_teme)
    for k in range(t.shape[0]):
        rot_teme = TEME.rotation_at(t[k])  # GCRS -> TEME
        rot_itrs = skyfield_itrs.rotation_at(t[k])  # GCRS -> ITRS
        ref[k] = rot_itrs @ rot_teme.T @ r_teme[k]
    ours = teme_to_itrs(r_teme, t.whole, t.ut1_fraction)
    assert np.abs(ours - ref).max() < ONE_METRE_KM


def test_gmst_at_j2000() -> None:
    # GMST at 2000-01-01 12:00 UT1 = 18h 41m 50.54841s = 280.46061837 deg (IAU 1982).
    assert np.degrees(gmst82_rad(2451545.0, 0.0)) == pytest.approx(280.46061837, abs=1e-7)
