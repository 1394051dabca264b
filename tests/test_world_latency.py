"""Latency model: held-out error on Starlink's published medians, fit and API behaviour."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA, TLE_2026
from skyfence.errors import InputError
from skyfence.network.latency import (
    DEFAULT_LATENCY_MODEL,
    HELD_OUT_COUNTRIES,
    HELD_OUT_MEDIAN_ERROR_BOUND_MS,
    LatencyModel,
    fit_latency_model,
    site_floors,
)
from skyfence.network.sites import world_sites
from skyfence.orbits import load_constellation
from skyfence.orbits.operational import serving_constellation


@pytest.fixture(scope="module")
def floors():
    const, _ = serving_constellation(load_constellation(TLE_2026), "2026-02-23T06:00:00Z")
    df = pd.read_csv(SHARED_DATA / "starlink-latency-2025-12-train.csv", keep_default_na=False)
    t = np.datetime64("2026-02-23T00:00:00") + np.arange(0, 12 * 3600, 1800).astype(
        "timedelta64[s]")
    return df, site_floors(const, world_sites(), df.site, df.lat, df.lon, df.iso_a2, t)


def test_held_out_median_error_within_bound(floors):
    df, fl = floors
    held = df.iso_a2.isin(HELD_OUT_COUNTRIES).to_numpy()
    assert held.sum() == len(HELD_OUT_COUNTRIES)
    rtt = np.nanmedian(DEFAULT_LATENCY_MODEL.rtt_ms(fl.rtt_floor_ms), axis=0)
    err = np.abs(rtt - df.p50_ms.to_numpy())
    assert np.median(err[held]) <= HELD_OUT_MEDIAN_ERROR_BOUND_MS
    # the floor alone is far off (~20 ms low): the overhead is what closes the gap
    assert np.median(np.abs(fl.median_floor_ms - df.p50_ms.to_numpy())[held]) > 10.0


def test_refit_excluding_held_out_reproduces_default(floors):
    df, fl = floors
    held = df.iso_a2.isin(HELD_OUT_COUNTRIES).to_numpy()
    m = fit_latency_model(fl.median_floor_ms[~held], df.p50_ms.to_numpy()[~held])
    assert m.scheduling_ms == pytest.approx(DEFAULT_LATENCY_MODEL.scheduling_ms, abs=1.0)
    assert m.path_stretch == pytest.approx(DEFAULT_LATENCY_MODEL.path_stretch, abs=0.08)


def test_exit_pops_follow_geoip_feed(floors):
    df, fl = floors
    pop = dict(zip(df.iso_a2, fl.exit_pop, strict=True))
    assert pop["UA"] == "Warsaw" and pop["NO"] == "Frankfurt" and pop["IS"] == "London"
    assert pop["MN"] == "Tokyo" and pop["EC"] == "Lima" and pop["BD"] == "Dhaka"
    assert fl.served_share.min() > 0.9


def test_fit_recovers_synthetic_constants():
    rng = np.random.default_rng(3)
    floor = rng.uniform(5, 45, 40)
    y = 12.0 + 1.3 * floor
    y[::7] += 25.0  # outliers: least absolute deviations ignores a few
    m = fit_latency_model(floor, y)
    assert m.scheduling_ms == pytest.approx(12.0, abs=1e-6)
    assert m.path_stretch == pytest.approx(1.3, abs=1e-6)
    m3 = fit_latency_model(floor, 10.0 + 1.1 * floor + 4.0 * np.round(floor / 15),
                           n_laser_hops=np.round(floor / 15))
    assert m3.per_laser_hop_ms == pytest.approx(4.0, abs=1e-6)


def test_model_rtt_components_and_nan():
    m = LatencyModel(scheduling_ms=10.0, path_stretch=1.5, per_laser_hop_ms=2.0,
                     pop_internet_ms={"Warsaw": 3.0})
    out = m.rtt_ms([10.0, np.nan, 20.0], [0, 0, 2], pop=["Warsaw", "Warsaw", "Sofia"])
    assert out[0] == pytest.approx(10.0 + 10.0 + 5.0 + 3.0)
    assert np.isnan(out[1])
    assert out[2] == pytest.approx(20.0 + 10.0 + 10.0 + 4.0)
    paths = SimpleNamespace(rtt_ms=np.array([10.0, np.nan]), n_laser_hops=np.array([0, -1]),
                            pop=np.array([0, -1]))
    rtt, floor = m.apply(paths, pop_names=["Warsaw"])
    assert rtt[0] == pytest.approx(28.0) and np.isnan(rtt[1]) and floor[0] == 10.0


@pytest.mark.parametrize("kw", [{"scheduling_ms": -1}, {"path_stretch": 0.9},
                                {"per_laser_hop_ms": float("nan")},
                                {"pop_internet_ms": {"X": -2.0}}])
def test_bad_model_constants(kw):
    with pytest.raises(InputError):
        LatencyModel(**kw)


def test_fit_needs_enough_sites():
    with pytest.raises(InputError, match="at least"):
        fit_latency_model([1.0, 2.0], [20.0, 21.0])
