"""The main job's outputs: per-cell and per-region tables, terminal series, maps and a report.

`build_tables` turns merged engine results into DataFrames (no I/O); `write_outputs` writes them
(Parquet + CSV, NetCDF, GeoJSON, PNG maps) and a Markdown report. Shares are fractions of the
window's time steps; region figures are area-weighted over the region's cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..engine import ChunkResult, RunContext
from ..ground.cells import cells_to_str
from ..policy import BLOCKED, SERVED, UNCOVERED
from .arrays import timeseries_dataset, write_netcdf
from .geojson import cells_feature_collection, write_geojson
from .maps import country_borders, plot_cell_map, plot_terminal_timeseries
from .tables import metrics_frame, timeseries_frame, write_table

__all__ = ["RunTables", "build_tables", "render_markdown", "write_outputs"]

_STATUS_NAMES = {SERVED: "served", BLOCKED: "covered_but_blocked", UNCOVERED: "uncovered"}


@dataclass
class RunTables:
    """The main job's tables (pandas DataFrames)."""

    cells: pd.DataFrame
    regions: pd.DataFrame
    terminals: pd.DataFrame
    terminal_summary: pd.DataFrame
    rules: pd.DataFrame
    regions_by_time: pd.DataFrame


def _shares(steps: np.ndarray) -> np.ndarray:
    total = steps.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return steps / np.where(total > 0, total, 1)


def build_tables(ctx: RunContext, result: ChunkResult) -> RunTables:
    """Per-cell, per-region and per-terminal tables from a merged run."""
    g = ctx.ground
    metrics = result.coverage.finalize()
    shares = _shares(result.status_steps.astype(np.float64))
    n_cell = g.n_cells
    last_rules = ctx.policy.rule_index_at(ctx.t_utc.size - 1)
    rule_names = np.array([*ctx.policy.rule_names, "default"], dtype=object)
    cells = metrics_frame(metrics.subset(np.arange(n_cell)), {
        "h3_cell": np.array(cells_to_str(g.cells), dtype=object) if n_cell else np.zeros(0),
        "resolution": g.resolution,
        "region": g.primary_region,
        "lat_deg": g.lat_deg[:n_cell],
        "lon_deg": g.lon_deg[:n_cell],
        "area_km2": g.area_km2,
    })
    for code, name in _STATUS_NAMES.items():
        cells[f"{name}_share"] = shares[code, :n_cell]
    cells["rule_at_end"] = rule_names[last_rules[:n_cell]]
    net = result.network
    if net is not None:
        for col, values in net.point_columns(ctx).items():  # type: ignore[attr-defined]
            cells[col] = values[:n_cell]

    rows = []
    for name in g.regions:
        idx = g.members[name]
        w = g.area_km2[idx]
        tot = float(w.sum())
        row: dict[str, Any] = {"region": name, "n_cells": int(idx.size), "area_km2": tot}
        for code, label in _STATUS_NAMES.items():
            row[f"{label}_share"] = float(np.sum(w * shares[code, idx]) / tot) if tot else np.nan
            row[f"{label}_km2"] = row[f"{label}_share"] * tot
        row["availability"] = float(np.sum(w * metrics.availability[idx]) / tot) if tot else np.nan
        row["mean_in_view"] = float(np.sum(w * metrics.mean_in_view[idx]) / tot) if tot else np.nan
        row["min_in_view"] = int(metrics.min_in_view[idx].min()) if idx.size else 0
        row["longest_gap_s"] = float(metrics.longest_gap_s[idx].max()) if idx.size else np.nan
        if net is not None:
            row.update(net.region_row(ctx, idx))  # type: ignore[attr-defined]
        rows.append(row)
    regions = pd.DataFrame(rows)

    term_idx = g.terminal_index
    if result.timeseries is not None and g.n_terminals:
        terminals = timeseries_frame(result.timeseries, g.terminal_names,
                                     ctx.constellation.norad_ids)
        status = result.terminal_status.T.ravel()
        terminals["status"] = pd.Categorical(
            [_STATUS_NAMES[int(s)] for s in status], categories=list(_STATUS_NAMES.values()))
        terminals["served"] = status == SERVED
        if net is not None:
            terminals = net.terminal_columns(ctx, terminals)  # type: ignore[attr-defined]
    else:
        terminals = pd.DataFrame(columns=["terminal", "t_utc", "n_visible",
                                          "best_elevation_deg", "serving_norad_id"])
    tsum = pd.DataFrame({
        "terminal": list(g.terminal_names),
        "lat_deg": g.lat_deg[term_idx],
        "lon_deg": g.lon_deg[term_idx],
        "h3_cell": cells_to_str(g.service_cells[term_idx]) if g.n_terminals else [],
        "served_share": shares[SERVED, term_idx],
        "blocked_share": shares[BLOCKED, term_idx],
        "uncovered_share": shares[UNCOVERED, term_idx],
        "availability": metrics.availability[term_idx],
        "mean_in_view": metrics.mean_in_view[term_idx],
        "min_in_view": metrics.min_in_view[term_idx],
        "max_in_view": metrics.max_in_view[term_idx],
        "serving_changes": metrics.serving_changes[term_idx],
        "rule_at_end": rule_names[last_rules[term_idx]] if g.n_terminals else [],
    })
    if net is not None and g.n_terminals:
        tsum = net.terminal_summary(ctx, tsum)  # type: ignore[attr-defined]
    rules = pd.DataFrame({"rule": list(ctx.policy.rule_names)})
    n_t, n_r = result.region_status_km2.shape[:2]
    by_time = pd.DataFrame({
        "region": np.repeat(np.asarray(g.regions, dtype=object), n_t),
        "t_utc": pd.DatetimeIndex(np.tile(result.t_utc, n_r)).tz_localize("UTC"),
    })
    for code, label in _STATUS_NAMES.items():
        by_time[f"{label}_km2"] = result.region_status_km2[:, :, code].T.ravel()
    return RunTables(cells, regions, terminals, tsum, rules, by_time)


def _fmt(x: Any, pct: bool = False, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    if pct:
        return f"{100 * float(x):.{digits}f} %"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    return f"{float(x):,.{digits}f}"


def _name(x: Any) -> str:
    """A name, or "-" for None / NaN."""
    return "-" if x is None or (isinstance(x, float) and x != x) else str(x)


def render_markdown(ctx: RunContext, tables: RunTables, files: list[Path],
                    policy_notes: list[tuple[str, str, str]] | None = None,
                    history: list[dict[str, str]] | None = None) -> str:
    """The run report as Markdown."""
    s = ctx.scenario
    t = ctx.t_utc
    lines = [
        f"# skyfence report: {s.name}",
        "",
        s.description,
        "",
        f"- window: {np.datetime_as_string(t[0], 's')}Z to {np.datetime_as_string(t[-1], 's')}Z,"
        f" {t.size:,} steps of {s.time.step}",
        f"- constellation: {s.constellation.source} ({len(ctx.constellation):,} satellites), "
        f"elevation mask {s.constellation.min_elevation_deg:g} deg"
        + (", GSO-arc exclusion 22 deg" if s.constellation.gso_exclusion else ""),
        f"- boundaries: Natural Earth, edition '{s.ground.edition}'",
        f"- ground: {ctx.ground.n_cells:,} H3 cells in {len(ctx.ground.regions)} regions, "
        f"{ctx.ground.n_terminals} terminals",
        "",
        "## Service per region",
        "",
        "Shares of area x time (area-weighted over the region's cells). *Served*: a satellite is"
        " in view above the mask and the policy allows service; *blocked*: covered but switched"
        " off by the policy; *uncovered*: no usable satellite.",
        "",
    ]
    has_rtt = "rtt_p50_ms" in tables.regions.columns
    head = "| region | cells | area km² | served | blocked | uncovered | mean in view |"
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    if has_rtt:
        head += " RTT p50 ms | RTT p95 ms | laser share |"
        sep += "---:|---:|---:|"
    lines += [head, sep]
    for _, r in tables.regions.iterrows():
        row = (f"| {r['region']} | {_fmt(r['n_cells'])} | {_fmt(r['area_km2'], digits=0)} | "
               f"{_fmt(r['served_share'], True)} | {_fmt(r['covered_but_blocked_share'], True)} | "
               f"{_fmt(r['uncovered_share'], True)} | {_fmt(r['mean_in_view'])} |")
        if has_rtt:
            row += (f" {_fmt(r.get('rtt_p50_ms'))} | {_fmt(r.get('rtt_p95_ms'))} | "
                    f"{_fmt(r.get('laser_path_share'), True)} |")
        lines.append(row)
    if len(tables.terminal_summary):
        lines += ["", "## Terminals", "",
                  "| terminal | cell | served | blocked | uncovered | mean in view | rule |"
                  + (" RTT p50 ms | gateway | PoP |" if "rtt_p50_ms" in tables.terminal_summary
                     else ""),
                  "|---|---|---:|---:|---:|---:|---|"
                  + ("---:|---|---|" if "rtt_p50_ms" in tables.terminal_summary else "")]
        for _, r in tables.terminal_summary.iterrows():
            row = (f"| {r['terminal']} | {r['h3_cell']} | {_fmt(r['served_share'], True)} | "
                   f"{_fmt(r['blocked_share'], True)} | {_fmt(r['uncovered_share'], True)} | "
                   f"{_fmt(r['mean_in_view'])} | {r['rule_at_end']} |")
            if "rtt_p50_ms" in tables.terminal_summary:
                row += (f" {_fmt(r.get('rtt_p50_ms'))} | {_name(r.get('main_gateway'))} | "
                        f"{_name(r.get('main_pop'))} |")
            lines.append(row)
    if policy_notes:
        lines += ["", "## Policy rules", "", "| rule | action | reason |", "|---|---|---|"]
        lines += [f"| {n} | {a} | {why} |" for n, a, why in policy_notes]
    if history:
        lines += ["", "## Requests and decisions", ""]
        for h in history:
            lines.append(f"- {h['at']}: **{h['by']}** asked to switch service {h['action']} "
                         f"over {h['region']}: {h['why']}")
            for d in h.get("decisions", []):
                lines.append(f"  - {d['at']}: {d['by']} — **{d['outcome']}**: {d['reason']}")
    if has_rtt:
        lines += ["", "## What the RTT does not model", "",
                  "RTT is twice the one-way propagation delay (light in vacuum over radio and "
                  "laser links, 2/3 c in fibre over great-circle x route factor) plus a fixed "
                  "per-hop processing time. Queueing, link capacity, the scheduler's frame "
                  "timing and the internet path beyond the PoP are not modelled, so measured "
                  "medians (e.g. Ukraine 33.0 ms, Dec 2025) sit above these floors."]
    lines += ["", "## Files", ""] + [f"- `{p.name}`" for p in files]
    return "\n".join(lines) + "\n"


def _clusters(ctx: RunContext) -> list[tuple[str, np.ndarray]]:
    """Groups of nearby focus regions (res >= 4) with every scenario cell in their frame."""
    g = ctx.ground
    focus = [n for n, rs in zip(g.regions, ctx.scenario.ground.regions, strict=True)
             if rs.resolution >= 4 and g.members[n].size]
    boxes = {}
    for n in focus:
        idx = g.members[n]
        boxes[n] = (g.lon_deg[idx].min(), g.lat_deg[idx].min(), g.lon_deg[idx].max(),
                    g.lat_deg[idx].max())
    groups: list[list[str]] = []
    for n in focus:
        b = boxes[n]
        joined = None
        for grp in groups:
            for m in grp:
                c = boxes[m]
                if (b[0] - 8 <= c[2] and c[0] - 8 <= b[2] and b[1] - 8 <= c[3]
                        and c[1] - 8 <= b[3]):
                    joined = grp
                    break
            if joined:
                break
        if joined is None:
            groups.append([n])
        else:
            joined.append(n)
    out = []
    n_cell = g.n_cells
    for grp in groups:
        x0 = min(boxes[n][0] for n in grp) - 3
        y0 = min(boxes[n][1] for n in grp) - 3
        x1 = max(boxes[n][2] for n in grp) + 3
        y1 = max(boxes[n][3] for n in grp) + 3
        lat, lon = g.lat_deg[:n_cell], g.lon_deg[:n_cell]
        sel = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        out.append(("-".join(grp[:3]).lower().replace(" ", "_"), sel))
    return out


def write_outputs(ctx: RunContext, result: ChunkResult, out_dir: str | Path, *,
                  maps: bool = True, netcdf: bool = True) -> tuple[RunTables, list[Path]]:
    """Write every output of a run under ``out_dir``; returns the tables and the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = build_tables(ctx, result)
    files: list[Path] = []
    for stem, frame in (("cells", tables.cells), ("regions", tables.regions),
                        ("terminals", tables.terminals),
                        ("regions_by_time", tables.regions_by_time),
                        ("terminal_summary", tables.terminal_summary)):
        files.append(write_table(frame, out / f"{stem}.parquet"))
        files.append(write_table(frame, out / f"{stem}.csv"))
    g = ctx.ground
    if g.n_cells:
        props = {c: tables.cells[c].to_numpy() for c in tables.cells.columns if c != "h3_cell"}
        files.append(write_geojson(cells_feature_collection(g.cells, props, metadata={
            "scenario": ctx.scenario.name,
            "window_utc": [str(ctx.t_utc[0]), str(ctx.t_utc[-1])]}), out / "cells.geojson"))
    if netcdf and result.timeseries is not None and g.n_terminals:
        ds = timeseries_dataset(result.timeseries, g.terminal_names, ctx.constellation.norad_ids,
                                lat_deg=g.lat_deg[g.terminal_index],
                                lon_deg=g.lon_deg[g.terminal_index],
                                attrs={"scenario": ctx.scenario.name})
        ds["status"] = (("time", "point"), result.terminal_status,
                        {"long_name": "service status: " + ", ".join(
                            f"{int(k)} {v.replace('_', ' ')}"
                            for k, v in sorted(_STATUS_NAMES.items()))})
        files.append(write_netcdf(ds, out / "terminals.nc"))
    if maps and g.n_cells:
        borders = country_borders(ctx.scenario.ground.edition)
        for tag, sel in _clusters(ctx):
            if sel.size == 0:
                continue
            files.append(plot_cell_map(
                g.cells[sel], tables.cells["served_share"].to_numpy()[sel],
                out / f"map_served_{tag}.png", borders=borders, cmap="RdYlGn", vmin=0, vmax=1,
                title=f"{ctx.scenario.name}: share of time served", label="served share"))
            files.append(plot_cell_map(
                g.cells[sel], tables.cells["mean_in_view"].to_numpy()[sel],
                out / f"map_in_view_{tag}.png", borders=borders, cmap="viridis",
                title=f"satellites in view >= {ctx.scenario.constellation.min_elevation_deg:g}"
                      " deg (mean)", label="satellites"))
            if "rtt_p50_ms" in tables.cells.columns:
                files.append(plot_cell_map(
                    g.cells[sel], tables.cells["rtt_p50_ms"].to_numpy(dtype=float)[sel],
                    out / f"map_rtt_{tag}.png", borders=borders, cmap="magma_r",
                    title="median RTT to home PoP (served cells)", label="RTT (ms)"))
    if maps and result.timeseries is not None and g.n_terminals:
        ts = result.timeseries
        series = {name: (ts.n_visible[:, k], ts.best_elevation_deg[:, k])
                  for k, name in enumerate(g.terminal_names)}
        files.append(plot_terminal_timeseries(
            ts.t_utc, series, out / "terminals.png", title="terminals: satellites in view",
            min_elevation_deg=ctx.scenario.constellation.min_elevation_deg))
    return tables, files
