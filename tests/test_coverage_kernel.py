"""The visibility kernel against an all-pairs brute force built on `skyfence.earth.look_angles`.

The reference evaluates every (site, satellite) pair with the look-angle routine (itself
verified against skyfield to 1e-12 deg); both kernels (compiled and NumPy) must return the same
satellite sets, except for pairs whose elevation is within `TIE_DEG` of the mask.
"""

from __future__ import annotations

import h3
import numpy as np
import pytest
from shapely.geometry import box

from skyfence.coverage import GroundIndex, elevation_masks
from skyfence.coverage.visibility import KERNELS
from skyfence.earth import enu_basis, geodetic_to_itrs, look_angles
from skyfence.errors import InputError
from skyfence.orbits import load_constellation, propagate
from skyfence.timeutil import time_grid

TIE_DEG = 1e-9


def _ground(lat, lon, alt_km=0.0, **kw) -> GroundIndex:
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    return GroundIndex(geodetic_to_itrs(lat, lon, alt_km), enu_basis(lat, lon)[2], **kw)


def _random_sites(rng, n):
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    alt = rng.uniform(-0.4, 4.0, n)
    return lat, lon, alt


def _random_sats(rng, n, alt_lo=300.0, alt_hi=1500.0):
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    return geodetic_to_itrs(lat, lon, rng.uniform(alt_lo, alt_hi, n))


def _check_against_brute_force(lat, lon, alt, sats, masks, **kw) -> int:
    """Assert both kernels (compiled and NumPy) == look_angles brute force; return the number
    of usable pairs."""
    for kernel in KERNELS:
        n = _check_kernel(lat, lon, alt, sats, masks, kernel=kernel, **kw)
    return n


def _check_kernel(lat, lon, alt, sats, masks, **kw) -> int:
    ground = _ground(lat, lon, alt, **kw)
    step = ground.visibility(sats, masks, pairs=True)
    m = np.broadcast_to(np.asarray(masks, float), (sats.shape[0],))
    _, el, _ = look_angles(lat[:, None], lon[:, None], alt[:, None], sats[None, :, :])
    ref = el >= m[None, :]
    got = np.zeros_like(ref)
    got[step.pairs.point, step.pairs.sat] = True
    differ = got != ref
    # The only tolerated differences are ties at the mask.
    assert np.all(np.abs(el[differ] - np.broadcast_to(m, el.shape)[differ]) < TIE_DEG)
    np.testing.assert_array_equal(step.n_visible, got.sum(axis=1))
    # Pair elevations equal the reference.
    ref_el = el[step.pairs.point, step.pairs.sat]
    tol = np.where(ref_el > 89.9, 1e-5, 1e-9)  # arcsin is ill-conditioned at the zenith
    assert np.all(np.abs(step.pairs.elevation_deg - ref_el) <= tol)
    # Best elevation and serving candidate.
    best_ref = np.where(ref, el, -np.inf).max(axis=1)
    has = np.isfinite(best_ref)
    np.testing.assert_array_equal(has, step.best_sat >= 0)
    np.testing.assert_array_equal(np.isnan(step.best_elevation_deg), ~has)
    tol = np.where(best_ref[has] > 89.9, 1e-5, 1e-9)
    assert np.all(np.abs(step.best_elevation_deg[has] - best_ref[has]) <= tol)
    chosen = el[np.flatnonzero(has), step.best_sat[has]]
    assert np.all(chosen >= best_ref[has] - 1e-9)
    return int(ref.sum())


@pytest.mark.parametrize("seed", range(6))
def test_kernel_equals_brute_force_random_constellations(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lat, lon, alt = _random_sites(rng, 700)
    sats = _random_sats(rng, 1200)
    if seed % 3 == 0:
        masks = rng.uniform(0.0, 60.0)  # one mask
    elif seed % 3 == 1:
        masks = rng.choice([0.0, 10.0, 25.0, 40.0, 89.0], sats.shape[0])  # per satellite
    else:
        masks = rng.uniform(0.0, 90.0, sats.shape[0])
        masks[masks >= 90.0] = 89.999
    n = _check_against_brute_force(lat, lon, alt, sats, masks,
                                   bin_size_km=float(rng.uniform(80.0, 4000.0)))
    assert n > 0


@pytest.mark.parametrize("preset", ["starlink-gen1", "starlink-gen2a"])
def test_kernel_equals_brute_force_walker_shells_at_random_times(preset: str) -> None:
    rng = np.random.default_rng(7)
    const = load_constellation(preset)
    const = const.subset(np.sort(rng.choice(len(const), 1500, replace=False)))
    minutes = np.sort(rng.uniform(0, 24 * 60, 3))
    t = np.array([np.datetime64("2026-01-01T00:00:00", "ns")
                  + np.timedelta64(int(m * 60e9), "ns") for m in minutes])
    eph = propagate(const, t)
    lat, lon, alt = _random_sites(rng, 600)
    masks = elevation_masks(const.shell, 25.0, {const.shell[0]: 20.0})
    for k in range(t.size):
        _check_against_brute_force(lat, lon, alt, eph.r_km[:, k], masks)


def test_real_elements_equal_brute_force(shared_data) -> None:
    from conftest import TLE_2026

    const = load_constellation(TLE_2026)
    rng = np.random.default_rng(3)
    const = const.subset(np.sort(rng.choice(len(const), 2000, replace=False)))
    eph = propagate(const, time_grid("2026-02-23T06:00:00Z", 0, 60))
    lat, lon, alt = _random_sites(rng, 800)
    _check_against_brute_force(lat, lon, alt, eph.r_km[:, 0], 25.0)


def test_results_do_not_depend_on_bins_or_threads() -> None:
    rng = np.random.default_rng(5)
    lat, lon, alt = _random_sites(rng, 3000)
    sats = _random_sats(rng, 800, 500, 600)
    ref = _ground(lat, lon, alt, bin_size_km=10_000.0).visibility(sats, 25.0, pairs=True)
    for kw in ({"bin_size_km": 150.0}, {"bin_size_km": 600.0, "workers": 2}):
        got = _ground(lat, lon, alt, **kw).visibility(sats, 25.0, pairs=True)
        np.testing.assert_array_equal(got.n_visible, ref.n_visible)
        np.testing.assert_array_equal(got.best_sat, ref.best_sat)
        np.testing.assert_array_equal(got.pairs.point, ref.pairs.point)
        np.testing.assert_array_equal(got.pairs.sat, ref.pairs.sat)


def test_spatial_index_checks_far_fewer_pairs_than_all() -> None:
    rng = np.random.default_rng(9)
    lat, lon, alt = _random_sites(rng, 20_000)
    sats = _random_sats(rng, 2000, 540, 570)
    ground = _ground(lat, lon, alt)
    ground.visibility(sats, 25.0)
    assert ground.last_checks < 0.05 * 20_000 * 2000


# ----------------------------------------------------------------------------- edge cases
def test_poles() -> None:
    rng = np.random.default_rng(11)
    lat = np.r_[np.full(5, 90.0), np.full(5, -90.0), rng.uniform(85, 90, 40),
                rng.uniform(-90, -85, 40)]
    lon = rng.uniform(-180, 180, lat.size)
    alt = np.zeros(lat.size)
    # Satellites crowded over both poles, and a polar Walker shell.
    near = np.r_[rng.uniform(70, 90, 300), rng.uniform(-90, -70, 300)]
    sats = geodetic_to_itrs(near, rng.uniform(-180, 180, near.size), rng.uniform(400, 800, 600))
    polar = load_constellation("starlink-gen1")
    polar = polar.subset(np.array([s == "Gen1-4" for s in polar.shell]))
    eph = propagate(polar, time_grid("2026-01-01T03:00:00Z", 0, 60))
    sats = np.vstack([sats, eph.r_km[:, 0]])
    assert _check_against_brute_force(lat, lon, alt, sats, 25.0) > 0
    # Straight overhead the pole: 90 deg.
    step = _ground([90.0], [0.0]).visibility(geodetic_to_itrs(90.0, 0.0, 550.0)[None], 25.0)
    assert step.best_elevation_deg[0] == pytest.approx(90.0, abs=1e-12)


def test_cells_across_the_antimeridian() -> None:
    # Resolution-5 cells whose boundary crosses 180 deg, with satellites on both sides.
    seeds = [h3.latlng_to_cell(lat, 180.0, 5) for lat in np.arange(-60.0, 61.0, 5.0)]
    cells = sorted({c for s in seeds for c in h3.grid_disk(s, 2)})
    crossing = [c for c in cells
                if np.ptp([p[1] for p in h3.cell_to_boundary(c)]) > 180.0]
    assert crossing
    ll = np.array([h3.cell_to_latlng(c) for c in cells])
    rng = np.random.default_rng(13)
    slat = rng.uniform(-70, 70, 1500)
    slon = rng.uniform(160, 200, 1500)
    sats = geodetic_to_itrs(slat, (slon + 180) % 360 - 180, rng.uniform(500, 600, 1500))
    n = _check_against_brute_force(ll[:, 0], ll[:, 1], np.zeros(len(cells)), sats, 25.0)
    assert n > 0


@pytest.mark.parametrize("mask", [0.0, 89.0])
def test_mask_extremes(mask: float) -> None:
    rng = np.random.default_rng(17)
    lat, lon, alt = _random_sites(rng, 1500)
    sats = _random_sats(rng, 3000, 300, 600)
    n = _check_against_brute_force(lat, lon, alt, sats, mask)
    assert n > 0 if mask == 0.0 else n >= 0


def test_mask_zero_counts_everything_above_the_horizon() -> None:
    # A satellite just above / below the horizon of a sea-level site on the equator.
    ground = _ground([0.0], [0.0])
    g = geodetic_to_itrs(0.0, 0.0, 0.0)
    above = g + np.array([1e-7, 3000.0, 0.0])
    below = g + np.array([-1e-7, 3000.0, 0.0])
    step = ground.visibility(np.vstack([above, below]), 0.0, pairs=True)
    assert step.n_visible.tolist() == [1]
    assert step.pairs.sat.tolist() == [0]


def test_empty_constellation_and_empty_ground() -> None:
    ground = _ground([50.45, 25.03], [30.52, 121.56])
    step = ground.visibility(np.zeros((0, 3)), 25.0, pairs=True, held_sat=[-1, -1])
    assert step.n_visible.tolist() == [0, 0]
    assert np.isnan(step.best_elevation_deg).all()
    assert step.best_sat.tolist() == [-1, -1]
    assert step.held_usable.tolist() == [False, False]
    assert len(step.pairs) == 0
    empty = GroundIndex(np.zeros((0, 3)), np.zeros((0, 3)))
    step = empty.visibility(_random_sats(np.random.default_rng(1), 10), 25.0, pairs=True)
    assert step.n_visible.size == 0 and len(step.pairs) == 0


def test_failed_satellites_are_never_usable() -> None:
    ground = _ground([0.0], [0.0])
    sats = np.vstack([geodetic_to_itrs(0.0, 0.0, 550.0), [np.nan] * 3])
    step = ground.visibility(sats, 25.0, pairs=True)
    assert step.n_visible.tolist() == [1]
    assert step.pairs.sat.tolist() == [0]


def test_region_smaller_than_one_cell() -> None:
    from skyfence.ground import region_cell_set, region_from_geometry

    region = region_from_geometry("speck", box(30.5, 50.4, 30.51, 50.41))
    cells = region_cell_set(region)
    assert len(cells) == 1
    rng = np.random.default_rng(19)
    sats = _random_sats(rng, 3000, 540, 560)
    ground = GroundIndex(cells.r_itrs_km, cells.up)
    step = ground.visibility(sats, 25.0)
    _, el, _ = look_angles(cells.lat_deg[:, None], cells.lon_deg[:, None], 0.0, sats[None])
    assert step.n_visible[0] == int((el >= 25.0).sum()) > 0


def test_held_usable_agrees_with_the_pair_set() -> None:
    rng = np.random.default_rng(23)
    lat, lon, alt = _random_sites(rng, 2000)
    sats = _random_sats(rng, 1500, 500, 600)
    ground = _ground(lat, lon, alt)
    held = rng.integers(-1, sats.shape[0], lat.size)
    step = ground.visibility(sats, 25.0, held_sat=held, pairs=True)
    pairs = set(zip(step.pairs.point.tolist(), step.pairs.sat.tolist(), strict=True))
    expect = np.array([(p, h) in pairs for p, h in enumerate(held.tolist())])
    np.testing.assert_array_equal(step.held_usable, expect)
    # And the pairs are sorted by point, then satellite.
    key = step.pairs.point * sats.shape[0] + step.pairs.sat
    assert np.all(np.diff(key) > 0)


def test_slant_range_bound_is_conservative_on_the_ellipsoid() -> None:
    # Every usable pair must lie within the bound used to prune candidates.
    rng = np.random.default_rng(29)
    lat, lon, alt = _random_sites(rng, 4000)
    sats = _random_sats(rng, 1500, 200, 2000)
    masks = rng.uniform(0.0, 5.0, sats.shape[0])
    ground = _ground(lat, lon, alt)
    step = ground.visibility(sats, masks, pairs=True)
    g = geodetic_to_itrs(lat, lon, alt)
    d = np.linalg.norm(sats[step.pairs.sat] - g[step.pairs.point], axis=1)
    bound = ground.max_slant_range_km(np.linalg.norm(sats, axis=1), masks)
    assert np.all(d <= bound[step.pairs.sat])


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("mask", [-0.1, 90.0, 95.0, float("nan")])
def test_mask_outside_range_is_an_error(mask: float) -> None:
    ground = _ground([0.0], [0.0])
    with pytest.raises(InputError, match=r"elevation mask must be within \[0, 90\) deg"):
        ground.visibility(np.zeros((1, 3)) + 7000.0, mask)


def test_bad_shapes_are_errors() -> None:
    ground = _ground([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(InputError, match=r"shape \(n_sat, 3\)"):
        ground.visibility(np.zeros((4, 2)), 25.0)
    with pytest.raises(InputError, match="one value or one per satellite"):
        ground.visibility(np.zeros((4, 3)), [25.0, 30.0])
    with pytest.raises(InputError, match="held_sat needs one entry per point"):
        ground.visibility(np.zeros((4, 3)), 25.0, held_sat=[0])
    with pytest.raises(InputError, match="must both have shape"):
        GroundIndex(np.zeros((3, 3)), np.zeros((2, 3)))
    with pytest.raises(InputError, match="unit vectors"):
        GroundIndex(np.ones((1, 3)) * 6378.0, np.ones((1, 3)))
    with pytest.raises(InputError, match="GSO exclusion angle"):
        _ground([0.0], [0.0], gso_exclusion_deg=95.0)


def test_unknown_shell_mask_lists_the_shells() -> None:
    with pytest.raises(InputError, match=r"unknown shell 'Gen9'.*Gen1-1"):
        elevation_masks(("Gen1-1", "Gen1-2"), 25.0, {"Gen9": 20.0})


@pytest.mark.parametrize("module", [
    "skyfence.coverage", "skyfence.coverage.visibility", "skyfence.coverage.gso",
    "skyfence.coverage.strategies", "skyfence.coverage.metrics", "skyfence.outputs",
    "skyfence.outputs.tables", "skyfence.outputs.arrays", "skyfence.outputs.geojson",
    "skyfence.outputs.maps", "skyfence.cli.coverage",
])
def test_public_api_is_explicit(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__, key=lambda n: (not n.isupper(), n))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
