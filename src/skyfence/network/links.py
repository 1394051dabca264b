"""Ground-to-satellite link rules: which (point, satellite) pairs may link at a time step.

Two rules, as strategy objects with one method, ``candidates``:

`ElevationMask`
    skyfence's rule: the satellite is at or above ``min_elevation_deg`` seen from the point's
    WGS-84 local horizon, computed exactly (`skyfence.network.topology.visible_pairs`).
`MaxRange`
    Hypatia's rule (satgenpy ``generate_dynamic_state``): the straight-line distance between
    the point and the satellite is at most ``max_range_km`` (``max_gsl_length_m`` / 1000),
    whatever the elevation. A range may be given per satellite (one per shell).

How the two differ
------------------
A fixed slant range is not a fixed elevation. With a site at geocentric radius ``r_g`` and a
satellite at geocentric radius ``r_s`` (spherical geometry, elevation from the geocentric
horizon), range ``d`` and elevation ``e`` are tied by the law of cosines::

    r_s**2 = r_g**2 + d**2 + 2 r_g d sin(e)       (`elevation_for_range_deg`)
    d = sqrt(r_s**2 - r_g**2 cos(e)**2) - r_g sin(e)   (`range_for_elevation_km`)

so the elevation a range rule allows depends on the satellite's altitude (each shell, and
along an eccentric orbit), on the site's geocentric radius (6,356.8 km at the poles to
6,378.1 km at the equator on WGS-84) and on the site's height, and the WGS-84 local horizon
is tilted by up to 0.19 deg from the geocentric one. Hypatia's Starlink-550 range,
1,089.686 km (``sqrt(940.7**2 + 550**2)`` km: a 940.7 km cone radius at 550 km), is 26.2 deg
of elevation at 550 km but 23.6 deg at the ~509 km its TLEs actually fly (15.19 rev/day, a
sphere of 6,378.135 km), and on WGS-84 it is 23.6 deg for a sea-level site at the equator but
24.7 deg at 60 deg latitude and 24.9 deg at the poles: no single mask reproduces it.
`range_rule_for_mask` translates a mask into a range per shell on a sphere of a stated radius,
and says so.

Both rules return `LinkCandidates`: ``(point, sat, range_km)`` arrays sorted by point then
satellite, so they can feed `skyfence.network.Router.between_sites` or a Hypatia dynamic
state unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from ..earth import geodetic_to_itrs
from ..errors import InputError
from .topology import visible_pairs

__all__ = [
    "MEAN_EARTH_RADIUS_KM",
    "ElevationMask",
    "LinkCandidates",
    "LinkRule",
    "MaxRange",
    "elevation_for_range_deg",
    "range_for_elevation_km",
    "range_rule_for_mask",
]

#: IUGG mean Earth radius R1 of WGS-84, km: the sphere `range_rule_for_mask` uses by default.
MEAN_EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class LinkCandidates:
    """Ground-satellite pairs allowed at one step, sorted by point then satellite.

    Attributes
    ----------
    point, sat : int64 arrays, shape (n_pair,)
    range_km : float64 array, shape (n_pair,), straight-line distance, km
    """

    point: np.ndarray
    sat: np.ndarray
    range_km: np.ndarray

    def __len__(self) -> int:
        return int(self.point.size)

    @classmethod
    def empty(cls) -> LinkCandidates:
        """No pairs."""
        z = np.zeros(0, np.int64)
        return cls(z, z.copy(), np.zeros(0))


@runtime_checkable
class LinkRule(Protocol):
    """A ground-to-satellite link rule.

    ``candidates`` takes WGS-84 points (deg, deg, km; shape (n_point,)) and satellite ITRS
    positions (km, shape (n_sat, 3); NaN rows are ignored) at one time step and returns every
    allowed pair as `LinkCandidates`.
    """

    def candidates(self, lat_deg: ArrayLike, lon_deg: ArrayLike, alt_km: ArrayLike,
                   r_sat_itrs_km: np.ndarray) -> LinkCandidates:
        """Allowed (point, satellite, range) pairs at this step."""
        ...


@dataclass(frozen=True)
class ElevationMask:
    """skyfence's exact rule: elevation >= ``min_elevation_deg`` from the WGS-84 horizon.

    ``min_elevation_deg`` is one mask or one per point (deg, in [-90, 90)).
    """

    min_elevation_deg: float | np.ndarray = 25.0

    def __post_init__(self) -> None:
        m = np.asarray(self.min_elevation_deg, float)
        if m.size == 0 or not np.all(np.isfinite(m)) or np.any((m < -90.0) | (m >= 90.0)):
            raise InputError(f"elevation mask must be within [-90, 90) deg, got "
                             f"{self.min_elevation_deg!r}", "min_elevation_deg")

    def candidates(self, lat_deg: ArrayLike, lon_deg: ArrayLike, alt_km: ArrayLike,
                   r_sat_itrs_km: np.ndarray) -> LinkCandidates:
        """Pairs at or above the mask (exact WGS-84 elevation)."""
        pi, si, _, rng = visible_pairs(lat_deg, lon_deg, alt_km, r_sat_itrs_km,
                                       self.min_elevation_deg)
        return LinkCandidates(pi, si, rng)


@dataclass(frozen=True)
class MaxRange:
    """Hypatia's rule: straight-line distance <= ``max_range_km``.

    ``max_range_km`` is one range or one per satellite (e.g. per shell), km (> 0). The test is
    ``range <= max`` on distances computed from explicit position differences; a k-d tree
    only pre-selects candidates with a larger radius.
    """

    max_range_km: float | np.ndarray
    #: Where the range came from (shown by ``describe``), e.g. "description.txt".
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        r = np.asarray(self.max_range_km, float)
        if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
            raise InputError(f"maximum ground-link range must be > 0 km, got "
                             f"{self.max_range_km!r}", "max_range_km")

    def candidates(self, lat_deg: ArrayLike, lon_deg: ArrayLike, alt_km: ArrayLike,
                   r_sat_itrs_km: np.ndarray) -> LinkCandidates:
        """Pairs within range."""
        lat = np.atleast_1d(np.asarray(lat_deg, float))
        site = geodetic_to_itrs(lat, np.atleast_1d(np.asarray(lon_deg, float)),
                                np.broadcast_to(np.asarray(alt_km, float), lat.shape))
        return self.candidates_itrs(site.reshape(-1, 3), r_sat_itrs_km)

    def candidates_itrs(self, r_point_itrs_km: np.ndarray, r_sat_itrs_km: np.ndarray
                        ) -> LinkCandidates:
        """Pairs within range for points given as ITRS positions (km, shape (n_point, 3))."""
        site = np.asarray(r_point_itrs_km, float).reshape(-1, 3)
        r = np.asarray(r_sat_itrs_km, float).reshape(-1, 3)
        limit = np.broadcast_to(np.asarray(self.max_range_km, float), (r.shape[0],))
        ok = np.flatnonzero(np.isfinite(r).all(axis=1))
        if site.shape[0] == 0 or ok.size == 0:
            return LinkCandidates.empty()
        radius = float(limit[ok].max()) * (1.0 + 1e-9) + 1e-6
        coo = cKDTree(site).sparse_distance_matrix(cKDTree(r[ok]), radius,
                                                   output_type="coo_matrix")
        pi = coo.row.astype(np.int64)
        si = ok[coo.col]
        d = r[si] - site[pi]
        rng = np.sqrt(np.einsum("ij,ij->i", d, d))
        keep = rng <= limit[si]
        order = np.lexsort((si[keep], pi[keep]))
        return LinkCandidates(pi[keep][order], si[keep][order], rng[keep][order])

    def describe(self) -> str:
        """One line: the range(s) and their source."""
        r = np.unique(np.asarray(self.max_range_km, float))
        text = ", ".join(f"{x:,.3f}" for x in r[:4]) + (" ..." if r.size > 4 else "")
        return f"range <= {text} km" + (f" ({self.source})" if self.source else "")


def elevation_for_range_deg(range_km: ArrayLike, sat_radius_km: ArrayLike,
                            site_radius_km: ArrayLike = MEAN_EARTH_RADIUS_KM) -> np.ndarray:
    """Elevation (deg, from the geocentric horizon) at which a satellite at geocentric radius
    ``sat_radius_km`` is ``range_km`` away from a site at geocentric radius
    ``site_radius_km`` (law of cosines; broadcasts).

    >>> round(float(elevation_for_range_deg(550.0, 6371.0 + 550.0, 6371.0)), 6)
    90.0
    """
    d = np.asarray(range_km, float)
    rs = np.asarray(sat_radius_km, float)
    rg = np.asarray(site_radius_km, float)
    s = (rs * rs - rg * rg - d * d) / (2.0 * rg * d)
    return np.degrees(np.arcsin(np.clip(s, -1.0, 1.0)))


def range_for_elevation_km(elevation_deg: ArrayLike, sat_radius_km: ArrayLike,
                           site_radius_km: ArrayLike = MEAN_EARTH_RADIUS_KM) -> np.ndarray:
    """Slant range (km) to a satellite at geocentric radius ``sat_radius_km`` seen at
    ``elevation_deg`` from a site at geocentric radius ``site_radius_km`` (inverse of
    `elevation_for_range_deg`; broadcasts).

    >>> round(float(range_for_elevation_km(90.0, 6371.0 + 550.0, 6371.0)), 6)
    550.0
    """
    e = np.radians(np.asarray(elevation_deg, float))
    rs = np.asarray(sat_radius_km, float)
    rg = np.asarray(site_radius_km, float)
    return np.sqrt(rs * rs - (rg * np.cos(e)) ** 2) - rg * np.sin(e)


def range_rule_for_mask(
    min_elevation_deg: ArrayLike,
    sat_radius_km: ArrayLike,
    *,
    site_radius_km: float = MEAN_EARTH_RADIUS_KM,
) -> MaxRange:
    """The range rule equivalent to an elevation mask on a sphere, per satellite or shell.

    APPROXIMATION: exact only for a site at ``site_radius_km`` from the Earth's centre with
    the horizon perpendicular to its geocentric radius, and a satellite at ``sat_radius_km``
    (e.g. a shell's semi-major axis). On WGS-84 the elevation the returned range allows
    varies with the site's latitude and height (see the module docstring).

    Parameters
    ----------
    min_elevation_deg : float or array
        Mask(s), deg, in [0, 90).
    sat_radius_km : float or array
        Geocentric radius of the satellite(s) or shell(s), km (> ``site_radius_km``).
    site_radius_km : float
        Radius of the sphere the sites stand on, km (default the mean Earth radius).
    """
    e = np.asarray(min_elevation_deg, float)
    rs = np.asarray(sat_radius_km, float)
    if np.any(~np.isfinite(e)) or np.any((e < 0.0) | (e >= 90.0)):
        raise InputError(f"elevation mask must be within [0, 90) deg, got {min_elevation_deg!r}",
                         "min_elevation_deg")
    if np.any(~np.isfinite(rs)) or np.any(rs <= site_radius_km):
        raise InputError(f"satellite radius must exceed the site radius {site_radius_km} km, "
                         f"got {sat_radius_km!r}", "sat_radius_km")
    rng = range_for_elevation_km(e, rs, site_radius_km)
    return MaxRange(rng if rng.ndim else float(rng),
                    source=f"mask translated on a {site_radius_km:.4f} km sphere")
