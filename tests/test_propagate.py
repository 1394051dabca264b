"""SGP4 -> ITRS propagation against skyfield (an independent implementation) on real elements."""

from __future__ import annotations

import numpy as np
import pytest
from sgp4.api import WGS72, Satrec
from skyfield.api import EarthSatellite, load, wgs84
from skyfield.framelib import itrs as skyfield_itrs

from conftest import TLE_2023, TLE_2026
from skyfence.earth import look_angles
from skyfence.orbits import Constellation, iter_ephemeris, propagate
from skyfence.timeutil import time_grid

ONE_METRE_KM = 1e-3


def _sample(path, n: int, seed: int) -> tuple[Constellation, list[EarthSatellite]]:
    lines = path.read_text().splitlines()
    recs = [(lines[i].strip(), lines[i + 1], lines[i + 2]) for i in range(0, len(lines) - 2, 3)]
    pick = np.random.default_rng(seed).choice(len(recs), n, replace=False)
    ts = load.timescale(builtin=True)
    satrecs, sky = [], []
    for k in pick:
        name, l1, l2 = recs[k]
        satrecs.append(Satrec.twoline2rv(l1, l2))
        sky.append(EarthSatellite(l1, l2, name, ts))
    const = Constellation(tuple(satrecs), np.array([s.satnum for s in satrecs]),
                          tuple(s.name for s in sky))
    return const, sky


@pytest.mark.parametrize(("path", "start"), [(TLE_2023, (2023, 5, 29)), (TLE_2026, (2026, 2, 23))])
def test_itrs_positions_and_look_angles_match_skyfield(shared_data, path, start) -> None:
    const, sky = _sample(path, 12, seed=11)
    ts = load.timescale(builtin=True)
    minutes = np.arange(0, 24 * 60, 37.5)
    tt = ts.utc(*start, 0, minutes)
    t_utc = time_grid(f"{start[0]:04d}-{start[1]:02d}-{start[2]:02d}T00:00:00Z",
                      minutes[-1] * 60, 37.5 * 60)
    eph = propagate(const, t_utc)
    assert eph.r_km.shape == (12, minutes.size, 3)
    rng = np.random.default_rng(12)
    sites = [(rng.uniform(-60, 60), rng.uniform(-180, 180), rng.uniform(0, 2.0)) for _ in range(4)]
    for k, sat in enumerate(sky):
        ref = sat.at(tt).frame_xyz(skyfield_itrs).km.T
        ok = eph.error_code[k] == 0
        assert np.abs(eph.r_km[k][ok] - ref[ok]).max() < ONE_METRE_KM
        for lat, lon, alt_km in sites:
            alt, az, dist = (sat - wgs84.latlon(lat, lon, elevation_m=alt_km * 1000)).at(tt).altaz()
            a2, e2, r2 = look_angles(lat, lon, alt_km, eph.r_km[k])
            assert np.abs(e2 - alt.degrees)[ok].max() < 1e-4
            assert np.abs((a2 - az.degrees + 180) % 360 - 180)[ok].max() < 1e-4
            assert np.abs(r2 - dist.km)[ok].max() < ONE_METRE_KM


def test_itrs_velocity_matches_skyfield(shared_data) -> None:
    const, sky = _sample(TLE_2026, 3, seed=3)
    ts = load.timescale(builtin=True)
    tt = ts.utc(2026, 2, 23, 0, np.arange(0, 120, 10))
    eph = propagate(const, time_grid("2026-02-23T00:00:00Z", 110 * 60, 600), velocity=True)
    for k, sat in enumerate(sky):
        ref = sat.at(tt).frame_xyz_and_velocity(skyfield_itrs)[1].km_per_s.T
        assert np.abs(eph.v_km_s[k] - ref).max() < 1e-6  # 1 mm/s


def test_ut1_matters() -> None:
    # Using UTC for UT1 would move a LEO position by tens of metres; our path uses UT1.
    from skyfence.earth import teme_to_itrs
    from skyfence.timeutil import dut1_seconds, julian_date_utc

    t = time_grid("2026-02-23T00:00:00Z", 0, 60)
    jd, fr = julian_date_utc(t)
    r = np.array([[7000.0, 0.0, 0.0]])
    shift_km = np.linalg.norm(teme_to_itrs(r, jd, fr) - teme_to_itrs(
        r, jd, fr + dut1_seconds(t) / 86400.0))
    assert abs(float(dut1_seconds(t)[0])) > 0.01
    assert shift_km > 0.02


def test_failed_satellite_becomes_nan_with_error_code() -> None:
    good = Satrec()
    good.sgp4init(WGS72, "i", 1, 27000.0, 0.0, 0.0, 0.0, 0.001, 0.0, 0.9, 0.0, 0.0675, 0.0)
    decaying = Satrec()
    # Huge drag term: the orbit decays within days (error code 6 or a negative mean motion).
    decaying.sgp4init(WGS72, "i", 2, 27000.0, 0.5, 0.0, 0.0, 0.001, 0.0, 0.9, 0.0, 0.0675, 0.0)
    const = Constellation((good, decaying), np.array([1, 2]), ("good", "decaying"))
    epoch = const.epochs_utc[0]
    t = epoch + (np.arange(0, 30 * 86400, 86400) * 10**9).astype("timedelta64[ns]")
    eph = propagate(const, t)
    assert (eph.error_code[0] == 0).all()
    assert np.isfinite(eph.r_km[0]).all()
    bad = eph.error_code[1] != 0
    assert bad.any()
    assert np.isnan(eph.r_km[1][bad]).all()


def test_chunks_equal_one_shot() -> None:
    from skyfence.orbits import preset

    const = preset("starlink-gen1-5", "2026-01-01T00:00:00Z")
    t = time_grid("2026-01-01T00:00:00Z", 3 * 3600, 60)
    whole = propagate(const, t)
    parts = list(iter_ephemeris(const, t, chunk_size=47))
    assert len(parts) == int(np.ceil(t.size / 47))
    joined = np.concatenate([p.r_km for p in parts], axis=1)
    assert np.array_equal(joined, whole.r_km)


def test_empty_constellation_and_empty_times() -> None:
    empty = Constellation((), np.zeros(0, np.int64), ())
    t = time_grid("2026-01-01T00:00:00Z", 600, 60)
    assert propagate(empty, t).r_km.shape == (0, 11, 3)


def test_constellation_pickles_exactly(shared_data) -> None:
    import pickle

    from skyfence.orbits import load_constellation

    for const in (load_constellation(str(TLE_2023)), load_constellation("starlink-gen1-4")):
        back = pickle.loads(pickle.dumps(const))
        assert np.array_equal(back.norad_ids, const.norad_ids)
        assert [s.intldesg for s in back.satrecs[:50]] == [s.intldesg for s in const.satrecs[:50]]
        t = time_grid("2026-02-23T00:00:00Z", 3600, 600)
        assert np.array_equal(propagate(back, t).r_km, propagate(const, t).r_km, equal_nan=True)
