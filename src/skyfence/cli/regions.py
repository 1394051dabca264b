"""``skyfence regions``: list and inspect country boundaries; export a region's H3 cells."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError
from ..fsio import atomic_write_text, check_output_path
from ..ground import (
    BUILTIN_REGIONS,
    DEFAULT_EDITION,
    EDITIONS,
    cells_to_str,
    get_admin1_catalogue,
    get_catalogue,
    region_cells,
    resolve_region,
)

__all__ = ["app", "region_summary"]

app = typer.Typer(
    help="Region boundaries (Natural Earth editions, built-in disputed areas, GeoJSON/WKT "
         "files) and their H3 service cells.",
    no_args_is_help=True,
)

_EDITION_HELP = (f"Boundary edition: {' or '.join(EDITIONS)} (deu = Natural Earth 5.1.1, German "
                 "point of view, Crimea in Ukraine; default = Natural Earth 4.1.0 de facto, "
                 "Crimea in Russia).")
_SOURCE_HELP = ("Country name or ISO code (Ukraine, UA, UKR), built-in area (Crimea, Sevastopol), "
                "sub-national region (Kherson; 'Punjab, Pakistan') or a .geojson / .json / .wkt "
                "/ .csv file.")


def _edition(edition: str) -> str:
    key = edition.strip().lower()
    if key not in EDITIONS:
        raise InputError(f"unknown edition {edition!r}; choose one of {', '.join(EDITIONS)}",
                         "--edition")
    return key


def _format(fmt: str) -> str:
    key = fmt.strip().lower()
    if key not in ("text", "json"):
        raise InputError(f"format must be text or json, got {fmt!r}", "--format")
    return key


def region_summary(source: str, *, edition: str = DEFAULT_EDITION, resolution: int = 5
                   ) -> dict[str, Any]:
    """Name, source, area, bounds and cell count of a region, as plain data."""
    region = resolve_region(source, edition=edition)
    min_lon, min_lat, max_lon, max_lat = region.bounds
    out: dict[str, Any] = {
        "name": region.name,
        "source": region.source,
        "edition": get_catalogue(edition).info.description,
        "area_km2": round(region.area_km2, 1),
        "bounds": {"min_lon_deg": round(min_lon, 6), "min_lat_deg": round(min_lat, 6),
                   "max_lon_deg": round(max_lon, 6), "max_lat_deg": round(max_lat, 6)},
        "resolution": resolution,
        "n_cells": int(region_cells(region, resolution).size),
    }
    if region.cells is not None:
        out["explicit_cells"] = int(region.cells.size)
        out["explicit_resolution"] = region.cell_resolution
    return out


@app.command("list")
def list_cmd(
    edition: Annotated[str, typer.Option("--edition", help=_EDITION_HELP)] = DEFAULT_EDITION,
    match: Annotated[str | None, typer.Option(
        "--match", help="Only names or codes containing this text (case-insensitive).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output: text or json.")] = "text",
    subdivisions: Annotated[str | None, typer.Option(
        "--subdivisions", help="List the sub-national (admin-1) regions of this country "
        "instead (Natural Earth admin-1: oblasts, states, provinces).")] = None,
) -> None:
    """List the countries of a boundary edition (and the built-in disputed areas)."""
    if subdivisions is not None:
        _list_subdivisions(subdivisions, match, _format(fmt))
        return
    catalogue = get_catalogue(_edition(edition))
    countries = catalogue.search(match) if match else list(catalogue)
    builtins = [k for k in BUILTIN_REGIONS if not match or match.lower() in k.lower()]
    if _format(fmt) == "json":
        typer.echo(json.dumps({
            "edition": catalogue.info.description,
            "countries": [{"name": c.name, "admin": c.admin, "iso_a2": c.iso_a2,
                           "iso_a3": c.iso_a3, "adm0_a3": c.adm0_a3, "type": c.type}
                          for c in countries],
            "builtin": [{"name": k, "description": BUILTIN_REGIONS[k]} for k in builtins],
        }, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{catalogue.info.description}: {len(countries)} of {len(catalogue)} features")
    typer.echo(f"{'name':<32} {'A2':<3} {'A3':<4} {'ADM0':<4} type")
    for c in sorted(countries, key=lambda c: c.name):
        typer.echo(f"{c.name:<32} {c.iso_a2 or '-':<3} {c.iso_a3 or '-':<4} "
                   f"{c.adm0_a3 or '-':<4} {c.type}")
    if builtins:
        typer.echo("built-in areas:")
        for k in builtins:
            typer.echo(f"  {k}: {BUILTIN_REGIONS[k]}")


def _list_subdivisions(country: str, match: str | None, fmt: str) -> None:
    admin1 = get_admin1_catalogue()
    name = get_catalogue(DEFAULT_EDITION).country(country).name
    subs = admin1.of_country(country)
    if match:
        subs = [s for s in subs if s in admin1.search(match)]
    if fmt == "json":
        typer.echo(json.dumps({
            "edition": admin1.info.description, "country": name,
            "subdivisions": [{"name": s.name, "hasc": s.hasc, "label": s.label} for s in subs],
        }, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{admin1.info.description}: {len(subs)} subdivisions of {name}")
    for s in sorted(subs, key=lambda s: s.name):
        typer.echo(f"  {s.name:<32} {s.hasc or '-'}")


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    edition: Annotated[str, typer.Option("--edition", help=_EDITION_HELP)] = DEFAULT_EDITION,
    resolution: Annotated[int, typer.Option(
        "--resolution", min=0, max=15, help="H3 resolution for the cell count.")] = 5,
    fmt: Annotated[str, typer.Option("--format", help="Output: text or json.")] = "text",
) -> None:
    """Edition, area (km^2), bounds and H3 cell count of a region."""
    summary = region_summary(name, edition=_edition(edition), resolution=resolution)
    if _format(fmt) == "json":
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    b = summary["bounds"]
    typer.echo(f"{summary['name']}")
    typer.echo(f"  source:   {summary['source']}")
    typer.echo(f"  edition:  {summary['edition']}")
    typer.echo(f"  area:     {summary['area_km2']:,.1f} km^2")
    typer.echo(f"  bounds:   lon {b['min_lon_deg']:.4f} to {b['max_lon_deg']:.4f} deg, "
               f"lat {b['min_lat_deg']:.4f} to {b['max_lat_deg']:.4f} deg")
    typer.echo(f"  cells:    {summary['n_cells']:,} at H3 resolution {summary['resolution']}")


@app.command("cells")
def cells_cmd(
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output CSV file (column h3_cell).")],
    resolution: Annotated[int, typer.Option(
        "--resolution", min=0, max=15, help="H3 resolution (5 = service cells).")] = 5,
    edition: Annotated[str, typer.Option("--edition", help=_EDITION_HELP)] = DEFAULT_EDITION,
) -> None:
    """Write the H3 cells whose centre lies in a region to a CSV (column h3_cell, hex).

    The file is written atomically (`skyfence.fsio`): only a regular file or a new path is
    replaced, never a device, FIFO or directory, and a failure leaves the old file intact.
    """
    check_output_path(out, "--out")  # refuse a bad target before the work
    region = resolve_region(source, edition=_edition(edition))
    cells = region_cells(region, resolution)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["h3_cell"])
    writer.writerows([c] for c in cells_to_str(cells))
    atomic_write_text(out, buf.getvalue(), "--out")
    typer.echo(f"{region.name}: {cells.size:,} cells at resolution {resolution} -> {out}")
