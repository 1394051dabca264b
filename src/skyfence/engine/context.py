"""What a run needs before its first step: the ground, the policy, the constellation, budgets.

`prepare` turns a validated `Scenario` into a `RunContext`: it loads the constellation, builds
the ground points (region cells at their resolutions, then terminals), evaluates the policy
over the window, estimates the run's memory against ``run.memory_budget_gib`` (refusing up front
with the estimate and the knob), builds the visibility index once, and prepares every stage.
The context pickles with its index, so a Dask worker receives it once and never rebuilds it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h3
import numpy as np
from scipy import sparse

from ..coverage import (
    GSO_EXCLUSION_USER_DEG,
    GroundIndex,
    HighestElevation,
    MovingGround,
    RandomUsable,
    ServingStrategy,
    elevation_masks,
)
from ..earth import enu_basis, geodetic_to_itrs
from ..errors import InputError, ResourceError
from ..ground import (
    MAX_LAND_RESOLUTION,
    all_cells,
    cell_areas_km2,
    cells_to_latlng,
    land_cells,
    load_terminals,
    region_cells,
    resolve_region,
    terminal_set,
)
from ..ground.terminals import TerminalSet, TerminalState
from ..orbits import Constellation, check_ephemeris, load_constellation, propagate
from ..orbits.operational import ServingReport, StaleElementsWarning, serving_constellation
from ..policy import (
    CompiledPolicy,
    PolicyEvaluation,
    PolicyFile,
    to_service_cells,
)
from ..policy.rules import TerminalEvaluation
from ..scenario import Scenario
from ..timeutil import parse_duration, parse_time
from .policies import cell_codes, load_policy
from .stages import make_stages

__all__ = [
    "SERVICE_RESOLUTION",
    "Ground",
    "PhaseClock",
    "RunContext",
    "build_ground",
    "default_stages",
    "estimate_run_bytes",
    "load_policy",
    "prepare",
    "time_grid_checked",
]

SERVICE_RESOLUTION = 5

#: Bytes kept per time step and terminal (series, status, path columns, the path's nodes and
#: its text) and per region.
_BYTES_PER_TERMINAL_STEP = 128
_BYTES_PER_REGION_STEP = 3 * 8
#: Bytes per ground point held by the stages (coverage counters, policy, network counters).
_BYTES_PER_POINT = 400
#: Bytes per (point, routed step) of the per-cell RTT samples (float32).
_BYTES_PER_RTT_SAMPLE = 4


def _gib(n: float) -> str:
    return f"{n / 2**30:,.2f} GiB"


@dataclass(frozen=True)
class Ground:
    """Ground points of a scenario: region cells first, then terminals.

    Attributes
    ----------
    cells : uint64 (n_cell,)
        H3 cells at their region's resolution (unique, sorted).
    resolution : int8 (n_cell,)
    service_cells : uint64 (n_point,)
        The res-5 service cell deciding policy for every point (cell centre / terminal).
    lat_deg, lon_deg, alt_km : float64 (n_point,)
        WGS-84 geodetic position of every point (cells on the ellipsoid).
    area_km2 : float64 (n_cell,)
    r_itrs_km, up : float64 (n_point, 3)
        ITRS position (km) and unit ellipsoid normal of every point.
    regions : tuple of str
        Region names in scenario order.
    members : dict of str -> int64 array
        Cell indices of each region (a cell can belong to several, e.g. Ukraine and Crimea).
    primary_region : object (n_cell,)
        The first scenario region containing each cell.
    terminal_names : tuple of str
    terminals : TerminalSet
        The terminals with identity, registration and tracks (`skyfence.ground`).
    """

    cells: np.ndarray
    resolution: np.ndarray
    service_cells: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    area_km2: np.ndarray
    r_itrs_km: np.ndarray
    up: np.ndarray
    regions: tuple[str, ...]
    members: dict[str, np.ndarray]
    primary_region: np.ndarray
    terminal_names: tuple[str, ...]
    terminals: TerminalSet

    @property
    def moving(self) -> np.ndarray:
        """bool (n_terminal,): terminals that follow a track."""
        return self.terminals.moving if self.n_terminals else np.zeros(0, bool)

    def region_area_matrix(self) -> sparse.csr_matrix:
        """(n_region, n_point) sparse matrix of cell areas (km^2) of each region's cells."""
        rows = [np.full(self.members[n].size, i) for i, n in enumerate(self.regions)]
        cols = [self.members[n] for n in self.regions]
        if not rows:
            return sparse.csr_matrix((0, self.n_points))
        r, c = np.concatenate(rows), np.concatenate(cols)
        return sparse.csr_matrix((self.area_km2[c], (r, c)),
                                 shape=(len(self.regions), self.n_points))

    @property
    def n_cells(self) -> int:
        return int(self.cells.size)

    @property
    def n_terminals(self) -> int:
        return len(self.terminal_names)

    @property
    def n_points(self) -> int:
        return self.n_cells + self.n_terminals

    @property
    def terminal_index(self) -> np.ndarray:
        """Point indices of the terminals (int64)."""
        return np.arange(self.n_cells, self.n_points, dtype=np.int64)

    @property
    def point_names(self) -> list[str]:
        """A name per point: the H3 cell string for cells, the name for terminals."""
        return [h3.int_to_str(int(c)) for c in self.cells] + list(self.terminal_names)


def _estimate_cells(region: Any, resolution: int) -> float:
    """Expected number of H3 cells of ``resolution`` covering a region (area / mean cell area)."""
    area = float(region.area_km2)
    return area / float(h3.average_hexagon_area(resolution, unit="km^2"))


#: Ground selections that are not regions of the catalogue: every land cell of the edition,
#: or every cell of the globe (land and sea), and their areas for the size estimate (km^2).
SELECTIONS: dict[str, float] = {"land": 1.49e8, "world": 5.101e8}


def _check_size(expected: float, resolution: int, where: str, max_points: int | None) -> None:
    if max_points is not None and expected > max_points:
        raise ResourceError(
            f"{where}: about {expected:,.0f} H3 cells at resolution {resolution} "
            f"(~{_gib(expected * _BYTES_PER_POINT)}), over the memory budget "
            f"({max_points:,} points); use a coarser resolution or raise "
            "run.memory_budget_gib (--memory-budget)")


def _selection_cells(name: str, resolution: int, edition: str, where: str,
                     max_points: int | None) -> np.ndarray:
    """Cells of the ``land`` or ``world`` selection."""
    area = SELECTIONS[name]
    _check_size(area / float(h3.average_hexagon_area(resolution, unit="km^2")), resolution,
                where, max_points)
    if name == "land":
        if resolution > MAX_LAND_RESOLUTION:
            raise InputError(f"the land selection is built up to resolution "
                             f"{MAX_LAND_RESOLUTION}, got {resolution}", where)
        return land_cells(resolution, edition=edition)
    return all_cells(resolution)


def build_ground(scenario: Scenario, *, max_points: int | None = None) -> Ground:
    """Cells of every scenario region (at its resolution) and the scenario's terminals.

    A region named ``land`` (every land cell of the edition) or ``world`` (every cell, land
    and sea) is a selection, not a catalogue region. ``max_points`` refuses (`ResourceError`,
    before any cell is generated) a region whose expected cell count alone exceeds it.
    """
    spec = scenario.ground
    per_region: list[tuple[str, np.ndarray, int]] = []
    for i, rs in enumerate(spec.regions):
        source = rs.file or rs.name
        where = f"ground.regions[{i}] ({rs.name})"
        key = rs.name.strip().lower()
        if rs.file is None and key in SELECTIONS:
            per_region.append((rs.name, _selection_cells(key, rs.resolution, spec.edition,
                                                         where, max_points), rs.resolution))
            continue
        try:
            region = resolve_region(source, edition=spec.edition)
        except InputError as exc:
            raise type(exc)(exc.message, where) from None
        if rs.file:
            region = region.renamed(rs.name)
        _check_size(_estimate_cells(region, rs.resolution), rs.resolution, where, max_points)
        per_region.append((rs.name, region_cells(region, rs.resolution), rs.resolution))
    if per_region:
        all_cells = np.concatenate([c for _, c, _ in per_region]).astype(np.uint64)
        all_res = np.concatenate([np.full(c.size, r, np.int8) for _, c, r in per_region])
        cells, first = np.unique(all_cells, return_index=True)
        res = all_res[first]
    else:
        cells, res = np.zeros(0, np.uint64), np.zeros(0, np.int8)
    members = {name: np.searchsorted(cells, c).astype(np.int64) for name, c, _ in per_region}
    primary = np.full(cells.size, "", dtype=object)
    for name, _, _ in reversed(per_region):
        primary[members[name]] = name
    lat, lon = cells_to_latlng(cells) if cells.size else (np.zeros(0), np.zeros(0))
    area = cell_areas_km2(cells) if cells.size else np.zeros(0)
    terminals: list[Any] = []
    for i, ts_spec in enumerate(spec.terminals):
        try:
            terminals.append(ts_spec.to_terminal())
        except InputError as exc:
            raise type(exc)(exc.message, f"ground.terminals[{i}]") from None
    if spec.terminals_file:
        terminals += load_terminals(spec.terminals_file)
    ts = terminal_set(terminals, resolution=SERVICE_RESOLUTION)
    if terminals:
        t_lat, t_lon, t_alt = ts.lat_deg, ts.lon_deg, ts.alt_km
        t_cells = np.asarray(ts.cells, dtype=np.uint64)
    else:
        t_lat = t_lon = t_alt = np.zeros(0)
        t_cells = np.zeros(0, np.uint64)
    all_lat = np.concatenate([lat, t_lat])
    all_lon = np.concatenate([lon, t_lon])
    alt = np.concatenate([np.zeros(cells.size), t_alt])
    r = geodetic_to_itrs(all_lat, all_lon, alt).reshape(-1, 3)
    up = enu_basis(all_lat, all_lon)[2].reshape(-1, 3)
    service = np.concatenate([to_service_cells(cells), t_cells]).astype(np.uint64)
    return Ground(
        cells=cells, resolution=res, service_cells=service, lat_deg=all_lat, lon_deg=all_lon,
        alt_km=alt, area_km2=area, r_itrs_km=r, up=up, regions=tuple(n for n, _, _ in per_region),
        members=members, primary_region=primary,
        terminal_names=tuple(t.name for t in terminals), terminals=ts,
    )


def time_grid_checked(start: str, duration: str, step: str, budget_bytes: float,
                      per_step_bytes: float = 0.0) -> np.ndarray:
    """The UTC grid ``start + k * step`` over ``duration``, refused before it is allocated
    when the grid (and ``per_step_bytes`` kept per step) would exceed ``budget_bytes``."""
    t0 = parse_time(start, "time.start")
    dur = parse_duration(duration, "time.duration")
    st = parse_duration(step, "time.step")
    if not st > 0:
        raise InputError(f"step must be > 0 s, got {step!r}", "time.step")
    step_ns = round(st * 1e9)
    if step_ns < 1:
        raise InputError(f"step {step!r} is below 1 ns", "time.step")
    n = int(np.floor(dur * 1e9 / step_ns + 1e-9)) + 1
    need = n * (8.0 + per_step_bytes)
    if need > budget_bytes:
        raise ResourceError(
            f"{n:,} time steps ({duration} at {step}) need ~{_gib(need)} for the time grid and "
            f"per-step outputs, over the memory budget of {_gib(budget_bytes)}; use a longer "
            "step or a shorter window, or raise run.memory_budget_gib (--memory-budget)")
    return t0 + np.arange(n, dtype=np.int64) * np.timedelta64(step_ns, "ns")


def estimate_run_bytes(n_points: int, n_cells: int, n_terminals: int, n_regions: int,
                       n_steps: int, n_routed: int, network: bool) -> dict[str, float]:
    """Memory (bytes) a run holds, by component (see the module docstring)."""
    out = {
        "points": float(n_points) * _BYTES_PER_POINT,
        "per_step": float(n_steps) * (n_terminals * _BYTES_PER_TERMINAL_STEP
                                      + n_regions * _BYTES_PER_REGION_STEP),
        "policy": float(n_points) * 5.0,
    }
    if network:
        out["cell_rtt_samples"] = float(n_cells) * n_routed * _BYTES_PER_RTT_SAMPLE
    return out


class PhaseClock:
    """Wall time per named phase (seconds), in the order the phases ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)

    def timed(self, name: str) -> _Timed:
        return _Timed(self, name)


class _Timed:
    def __init__(self, clock: PhaseClock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> _Timed:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clock.add(self.name, time.perf_counter() - self.t0)


@dataclass
class RunContext:
    """Everything a time chunk needs; pickles whole (index included) to ship to workers once.

    Attributes
    ----------
    scenario : Scenario
    constellation : Constellation
    ground : Ground
    t_utc : datetime64[ns] (n_time,)
        The window's grid.
    step_s, slot_s : float
        Grid step and the scheduler's slot, seconds.
    masks_deg : float64 (n_sat,)
        Elevation mask per satellite.
    policy : PolicyEvaluation
        Served mask and deciding rule per point and window segment.
    terminal_policy : TerminalEvaluation
        The policy for the terminals per step, (n_time, n_terminal): served, dish code and
        deciding rule (moving-terminal and registration rules included).
    rule_labels : tuple of str
        Names of the deciding rules (cell rules first, then moving and terminal rules, then
        ``default``, so -1 is the default).
    cell_codes : int8 (n_rule + 1,)
        Dish code index of each cell rule.
    terminal_state : TerminalState or None
        Terminals' positions, cells, speeds and registration per step (tracks).
    serving_report : ServingReport or None
        Which objects serve and why the others do not.
    policy_file : PolicyFile
        The policy as read, with its request history.
    compiled_policy : CompiledPolicy
    index : GroundIndex
        The visibility index over every point (built once).
    stages : tuple
        The stages of this run, prepared (`skyfence.engine.stages`).
    timings : PhaseClock
    notes : list of str
        Warnings and statements for the report (e.g. what was left out to fit the budget).
    """

    scenario: Scenario
    constellation: Constellation
    ground: Ground
    t_utc: np.ndarray
    step_s: float
    slot_s: float
    masks_deg: np.ndarray
    policy: PolicyEvaluation
    terminal_policy: TerminalEvaluation
    rule_labels: tuple[str, ...]
    cell_codes: np.ndarray
    policy_file: PolicyFile
    compiled_policy: CompiledPolicy
    index: GroundIndex | MovingGround
    strategy: ServingStrategy
    terminal_state: TerminalState | None = None
    serving_report: ServingReport | None = None
    stages: tuple[Any, ...] = ()
    timings: PhaseClock = field(default_factory=PhaseClock)
    notes: list[str] = field(default_factory=list)

    @property
    def n_steps(self) -> int:
        return int(self.t_utc.size)

    def stage(self, name: str) -> Any | None:
        """The prepared stage called ``name``, or None when the run does not have it."""
        return next((s for s in self.stages if s.name == name), None)


def _strategy(scenario: Scenario) -> ServingStrategy:
    if scenario.constellation.strategy == "random":
        return RandomUsable(scenario.seed)
    return HighestElevation()


def default_stages(scenario: Scenario) -> list[str]:
    """The stages a run of ``scenario`` has: coverage, policy, network (``network.enabled``),
    capacity (``capacity.enabled``) and cell_series (``outputs.cell_series``)."""
    return (["coverage", "policy"] + (["network"] if scenario.network.enabled else [])
            + (["capacity"] if scenario.capacity.enabled else [])
            + (["cell_series"] if scenario.outputs.cell_series else []))


def prepare(
    scenario: Scenario,
    *,
    constellation: Constellation | None = None,
    phase: Callable[[str], None] | None = None,
    stage_names: Sequence[str] | None = None,
) -> RunContext:
    """Load, build and evaluate everything a run of ``scenario`` needs (see module docstring).

    Parameters
    ----------
    scenario : Scenario
    constellation : Constellation, optional
        Use this constellation instead of loading ``scenario.constellation.source``.
    phase : callable(str), optional
        Called with the name of each phase as it starts (for progress display).
    stage_names : sequence of str, optional
        Stages to run (default `default_stages`).
    """
    clock = PhaseClock()
    budget = scenario.run.memory_budget_gib * 2**30
    say = phase or (lambda _name: None)
    n_term = len(scenario.ground.terminals)
    n_reg = len(scenario.ground.regions)
    say("time grid")
    per_step = n_term * _BYTES_PER_TERMINAL_STEP + n_reg * _BYTES_PER_REGION_STEP
    t = time_grid_checked(scenario.time.start, scenario.time.duration, scenario.time.step,
                          budget, per_step)
    say("loading constellation")
    with clock.timed("constellation"):
        const = constellation if constellation is not None else load_constellation(
            scenario.constellation.source, epoch=t[0],
            skip_invalid=scenario.constellation.skip_invalid)
        # Only objects in an operational shell serve; stale elements warn or fail (ages).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StaleElementsWarning)
            const, serving_report = serving_constellation(
                const, t[0], include_all=not scenario.constellation.operational_only)
        stale = [str(w.message) for w in caught if issubclass(w.category, StaleElementsWarning)]
        # Propagation at the window's start, middle and end: refuse a window where no
        # satellite has a usable state (elements far from their epoch), note partial failures.
        sample = t[np.unique([0, t.size // 2, t.size - 1])]
        health = check_ephemeris(propagate(const, sample), where="time.start",
                                 epochs_utc=const.epochs_utc)
    masks = elevation_masks(const.shell, scenario.constellation.min_elevation_deg,
                            scenario.constellation.min_elevation_by_shell or None)
    say("building ground cells")
    with clock.timed("ground"):
        ground = build_ground(scenario, max_points=int(budget / _BYTES_PER_POINT))
    if ground.n_points == 0:
        raise InputError("the scenario has no ground: give at least one region or terminal",
                         "ground")
    say("evaluating policy")
    with clock.timed("policy"):
        policy_file, policy = load_policy(scenario.policy.source, scenario.ground.edition)
        ev: PolicyEvaluation = policy.evaluate(ground.service_cells, t)
        state = ground.terminals.state_at(t) if ground.n_terminals else None
        if state is not None:
            tev = policy.evaluate_terminals(state.cells.T, t, state.speed_kmh.T,
                                            state.registered.T)
        else:
            tev = policy.evaluate_terminals(np.zeros(0, np.uint64), t)
    say("building visibility index")
    with clock.timed("index"):
        gso = GSO_EXCLUSION_USER_DEG if scenario.constellation.gso_exclusion else None
        index = _ground_index(ground, state, gso, scenario.run.threads)
    ctx = RunContext(
        scenario=scenario, constellation=const, ground=ground, t_utc=t,
        step_s=scenario.time.step_s, slot_s=scenario.network.slot_s, masks_deg=masks,
        policy=ev, terminal_policy=tev, rule_labels=tev.rule_labels,
        cell_codes=cell_codes(policy), policy_file=policy_file, compiled_policy=policy,
        index=index, strategy=_strategy(scenario), timings=clock, terminal_state=state,
        serving_report=serving_report,
    )
    ctx.notes.extend(stale)
    if serving_report.n_excluded:
        ctx.notes.append(f"serving satellites: {serving_report.summary()}")
    if health.summary():
        ctx.notes.append(f"propagation at the window's start, middle and end: "
                         f"{health.summary()}")
    names = list(stage_names) if stage_names is not None else default_stages(scenario)
    say("preparing stages")
    with clock.timed("stages"):
        ctx.stages = make_stages(ctx, names)
    est = estimate_run_bytes(
        ground.n_points, ground.n_cells, ground.n_terminals, len(ground.regions), t.size,
        _routed_steps(ctx), scenario.network.enabled)
    core = est["points"] + est["per_step"] + est["policy"]
    if core > budget:
        raise ResourceError(
            f"this run needs ~{_gib(core)} ({ground.n_points:,} points, {t.size:,} steps), over "
            f"the memory budget of {_gib(budget)}; use fewer cells (coarser resolution), a "
            "shorter window or a longer step, or raise run.memory_budget_gib (--memory-budget)")
    return ctx


def _ground_index(ground: Ground, state: TerminalState | None, gso: float | None,
                  threads: int | None = None) -> GroundIndex | MovingGround:
    """The visibility index: one `GroundIndex`, or a `MovingGround` when terminals move."""
    moving = ground.moving
    if state is None or not moving.any():
        return GroundIndex(ground.r_itrs_km, ground.up, gso_exclusion_deg=gso, threads=threads)
    term = ground.terminal_index
    moving_points = term[moving]
    fixed_points = np.setdiff1d(np.arange(ground.n_points), moving_points)
    fixed = (GroundIndex(ground.r_itrs_km[fixed_points], ground.up[fixed_points],
                         gso_exclusion_deg=gso, threads=threads) if fixed_points.size else None)
    return MovingGround(fixed, fixed_points, moving_points,
                        _TrackPositions(state.t_utc, state.r_itrs_km[moving],
                                        state.up[moving]), gso)


class _TrackPositions:
    """Positions of the moving terminals at a grid time (picklable)."""

    def __init__(self, t_utc: np.ndarray, r_itrs_km: np.ndarray, up: np.ndarray) -> None:
        self.t_ns = np.asarray(t_utc, "datetime64[ns]").astype(np.int64)
        self.r = r_itrs_km  # (k, n_time, 3)
        self.up = up

    def __call__(self, t_utc: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
        ns = np.asarray(t_utc, "datetime64[ns]").astype(np.int64)
        i = int(np.searchsorted(self.t_ns, ns))
        if i >= self.t_ns.size or self.t_ns[i] != ns:
            # A warm-up step before the window (serving hold): the first grid position.
            i = min(max(i, 0), self.t_ns.size - 1)
        return self.r[:, i, :], self.up[:, i, :]


def _routed_steps(ctx: RunContext) -> int:
    net = ctx.stage("network")
    return 0 if net is None else int(net.n_routed(ctx))
