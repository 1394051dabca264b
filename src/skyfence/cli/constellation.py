"""``skyfence constellation``: inspect, fetch and export constellations (element files, presets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .. import limits
from ..errors import InputError
from ..orbits import load_constellation
from ..orbits.celestrak import CELESTRAK_URL, DEFAULT_MAX_AGE_S, FETCH_FORMATS, fetch_group
from ..orbits.constellation import Constellation
from ..timeutil import parse_duration

__all__ = ["app", "constellation_summary", "format_summary"]

app = typer.Typer(
    help="Inspect, fetch and export constellations: element files (TLE/3LE/OMM) and presets.",
    no_args_is_help=True,
)

_SOURCE_HELP = "Element file (TLE, 3-line TLE, OMM JSON or CSV) or preset name (starlink-gen1)."
_EPOCH_HELP = "Epoch of Walker presets, ISO 8601 UTC (ignored for files)."
_MAX_LISTED = 20
_TLE_SUFFIXES = (".tle", ".3le", ".txt")


def _load(source: str, *, skip_invalid: bool, epoch: str | None) -> Constellation:
    # (heavy modules are imported where used: `skyfence --help` starts fast)
    return load_constellation(source, epoch=epoch, skip_invalid=skip_invalid)


def _iso(t: np.datetime64) -> str:
    return f"{np.datetime_as_string(t, unit='s')}Z"


def constellation_summary(constellation: Constellation) -> dict[str, Any]:
    """Counts, epoch range, shells and validation of a constellation, as plain data.

    Shells are the defined ones when every satellite carries a shell label (Walker presets),
    otherwise they are recovered from the elements (`recover_shells`).
    """
    from ..orbits.recover import estimate_planes, format_shells, recover_shells

    c = constellation
    out: dict[str, Any] = {"name": c.name, "n_satellites": len(c)}
    if len(c):
        epochs = c.epochs_utc
        out["epoch_first_utc"] = _iso(epochs.min())
        out["epoch_last_utc"] = _iso(epochs.max())
    if len(c) and all(c.shell):
        out["shells_from"] = "defined"
        inc, alt = c.inclination_deg, c.mean_altitude_km
        labels = np.array(c.shell)
        shells = []
        for label in dict.fromkeys(c.shell):
            idx = np.flatnonzero(labels == label)
            planes = np.unique(c.plane[idx])
            n_planes = int(planes.size) if (planes >= 0).all() else estimate_planes(c.subset(idx))
            shells.append({
                "label": label,
                "inclination_deg": round(float(np.median(inc[idx])), 4),
                "altitude_km": round(float(np.median(alt[idx])), 2),
                "n_sats": int(idx.size),
                "n_planes": n_planes,
            })
        out["shells"] = shells
        out["n_unclustered"] = 0
        out["shell_lines"] = [
            f"{s['label']}: {s['inclination_deg']:.2f} deg / {s['altitude_km']:.0f} km: "
            f"{s['n_sats']:,} satellites, {s['n_planes']} planes" for s in shells
        ]
    else:
        recovery = recover_shells(c)
        out["shells_from"] = "recovered"
        out["shells"] = [
            {
                "label": s.label,
                "inclination_deg": round(s.inclination_deg, 4),
                "altitude_km": round(s.altitude_km, 2),
                "n_sats": s.n_sats,
                "n_planes_estimate": s.n_planes_estimate,
            }
            for s in recovery
        ]
        out["n_unclustered"] = recovery.n_unclustered
        out["shell_lines"] = format_shells(recovery)
    if len(c) and not all(c.shell) and bool((c.plane >= 0).all()):
        # planes stated by the file (Hypatia's header N_ORBITS N_SATS_PER_ORBIT)
        out["planes"] = {"n_planes": int(np.unique(c.plane).size),
                         "n_sats_per_plane": int(np.unique(c.slot).size)}
    report = c.report
    if report is not None:
        out["validation"] = {
            "summary": report.summary(),
            "n_records": report.n_records,
            "n_loaded": report.n_loaded,
            "skipped": [{"where": w, "reason": r} for w, r in report.skipped],
            "duplicates": [
                {"norad_id": int(n), "kept_epoch_utc": kept, "dropped_epoch_utc": dropped}
                for n, kept, dropped in report.duplicates
            ],
        }
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The text form of `constellation_summary`."""
    lines = [f"{summary['name']}: {summary['n_satellites']:,} satellites"]
    if "epoch_first_utc" in summary:
        lines.append(f"epochs: {summary['epoch_first_utc']} to {summary['epoch_last_utc']}")
    how = ("defined by the preset" if summary["shells_from"] == "defined"
           else "recovered from the elements")
    lines.append(f"shells ({how}):")
    lines.extend(f"  {line}" for line in summary["shell_lines"] or ["(none)"])
    planes = summary.get("planes")
    if planes is not None:
        lines.append(f"planes (stated by the file): {planes['n_planes']:,} x "
                     f"{planes['n_sats_per_plane']:,} satellites")
    val = summary.get("validation")
    if val is not None:
        lines.append(f"validation: {val['summary']}")
        if val["skipped"]:
            lines.append("skipped records:")
            for item in val["skipped"][:_MAX_LISTED]:
                reason = item["reason"].replace("\n", "\n      ")
                lines.append(f"  {item['where']}: {reason}")
            if len(val["skipped"]) > _MAX_LISTED:
                lines.append(f"  ... and {len(val['skipped']) - _MAX_LISTED:,} more "
                             "(--format json lists all)")
        if val["duplicates"]:
            lines.append("duplicate catalogue numbers (newest epoch kept):")
            for item in val["duplicates"][:_MAX_LISTED]:
                lines.append(f"  {item['norad_id']}: kept {item['kept_epoch_utc']}, dropped "
                             f"{item['dropped_epoch_utc']}")
            if len(val["duplicates"]) > _MAX_LISTED:
                lines.append(f"  ... and {len(val['duplicates']) - _MAX_LISTED:,} more "
                             "(--format json lists all)")
    return "\n".join(lines)


@app.command("info")
def info_cmd(
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Load the valid records of a file and list the skipped ones.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="Output: text or json.")] = "text",
    epoch: Annotated[str | None, typer.Option(help=_EPOCH_HELP)] = None,
) -> None:
    """Shells, counts, epoch range and validation summary of a constellation."""
    fmt_l = fmt.strip().lower()
    if fmt_l not in ("text", "json"):
        raise InputError(f"format must be text or json, got {fmt!r}", "--format")
    summary = constellation_summary(_load(source, skip_invalid=skip_invalid, epoch=epoch))
    if fmt_l == "json":
        summary.pop("shell_lines")
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(format_summary(summary))


@app.command("fetch")
def fetch_cmd(
    group: Annotated[str, typer.Argument(help="CelesTrak group name, e.g. starlink.")],
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir",
        help="Cache folder (default $SKYFENCE_CACHE_DIR/celestrak or ~/.cache/skyfence/celestrak).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Also copy the element file here.")] = None,
    fmt: Annotated[str, typer.Option(
        "--format", help=f"CelesTrak format: {', '.join(FETCH_FORMATS)}.")] = "tle",
    max_age: Annotated[str, typer.Option(
        "--max-age", help="Use a cached copy younger than this (e.g. 2h; 0 always downloads).")
    ] = f"{DEFAULT_MAX_AGE_S:.0f}s",
    timeout: Annotated[str, typer.Option(help="Network timeout, e.g. 30s.")] = "30s",
    url: Annotated[str, typer.Option(help="GP query endpoint.")] = CELESTRAK_URL,
) -> None:
    """Download a CelesTrak group's current element sets, through a local cache."""
    from ..orbits.elements import load_elements

    if out is not None:
        limits.check_output_path(out, field="--out")
    result = fetch_group(
        group, cache_dir=cache_dir, max_age_s=parse_duration(max_age, "--max-age"),
        base_url=url, timeout_s=parse_duration(timeout, "--timeout"), fmt=fmt,
    )
    if result.warning:
        typer.echo(f"Warning: {result.warning}", err=True)
    how = {"network": "downloaded", "cache": "cached copy", "stale-cache": "stale cached copy"}
    const = load_elements(result.path, skip_invalid=True, name=result.group)
    assert const.report is not None
    typer.echo(f"{result.group}: {how[result.origin]} {result.path} "
               f"({const.report.summary()})")
    if out is not None:
        data = limits.read_bytes_file(result.path, kind="elements")
        with limits.atomic_output(out, field="--out") as tmp:
            tmp.write_bytes(data)
        typer.echo(f"copied to {out}")


@app.command("export")
def export_cmd(
    source: Annotated[str, typer.Argument(help=_SOURCE_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output file, .tle (3-line element sets).")],
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Load the valid records of a file; report the rest.")] = False,
    epoch: Annotated[str | None, typer.Option(help=_EPOCH_HELP)] = None,
) -> None:
    """Write a constellation (e.g. a Walker preset) as 3-line element sets."""
    from ..orbits.elements import write_tle

    if out.suffix.lower() not in _TLE_SUFFIXES:
        raise InputError(
            f"output must end in {', '.join(_TLE_SUFFIXES)} (3-line element sets), "
            f"got {out.name!r}", "--out",
        )
    limits.check_output_path(out, field="--out")
    const = _load(source, skip_invalid=skip_invalid, epoch=epoch)
    write_tle(const, out)
    typer.echo(f"wrote {len(const):,} element sets to {out}")
