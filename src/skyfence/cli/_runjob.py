"""Shared by ``run``, ``coverage`` and ``network``: run a scenario, write it, print a summary.

Each of the three commands only turns its flags into a `Scenario`; this module runs the one
engine on it with progress for every phase (loading, ground, policy, simulation, writing),
writes the outputs with `skyfence.outputs.write_run` and prints the per-region and
per-terminal summaries.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..results import RunTables
from ..scenario import Scenario

__all__ = ["execute", "phase_progress", "print_summary"]


class _Phases:
    """One progress line per phase (spinner), a bar for the simulation."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.task: Any = None
        self.name = ""
        self.t0 = time.perf_counter()

    def phase(self, name: str) -> None:
        if self.progress is None:
            return
        if self.task is not None:
            self.progress.update(self.task, completed=1, total=1,
                                 description=f"{self.name} [dim]done[/dim]")
        self.name = name
        total = None
        self.task = self.progress.add_task(name, total=total)

    def steps(self, done: int, total: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=1, total=1,
                                 description=f"{self.name} [dim]done[/dim]")


@contextmanager
def phase_progress(quiet: bool) -> Iterator[_Phases]:
    """One progress line per phase (``.phase(name)``) and a bar for the steps
    (``.steps(done, total)``) on stderr; silent when ``quiet`` or stderr is not a terminal."""
    console = Console(stderr=True)
    if quiet or not sys.stderr.isatty():
        yield _Phases(None)
        return
    with Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                  BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as bar:
        ph = _Phases(bar)
        yield ph
        ph.close()


def execute(scenario: Scenario, out_dir: Path, *, quiet: bool = False,
            profile: bool = False, maps: bool | None = None) -> tuple[RunTables, list[Path]]:
    """Run ``scenario`` through the engine and write its outputs under ``out_dir``."""
    from ..engine import default_stages, finalize, prepare, simulate
    from ..outputs import write_run

    err = Console(stderr=True)
    if not quiet:
        err.print(f"[bold]skyfence[/bold]: scenario [cyan]{scenario.name}[/cyan]")
    with phase_progress(quiet) as ph:
        czml = scenario.outputs.czml
        names = default_stages(scenario)
        if czml and scenario.ground.regions and "cell_series" not in names:
            names.append("cell_series")  # the view's cells by status per step
        ctx = prepare(scenario, phase=ph.phase, stage_names=names)
        if not quiet and not sys.stderr.isatty():
            err.print(f"  {len(ctx.constellation):,} satellites, {ctx.ground.n_cells:,} cells, "
                      f"{ctx.ground.n_terminals} terminals, {ctx.n_steps:,} time steps")
        ph.phase(f"simulating {ctx.n_steps:,} steps ({len(ctx.constellation):,} satellites, "
                 f"{ctx.ground.n_points:,} points)")
        sinks: list[Any] = []
        if scenario.outputs.cell_series:
            from ..outputs import ZarrSeriesWriter

            g = ctx.ground
            sinks.append(ZarrSeriesWriter(
                Path(out_dir) / "cells_series.zarr", g.point_names[:g.n_cells],
                g.lat_deg[:g.n_cells], g.lon_deg[:g.n_cells], ctx.t_utc,
                time_chunk=scenario.run.chunk_steps, attrs={"scenario": scenario.name}))
        collector = None
        if czml and ctx.ground.n_cells:
            from ..interop.runview import CellStatusCollector

            collector = CellStatusCollector(ctx.ground, ctx.n_steps)
            sinks.append(collector)
        result = simulate(ctx, progress=ph.steps, sink=_tee(sinks))
        ph.phase("building tables")
        tables = finalize(ctx, result)
        written = write_run(tables, out_dir, formats=scenario.outputs.formats,
                            maps=scenario.outputs.maps if maps is None else maps,
                            netcdf=scenario.outputs.netcdf, phase=ph.phase)
        view_note = None
        if czml:
            from ..interop.runview import scene_from_run
            from ..interop.viewer import write_run_view

            ph.phase("writing the Cesium view")
            t0 = time.perf_counter()
            files, view_note = write_run_view(scene_from_run(ctx, tables, collector), out_dir)
            written.add("czml", time.perf_counter() - t0, *files)
    if not quiet:
        print_summary(tables)
        for note in [*tables.metadata.get("notes", []), *([view_note] if view_note else [])]:
            err.print(f"[yellow]note:[/yellow] {note}")
        err.print(f"wrote {len(written.files)} files to {out_dir} "
                  f"(report: {Path(out_dir) / 'report.md'})")
    if profile:
        timings = dict(tables.metadata.get("timings_s", {}))
        timings.update({f"write {k}": v for k, v in written.seconds.items()})
        tab = Table(title="time per phase (s)")
        tab.add_column("phase")
        tab.add_column("seconds", justify="right")
        for k, v in timings.items():
            tab.add_row(k, f"{v:.2f}")
        err.print(tab)
    return tables, written.files


def _tee(sinks: list[Any]) -> Any:
    """One sink feeding every sink in ``sinks`` (None when there is none)."""
    if not sinks:
        return None
    if len(sinks) == 1:
        return sinks[0]

    def feed(block: Any) -> None:
        for s in sinks:
            s(block)

    return feed


def _fmt(v: Any, pct: bool = False, digits: int = 1) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-" if v is None else str(v)
    if f != f:
        return "-"
    return f"{100 * f:.{digits}f} %" if pct else f"{f:,.{digits}f}"


def print_summary(tables: RunTables, console: Console | None = None) -> None:
    """Per-region and per-terminal summaries as tables on stdout."""
    # A terminal's own width; 140 columns when piped (logs, CI), so rows do not wrap.
    console = console or Console(width=None if sys.stdout.isatty() else 140)
    regions = tables.regions
    if len(regions):
        has_rtt = "rtt_p50_ms" in regions.columns
        tab = Table(title="service per region (share of area x time)")
        for col in ("region", "area km²", "served", "blocked", "uncovered", "in view"):
            tab.add_column(col, justify="left" if col == "region" else "right")
        if has_rtt:
            tab.add_column("RTT p50 ms", justify="right")
        for _, r in regions.iterrows():
            cells = [str(r["region"]), _fmt(r["area_km2"], digits=0),
                     _fmt(r["served_share"], True), _fmt(r["blocked_share"], True),
                     _fmt(r["uncovered_share"], True), _fmt(r["mean_in_view"])]
            if has_rtt:
                cells.append(_fmt(r.get("rtt_p50_ms"), digits=2))
            tab.add_row(*cells)
        console.print(tab)
    tsum = tables.terminal_summary
    if len(tsum):
        net = "rtt_p50_ms" in tsum.columns
        tab = Table(title="terminals")
        cols = ["terminal", "served", "blocked", "uncovered", "in view", "min", "rule"]
        if net:
            cols += ["RTT p50 ms", "RTT p95 ms", "gateway", "PoP"]
        for c in cols:
            tab.add_column(c, justify="left" if c in ("terminal", "rule", "gateway", "PoP")
                           else "right")
        for _, r in tsum.iterrows():
            row = [str(r["terminal"]), _fmt(r["served_share"], True),
                   _fmt(r["blocked_share"], True), _fmt(r["uncovered_share"], True),
                   _fmt(r["mean_in_view"]), str(r["min_in_view"]), str(r["rule_at_end"])]
            if net:
                row += [_fmt(r.get("rtt_p50_ms"), digits=2), _fmt(r.get("rtt_p95_ms"), digits=2),
                        _fmt(r.get("main_gateway")), _fmt(r.get("main_pop"))]
            tab.add_row(*row)
        console.print(tab)
