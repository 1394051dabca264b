"""Plausibility on real element sets (../shared/data): Kyiv to the Warsaw and Frankfurt PoPs.

Starlink's published median latency for Ukraine is 33.0 ms (starlink.com/map, Dec 2025;
../shared/facts.md). A modelled RTT *floor* (propagation only, no queueing) must lie below it
and above the physical limit, 2 x the straight-line distance / c.
"""

from __future__ import annotations

import numpy as np
import pytest
from sgp4.api import Satrec

from conftest import TLE_2023, TLE_2026
from skyfence.earth import SPEED_OF_LIGHT_KM_S, geodetic_to_itrs
from skyfence.network import (
    GroundUsers,
    PlusGrid,
    Router,
    TopologyConfig,
    default_sites,
    iter_network,
    laser_capable_by_launch_year,
)
from skyfence.orbits import propagate
from skyfence.orbits.constellation import Constellation
from skyfence.timeutil import time_grid

KYIV = (50.45, 30.52)
UKRAINE_MEDIAN_RTT_MS = 33.0  # starlink.com/map, Dec 2025 (../shared/facts.md)


def read_tle(path) -> Constellation:
    """3-line element file read directly with sgp4 (independent of skyfence's loader)."""
    lines = [ln.rstrip() for ln in path.read_text().splitlines() if ln.strip()]
    sats, names = [], []
    for k in range(0, len(lines) - 2, 3):
        sats.append(Satrec.twoline2rv(lines[k + 1], lines[k + 2]))
        names.append(lines[k].strip())
    return Constellation(tuple(sats), np.array([s.satnum for s in sats]), tuple(names))


@pytest.fixture(scope="module")
def starlink_2026(shared_data):
    return read_tle(TLE_2026)


def test_laser_capability_from_designators(starlink_2026) -> None:
    cap = laser_capable_by_launch_year(starlink_2026, 2022)
    # Independent reading: TLE line 1, columns 10-11 hold the launch year.
    lines = [ln for ln in TLE_2026.read_text().splitlines() if ln.startswith("1 ")]
    yy = np.array([int(ln[9:11]) for ln in lines])
    year = np.where(yy >= 57, 1900 + yy, 2000 + yy)
    np.testing.assert_array_equal(cap, year >= 2022)
    assert 0.5 < cap.mean() < 1.0


def kyiv_rtt(const: Constellation, t0: str, pop: str, lasers: bool) -> np.ndarray:
    sites = default_sites()
    t = time_grid(t0, 600.0, 15.0)
    users = GroundUsers.from_points(["Kyiv"], [KYIV[0]], [KYIV[1]], sites, home_pop=[pop])
    cfg = TopologyConfig(
        lasers=PlusGrid.from_constellation(const, t[0]) if lasers else None,
        laser_capable=laser_capable_by_launch_year(const))
    eph = propagate(const, t)
    out = []
    for step in iter_network([eph], users, sites, cfg, Router(pop_fallback=False)):
        p = step.paths["baseline"]
        out.append(p.rtt_ms[0])
        if p.served[0]:
            assert sites.pop_names[p.pop[0]] == pop
            assert sites.gateways[p.gateway[0]].country in {"PL", "LT"}
    return np.array(out)


@pytest.mark.parametrize("pop", ["Warsaw", "Frankfurt"])
def test_kyiv_rtt_floor_between_physics_and_published_median(starlink_2026, pop: str) -> None:
    sites = default_sites()
    p = sites.pops[sites.pop_index(pop)]
    straight_km = float(np.linalg.norm(geodetic_to_itrs(*KYIV) - geodetic_to_itrs(
        p.lat_deg, p.lon_deg)))
    physical_floor_ms = 2 * straight_km / SPEED_OF_LIGHT_KM_S * 1e3
    rtt = kyiv_rtt(starlink_2026, "2026-02-23T12:00:00Z", pop, lasers=True)
    assert np.isfinite(rtt).all()  # served every slot
    floor = rtt.min()
    assert physical_floor_ms < floor < UKRAINE_MEDIAN_RTT_MS
    # Frankfurt is farther by fibre from the Polish/Lithuanian gateways than Warsaw.
    assert np.median(rtt) < UKRAINE_MEDIAN_RTT_MS + 10.0


def test_kyiv_bent_pipe_2023(shared_data) -> None:
    rtt = kyiv_rtt(read_tle(TLE_2023), "2023-05-29T12:00:00Z", "Warsaw", lasers=False)
    served = np.isfinite(rtt)
    assert served.mean() > 0.9
    assert rtt[served].min() < UKRAINE_MEDIAN_RTT_MS
