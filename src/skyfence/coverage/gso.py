"""Geostationary-arc exclusion: the angle between a line of sight and the GSO arc.

Starlink keeps its user links at least 22 deg, and its gateway links at least 18 deg, away from
the geostationary arc as seen from the ground station (operator statements relayed by
starlink.sx's author; ../shared/facts.md, "Constellation"). The arc is modelled as the circle
of radius `GSO_RADIUS_KM` in the ITRS equatorial plane (z = 0), centred on the Earth.

The separation of a line of sight (unit vector ``d`` from ground point ``g``) from the arc is

    theta(lambda) = angle(d, P(lambda) - g),   P(lambda) = R_gso (cos lambda, sin lambda, 0),

minimised over the whole circle (every arc point, as the rule is stated; for link elevations
at or above the exclusion angle this equals the minimum over the part above the horizon,
because an arc point below the horizon is further than the link's elevation from it).

Method and error bound
----------------------
`gso_arc_separation_deg` samples ``lambda`` every 360/512 deg, then polishes every sampled
local minimum whose Lipschitz lower bound could hold the global minimum by golden-section
search on the angle itself (``atan2`` form, precise down to zero) over its two neighbouring
sample intervals (64 iterations: the bracket shrinks to about 1e-14 rad). ``theta`` is
Lipschitz in ``lambda`` with constant ``L = R_gso / min|P - g|`` (<= 1.179 for ground points
below 10 km altitude), so the sampled minimum alone is within ``L * pi / 512 <= 0.42 deg`` of
the truth; the polish makes it exact to floating point (about 1e-12 deg) wherever ``theta``
has a single minimum within +-0.7 deg of longitude of each sampled one, which holds for the
topocentric arc (a smooth conic seen from inside its cylinder); the tests check it against a
200,000-sample search refined by scipy's bounded minimiser, and against closed forms at the
equator and the pole.

`gso_excluded` decides ``separation < limit`` without the full minimisation for most pairs:
(1) the declination of ``d`` differs from the declinations of all arc points by at least the
limit (great-circle distance >= declination difference) -> allowed; (2) the arc point in the
same hour circle as ``d`` (closed form, a ray-circle intersection) is closer than the limit ->
excluded, since it is a real arc point; (3) otherwise the full minimisation decides.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "GSO_EXCLUSION_GATEWAY_DEG",
    "GSO_EXCLUSION_USER_DEG",
    "GSO_RADIUS_KM",
    "gso_arc_separation_deg",
    "gso_excluded",
    "gso_excluded_pairs",
]

#: Radius of the geostationary orbit, km (semi-major axis of a sidereal-day circular orbit,
#: GM = 398600.4418 km^3/s^2, sidereal day 86164.0905 s: 42,164.17 km).
GSO_RADIUS_KM = 42_164.17

#: Minimum separation of a user-terminal link from the GSO arc, deg (facts.md: operator
#: statements relayed by starlink.sx's author).
GSO_EXCLUSION_USER_DEG = 22.0

#: Minimum separation of a gateway link from the GSO arc, deg (same source).
GSO_EXCLUSION_GATEWAY_DEG = 18.0

_N_SAMPLES = 512
_GOLDEN_ITERATIONS = 64
_INV_PHI = (np.sqrt(5.0) - 1.0) / 2.0
_PAIR_BATCH = 16_384


def _as_pairs(r_ground_itrs_km: ArrayLike, r_sat_itrs_km: ArrayLike):
    g = np.asarray(r_ground_itrs_km, dtype=np.float64)
    s = np.asarray(r_sat_itrs_km, dtype=np.float64)
    if g.shape[-1:] != (3,) or s.shape[-1:] != (3,):
        raise ValueError("positions need their xyz components on the last axis")
    g, s = np.broadcast_arrays(g, s)
    shape = g.shape[:-1]
    g = g.reshape(-1, 3)
    d = s.reshape(-1, 3) - g
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    return g, d, shape


def _cos_sep(g: np.ndarray, d: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """cos(angle(d, P(lam) - g)) for pairs (k, 3) and longitudes ``lam`` (k, m) or (m,)."""
    c, s = np.cos(lam), np.sin(lam)
    R = GSO_RADIUS_KM
    gd = np.einsum("ij,ij->i", g, d)[:, None]
    num = R * (d[:, 0:1] * c + d[:, 1:2] * s) - gd
    g2 = np.einsum("ij,ij->i", g, g)[:, None]
    den2 = R * R + g2 - 2.0 * R * (g[:, 0:1] * c + g[:, 1:2] * s)
    return num / np.sqrt(den2)


def _angle_at(g: np.ndarray, d: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """angle(d, P(lam) - g) in rad for pairs (k, 3) and longitudes (k,), via atan2."""
    w = np.column_stack(
        [GSO_RADIUS_KM * np.cos(lam), GSO_RADIUS_KM * np.sin(lam), np.zeros_like(lam)]
    ) - g
    return np.arctan2(np.linalg.norm(np.cross(d, w), axis=1), np.einsum("ij,ij->i", d, w))


def _min_separation_rad(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Minimum angle (rad) between LOS ``d`` (k,3 unit) from ``g`` (k,3 km) and the GSO arc."""
    k = g.shape[0]
    out = np.empty(k)
    lam = np.arange(_N_SAMPLES) * (2.0 * np.pi / _N_SAMPLES)
    dlam = 2.0 * np.pi / _N_SAMPLES
    R = GSO_RADIUS_KM
    rho_g = np.hypot(g[:, 0], g[:, 1])
    dmin = np.sqrt(R * R + np.einsum("ij,ij->i", g, g) - 2.0 * R * rho_g)
    lip = R / dmin  # |d theta / d lambda| <= R / min|P - g|
    for a in range(0, k, _PAIR_BATCH):
        b = min(k, a + _PAIR_BATCH)
        gb, db = g[a:b], d[a:b]
        theta = np.arccos(np.clip(_cos_sep(gb, db, lam), -1.0, 1.0))  # (kb, N)
        best = theta.min(axis=1)
        prev = np.roll(theta, 1, axis=1)
        nxt = np.roll(theta, -1, axis=1)
        # Sampled local minima whose neighbourhood could still hold the global minimum: the
        # minimum over [lam_{j-1}, lam_{j+1}] is >= theta_j - L * dlam.
        cand = (theta <= prev) & (theta <= nxt)
        cand &= theta - lip[a:b, None] * dlam <= best[:, None]
        rows, cols = np.nonzero(cand)
        lo = lam[cols] - dlam
        hi = lam[cols] + dlam
        gi, di = gb[rows], db[rows]
        x1 = hi - _INV_PHI * (hi - lo)
        x2 = lo + _INV_PHI * (hi - lo)
        f1 = _angle_at(gi, di, x1)
        f2 = _angle_at(gi, di, x2)
        for _ in range(_GOLDEN_ITERATIONS):
            # Minimise theta on [lo, hi] (atan2 form: full precision down to theta = 0).
            left = f1 < f2
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            x1n = np.where(left, hi - _INV_PHI * (hi - lo), x2)
            x2n = np.where(left, x1, lo + _INV_PHI * (hi - lo))
            fe = _angle_at(gi, di, np.where(left, x1n, x2n))
            f1, f2 = np.where(left, fe, f2), np.where(left, f1, fe)
            x1, x2 = x1n, x2n
        polished = np.minimum(f1, f2)
        best_b = np.full(b - a, np.inf)
        np.minimum.at(best_b, rows, polished)
        out[a:b] = best_b
    return out


def gso_arc_separation_deg(r_ground_itrs_km: ArrayLike, r_sat_itrs_km: ArrayLike) -> np.ndarray:
    """Smallest angle (deg) between the line of sight and any point of the geostationary arc.

    Parameters
    ----------
    r_ground_itrs_km, r_sat_itrs_km : array_like, shape (..., 3)
        ITRS positions (km) of the ground point and the satellite; they broadcast.

    Returns
    -------
    numpy.ndarray, shape broadcast(...)
        Separation in degrees, as seen from the ground point (see the module docstring for
        the method and its error bound).

    From the equator the arc is the celestial equator, so the separation is the declination
    of the line of sight:

    >>> ground = np.array([6378.137, 0.0, 0.0])
    >>> round(float(gso_arc_separation_deg(ground, ground + [0.0, 0.0, 550.0])), 9)
    90.0
    >>> round(float(gso_arc_separation_deg(ground, ground + [550.0, 0.0, 0.0])), 9)
    0.0
    """
    g, d, shape = _as_pairs(r_ground_itrs_km, r_sat_itrs_km)
    return np.degrees(_min_separation_rad(g, d)).reshape(shape)


def _arc_declination_range(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Declinations (rad) spanned by the arc seen from ``g``: ``asin(-g_z / |P - g|)``."""
    R = GSO_RADIUS_KM
    rho_g = np.hypot(g[:, 0], g[:, 1])
    g2 = np.einsum("ij,ij->i", g, g)
    dmin = np.sqrt(R * R + g2 - 2.0 * R * rho_g)
    dmax = np.sqrt(R * R + g2 + 2.0 * R * rho_g)
    a = np.arcsin(-g[:, 2] / dmin)
    b = np.arcsin(-g[:, 2] / dmax)
    return np.minimum(a, b), np.maximum(a, b)


def gso_excluded_pairs(g: np.ndarray, d: np.ndarray, limit_rad: np.ndarray) -> np.ndarray:
    """`gso_excluded` on flat pairs, for kernels that already hold them.

    ``g`` (k, 3): ground positions, ITRS km; ``d`` (k, 3): unit line-of-sight vectors from
    each ground position to its satellite; ``limit_rad`` (k,): required separation, radians.
    True where the line of sight passes closer than the limit to the geostationary arc.
    """
    k = g.shape[0]
    out = np.zeros(k, dtype=bool)
    if k == 0:
        return out
    dec_d = np.arcsin(np.clip(d[:, 2], -1.0, 1.0))
    lo, hi = _arc_declination_range(g)
    # (1) Lower bound: angular distance >= |declination difference|.
    lower = np.maximum(np.maximum(lo - dec_d, dec_d - hi), 0.0)
    open_ = lower < limit_rad
    if not open_.any():
        return out
    idx = np.flatnonzero(open_)
    gi, di, li = g[idx], d[idx], limit_rad[idx]
    # (2) Upper bound: the arc point in the hour circle of d (ray-circle intersection in the
    # equatorial plane); same hour circle -> the angle is the declination difference.
    hxy = np.hypot(di[:, 0], di[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = di[:, 0] / hxy, di[:, 1] / hxy
    gu = gi[:, 0] * ux + gi[:, 1] * uy
    gxy2 = gi[:, 0] ** 2 + gi[:, 1] ** 2
    t = -gu + np.sqrt(gu * gu - gxy2 + GSO_RADIUS_KM**2)
    upper = np.abs(dec_d[idx] - np.arctan2(-gi[:, 2], t))
    upper = np.where(hxy > 0.0, upper, np.inf)
    sure = upper < li
    out[idx[sure]] = True
    rest = ~sure
    if rest.any():
        j = idx[rest]
        sep = _min_separation_fast(g[j], d[j])
        out[j] = sep < limit_rad[j]
    return out


def _min_separation_fast(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """`_min_separation_rad`, compiled (skyfence.coverage._compiled) when numba imports."""
    try:
        from ._compiled import gso_min_separation_rad
    except Exception:  # numba missing or broken: the NumPy version
        return _min_separation_rad(g, d)
    out = np.empty(g.shape[0])
    gso_min_separation_rad(np.ascontiguousarray(g, np.float64),
                           np.ascontiguousarray(d, np.float64), out)
    return out


def gso_excluded(
    r_ground_itrs_km: ArrayLike, r_sat_itrs_km: ArrayLike, limit_deg: ArrayLike
) -> np.ndarray:
    """True where a link comes closer than ``limit_deg`` to the geostationary arc.

    Parameters
    ----------
    r_ground_itrs_km, r_sat_itrs_km : array_like, shape (..., 3)
        ITRS positions (km); they broadcast.
    limit_deg : array_like
        Required separation (deg), broadcast against the pairs: `GSO_EXCLUSION_USER_DEG` for
        user terminals, `GSO_EXCLUSION_GATEWAY_DEG` for gateways.

    Returns
    -------
    numpy.ndarray of bool
        ``separation < limit_deg``, decided as described in the module docstring.
    """
    g, d, shape = _as_pairs(r_ground_itrs_km, r_sat_itrs_km)
    lim = np.broadcast_to(np.radians(np.asarray(limit_deg, dtype=np.float64)), shape).ravel()
    return gso_excluded_pairs(g, d, lim).reshape(shape)

