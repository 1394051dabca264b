"""Shell recovery: on the real 2023 Starlink file (against the FCC shell table in facts.md) and on
a synthetic mix whose membership is known exactly."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sgp4.api import WGS72, Satrec

from conftest import TLE_2023
from skyfence.errors import InputError
from skyfence.orbits.constellation import Constellation
from skyfence.orbits.elements import load_elements
from skyfence.orbits.recover import (
    assign_shell_labels,
    estimate_planes,
    format_shells,
    recover_shells,
)

_MU_WGS72_KM3_S2 = 398600.8  # WGS-72 (Vallado 2006), the constants SGP4 uses
_R_WGS72_KM = 6378.135
_SGP4_EPOCH0_JD = 2433281.5  # SGP4 epochs count days from 1949-12-31 00:00 UT


def _find(recovery, inc_deg: float, alt_km: float, inc_tol: float = 0.1, alt_tol: float = 8.0):
    hits = [s for s in recovery if abs(s.inclination_deg - inc_deg) <= inc_tol
            and abs(s.altitude_km - alt_km) <= alt_tol]
    assert len(hits) == 1, [s.describe() for s in recovery]
    return hits[0]


@pytest.fixture(scope="module")
def starlink_2023(shared_data) -> Constellation:
    return load_elements(TLE_2023)


def test_real_2023_shells_match_the_fcc_table(starlink_2023) -> None:
    rec = recover_shells(starlink_2023)
    # Shells from ../shared/facts.md (FCC filings): Gen1-1 53.0 deg / 550 km, 72 planes;
    # Gen1-2 53.2 / 540, 72 planes; Gen1-3 70 / 570; Gen1-4/5 97.6 / 560. Real mean altitudes
    # (above the WGS-72 radius, from the mean motion) sit within a few km of the filed values.
    gen1_1 = _find(rec, 53.05, 550.0)
    gen1_2 = _find(rec, 53.2, 540.0)
    gen1_3 = _find(rec, 70.0, 570.0)
    polar = _find(rec, 97.6, 560.0)
    assert gen1_1.n_sats > 1000 and gen1_2.n_sats > 1000
    assert 53.0 <= gen1_1.inclination_deg <= 53.1 and 53.15 <= gen1_2.inclination_deg <= 53.25
    assert abs(gen1_1.n_planes_estimate - 72) <= 3 and abs(gen1_2.n_planes_estimate - 72) <= 3
    assert gen1_3.n_sats > 100 and polar.n_sats > 100
    # The two large shells lead, sorted by size.
    sizes = [s.n_sats for s in rec]
    assert sizes == sorted(sizes, reverse=True)
    assert {rec[0].label, rec[1].label} == {gen1_1.label, gen1_2.label}
    # Every satellite is in exactly one shell or unclustered.
    ids = np.concatenate([s.norad_ids for s in rec] + [rec.unclustered_norad_ids])
    assert np.array_equal(np.sort(ids), np.sort(starlink_2023.norad_ids))
    # Satellites still raising orbit (low mean altitude at the Gen1-1 inclination) are not
    # counted in the operational shell.
    alt = starlink_2023.mean_altitude_km
    inc = starlink_2023.inclination_deg
    raising = starlink_2023.norad_ids[(np.abs(inc - 53.05) < 0.05) & (alt < 500)]
    assert raising.size > 0 and not np.isin(raising, gen1_1.norad_ids).any()


def test_format_lines(starlink_2023) -> None:
    lines = format_shells(recover_shells(starlink_2023))
    assert any(re.fullmatch(r"53\.0\d deg / 54\d km: 1,\d{3} satellites, ~\d+ planes", ln)
               for ln in lines)
    assert re.fullmatch(r"unclustered \(orbit raising, deorbiting or drifting\): \d+ satellites",
                        lines[-1])


def _circular(norad: int, epoch_days: float, inc_deg: float, alt_km: float, raan_deg: float,
              u_deg: float) -> Satrec:
    a = _R_WGS72_KM + alt_km
    n_rad_min = np.sqrt(_MU_WGS72_KM3_S2 / a**3) * 60.0
    sat = Satrec()
    sat.sgp4init(WGS72, "i", norad, epoch_days, 0.0, 0.0, 0.0, 0.0, 0.0, np.radians(inc_deg),
                 np.radians(u_deg), n_rad_min, np.radians(raan_deg % 360.0))
    return sat


def _shell(first_id: int, inc_deg: float, alt_km: float, planes: int, per_plane: int,
           epoch_days: float, epoch_spread_days: float = 0.0, seed: int = 0):
    """A Walker-like shell whose epochs spread over ``epoch_spread_days``, with each node moved
    consistently with SGP4's node rate, so that all planes coincide at ``epoch_days``."""
    rng = np.random.default_rng(seed)
    sats = []
    for p in range(planes):
        for s in range(per_plane):
            dt = float(rng.uniform(0, epoch_spread_days))
            raan = 360.0 * p / planes
            probe = _circular(0, epoch_days, inc_deg, alt_km, raan, 0.0)
            shift = np.degrees(probe.nodedot * dt * 1440.0)  # nodedot in rad/min
            sats.append(_circular(first_id + len(sats), epoch_days + dt, inc_deg, alt_km,
                                  raan + shift, 360.0 * s / per_plane))
    return sats


def _mix() -> tuple[Constellation, dict[str, set[int]]]:
    epoch = 27150.0  # days since 1949-12-31: 2024-05-03
    a = _shell(1000, 53.0, 550.0, 10, 20, epoch)
    b = _shell(2000, 53.2, 540.0, 8, 15, epoch)
    c = _shell(3000, 97.6, 560.0, 6, 10, epoch)
    rng = np.random.default_rng(5)
    raising = [_circular(4000 + k, epoch, 53.0, float(h), float(rng.uniform(0, 360)), 0.0)
               for k, h in enumerate(np.linspace(300.0, 520.0, 30))]
    stray = [_circular(5000 + k, epoch, float(rng.uniform(30, 90)), float(rng.uniform(300, 1200)),
                       0.0, 0.0) for k in range(5)]
    sats = a + b + c + raising + stray
    order = rng.permutation(len(sats))
    sats = [sats[i] for i in order]
    const = Constellation(tuple(sats), np.array([s.satnum for s in sats]),
                          tuple(f"S{s.satnum}" for s in sats), name="mix")
    truth = {
        "a": {s.satnum for s in a}, "b": {s.satnum for s in b}, "c": {s.satnum for s in c},
        "loose": {s.satnum for s in raising + stray},
    }
    return const, truth


def test_synthetic_mix_membership_is_exact() -> None:
    const, truth = _mix()
    rec = recover_shells(const)
    assert [s.n_sats for s in rec] == [200, 120, 60]
    assert [set(s.norad_ids.tolist()) for s in rec] == [truth["a"], truth["b"], truth["c"]]
    assert set(rec.unclustered_norad_ids.tolist()) == truth["loose"]
    assert [s.n_planes_estimate for s in rec] == [10, 8, 6]
    assert [round(s.inclination_deg, 6) for s in rec] == [53.0, 53.2, 97.6]
    # Mean altitude from SGP4's Brouwer mean motion: the Kozai input shifts it by < 10 km.
    for s, alt in zip(rec, (550.0, 540.0, 560.0), strict=True):
        assert abs(s.altitude_km - alt) < 10.0
    assert rec.shell_index[np.isin(const.norad_ids, list(truth["loose"]))].tolist() == [-1] * 35


def test_plane_index_follows_the_true_planes() -> None:
    const, truth = _mix()
    rec = recover_shells(const)
    ids = const.norad_ids
    # Synthetic shells: ids 1000 + 20 p + s (a), 2000 + 15 p + s (b), 3000 + 10 p + s (c).
    true_plane = np.full(len(const), -1)
    for base, per in ((1000, 20), (2000, 15), (3000, 10)):
        m = (ids >= base) & (ids < base + 1000)
        true_plane[m] = base + (ids[m] - base) // per
    loose = np.isin(ids, list(truth["loose"]))
    assert np.all(rec.plane_index[loose] == -1)
    assert np.all(rec.plane_index[~loose] >= 0)
    pairs = set(zip(rec.plane_index[~loose].tolist(), true_plane[~loose].tolist(), strict=True))
    assert len(pairs) == 24 == len(set(rec.plane_index[~loose].tolist()))  # 10 + 8 + 6 planes
    # Plane ids are numbered shell by shell.
    for j, shell in enumerate(rec):
        got = np.unique(rec.plane_index[rec.shell_index == j])
        first = sum(s.n_planes_estimate for s in rec.shells[:j])
        assert got.tolist() == list(range(first, first + shell.n_planes_estimate))


def test_plane_count_uses_a_common_epoch() -> None:
    # 72 planes 5 deg apart, epochs spread over a day: the node drifts about 5 deg/day at
    # 53 deg / 550 km, so nodes taken at their own epochs would smear the planes together.
    sats = _shell(1, 53.0, 550.0, 72, 3, 27150.0, epoch_spread_days=1.0, seed=3)
    const = Constellation(tuple(sats), np.array([s.satnum for s in sats]),
                          tuple(str(s.satnum) for s in sats))
    assert estimate_planes(const) == 72
    # The same nodes read at their own epochs (as if all epochs were equal) miscount planes.
    naive = [_circular(s.satnum, 27150.0, 53.0, 550.0, float(np.degrees(s.nodeo)), 0.0)
             for s in sats]
    naive_const = Constellation(tuple(naive), const.norad_ids, const.names)
    assert abs(estimate_planes(naive_const) - 72) > 10
    assert estimate_planes(const.subset(slice(0, 0))) == 0


def test_assign_shell_labels() -> None:
    const, truth = _mix()
    labelled = assign_shell_labels(const)
    assert np.array_equal(labelled.norad_ids, const.norad_ids)
    by_id = dict(zip(labelled.norad_ids.tolist(), labelled.shell, strict=True))
    labels = {key: {by_id[i] for i in ids} for key, ids in truth.items()}
    assert all(len(v) == 1 for v in labels.values())
    assert re.fullmatch(r"53\.0deg/5[45]\dkm", labels["a"].pop())
    assert re.fullmatch(r"53\.2deg/5[34]\dkm", labels["b"].pop())
    assert re.fullmatch(r"97\.6deg/5[56]\dkm", labels["c"].pop())
    assert labels["loose"] == {""}
    assert labelled.names == const.names and labelled.name == "mix"


def test_empty_and_bad_parameters() -> None:
    empty = Constellation((), np.zeros(0, np.int64), ())
    rec = recover_shells(empty)
    assert len(rec) == 0 and rec.n_unclustered == 0 and format_shells(rec) == []
    with pytest.raises(InputError, match="inclination_tol_deg must be a number > 0, got 0"):
        recover_shells(empty, inclination_tol_deg=0)
    with pytest.raises(InputError, match=r"min_shell_sats must be a whole number >= 1, got 2\.5"):
        recover_shells(empty, min_shell_sats=2.5)
