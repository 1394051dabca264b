"""Streaming coverage metrics over a time window, in bounded memory.

The window is a regular UTC grid. For every ground point the accumulators keep a handful of
per-point counters, updated one time step at a time, so a day of all land cells never holds a
time x point x satellite array (the kernel's per-step arrays are reused; only the optional
time series of selected points is stored, and it is checked against a memory budget first).

Definitions (per ground point, over the ``n`` steps of the window)
-----------------------------------------------------------------
availability
    Share of steps with at least one usable satellite.
mean / min / max in view
    Of the usable-satellite count over all steps.
longest gap (s)
    Longest run of consecutive steps without a usable satellite, times the step: a gap of
    ``k`` samples lasts ``k * step_s`` seconds.
serving changes
    Steps whose serving satellite differs from the previous step's, counted where both steps
    have one (losing and regaining service is a gap, not a change).
mean best elevation
    Of the highest usable elevation, over served steps.

Partial results (`CoverageSummary`) from separate time chunks merge exactly, in any order,
so chunks may run on Dask workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..errors import InputError, ResourceError
from ..orbits.constellation import Constellation
from ..orbits.propagate import chunk_length, iter_ephemeris
from .moving import MovingGround
from .strategies import SLOT_S, ServingStrategy, ServingTracker, serving_slot
from .visibility import DEFAULT_MIN_ELEVATION_DEG, GroundIndex, StepVisibility, check_masks

__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "CoverageAccumulator",
    "CoverageResult",
    "CoverageStep",
    "CoverageSummary",
    "PointMetrics",
    "TimeSeries",
    "TimeSeriesRecorder",
    "check_time_grid",
    "compute_coverage",
    "iter_coverage",
    "region_summary",
    "timeseries_bytes",
    "weighted_percentile",
]

#: Default memory budget for in-memory time series (bytes): 2 GiB.
DEFAULT_MEMORY_BUDGET_BYTES = 2 * 2**30

#: Memory of one propagation chunk (positions of all satellites over a run of steps).
_EPHEMERIS_CHUNK_BYTES = 64 * 2**20

#: Bytes per (time, point) entry of a `TimeSeries`: int16 count, float32 elevation, int32 sat.
_TS_ENTRY_BYTES = 2 + 4 + 4


def check_time_grid(t_utc: ArrayLike, field_name: str = "t_utc") -> tuple[np.ndarray, float]:
    """Validate a regular UTC grid; return it as ``datetime64[ns]`` and its step (s).

    A single time is a valid grid (step 0). Raises `InputError` for an empty grid, times that
    do not increase, or an irregular step.
    """
    t = np.atleast_1d(np.asarray(t_utc, dtype="datetime64[ns]"))
    if t.ndim != 1 or t.size == 0:
        raise InputError("the time grid is empty; give at least one time", field_name)
    if t.size == 1:
        return t, 0.0
    d = np.diff(t.astype(np.int64))
    if (d <= 0).any():
        raise InputError("time step must be > 0 s; times must increase", field_name)
    if (d != d[0]).any():
        raise InputError("times must be a regular grid (one constant step)", field_name)
    return t, float(d[0]) / 1e9


# ----------------------------------------------------------------------------- summaries
@dataclass
class CoverageSummary:
    """Per-point partial aggregates over one run of consecutive grid steps (mergeable).

    Counts are in steps; all arrays have shape ``(n_point,)``.
    """

    t_first: np.datetime64
    t_last: np.datetime64
    step_s: float
    n_steps: int
    served: np.ndarray
    sum_in_view: np.ndarray
    min_in_view: np.ndarray
    max_in_view: np.ndarray
    sum_best_elevation_deg: np.ndarray
    lead_gap: np.ndarray
    trail_gap: np.ndarray
    max_gap: np.ndarray
    changes: np.ndarray
    first_serving: np.ndarray
    last_serving: np.ndarray
    parts: list[CoverageSummary] = field(default_factory=list, repr=False)

    @property
    def n_points(self) -> int:
        """Number of ground points."""
        return int(self.served.size)

    def _follows(self, other: CoverageSummary, step_s: float) -> bool:
        step_ns = np.timedelta64(round(step_s * 1e9), "ns")
        return bool(step_s > 0 and other.t_first == self.t_last + step_ns)

    def _concat(self, b: CoverageSummary, step_s: float) -> CoverageSummary:
        """``self`` followed directly by ``b`` (``step_s`` apart)."""
        a = self
        lead = np.where(a.lead_gap == a.n_steps, a.n_steps + b.lead_gap, a.lead_gap)
        trail = np.where(b.trail_gap == b.n_steps, b.n_steps + a.trail_gap, b.trail_gap)
        max_gap = np.maximum(np.maximum(a.max_gap, b.max_gap), a.trail_gap + b.lead_gap)
        boundary = (a.last_serving >= 0) & (b.first_serving >= 0)
        boundary &= a.last_serving != b.first_serving
        return CoverageSummary(
            t_first=a.t_first,
            t_last=b.t_last,
            step_s=step_s,
            n_steps=a.n_steps + b.n_steps,
            served=a.served + b.served,
            sum_in_view=a.sum_in_view + b.sum_in_view,
            min_in_view=np.minimum(a.min_in_view, b.min_in_view),
            max_in_view=np.maximum(a.max_in_view, b.max_in_view),
            sum_best_elevation_deg=a.sum_best_elevation_deg + b.sum_best_elevation_deg,
            lead_gap=lead.astype(np.int32),
            trail_gap=trail.astype(np.int32),
            max_gap=max_gap.astype(np.int32),
            changes=(a.changes + b.changes + boundary).astype(np.int32),
            first_serving=a.first_serving,
            last_serving=b.last_serving,
        )

    def merge(self, other: CoverageSummary) -> CoverageSummary:
        """Combine two partial summaries of the same points (any order, any grouping).

        Runs that touch in time are joined; others are kept apart until the missing steps
        arrive (`is_complete` then turns true).
        """
        if other.n_points != self.n_points:
            raise InputError(
                f"cannot merge summaries of {self.n_points} and {other.n_points} points",
                "merge",
            )
        runs = sorted(self._runs() + other._runs(), key=lambda r: r.t_first)
        # A one-step run knows no step (0 s): use the step of the runs that know it.
        step_s = max(r.step_s for r in runs)
        joined: list[CoverageSummary] = [runs[0]]
        for run in runs[1:]:
            last = joined[-1]
            if last._follows(run, step_s) and _same_step(last, run):
                joined[-1] = last._concat(run, step_s)
            elif run.t_first <= last.t_last:
                raise InputError(
                    f"overlapping time chunks: {run.t_first} is inside {last.t_first}.."
                    f"{last.t_last}",
                    "merge",
                )
            else:
                joined.append(run)
        head = joined[0]
        if len(joined) > 1:
            head = _with_parts(head, joined[1:])
        return head

    def _runs(self) -> list[CoverageSummary]:
        return [_with_parts(self, [])] + [_with_parts(p, []) for p in self.parts]

    @property
    def is_complete(self) -> bool:
        """True when every chunk merged so far forms one contiguous run."""
        return not self.parts

    def finalize(self) -> PointMetrics:
        """The per-point metrics (`PointMetrics`); needs one contiguous run."""
        if self.parts:
            raise InputError(
                f"time chunks missing: {len(self.parts) + 1} separate runs; the first ends at "
                f"{self.t_last}, the next starts at {self.parts[0].t_first}",
                "merge",
            )
        n = max(self.n_steps, 1)
        served = self.served
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_el = np.where(served > 0, self.sum_best_elevation_deg / served, np.nan)
        return PointMetrics(
            t_start_utc=self.t_first,
            t_end_utc=self.t_last,
            step_s=self.step_s,
            n_steps=self.n_steps,
            availability=served / n,
            mean_in_view=self.sum_in_view / n,
            min_in_view=self.min_in_view.copy(),
            max_in_view=self.max_in_view.copy(),
            longest_gap_s=self.max_gap.astype(np.float64) * self.step_s,
            serving_changes=self.changes.copy(),
            mean_best_elevation_deg=mean_el,
        )


def _same_step(a: CoverageSummary, b: CoverageSummary) -> bool:
    if a.n_steps <= 1 or b.n_steps <= 1:
        return True
    return abs(a.step_s - b.step_s) < 1e-9


def _with_parts(s: CoverageSummary, parts: list[CoverageSummary]) -> CoverageSummary:
    return CoverageSummary(
        s.t_first, s.t_last, s.step_s, s.n_steps, s.served, s.sum_in_view, s.min_in_view,
        s.max_in_view, s.sum_best_elevation_deg, s.lead_gap, s.trail_gap, s.max_gap, s.changes,
        s.first_serving, s.last_serving, list(parts),
    )


@dataclass(frozen=True)
class PointMetrics:
    """Final coverage metrics per ground point over a window (arrays of shape (n_point,)).

    Attributes
    ----------
    t_start_utc, t_end_utc : datetime64[ns]
        First and last grid time.
    step_s : float
        Grid step, seconds.
    n_steps : int
    availability : float64
        Share of steps with >= 1 usable satellite, in [0, 1].
    mean_in_view : float64
    min_in_view, max_in_view : int32
    longest_gap_s : float64
        Longest run of unserved steps times ``step_s``.
    serving_changes : int32
    mean_best_elevation_deg : float64
        NaN for points never served.
    """

    t_start_utc: np.datetime64
    t_end_utc: np.datetime64
    step_s: float
    n_steps: int
    availability: np.ndarray
    mean_in_view: np.ndarray
    min_in_view: np.ndarray
    max_in_view: np.ndarray
    longest_gap_s: np.ndarray
    serving_changes: np.ndarray
    mean_best_elevation_deg: np.ndarray

    COLUMNS = (
        "availability",
        "mean_in_view",
        "min_in_view",
        "max_in_view",
        "longest_gap_s",
        "serving_changes",
        "mean_best_elevation_deg",
    )

    def __len__(self) -> int:
        return int(self.availability.size)

    def to_frame(self) -> pd.DataFrame:
        """The metrics as a DataFrame, one row per point, columns `COLUMNS`."""
        return pd.DataFrame({c: getattr(self, c) for c in self.COLUMNS})

    def subset(self, index: ArrayLike) -> PointMetrics:
        """Metrics of the points selected by ``index`` (mask or indices)."""
        idx = np.asarray(index)
        kw = {c: getattr(self, c)[idx] for c in self.COLUMNS}
        return PointMetrics(self.t_start_utc, self.t_end_utc, self.step_s, self.n_steps, **kw)


class CoverageAccumulator:
    """Per-point counters updated one step at a time (memory: ~60 bytes per point).

    Parameters
    ----------
    n_points : int
    step_s : float
        Grid step (s), used for the gap durations and to join partial summaries.
    """

    def __init__(self, n_points: int, step_s: float) -> None:
        self.n_points = int(n_points)
        self.step_s = float(step_s)
        self.n_steps = 0
        self.t_first: np.datetime64 | None = None
        self.t_last: np.datetime64 | None = None
        n = self.n_points
        self.served = np.zeros(n, np.int32)
        self.sum_in_view = np.zeros(n, np.int64)
        self.min_in_view = np.full(n, np.iinfo(np.int32).max, np.int32)
        self.max_in_view = np.zeros(n, np.int32)
        self.sum_best = np.zeros(n, np.float64)
        self.lead_gap = np.zeros(n, np.int32)
        self.run_gap = np.zeros(n, np.int32)
        self.max_gap = np.zeros(n, np.int32)
        self.changes = np.zeros(n, np.int32)
        self.first_serving = np.full(n, -1, np.int64)
        self.last_serving = np.full(n, -1, np.int64)
        self._leading = np.ones(n, bool)

    def update(
        self,
        t_utc: np.datetime64,
        n_visible: np.ndarray,
        best_elevation_deg: np.ndarray,
        serving: np.ndarray,
    ) -> None:
        """Add one time step (arrays of shape (n_point,); ``serving`` -1 where none)."""
        t = cast(np.datetime64, np.asarray(t_utc, "datetime64[ns]")[()])
        if self.t_last is not None and t <= self.t_last:
            raise InputError(f"time {t} does not follow {self.t_last}", "t_utc")
        if self.t_first is None:
            self.t_first = t
        self.t_last = t
        nv = np.asarray(n_visible)
        ok = nv > 0
        self.served += ok
        self.sum_in_view += nv
        np.minimum(self.min_in_view, nv, out=self.min_in_view, casting="unsafe")
        np.maximum(self.max_in_view, nv, out=self.max_in_view, casting="unsafe")
        self.sum_best += np.where(ok, best_elevation_deg, 0.0)
        # gaps
        self.run_gap = np.where(ok, 0, self.run_gap + 1).astype(np.int32)
        np.maximum(self.max_gap, self.run_gap, out=self.max_gap)
        self._leading &= ~ok
        self.lead_gap += self._leading
        # serving changes
        serving = np.asarray(serving, dtype=np.int64)
        if self.n_steps == 0:
            self.first_serving = serving.copy()
        else:
            self.changes += (serving >= 0) & (self.last_serving >= 0) & (
                serving != self.last_serving
            )
        self.last_serving = serving.copy()
        self.n_steps += 1

    def summary(self) -> CoverageSummary:
        """A mergeable `CoverageSummary` of the steps added so far."""
        if self.t_first is None or self.t_last is None:
            raise InputError("no time steps were added", "t_utc")
        return CoverageSummary(
            t_first=self.t_first,
            t_last=self.t_last,
            step_s=self.step_s,
            n_steps=self.n_steps,
            served=self.served.copy(),
            sum_in_view=self.sum_in_view.copy(),
            min_in_view=self.min_in_view.copy(),
            max_in_view=self.max_in_view.copy(),
            sum_best_elevation_deg=self.sum_best.copy(),
            lead_gap=self.lead_gap.copy(),
            trail_gap=self.run_gap.copy(),
            max_gap=self.max_gap.copy(),
            changes=self.changes.copy(),
            first_serving=self.first_serving.copy(),
            last_serving=self.last_serving.copy(),
        )


# ----------------------------------------------------------------------------- time series
def timeseries_bytes(n_points: int, n_times: int) -> int:
    """Memory (bytes) of a `TimeSeries` of ``n_points`` points over ``n_times`` steps."""
    return int(n_points) * int(n_times) * _TS_ENTRY_BYTES


@dataclass
class TimeSeries:
    """Per-step values of selected ground points.

    Attributes
    ----------
    t_utc : datetime64[ns], shape (n_time,)
    point : int64, shape (k,)
        Indices of the recorded points in the ground set.
    n_visible : int16, shape (n_time, k)
    best_elevation_deg : float32, shape (n_time, k); NaN where none is usable
    serving_sat : int32, shape (n_time, k); satellite index, -1 where none
    """

    t_utc: np.ndarray
    point: np.ndarray
    n_visible: np.ndarray
    best_elevation_deg: np.ndarray
    serving_sat: np.ndarray

    def merge(self, other: TimeSeries) -> TimeSeries:
        """Concatenate two chunks of the same points along time (sorted by time)."""
        if not np.array_equal(self.point, other.point):
            raise InputError("cannot merge time series of different points", "merge")
        a, b = (self, other) if self.t_utc[0] <= other.t_utc[0] else (other, self)
        return TimeSeries(
            np.concatenate([a.t_utc, b.t_utc]),
            self.point,
            np.concatenate([a.n_visible, b.n_visible]),
            np.concatenate([a.best_elevation_deg, b.best_elevation_deg]),
            np.concatenate([a.serving_sat, b.serving_sat]),
        )


class TimeSeriesRecorder:
    """Stores per-step values of selected points; refuses up front what exceeds the budget.

    Parameters
    ----------
    point : array_like of int
        Indices of the points to record.
    t_utc : datetime64 array
        The time grid that will be recorded.
    budget_bytes : int
        Memory budget; `ResourceError` when ``timeseries_bytes(len(point), len(t_utc))``
        exceeds it.
    """

    def __init__(
        self,
        point: ArrayLike,
        t_utc: np.ndarray,
        budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    ) -> None:
        self.point = np.asarray(point, dtype=np.int64).ravel()
        self.t_utc = np.asarray(t_utc, dtype="datetime64[ns]")
        need = timeseries_bytes(self.point.size, self.t_utc.size)
        if need > budget_bytes:
            raise ResourceError(
                f"a time series of {self.point.size:,} points x {self.t_utc.size:,} steps needs "
                f"{_gib(need)} in memory, over the budget of {_gib(budget_bytes)}; record fewer "
                "points, a shorter window or a longer step, or raise the memory budget"
            )
        shape = (self.t_utc.size, self.point.size)
        self.n_visible = np.zeros(shape, np.int16)
        self.best_elevation_deg = np.full(shape, np.nan, np.float32)
        self.serving_sat = np.full(shape, -1, np.int32)
        self._next = 0

    def record(self, step: StepVisibility, serving: np.ndarray) -> None:
        """Store the next step (in grid order)."""
        i = self._next
        if i >= self.t_utc.size:
            raise InputError("more steps recorded than the time grid holds", "t_utc")
        p = self.point
        self.n_visible[i] = np.minimum(step.n_visible[p], np.iinfo(np.int16).max)
        self.best_elevation_deg[i] = step.best_elevation_deg[p]
        self.serving_sat[i] = serving[p]
        self._next += 1

    def result(self) -> TimeSeries:
        """The recorded `TimeSeries` (steps recorded so far)."""
        n = self._next
        return TimeSeries(
            self.t_utc[:n], self.point, self.n_visible[:n], self.best_elevation_deg[:n],
            self.serving_sat[:n],
        )


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:,.2f} GiB"


# ----------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class CoverageStep:
    """One step of `iter_coverage`.

    Attributes
    ----------
    t_utc : datetime64[ns]
    visibility : StepVisibility
    serving : int64, shape (n_point,)
        Serving satellite index per point (-1 = none).
    r_sat_itrs_km : float64, shape (n_sat, 3)
        Satellite positions at ``t_utc`` (ITRS km; NaN rows where SGP4 failed).
    """

    t_utc: np.datetime64
    visibility: StepVisibility
    serving: np.ndarray
    r_sat_itrs_km: np.ndarray


def _warmup_times(
    t0: np.datetime64, step_s: float, window_start: np.datetime64, slot_s: float
) -> np.ndarray:
    """Grid times before ``t0`` in ``t0``'s slot and not before ``window_start``."""
    if step_s <= 0 or step_s >= slot_s:
        return np.zeros(0, "datetime64[ns]")
    step = np.timedelta64(round(step_s * 1e9), "ns")
    slot = int(serving_slot(t0, slot_s))
    times = []
    t = t0 - step
    while t >= window_start and int(serving_slot(t, slot_s)) == slot:
        times.append(t)
        t = t - step
    return np.array(times[::-1], dtype="datetime64[ns]")


def iter_coverage(
    constellation: Constellation,
    ground: GroundIndex | MovingGround,
    t_utc: ArrayLike,
    *,
    min_elevation_deg: float | ArrayLike = DEFAULT_MIN_ELEVATION_DEG,
    gso: bool = False,
    strategy: ServingStrategy | None = None,
    pairs: bool | Callable[[np.datetime64], bool] = False,
    chunk_size: int | None = None,
    window_start_utc: np.datetime64 | None = None,
    grid_step_s: float | None = None,
    slot_s: float = SLOT_S,
) -> Iterator[CoverageStep]:
    """Visibility and serving satellite of every ground point, step by step.

    Satellites are propagated in time chunks (`skyfence.orbits.iter_ephemeris`), so memory
    stays bounded whatever the window.

    Parameters
    ----------
    constellation : Constellation
    ground : GroundIndex or MovingGround
        The points (a `MovingGround` locates moving points at each step).
    t_utc : datetime64 array
        A regular grid (or a slice of one).
    min_elevation_deg : float or array_like (n_sat,)
        Mask per satellite, deg, within [0, 90) (`elevation_masks` for per-shell masks).
    gso : bool
        Apply the ground points' GSO-arc exclusion angles.
    strategy : ServingStrategy, optional
        Default `HighestElevation`.
    pairs : bool or callable(t_utc) -> bool
        Also compute every usable pair (always on when the strategy needs them); a callable
        asks for them only at the times it returns True for (e.g. the routed steps).
    chunk_size : int, optional
        Time steps per propagation chunk (default: as many as fit in 64 MiB).
    window_start_utc, grid_step_s : optional
        When ``t_utc`` is a slice of a longer window that starts mid-slot, the grid times of
        the first slot before ``t_utc[0]`` (but not before ``window_start_utc``) are computed
        first, without being yielded, so that the held serving satellites are those of an
        uncut run. Default: ``t_utc[0]`` and the step of ``t_utc``.
    slot_s : float
        Scheduling slot length (s).

    Yields
    ------
    CoverageStep
    """
    t, step = check_time_grid(t_utc)
    if grid_step_s is not None:
        if not (np.isfinite(grid_step_s) and grid_step_s > 0):
            raise InputError(f"step must be > 0 s, got {grid_step_s!r}", "step")
        step = float(grid_step_s)
    masks = check_masks(min_elevation_deg, len(constellation), "min_elevation_deg")
    tracker = ServingTracker(strategy, slot_s)
    always = bool(getattr(tracker.strategy, "needs_pairs", False)) or pairs is True
    pairs_at = pairs if callable(pairs) else None
    start = cast(np.datetime64, t[0] if window_start_utc is None
                 else np.asarray(window_start_utc, "datetime64[ns]")[()])
    warm = _warmup_times(t[0], step, start, slot_s)
    full = np.concatenate([warm, t]) if warm.size else t
    n_warm = warm.size
    i = 0
    chunk = chunk_size or chunk_length(len(constellation), _EPHEMERIS_CHUNK_BYTES)
    for eph in iter_ephemeris(constellation, full, chunk_size=chunk):
        r = eph.r_km
        for k in range(eph.t_utc.size):
            tk = eph.t_utc[k]
            held = tracker.held_for(tk)
            want = always or (pairs_at is not None and i >= n_warm and bool(pairs_at(tk)))
            if isinstance(ground, MovingGround):
                vis = ground.visibility_at(tk, r[:, k, :], masks, gso=gso, held_sat=held,
                                           pairs=want)
            else:
                vis = ground.visibility(r[:, k, :], masks, gso=gso, held_sat=held, pairs=want)
            serving = tracker.choose(tk, vis)
            if i >= n_warm:
                yield CoverageStep(tk, vis, serving, r[:, k, :])
            i += 1


@dataclass(frozen=True)
class CoverageResult:
    """What `compute_coverage` returns.

    ``summary`` is the mergeable partial; ``metrics`` its final form; ``timeseries`` is set
    when points were selected for recording.
    """

    summary: CoverageSummary
    metrics: PointMetrics
    timeseries: TimeSeries | None


def compute_coverage(
    constellation: Constellation,
    ground: GroundIndex,
    t_utc: ArrayLike,
    *,
    min_elevation_deg: float | ArrayLike = DEFAULT_MIN_ELEVATION_DEG,
    gso: bool = False,
    strategy: ServingStrategy | None = None,
    timeseries_points: ArrayLike | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    chunk_size: int | None = None,
    window_start_utc: np.datetime64 | None = None,
    grid_step_s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_step: Callable[[CoverageStep], None] | None = None,
) -> CoverageResult:
    """Stream a window through the kernel and aggregate per-point metrics.

    Parameters are those of `iter_coverage`, plus:

    timeseries_points : array_like of int, optional
        Ground-point indices whose per-step values to keep (`TimeSeries`). `ResourceError`
        when that would exceed ``memory_budget_bytes``.
    progress : callable(done_steps, total_steps), optional
    on_step : callable(CoverageStep), optional
        Called with every step (for example to route the serving links).

    Returns
    -------
    CoverageResult
    """
    t, step = check_time_grid(t_utc)
    if grid_step_s is not None:
        step = float(grid_step_s)
    recorder = None
    if timeseries_points is not None:
        recorder = TimeSeriesRecorder(timeseries_points, t, memory_budget_bytes)
        bad = (recorder.point < 0) | (recorder.point >= ground.n_points)
        if bad.any():
            raise InputError(
                f"time-series point index {recorder.point[bad][0]} is outside "
                f"0..{ground.n_points - 1}",
                "timeseries_points",
            )
    acc = CoverageAccumulator(ground.n_points, step)
    for done, cs in enumerate(iter_coverage(
        constellation, ground, t, min_elevation_deg=min_elevation_deg, gso=gso,
        strategy=strategy, chunk_size=chunk_size, window_start_utc=window_start_utc,
        grid_step_s=grid_step_s,
    ), start=1):
        acc.update(cs.t_utc, cs.visibility.n_visible, cs.visibility.best_elevation_deg, cs.serving)
        if recorder is not None:
            recorder.record(cs.visibility, cs.serving)
        if on_step is not None:
            on_step(cs)
        if progress is not None:
            progress(done, t.size)
    summary = acc.summary()
    return CoverageResult(
        summary, summary.finalize(), recorder.result() if recorder is not None else None
    )


# ----------------------------------------------------------------------------- regions
def weighted_percentile(
    values: ArrayLike, weights: ArrayLike, q: float | Sequence[float]
) -> np.ndarray:
    """Weighted percentiles (inverted CDF): the smallest value whose cumulative weight share
    reaches ``q`` percent. NaN values are ignored; NaN when no weight remains.

    >>> weighted_percentile([1.0, 2.0, 3.0], [1.0, 1.0, 2.0], [25, 50, 100]).tolist()
    [1.0, 2.0, 3.0]
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    ok = np.isfinite(v) & (w > 0)
    v, w = v[ok], w[ok]
    if v.size == 0:
        return np.full(qs.shape, np.nan)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cum = np.cumsum(w) / w.sum()
    idx = np.searchsorted(cum, qs / 100.0 - 1e-12, side="left")
    return v[np.minimum(idx, v.size - 1)]


def region_summary(
    metrics: PointMetrics,
    area_km2: ArrayLike,
    labels: ArrayLike | None = None,
    percentiles: Sequence[float] = (5.0, 50.0, 95.0),
) -> pd.DataFrame:
    """Area-weighted coverage per region.

    Parameters
    ----------
    metrics : PointMetrics
        Per-cell metrics.
    area_km2 : array_like (n_point,)
        Cell areas (km^2), the weights.
    labels : array_like (n_point,), optional
        Region label per cell (one region "all" when omitted).
    percentiles : sequence of float
        Area-weighted percentiles of availability and of mean satellites in view.

    Returns
    -------
    pandas.DataFrame
        One row per region (index ``region``): ``n_cells``, ``area_km2``, ``availability``
        (area-weighted mean), ``area_share_always_served``, ``mean_in_view`` (area-weighted),
        ``min_in_view``, ``longest_gap_s`` (worst cell), ``availability_pXX`` and
        ``mean_in_view_pXX``.
    """
    area = np.asarray(area_km2, dtype=np.float64).ravel()
    n = len(metrics)
    if area.shape != (n,):
        raise InputError(f"need one area per cell ({n}), got {area.shape}", "area_km2")
    lab = np.full(n, "all", dtype=object) if labels is None else np.asarray(labels, dtype=object)
    if lab.shape != (n,):
        raise InputError(f"need one region label per cell ({n}), got {lab.shape}", "labels")
    rows = []
    for name in pd.unique(lab):
        sel = lab == name
        w = area[sel]
        av = metrics.availability[sel]
        mv = metrics.mean_in_view[sel]
        tot = w.sum()
        row: dict[str, object] = {
            "region": name,
            "n_cells": int(sel.sum()),
            "area_km2": float(tot),
            "availability": float(np.sum(w * av) / tot) if tot > 0 else np.nan,
            "area_share_always_served": float(np.sum(w * (av >= 1.0)) / tot) if tot > 0
            else np.nan,
            "mean_in_view": float(np.sum(w * mv) / tot) if tot > 0 else np.nan,
            "min_in_view": int(metrics.min_in_view[sel].min()),
            "longest_gap_s": float(metrics.longest_gap_s[sel].max()),
        }
        pa = weighted_percentile(av, w, percentiles)
        pm = weighted_percentile(mv, w, percentiles)
        for q, a, m in zip(percentiles, pa, pm, strict=True):
            tag = f"{q:g}".replace(".", "_")
            row[f"availability_p{tag}"] = float(a)
            row[f"mean_in_view_p{tag}"] = float(m)
        rows.append(row)
    return pd.DataFrame(rows).set_index("region")
