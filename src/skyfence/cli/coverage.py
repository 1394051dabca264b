"""``skyfence coverage``: satellites in view, serving satellite and gaps over regions/terminals.

A thin shell: `coverage_to_dir` parses the options, builds the ground set, runs
`skyfence.coverage.compute_coverage` and writes the outputs; the typer command only calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from ..coverage import (
    DEFAULT_MEMORY_BUDGET_BYTES,
    GSO_EXCLUSION_USER_DEG,
    GroundIndex,
    HighestElevation,
    RandomUsable,
    ServingStrategy,
    compute_coverage,
    region_summary,
)
from ..errors import InputError
from ..timeutil import parse_duration, parse_time, time_grid
from ._progress import progress_bar

__all__ = ["CoverageFiles", "coverage_to_dir", "register"]

_STRATEGIES = ("highest", "random")


@dataclass
class CoverageFiles:
    """What `coverage_to_dir` wrote, and the summaries it printed."""

    files: list[Path] = field(default_factory=list)
    terminals: pd.DataFrame | None = None
    regions: pd.DataFrame | None = None


def _strategy(name: str, seed: int) -> ServingStrategy:
    key = name.strip().lower()
    if key == "highest":
        return HighestElevation()
    if key == "random":
        return RandomUsable(seed)
    raise InputError(f"unknown strategy {name!r}; choose one of {', '.join(_STRATEGIES)}",
                     "--strategy")


def coverage_to_dir(
    constellation: str,
    out: Path,
    *,
    terminals: Sequence[str] = (),
    regions: Sequence[str] = (),
    cells: Sequence[str] = (),
    resolution: int = 5,
    start: str = "2026-02-23T00:00:00Z",
    duration: str = "1h",
    step: str = "60s",
    min_elevation_deg: float = 25.0,
    gso_exclusion: bool = False,
    strategy: str = "highest",
    seed: int = 0,
    edition: str | None = None,
    memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_BYTES / 2**30,
    maps: bool = True,
    show_progress: bool = False,
) -> CoverageFiles:
    """Run coverage over terminals and/or regions and write tables, arrays, GeoJSON and maps.

    Files in ``out``: ``terminals.parquet`` (columns ``terminal, t_utc, n_visible,
    best_elevation_deg, serving_norad_id``), ``terminal_metrics.csv``, ``terminals.nc`` and
    ``terminals.png`` for terminals; ``cells.parquet``, ``cells.geojson``, ``regions.csv`` and
    ``map_availability.png`` / ``map_mean_in_view.png`` for regions; ``cells_timeseries.nc``
    for ``cells`` selected by H3 index.
    """
    from ..ground import (
        DEFAULT_EDITION,
        parse_terminals,
        region_cell_set,
        resolve_region,
        terminal_set,
    )
    from ..orbits import load_constellation
    from ..outputs import (
        cells_feature_collection,
        country_borders,
        metrics_frame,
        plot_cell_map,
        plot_terminal_timeseries,
        timeseries_dataset,
        timeseries_frame,
        write_geojson,
        write_netcdf,
        write_table,
    )

    if not terminals and not regions:
        raise InputError("nothing to compute: give at least one --terminal or --region",
                         "coverage")
    if cells and not regions:
        raise InputError("--cell selects cells of the --region sets; give a --region too",
                         "--cell")
    if not (0.0 <= min_elevation_deg < 90.0):
        raise InputError(f"elevation mask must be within [0, 90) deg, got {min_elevation_deg}",
                         "--min-elevation")
    step_s = parse_duration(step, "--step")
    if step_s <= 0.0:
        raise InputError(f"step must be > 0 s, got {step!r}", "--step")
    t0 = parse_time(start, "--start")
    t = time_grid(t0, parse_duration(duration, "--duration"), step_s)
    chooser = _strategy(strategy, seed)
    if not (memory_budget_gib > 0):
        raise InputError(f"memory budget must be > 0 GiB, got {memory_budget_gib}",
                         "--memory-budget")
    const = load_constellation(constellation, epoch=t0)

    # ---- ground: terminals first, then region cells
    term = terminal_set(parse_terminals(terminals)) if terminals else None
    cellset = None
    if regions:
        regs = [resolve_region(r, edition=edition or DEFAULT_EDITION) for r in regions]
        cellset = region_cell_set(regs, resolution)
    parts_r = [x.r_itrs_km for x in (term, cellset) if x is not None]
    parts_up = [x.up for x in (term, cellset) if x is not None]
    n_term = len(term) if term is not None else 0
    ground = GroundIndex(
        np.concatenate(parts_r), np.concatenate(parts_up),
        gso_exclusion_deg=GSO_EXCLUSION_USER_DEG if gso_exclusion else None,
    )
    series_idx = list(range(n_term))
    series_cells: np.ndarray = np.zeros(0, np.int64)
    if cells:
        from ..ground import parse_cells

        wanted, _ = parse_cells(list(cells), "--cell")
        pos = cellset.index_of(wanted) if cellset is not None else np.full(wanted.size, -1)
        if (pos < 0).any():
            from ..ground import cells_to_str

            missing = cells_to_str(wanted[pos < 0][:1])[0]
            raise InputError(f"cell {missing} is not in the region cells at resolution "
                             f"{resolution}", "--cell")
        series_cells = pos
        series_idx += (n_term + pos).tolist()

    # ---- run
    with progress_bar(show_progress) as bar:
        task = bar.add_task("coverage", total=int(t.size))
        result = compute_coverage(
            const, ground, t, min_elevation_deg=min_elevation_deg, gso=gso_exclusion,
            strategy=chooser, timeseries_points=series_idx if series_idx else None,
            memory_budget_bytes=int(memory_budget_gib * 2**30),
            progress=lambda done, total: bar.update(task, completed=done),
        )

    # ---- write
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = CoverageFiles()
    metrics = result.metrics
    ts = result.timeseries
    attrs = {
        "constellation": const.name or str(constellation),
        "min_elevation_deg": float(min_elevation_deg),
        "gso_exclusion": int(gso_exclusion),
        "strategy": strategy,
    }
    if term is not None and ts is not None:
        sub = _take(ts, np.arange(n_term))
        report.files.append(write_table(
            timeseries_frame(sub, term.names, const.norad_ids), out / "terminals.parquet"))
        ds = timeseries_dataset(sub, term.names, const.norad_ids, lat_deg=term.lat_deg,
                                lon_deg=term.lon_deg, attrs=attrs)
        report.files.append(write_netcdf(ds, out / "terminals.nc"))
        tm = metrics_frame(metrics.subset(np.arange(n_term)), {
            "terminal": np.asarray(term.names, dtype=object), "lat_deg": term.lat_deg,
            "lon_deg": term.lon_deg,
        })
        report.files.append(write_table(tm, out / "terminal_metrics.csv"))
        report.terminals = tm
        if maps:
            report.files.append(plot_terminal_timeseries(
                sub.t_utc,
                {name: (sub.n_visible[:, i], sub.best_elevation_deg[:, i])
                 for i, name in enumerate(term.names)},
                out / "terminals.png", title=f"{attrs['constellation']}: terminals",
                min_elevation_deg=min_elevation_deg))
    if cellset is not None:
        cm = metrics.subset(n_term + np.arange(len(cellset)))
        hexes = cellset.cell_strings
        frame = metrics_frame(cm, {
            "h3_cell": np.asarray(hexes, dtype=object),
            "region": cellset.region,
            "lat_deg": cellset.lat_deg,
            "lon_deg": cellset.lon_deg,
            "area_km2": cellset.area_km2,
        })
        report.files.append(write_table(frame, out / "cells.parquet"))
        props = {c: getattr(cm, c) for c in cm.COLUMNS}
        props["region"] = cellset.region
        fc = cells_feature_collection(cellset.cells, props, metadata={
            "t_start_utc": str(metrics.t_start_utc), "t_end_utc": str(metrics.t_end_utc),
            "step_s": metrics.step_s, **attrs})
        report.files.append(write_geojson(fc, out / "cells.geojson"))
        summary = region_summary(cm, cellset.area_km2, cellset.region)
        report.files.append(write_table(summary, out / "regions.csv"))
        report.regions = summary
        if series_cells.size and ts is not None:
            sub = _take(ts, n_term + np.arange(series_cells.size))
            names = [hexes[i] for i in series_cells]
            ds = timeseries_dataset(sub, names, const.norad_ids,
                                    lat_deg=cellset.lat_deg[series_cells],
                                    lon_deg=cellset.lon_deg[series_cells], attrs=attrs)
            report.files.append(write_netcdf(ds, out / "cells_timeseries.nc"))
        if maps:
            borders = country_borders(edition)
            window = f"{str(metrics.t_start_utc)[:16]}Z +{(t.size - 1) * step_s / 3600:g} h"
            report.files.append(plot_cell_map(
                cellset.cells, cm.availability * 100.0, out / "map_availability.png",
                title=f"Availability, >= {min_elevation_deg:g} deg, {window}",
                label="time with a usable satellite (%)", vmin=0.0, vmax=100.0,
                cmap="RdYlGn", borders=borders))
            report.files.append(plot_cell_map(
                cellset.cells, cm.mean_in_view, out / "map_mean_in_view.png",
                title=f"Mean satellites in view, >= {min_elevation_deg:g} deg, {window}",
                label="usable satellites (mean)", borders=borders))
    return report


def _take(ts, columns: np.ndarray):
    from ..coverage import TimeSeries

    return TimeSeries(ts.t_utc, ts.point[columns], ts.n_visible[:, columns],
                      ts.best_elevation_deg[:, columns], ts.serving_sat[:, columns])


def register(app: typer.Typer) -> None:
    """Add the ``coverage`` command to ``app``."""

    @app.command("coverage")
    def coverage_cmd(
        constellation: Annotated[str, typer.Option(
            "--constellation", "-c", help="Element file (TLE/3LE/OMM) or preset name, e.g. "
            "starlink-gen1.")],
        out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
            "coverage-out"),
        terminal: Annotated[list[str] | None, typer.Option(
            "--terminal", help="NAME=LAT,LON[,ALT_M] (repeatable).")] = None,
        region: Annotated[list[str] | None, typer.Option(
            "--region", help="Country name or code, built-in area (Crimea) or region file "
            "(repeatable).")] = None,
        cell: Annotated[list[str] | None, typer.Option(
            "--cell", help="H3 cell of a region whose time series to keep (repeatable).")] = None,
        resolution: Annotated[int, typer.Option(help="H3 resolution of region cells.")] = 5,
        start: Annotated[str, typer.Option(help="Start time, ISO 8601 UTC.")] = (
            "2026-02-23T00:00:00Z"),
        duration: Annotated[str, typer.Option(help="Window length, e.g. 10m, 6h, 1d.")] = "1h",
        step: Annotated[str, typer.Option(help="Time step, e.g. 60s.")] = "60s",
        min_elevation: Annotated[float, typer.Option(
            "--min-elevation", help="Elevation mask, deg, in [0, 90).")] = 25.0,
        gso_exclusion: Annotated[bool, typer.Option(
            "--gso-exclusion/--no-gso-exclusion",
            help="Keep links 22 deg from the geostationary arc.")] = False,
        strategy: Annotated[str, typer.Option(
            help="Serving satellite: highest (elevation) or random (seeded).")] = "highest",
        seed: Annotated[int, typer.Option(help="Seed of the random strategy.")] = 0,
        edition: Annotated[str | None, typer.Option(
            help="Natural Earth edition of country boundaries (deu or default).")] = None,
        memory_budget: Annotated[float, typer.Option(
            "--memory-budget", help="Memory budget for time series, GiB.")] = 2.0,
        no_maps: Annotated[bool, typer.Option("--no-maps", help="Skip PNG output.")] = False,
    ) -> None:
        """Satellites in view, serving satellite and gaps for terminals and region cells."""
        report = coverage_to_dir(
            constellation, out, terminals=terminal or (), regions=region or (),
            cells=cell or (), resolution=resolution, start=start, duration=duration,
            step=step, min_elevation_deg=min_elevation, gso_exclusion=gso_exclusion,
            strategy=strategy, seed=seed, edition=edition, memory_budget_gib=memory_budget,
            maps=not no_maps, show_progress=True,
        )
        if report.terminals is not None:
            for row in report.terminals.itertuples():
                typer.echo(f"{row.terminal}: {row.mean_in_view:.1f} satellites in view on "
                           f"average (min {row.min_in_view}, max {row.max_in_view}), "
                           f"available {100 * row.availability:.1f}%")
        if report.regions is not None:
            for name, row in report.regions.iterrows():
                typer.echo(f"{name}: {int(row['n_cells'])} cells, availability "
                           f"{100 * row['availability']:.1f}% (area-weighted), "
                           f"{row['mean_in_view']:.1f} satellites in view on average")
        for p in report.files:
            typer.echo(f"wrote {p}")
