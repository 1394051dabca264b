"""Cesium scenes of engine runs: ``skyfence view`` and ``outputs.czml``.

A view is a run. `scene_from_scenario` runs the one engine (`skyfence.engine.prepare`,
``simulate``, ``finalize``) on the scenario — its window, routing cadence and region
resolution optionally overridden by `view_scenario` — and `scene_from_run` turns what the run
produced into a `SceneData`:

- terminals: position per step from the ``terminals`` table (``lat_deg``, ``lon_deg``,
  ``altitude_m``: moving terminals follow their tracks) and its ``status`` per step;
- paths: the ``path`` column (``sat:<NORAD id> > ... > gw:<gateway> > pop:<PoP>``) per step,
  with ``rtt_ms``; no path where the terminal is unserved or the step is not routed;
- cells: the region cells' status per step, streamed by the ``cell_series`` stage into a
  `CellStatusCollector` (a sink of `skyfence.engine.simulate`);
- satellites: the run's constellation propagated at the scene's position samples;
- gateways and PoPs: the network stage's ground segment.

Memory stays bounded: the engine holds its partials as in any run (`run.memory_budget_gib`);
the collector keeps one int8 per (step, drawn cell), at most `MAX_CELLS` drawn cells (finer
cells are drawn as their H3 parents at the finest resolution that fits, each with the status
covering most of its area), so ``n_steps x MAX_CELLS`` bytes; satellite samples are capped
at ``czml.MAX_POSITION_SAMPLES`` positions; terminals at `MAX_SCENE_TERMINALS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..policy import BLOCKED, SERVED, UNCOVERED
from .czml import MAX_CELLS, PathTrack, SceneData, Site, TerminalTrack, sample_index

if TYPE_CHECKING:
    from ..engine import Ground, RunContext
    from ..results import RunTables
    from ..scenario import Scenario

__all__ = [
    "MAX_SCENE_TERMINALS",
    "CellStatusCollector",
    "h3_parents",
    "parse_path",
    "scene_from_run",
    "scene_from_scenario",
    "view_scenario",
]

#: Terminals a scene draws at most (each is an entity with its paths).
MAX_SCENE_TERMINALS = 50
_STATUS_CODES = {"served": int(SERVED), "blocked": int(BLOCKED), "uncovered": int(UNCOVERED)}
_KINDS = ("sat", "gw", "pop")


def parse_path(text: str) -> list[tuple[str, str]]:
    """The nodes of a ``path`` value: ``[("sat", "44714"), ..., ("gw", "Wola Krobowska"),
    ("pop", "Warsaw")]``.

    >>> parse_path("sat:44714 > sat:44890 > gw:Wola Krobowska > pop:Warsaw")[-2:]
    [('gw', 'Wola Krobowska'), ('pop', 'Warsaw')]
    """
    out = []
    for part in str(text).split(" > "):
        kind, sep, key = part.partition(":")
        if not sep or kind not in _KINDS or not key:
            raise InputError(f"not a path node {part!r} (sat:NORAD, gw:NAME or pop:NAME)",
                             "path")
        out.append((kind, key))
    return out


def h3_parents(cells: np.ndarray, resolution: np.ndarray, parent_res: int) -> np.ndarray:
    """H3 cells at ``parent_res``: the parent of every finer cell, coarser cells unchanged
    (vectorized on the index bits: resolution field and the digits below it set to 7)."""
    out = np.asarray(cells, np.uint64).copy()
    fine = np.asarray(resolution) > parent_res
    c = out[fine]
    c = (c & ~np.uint64(0xF << 52)) | np.uint64(parent_res << 52)
    for d in range(parent_res + 1, 16):
        c |= np.uint64(7 << ((15 - d) * 3))
    out[fine] = c
    return out


class CellStatusCollector:
    """A sink for the ``cell_series`` stage: the status of the drawn cells at every step.

    Region cells are drawn as they are when there are at most ``max_cells``; otherwise as
    their H3 parents at the finest resolution that fits, each parent with the status covering
    the largest area of its cells at the step (ties: uncovered, blocked, served, in that
    order). Holds ``(n_steps, n_drawn)`` int8.

    Attributes
    ----------
    cells : uint64 (n_drawn,), the drawn cells
    status : int8 (n_steps, n_drawn), status codes (-1 until a block has covered the step)
    parent_resolution : int or None, the resolution of the drawn parents (None: cells as is)
    """

    def __init__(self, ground: Ground, n_steps: int, max_cells: int = MAX_CELLS) -> None:
        cells = np.asarray(ground.cells, np.uint64)
        res = np.asarray(ground.resolution)
        self.n_cells = int(cells.size)
        self.parent_resolution: int | None = None
        self._inv: np.ndarray | None = None
        self._area = np.asarray(ground.area_km2, float)
        drawn = cells
        if cells.size > max_cells:
            for r in range(int(res.max()) - 1, -1, -1):
                drawn, inv = np.unique(h3_parents(cells, res, r), return_inverse=True)
                if drawn.size <= max_cells:
                    self.parent_resolution, self._inv = r, inv.astype(np.int64)
                    break
            else:  # pragma: no cover - at most 122 cells at resolution 0
                raise InputError(f"{cells.size:,} cells cannot be drawn", "cells")
        self.cells = drawn
        self.status = np.full((n_steps, drawn.size), -1, np.int8)

    def __call__(self, block: Any) -> None:
        """Take one `skyfence.engine.series_stage.SeriesBlock` (steps ``first ..``)."""
        st = np.asarray(block.status, np.int8)
        first = int(block.first)
        if st.shape[1] != self.n_cells:
            raise InputError(f"a block of {st.shape[1]} cells for {self.n_cells} region cells",
                             "cell_series")
        if self._inv is None:
            self.status[first:first + st.shape[0]] = st
            return
        n = self.cells.size
        for k in range(st.shape[0]):
            w = np.bincount(self._inv * 3 + st[k], weights=self._area, minlength=3 * n)
            self.status[first + k] = np.argmax(w.reshape(n, 3), axis=1)

    @property
    def complete(self) -> bool:
        """Every step received."""
        return bool(np.all(self.status >= 0))


def view_scenario(
    scenario: Scenario,
    *,
    start: str | None = None,
    duration: str | float | None = None,
    step: str | float | None = None,
    rtt_every: str | float | None = None,
    resolution: int | None = None,
) -> Scenario:
    """The scenario a view runs: ``scenario`` with its window (``start``, ``duration``,
    ``step``; strings as in a scenario, numbers in seconds) and region resolution replaced
    where given, and the network routed every ``rtt_every`` (default: every step, so a path
    is drawn at every step). Validated like any scenario."""
    data = scenario.model_dump()

    def text(v: str | float) -> str:
        return v if isinstance(v, str) else f"{float(v):g}s"

    if start is not None:
        data["time"]["start"] = start
    if duration is not None:
        data["time"]["duration"] = text(duration)
    if step is not None:
        data["time"]["step"] = text(step)
    data["network"]["rtt_every"] = text(rtt_every) if rtt_every is not None \
        else data["time"]["step"]
    if resolution is not None:
        for r in data["ground"]["regions"]:
            r["resolution"] = int(resolution)
    from ..scenario import parse_scenario

    return parse_scenario(data, "view")


def scene_from_scenario(
    scenario: Scenario,
    *,
    start: str | None = None,
    duration: str | float | None = None,
    step: str | float | None = None,
    rtt_every: str | float | None = None,
    resolution: int | None = None,
    terminals: Sequence[str] | None = None,
    cells: bool = True,
    phase: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SceneData:
    """Run the engine on the view of ``scenario`` (`view_scenario`) and build its scene
    (`scene_from_run`): terminals (``terminals``: names to draw, default all), their paths,
    the regions' cells by status (unless ``cells`` is False), satellites, gateways and PoPs.
    ``phase`` and ``progress`` report as in `skyfence.engine.run`."""
    from ..engine import finalize, prepare, simulate

    sc = view_scenario(scenario, start=start, duration=duration, step=step,
                       rtt_every=rtt_every, resolution=resolution)
    names = ["coverage", "policy"] + (["network"] if sc.network.enabled else [])
    draw_cells = cells and bool(sc.ground.regions)
    if draw_cells:
        names.append("cell_series")
    ctx = prepare(sc, phase=phase, stage_names=names)
    _chosen_terminals(ctx.ground.terminal_names, terminals)  # before the run: names known
    collector = (CellStatusCollector(ctx.ground, ctx.n_steps)
                 if draw_cells and ctx.ground.n_cells else None)
    if phase is not None:
        phase(f"simulating {ctx.n_steps:,} steps")
    result = simulate(ctx, progress=progress, sink=collector)
    if phase is not None:
        phase("building the scene")
    tables = finalize(ctx, result)
    return scene_from_run(ctx, tables, collector, terminals=terminals)


def _chosen_terminals(all_names: Sequence[str], wanted: Sequence[str] | None
                      ) -> tuple[list[str], list[str]]:
    """The terminals to draw (``wanted``, default all; at most `MAX_SCENE_TERMINALS`) and a
    note when some are left out."""
    names = list(all_names)
    if wanted is not None:
        missing = [n for n in wanted if n not in names]
        if missing:
            raise InputError(f"unknown terminal {missing[0]!r}; the scenario has "
                             f"{', '.join(names) or 'none'}", "terminal")
        names = list(dict.fromkeys(wanted))
    if len(names) > MAX_SCENE_TERMINALS:
        return names[:MAX_SCENE_TERMINALS], [
            f"{len(names):,} terminals: the first {MAX_SCENE_TERMINALS} are drawn (name "
            "others with --terminal)"]
    return names, []


def _column(rows: Any, fixed: Any, column: str, default: float) -> np.ndarray:
    """A per-step column of one terminal's rows, else its summary value, else ``default``."""
    if column in rows.columns:
        return rows[column].to_numpy(np.float64, na_value=np.nan)
    if fixed is not None and column in fixed.index:
        return np.full(len(rows), float(fixed[column]))
    return np.full(len(rows), default)


def _terminal_tracks(tables: RunTables, t_utc: np.ndarray, names: Sequence[str]
                     ) -> dict[str, dict[str, Any]]:
    """Per terminal: position, status, path text and RTT per step, from the tables."""
    frame = tables.terminals
    summary = tables.terminal_summary.set_index("terminal") if len(
        tables.terminal_summary) else None
    n_t = t_utc.size
    out: dict[str, dict[str, Any]] = {}
    by_name = {k: v for k, v in frame.groupby("terminal", sort=False, observed=True)} \
        if len(frame) else {}
    for name in names:
        sub = by_name[name].sort_values("t_utc", kind="stable")
        if len(sub) != n_t:
            raise InputError(f"terminal {name!r} has {len(sub)} rows for {n_t} steps",
                             "terminals")
        fixed = summary.loc[name] if summary is not None else None
        status = np.array([_STATUS_CODES.get(str(x), -1) for x in sub["status"]], np.int8) \
            if "status" in sub.columns else np.full(n_t, -1, np.int8)
        path = (tuple(None if (p is None or p != p) else str(p) for p in sub["path"])
                if "path" in sub.columns else (None,) * n_t)
        rtt = (sub["rtt_ms"].to_numpy(np.float64, na_value=np.nan) if "rtt_ms" in sub.columns
               else np.full(n_t, np.nan))
        out[name] = {"lat": _column(sub, fixed, "lat_deg", np.nan),
                     "lon": _column(sub, fixed, "lon_deg", np.nan),
                     "alt_km": _column(sub, fixed, "altitude_m", 0.0) / 1000.0,
                     "status": status, "path": path, "rtt": rtt}
    return out


def scene_from_run(
    ctx: RunContext,
    tables: RunTables,
    cells: CellStatusCollector | None = None,
    *,
    terminals: Sequence[str] | None = None,
    title: str | None = None,
) -> SceneData:
    """The scene of a finished run: ``ctx`` (its constellation, grid and ground segment),
    ``tables`` (`skyfence.engine.finalize`) and, for the cells, the collector that took the
    ``cell_series`` blocks (see the module docstring)."""
    from ..engine.network_stage import scenario_sites
    from ..orbits import propagate

    t = np.asarray(ctx.t_utc, "datetime64[ns]")
    const = ctx.constellation
    n_sat = len(const)
    net = ctx.stage("network")
    sites_obj = net.sites if net is not None else scenario_sites(ctx.scenario.network)
    chosen, notes = _chosen_terminals(ctx.ground.terminal_names, terminals)
    tracks = _terminal_tracks(tables, t, chosen)
    # Entity ids: satellites by index in the run's constellation, sites by index.
    norad = np.asarray(const.norad_ids, np.int64)
    sat_of: dict[str, int] = {}
    for k in range(n_sat - 1, -1, -1):
        sat_of[str(int(norad[k]))] = k
    gw_of = {n: i for i, n in enumerate(sites_obj.gateway_names)}
    pop_of = {n: i for i, n in enumerate(sites_obj.pop_names)}
    ids = {"sat": lambda key: f"sat-{sat_of[key]}", "gw": lambda key: f"gw-{gw_of[key]}",
           "pop": lambda key: f"pop-{pop_of[key]}"}
    term_tracks: list[TerminalTrack] = []
    paths: list[PathTrack] = []
    for u, name in enumerate(chosen):
        tr = tracks[name]
        tid = f"term-{u}"
        term_tracks.append(TerminalTrack(tid, name, tr["lat"], tr["lon"], tr["alt_km"],
                                         tr["status"], tr["path"]))
        if net is None:
            continue
        seq: list[tuple[str, ...] | None] = []
        cache: dict[str, tuple[str, ...]] = {}
        for text in tr["path"]:
            if text is None:
                seq.append(None)
                continue
            nodes = cache.get(text)
            if nodes is None:
                try:
                    nodes = cache[text] = (tid, *(ids[k](key) for k, key in parse_path(text)))
                except KeyError as exc:
                    raise InputError(f"path {text!r} names {exc.args[0]!r}, not in the run's "
                                     "constellation or ground segment", "path") from None
            seq.append(nodes)
        paths.append(PathTrack(f"path-{u}", name, tuple(seq),
                               tuple(float(x) for x in tr["rtt"])))
    # Satellites at the position samples.
    span_s = float((t[-1] - t[0]) / np.timedelta64(1, "s")) if t.size > 1 else 0.0
    keep = sample_index(t.size, n_sat, span_s)
    r = propagate(const, t[keep]).r_km
    sites = [Site(f"gw-{i}", g.name, "gateway", g.lat_deg, g.lon_deg, g.alt_km)
             for i, g in enumerate(sites_obj.gateways)]
    sites += [Site(f"pop-{i}", p.name, "pop", p.lat_deg, p.lon_deg)
              for i, p in enumerate(sites_obj.pops)]
    masks = np.unique(np.asarray(ctx.masks_deg))
    sc = ctx.scenario
    notes[:0] = [
        f"{n_sat:,} satellites ({const.name}); masks {', '.join(f'{m:g}' for m in masks)} deg"
        + (f"; positions sampled every ~{span_s / max(keep.size - 1, 1):,.0f} s"
           if keep.size < t.size else ""),
        f"{ctx.n_steps:,} steps of {sc.time.step} from {np.datetime_as_string(t[0], 's')}Z",
        f"{len(sites_obj.gateways)} gateways, {len(sites_obj.pops)} PoPs",
    ]
    if net is not None:
        notes.append(f"paths routed every {sc.network.rtt_every} ({sc.network.serving}, "
                     f"{sc.network.routing}); none where a terminal is not served")
    else:
        notes.append("network stage off: no paths")
    cell_ids = np.zeros(0, np.uint64)
    status = np.zeros((t.size, 0), np.int8)
    if cells is not None and cells.cells.size:
        if not cells.complete:
            raise InputError("the cell collector missed steps of the run", "cell_series")
        cell_ids, status = cells.cells, cells.status
        regions = ", ".join(ctx.ground.regions)
        if cells.parent_resolution is None:
            notes.append(f"{cell_ids.size:,} cells of {regions}")
        else:
            notes.append(f"{cells.n_cells:,} cells of {regions} drawn as {cell_ids.size:,} "
                         f"res-{cells.parent_resolution} parents (status of the largest area)")
    return SceneData(
        title=title or f"skyfence: {sc.name}", t_utc=t, step_s=ctx.step_s,
        sat_ids=tuple(f"sat-{k}" for k in range(n_sat)),
        sat_names=tuple(f"{const.names[k]} ({int(norad[k])})" for k in range(n_sat)),
        r_sat_itrs_km=r, sat_t_utc=t[keep], sites=tuple(sites), paths=tuple(paths),
        terminals=tuple(term_tracks), cells=cell_ids, cell_status=status,
        edition=sc.ground.edition, notes=tuple(notes))

