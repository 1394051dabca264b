"""Streaming metrics, serving strategies and the coverage driver."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from skyfence.coverage import (
    SLOT_S,
    CoverageAccumulator,
    GroundIndex,
    RandomUsable,
    compute_coverage,
    iter_coverage,
    region_summary,
    serving_slot,
    weighted_percentile,
)
from skyfence.coverage.metrics import CoverageSummary, check_time_grid
from skyfence.earth import enu_basis, geodetic_to_itrs
from skyfence.errors import InputError, ResourceError
from skyfence.orbits import Constellation, load_constellation
from skyfence.timeutil import time_grid


def _ground(lat, lon) -> GroundIndex:
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    return GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2])


@pytest.fixture(scope="module")
def gen1_sparse() -> Constellation:
    """A thinned Gen1 (every 12th satellite): gaps and handovers happen within minutes."""
    const = load_constellation("starlink-gen1")
    return const.subset(np.arange(0, len(const), 12))


# ----------------------------------------------------------------------------- accumulator
def _naive(nv: np.ndarray, best: np.ndarray, serving: np.ndarray, step_s: float) -> dict:
    """Per-point metrics by plain Python loops over time (the reference)."""
    n_t, n_p = nv.shape
    out = {k: [] for k in ("availability", "mean", "min", "max", "gap", "changes", "el")}
    for p in range(n_p):
        col = nv[:, p].tolist()
        out["availability"].append(sum(c > 0 for c in col) / n_t)
        out["mean"].append(sum(col) / n_t)
        out["min"].append(min(col))
        out["max"].append(max(col))
        run = longest = 0
        for c in col:
            run = run + 1 if c == 0 else 0
            longest = max(longest, run)
        out["gap"].append(longest * step_s)
        ch = 0
        for a, b in zip(serving[:-1, p].tolist(), serving[1:, p].tolist(), strict=True):
            ch += a >= 0 and b >= 0 and a != b
        out["changes"].append(ch)
        els = [best[k, p] for k in range(n_t) if col[k] > 0]
        out["el"].append(sum(els) / len(els) if els else np.nan)
    return {k: np.array(v) for k, v in out.items()}


def _random_run(seed: int, n_t: int = 60, n_p: int = 40):
    rng = np.random.default_rng(seed)
    nv = rng.integers(0, 4, (n_t, n_p)) * (rng.random((n_t, n_p)) < 0.7)
    nv[:, 0] = 0  # never served
    nv[:, 1] = 3  # always served
    best = np.where(nv > 0, rng.uniform(25, 90, (n_t, n_p)), np.nan)
    serving = np.where(nv > 0, rng.integers(0, 5, (n_t, n_p)), -1)
    t = time_grid("2026-01-01T00:00:00Z", (n_t - 1) * 30.0, 30.0)
    return t, nv, best, serving


def _summary(t, nv, best, serving, step_s=30.0) -> CoverageSummary:
    acc = CoverageAccumulator(nv.shape[1], step_s)
    for k in range(t.size):
        acc.update(t[k], nv[k], best[k], serving[k])
    return acc.summary()


@pytest.mark.parametrize("seed", range(3))
def test_accumulator_equals_naive_loops(seed: int) -> None:
    t, nv, best, serving = _random_run(seed)
    m = _summary(t, nv, best, serving).finalize()
    ref = _naive(nv, best, serving, 30.0)
    np.testing.assert_allclose(m.availability, ref["availability"])
    np.testing.assert_allclose(m.mean_in_view, ref["mean"])
    np.testing.assert_array_equal(m.min_in_view, ref["min"])
    np.testing.assert_array_equal(m.max_in_view, ref["max"])
    np.testing.assert_array_equal(m.longest_gap_s, ref["gap"])
    np.testing.assert_array_equal(m.serving_changes, ref["changes"])
    np.testing.assert_allclose(m.mean_best_elevation_deg, ref["el"], equal_nan=True)
    assert m.availability[0] == 0.0 and m.longest_gap_s[0] == t.size * 30.0
    assert m.availability[1] == 1.0 and m.longest_gap_s[1] == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_chunk_summaries_merge_in_any_order(seed: int) -> None:
    t, nv, best, serving = _random_run(seed + 10)
    whole = _summary(t, nv, best, serving).finalize()
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, t.size), 5, replace=False))
    bounds = np.r_[0, cuts, t.size]
    parts = [_summary(t[a:b], nv[a:b], best[a:b], serving[a:b])
             for a, b in itertools.pairwise(bounds)]
    rng.shuffle(parts)
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    assert merged.is_complete
    got = merged.finalize()
    for col in got.COLUMNS:
        np.testing.assert_allclose(getattr(got, col), getattr(whole, col), equal_nan=True)


def test_single_step_chunks_merge() -> None:
    # A one-step chunk knows no step (0 s); it must still join its neighbours.
    t, nv, best, serving = _random_run(7, n_t=12)
    whole = _summary(t, nv, best, serving).finalize()
    parts = [_summary(t[k:k + 1], nv[k:k + 1], best[k:k + 1], serving[k:k + 1], step_s=0.0)
             for k in range(t.size)]
    parts[3] = _summary(t[3:5], nv[3:5], best[3:5], serving[3:5])  # one run that knows
    del parts[4]
    np.random.default_rng(0).shuffle(parts)
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    got = merged.finalize()
    assert got.step_s == 30.0
    for col in got.COLUMNS:
        np.testing.assert_allclose(getattr(got, col), getattr(whole, col), equal_nan=True)


def test_merge_reports_missing_and_overlapping_chunks() -> None:
    t, nv, best, serving = _random_run(1)
    a = _summary(t[:10], nv[:10], best[:10], serving[:10])
    c = _summary(t[20:], nv[20:], best[20:], serving[20:])
    partial = a.merge(c)
    assert not partial.is_complete
    with pytest.raises(InputError, match="time chunks missing"):
        partial.finalize()
    with pytest.raises(InputError, match="overlapping time chunks"):
        a.merge(_summary(t[5:15], nv[5:15], best[5:15], serving[5:15]))


# ----------------------------------------------------------------------------- strategies
def test_serving_slots_are_utc_aligned() -> None:
    t = np.array(["2026-01-01T00:00:14.999", "2026-01-01T00:00:15", "2026-01-01T00:00:29.9"],
                 dtype="datetime64[ns]")
    s = serving_slot(t)
    assert s[1] == s[2] == s[0] + 1
    assert SLOT_S == 15.0


def test_highest_elevation_holds_within_a_slot(gen1_sparse) -> None:
    lat = np.linspace(-50, 50, 30)
    ground = _ground(lat, np.linspace(-170, 170, 30))
    t = time_grid("2026-01-01T00:00:02Z", 20 * 60.0, 5.0)  # starts mid-slot
    steps = list(iter_coverage(gen1_sparse, ground, t, pairs=True))
    held_kept = switched = 0
    for k, cs in enumerate(steps):
        vis = cs.visibility
        usable = {(p, s) for p, s in zip(vis.pairs.point.tolist(), vis.pairs.sat.tolist(),
                                          strict=True)}
        new_slot = k == 0 or serving_slot(cs.t_utc) != serving_slot(steps[k - 1].t_utc)
        for p in range(lat.size):
            prev = steps[k - 1].serving[p] if k else -1
            if not new_slot and prev >= 0 and (p, prev) in usable:
                assert cs.serving[p] == prev
                held_kept += cs.serving[p] != vis.best_sat[p]
            else:
                assert cs.serving[p] == vis.best_sat[p]
                switched += new_slot
    assert held_kept > 0 and switched > 0  # both branches exercised


def test_random_strategy_is_seeded_usable_and_not_the_best(gen1_sparse) -> None:
    ground = _ground(np.linspace(-50, 50, 40), np.linspace(-170, 170, 40))
    t = time_grid("2026-01-01T00:00:00Z", 600.0, 60.0)

    def run(seed):
        return [cs for cs in iter_coverage(gen1_sparse, ground, t, strategy=RandomUsable(seed))]

    a, b, c = run(1), run(1), run(2)
    sa = np.array([cs.serving for cs in a])
    np.testing.assert_array_equal(sa, np.array([cs.serving for cs in b]))
    assert not np.array_equal(sa, np.array([cs.serving for cs in c]))
    for cs in a:
        usable = set(zip(cs.visibility.pairs.point.tolist(), cs.visibility.pairs.sat.tolist(),
                         strict=True))
        for p, s in enumerate(cs.serving.tolist()):
            assert (s == -1) == (cs.visibility.n_visible[p] == 0)
            assert s == -1 or (p, s) in usable
    best = np.array([cs.visibility.best_sat for cs in a])
    assert (sa != best).mean() > 0.3


def test_chunked_run_equals_one_run_mid_slot(gen1_sparse) -> None:
    # 5 s steps: the held satellite carries across chunk boundaries that fall mid-slot.
    ground = _ground(np.linspace(-55, 55, 25), np.linspace(-179, 179, 25))
    t = time_grid("2026-01-01T00:00:05Z", 15 * 60.0, 5.0)
    whole = compute_coverage(gen1_sparse, ground, t, timeseries_points=np.arange(25))
    parts = []
    series = None
    for a, b in ((0, 37), (37, 100), (100, t.size)):
        r = compute_coverage(gen1_sparse, ground, t[a:b], window_start_utc=t[0], grid_step_s=5.0,
                             timeseries_points=np.arange(25))
        parts.append(r.summary)
        series = r.timeseries if series is None else series.merge(r.timeseries)
    merged = parts[2].merge(parts[0]).merge(parts[1]).finalize()
    for col in merged.COLUMNS:
        np.testing.assert_allclose(getattr(merged, col), getattr(whole.metrics, col),
                                   equal_nan=True)
    np.testing.assert_array_equal(series.serving_sat, whole.timeseries.serving_sat)
    assert whole.metrics.serving_changes.sum() > 0


def test_empty_constellation_gives_no_service() -> None:
    empty = Constellation((), np.zeros(0, np.int64), ())
    ground = _ground([50.45], [30.52])
    t = time_grid("2026-01-01T00:00:00Z", 300.0, 60.0)
    m = compute_coverage(empty, ground, t).metrics
    assert m.availability.tolist() == [0.0]
    assert m.longest_gap_s.tolist() == [360.0]
    assert m.max_in_view.tolist() == [0]


# ----------------------------------------------------------------------------- memory
def test_memory_does_not_grow_with_the_window(gen1_sparse) -> None:
    rng = np.random.default_rng(3)
    n = 4_000
    ground = _ground(np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n))

    def peak(steps: int) -> int:
        t = time_grid("2026-01-01T00:00:00Z", (steps - 1) * 60.0, 60.0)
        tracemalloc.start()
        compute_coverage(gen1_sparse, ground, t, chunk_size=8)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long_ = peak(3), peak(30)
    # Ten times the steps: the peak may not grow by anything like a time x point array.
    assert long_ - short < 0.25 * 30 * n * 8


def test_time_series_over_budget_is_refused(gen1_sparse) -> None:
    ground = _ground(np.zeros(1000), np.linspace(-180, 180, 1000))
    t = time_grid("2026-01-01T00:00:00Z", 86400.0, 1.0)
    with pytest.raises(ResourceError, match=r"1,000 points x 86,401 steps needs 0\.80 GiB.*"
                                            r"budget of 0\.50 GiB"):
        compute_coverage(gen1_sparse, ground, t, timeseries_points=np.arange(1000),
                         memory_budget_bytes=2**29)


# ----------------------------------------------------------------------------- bad input
def test_bad_time_grids_are_errors() -> None:
    t = time_grid("2026-01-01T00:00:00Z", 120.0, 60.0)
    with pytest.raises(InputError, match="step must be > 0 s"):
        check_time_grid(t[[0, 0, 1]])
    with pytest.raises(InputError, match="step must be > 0 s"):
        check_time_grid(t[::-1])
    with pytest.raises(InputError, match="regular grid"):
        check_time_grid(np.r_[t, t[-1] + np.timedelta64(1, "s")])
    with pytest.raises(InputError, match="empty"):
        check_time_grid(t[:0])
    with pytest.raises(InputError, match="step must be > 0 s"):
        time_grid("2026-01-01T00:00:00Z", 60.0, 0.0)


def test_bad_masks_and_steps_in_the_driver(gen1_sparse) -> None:
    ground = _ground([0.0], [0.0])
    t = time_grid("2026-01-01T00:00:00Z", 60.0, 60.0)
    with pytest.raises(InputError, match=r"\[0, 90\) deg, got 90\.0"):
        compute_coverage(gen1_sparse, ground, t, min_elevation_deg=90.0)
    with pytest.raises(InputError, match=r"\[0, 90\) deg, got -5\.0"):
        list(iter_coverage(gen1_sparse, ground, t, min_elevation_deg=-5.0))
    with pytest.raises(InputError, match="step must be > 0 s"):
        list(iter_coverage(gen1_sparse, ground, t, grid_step_s=0.0))
    with pytest.raises(InputError, match=r"outside 0\.\.0"):
        compute_coverage(gen1_sparse, ground, t, timeseries_points=[3])


# ----------------------------------------------------------------------------- regions
def test_region_summary_is_area_weighted() -> None:
    t, nv, best, serving = _random_run(4, n_p=6)
    m = _summary(t, nv, best, serving).finalize()
    area = np.array([100.0, 300.0, 50.0, 50.0, 200.0, 300.0])
    labels = np.array(["A", "A", "B", "B", "B", "A"], dtype=object)
    out = region_summary(m, area, labels)
    a = labels == "A"
    assert out.loc["A", "availability"] == pytest.approx(
        np.sum(area[a] * m.availability[a]) / area[a].sum())
    assert out.loc["B", "n_cells"] == 3
    assert out.loc["A", "area_km2"] == pytest.approx(700.0)
    assert out.loc["A", "longest_gap_s"] == m.longest_gap_s[a].max()
    with pytest.raises(InputError, match="one area per cell"):
        region_summary(m, area[:3])


def test_weighted_percentile_matches_numpy_for_equal_weights() -> None:
    v = np.random.default_rng(1).normal(size=101)
    q = [5.0, 50.0, 95.0]
    np.testing.assert_allclose(weighted_percentile(v, np.ones_like(v), q),
                               np.percentile(v, q, method="inverted_cdf"))
    assert weighted_percentile([1.0, 9.0], [1.0, 9.0], 50.0)[0] == 9.0
