"""The network stage over time: one routing per 15 s slot, for one or several what-if cases.

Starlink's controller reassigns satellites to terminals in 15-second slots, synchronized
worldwide (Tanveer et al. 2023, arXiv 2307.00402; ../shared/facts.md), so the stage is
evaluated once per slot: with a 15 s time step each step is a slot. Per step it takes the
satellite positions, a serving satellite per user (from the coverage stage, or the
`HighestElevation` selector here), builds one `Snapshot` and routes every case (baseline and
outages) on it. Handover counts and RTT statistics are accumulated by `metrics.NetworkMetrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike

from ..earth import enu_basis, geodetic_to_itrs
from ..errors import InputError, SiteError
from ..orbits.propagate import Ephemeris
from .routing import Router, UserPaths
from .sites import Outage, Sites, availability
from .topology import Snapshot, TopologyConfig, build_snapshot, visible_pairs

__all__ = [
    "DEFAULT_USER_MIN_ELEVATION_DEG",
    "SLOT_SECONDS",
    "Candidates",
    "GivenServing",
    "GroundUsers",
    "HighestElevation",
    "MinimumRtt",
    "NetworkStep",
    "ServingSelector",
    "iter_network",
    "iter_network_from_coverage",
]

#: Satellite reassignment period, s (Tanveer et al. 2023; ../shared/facts.md).
SLOT_SECONDS = 15.0
#: Minimum elevation for user terminals, deg (FCC order of April 2021; ../shared/facts.md).
DEFAULT_USER_MIN_ELEVATION_DEG = 25.0


@dataclass(frozen=True)
class GroundUsers:
    """Terminals or service cells that need a path to a PoP.

    Attributes
    ----------
    names : str array (n_user,)
    lat_deg, lon_deg : float arrays (n_user,), WGS-84 geodetic, deg
    alt_km : float array (n_user,), km
    home_pop : int array (n_user,), PoP index in the `Sites` used
    region : str array (n_user,), label for per-region metrics ("" = none)
    """

    names: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    home_pop: np.ndarray
    region: np.ndarray

    @classmethod
    def from_points(
        cls,
        names: Sequence[str],
        lat_deg: ArrayLike,
        lon_deg: ArrayLike,
        sites: Sites,
        *,
        countries: Sequence[str] | None = None,
        alt_km: ArrayLike = 0.0,
        region: Sequence[str] | None = None,
        home_pop: Sequence[str] | None = None,
    ) -> GroundUsers:
        """Users from points; the home PoP from ``home_pop`` names, else by country.

        ``countries`` are ISO alpha-2 codes (unknown -> nearest PoP, see `Sites.home_pop`).
        """
        lat = np.atleast_1d(np.asarray(lat_deg, float))
        lon = np.atleast_1d(np.asarray(lon_deg, float))
        n = lat.size
        names_a = np.asarray(list(names), dtype=str)
        if names_a.shape != (n,) or lon.shape != (n,):
            raise SiteError(f"{names_a.size} names, {n} latitudes and {lon.size} longitudes "
                            "must match", "users")
        bad = ~(np.isfinite(lat) & (np.abs(lat) <= 90.0) & np.isfinite(lon))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SiteError(f"bad coordinates ({lat[i]}, {lon[i]}) for {names_a[i]!r}; latitude "
                            "must be in [-90, 90]", f"user {names_a[i]!r}")
        if home_pop is not None:
            home = np.array([sites.pop_index(p, f"user {u!r}: home PoP")
                             for u, p in zip(names_a, home_pop, strict=True)], np.int64)
        else:
            home = sites.home_pop(list(countries) if countries is not None else [""] * n,
                                  lat, lon)
        reg = np.asarray(list(region) if region is not None else [""] * n, dtype=str)
        return cls(names_a, lat, lon, np.broadcast_to(np.asarray(alt_km, float), (n,)).copy(),
                   home, reg)

    def __len__(self) -> int:
        return int(self.lat_deg.size)

    @cached_property
    def itrs_km(self) -> np.ndarray:
        """ITRS positions of the users, km, shape (n_user, 3) (computed once)."""
        return geodetic_to_itrs(self.lat_deg, self.lon_deg, self.alt_km)


@dataclass(frozen=True)
class Candidates:
    """Candidate (user, satellite) pairs at one step, shape (n_cand,) each."""

    user: np.ndarray
    sat: np.ndarray
    range_km: np.ndarray
    elevation_deg: np.ndarray

    @classmethod
    def from_pairs(cls, r_sat_itrs_km: np.ndarray, users: GroundUsers, user: ArrayLike,
                   sat: ArrayLike, elevation_deg: ArrayLike, range_km: ArrayLike | None = None
                   ) -> Candidates:
        """Pairs from another kernel (e.g. the coverage stage); slant ranges (km) as given
        (``VisibilityPairs.range_km`` of the same points), else computed from the positions."""
        u = np.asarray(user, np.int64)
        s = np.asarray(sat, np.int64)
        if range_km is not None:
            rng = np.asarray(range_km, float)
            if rng.shape != u.shape:
                raise InputError(f"range_km must have one value per pair ({u.size}), got "
                                 f"shape {rng.shape}", "range_km")
        else:
            d = np.asarray(r_sat_itrs_km, float)[s] - users.itrs_km[u]
            rng = np.sqrt(np.einsum("ij,ij->i", d, d))
        return cls(u, s, rng, np.asarray(elevation_deg, float))

    @classmethod
    def from_serving(cls, r_sat_itrs_km: np.ndarray, users: GroundUsers, serving: ArrayLike
                     ) -> Candidates:
        """One candidate per covered user: its given serving satellite (-1 = none)."""
        sat = np.asarray(serving, np.int64)
        r = np.asarray(r_sat_itrs_km, float)
        if sat.shape != (len(users),) or (sat.size and (sat.max() >= r.shape[0]
                                                        or sat.min() < -1)):
            raise InputError(f"given serving satellites must be (n_user,) = ({len(users)},) "
                             f"indices in [-1, {r.shape[0] - 1}]", "serving")
        ui = np.flatnonzero(sat >= 0)
        _, _, up = enu_basis(users.lat_deg[ui], users.lon_deg[ui])
        d = r[sat[ui]] - users.itrs_km[ui]
        rng = np.sqrt(np.einsum("ij,ij->i", d, d))
        with np.errstate(invalid="ignore", divide="ignore"):
            el = np.degrees(np.arcsin(np.clip(np.einsum("ij,ij->i", d, up) / rng, -1.0, 1.0)))
        return cls(ui, sat[ui], rng, el)


@runtime_checkable
class ServingSelector(Protocol):
    """Chooses the serving satellite of every user at a step.

    ``candidates`` runs once per step (satellites in view); ``choose`` once per what-if case,
    since which satellites have a route depends on which sites are up.
    """

    def candidates(self, r_sat_itrs_km: np.ndarray, users: GroundUsers, step: int
                   ) -> Candidates:
        """Candidate pairs at this step."""
        ...

    def choose(self, cand: Candidates, snap: Snapshot, router: Router, users: GroundUsers
               ) -> tuple[np.ndarray, np.ndarray]:
        """``(serving_sat, access_km)`` per user; -1 / NaN where none."""
        ...


def _in_view(r_sat_itrs_km: np.ndarray, users: GroundUsers, min_elevation_deg: float,
             usable: np.ndarray | None) -> Candidates:
    r = np.asarray(r_sat_itrs_km, float)
    if usable is not None:
        r = np.where(np.asarray(usable, bool)[:, None], r, np.nan)
    ui, si, el, rng = visible_pairs(users.lat_deg, users.lon_deg, users.alt_km, r,
                                    min_elevation_deg)
    return Candidates(ui, si, rng, el)


def _check_mask(value: float) -> None:
    if not (0.0 <= value < 90.0):
        raise InputError(f"minimum elevation must be in [0, 90) deg, got {value}",
                         "min_elevation_deg")


@dataclass(frozen=True)
class _InView:
    """Selectors whose candidates are every satellite at or above the user mask."""

    min_elevation_deg: float = DEFAULT_USER_MIN_ELEVATION_DEG
    usable: np.ndarray | None = None

    def __post_init__(self) -> None:
        _check_mask(self.min_elevation_deg)

    def candidates(self, r_sat_itrs_km: np.ndarray, users: GroundUsers, step: int
                   ) -> Candidates:
        """Satellites in view of each user."""
        return _in_view(r_sat_itrs_km, users, self.min_elevation_deg, self.usable)


@dataclass(frozen=True)
class HighestElevation(_InView):
    """Serving satellite = the highest-elevation satellite at or above the mask, each slot.

    With ``require_route`` (default) only satellites with a route to a PoP are eligible (the
    operator's scheduler assigns satellites it can backhaul); without it, the highest one in
    view serves even if it has no route (the user is then covered but unrouted). ``usable`` is
    an optional bool mask (n_sat,) of satellites allowed to serve. The choice is made afresh
    every step (one step = one slot at the default 15 s step); for a satellite held within
    a slot, use the coverage stage's strategies through `iter_network_from_coverage`.
    """

    require_route: bool = True

    def choose(self, cand: Candidates, snap: Snapshot, router: Router, users: GroundUsers
               ) -> tuple[np.ndarray, np.ndarray]:
        """Highest elevation (among routable satellites with ``require_route``)."""
        n = len(users)
        if self.require_route:
            return router.choose_serving(snap, n, cand.user, cand.sat, cand.range_km,
                                         users.home_pop, score=-cand.elevation_deg)
        serving = np.full(n, -1, np.int64)
        access = np.full(n, np.nan)
        if cand.user.size:
            order = np.lexsort((cand.sat, -cand.elevation_deg, cand.user))
            first = order[np.r_[True, cand.user[order][1:] != cand.user[order][:-1]]]
            serving[cand.user[first]] = cand.sat[first]
            access[cand.user[first]] = cand.range_km[first]
        return serving, access


@dataclass(frozen=True)
class MinimumRtt(_InView):
    """Serving satellite = the satellite in view giving the lowest RTT to the user's PoP."""

    def choose(self, cand: Candidates, snap: Snapshot, router: Router, users: GroundUsers
               ) -> tuple[np.ndarray, np.ndarray]:
        """Lowest RTT among candidates."""
        return router.choose_serving(snap, len(users), cand.user, cand.sat, cand.range_km,
                                     users.home_pop)


@dataclass(frozen=True)
class GivenServing:
    """Serving satellites decided elsewhere, e.g. by the coverage stage.

    ``serving`` is an int array (n_time, n_user) of satellite indices (-1 = none), or a
    callable ``step -> (n_user,)``. Slant ranges are computed from the positions.
    """

    serving: np.ndarray | Callable[[int], np.ndarray]

    def candidates(self, r_sat_itrs_km: np.ndarray, users: GroundUsers, step: int
                   ) -> Candidates:
        """The given satellite of each user (one candidate per covered user)."""
        sat = self.serving(step) if callable(self.serving) else self.serving[step]
        return Candidates.from_serving(r_sat_itrs_km, users, sat)

    def choose(self, cand: Candidates, snap: Snapshot, router: Router, users: GroundUsers
               ) -> tuple[np.ndarray, np.ndarray]:
        """The given satellites, unchanged."""
        serving = np.full(len(users), -1, np.int64)
        access = np.full(len(users), np.nan)
        serving[cand.user] = cand.sat
        access[cand.user] = cand.range_km
        return serving, access


@dataclass(frozen=True)
class NetworkStep:
    """One slot: the routed paths of each case.

    ``paths`` maps case name (e.g. ``"baseline"``) to `UserPaths` (serving satellites
    included); ``snapshot`` is the all-sites-up graph of the step.
    """

    t_utc: np.datetime64
    paths: dict[str, UserPaths]
    snapshot: Snapshot


def _route_one_step(
    r: np.ndarray,
    t_index: int,
    cand: Candidates,
    users: GroundUsers,
    sites: Sites,
    config: TopologyConfig,
    router: Router,
    select: ServingSelector,
    ups: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[str, UserPaths], Snapshot]:
    snap = build_snapshot(r, sites, config)
    paths = {}
    for name, (gw_up, pop_up) in ups.items():
        variant = snap if gw_up[t_index].all() and pop_up[t_index].all() else replace(
            snap, gateway_up=gw_up[t_index].copy(), pop_up=pop_up[t_index].copy())
        sat, acc = select.choose(cand, variant, router, users)
        paths[name] = router.to_pops(variant, sat, acc, users.home_pop)
    return paths, snap


def _cases(cases: Mapping[str, Sequence[Outage]] | None) -> dict[str, Sequence[Outage]]:
    case_map: dict[str, Sequence[Outage]] = (dict(cases) if cases is not None
                                             else {"baseline": ()})
    if not case_map:
        raise InputError("at least one case is needed", "cases")
    return case_map


def iter_network(
    ephemerides: Iterable[Ephemeris],
    users: GroundUsers,
    sites: Sites,
    config: TopologyConfig,
    router: Router,
    *,
    serving: ServingSelector | None = None,
    cases: Mapping[str, Sequence[Outage]] | None = None,
) -> Iterator[NetworkStep]:
    """Route ``users`` at every time step of ``ephemerides`` (ITRS chunks, e.g. iter_ephemeris).

    Parameters
    ----------
    ephemerides : iterable of Ephemeris
        Consecutive time chunks in the ITRS frame.
    users : GroundUsers
    sites : Sites
    config : TopologyConfig
    router : Router
    serving : ServingSelector, optional
        Serving satellites per step; default `HighestElevation` at 25 deg among satellites
        with a route (`GivenServing` takes the coverage stage's choice).
    cases : mapping name -> outages, optional
        What-if cases routed on the same graph; default ``{"baseline": ()}``.

    Yields
    ------
    NetworkStep per time step.
    """
    select = serving if serving is not None else HighestElevation()
    if not isinstance(select, ServingSelector):
        raise InputError("serving must provide candidates() and choose()", "serving")
    case_map = _cases(cases)
    step = 0
    for eph in ephemerides:
        if eph.frame != "ITRS":
            raise InputError(f"ephemeris frame must be ITRS, got {eph.frame}", "ephemeris")
        ups = {name: availability(outs, eph.t_utc, sites) for name, outs in case_map.items()}
        for k in range(eph.t_utc.size):
            r = eph.r_km[:, k, :]
            cand = select.candidates(r, users, step)
            paths, snap = _route_one_step(r, k, cand, users, sites, config, router, select, ups)
            yield NetworkStep(eph.t_utc[k], paths, snap)
            step += 1


def iter_network_from_coverage(
    coverage_steps: Iterable,
    users: GroundUsers,
    sites: Sites,
    config: TopologyConfig,
    router: Router,
    *,
    serving: ServingSelector | None = None,
    cases: Mapping[str, Sequence[Outage]] | None = None,
) -> Iterator[NetworkStep]:
    """Route the coverage stage's ground points, step by step.

    ``coverage_steps`` are `skyfence.coverage.CoverageStep` objects (from
    ``iter_coverage(constellation, ground, t_utc, ...)``) for the same points as ``users``, in
    the same order. Without ``serving`` each point is served by the coverage stage's serving
    satellite (its strategy and 15 s hold), which may have no route; with ``serving`` (e.g.
    `HighestElevation` or `MinimumRtt`) the satellite is chosen among the coverage kernel's
    usable pairs (run ``iter_coverage`` with ``pairs=True``), so GSO exclusion and masks are
    the coverage stage's.
    """
    case_map = _cases(cases)
    if serving is not None and not isinstance(serving, ServingSelector):
        raise InputError("serving must provide candidates() and choose()", "serving")
    given = GivenServing(np.zeros((0, len(users)), np.int64))
    for st in coverage_steps:
        r = np.asarray(st.r_sat_itrs_km, float)
        t = np.atleast_1d(np.asarray(st.t_utc, dtype="datetime64[ns]"))
        ups = {name: availability(outs, t, sites) for name, outs in case_map.items()}
        if serving is None:
            cand = Candidates.from_serving(r, users, np.asarray(st.serving, np.int64))
            select: ServingSelector = given
        else:
            pairs = st.visibility.pairs
            if pairs is None:
                raise InputError("choosing the serving satellite needs the coverage pairs; run "
                                 "iter_coverage(..., pairs=True)", "serving")
            cand = Candidates.from_pairs(r, users, pairs.point, pairs.sat, pairs.elevation_deg,
                                         getattr(pairs, "range_km", None))
            select = serving
        paths, snap = _route_one_step(r, 0, cand, users, sites, config, router, select, ups)
        yield NetworkStep(t[0], paths, snap)
