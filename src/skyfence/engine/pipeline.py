"""The pipeline: time chunks through the stages, merged, finalized into tables.

Data flow (one way)::

    RunContext (prepare) -> per time chunk: SGP4 -> visibility (one pass; pairs on routed
      steps) -> serving satellite (15 s slots) -> policy status -> each stage's accumulator
      -> ChunkResult (pure, associative merge) -> finalize -> RunTables

Chunks are independent given the window start (the serving satellite held at a chunk's first
slot is recomputed from the steps of that slot before the chunk), so they run one after
another here or on Dask workers (`skyfence.engine.runners`) and merge exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..coverage import iter_coverage, weighted_percentile
from ..errors import InputError
from ..ground import cells_to_str
from ..policy import service_status
from ..policy.rules import STATUS_CODES
from ..results import STATUS_NAMES, RunTables
from .context import RunContext
from .protocol import StepData
from .runners import make_runner, split_evenly

__all__ = ["ChunkResult", "Segment", "finalize", "iter_steps", "run_chunk", "simulate"]


@dataclass(frozen=True)
class Segment:
    """The stages' partials over consecutive steps ``first .. last`` (grid indices)."""

    first: int
    last: int
    parts: dict[str, Any]


@dataclass(frozen=True)
class ChunkResult:
    """Partial results of any set of chunks: segments sorted by time, none adjacent.

    `merge` is pure (neither operand changes), associative and commutative: segments that
    touch are joined with each stage's ``concat``; others wait for the steps between them.
    """

    segments: tuple[Segment, ...]
    stage_names: tuple[str, ...]
    streams: tuple[Any, ...] = ()  # blocks of streaming stages, for a sink; never merged

    def merge(self, other: ChunkResult, concat: Callable[[str, Any, Any], Any]) -> ChunkResult:
        segs = sorted(self.segments + other.segments, key=lambda s: s.first)
        out: list[Segment] = []
        for seg in segs:
            if out and out[-1].last + 1 == seg.first:
                prev = out[-1]
                parts = {n: concat(n, prev.parts[n], seg.parts[n]) for n in self.stage_names}
                out[-1] = Segment(prev.first, seg.last, parts)
            elif out and seg.first <= out[-1].last:
                raise ValueError(f"overlapping chunks: steps {seg.first}..{seg.last} and "
                                 f"{out[-1].first}..{out[-1].last}")
            else:
                out.append(seg)
        return ChunkResult(tuple(out), self.stage_names)

    @property
    def complete(self) -> bool:
        """One contiguous segment."""
        return len(self.segments) == 1

    def whole(self, n_steps: int) -> Segment:
        """The single segment covering steps ``0 .. n_steps - 1`` (error otherwise)."""
        if not self.complete or self.segments[0].first != 0 \
                or self.segments[0].last != n_steps - 1:
            spans = ", ".join(f"{s.first}..{s.last}" for s in self.segments)
            raise ValueError(f"incomplete run: have steps {spans} of 0..{n_steps - 1}")
        return self.segments[0]


def iter_steps(ctx: RunContext, window: slice) -> Iterator[StepData]:
    """The shared per-step data of steps ``window`` of the run (one visibility pass)."""
    start = window.start or 0
    t = ctx.t_utc[window]
    net = ctx.stage("network")
    need_pairs = net is not None and net.selector is not None
    i0_ns = ctx.t_utc[0].astype("datetime64[ns]").astype(np.int64)
    step_ns = max(1, round(ctx.step_s * 1e9))

    def routed(t_utc: np.datetime64) -> bool:
        i = int((np.asarray(t_utc, "datetime64[ns]").astype(np.int64) - i0_ns) // step_ns)
        return net is not None and bool(net.routed(i))

    term = ctx.ground.terminal_index
    for k, cs in enumerate(iter_coverage(
        ctx.constellation, ctx.index, t, min_elevation_deg=ctx.masks_deg,
        gso=ctx.scenario.constellation.gso_exclusion, strategy=ctx.strategy,
        pairs=routed if need_pairs else False, chunk_size=ctx.scenario.run.chunk_steps,
        window_start_utc=ctx.t_utc[0], grid_step_s=ctx.step_s, slot_s=ctx.slot_s,
    )):
        i = start + k
        allowed = ctx.policy.served_at(i)
        rule = ctx.policy.rule_index_at(i)
        code = ctx.cell_codes[rule]
        if term.size:
            tp = ctx.terminal_policy
            allowed, rule = allowed.copy(), rule.copy()
            allowed[term] = tp.served[i]
            rule[term] = tp.rule[i]
            code[term] = tp.code[i]
        covered = cs.visibility.n_visible > 0
        yield StepData(i=i, t_utc=cs.t_utc, r_sat_itrs_km=cs.r_sat_itrs_km,
                       visibility=cs.visibility, serving=cs.serving, allowed=allowed,
                       rule_index=rule, code=code, status=service_status(covered, allowed))


def run_chunk(ctx: RunContext, window: slice) -> ChunkResult:
    """Run the steps ``ctx.t_utc[window]`` through every stage; their mergeable partials."""
    start = window.start or 0
    stop = min(window.stop if window.stop is not None else ctx.n_steps, ctx.n_steps)
    t = ctx.t_utc[start:stop]
    accs = [(s.name, s.start(ctx, t)) for s in ctx.stages]
    for step in iter_steps(ctx, slice(start, stop)):
        for _, acc in accs:
            acc.update(step)
    streaming = {s.name for s in ctx.stages if getattr(s, "streaming", False)}
    parts = {name: acc.result() for name, acc in accs if name not in streaming}
    streams = tuple(acc.result() for name, acc in accs if name in streaming)
    return ChunkResult((Segment(start, stop - 1, parts),), tuple(parts), streams)


class _Merge:
    """Picklable merge of two `ChunkResult` with the context's stages."""

    def __init__(self, ctx: RunContext) -> None:
        self.stages = {s.name: s for s in ctx.stages}

    def concat(self, name: str, a: Any, b: Any) -> Any:
        return self.stages[name].concat(a, b)

    def __call__(self, a: ChunkResult, b: ChunkResult) -> ChunkResult:
        return a.merge(b, self.concat)


class _ChunkFn:
    """Picklable ``window -> ChunkResult`` closure over a `RunContext`."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def __call__(self, window: slice) -> ChunkResult:
        return run_chunk(self.ctx, window)


def merge_results(ctx: RunContext, a: ChunkResult, b: ChunkResult) -> ChunkResult:
    """Merge two partial results of ``ctx`` (pure; any order, any grouping)."""
    return _Merge(ctx)(a, b)


def simulate(
    ctx: RunContext,
    *,
    progress: Callable[[int, int], None] | None = None,
    sink: Callable[[Any], None] | None = None,
) -> ChunkResult:
    """Run all time chunks of ``ctx`` (locally or on Dask, per ``run.dask``) and merge them.

    ``sink`` receives the blocks of streaming stages (``cell_series``) as each chunk arrives,
    e.g. a `skyfence.outputs.ZarrSeriesWriter`; they are not kept.
    """
    streaming = [s.name for s in ctx.stages if getattr(s, "streaming", False)]
    if streaming and sink is None:
        raise InputError(f"the stages {', '.join(streaming)} stream their results: give a sink "
                         "(e.g. skyfence.outputs.ZarrSeriesWriter)", "sink")

    def consume(part: ChunkResult) -> ChunkResult:
        if sink is not None:
            for block in part.streams:
                sink(block)
        return ChunkResult(part.segments, part.stage_names)

    windows = split_evenly(ctx.n_steps, ctx.scenario.run.chunk_steps)
    runner = make_runner(ctx.scenario.run.dask, n_workers=ctx.scenario.run.workers)
    done = {"steps": 0}

    def on_done(w: slice) -> None:
        done["steps"] += w.stop - w.start
        if progress is not None:
            progress(done["steps"], ctx.n_steps)

    t0 = time.perf_counter()
    result = runner.map_reduce(_ChunkFn(ctx), windows, _Merge(ctx), on_done, consume=consume)
    ctx.timings.add("simulation", time.perf_counter() - t0)
    if result is None:
        raise ValueError("no time steps to run")
    return result


# ----------------------------------------------------------------------------- finalize
def _shares(steps: np.ndarray) -> np.ndarray:
    total = steps.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return steps / np.where(total > 0, total, 1)


def _utc(t: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(t, "datetime64[ns]")).tz_localize("UTC")


def _norad(idx: np.ndarray, ids: np.ndarray) -> pd.arrays.IntegerArray:
    i = np.asarray(idx, np.int64).ravel()
    has = i >= 0
    vals = np.zeros(i.size, np.int64)
    vals[has] = np.asarray(ids, np.int64)[i[has]]
    return pd.arrays.IntegerArray(vals, ~has)


def finalize(ctx: RunContext, result: ChunkResult) -> RunTables:
    """The run's tables (`skyfence.results.RunTables`) from its merged partials."""
    t0 = time.perf_counter()
    seg = result.whole(ctx.n_steps)
    out = {s.name: s.finalize(ctx, seg.parts[s.name]) for s in ctx.stages
           if s.name in seg.parts}
    tables = _tables(ctx, out)
    ctx.timings.add("tables", time.perf_counter() - t0)
    tables.metadata["timings_s"] = dict(ctx.timings.seconds)
    return tables


def _tables(ctx: RunContext, out: dict[str, dict[str, Any]]) -> RunTables:
    g = ctx.ground
    cov = out["coverage"]
    metrics = cov["metrics"]
    pol = out.get("policy")
    net = out.get("network")
    cap = out.get("capacity")
    n_cell = g.n_cells
    term = g.terminal_index
    rule_names = np.array(ctx.rule_labels, dtype=object)
    last_rules = ctx.policy.rule_index_at(ctx.n_steps - 1)
    norad = np.asarray(ctx.constellation.norad_ids, np.int64)
    shares = (_shares(pol["status_steps"].astype(np.float64)) if pol is not None
              else np.full((3, g.n_points), np.nan))

    # ---- cells
    cells = pd.DataFrame({
        "h3_cell": np.asarray(cells_to_str(g.cells), dtype=object) if n_cell else
        np.zeros(0, dtype=object),
        "resolution": g.resolution.astype(np.int8),
        "region": g.primary_region,
        "lat_deg": g.lat_deg[:n_cell],
        "lon_deg": g.lon_deg[:n_cell],
        "area_km2": g.area_km2,
    })
    point = metrics.to_frame()
    for col in point.columns:
        cells[col] = point[col].to_numpy()[:n_cell]
    for code, name in ((2, "served"), (1, "blocked"), (0, "uncovered")):
        cells[f"{name}_share"] = shares[code, :n_cell]
    cells["rule_at_end"] = rule_names[last_rules[:n_cell]]
    if net is not None:
        for col, values in net["point_columns"].items():
            if col.startswith("rtt_p") and not net["cell_percentiles"]:
                continue
            cells[col] = values[:n_cell]
    if cap is not None:
        for col, values in cap["cell_columns"].items():
            cells[col] = values

    # ---- regions
    rows = []
    for r, name in enumerate(g.regions):
        idx = g.members[name]
        w = g.area_km2[idx]
        tot = float(w.sum())
        row: dict[str, Any] = {"region": name, "n_cells": int(idx.size), "area_km2": tot}
        for code, label in ((2, "served"), (1, "blocked"), (0, "uncovered")):
            share = float(np.sum(w * shares[code, idx]) / tot) if tot else np.nan
            row[f"{label}_share"] = share
            row[f"{label}_km2"] = share * tot
        av = metrics.availability[idx]
        mv = metrics.mean_in_view[idx]
        row["availability"] = float(np.sum(w * av) / tot) if tot else np.nan
        row["area_share_always_covered"] = float(np.sum(w * (av >= 1.0)) / tot) if tot else np.nan
        row["mean_in_view"] = float(np.sum(w * mv) / tot) if tot else np.nan
        row["min_in_view"] = int(metrics.min_in_view[idx].min()) if idx.size else 0
        row["longest_gap_s"] = float(metrics.longest_gap_s[idx].max()) if idx.size else np.nan
        pa = weighted_percentile(av, w, (5, 50, 95))
        pm = weighted_percentile(mv, w, (5, 50, 95))
        for q, a, m in zip((5, 50, 95), pa, pm, strict=True):
            row[f"availability_p{q}"] = float(a)
            row[f"mean_in_view_p{q}"] = float(m)
        if net is not None:
            row.update({k: v for k, v in net["region_rows"][r].items() if k != "region"})
        if cap is not None:
            row.update({k: v for k, v in cap["region_rows"][r].items() if k != "region"})
        rows.append(row)
    regions = pd.DataFrame(rows, columns=None if rows else ["region", "n_cells", "area_km2"])

    # ---- regions by time
    if pol is not None and len(g.regions):
        rk = pol["region_status_km2"]
        n_t = rk.shape[0]
        by_time = pd.DataFrame({
            "region": np.repeat(np.asarray(g.regions, dtype=object), n_t),
            "t_utc": _utc(np.tile(pol["t_utc"], len(g.regions))),
        })
        for code, label in ((2, "served"), (1, "blocked"), (0, "uncovered")):
            by_time[f"{label}_km2"] = rk[:, :, code].T.ravel()
    else:
        by_time = pd.DataFrame(columns=["region", "t_utc", "served_km2", "blocked_km2",
                                        "uncovered_km2"])

    # ---- per-step series (terminals, then time-series cells)
    series = cov["series"]
    n_term = g.n_terminals
    extra: dict[str, pd.DataFrame] = {}
    term_frame = _series_frame(ctx, series, pol, net, np.arange(n_term), "terminal",
                               list(g.terminal_names), norad, rule_names)
    if series is not None and series.point.size > n_term:
        names = list(cov["series_names"][n_term:])
        extra["cells_timeseries"] = _series_frame(
            ctx, series, pol, None, np.arange(n_term, series.point.size), "h3_cell", names,
            norad, rule_names)

    # ---- terminal summary
    records = g.terminals.terminals() if n_term else []
    tsum = pd.DataFrame({
        "terminal": list(g.terminal_names),
        "id": [r.id for r in records],
        "owner": [r.owner for r in records],
        "moving": [r.is_moving for r in records],
        "lat_deg": g.lat_deg[term],
        "lon_deg": g.lon_deg[term],
        "altitude_m": g.alt_km[term] * 1000.0,
        "h3_cell": cells_to_str(g.service_cells[term]) if n_term else [],
    })
    for code, label in ((2, "served"), (1, "blocked"), (0, "uncovered")):
        tsum[f"{label}_share"] = shares[code, term]
    for col in point.columns:
        tsum[col] = point[col].to_numpy()[term]
    tsum["rule_at_end"] = (rule_names[ctx.terminal_policy.rule[-1]] if n_term
                           else np.zeros(0, dtype=object))
    if ctx.terminal_state is not None:
        tsum["registered_at_end"] = ctx.terminal_state.registered[:, -1]
    if net is not None:
        for col, values in net["point_columns"].items():
            tsum[col] = values[term]
        extra["gateway_load"] = net["gateway_load"]
        rbt = net["rtt_by_time"]
        if len(rbt):
            rbt = rbt.assign(t_utc=_utc(rbt["t_utc"].to_numpy()))
        extra["rtt_by_time"] = rbt
        if "whatif" in net:
            extra.update(net["whatif"])
    if cap is not None:
        for col, values in cap["terminal_columns"].items():
            tsum[col] = values
        extra.update(cap["tables"])

    rules = pd.DataFrame({"rule": list(ctx.policy.rule_names)})
    s = ctx.scenario
    meta: dict[str, Any] = {
        "scenario": s.name,
        "description": s.description,
        "t_start_utc": str(np.datetime_as_string(ctx.t_utc[0], "s")) + "Z",
        "t_end_utc": str(np.datetime_as_string(ctx.t_utc[-1], "s")) + "Z",
        "n_steps": ctx.n_steps,
        "step_s": ctx.step_s,
        "step": s.time.step,
        "constellation": s.constellation.source,
        "n_satellites": len(ctx.constellation),
        "min_elevation_deg": s.constellation.min_elevation_deg,
        "gso_exclusion": s.constellation.gso_exclusion,
        "edition": s.ground.edition,
        "n_cells": g.n_cells,
        "n_regions": len(g.regions),
        "n_terminals": n_term,
        "focus_regions": [rs.name for rs in s.ground.regions if rs.resolution >= 4],
        "policy": ctx.compiled_policy.name,
        "policy_source": s.policy.source,
        "network": net is not None,
        "rtt_every": s.network.rtt_every if net is not None else None,
        "policy_notes": [(r.name, r.action, r.reason) for r in ctx.policy_file.rules]
        + [(m.name, f"off above {m.max_speed_kmh:g} km/h", m.reason)
           for m in ctx.policy_file.moving_rules],
        "history": [_history(req) for req in ctx.policy_file.requests],
        "notes": list(ctx.notes) + [n for o in out.values() for n in o.get("notes", [])],
        "capacity": cap["info"] if cap is not None else None,
    }
    return RunTables(cells=cells, regions=regions, regions_by_time=by_time,
                     terminals=term_frame, terminal_summary=tsum, rules=rules, extra=extra,
                     metadata=meta)


def _history(req: Any) -> dict[str, Any]:
    d = req.model_dump(mode="json")
    return {"at": d["at"], "by": d["by"], "action": d["action"], "region": d["region"],
            "why": d["why"],
            "decisions": [{"at": x["at"], "by": x["by"], "outcome": x["outcome"],
                           "reason": x["reason"]} for x in d.get("decisions", [])]}


def _series_frame(ctx: RunContext, series: Any, pol: dict[str, Any] | None,
                  net: dict[str, Any] | None, cols: np.ndarray, name_col: str,
                  names: list[str], norad: np.ndarray, rule_names: np.ndarray) -> pd.DataFrame:
    """Long table, one row per point and step (points in order, then time)."""
    base_cols = [name_col, "t_utc", "n_visible", "best_elevation_deg", "serving_norad_id",
                 "status", "rule", "dish_code"]
    if series is None or cols.size == 0:
        frame = pd.DataFrame(columns=base_cols)
        if net is not None:
            for c in ("routed", "path_norad_id", "gateway", "pop", "n_laser_hops", "path",
                      "rtt_ms", "rtt_floor_ms"):
                frame[c] = pd.Series(dtype=object)
        return frame
    n_time = series.t_utc.size
    k = cols.size
    frame = pd.DataFrame({
        name_col: np.repeat(np.asarray(names, dtype=object), n_time),
        "t_utc": _utc(np.tile(series.t_utc, k)),
        "n_visible": series.n_visible[:, cols].T.ravel().astype(np.int32),
        "best_elevation_deg": series.best_elevation_deg[:, cols].T.ravel().astype(np.float64),
        "serving_norad_id": _norad(series.serving_sat[:, cols].T.ravel(), norad),
    })
    if pol is not None:
        st = pol["series_status"][:, cols].T.ravel()
        frame["status"] = pd.Categorical([STATUS_NAMES[int(x)] for x in st],
                                         categories=["served", "blocked", "uncovered"])
        frame["rule"] = rule_names[pol["series_rule"][:, cols].T.ravel()]
        code_names = np.array([c or None for c in STATUS_CODES], dtype=object)
        frame["dish_code"] = code_names[pol["series_code"][:, cols].T.ravel()]
    state = ctx.terminal_state
    if name_col == "terminal" and state is not None:
        # Where each terminal is at each step (moving terminals follow their tracks).
        frame["lat_deg"] = state.lat_deg[cols].ravel()
        frame["lon_deg"] = state.lon_deg[cols].ravel()
        frame["altitude_m"] = state.alt_km[cols].ravel() * 1000.0
        frame["speed_kmh"] = state.speed_kmh[cols].ravel()
        frame["registered"] = state.registered[cols].ravel()
    if net is not None:
        p = net["terminal_paths"]
        pos = np.searchsorted(series.t_utc, p["t_utc"])
        n_r = pos.size
        full_sat = np.full((n_time, k), -1, np.int64)
        full_gw = np.full((n_time, k), -1, np.int64)
        full_pop = np.full((n_time, k), -1, np.int64)
        full_hops = np.full((n_time, k), -1, np.int64)
        full_rtt = np.full((n_time, k), np.nan)
        full_floor = np.full((n_time, k), np.nan)
        full_path = np.full((n_time, k), None, dtype=object)
        if n_r:
            full_sat[pos] = p["path_sat"][:, cols]
            full_gw[pos] = p["gateway"][:, cols]
            full_pop[pos] = p["pop"][:, cols]
            full_hops[pos] = p["n_laser_hops"][:, cols]
            full_rtt[pos] = p["rtt_ms"][:, cols]
            full_floor[pos] = p["rtt_floor_ms"][:, cols]
            full_path[pos] = p["path"][:, cols]
        routed = np.zeros((n_time, k), bool)
        routed[pos] = True
        frame["routed"] = routed.T.ravel()
        gw = np.array([*net["gateway_names"], None], dtype=object)
        pops = np.array([*net["pop_names"], None], dtype=object)
        frame["path_norad_id"] = _norad(full_sat.T.ravel(), norad)
        frame["gateway"] = gw[full_gw.T.ravel()]
        frame["pop"] = pops[full_pop.T.ravel()]
        hops = full_hops.T.ravel()
        frame["n_laser_hops"] = pd.arrays.IntegerArray(np.maximum(hops, 0), hops < 0)
        frame["path"] = full_path.T.ravel()
        frame["rtt_ms"] = full_rtt.T.ravel()
        frame["rtt_floor_ms"] = full_floor.T.ravel()
    return frame
