"""``skyfence sites``: list and inspect the real ground segment (gateways and PoPs) with sources."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

import typer

from ..errors import InputError, SiteError
from ..network.sites import DEFAULT_BACKHAUL_KM, SiteRecord, site_records, world_sites

__all__ = ["app"]

app = typer.Typer(
    help="The ground segment in the package data: gateway sites and PoPs, each with its source "
         "and date, and which countries exit at which PoP (Starlink's geoIP feed).",
    no_args_is_help=True,
)

_COLUMNS = ("kind", "name", "code", "lat_deg", "lon_deg", "country", "antennas", "countries",
            "status", "as_of", "source")


def _records(kind: str, country: str | None) -> list[SiteRecord]:
    k = kind.strip().lower()
    if k not in ("all", "gateway", "gateways", "pop", "pops"):
        raise InputError(f"--kind must be all, gateway or pop, got {kind!r}", "--kind")
    recs = site_records()
    if k != "all":
        recs = [r for r in recs if r.kind == k.rstrip("s")]
    if country:
        code = country.strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise InputError(f"--country must be an ISO alpha-2 code such as PL, got {country!r}",
                             "--country")
        recs = [r for r in recs if r.country == code or code in r.countries]
    return recs


def _row(r: SiteRecord) -> dict[str, Any]:
    return {"kind": r.kind, "name": r.name, "code": r.code, "lat_deg": r.lat_deg,
            "lon_deg": r.lon_deg, "country": r.country,
            "antennas": "" if r.antennas is None else r.antennas,
            "countries": ";".join(r.countries), "status": r.status, "as_of": r.as_of,
            "source": r.source}


@app.command("list")
def list_sites(
    kind: Annotated[str, typer.Option("--kind", help="all, gateway or pop.")] = "all",
    country: Annotated[str | None, typer.Option(
        "--country", help="Only sites in this country (ISO alpha-2), and PoPs serving it.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, csv or json.")] = "text",
) -> None:
    """List gateways and PoPs with coordinates, sources and dates."""
    recs = _records(kind, country)
    f = fmt.strip().lower()
    if f == "json":
        typer.echo(json.dumps([r.as_dict() for r in recs], indent=2))
    elif f == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in recs:
            w.writerow(_row(r))
        typer.echo(buf.getvalue(), nl=False)
    elif f == "text":
        n_gw = sum(r.kind == "gateway" for r in recs)
        typer.echo(f"{n_gw} gateways, {len(recs) - n_gw} PoPs")
        for r in recs:
            extra = (f" antennas={r.antennas}" if r.antennas is not None else "") + (
                f" countries={','.join(r.countries)}" if r.countries else "")
            code = f" [{r.code}]" if r.code else ""
            typer.echo(f"{r.kind:7s} {r.name}{code} ({r.country}) {r.lat_deg:.4f}, "
                       f"{r.lon_deg:.4f}{extra}; as of {r.as_of}")
    else:
        raise InputError(f"--format must be text, csv or json, got {fmt!r}", "--format")


@app.command("show")
def show_site(
    name: Annotated[str, typer.Argument(help="Gateway or PoP name (or PoP code, e.g. wrswpol1).")],
    backhaul_km: Annotated[float, typer.Option(
        "--backhaul-km", help="Gateway-PoP fibre association distance, km.")] = DEFAULT_BACKHAUL_KM,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show one site: source, date and its fibre associations (PoP's gateways or gateway's PoPs)."""
    recs = site_records()
    key = name.strip().casefold()
    hit = [r for r in recs if r.name.casefold() == key or (r.code and r.code.casefold() == key)]
    if not hit:
        import difflib

        close = difflib.get_close_matches(name, [r.name for r in recs], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SiteError(f"unknown site {name!r}{hint} (see `skyfence sites list`)", "name")
    rec = hit[0]
    sites = world_sites(backhaul_km)
    if rec.kind == "pop":
        linked = list(sites.pops[sites.pop_index(rec.name)].gateways)
    else:
        linked = [p.name for p in sites.pops if rec.name in p.gateways]
    data = rec.as_dict() | {"linked": linked}
    if fmt.strip().lower() == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    if fmt.strip().lower() != "text":
        raise InputError(f"--format must be text or json, got {fmt!r}", "--format")
    for k, v in data.items():
        if k == "linked":
            label = "gateways" if rec.kind == "pop" else "PoPs"
            typer.echo(f"{label} (fibre, <= {backhaul_km:g} km): {', '.join(v)}")
        elif v not in ("", None, []):
            typer.echo(f"{k}: {', '.join(v) if isinstance(v, list) else v}")
