"""``skyfence coverage``: satellites in view, serving satellite and gaps over regions/terminals.

A front-end of the one engine: the flags become a scenario (network stage off unless
``--network``) and `skyfence.cli._runjob.execute` runs and writes it like ``skyfence run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from . import _options as opt

__all__ = ["coverage_scenario", "register"]


def coverage_scenario(
    constellation: str | None,
    *,
    terminals: list[str] | None = None,
    regions: list[str] | None = None,
    cells: list[str] | None = None,
    resolution: int = 5,
    start: str | None = None,
    duration: str = "1h",
    step: str = "60s",
    min_elevation: float | None = None,
    gso_exclusion: bool = False,
    strategy: str = "highest",
    seed: int = 0,
    edition: str | None = None,
    policy: str | None = None,
    network: bool = False,
    rtt_every: str | None = None,
    memory_budget: float | None = None,
    dask: str | None = None,
    maps: bool = True,
    cell_series: bool = False,
    out: Path = Path("coverage-out"),
):
    """The scenario ``skyfence coverage`` runs for these flags."""
    from ..scenario import Scenario, with_overrides

    if not terminals and not regions:
        raise InputError("nothing to compute: give at least one --terminal or --region",
                         "coverage")
    if cells and not regions:
        raise InputError("--cell selects cells of the --region sets; give a --region too",
                         "--cell")
    return with_overrides(Scenario(name="coverage"), {
        "time": {"start": start, "duration": duration, "step": step},
        "constellation": {"source": constellation, "min_elevation_deg": min_elevation,
                          "gso_exclusion": gso_exclusion, "strategy": strategy},
        "ground": {"edition": edition, "regions": opt.region_specs(regions, resolution),
                   "terminals": opt.terminal_specs(terminals),
                   "timeseries_cells": list(cells or [])},
        "policy": {"source": policy},
        "network": {"enabled": network, "rtt_every": (rtt_every or step) if network else None},
        "run": {"memory_budget_gib": memory_budget, "dask": dask},
        "outputs": {"dir": str(out), "maps": maps, "cell_series": cell_series},
        "seed": seed,
    })


def register(app: typer.Typer) -> None:
    """Add the ``coverage`` command to ``app``."""

    @app.command("coverage")
    def coverage_cmd(
        constellation: opt.Constellation = None,
        out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path(
            "coverage-out"),
        terminal: opt.Terminal = None,
        region: opt.Region = None,
        cell: Annotated[list[str] | None, typer.Option(
            "--cell", help="H3 cell of a region whose per-step series to keep "
            "(repeatable).")] = None,
        resolution: Annotated[int, typer.Option(help="H3 resolution of region cells.")] = 5,
        start: opt.Start = None,
        duration: Annotated[str, typer.Option(help="Window length, e.g. 10m, 6h, 1d.")] = "1h",
        step: Annotated[str, typer.Option(help="Time step, e.g. 60s.")] = "60s",
        min_elevation: opt.MinElevation = None,
        gso_exclusion: Annotated[bool, typer.Option(
            "--gso-exclusion/--no-gso-exclusion",
            help="Keep links 22 deg from the geostationary arc.")] = False,
        strategy: Annotated[str, typer.Option(
            help="Serving satellite: highest (elevation) or random (seeded).")] = "highest",
        seed: Annotated[int, typer.Option(help="Seed of the random strategy.")] = 0,
        edition: opt.Edition = None,
        policy: opt.Policy = None,
        network: Annotated[bool, typer.Option(
            "--network/--no-network", help="Also route every point to its PoP (RTT).")] = False,
        rtt_every: Annotated[str | None, typer.Option(
            "--rtt-every", help="With --network: route on this sub-grid of the steps "
            "(default: every step).")] = None,
        memory_budget: opt.MemoryBudget = None,
        dask: opt.Dask = None,
        no_maps: opt.NoMaps = False,
        cell_series: Annotated[bool, typer.Option(
            "--cell-series", help="Stream every cell's status and satellites in view at every "
            "step into cells_series.zarr (chunked, compressed).")] = False,
        quiet: opt.Quiet = False,
        profile: opt.Profile = False,
    ) -> None:
        """Satellites in view, serving satellite, gaps and service status for terminals and
        region cells."""
        from ._runjob import execute

        sc = coverage_scenario(
            constellation, terminals=terminal, regions=region, cells=cell,
            resolution=resolution, start=start, duration=duration, step=step,
            min_elevation=min_elevation, gso_exclusion=gso_exclusion, strategy=strategy,
            seed=seed, edition=edition, policy=policy, network=network, rtt_every=rtt_every,
            memory_budget=memory_budget, dask=dask, maps=not no_maps, cell_series=cell_series,
            out=out)
        execute(sc, out, quiet=quiet, profile=profile)
