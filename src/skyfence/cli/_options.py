"""Flags shared by ``run``, ``coverage`` and ``network``, and their translation to a scenario."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError

__all__ = ["region_specs", "terminal_specs"]

Terminal = Annotated[list[str] | None, typer.Option(
    "--terminal", help="Ground point NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..] "
    "(deg, m, km/h); repeatable.")]
Region = Annotated[list[str] | None, typer.Option(
    "--region", help="Country name or ISO code, built-in area (Crimea) or region file "
    "(GeoJSON/WKT/cell list); repeatable.")]
Constellation = Annotated[str | None, typer.Option(
    "--constellation", "-c", help="Element file (TLE/3LE/OMM) or preset name, e.g. "
    "starlink-gen1.")]
Start = Annotated[str | None, typer.Option(help="Start time, ISO 8601 UTC.")]
Policy = Annotated[str | None, typer.Option(
    "--policy", help="Built-in policy name or policy file (.toml/.json).")]
Edition = Annotated[str | None, typer.Option(
    help="Natural Earth edition of the boundaries: deu (German point of view) or default "
    "(de facto).")]
MinElevation = Annotated[float | None, typer.Option(
    "--min-elevation", help="User-terminal elevation mask, deg, in [0, 90).")]
GatewayDown = Annotated[list[str] | None, typer.Option(
    "--gateway-down", help="Gateway or PoP down: NAME or NAME@START/END (ISO 8601 UTC, "
    "either may be empty); repeatable. Adds what-if tables against every site up.")]
Dask = Annotated[str | None, typer.Option(
    "--dask", help="Run time chunks on Dask: 'local' or a scheduler address tcp://HOST:PORT.")]
Workers = Annotated[int | None, typer.Option(
    "--workers", help="Workers of a local Dask cluster (default: the number of cores).")]
MemoryBudget = Annotated[float | None, typer.Option(
    "--memory-budget", help="Memory the run may hold, GiB (larger runs are refused up front "
    "with an estimate).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")]
Profile = Annotated[bool, typer.Option("--profile", help="Print the time per phase.")]
NoMaps = Annotated[bool, typer.Option("--no-maps", help="Skip PNG maps.")]


def terminal_specs(texts: Sequence[str] | None) -> list[dict[str, Any]]:
    """Scenario terminal entries from ``--terminal`` values (one parser for every command:
    `skyfence.ground.parse_ground_points`)."""
    from ..ground import parse_ground_points
    from ..timeutil import format_utc

    out = []
    for t in parse_ground_points(list(texts or []), "--terminal"):
        entry: dict[str, Any] = {"name": t.name, "lat": t.lat_deg, "lon": t.lon_deg,
                                 "altitude_m": t.altitude_m}
        for key in ("speed_kmh", "id", "owner", "registered"):
            value = getattr(t, key, None)
            if value is not None:
                entry[key] = value
        for key in ("registered_from", "registered_until"):
            value = getattr(t, key, None)
            if value is not None:
                entry[key] = format_utc(value)
        out.append(entry)
    return out


def region_specs(values: Sequence[str] | None, resolution: int) -> list[dict[str, Any]]:
    """Scenario region entries from ``--region`` values: a file becomes a file region."""
    out = []
    for v in values or []:
        if not str(v).strip():
            raise InputError("blank --region value", "--region")
        p = Path(v).expanduser()
        if p.suffix and p.exists():
            if not p.is_file():
                raise InputError("region path is not a file", str(p))
            out.append({"name": p.stem, "file": str(p), "resolution": resolution})
        else:
            out.append({"name": str(v).strip(), "resolution": resolution})
    return out


def outages(texts: Sequence[str] | None) -> list[dict[str, Any]]:
    """Scenario outage entries from ``--gateway-down NAME[@START/END]``."""
    from ..scenario import outage_specs

    return outage_specs(list(texts or []))
