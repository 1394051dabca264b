"""Network topology per time step: ground-satellite links, feeder links, lasers, fibre.

Nodes of a `Snapshot` are numbered satellites ``[0, n_sat)``, gateways ``[n_sat, n_sat+n_gw)``
and PoPs after them. Links and their one-way propagation delays:

- **access** (terminal or cell -> serving satellite) and **feeder** (satellite -> gateway): radio
  at the speed of light in vacuum along the slant range; a link exists when the elevation seen
  from the ground site's WGS-84 horizon is >= its mask (computed exactly; a k-d tree only
  pre-selects candidates with a provably larger radius). Gateways also keep
  ``gso_exclusion_deg`` from the geostationary arc (`skyfence.coverage.gso`) and, with an
  antenna count, track only their highest-elevation satellites.
- **laser** (satellite <-> satellite): vacuum light speed along the chord, only between
  laser-capable satellites, within ``max_laser_range_km`` and with the chord clear of the
  atmosphere (``min_laser_altitude_km``). Which pairs are candidates is a `LaserTopology`:
  `PlusGrid` (two in-plane, two cross-plane neighbours; for Walker shells from their plane and
  slot, for real element sets from the planes `skyfence.orbits.recover_planes` finds) or
  `NearestNeighbourLasers`.
- **fibre** (gateway -> PoP): great-circle distance x ``fibre_route_factor`` at
  ``fibre_speed_fraction`` x c.

Positions are ITRS (Earth-fixed) km, shape ``(n_sat, 3)`` for one time step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from ..coverage.gso import gso_excluded
from ..earth import SPEED_OF_LIGHT_KM_S, WGS84_A_KM, enu_basis, geodetic_to_itrs
from ..errors import InputError, SiteError
from .sites import Sites

__all__ = [
    "DEFAULT_FIBRE_ROUTE_FACTOR",
    "DEFAULT_FIBRE_SPEED_FRACTION",
    "DEFAULT_MAX_LASER_RANGE_KM",
    "DEFAULT_MIN_LASER_ALTITUDE_KM",
    "KIND_ACCESS",
    "KIND_FEEDER",
    "KIND_FIBRE",
    "KIND_LASER",
    "LINK_KINDS",
    "LaserTopology",
    "NearestNeighbourLasers",
    "PlusGrid",
    "Snapshot",
    "StaticLasers",
    "TopologyConfig",
    "UnionLasers",
    "build_snapshot",
    "feeder_links",
    "laser_capable_by_launch_year",
    "laser_links",
    "orbital_angles",
    "visible_pairs",
]

#: Link kinds (codes used in edge arrays).
KIND_LASER, KIND_FEEDER, KIND_FIBRE, KIND_ACCESS = 0, 1, 2, 3
LINK_KINDS = {KIND_LASER: "laser", KIND_FEEDER: "feeder", KIND_FIBRE: "fibre",
              KIND_ACCESS: "access"}

#: Laser range, km: Starlink lasers reach "> 5,000 km" (../shared/facts.md, "How service works").
DEFAULT_MAX_LASER_RANGE_KM = 5000.0
#: Lowest altitude a laser chord may graze, km (assumption: keeps links above the dense
#: atmosphere; at 80 km the air column is already negligible for optical links).
DEFAULT_MIN_LASER_ALTITUDE_KM = 80.0
#: Terrestrial fibre route length / great-circle distance. ASSUMPTION (not in facts.md): fibre
#: follows roads, rails and landing points, so routes are longer than the great circle; 1.5 is
#: a middle value for routes between neighbouring European cities. Configurable.
DEFAULT_FIBRE_ROUTE_FACTOR = 1.5
#: Signal speed in fibre / c: silica's group index is about 1.47, so light travels at ~0.68 c;
#: the issue prescribes 2/3 c.
DEFAULT_FIBRE_SPEED_FRACTION = 2.0 / 3.0

# Largest angle between the WGS-84 ellipsoid normal and the geocentric radius (about 0.1924
# deg at 45 deg latitude), rounded up: bounds geodetic vs geocentric elevation.
_MAX_DEFLECTION_DEG = 0.2
# Up to this many site x satellite pairs, pre-select with dense matrix products instead of
# k-d trees.
_DENSE_PAIRS = 50_000


# --- ground <-> satellite -------------------------------------------------------------------

def _max_slant_range_km(
    min_elevation_deg: float, r_sat_max_km: float, r_site_min_km: float, r_site_max_km: float
) -> float:
    """A slant range no link above ``min_elevation_deg`` can exceed (spherical bound + margin)."""
    e = np.radians(max(min_elevation_deg - _MAX_DEFLECTION_DEG, -89.0))
    out = 0.0
    for rg in (r_site_min_km, r_site_max_km):
        if r_sat_max_km <= rg:
            continue
        rho = np.sqrt(r_sat_max_km**2 - (rg * np.cos(e)) ** 2) - rg * np.sin(e)
        out = max(out, float(rho))
    return out + 1.0


def visible_pairs(
    site_lat_deg: ArrayLike,
    site_lon_deg: ArrayLike,
    site_alt_km: ArrayLike,
    r_sat_itrs_km: np.ndarray,
    min_elevation_deg: ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (site, satellite) pair with elevation >= the site's mask, exactly.

    Parameters
    ----------
    site_lat_deg, site_lon_deg, site_alt_km : array_like, shape (n_site,)
        WGS-84 geodetic sites (deg, deg, km).
    r_sat_itrs_km : ndarray, shape (n_sat, 3)
        Satellite ITRS positions, km; rows with NaN are ignored.
    min_elevation_deg : float or array_like, shape (n_site,)
        Elevation mask per site, deg, measured from the WGS-84 local horizon.

    Returns
    -------
    site_idx, sat_idx : int64 arrays, shape (n_pair,)
    elevation_deg, range_km : float64 arrays, shape (n_pair,)
    """
    lat = np.atleast_1d(np.asarray(site_lat_deg, float))
    lon = np.atleast_1d(np.asarray(site_lon_deg, float))
    alt = np.broadcast_to(np.asarray(site_alt_km, float), lat.shape)
    mask = np.broadcast_to(np.asarray(min_elevation_deg, float), lat.shape)
    r_sat = np.asarray(r_sat_itrs_km, float).reshape(-1, 3)
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
    ok = np.flatnonzero(np.isfinite(r_sat).all(axis=1))
    if lat.size == 0 or ok.size == 0:
        return empty_i, empty_i.copy(), empty_f, empty_f.copy()
    site = geodetic_to_itrs(lat, lon, alt)
    _, _, up = enu_basis(lat, lon)
    rs = np.linalg.norm(r_sat[ok], axis=1)
    rg = np.linalg.norm(site, axis=1)
    radius = _max_slant_range_km(float(mask.min()), float(rs.max()), float(rg.min()),
                                 float(rg.max()))
    if site.shape[0] * ok.size <= _DENSE_PAIRS:
        # Dense pre-selection with matrix products, 1e-6 deg below the mask; the exact test
        # below decides.
        rs_ok = r_sat[ok]
        up_dot = rs_ok @ up.T - np.einsum("ij,ij->i", site, up)[None, :]
        d2 = (rs * rs)[:, None] - 2.0 * (rs_ok @ site.T) + (rg * rg)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            sin_el = up_dot / np.sqrt(np.maximum(d2, 1e-12))
        cut = np.sin(np.radians(np.clip(mask - 1e-6, -90.0, 90.0)))
        cj, ci = np.nonzero(sin_el >= cut[None, :] - 1e-12)
        si, sj = ci.astype(np.int64), ok[cj]
    else:
        coo = cKDTree(site).sparse_distance_matrix(
            cKDTree(r_sat[ok]), radius, output_type="coo_matrix")
        si = coo.row.astype(np.int64)
        sj = ok[coo.col]
    rho = r_sat[sj] - site[si]
    rng = np.sqrt(np.einsum("ij,ij->i", rho, rho))
    el = np.degrees(np.arcsin(np.clip(np.einsum("ij,ij->i", rho, up[si]) / rng, -1.0, 1.0)))
    keep = el >= mask[si]
    order = np.lexsort((sj[keep], si[keep]))
    return si[keep][order], sj[keep][order], el[keep][order], rng[keep][order]


def feeder_links(
    r_sat_itrs_km: np.ndarray,
    sites: Sites,
    *,
    gateway_up: ArrayLike | None = None,
    antenna_limit: bool = True,
    gso_exclusion: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Satellite -> gateway links at one time step.

    A link exists when the satellite is at or above the gateway's ``min_elevation_deg`` (exact,
    WGS-84 horizon), at least ``gso_exclusion_deg`` from the geostationary arc (if
    ``gso_exclusion``), the gateway is up, and, with ``antenna_limit``, it is among the gateway's
    ``n_antennas`` highest-elevation satellites.

    Returns ``sat_idx, gw_idx, elevation_deg, range_km`` (shape (n_link,) each).
    """
    gws = sites.gateways
    lat, lon = sites.gateway_lat_lon_deg
    alt = np.array([g.alt_km for g in gws])
    masks = np.array([g.min_elevation_deg for g in gws])
    gi, si, el, rng = visible_pairs(lat, lon, alt, r_sat_itrs_km, masks)
    keep = np.ones(gi.size, bool)
    if gateway_up is not None:
        up = np.asarray(gateway_up, bool)
        if up.shape != (len(gws),):
            raise InputError(f"gateway_up must have shape ({len(gws)},), got {up.shape}",
                             "gateway_up")
        keep &= up[gi]
    if gso_exclusion and gi.size:
        excl = np.array([g.gso_exclusion_deg for g in gws])
        need = keep & (excl[gi] > 0.0)
        if need.any():
            # The coverage stage's exact GSO-arc test (skyfence.coverage.gso).
            keep[np.flatnonzero(need)] = ~gso_excluded(
                sites.gateway_itrs_km[gi[need]], np.asarray(r_sat_itrs_km, float)[si[need]],
                excl[gi[need]])
    gi, si, el, rng = gi[keep], si[keep], el[keep], rng[keep]
    if antenna_limit and gi.size:
        cap = np.array([g.n_antennas if g.n_antennas is not None else np.iinfo(np.int64).max
                        for g in gws], dtype=np.int64)
        order = np.lexsort((-el, gi))
        gi, si, el, rng = gi[order], si[order], el[order], rng[order]
        start = np.searchsorted(gi, gi, side="left")
        rank = np.arange(gi.size) - start
        ok = rank < cap[gi]
        gi, si, el, rng = gi[ok], si[ok], el[ok], rng[ok]
    return si, gi, el, rng


# --- lasers ---------------------------------------------------------------------------------

@runtime_checkable
class LaserTopology(Protocol):
    """Which satellite pairs are laser candidates at a time step.

    ``candidate_pairs`` returns an ``(m, 2)`` int64 array of satellite indices with
    ``i < j`` and no duplicates; range, line-of-sight and laser-capability filters are applied
    afterwards by `laser_links`.
    """

    def candidate_pairs(self, r_sat_itrs_km: np.ndarray) -> np.ndarray:
        """Candidate pairs for satellites at ``r_sat_itrs_km`` (n_sat, 3) km."""
        ...


def _canonical_pairs(pairs: np.ndarray) -> np.ndarray:
    """Pairs as ``i < j``, self-pairs dropped, duplicates removed, sorted."""
    p = np.asarray(pairs, np.int64).reshape(-1, 2)
    lo, hi = np.minimum(p[:, 0], p[:, 1]), np.maximum(p[:, 0], p[:, 1])
    keep = lo != hi
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return np.zeros((0, 2), np.int64)
    n = int(hi.max()) + 1
    key = np.unique(lo * n + hi)
    return np.stack([key // n, key % n], axis=1)


@dataclass(frozen=True)
class StaticLasers:
    """A fixed list of laser pairs (for example a +Grid built once for a window)."""

    pairs: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", _canonical_pairs(self.pairs))

    def candidate_pairs(self, r_sat_itrs_km: np.ndarray) -> np.ndarray:
        """The fixed pairs (positions unused)."""
        return self.pairs


@dataclass(frozen=True)
class UnionLasers:
    """The union of several topologies' candidates (e.g. a grid plus nearest neighbours)."""

    parts: tuple[LaserTopology, ...]

    def candidate_pairs(self, r_sat_itrs_km: np.ndarray) -> np.ndarray:
        """Union of the parts' pairs."""
        allp = [p.candidate_pairs(r_sat_itrs_km) for p in self.parts]
        return _canonical_pairs(np.concatenate(allp)) if allp else np.zeros((0, 2), np.int64)


@dataclass(frozen=True)
class NearestNeighbourLasers:
    """Each satellite links to its ``max_links`` nearest satellites within ``max_range_km``.

    With ``mutual`` (default) a pair is kept only if each is among the other's nearest, so no
    satellite needs more than ``max_links`` terminals. ``shell`` labels, if given, restrict links
    to satellites of the same shell (lasers between shells see large relative velocities).
    """

    max_range_km: float = DEFAULT_MAX_LASER_RANGE_KM
    max_links: int = 4
    mutual: bool = True
    shell: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_range(self.max_range_km, "max_range_km")
        if int(self.max_links) != self.max_links or self.max_links < 1:
            raise InputError(f"max_links must be an integer >= 1, got {self.max_links}",
                             "max_links")

    def candidate_pairs(self, r_sat_itrs_km: np.ndarray) -> np.ndarray:
        """Nearest-neighbour pairs at this step."""
        r = np.asarray(r_sat_itrs_km, float).reshape(-1, 3)
        ok = np.flatnonzero(np.isfinite(r).all(axis=1))
        if ok.size < 2:
            return np.zeros((0, 2), np.int64)
        groups: list[np.ndarray]
        if self.shell is not None:
            labels = np.asarray(self.shell)[ok]
            groups = [ok[labels == lab] for lab in np.unique(labels)]
        else:
            groups = [ok]
        out = []
        for idx in groups:
            if idx.size < 2:
                continue
            k = min(self.max_links + 1, idx.size)
            dist, nb = cKDTree(r[idx]).query(r[idx], k=k, distance_upper_bound=self.max_range_km)
            dist, nb = dist[:, 1:], nb[:, 1:]
            valid = np.isfinite(dist)
            a = np.repeat(np.arange(idx.size), k - 1)[valid.ravel()]
            b = nb.ravel()[valid.ravel()]
            if self.mutual:
                key = a * idx.size + b
                rev = b * idx.size + a
                sorted_key = np.sort(key)
                pos = np.minimum(np.searchsorted(sorted_key, rev), sorted_key.size - 1)
                keep = sorted_key[pos] == rev
                a, b = a[keep], b[keep]
            out.append(np.stack([idx[a], idx[b]], axis=1))
        return _canonical_pairs(np.concatenate(out)) if out else np.zeros((0, 2), np.int64)


def _check_range(value: float, field_name: str) -> None:
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"laser range must be > 0 km, got {value!r}", field_name)


def orbital_angles(r_km: np.ndarray, v_km_s: np.ndarray) -> tuple[np.ndarray, ...]:
    """Osculating RAAN, argument of latitude and inclination (deg) from inertial r, v.

    ``r_km`` and ``v_km_s`` are ``(n, 3)`` in an inertial frame (TEME). Returns
    ``raan_deg, arg_latitude_deg, inclination_deg`` each ``(n,)``, angles in [0, 360).
    """
    h = np.cross(r_km, v_km_s)
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    inc = np.degrees(np.arccos(np.clip(h[:, 2], -1.0, 1.0)))
    raan = np.degrees(np.arctan2(h[:, 0], -h[:, 1])) % 360.0
    node = np.stack([np.cos(np.radians(raan)), np.sin(np.radians(raan)),
                     np.zeros_like(raan)], axis=1)
    r_hat = r_km / np.linalg.norm(r_km, axis=1, keepdims=True)
    y = np.cross(h, node)
    u = np.degrees(np.arctan2(np.einsum("ij,ij->i", r_hat, y),
                              np.einsum("ij,ij->i", r_hat, node))) % 360.0
    return raan, u, inc


@dataclass(frozen=True)
class PlusGrid:
    """+Grid lasers: each satellite links to its two in-plane and two cross-plane neighbours.

    In-plane neighbours are the next and previous satellites in argument of latitude; a plane
    links to the next plane of its shell in RAAN order (and the last to the first when the
    planes wrap around the equator). Cross-plane partners are matched greedily by closest
    argument of latitude, so each satellite has at most one partner per adjacent plane.

    Build with `from_planes` (plane ids and angles), `from_constellation` (Walker plane/slot
    when known, else planes recovered from the elements).
    """

    pairs: np.ndarray
    plane: np.ndarray = field(repr=False)

    def candidate_pairs(self, r_sat_itrs_km: np.ndarray) -> np.ndarray:
        """The grid pairs (fixed for the window the grid was built for)."""
        return self.pairs

    @classmethod
    def from_planes(
        cls,
        plane: ArrayLike,
        raan_deg: ArrayLike,
        arg_latitude_deg: ArrayLike,
        shell: ArrayLike | None = None,
    ) -> PlusGrid:
        """Grid from plane ids (-1 = none), RAAN and argument of latitude (deg) per satellite.

        ``shell`` ids group planes into shells (default: one shell); planes are ordered by their
        circular mean RAAN within the shell.
        """
        plane_a = np.asarray(plane, np.int64)
        raan = np.asarray(raan_deg, float)
        u = np.asarray(arg_latitude_deg, float) % 360.0
        shell_a = np.zeros_like(plane_a) if shell is None else np.asarray(shell, np.int64)
        pairs: list[np.ndarray] = []
        members = {p: np.flatnonzero(plane_a == p) for p in np.unique(plane_a[plane_a >= 0])}
        # In-plane rings.
        for idx in members.values():
            if idx.size < 2:
                continue
            ring = idx[np.argsort(u[idx], kind="stable")]
            nxt = np.roll(ring, -1)
            if ring.size == 2:
                nxt, ring = nxt[:1], ring[:1]
            pairs.append(np.stack([ring, nxt], axis=1))
        # Cross-plane: adjacent planes of each shell in RAAN order.
        for s in np.unique(shell_a[plane_a >= 0]):
            ps = np.unique(plane_a[(shell_a == s) & (plane_a >= 0)])
            if ps.size < 2:
                continue
            mean_raan = np.array([_circular_mean_deg(raan[members[p]]) for p in ps])
            ps = ps[np.argsort(mean_raan)]
            mean_raan = np.sort(mean_raan)
            gaps = np.diff(np.concatenate([mean_raan, [mean_raan[0] + 360.0]]))
            typical = np.median(gaps[:-1]) if ps.size > 2 else gaps[0]
            n_adj = ps.size if (ps.size > 2 and gaps[-1] <= 1.5 * typical) else ps.size - 1
            for k in range(n_adj):
                a, b = members[ps[k]], members[ps[(k + 1) % ps.size]]
                pairs.append(_match_by_angle(a, b, u))
        all_pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
        return cls(_canonical_pairs(all_pairs), plane_a)

    @classmethod
    def from_constellation(
        cls,
        constellation,
        t_utc: np.datetime64 | str,
        **recover_kwargs: float,
    ) -> PlusGrid:
        """Grid for a `Constellation` at time ``t_utc``.

        Walker constellations (``plane``/``slot`` set) use their planes, per shell label. Real
        element sets get shells and planes from `skyfence.orbits.recover_planes` (the one
        shell and plane recovery; ``recover_kwargs`` go to `skyfence.orbits.recover_shells`);
        satellites in no recovered plane get no grid lasers (add `NearestNeighbourLasers`
        with `UnionLasers` to connect them). Neighbours are ordered by the osculating
        argument of latitude and node at ``t_utc``.
        """
        from ..orbits.propagate import propagate
        from ..orbits.recover import recover_planes
        from ..timeutil import parse_time

        t = parse_time(t_utc) if not isinstance(t_utc, np.datetime64) else t_utc
        eph = propagate(constellation, np.array([t], "datetime64[ns]"), frame="TEME",
                        velocity=True)
        assert eph.v_km_s is not None  # asked for velocity=True
        r, v = eph.r_km[:, 0, :], eph.v_km_s[:, 0, :]
        raan, u, _ = orbital_angles(r, v)
        plane = np.asarray(constellation.plane, np.int64)
        if plane.size and (plane >= 0).all():
            labels = np.asarray(constellation.shell)
            _, shell = np.unique(labels, return_inverse=True)
            gplane = shell * (plane.max() + 1) + plane
            return cls.from_planes(gplane, raan, u, shell)
        shell, plane = recover_planes(constellation, **recover_kwargs)
        return cls.from_planes(plane, raan, u, shell)


def _circular_mean_deg(a: np.ndarray) -> float:
    r = np.radians(a)
    return float(np.degrees(np.arctan2(np.sin(r).mean(), np.cos(r).mean())) % 360.0)


def _match_by_angle(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching of satellites ``a`` to ``b`` by closest argument of latitude."""
    d = np.abs(u[a][:, None] - u[b][None, :]) % 360.0
    d = np.minimum(d, 360.0 - d)
    order = np.argsort(d, axis=None, kind="stable")
    ia, ib = np.unravel_index(order, d.shape)
    used_a = np.zeros(a.size, bool)
    used_b = np.zeros(b.size, bool)
    out = []
    limit = min(a.size, b.size)
    for x, y in zip(ia.tolist(), ib.tolist(), strict=True):
        if not used_a[x] and not used_b[y]:
            used_a[x] = used_b[y] = True
            out.append((a[x], b[y]))
            if len(out) == limit:
                break
    return np.array(out, np.int64).reshape(-1, 2)


def laser_capable_by_launch_year(
    constellation, min_year: int = 2022, unknown: bool = True
) -> np.ndarray:
    """Laser capability from the international designator: launched in ``min_year`` or later.

    Starlink satellites launched since about 2022 carry lasers (../shared/facts.md, "How
    service works"). The designator's first two digits are the launch year (57-99 -> 19xx,
    else 20xx). Satellites without a designator (Walker shells) get ``unknown``.

    Returns a bool array, shape (n_sat,).
    """
    out = np.full(len(constellation), bool(unknown))
    for i, sat in enumerate(constellation.satrecs):
        desg = str(getattr(sat, "intldesg", "") or "").strip()
        if len(desg) >= 2 and desg[:2].isdigit():
            yy = int(desg[:2])
            out[i] = (1900 + yy if yy >= 57 else 2000 + yy) >= min_year
    return out


def laser_links(
    r_sat_itrs_km: np.ndarray,
    topology: LaserTopology,
    *,
    laser_capable: ArrayLike | None = None,
    max_range_km: float = DEFAULT_MAX_LASER_RANGE_KM,
    min_altitude_km: float = DEFAULT_MIN_LASER_ALTITUDE_KM,
) -> tuple[np.ndarray, np.ndarray]:
    """Usable laser links at one step: ``pairs`` (m, 2) and ``range_km`` (m,).

    Keeps candidate pairs whose two satellites are laser-capable and have valid positions,
    whose distance is <= ``max_range_km``, and whose chord stays above ``min_altitude_km``
    over a sphere of the WGS-84 equatorial radius (conservative).
    """
    _check_range(max_range_km, "max_laser_range_km")
    r = np.asarray(r_sat_itrs_km, float).reshape(-1, 3)
    pairs = np.asarray(topology.candidate_pairs(r), np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= r.shape[0]):
        raise InputError(f"laser topology references satellite {int(pairs.max())} of "
                         f"{r.shape[0]}", "lasers")
    if laser_capable is not None:
        cap = np.asarray(laser_capable, bool)
        if cap.shape != (r.shape[0],):
            raise InputError(f"laser_capable must have shape ({r.shape[0]},), got {cap.shape}",
                             "laser_capable")
        pairs = pairs[cap[pairs[:, 0]] & cap[pairs[:, 1]]]
    p, q = r[pairs[:, 0]], r[pairs[:, 1]]
    dq = q - p
    rng = np.linalg.norm(dq, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(-np.einsum("ij,ij->i", p, dq) / (rng * rng), 0.0, 1.0)
    closest = np.linalg.norm(p + t[:, None] * dq, axis=1)
    keep = np.isfinite(rng) & (rng <= max_range_km) & (closest >= WGS84_A_KM + min_altitude_km)
    return pairs[keep], rng[keep]


# --- snapshot -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TopologyConfig:
    """Link-level settings of the network model.

    Parameters
    ----------
    lasers : LaserTopology or None
        Laser candidates; None = bent pipe only.
    laser_capable : bool array (n_sat,) or None
        Which satellites carry lasers (None = all).
    max_laser_range_km : float
        Longest laser link, km (> 0).
    min_laser_altitude_km : float
        Lowest altitude a laser chord may pass, km.
    fibre_route_factor : float
        Fibre route length / great-circle distance (>= 1).
    fibre_speed_fraction : float
        Signal speed in fibre as a fraction of c, in (0, 1].
    antenna_limit : bool
        Apply each gateway's ``n_antennas``.
    gso_exclusion : bool
        Apply each gateway's ``gso_exclusion_deg``.
    """

    lasers: LaserTopology | None = None
    laser_capable: np.ndarray | None = None
    max_laser_range_km: float = DEFAULT_MAX_LASER_RANGE_KM
    min_laser_altitude_km: float = DEFAULT_MIN_LASER_ALTITUDE_KM
    fibre_route_factor: float = DEFAULT_FIBRE_ROUTE_FACTOR
    fibre_speed_fraction: float = DEFAULT_FIBRE_SPEED_FRACTION
    antenna_limit: bool = True
    gso_exclusion: bool = True

    def __post_init__(self) -> None:
        _check_range(self.max_laser_range_km, "max_laser_range_km")
        if not (np.isfinite(self.fibre_route_factor) and self.fibre_route_factor >= 1.0):
            raise InputError(f"fibre_route_factor must be >= 1, got {self.fibre_route_factor}",
                             "fibre_route_factor")
        if not (0.0 < self.fibre_speed_fraction <= 1.0):
            raise InputError("fibre_speed_fraction must be in (0, 1], got "
                             f"{self.fibre_speed_fraction}", "fibre_speed_fraction")
        if self.lasers is not None and not isinstance(self.lasers, LaserTopology):
            raise InputError("lasers must provide candidate_pairs(r_sat_itrs_km)", "lasers")


@dataclass(frozen=True)
class Snapshot:
    """The network at one time step: nodes and links with one-way delays.

    Node numbering: satellites ``0..n_sat-1``, gateways ``n_sat + g``, PoPs
    ``n_sat + n_gw + p``. Every link is undirected with one delay for both directions.

    Attributes
    ----------
    r_sat_itrs_km : (n_sat, 3) float, km
    laser_pairs : (n_laser, 2) int, satellite indices, i < j
    laser_km : (n_laser,) float
    feeder_sat, feeder_gw : (n_feeder,) int
    feeder_km, feeder_elevation_deg : (n_feeder,) float
    fibre_gw, fibre_pop : (n_fibre,) int
    fibre_km : (n_fibre,) float, route length (great circle x route factor)
    fibre_speed_fraction : float
    gateway_up, pop_up : bool arrays (n_gw,), (n_pop,)
    gateway_country : (n_gw,) str
    """

    r_sat_itrs_km: np.ndarray
    laser_pairs: np.ndarray
    laser_km: np.ndarray
    feeder_sat: np.ndarray
    feeder_gw: np.ndarray
    feeder_km: np.ndarray
    feeder_elevation_deg: np.ndarray
    fibre_gw: np.ndarray
    fibre_pop: np.ndarray
    fibre_km: np.ndarray
    fibre_speed_fraction: float
    gateway_up: np.ndarray
    pop_up: np.ndarray
    gateway_country: np.ndarray
    #: Derived data (e.g. routing graphs and trees) keyed by their producer; not copied by
    #: `dataclasses.replace`.
    cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def space_only(cls, r_sat_itrs_km: np.ndarray, laser_pairs: np.ndarray,
                   laser_km: np.ndarray) -> Snapshot:
        """Satellites and lasers without gateways or PoPs (for site-to-site routing)."""
        zi, zf = np.zeros(0, np.int64), np.zeros(0)
        return cls(np.asarray(r_sat_itrs_km, float), np.asarray(laser_pairs, np.int64),
                   np.asarray(laser_km, float), zi, zi, zf, zf, zi, zi, zf,
                   DEFAULT_FIBRE_SPEED_FRACTION, np.zeros(0, bool), np.zeros(0, bool),
                   np.zeros(0, dtype=str))

    @property
    def n_sat(self) -> int:
        """Number of satellites."""
        return int(self.r_sat_itrs_km.shape[0])

    @property
    def n_gw(self) -> int:
        """Number of gateways."""
        return int(self.gateway_up.size)

    @property
    def n_pop(self) -> int:
        """Number of PoPs."""
        return int(self.pop_up.size)

    @property
    def n_nodes(self) -> int:
        """Satellites + gateways + PoPs."""
        return self.n_sat + self.n_gw + self.n_pop

    @property
    def laser_ms(self) -> np.ndarray:
        """One-way laser delays, ms."""
        return self.laser_km / SPEED_OF_LIGHT_KM_S * 1e3

    @property
    def feeder_ms(self) -> np.ndarray:
        """One-way feeder-link delays, ms."""
        return self.feeder_km / SPEED_OF_LIGHT_KM_S * 1e3

    @property
    def fibre_ms(self) -> np.ndarray:
        """One-way fibre delays, ms."""
        return self.fibre_km / (SPEED_OF_LIGHT_KM_S * self.fibre_speed_fraction) * 1e3

    def links(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All undirected links as ``(u, v, delay_ms, kind)`` in node numbering."""
        ns, ng = self.n_sat, self.n_gw
        u = np.concatenate([self.laser_pairs[:, 0], self.feeder_sat, ns + self.fibre_gw])
        v = np.concatenate([self.laser_pairs[:, 1], ns + self.feeder_gw,
                            ns + ng + self.fibre_pop])
        d = np.concatenate([self.laser_ms, self.feeder_ms, self.fibre_ms])
        k = np.concatenate([np.full(self.laser_km.size, KIND_LASER, np.int8),
                            np.full(self.feeder_km.size, KIND_FEEDER, np.int8),
                            np.full(self.fibre_km.size, KIND_FIBRE, np.int8)])
        return u.astype(np.int64), v.astype(np.int64), d, k


def build_snapshot(
    r_sat_itrs_km: np.ndarray,
    sites: Sites,
    config: TopologyConfig = TopologyConfig(),
    *,
    gateway_up: ArrayLike | None = None,
    pop_up: ArrayLike | None = None,
) -> Snapshot:
    """Build the network graph at one time step.

    Parameters
    ----------
    r_sat_itrs_km : ndarray, shape (n_sat, 3)
        Satellite ITRS positions, km (NaN rows = failed satellites, left unconnected).
    sites : Sites
    config : TopologyConfig
    gateway_up, pop_up : bool arrays, shape (n_gw,) and (n_pop,), optional
        Availability (what-if outages); default all up. A PoP that is down keeps its links but
        is never a destination; a gateway that is down has no feeder links.
    """
    r = np.asarray(r_sat_itrs_km, float).reshape(-1, 3)
    n_gw, n_pop = len(sites.gateways), len(sites.pops)
    gw_up = np.ones(n_gw, bool) if gateway_up is None else np.asarray(gateway_up, bool)
    p_up = np.ones(n_pop, bool) if pop_up is None else np.asarray(pop_up, bool)
    if gw_up.shape != (n_gw,) or p_up.shape != (n_pop,):
        raise SiteError(f"gateway_up / pop_up must have shapes ({n_gw},) / ({n_pop},)",
                        "availability")
    si, gi, el, fk = feeder_links(r, sites, gateway_up=gw_up, antenna_limit=config.antenna_limit,
                                  gso_exclusion=config.gso_exclusion)
    if config.lasers is not None:
        pairs, lk = laser_links(r, config.lasers, laser_capable=config.laser_capable,
                                max_range_km=config.max_laser_range_km,
                                min_altitude_km=config.min_laser_altitude_km)
    else:
        pairs, lk = np.zeros((0, 2), np.int64), np.zeros(0)
    fg, fp, gc = sites.fibre_pairs()
    return Snapshot(
        r_sat_itrs_km=r, laser_pairs=pairs, laser_km=lk, feeder_sat=si, feeder_gw=gi,
        feeder_km=fk, feeder_elevation_deg=el, fibre_gw=fg, fibre_pop=fp,
        fibre_km=gc * config.fibre_route_factor, fibre_speed_fraction=config.fibre_speed_fraction,
        gateway_up=gw_up, pop_up=p_up, gateway_country=sites.gateway_countries,
    )
