"""``skyfence network``: paths, gateways, PoPs and RTT of terminals, with what-if outages.

A front-end of the one engine: the flags become a scenario whose network stage routes every
step (``--rtt-every`` defaults to ``--step``), and `skyfence.cli._runjob.execute` runs and
writes it like ``skyfence run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from . import _options as opt

__all__ = ["network_scenario", "register"]


def network_scenario(
    constellation: str | None,
    *,
    terminals: list[str] | None = None,
    regions: list[str] | None = None,
    resolution: int = 5,
    start: str | None = None,
    duration: str = "10m",
    step: str = "15s",
    rtt_every: str | None = None,
    gateways: Path | None = None,
    pops: Path | None = None,
    down: list[str] | None = None,
    lasers: str | None = "grid",
    laser_range_km: float | None = None,
    laser_min_year: int | None = 2022,
    min_elevation: float | None = None,
    processing_ms: float | None = None,
    routing: str = "min-delay",
    serving: str = "min-rtt",
    allow_gateway_countries: str | None = None,
    fibre_route_factor: float | None = None,
    edition: str | None = None,
    policy: str | None = None,
    memory_budget: float | None = None,
    dask: str | None = None,
    maps: bool = True,
    out: Path = Path("network-out"),
):
    """The scenario ``skyfence network`` runs for these flags."""
    from ..scenario import Scenario, with_overrides

    if not terminals and not regions:
        raise InputError("give at least one --terminal NAME=LAT,LON (or a --region)",
                         "--terminal")
    allow = ([c.strip() for c in allow_gateway_countries.split(",") if c.strip()]
             if allow_gateway_countries else None)
    return with_overrides(Scenario(name="network"), {
        "time": {"start": start, "duration": duration, "step": step},
        "constellation": {"source": constellation, "min_elevation_deg": min_elevation},
        "ground": {"edition": edition, "regions": opt.region_specs(regions, resolution),
                   "terminals": opt.terminal_specs(terminals)},
        "policy": {"source": policy},
        "network": {
            "enabled": True, "rtt_every": rtt_every or step, "serving": serving,
            "routing": routing, "gateways": str(gateways) if gateways else None,
            "pops": str(pops) if pops else None, "lasers": lasers is not None,
            "laser_topology": lasers, "laser_range_km": laser_range_km,
            "laser_min_year": laser_min_year, "per_hop_ms": processing_ms,
            "allow_gateway_countries": allow, "fibre_route_factor": fibre_route_factor,
            "outages": opt.outages(down) if down else None,
        },
        "run": {"memory_budget_gib": memory_budget, "dask": dask},
        "outputs": {"dir": str(out), "maps": maps},
    })


def register(app: typer.Typer) -> None:
    """Add the ``network`` command to ``app``."""

    @app.command("network")
    def network_cmd(
        constellation: opt.Constellation = None,
        terminal: opt.Terminal = None,
        region: opt.Region = None,
        resolution: Annotated[int, typer.Option(help="H3 resolution of region cells.")] = 5,
        start: opt.Start = None,
        duration: Annotated[str, typer.Option(help="Window length, e.g. 10m, 6h, 1d.")] = "10m",
        step: Annotated[str, typer.Option(help="Time step (the 15 s slot).")] = "15s",
        rtt_every: Annotated[str | None, typer.Option(
            "--rtt-every", help="Route on this sub-grid of the steps (default: every "
            "step).")] = None,
        out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("network-out"),
        gateways: Annotated[Path | None, typer.Option(
            "--gateways", help="Gateways file (CSV or GeoJSON); default: built-in sites.")] = None,
        pops: Annotated[Path | None, typer.Option(
            "--pops", help="PoPs file (CSV or GeoJSON) with their gateways.")] = None,
        gateway_down: opt.GatewayDown = None,
        no_lasers: Annotated[bool, typer.Option("--no-lasers", help="Bent pipe only.")] = False,
        lasers: Annotated[str, typer.Option(
            help="Laser topology: grid (+Grid from recovered planes), nearest, "
            "grid+nearest.")] = "grid",
        laser_range_km: Annotated[float | None, typer.Option(
            "--laser-range-km", help="Longest laser link, km (default 5000).")] = None,
        laser_min_year: Annotated[int, typer.Option(
            "--laser-min-year", help="Satellites launched this year or later carry lasers "
            "(from the international designator; Walker presets: all).")] = 2022,
        min_elevation: opt.MinElevation = None,
        processing_ms: Annotated[float | None, typer.Option(
            "--processing-ms", help="Processing time per link, ms, each way.")] = None,
        routing: Annotated[str, typer.Option(
            help="Routing: min-delay or fewest-hops.")] = "min-delay",
        serving: Annotated[str, typer.Option(
            help="Satellite carrying the traffic: min-rtt, highest-routable, highest (even "
            "without a route) or coverage (the scheduler's serving satellite).")] = "min-rtt",
        allow_gateway_countries: Annotated[str | None, typer.Option(
            "--allow-gateway-countries", help="Only gateways in these ISO countries, "
            "comma-separated (e.g. PL,LT).")] = None,
        fibre_route_factor: Annotated[float | None, typer.Option(
            "--fibre-route-factor", help="Fibre route length / great circle (default 1.5).")
        ] = None,
        edition: opt.Edition = None,
        policy: opt.Policy = None,
        memory_budget: opt.MemoryBudget = None,
        dask: opt.Dask = None,
        no_maps: opt.NoMaps = False,
        quiet: opt.Quiet = False,
        profile: opt.Profile = False,
    ) -> None:
        """Route terminals to their PoPs per 15 s slot: path, gateway, PoP and RTT.

        RTT = 2 x one-way propagation (+ processing per link); queueing, capacity and
        scheduling delay are not modelled.
        """
        from ._runjob import execute

        sc = network_scenario(
            constellation, terminals=terminal, regions=region, resolution=resolution,
            start=start, duration=duration, step=step, rtt_every=rtt_every, gateways=gateways,
            pops=pops, down=gateway_down, lasers=None if no_lasers else lasers,
            laser_range_km=laser_range_km, laser_min_year=laser_min_year,
            min_elevation=min_elevation, processing_ms=processing_ms, routing=routing,
            serving=serving, allow_gateway_countries=allow_gateway_countries,
            fibre_route_factor=fibre_route_factor, edition=edition, policy=policy,
            memory_budget=memory_budget, dask=dask, maps=not no_maps, out=out)
        execute(sc, out, quiet=quiet, profile=profile)
