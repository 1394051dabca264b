"""``skyfence run``: the main job on a scenario (the built-in default when none is given)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..scenario import Scenario, default_scenario, load_scenario, parse_scenario
from ._progress import progress_bar

__all__ = ["register", "run_main_job"]


def _override(scenario: Scenario, **changes: dict) -> Scenario:
    data = scenario.model_dump()
    for section, values in changes.items():
        for key, value in values.items():
            if value is not None:
                data[section][key] = value
    return parse_scenario(data, "command-line options")


def run_main_job(scenario: Scenario, out_dir: Path, *, show_progress: bool = True,
                 console: Console | None = None) -> dict:
    """Run ``scenario``, write its outputs and report under ``out_dir``; returns a summary."""
    from ..engine import prepare, simulate
    from ..outputs.report import render_markdown, write_outputs

    console = console or Console(stderr=True)
    console.print(f"[bold]skyfence[/bold]: scenario [cyan]{scenario.name}[/cyan]")
    with console.status("loading constellation, ground cells and policy"):
        ctx = prepare(scenario)
    console.print(f"  {len(ctx.constellation):,} satellites, {ctx.ground.n_cells:,} cells, "
                  f"{ctx.ground.n_terminals} terminals, {ctx.t_utc.size:,} time steps")
    with progress_bar(show_progress) as bar:
        task = bar.add_task("simulating", total=int(ctx.t_utc.size))
        result = simulate(ctx, progress=lambda done, total: bar.update(task, completed=done))
    tables, files = write_outputs(ctx, result, out_dir, maps=scenario.outputs.maps,
                                  netcdf=scenario.outputs.netcdf)
    pf = ctx.policy_file
    notes = [(r.name, r.action, r.reason) for r in pf.rules]
    notes += [(m.name, f"off above {m.max_speed_kmh:g} km/h", m.reason) for m in pf.moving_rules]
    history = []
    for req in pf.requests:
        d = req.model_dump(mode="json")
        history.append({
            "at": d["at"], "by": d["by"], "action": d["action"], "region": d["region"],
            "why": d["why"],
            "decisions": [{"at": x["at"], "by": x["by"], "outcome": x["outcome"],
                           "reason": x["reason"]} for x in d.get("decisions", [])],
        })
    report = Path(out_dir) / "report.md"
    files.append(report)
    report.write_text(render_markdown(ctx, tables, files, notes, history), encoding="utf-8")
    _print_summary(console, tables)
    console.print(f"wrote {len(files)} files to {out_dir} (report: {report})")
    return {"regions": tables.regions, "terminals": tables.terminal_summary, "files": files}


def _print_summary(console: Console, tables) -> None:
    has_rtt = "rtt_p50_ms" in tables.regions.columns
    tab = Table(title="service per region (share of area x time)")
    for col in ("region", "area km²", "served", "blocked", "uncovered", "in view"):
        tab.add_column(col, justify="left" if col == "region" else "right")
    if has_rtt:
        tab.add_column("RTT p50 ms", justify="right")
    for _, r in tables.regions.iterrows():
        cells = [str(r["region"]), f"{r['area_km2']:,.0f}", f"{100 * r['served_share']:.1f} %",
                 f"{100 * r['covered_but_blocked_share']:.1f} %",
                 f"{100 * r['uncovered_share']:.1f} %", f"{r['mean_in_view']:.1f}"]
        if has_rtt:
            v = r.get("rtt_p50_ms")
            cells.append("-" if v is None or v != v else f"{v:.1f}")
        tab.add_row(*cells)
    console.print(tab)


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""

    @app.command("run")
    def run_cmd(
        scenario: Annotated[Path | None, typer.Option(
            "--scenario", help="Scenario TOML file (default: the built-in scenario).")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Output folder (default: the scenario's outputs.dir).")] = None,
        constellation: Annotated[str | None, typer.Option(
            "--constellation", help="Override: element file or preset name.")] = None,
        start: Annotated[str | None, typer.Option(help="Override: start, ISO 8601 UTC.")] = None,
        duration: Annotated[str | None, typer.Option(help="Override: window, e.g. 6h.")] = None,
        step: Annotated[str | None, typer.Option(help="Override: time step, e.g. 60s.")] = None,
        dask: Annotated[str | None, typer.Option(
            "--dask", help="Run time chunks on Dask: 'local' or a scheduler address.")] = None,
        no_network: Annotated[bool, typer.Option(
            "--no-network", help="Skip gateways, routing and RTT.")] = False,
        no_maps: Annotated[bool, typer.Option("--no-maps", help="Skip PNG maps.")] = False,
    ) -> None:
        """Run a scenario: coverage, policy, network; write tables, maps and a report."""
        sc = load_scenario(scenario) if scenario else default_scenario()
        sc = _override(
            sc,
            constellation={"source": constellation},
            time={"start": start, "duration": duration, "step": step},
            run={"dask": dask},
            network={"enabled": False if no_network else None},
            outputs={"maps": False if no_maps else None},
        )
        run_main_job(sc, out or Path(sc.outputs.dir))
