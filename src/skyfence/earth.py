"""Earth geometry: WGS-84, TEME -> ITRS, geodetic coordinates and look angles.

Frames
------
TEME
    True Equator, Mean Equinox: the frame SGP4 outputs.
ITRS
    International Terrestrial Reference System (Earth-fixed, "ECEF"), km.

All functions take and return NumPy arrays and broadcast like ufuncs; a vector argument has its
three components on the last axis. Angles are degrees unless a name says ``_rad``; distances
are km unless a name says ``_m``.

References: WGS-84 (NIMA TR8350.2); GMST 1982 and the TEME -> ITRS rotation (Vallado et al.,
"Revisiting Spacetrack Report #3", AIAA 2006-6753, appendix C).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError
from .timeutil import dut1_seconds, julian_date_utc

__all__ = [
    "SPEED_OF_LIGHT_KM_S",
    "WGS84_A_KM",
    "WGS84_B_KM",
    "WGS84_E2",
    "WGS84_F",
    "enu_basis",
    "geodetic_to_itrs",
    "gmst82_rad",
    "itrs_to_geodetic",
    "look_angles",
    "look_angles_from_itrs",
    "teme_to_itrs",
    "teme_to_itrs_utc",
    "unit_vectors",
]

#: WGS-84 semi-major axis (km) and flattening (NIMA TR8350.2, table 3.1).
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_B_KM = WGS84_A_KM * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
_EP2 = WGS84_E2 / (1.0 - WGS84_E2)

#: Speed of light in vacuum, km/s (exact, SI definition).
SPEED_OF_LIGHT_KM_S = 299_792.458

_TWO_PI = 2.0 * np.pi


def _check_latitude(lat_deg: np.ndarray) -> None:
    if np.any(np.abs(lat_deg) > 90.0):
        bad = lat_deg[np.abs(lat_deg) > 90.0].ravel()[0]
        raise InputError(f"latitude must be within [-90, 90] deg, got {bad}", "latitude")


def geodetic_to_itrs(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_km: ArrayLike = 0.0) -> np.ndarray:
    """WGS-84 geodetic latitude, longitude (deg) and height (km) to ITRS position (km).

    Returns an array of shape ``broadcast(lat, lon, alt) + (3,)``.

    >>> geodetic_to_itrs(0.0, 0.0, 0.0).round(3).tolist()
    [6378.137, 0.0, 0.0]
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    _check_latitude(lat)
    phi = np.radians(lat)
    lam = np.radians(np.asarray(lon_deg, dtype=np.float64))
    h = np.asarray(alt_km, dtype=np.float64)
    sphi, cphi = np.sin(phi), np.cos(phi)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sphi * sphi)
    x = (n + h) * cphi * np.cos(lam)
    y = (n + h) * cphi * np.sin(lam)
    z = (n * (1.0 - WGS84_E2) + h) * sphi
    x, y, z = np.broadcast_arrays(x, y, z)
    return np.stack([x, y, z], axis=-1)


def itrs_to_geodetic(r_itrs_km: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITRS position (km, last axis xyz) to WGS-84 ``(lat_deg, lon_deg, alt_km)``.

    Uses Bowring's initial value and two Newton refinements (better than 1 mm from the surface
    to GEO). Points near the centre of the Earth are not supported.
    """
    r = np.asarray(r_itrs_km, dtype=np.float64)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    # Bowring (1976) parametric start.
    beta = np.arctan2(z * WGS84_A_KM, p * WGS84_B_KM)
    phi = np.arctan2(
        z + _EP2 * WGS84_B_KM * np.sin(beta) ** 3,
        p - WGS84_E2 * WGS84_A_KM * np.cos(beta) ** 3,
    )
    for _ in range(2):
        beta = np.arctan2((1.0 - WGS84_F) * np.sin(phi), np.cos(phi))
        phi = np.arctan2(
            z + _EP2 * WGS84_B_KM * np.sin(beta) ** 3,
            p - WGS84_E2 * WGS84_A_KM * np.cos(beta) ** 3,
        )
    sphi, cphi = np.sin(phi), np.cos(phi)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sphi * sphi)
    # Height formula stable at all latitudes.
    h = p * cphi + z * sphi - WGS84_A_KM * WGS84_A_KM / n
    return np.degrees(phi), np.degrees(lon), h


def enu_basis(lat_deg: ArrayLike, lon_deg: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors east, north, up (ITRS components) of the WGS-84 local horizon.

    "Up" is the ellipsoid normal at geodetic latitude ``lat_deg``. Each has shape ``(..., 3)``.
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    _check_latitude(lat)
    phi = np.radians(lat)
    lam = np.radians(np.asarray(lon_deg, dtype=np.float64))
    phi, lam = np.broadcast_arrays(phi, lam)
    sphi, cphi, slam, clam = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    zero = np.zeros_like(phi)
    east = np.stack([-slam, clam, zero], axis=-1)
    north = np.stack([-sphi * clam, -sphi * slam, cphi], axis=-1)
    up = np.stack([cphi * clam, cphi * slam, sphi], axis=-1)
    return east, north, up


def look_angles(
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    alt_km: ArrayLike,
    r_sat_itrs_km: ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth, elevation (deg) and slant range (km) from ground sites to satellites.

    Sites are WGS-84 geodetic; satellites are ITRS positions in km (last axis xyz). Inputs
    broadcast: for many sites x many satellites pass ``lat[:, None]`` and
    ``r_sat[None, :, :]``. Azimuth is clockwise from true north in [0, 360); elevation is
    measured from the WGS-84 local horizon (ellipsoid normal).

    >>> az, el, rng = look_angles(0.0, 0.0, 0.0, [7000.0, 0.0, 0.0])
    >>> float(el), round(float(rng), 3)
    (90.0, 621.863)
    """
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    site = geodetic_to_itrs(lat, lon, alt_km)
    east, north, up = enu_basis(lat, lon)
    return _look_angles(site, east, north, up, np.asarray(r_sat_itrs_km, dtype=np.float64))


def look_angles_from_itrs(
    site_itrs_km: ArrayLike, r_sat_itrs_km: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Look angles (az, el deg; range km) from ITRS site positions (converted to geodetic)."""
    site = np.asarray(site_itrs_km, dtype=np.float64)
    lat, lon, _ = itrs_to_geodetic(site)
    east, north, up = enu_basis(lat, lon)
    return _look_angles(site, east, north, up, np.asarray(r_sat_itrs_km, dtype=np.float64))


def _look_angles(
    site: np.ndarray, east: np.ndarray, north: np.ndarray, up: np.ndarray, sat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rho = sat - site
    rng = np.sqrt(np.einsum("...i,...i->...", rho, rho))
    e = np.einsum("...i,...i->...", rho, east)
    n = np.einsum("...i,...i->...", rho, north)
    u = np.einsum("...i,...i->...", rho, up)
    # atan2 keeps full precision near the zenith, where arcsin(u / range) loses ~1e-6 deg.
    el = np.degrees(np.arctan2(u, np.hypot(e, n)))
    az = np.degrees(np.arctan2(e, n)) % 360.0
    return az, el, rng


def unit_vectors(r_km: ArrayLike) -> np.ndarray:
    """Unit vectors along ``r_km`` (last axis xyz)."""
    r = np.asarray(r_km, dtype=np.float64)
    return r / np.linalg.norm(r, axis=-1, keepdims=True)


def gmst82_rad(jd_ut1: ArrayLike, fr_ut1: ArrayLike = 0.0) -> np.ndarray:
    """Greenwich mean sidereal time (IAU 1982 model, as used with SGP4), radians in [0, 2 pi).

    ``jd_ut1 + fr_ut1`` is the UT1 Julian date; splitting keeps the fraction precise.
    """
    jd = np.asarray(jd_ut1, dtype=np.float64)
    fr = np.asarray(fr_ut1, dtype=np.float64)
    t = (jd - 2451545.0 + fr) / 36525.0
    # GMST at 0h plus Earth rotation, in seconds (Vallado 2006, eq. C-5, same as AFSPC gstime).
    g = 67310.54841 + (8640184.812866 + (0.093104 - 6.2e-6 * t) * t) * t
    frac = (jd % 1.0) + fr + (g / 86400.0) % 1.0
    return (frac % 1.0) * _TWO_PI


def teme_to_itrs(
    r_teme_km: ArrayLike,
    jd_ut1: ArrayLike,
    fr_ut1: ArrayLike = 0.0,
    xp_rad: float = 0.0,
    yp_rad: float = 0.0,
) -> np.ndarray:
    """Rotate TEME positions (km) to ITRS: GMST-1982 rotation about z, then polar motion.

    ``r_teme_km`` has shape ``(..., n_time, 3)`` and ``jd_ut1``/``fr_ut1`` shape ``(n_time,)``
    (or broadcastable to ``r[..., 0]``). Polar motion ``xp, yp`` (radians) defaults to 0,
    as in skyfield without a polar-motion table (a <= 15 m effect at LEO).
    """
    r = np.asarray(r_teme_km, dtype=np.float64)
    theta = gmst82_rad(jd_ut1, fr_ut1)
    c, s = np.cos(theta), np.sin(theta)
    x = c * r[..., 0] + s * r[..., 1]
    y = -s * r[..., 0] + c * r[..., 1]
    z = r[..., 2]
    if xp_rad or yp_rad:
        # W^T (pseudo-Earth-fixed -> ITRS), small-angle form of Vallado eq. 3-78.
        x, y, z = x - xp_rad * z, y + yp_rad * z, xp_rad * x - yp_rad * y + z
    out = np.empty((*np.broadcast_shapes(x.shape, z.shape), 3), dtype=np.float64)
    out[..., 0], out[..., 1], out[..., 2] = x, y, z
    return out


def teme_to_itrs_utc(r_teme_km: ArrayLike, t_utc: np.ndarray) -> np.ndarray:
    """`teme_to_itrs` for UTC times (``datetime64``), with UT1 from the bundled IERS table."""
    jd, fr = julian_date_utc(t_utc)
    fr_ut1 = fr + dut1_seconds(t_utc) / 86400.0
    return teme_to_itrs(r_teme_km, jd, fr_ut1)
