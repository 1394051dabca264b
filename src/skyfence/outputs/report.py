"""A run's files: tables, CF NetCDF series, GeoJSON, PNG maps and a Markdown report.

`write_run` takes a `skyfence.results.RunTables` (plain DataFrames and metadata) and writes
every output with one writer per table and the project's one column vocabulary; it knows
nothing of the engine. Cell outlines are computed once and shared by the GeoJSON and the maps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..fsio import atomic_write_text
from ..ground import cells_to_polygons
from ..results import RunTables
from .arrays import series_dataset, write_netcdf
from .geojson import cells_feature_collection, write_geojson
from .maps import country_borders, plot_cell_map, plot_terminal_timeseries
from .tables import write_table

__all__ = ["WrittenRun", "render_markdown", "write_run"]

#: Tables written when present and non-empty (name -> file stem).
_TABLES = ("cells", "regions", "regions_by_time", "terminals", "terminal_summary",
           "cells_timeseries", "gateway_load", "rtt_by_time", "whatif_regions",
           "whatif_terminals", "outages", "capacity_by_time", "satellite_load",
           "gateway_capacity", "capacity_whatif_regions", "capacity_outage_regions")


class WrittenRun:
    """What `write_run` wrote: the files in order and the seconds per output kind."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.seconds: dict[str, float] = {}

    def add(self, kind: str, seconds: float, *paths: Path) -> None:
        self.files.extend(paths)
        self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds


def _fmt(x: Any, pct: bool = False, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or x is pd.NA:
        return "-"
    if pct:
        return f"{100 * float(x):.{digits}f} %"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    return f"{float(x):,.{digits}f}"


def _name(x: Any) -> str:
    """A name, or "-" for None / NaN."""
    if x is None or x is pd.NA or (isinstance(x, float) and x != x):
        return "-"
    return str(x)


def _clusters(cells: pd.DataFrame, focus: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """Groups of nearby focus regions with every cell in their frame (for the maps)."""
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for n in focus:
        sel = cells["region"].to_numpy() == n
        if not sel.any():
            continue
        lon, lat = cells["lon_deg"].to_numpy()[sel], cells["lat_deg"].to_numpy()[sel]
        boxes[n] = (lon.min(), lat.min(), lon.max(), lat.max())
    groups: list[list[str]] = []
    for n, b in boxes.items():
        joined = None
        for grp in groups:
            if any(b[0] - 8 <= boxes[m][2] and boxes[m][0] - 8 <= b[2]
                   and b[1] - 8 <= boxes[m][3] and boxes[m][1] - 8 <= b[3] for m in grp):
                joined = grp
                break
        if joined is None:
            groups.append([n])
        else:
            joined.append(n)
    out = []
    lat, lon = cells["lat_deg"].to_numpy(), cells["lon_deg"].to_numpy()
    for grp in groups:
        x0 = min(boxes[n][0] for n in grp) - 3
        y0 = min(boxes[n][1] for n in grp) - 3
        x1 = max(boxes[n][2] for n in grp) + 3
        y1 = max(boxes[n][3] for n in grp) + 3
        sel = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        out.append(("-".join(grp[:3]).lower().replace(" ", "_"), sel))
    return out


def _cell_ids(hexes: pd.Series) -> np.ndarray:
    """uint64 H3 indexes of hex strings (any mix of resolutions; the engine's own cells)."""
    return np.fromiter((int(h, 16) for h in hexes), dtype=np.uint64, count=len(hexes))


def _capacity_layers(cells: pd.DataFrame, meta: dict[str, Any]
                     ) -> list[tuple[str, str, str, float | None, float | None, str, str]]:
    """Map layers of the capacity stage: busy-hour Mbps per subscriber, sold-out share and,
    with a what-if, the change in carried traffic (symmetric scale, gains blue)."""
    if "mbps_per_subscriber" not in cells.columns or not np.isfinite(
            cells["mbps_per_subscriber"].to_numpy(dtype=float)).any():
        return []
    cap = meta.get("capacity") or {}
    busy = cap.get("busy_hours_local", [20, 23])
    hours = f"{busy[0]:g}-{busy[1]:g} h local"
    out: list[tuple[str, str, str, float | None, float | None, str, str]] = [
        ("mbps_per_subscriber", "map_capacity", "viridis", 0.0, None,
         f"busy hour ({hours}): carried Mbps per subscriber", "Mbps per subscriber"),
        ("sold_out_share", "map_sold_out", "Reds", 0.0, 1.0,
         f"busy hour ({hours}): share of served steps sold out", "sold-out share"),
    ]
    if "carried_change_mbps" in cells.columns:
        v = cells["carried_change_mbps"].to_numpy(dtype=float)
        top = float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else 1.0
        top = top if top > 0 else 1.0
        what = ", ".join([*(f"{r} on" for r in cap.get("whatif_on") or []),
                          *(f"{r} off" for r in cap.get("whatif_off") or [])]
                         + ([f"policy {cap['whatif_policy']}"] if cap.get("whatif_policy")
                            else []))
        out.append(("carried_change_mbps", "map_whatif_capacity", "RdBu", -top, top,
                    f"what if {what}: change in busy-hour carried Mbps", "Mbps"))
    if "carried_lost_mbps" in cells.columns:
        v = cells["carried_lost_mbps"].to_numpy(dtype=float)
        top = float(np.nanmax(v)) if np.isfinite(v).any() and np.nanmax(v) > 0 else 1.0
        out.append(("carried_lost_mbps", "map_outage_capacity", "Reds", 0.0, top,
                    "what if: busy-hour carried Mbps lost to the outages", "Mbps"))
    return out


def write_run(
    tables: RunTables,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("parquet", "csv"),
    maps: bool = True,
    netcdf: bool = True,
    report: bool = True,
    phase: Callable[[str], None] | None = None,
) -> WrittenRun:
    """Write every output of a run under ``out_dir`` (see the README's list of outputs)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a directory", str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output directory: {exc.strerror or exc}",
                         str(out)) from None
    say = phase or (lambda _n: None)
    done = WrittenRun()
    meta = tables.metadata
    all_tables = tables.tables()
    say("writing tables")
    t0 = time.perf_counter()
    for stem in _TABLES:
        frame = all_tables.get(stem)
        if frame is None or (stem not in ("cells", "regions", "terminal_summary")
                             and frame.empty):
            continue
        if stem == "cells" and frame.empty:
            continue
        for fmt in formats:
            done.files.append(write_table(frame, out / f"{stem}.{fmt}"))
    done.add("tables", time.perf_counter() - t0)
    if netcdf:
        say("writing NetCDF")
        t0 = time.perf_counter()
        attrs = {"scenario": str(meta.get("scenario", "")),
                 "constellation": str(meta.get("constellation", "")),
                 "policy": str(meta.get("policy", "")),
                 "min_elevation_deg": float(meta.get("min_elevation_deg", np.nan))}
        if not tables.terminals.empty:
            ds = series_dataset(tables.terminals, tables.terminal_summary, attrs=attrs)
            done.files.append(write_netcdf(ds, out / "terminals.nc"))
        ts = all_tables.get("cells_timeseries")
        if ts is not None and not ts.empty:
            cells = tables.cells.set_index("h3_cell")
            names = list(dict.fromkeys(ts["h3_cell"]))
            st = pd.DataFrame({"h3_cell": names,
                               "lat_deg": cells.loc[names, "lat_deg"].to_numpy(),
                               "lon_deg": cells.loc[names, "lon_deg"].to_numpy()})
            ds = series_dataset(ts, st, name_column="h3_cell", attrs=attrs)
            done.files.append(write_netcdf(ds, out / "cells_timeseries.nc"))
        done.add("netcdf", time.perf_counter() - t0)
    cells = tables.cells
    polys = ids = None
    if not cells.empty:
        say("writing GeoJSON")
        t0 = time.perf_counter()
        ids = _cell_ids(cells["h3_cell"])
        polys = cells_to_polygons(ids)
        props = {c: cells[c].to_numpy() for c in cells.columns if c != "h3_cell"}
        fc = cells_feature_collection(ids, props, polygons=polys, metadata={
            "scenario": meta.get("scenario"),
            "window_utc": [meta.get("t_start_utc"), meta.get("t_end_utc")]})
        done.add("geojson", time.perf_counter() - t0, write_geojson(fc, out / "cells.geojson"))
    if maps and polys is not None and ids is not None:
        say("drawing maps")
        t0 = time.perf_counter()
        borders = country_borders(meta.get("edition"))
        layers = [("served_share", "map_served", "RdYlGn", 0.0, 1.0,
                   "share of time served", "served share"),
                  ("mean_in_view", "map_in_view", "viridis", None, None,
                   f"satellites in view >= {meta.get('min_elevation_deg', 25):g} deg (mean)",
                   "satellites")]
        if "rtt_p50_ms" in cells.columns:
            layers.append(("rtt_p50_ms", "map_rtt", "magma_r", None, None,
                           "median RTT to the home PoP (served cells)", "RTT (ms)"))
        if "rtt_change_mean_ms" in cells.columns:
            layers.append(("rtt_change_mean_ms", "map_whatif_rtt", "Reds", 0.0, None,
                           "what if: RTT added by the outages (mean)", "RTT change (ms)"))
            layers.append(("routed_share_change", "map_whatif_routed", "RdBu", -1.0, 1.0,
                           "what if: change in routed share", "routed share change"))
        layers += _capacity_layers(cells, meta)
        for tag, sel in _clusters(cells, meta.get("focus_regions", [])):
            if sel.size == 0:
                continue
            for col, stem, cmap, lo, hi, title, label in layers:
                done.files.append(plot_cell_map(
                    ids[sel], cells[col].to_numpy(dtype=float)[sel], out / f"{stem}_{tag}.png",
                    borders=borders, cmap=cmap, vmin=lo, vmax=hi, polygons=polys[sel],
                    title=f"{meta.get('scenario', '')}: {title}", label=label))
        done.add("maps", time.perf_counter() - t0)
    term = tables.terminals
    if maps and not term.empty:
        t0 = time.perf_counter()
        series = {}
        t = np.zeros(0, "datetime64[ns]")
        for n in dict.fromkeys(term["terminal"]):
            sub = term[term["terminal"] == n]
            t = pd.DatetimeIndex(sub["t_utc"]).tz_convert(None).to_numpy("datetime64[ns]")
            series[str(n)] = (sub["n_visible"].to_numpy(float),
                              sub["best_elevation_deg"].to_numpy(float))
        done.add("maps", time.perf_counter() - t0, plot_terminal_timeseries(
            t, series, out / "terminals.png", title="terminals: satellites in view",
            min_elevation_deg=meta.get("min_elevation_deg")))
    if report:
        path = out / "report.md"
        done.files.append(path)
        atomic_write_text(path, render_markdown(tables, done.files, done.seconds), str(path))
    return done


def render_markdown(tables: RunTables, files: Sequence[Path],
                    write_seconds: dict[str, float] | None = None) -> str:
    """The run report as Markdown (service per region, terminals, policy, timing, files)."""
    meta = tables.metadata
    lines = [
        f"# skyfence report: {meta.get('scenario', '')}",
        "",
        str(meta.get("description", "")),
        "",
        f"- window: {meta.get('t_start_utc')} to {meta.get('t_end_utc')}, "
        f"{meta.get('n_steps', 0):,} steps of {meta.get('step')}",
        f"- constellation: {meta.get('constellation')} ({meta.get('n_satellites', 0):,} "
        f"satellites), elevation mask {meta.get('min_elevation_deg', 25):g} deg"
        + (", GSO-arc exclusion 22 deg" if meta.get("gso_exclusion") else ""),
        f"- boundaries: Natural Earth, edition '{meta.get('edition')}'",
        f"- ground: {meta.get('n_cells', 0):,} H3 cells in {meta.get('n_regions', 0)} regions, "
        f"{meta.get('n_terminals', 0)} terminals",
        f"- policy: {meta.get('policy')} ({meta.get('policy_source')})",
        "",
        "## Service per region",
        "",
        "Shares of area x time (area-weighted over the region's cells). *Served*: a satellite is"
        " in view above the mask and the policy allows service; *blocked*: covered but switched"
        " off by the policy; *uncovered*: no usable satellite.",
        "",
    ]
    regions = tables.regions
    has_rtt = "rtt_p50_ms" in regions.columns
    head = "| region | cells | area km² | served | blocked | uncovered | mean in view |"
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    if has_rtt:
        head += " RTT p50 ms | RTT p95 ms | laser share |"
        sep += "---:|---:|---:|"
    lines += [head, sep]
    for _, r in regions.iterrows():
        row = (f"| {r['region']} | {_fmt(r['n_cells'])} | {_fmt(r['area_km2'], digits=0)} | "
               f"{_fmt(r['served_share'], True)} | {_fmt(r['blocked_share'], True)} | "
               f"{_fmt(r['uncovered_share'], True)} | {_fmt(r['mean_in_view'])} |")
        if has_rtt:
            row += (f" {_fmt(r.get('rtt_p50_ms'), digits=2)} | "
                    f"{_fmt(r.get('rtt_p95_ms'), digits=2)} | "
                    f"{_fmt(r.get('laser_path_share'), True)} |")
        lines.append(row)
    tsum = tables.terminal_summary
    if len(tsum):
        net = "rtt_p50_ms" in tsum.columns
        lines += ["", "## Terminals", "",
                  "| terminal | cell | served | blocked | uncovered | mean in view | rule |"
                  + (" RTT p50 ms | gateway | PoP |" if net else ""),
                  "|---|---|---:|---:|---:|---:|---|" + ("---:|---|---|" if net else "")]
        for _, r in tsum.iterrows():
            row = (f"| {r['terminal']} | {r['h3_cell']} | {_fmt(r['served_share'], True)} | "
                   f"{_fmt(r['blocked_share'], True)} | {_fmt(r['uncovered_share'], True)} | "
                   f"{_fmt(r['mean_in_view'])} | {r['rule_at_end']} |")
            if net:
                row += (f" {_fmt(r.get('rtt_p50_ms'), digits=2)} | "
                        f"{_name(r.get('main_gateway'))} | {_name(r.get('main_pop'))} |")
            lines.append(row)
    wr = tables.extra.get("whatif_regions")
    if wr is not None and len(wr):
        outages = tables.extra.get("outages")
        sites = ", ".join(outages["site"]) if outages is not None and len(outages) else "-"
        lines += ["", f"## What if: {sites} down", "",
                  "Routed share and median RTT with the scenario's outages against every site "
                  "up, same satellites and policy.", "",
                  "| region | routed (all up) | routed (outage) | RTT p50 (all up) | "
                  "RTT p50 (outage) | cells losing service |",
                  "|---|---:|---:|---:|---:|---:|"]
        for _, r in wr.iterrows():
            lines.append(
                f"| {r['region']} | {_fmt(r['baseline_routed_share'], True)} | "
                f"{_fmt(r['outage_routed_share'], True)} | "
                f"{_fmt(r['baseline_rtt_p50_ms'], digits=2)} | "
                f"{_fmt(r['outage_rtt_p50_ms'], digits=2)} | {_fmt(r['cells_losing_service'])} |")
    lines += _capacity_markdown(tables)
    notes = meta.get("policy_notes") or []
    if notes:
        lines += ["", "## Policy rules", "", "| rule | action | reason |", "|---|---|---|"]
        lines += [f"| {n} | {a} | {why} |" for n, a, why in notes]
    history = meta.get("history") or []
    if history:
        lines += ["", "## Requests and decisions", ""]
        for h in history:
            lines.append(f"- {h['at']}: **{h['by']}** requested *{h['action']}* for "
                         f"{h['region']}: {h['why']}")
            for d in h.get("decisions", []):
                lines.append(f"  - {d['at']}: {d['by']} — **{d['outcome']}**: {d['reason']}")
    if has_rtt:
        lines += ["", "## What the RTT does not model", "",
                  "`rtt_floor_ms` is twice the one-way propagation delay (light in vacuum over "
                  "radio and laser links, 2/3 c in fibre over great-circle x route factor); "
                  "`rtt_ms` adds the per-hop processing time. Queueing, link capacity and the "
                  "internet path beyond the PoP are not modelled, so measured medians (e.g. "
                  "Ukraine 33.0 ms, Dec 2025) sit above these figures."]
    for note in meta.get("notes") or []:
        lines += ["", f"> Note: {note}"]
    timings = dict(meta.get("timings_s") or {})
    timings.update({f"write {k}": v for k, v in (write_seconds or {}).items()})
    if timings:
        lines += ["", "## Time per phase", "", "| phase | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in timings.items()]
    lines += ["", "## Files", ""] + [f"- `{Path(p).name}`" for p in files]
    return "\n".join(lines) + "\n"


def _gbps(x: Any) -> str:
    return _fmt(None if x is None else float(x) / 1000.0, digits=1)


def _capacity_markdown(tables: RunTables) -> list[str]:
    """The report's capacity sections (busy hour per region, what-ifs, supply)."""
    cap = tables.metadata.get("capacity")
    regions = tables.regions
    if not cap or "mbps_per_subscriber" not in regions.columns:
        return []
    busy = cap.get("busy_hours_local", [20, 23])
    lines = [
        "", "## Capacity at busy hour", "",
        f"Offered traffic is a **proxy**: people per cell ({cap.get('population_source')}) x "
        f"take rate (default {cap.get('take_rate', 0):g} subscribers per person; public "
        f"counts: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in (cap.get("subscribers") or {}).items())
        + f") x {cap.get('busy_mbps_per_subscriber', 0):.2f} Mbps per subscriber at the busy "
        f"hour ({cap.get('monthly_gb_per_subscriber', 0):g} GB per month and the "
        f"{cap.get('profile')} profile)"
        + (f"; demand file {cap['demand_file']} where it sets cells" if cap.get("demand_file")
           else "")
        + f". Busy hour: {busy[0]:g}-{busy[1]:g} h local mean solar time; values are "
        "busy-hour means (regions: sums over their cells). Allocation: "
        f"**{cap.get('rule')}** per step over each satellite's beams and capacity and each "
        "gateway's feeders. *Sold out*: share of subscriber-steps served at busy hour below "
        f"{100 * cap.get('sold_out_satisfaction', 0.99):.0f} % of their offered traffic. "
        "*Headroom*: what one more saturating user of a cell could add (subscriber-weighted "
        "median), the model's counterpart of a speed test.", "",
        "| region | subscribers | offered Gbps | carried Gbps | Mbps per subscriber | "
        "oversubscription | sold out | headroom p50 Mbps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in regions.iterrows():
        lines.append(
            f"| {r['region']} | {_fmt(r.get('subscribers'), digits=0)} | "
            f"{_gbps(r.get('demand_mbps'))} | {_gbps(r.get('carried_mbps'))} | "
            f"{_fmt(r.get('mbps_per_subscriber'), digits=2)} | "
            f"{_fmt(r.get('oversubscription'), digits=2)} | "
            f"{_fmt(r.get('sold_out_share'), True)} | "
            f"{_fmt(r.get('headroom_p50_mbps'), digits=0)} |")
    wr = tables.extra.get("capacity_whatif_regions")
    if wr is not None and len(wr):
        what = ", ".join([*(f"{r} switched on" for r in cap.get("whatif_on") or []),
                          *(f"{r} switched off" for r in cap.get("whatif_off") or [])]
                         + ([f"policy {cap['whatif_policy']}"] if cap.get("whatif_policy")
                            else []))
        lines += ["", f"## What if: {what} (capacity)", "",
                  "The same satellites, demand and rule with the what-if's service area: the "
                  "capacity its users would get and what the others lose (busy-hour means).",
                  "",
                  "| region | carried Gbps | what-if Gbps | change Gbps | Mbps per subscriber "
                  "| what-if Mbps per subscriber | sold out | what-if sold out |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for _, r in wr.iterrows():
            lines.append(
                f"| {r['region']} | {_gbps(r['carried_mbps'])} | "
                f"{_gbps(r['whatif_carried_mbps'])} | {_gbps(r['carried_change_mbps'])} | "
                f"{_fmt(r['mbps_per_subscriber'], digits=2)} | "
                f"{_fmt(r['whatif_mbps_per_subscriber'], digits=2)} | "
                f"{_fmt(r['sold_out_share'], True)} | {_fmt(r['whatif_sold_out_share'], True)} |")
    orr = tables.extra.get("capacity_outage_regions")
    if orr is not None and len(orr):
        lines += ["", f"## What if: {', '.join(cap.get('outages') or [])} down (capacity)", "",
                  "Busy-hour carried traffic with every gateway up and with the scenario's "
                  "gateway outages (satellites land at the remaining gateways, over lasers "
                  "where enabled).", "",
                  "| region | carried Gbps (all up) | carried Gbps (outage) | lost Gbps |",
                  "|---|---:|---:|---:|"]
        for _, r in orr.iterrows():
            lines.append(f"| {r['region']} | {_gbps(r['all_up_carried_mbps'])} | "
                         f"{_gbps(r['carried_mbps'])} | {_gbps(r['carried_lost_mbps'])} |")
    gens = cap.get("generations") or {}
    counts = cap.get("satellites_by_generation") or {}
    link = cap.get("link") or {}
    lines += ["", "### Supply", "",
              "| generation | satellites | Gbps per satellite | beams | cells per beam | "
              "source |", "|---|---:|---:|---:|---:|---|"]
    for name, g in gens.items():
        lines.append(f"| {name} | {counts.get(name, 0):,} | {g['capacity_gbps']:g} | "
                     f"{g['beams']} | {g['cells_per_beam']} | {g['source']} |")
    lines += ["", f"User beams: {link.get('channel_mhz', 0):g} MHz Ku channels, spectral "
              f"efficiency from the {link.get('model')} table at the link's Es/N0 (zenith "
              f"{link.get('esn0_zenith_db', 0):g} dB, margin "
              f"{link.get('implementation_margin_db', 0):g} dB): "
              f"{link.get('beam_mbps_zenith', 0):,.0f} Mbps per beam at zenith, "
              f"{link.get('beam_mbps_25deg', 0):,.0f} Mbps at 25 deg. Gateways: "
              f"{cap.get('feeder_gbps_per_antenna', 0):g} Gbps per antenna, "
              f"{cap.get('gateway_antennas_default')} antennas where the site file gives none.",
              "", "Not modelled: the uplink, interference between beams and satellites "
              "(frequency reuse is folded into the beam count), rain fades beyond the fixed "
              "margin, the operator's real scheduler and beam plans; take rates are uniform "
              "within a country."]
    gw = tables.extra.get("gateway_capacity")
    if gw is not None and len(gw):
        lines += ["", "| gateway | antennas | capacity Gbps | mean Gbps | peak Gbps | "
                  "saturated |", "|---|---:|---:|---:|---:|---:|"]
        for _, r in gw.iterrows():
            lines.append(f"| {r['gateway']} | {int(r['antennas'])} | {_gbps(r['capacity_mbps'])} "
                         f"| {_gbps(r['carried_mean_mbps'])} | {_gbps(r['carried_max_mbps'])} | "
                         f"{_fmt(r['saturated_share'], True)} |")
    return lines
