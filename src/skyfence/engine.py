"""The engine: runs a scenario end to end over time chunks, with bounded memory.

Data flow (one way)::

    scenario -> constellation -> ground (cells + terminals) -> policy evaluation (cells x time)
      -> per time chunk: SGP4 -> visibility -> serving satellite -> status
         (served / covered-but-blocked / uncovered) -> network paths and RTT on a sub-grid
      -> merged per-point accumulators -> per-region figures -> outputs

Chunks are independent given the window start (the serving-satellite hold of the first slot is
recomputed by the coverage driver), so they run one after another here or on Dask workers
(`skyfence.parallel`), and their partial results merge exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from .coverage import GroundIndex, compute_coverage, elevation_masks
from .coverage.gso import GSO_EXCLUSION_USER_DEG
from .coverage.metrics import CoverageSummary, TimeSeries
from .earth import enu_basis, geodetic_to_itrs
from .errors import InputError
from .ground import region_cells, resolve_region, terminal_set
from .ground.cells import cell_areas_km2, cells_to_latlng
from .ground.terminals import Terminal
from .orbits import Constellation, load_constellation
from .parallel import make_runner, split_evenly
from .policy import (
    BLOCKED,
    SERVED,
    UNCOVERED,
    catalogue_resolver,
    compile_policy,
    load_default_policy,
    load_policy_file,
    service_status,
    to_service_cells,
)
from .policy.io import PolicyFile
from .policy.rules import CompiledPolicy, PolicyEvaluation
from .scenario import Scenario

__all__ = [
    "BLOCKED",
    "SERVED",
    "UNCOVERED",
    "ChunkResult",
    "Ground",
    "RunContext",
    "build_ground",
    "prepare",
    "run_chunk",
    "simulate",
]

SERVICE_RESOLUTION = 5


@dataclass(frozen=True)
class Ground:
    """Ground points of a scenario: region cells first, then terminals.

    Attributes
    ----------
    cells : uint64 (n_cell,)
        H3 cells at their region's resolution (unique).
    resolution : int8 (n_cell,)
    service_cells : uint64 (n_point,)
        The res-5 service cell deciding policy for every point (cell centre / terminal).
    lat_deg, lon_deg, alt_km : float64 (n_point,)
        WGS-84 geodetic position of every point (cells on the ellipsoid).
    area_km2 : float64 (n_cell,)
    r_itrs_km, up : float64 (n_point, 3)
    regions : tuple of str
        Region names in scenario order.
    members : dict of str -> int64 array
        Cell indices of each region (a cell can belong to several, e.g. Ukraine and Crimea).
    primary_region : object (n_cell,)
        The first scenario region containing each cell.
    terminal_names : tuple of str
    terminal_speed_kmh : float64 (n_terminal,)
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
    terminal_speed_kmh: np.ndarray

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
        """Point indices of the terminals."""
        return np.arange(self.n_cells, self.n_points)


def build_ground(scenario: Scenario) -> Ground:
    """Cells of every scenario region (at its resolution) and the scenario's terminals."""
    spec = scenario.ground
    per_region: list[tuple[str, np.ndarray, int]] = []
    for i, rs in enumerate(spec.regions):
        source = rs.file or rs.name
        try:
            region = resolve_region(source, edition=spec.edition)
        except InputError as exc:
            raise type(exc)(exc.message, f"ground.regions[{i}] ({rs.name})") from None
        if rs.file:
            region = region.renamed(rs.name)
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
    for name, idx, _ in reversed([(n, members[n], r) for n, _, r in per_region]):
        primary[idx] = name
    lat, lon = cells_to_latlng(cells) if cells.size else (np.zeros(0), np.zeros(0))
    area = cell_areas_km2(cells) if cells.size else np.zeros(0)
    terminals = [Terminal(t.name, t.lat, ((t.lon + 180.0) % 360.0) - 180.0, t.altitude_m)
                 for t in spec.terminals]
    speeds = np.array([t.speed_kmh for t in spec.terminals], dtype=np.float64)
    if terminals:
        ts = terminal_set(terminals, resolution=SERVICE_RESOLUTION)
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
    service = np.concatenate([to_service_cells(cells), t_cells])
    return Ground(
        cells=cells, resolution=res, service_cells=service, lat_deg=all_lat, lon_deg=all_lon,
        alt_km=alt, area_km2=area, r_itrs_km=r, up=up, regions=tuple(n for n, _, _ in per_region),
        members=members, primary_region=primary,
        terminal_names=tuple(t.name for t in terminals), terminal_speed_kmh=speeds,
    )


def load_policy(scenario: Scenario) -> tuple[PolicyFile, CompiledPolicy]:
    """The scenario's policy file (or the built-in default, with its request history) and the
    policy compiled against the scenario's boundary edition."""
    doc = (load_policy_file(scenario.policy.file) if scenario.policy.file
           else load_default_policy())
    return doc, compile_policy(doc.policy(), catalogue_resolver(scenario.ground.edition))


def moving_blocked(policy: CompiledPolicy, service_cells: np.ndarray, speed_kmh: np.ndarray,
                   t_utc: np.ndarray) -> np.ndarray:
    """(n_time, n_terminal) bool: terminals switched off by a moving-terminal rule."""
    out = np.zeros((t_utc.size, service_cells.size), dtype=bool)
    t_ns = t_utc.astype("datetime64[ns]").astype(np.int64)
    for rule in policy.moving_rules:
        fast = speed_kmh > rule.max_speed_kmh
        inside = np.isin(service_cells, rule.cells) & fast
        if not inside.any():
            continue
        active = np.array([rule.active_at(int(x)) for x in t_ns])
        out |= active[:, None] & inside[None, :]
    return out


@dataclass
class RunContext:
    """Everything a chunk needs (picklable, so chunks can run on Dask workers)."""

    scenario: Scenario
    constellation: Constellation
    ground: Ground
    t_utc: np.ndarray
    step_s: float
    masks_deg: np.ndarray
    policy: PolicyEvaluation  # per window segment: served mask and deciding rule per point
    moving_off: np.ndarray  # (n_time, n_terminal) bool: off by a moving-terminal rule
    policy_file: PolicyFile  # the policy as read, with its request history
    network: object | None = None  # network.NetworkContext when the network stage is on
    _index: GroundIndex | None = field(default=None, repr=False)

    def ground_index(self) -> GroundIndex:
        if self._index is None:
            gso = GSO_EXCLUSION_USER_DEG if self.scenario.constellation.gso_exclusion else None
            self._index = GroundIndex(self.ground.r_itrs_km, self.ground.up,
                                      gso_exclusion_deg=gso)
        return self._index

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_index"] = None
        return state


@dataclass
class ChunkResult:
    """Partial results of a time chunk; `merge` is associative and exact."""

    coverage: CoverageSummary
    status_steps: np.ndarray  # (3, n_point) int32 steps served / blocked / uncovered
    timeseries: TimeSeries | None
    terminal_status: np.ndarray  # (n_time_chunk, n_terminal) int8
    t_utc: np.ndarray
    region_status_km2: np.ndarray  # (n_time_chunk, n_region, 3) area by status code
    network: object | None = None  # network accumulator (merge-able) when the stage is on

    def merge(self, other: ChunkResult) -> ChunkResult:
        a, b = (self, other) if self.t_utc[0] <= other.t_utc[0] else (other, self)
        ts = None
        if a.timeseries is not None and b.timeseries is not None:
            ts = a.timeseries.merge(b.timeseries)
        net = None
        if a.network is not None and b.network is not None:
            net = a.network.merge(b.network)  # type: ignore[attr-defined]
        return ChunkResult(
            coverage=a.coverage.merge(b.coverage),
            status_steps=a.status_steps + b.status_steps,
            timeseries=ts,
            terminal_status=np.concatenate([a.terminal_status, b.terminal_status]),
            t_utc=np.concatenate([a.t_utc, b.t_utc]),
            region_status_km2=np.concatenate([a.region_status_km2, b.region_status_km2]),
            network=net,
        )


def prepare(scenario: Scenario, *, constellation: Constellation | None = None) -> RunContext:
    """Load the constellation, build the ground and evaluate the policy for a scenario."""
    t = scenario.time.grid()
    const = constellation if constellation is not None else load_constellation(
        scenario.constellation.source, epoch=t[0],
        skip_invalid=scenario.constellation.skip_invalid)
    masks = elevation_masks(const.shell, scenario.constellation.min_elevation_deg,
                            scenario.constellation.min_elevation_by_shell or None)
    ground = build_ground(scenario)
    policy_file, policy = load_policy(scenario)
    ev: PolicyEvaluation = policy.evaluate(ground.service_cells, t)
    term = ground.terminal_index
    moving_off = moving_blocked(policy, ground.service_cells[term], ground.terminal_speed_kmh, t)
    ctx = RunContext(
        scenario=scenario, constellation=const, ground=ground, t_utc=t,
        step_s=scenario.time.step_s, masks_deg=masks, policy=ev, moving_off=moving_off,
        policy_file=policy_file,
    )
    if scenario.network.enabled:
        from .netstage import prepare_network

        ctx.network = prepare_network(ctx)
    return ctx


def run_chunk(ctx: RunContext, window: slice) -> ChunkResult:
    """Run the time steps ``ctx.t_utc[window]`` and return their mergeable partial results."""
    t = ctx.t_utc[window]
    ground = ctx.ground
    offset = window.start or 0
    status_steps = np.zeros((3, ground.n_points), np.int32)
    term = ground.terminal_index
    term_status = np.zeros((t.size, term.size), np.int8)
    weights = ground.region_area_matrix()
    region_km2 = np.zeros((t.size, len(ground.regions), 3))
    codes = np.array([0, 1, 2], dtype=np.int8)
    net_acc = None
    if ctx.network is not None:
        from .netstage import NetworkAccumulator

        net_acc = NetworkAccumulator.empty(ctx)
    state = {"i": 0}

    def on_step(cs) -> None:
        i = state["i"]
        covered = cs.visibility.n_visible > 0
        allowed = ctx.policy.served_at(offset + i)
        if term.size:
            allowed = allowed.copy()
            allowed[term] &= ~ctx.moving_off[offset + i]
        status = service_status(covered, allowed)
        for code in (SERVED, BLOCKED, UNCOVERED):
            status_steps[code] += status == code
        term_status[i] = status[term]
        region_km2[i] = weights @ (status[:, None] == codes[None, :])
        if net_acc is not None:
            net_acc.update(ctx, offset + i, cs, status == SERVED)
        state["i"] = i + 1

    result = compute_coverage(
        ctx.constellation, ctx.ground_index(), t,
        min_elevation_deg=ctx.masks_deg,
        gso=ctx.scenario.constellation.gso_exclusion,
        timeseries_points=term if term.size else None,
        window_start_utc=ctx.t_utc[0], grid_step_s=ctx.step_s,
        chunk_size=ctx.scenario.run.chunk_steps,
        on_step=on_step,
    )
    return ChunkResult(result.summary, status_steps, result.timeseries, term_status, t,
                       region_km2, net_acc)


def simulate(
    ctx: RunContext,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ChunkResult:
    """Run all time chunks of ``ctx`` (locally or on Dask, per the scenario) and merge them."""
    windows = split_evenly(ctx.t_utc.size, ctx.scenario.run.chunk_steps)
    runner = make_runner(ctx.scenario.run.dask)
    done = {"steps": 0}

    def on_done(w: slice) -> None:
        done["steps"] += w.stop - w.start
        if progress is not None:
            progress(done["steps"], ctx.t_utc.size)

    result = runner.map_reduce(_ChunkFn(ctx), windows, ChunkResult.merge, on_done)
    assert result is not None
    return result


class _ChunkFn:
    """Picklable ``window -> ChunkResult`` closure over a `RunContext`."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def __call__(self, window: slice) -> ChunkResult:
        return run_chunk(self.ctx, window)
