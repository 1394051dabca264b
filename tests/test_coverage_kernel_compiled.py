"""The compiled (numba) visibility kernel against the NumPy reference kernel and brute force.

Three answers are compared on the same inputs: ``GroundIndex(kernel="numba")``,
``GroundIndex(kernel="numpy")`` and an all-pairs evaluation with `skyfence.earth.look_angles`
(verified against skyfield elsewhere) plus the GSO decision of `visibility_brute_force`. They
must agree on every field `GroundIndex.visibility` returns; the only tolerated differences are
pairs whose elevation is within `TIE_DEG` of the mask (and what follows from them), and a
choice between satellites whose elevations agree within `TIE_DEG`.
"""

from __future__ import annotations

import logging
import math
import threading

import h3
import numpy as np
import pytest

import skyfence.coverage.visibility as vis_mod
from skyfence.coverage import GSO_EXCLUSION_USER_DEG, GroundIndex, visibility_brute_force
from skyfence.earth import enu_basis, geodetic_to_itrs, look_angles
from skyfence.errors import InputError
from skyfence.orbits import load_constellation, propagate
from skyfence.timeutil import time_grid

TIE_DEG = 1e-9

pytest.importorskip("numba")


def _sites(rng, n, lat_range=(-90.0, 90.0)):
    lo, hi = np.sin(np.radians(lat_range))
    lat = np.degrees(np.arcsin(rng.uniform(lo, hi, n)))
    lon = rng.uniform(-180, 180, n)
    return lat, lon, rng.uniform(-0.4, 4.0, n)


def _sats(rng, n, alt_lo=300.0, alt_hi=1500.0):
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    return geodetic_to_itrs(lat, rng.uniform(-180, 180, n), rng.uniform(alt_lo, alt_hi, n))


def _index(lat, lon, alt, kernel, **kw) -> GroundIndex:
    return GroundIndex(geodetic_to_itrs(lat, lon, alt), enu_basis(lat, lon)[2], kernel=kernel,
                       **kw)


def _three_way(lat, lon, alt, sats, masks, *, gso_deg=None, held=None, threads=None,
               bin_km=None) -> int:
    """Compiled == NumPy == brute force on every output; returns the number of usable pairs."""
    kw = {"gso_exclusion_deg": gso_deg}
    nb = _index(lat, lon, alt, "numba", threads=threads, bin_size_km=bin_km, **kw)
    npy = _index(lat, lon, alt, "numpy", **kw)
    assert nb.kernel == "numba" and npy.kernel == "numpy"
    gso = gso_deg is not None
    got = {k: g.visibility(sats, masks, gso=gso, held_sat=held, pairs=True)
           for k, g in (("numba", nb), ("numpy", npy))}
    m = np.broadcast_to(np.asarray(masks, float), (sats.shape[0],))
    _, el, _ = look_angles(lat[:, None], lon[:, None], alt[:, None], sats[None, :, :])
    ref = el >= m[None, :]
    if gso:
        _, usable = visibility_brute_force(geodetic_to_itrs(lat, lon, alt),
                                           enu_basis(lat, lon)[2], sats, masks,
                                           gso_exclusion_deg=gso_deg)
        ref &= usable | (np.abs(el - m[None, :]) < TIE_DEG)
    tie = np.abs(el - m[None, :]) < TIE_DEG
    tie_point = tie.any(axis=1)
    sets = {}
    for name, step in got.items():
        s = np.zeros_like(ref)
        s[step.pairs.point, step.pairs.sat] = True
        sets[name] = s
        # Visible sets: equal to brute force except ties at the mask.
        assert not np.any((s != ref) & ~tie), name
        # Pairs sorted by point then satellite, one per usable pair, counts agree.
        key = step.pairs.point * sats.shape[0] + step.pairs.sat
        assert np.all(np.diff(key) > 0), name
        np.testing.assert_array_equal(step.n_visible, s.sum(axis=1))
        # Pair elevations equal the reference.
        ref_el = el[step.pairs.point, step.pairs.sat]
        tol = np.where(ref_el > 89.9, 1e-5, TIE_DEG)  # arcsin is ill-conditioned at 90
        assert np.all(np.abs(step.pairs.elevation_deg - ref_el) <= tol), name
        # Best: the highest usable elevation, NaN / -1 where none.
        best = np.where(s, el, -np.inf).max(axis=1)
        has = np.isfinite(best)
        np.testing.assert_array_equal(step.best_sat >= 0, has)
        np.testing.assert_array_equal(np.isnan(step.best_elevation_deg), ~has)
        tol = np.where(best[has] > 89.9, 1e-5, TIE_DEG)
        assert np.all(np.abs(step.best_elevation_deg[has] - best[has]) <= tol), name
        assert np.all(s[np.flatnonzero(has), step.best_sat[has]])
        if held is not None:
            ok = held >= 0
            expect = np.zeros(lat.size, bool)
            expect[ok] = s[np.flatnonzero(ok), held[ok]]
            np.testing.assert_array_equal(step.held_usable, expect)
        else:
            assert step.held_usable is None
    a, b = got["numba"], got["numpy"]
    # Compiled == NumPy: identical wherever no pair of the point is a tie at the mask.
    same = ~tie_point
    np.testing.assert_array_equal(a.n_visible[same], b.n_visible[same])
    np.testing.assert_array_equal(sets["numba"][same], sets["numpy"][same])
    diff_best = np.flatnonzero((a.best_sat != b.best_sat) & same)
    if diff_best.size:  # only between satellites at the same elevation
        ea = el[diff_best, a.best_sat[diff_best]]
        eb = el[diff_best, b.best_sat[diff_best]]
        assert np.all(np.abs(ea - eb) < TIE_DEG)
    np.testing.assert_allclose(a.best_elevation_deg[same], b.best_elevation_deg[same],
                               rtol=0, atol=1e-10, equal_nan=True)
    if held is not None:
        np.testing.assert_array_equal(a.held_usable[same], b.held_usable[same])
    return int(ref.sum())


# ----------------------------------------------------------------------------- equality
@pytest.mark.parametrize("seed", range(4))
def test_random_constellations(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    lat, lon, alt = _sites(rng, 600)
    sats = _sats(rng, 1000)
    if seed == 0:
        masks = 25.0
    elif seed == 1:
        masks = rng.choice([0.0, 10.0, 25.0, 40.0, 89.0], sats.shape[0])
    else:
        masks = np.minimum(rng.uniform(0.0, 90.0, sats.shape[0]), 89.999)
    sats[rng.choice(sats.shape[0], 5, replace=False)] = np.nan  # failed propagation
    held = rng.integers(-1, sats.shape[0], lat.size)
    n = _three_way(lat, lon, alt, sats, masks, held=held,
                   bin_km=float(rng.uniform(100.0, 3000.0)), threads=1 + seed % 2)
    assert n > 0


def test_walker_shells_with_gso_exclusion() -> None:
    rng = np.random.default_rng(7)
    const = load_constellation("starlink-gen1")
    const = const.subset(np.sort(rng.choice(len(const), 1500, replace=False)))
    eph = propagate(const, time_grid("2026-01-01T05:17:00Z", 0, 60))
    # Low latitudes, where the GSO arc is high in the sky and the exclusion bites.
    lat, lon, alt = _sites(rng, 500, (-35.0, 35.0))
    gso = np.where(rng.random(lat.size) < 0.8, GSO_EXCLUSION_USER_DEG, np.nan)
    held = rng.integers(-1, len(const), lat.size)
    n = _three_way(lat, lon, alt, eph.r_km[:, 0], 25.0, gso_deg=gso, held=held)
    assert n > 0
    # The exclusion removed something (otherwise this test would not test it).
    g = _index(lat, lon, alt, "numba", gso_exclusion_deg=gso)
    assert (g.visibility(eph.r_km[:, 0], 25.0, gso=True).n_visible
            < g.visibility(eph.r_km[:, 0], 25.0).n_visible).any()


def test_real_elements_full_file(shared_data) -> None:
    from conftest import TLE_2026

    const = load_constellation(TLE_2026, skip_invalid=True)
    eph = propagate(const, time_grid("2026-02-23T13:00:00Z", 0, 60))
    rng = np.random.default_rng(3)
    lat, lon, alt = _sites(rng, 400)
    n = _three_way(lat, lon, alt, eph.r_km[:, 0], 25.0,
                   held=rng.integers(-1, len(const), lat.size))
    assert n > 400 * 10


def test_poles_and_antimeridian() -> None:
    rng = np.random.default_rng(11)
    seeds = [h3.latlng_to_cell(la, 180.0, 5) for la in np.arange(-60.0, 61.0, 10.0)]
    cells = sorted({c for s in seeds for c in h3.grid_disk(s, 1)})
    ll = np.array([h3.cell_to_latlng(c) for c in cells])
    lat = np.r_[ll[:, 0], 90.0, -90.0, rng.uniform(85, 90, 40), rng.uniform(-90, -85, 40)]
    lon = np.r_[ll[:, 1], 0.0, 0.0, rng.uniform(-180, 180, 80)]
    alt = np.zeros(lat.size)
    near = np.r_[rng.uniform(70, 90, 300), rng.uniform(-90, -70, 300), rng.uniform(-70, 70, 600)]
    nlon = np.r_[rng.uniform(-180, 180, 600), rng.uniform(160, 200, 600)]
    sats = geodetic_to_itrs(near, (nlon + 180) % 360 - 180, rng.uniform(400, 800, near.size))
    polar = load_constellation("starlink-gen1")
    polar = polar.subset(np.array([s == "Gen1-4" for s in polar.shell]))
    sats = np.vstack([sats, propagate(polar, time_grid("2026-01-01T03:00:00Z", 0, 60)).r_km[:, 0]])
    assert _three_way(lat, lon, alt, sats, 25.0, held=np.zeros(lat.size, np.int64)) > 0


def test_exact_ties_go_to_the_lowest_index_in_both_kernels() -> None:
    rng = np.random.default_rng(5)
    lat, lon, alt = _sites(rng, 300)
    base = _sats(rng, 400, 500, 600)
    # Every satellite twice (indices i and i + 400): identical elevations everywhere.
    sats = np.vstack([base, base])
    for kernel in ("numba", "numpy"):
        step = _index(lat, lon, alt, kernel).visibility(sats, 25.0)
        has = step.best_sat >= 0
        assert has.any()
        assert np.all(step.best_sat[has] < 400), kernel
        assert np.all(step.n_visible % 2 == 0), kernel


def test_results_do_not_depend_on_threads_or_bins() -> None:
    rng = np.random.default_rng(21)
    lat, lon, alt = _sites(rng, 4000)
    sats = _sats(rng, 1500, 500, 600)
    held = rng.integers(-1, 1500, lat.size)
    ref = _index(lat, lon, alt, "numba", threads=1).visibility(sats, 25.0, held_sat=held,
                                                                pairs=True)
    for kw in ({"threads": 2}, {"threads": 2, "bin_size_km": 150.0},
               {"threads": 1, "bin_size_km": 5000.0}):
        got = _index(lat, lon, alt, "numba", **kw).visibility(sats, 25.0, held_sat=held,
                                                               pairs=True)
        for f in ("n_visible", "best_sat", "held_usable"):
            np.testing.assert_array_equal(getattr(got, f), getattr(ref, f))
        np.testing.assert_array_equal(got.best_elevation_deg, ref.best_elevation_deg)
        np.testing.assert_array_equal(got.pairs.sat, ref.pairs.sat)
        np.testing.assert_array_equal(got.pairs.point, ref.pairs.point)


def test_zenith_and_empty_cases() -> None:
    g = _index(np.array([90.0, 50.45, 0.0]), np.array([0.0, 30.52, 0.0]), np.zeros(3), "numba")
    over = geodetic_to_itrs(np.array([90.0, 50.45]), np.array([0.0, 30.52]), 550.0)
    step = g.visibility(over, 25.0, pairs=True, held_sat=[1, 1, -1])
    assert step.best_elevation_deg[:2] == pytest.approx([90.0, 90.0], abs=1e-12)
    assert step.best_sat.tolist() == [0, 1, -1]
    assert step.held_usable.tolist() == [False, True, False]
    # No satellites; only failed ones; none within reach; no ground points.
    for sats in (np.zeros((0, 3)), np.full((3, 3), np.nan), -over * 10.0):
        s = g.visibility(sats, 25.0, pairs=True, held_sat=[-1, 0, -1] if len(sats) else None)
        assert s.n_visible.tolist() == [0, 0, 0] and s.best_sat.tolist() == [-1, -1, -1]
        assert np.isnan(s.best_elevation_deg).all() and len(s.pairs) == 0
    empty = GroundIndex(np.zeros((0, 3)), np.zeros((0, 3)), kernel="numba")
    s = empty.visibility(over, 25.0, pairs=True)
    assert s.n_visible.size == 0 and len(s.pairs) == 0


def test_concurrent_calls_from_python_threads() -> None:
    rng = np.random.default_rng(8)
    lat, lon, alt = _sites(rng, 2000)
    sats = _sats(rng, 1000, 500, 600)
    g = _index(lat, lon, alt, "numba")
    ref = g.visibility(sats, 25.0).n_visible
    out: list[np.ndarray] = []

    def work() -> None:
        for _ in range(3):
            out.append(g.visibility(sats, 25.0).n_visible)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 9 and all(np.array_equal(o, ref) for o in out)


def test_atan2_for_non_negative_arguments_matches_libm() -> None:
    from skyfence.coverage._compiled import atan2_nonneg

    rng = np.random.default_rng(0)
    y = rng.uniform(0, 1, 20_000) * 10.0 ** rng.uniform(-8, 8, 20_000)
    x = rng.uniform(0, 1, 20_000) * 10.0 ** rng.uniform(-8, 8, 20_000)
    y[:5], x[5:10], y[10:15] = 0.0, 0.0, x[10:15]
    got = np.array([atan2_nonneg(a, b) for a, b in zip(y[:2000], x[:2000], strict=True)])
    ref = np.array([math.atan2(a, b) for a, b in zip(y[:2000], x[:2000], strict=True)])
    assert np.all(np.abs(got - ref) <= 4.5e-16 * np.maximum(ref, 1e-300))
    assert atan2_nonneg(0.0, 0.0) == 0.0
    assert atan2_nonneg(1.0, 0.0) == pytest.approx(math.pi / 2, abs=0)
    assert atan2_nonneg(1.0, 1.0) == math.pi / 4


# ----------------------------------------------------------------------------- selection
def test_kernel_selection_and_errors(monkeypatch) -> None:
    pts = geodetic_to_itrs(np.array([0.0]), np.array([0.0]))
    up = enu_basis(np.array([0.0]), np.array([0.0]))[2]
    monkeypatch.delenv("SKYFENCE_COVERAGE_KERNEL", raising=False)
    assert GroundIndex(pts, up).kernel == "numba"
    assert GroundIndex(pts, up, kernel="NumPy").kernel == "numpy"
    monkeypatch.setenv("SKYFENCE_COVERAGE_KERNEL", "numpy")
    assert GroundIndex(pts, up).kernel == "numpy"
    assert GroundIndex(pts, up, kernel="numba").kernel == "numba"  # explicit wins
    monkeypatch.setenv("SKYFENCE_COVERAGE_KERNEL", "cuda")
    with pytest.raises(InputError, match=r"SKYFENCE_COVERAGE_KERNEL.*unknown visibility kernel"):
        GroundIndex(pts, up)
    monkeypatch.delenv("SKYFENCE_COVERAGE_KERNEL")
    with pytest.raises(InputError, match="unknown visibility kernel 'fast'; choose one of"):
        GroundIndex(pts, up, kernel="fast")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="threads must be an integer >= 1"):
            GroundIndex(pts, up, threads=bad)
    from skyfence.threads import max_threads

    assert GroundIndex(pts, up, threads=10_000).threads == max_threads()
    assert GroundIndex(pts, up, threads=1).threads == 1
    assert GroundIndex(pts, up, kernel="numpy").threads == 1
    assert GroundIndex(pts, up, kernel="numpy", workers=3).threads == 3


def test_falls_back_to_numpy_with_a_notice_without_numba(monkeypatch, caplog) -> None:
    monkeypatch.setattr(vis_mod, "_compiled_module", None)
    monkeypatch.setattr(vis_mod, "_compiled_error", "ModuleNotFoundError: No module 'numba'")
    monkeypatch.setattr(vis_mod, "_fallback_logged", False)
    monkeypatch.delenv("SKYFENCE_COVERAGE_KERNEL", raising=False)
    pts = geodetic_to_itrs(np.array([10.0]), np.array([20.0]))
    up = enu_basis(np.array([10.0]), np.array([20.0]))[2]
    with caplog.at_level(logging.WARNING, logger="skyfence.coverage.visibility"):
        g = GroundIndex(pts, up)
        GroundIndex(pts, up)
    assert g.kernel == "numpy"
    notices = [r for r in caplog.records if "NumPy visibility kernel" in r.getMessage()]
    assert len(notices) == 1 and "numba" in notices[0].getMessage()
    with pytest.raises(InputError, match="numba kernel is not available"):
        GroundIndex(pts, up, kernel="numba")
    sat = geodetic_to_itrs(10.0, 20.0, 550.0)[None]
    assert g.visibility(sat, 25.0).n_visible.tolist() == [1]


def test_compiled_gso_separation_equals_the_numpy_minimisation() -> None:
    from skyfence.coverage import gso
    from skyfence.coverage._compiled import gso_min_separation_rad

    rng = np.random.default_rng(12)
    n = 600
    lat = np.r_[rng.uniform(-89, 89, n - 6), 0.0, 0.0, 90.0, -90.0, 45.0, -45.0]
    lon = rng.uniform(-180, 180, n)
    g = geodetic_to_itrs(lat, lon, rng.uniform(0, 3, n))
    s = geodetic_to_itrs(rng.uniform(-89, 89, n), rng.uniform(-180, 180, n),
                         rng.uniform(300, 2000, n))
    d = s - g
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    ref = gso._min_separation_rad(g, d)
    got = np.empty(n)
    gso_min_separation_rad(g, d, got)
    assert np.degrees(np.abs(got - ref)).max() < 1e-11
    # The decision path uses it: same exclusions as the NumPy minimisation everywhere except
    # within 1e-9 deg of the limit.
    lim = np.radians(rng.uniform(5, 30, n))
    ex = gso.gso_excluded_pairs(g, d, lim)
    ref_ex = ref < lim
    tie = np.abs(np.degrees(ref - lim)) < 1e-9
    assert np.array_equal(ex[~tie], ref_ex[~tie])
    assert ex.any() and (~ex).any()


def _child_count(g, sats, q) -> None:
    q.put(int(g.visibility(sats, 25.0).n_visible.sum()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_kernel_threads_survive_a_fork() -> None:
    import multiprocessing as mp

    rng = np.random.default_rng(14)
    lat, lon, alt = _sites(rng, 5000)
    sats = _sats(rng, 800, 500, 600)
    g = _index(lat, lon, alt, "numba", threads=2)
    expect = int(g.visibility(sats, 25.0).n_visible.sum())  # the thread pool now exists
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_count, args=(g, sats, q))
    p.start()
    try:
        assert q.get(timeout=60) == expect
    finally:
        p.join(timeout=10)
