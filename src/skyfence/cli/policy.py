"""``skyfence policy``: show, apply, diff, verify, export and check territorial service policies.

Store commands take ``--db PATH`` (default ``$SKYFENCE_DB`` or ``./skyfence.sqlite``).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..errors import InputError, PolicyError, SiteError, StoreError
from ..ground.terminals import Terminal, parse_ground_point, parse_ground_points
from ..policy import catalogue_resolver
from ..policy.diff import diff_policies, rule_changes
from ..policy.io import PolicyFile, dump_policy, load_policy_file
from ..policy.rules import CompiledPolicy, PolicyDoc, compile_policy, format_utc, to_utc_datetime
from ..policy.store import AuditReport, PolicyStore

__all__ = ["app", "db_path", "open_store", "parse_point"]

app = typer.Typer(help="Territorial service policy: rules per H3 res-5 cell, versioned in a "
                  "durable store with a hash-chained audit log.", no_args_is_help=True)

DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Policy store (SQLite). Default: $SKYFENCE_DB or ./skyfence.sqlite.")]
NameOpt = Annotated[str, typer.Option("--name", help="Policy name in the store.")]
EditionOpt = Annotated[str, typer.Option(
    "--edition", help="Natural Earth boundary edition for region names: deu (German point of "
    "view: Crimea in Ukraine, Taiwan on its own) or default (de facto control).")]


def db_path(db: Path | None) -> Path:
    """``--db``, else ``$SKYFENCE_DB``, else ``./skyfence.sqlite``."""
    if db is not None:
        return db
    return Path(os.environ.get("SKYFENCE_DB") or "skyfence.sqlite")


def open_store(db: Path | None, *, create: bool = False, edition: str = "deu") -> PolicyStore:
    """Open the store for a command (read commands refuse a missing file)."""
    return PolicyStore(db_path(db), create=create,
                       resolver=catalogue_resolver(edition))


def _who(by: str | None) -> str:
    return by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


def _console() -> Any:
    from rich.console import Console

    return Console(width=160, soft_wrap=False)


def _rules_table(doc: PolicyDoc, title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in ("#", "rule", "target", "action", "priority", "window (UTC)", "reason"):
        table.add_column(col, overflow="fold")
    for i, r in enumerate(doc.rules):
        target = r.region if r.region is not None else f"{len(r.cells or [])} cells"
        window = ("" if not r.timed else
                  f"[{format_utc(r.start) if r.start else '-inf'}, "
                  f"{format_utc(r.end) if r.end else '+inf'})")
        table.add_row(str(i), r.name, target, r.action, str(r.priority), window, r.reason)
    for m in doc.moving_rules:
        window = ("" if not m.timed else
                  f"[{format_utc(m.start) if m.start else '-inf'}, "
                  f"{format_utc(m.end) if m.end else '+inf'})")
        exempt = ", registered exempt" if m.exempt_registered else ""
        table.add_row("m", m.name, m.region, f"off > {m.max_speed_kmh:g} km/h{exempt}", "",
                      window, m.reason)
    for tr in doc.terminal_rules:
        window = ("" if not tr.timed else
                  f"[{format_utc(tr.start) if tr.start else '-inf'}, "
                  f"{format_utc(tr.end) if tr.end else '+inf'})")
        table.add_row("t", tr.name, tr.region, f"off unless {tr.require}", "", window,
                      tr.reason)
    for terr in doc.territories:
        hist = "; ".join(f"{h.status} from {format_utc(h.since)[:10] if h.since else 'start'}"
                         for h in terr.history)
        table.add_row("s", terr.name or terr.region, terr.region, hist, "0", "",
                      terr.history[-1].source)
    if doc.international_waters is not None:
        table.add_row("", "international-waters", "beyond 12-nm seas", doc.international_waters,
                      "", "", doc.international_waters_reason)
    table.add_row("", "default", "rest of the world", doc.default_action, "", "",
                  doc.default_reason)
    if doc.territories:
        table.caption = (f"shared cells: {doc.shared_cells}; unknown status treated as "
                         f"{doc.unknown_action}")
    return table


@app.command("show")
def show(
    version: Annotated[int | None, typer.Option("--version", help="Version number; default "
                                                "the latest.")] = None,
    name: NameOpt = "default",
    db: DbOpt = None,
    policy: Annotated[str | None, typer.Option(
        "--policy", help="Show a policy file or a built-in policy (world, default) instead of "
        "a stored version.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, toml or json.")] = "table",
) -> None:
    """Show a stored policy version (the latest by default) or a policy file."""
    if fmt not in ("table", "toml", "json"):
        raise InputError(f"unknown format {fmt!r}; use table, toml or json", "--format")
    if policy is not None:
        from ..policy.builtin import load_builtin_or_file

        doc: PolicyDoc = load_builtin_or_file(policy).policy()
        title = f"{doc.name} ({policy})"
    else:
        with open_store(db) as store:
            v = store.get_version(version, name)
            doc = v.doc()
            n = len(store.versions(name))
            title = (f"{v.label()} of {n}: by {v.created_by} at {v.created_at}"
                     + (f" ({v.comment})" if v.comment else ""))
    if fmt == "table":
        _console().print(_rules_table(doc, title))
    else:
        typer.echo(dump_policy(doc, fmt), nl=False)


@app.command("versions")
def versions(name: Annotated[str | None, typer.Option("--name", help="Only this policy.")] = None,
             db: DbOpt = None) -> None:
    """List stored policy versions."""
    with open_store(db) as store:
        rows = store.versions(name)
    for v in rows:
        typer.echo(f"{v.label()}\t{v.created_at}\t{v.created_by}\t{v.content_sha256[:12]}\t"
                   f"{v.comment}")


@app.command("apply")
def apply(
    file: Annotated[str, typer.Argument(help="Policy file (.toml or .json) or a built-in "
                                        "policy name (world, default).")],
    by: Annotated[str | None, typer.Option("--by", help="Who applies it (default $USER).")] = None,
    comment: Annotated[str, typer.Option("--comment", help="Why this version.")] = "",
    db: DbOpt = None,
    edition: EditionOpt = "deu",
    token: Annotated[str | None, typer.Option(
        "--token", envvar="SKYFENCE_TOKEN", help="An admin's API token (required once the "
        "store has users; see skyfence request --help).")] = None,
    allow_sweeping: Annotated[bool, typer.Option(
        "--allow-sweeping", help="Store a version that changes service everywhere (every rule "
        "removed, or the default action flipped); without it such a version is refused with "
        "what it would change.")] = False,
) -> None:
    """Store a policy file as a new version (and record the request history it carries).

    A version that would change service everywhere (an empty file, one with only a default,
    a flipped default) is refused unless --allow-sweeping; an allowed sweep is recorded in
    the version's comment.
    """
    from ..policy.builtin import load_builtin_or_file
    from ..service.users import identify_cli

    who = identify_cli(db_path(db), token=token, by=_who(by) if by else None, need="admin",
                       action=f"policy apply {file}").name
    pf = load_builtin_or_file(file)
    with open_store(db, create=True, edition=edition) as store:
        sweep = store.sweeping_change(pf.policy()) if allow_sweeping else None
        v, created, imported = store.apply_file(pf, by=who, comment=comment,
                                                source=str(file), allow_sweeping=allow_sweeping)
    typer.echo(f"stored {v.label()}" if created else f"unchanged: {v.label()} already holds it")
    if created and sweep is not None:
        typer.echo(f"sweeping change allowed: {sweep.describe()}")
    if pf.requests:
        typer.echo(f"history: {imported.requests_added} requests and "
                   f"{imported.decisions_added} decisions added, "
                   f"{imported.requests_skipped} requests already stored")


_VERSION_RE = re.compile(r"^[vV]?(\d+)$")


def _load_side(ref: str, store: PolicyStore | None, name: str) -> tuple[PolicyDoc, str]:
    p = Path(ref)
    m = _VERSION_RE.match(ref)
    if m and not p.exists():
        if store is None:
            raise InputError(f"{ref!r} is a version number but no store was found; give --db",
                             "A/B")
        v = store.get_version(int(m.group(1)), name)
        return v.doc(), v.label()
    if not p.exists() and not p.suffix and "/" not in ref:
        from ..policy.builtin import load_builtin_or_file

        return load_builtin_or_file(ref).policy(), f"built-in {ref}"
    return load_policy_file(p).policy(), str(p)


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="Policy A: a version number (3 or v3) or a file.")],
    b: Annotated[str, typer.Argument(help="Policy B: a version number or a file.")],
    at: Annotated[str | None, typer.Option("--at", help="UTC time (ISO 8601); default now.")]
    = None,
    name: NameOpt = "default",
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for policy-diff.csv (every cell that gains or loses service).")]
    = None,
    limit: Annotated[int, typer.Option("--limit", help="Changed cells to print.")] = 20,
    edition: EditionOpt = "deu",
) -> None:
    """What-if: cells that gain or lose service from policy A to policy B, with km^2."""
    path = db_path(db)
    store = open_store(db, edition=edition) if path.is_file() else None
    try:
        doc_a, label_a = _load_side(a, store, name)
        doc_b, label_b = _load_side(b, store, name)
    finally:
        if store is not None:
            store.close()
    resolver = catalogue_resolver(edition)
    ca = compile_policy(doc_a, resolver, source=label_a)
    cb = compile_policy(doc_b, resolver, source=label_b)
    t = to_utc_datetime(at if at is not None else _now(), "--at")
    result = diff_policies(ca, cb, format_utc(t))
    typer.echo(f"A = {label_a}, B = {label_b}, at {format_utc(t)}")
    for ch in rule_changes(doc_a, doc_b):
        typer.echo(f"  {ch}")
    s = result.summary()
    typer.echo(f"gain: {s['gain_cells']} cells, {s['gain_km2']:.0f} km^2; "
               f"loss: {s['loss_cells']} cells, {s['loss_km2']:.0f} km^2 "
               f"(of {s['cells_compared']} cells named by either policy)")
    if result.default_changed:
        typer.echo(f"rest of the world: {result.default_a} -> {result.default_b}")
    rows = result.records()
    for r in rows[:limit]:
        typer.echo(f"  {r['h3_cell']}  {r['status']:<4}  {r['area_km2']:8.1f} km^2  "
                   f"{r['rule_a']} -> {r['rule_b']}")
    if len(rows) > limit:
        typer.echo(f"  ... {len(rows) - limit} more")
    if out is not None:
        for written in write_diff_outputs(result, out, edition):
            typer.echo(f"wrote {written}")


def write_diff_outputs(result: Any, out: Path, edition: str = "deu") -> list[Path]:
    """Write a policy diff as a table (CSV), cells (GeoJSON) and a map (PNG) under ``out``.

    The map colours cells gaining service green and cells losing it red; cells whose service
    does not change are left out of the map (they are in the table).
    """
    from ..outputs.geojson import cells_feature_collection, write_geojson
    from ..outputs.maps import country_borders, plot_cell_map

    out.mkdir(parents=True, exist_ok=True)
    frame = result.to_frame()
    files = [out / "policy-diff.csv"]
    frame.to_csv(files[0], index=False)
    changed = result.changed
    if changed.any():
        cells = result.cells[changed]
        value = np.where(result.served_b[changed], 1.0, -1.0)
        files.append(write_geojson(cells_feature_collection(cells, {
            "change": np.where(value > 0, "gain", "loss"),
            "area_km2": result.area_km2[changed],
            "rule_a": result.rule_a[changed], "rule_b": result.rule_b[changed]}),
            out / "policy-diff.geojson"))
        files.append(plot_cell_map(
            cells, value, out / "policy-diff.png", borders=country_borders(edition),
            cmap="RdYlGn", vmin=-1.0, vmax=1.0,
            title=f"policy what-if at {result.t_utc}: green gains, red loses service",
            label="-1 loses service, +1 gains"))
    return files


@app.command("verify")
def verify(
    db: DbOpt = None,
    expect_head: Annotated[str | None, typer.Option(
        "--expect-head", help="Head hash recorded earlier; a different head is reported.")]
    = None,
    reanchor: Annotated[bool, typer.Option(
        "--reanchor", help="After a full check of the chain and every row, write a fresh "
        "anchor for the current head (for a lost, damaged or outdated anchor file). Over an "
        "anchor that disagrees with the database it needs --expect-head HEAD, the head you "
        "trust, so a rollback is never accepted silently. Admin token required once the store "
        "has users.")] = False,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="SKYFENCE_TOKEN", help="An admin's API token (for --reanchor once "
        "the store has users).")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who re-anchors, in a store without users (default $USER).")] = None,
) -> None:
    """Check the schema, the audit chain, every stored row and the anchor file; never writes
    (unless --reanchor). Prints the anchor's state and notes (writes interrupted before their
    anchor update); exits 2 with one Error line when anything does not verify."""
    path = db_path(db)
    if reanchor:
        _reanchor(path, expect_head, token=token, by=by)
        return
    with PolicyStore(path, create=False, resolver=None) as store:
        report = store.verify(expected_head=expect_head)
    _print_report(report)
    if not report.ok:
        _fail(path, report)


def _print_report(report: AuditReport) -> None:
    """The findings (stderr), then the anchor's state and the notes."""
    if report.ok:
        typer.echo(f"OK: {report.entries} audit entries, head {report.head}")
    for f in report.findings:
        typer.echo(f"  {f}", err=True)
    if report.anchor is not None and report.anchor_state:
        typer.echo(f"anchor: {report.anchor}: {report.anchor_state}")
    for note in report.notes:
        typer.echo(f"note: {note}")


def _fail(path: Path, report: AuditReport) -> None:
    n = len(report.findings)
    raise StoreError(f"{path} does not verify: {n} finding{'s' if n != 1 else ''} in "
                     f"{report.entries} audit entries (first: {report.findings[0]})")


def _reanchor(path: Path, expect_head: str | None, *, token: str | None,
              by: str | None) -> None:
    """`PolicyStore.reanchor` after a full check; refuses over a chain or a row that does not
    verify, and over a disagreeing anchor unless ``expect_head`` names the current head."""
    from ..service.users import identify_cli

    who = identify_cli(path, token=token, by=_who(by) if by else None, need="admin",
                       action="policy verify --reanchor").name
    with PolicyStore(path, create=False, resolver=None) as store:
        report = store.verify(expected_head=expect_head)
        others = [f for f in report.findings if f.table != "anchor"]
        if others:
            _print_report(report)
            raise StoreError(f"{path}: refusing to re-anchor: the store itself does not verify "
                             f"({len(others)} findings; first: {others[0]}); nothing written")
        disagrees = report.anchor_state in ("does not match", "unreadable")
        if disagrees and expect_head is None:
            _print_report(report)
            raise StoreError(
                f"{path}: refusing to re-anchor: the anchor file disagrees with the database "
                f"({report.findings[0].problem}); if the database is the one to trust, give "
                f"--expect-head {report.head} (its current head, after checking it against a "
                "copy recorded elsewhere); nothing written")
        before = report.anchor_state or "none"
        head = store.reanchor()
        after = store.verify(expected_head=expect_head)
    typer.echo(f"re-anchored by {who}: head {head} (entry {after.entries}); before: anchor "
               f"{before}")
    _print_report(after)
    if not after.ok:
        _fail(path, after)

@app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="toml or json.")] = "toml",
    version: Annotated[int | None, typer.Option("--version", help="Default: the latest.")]
    = None,
    name: NameOpt = "default",
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="File to write; default stdout.")]
    = None,
) -> None:
    """Export a stored policy version as TOML or JSON."""
    if fmt not in ("toml", "json"):
        raise InputError(f"unknown format {fmt!r}; use toml or json", "--format")
    with PolicyStore(db_path(db), create=False, resolver=None) as store:
        text = store.export_policy(version, name, fmt)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


def parse_point(text: str, where: str = "--point") -> Terminal:
    """One ``--point`` in the ground-point syntax of every command (`parse_ground_point`).

    ``NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..]``: WGS-84 degrees, metres, km/h.
    """
    return parse_ground_point(text, where)


@app.command("check")
def check(
    point: Annotated[list[str], typer.Option(
        "--point", help="NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..] (WGS-84 degrees, "
        "metres, km/h), e.g. Kyiv=50.45,30.52,speed_kmh=90; repeat for more.")],
    at: Annotated[str | None, typer.Option("--at", help="UTC time (ISO 8601); default now.")]
    = None,
    fmt: Annotated[str, typer.Option("--format", help="json or table.")] = "table",
    policy: Annotated[str | None, typer.Option(
        "--policy", help="A built-in policy name (world, default) or a policy file; "
        "default: the built-in world policy.")] = None,
    db: Annotated[Path | None, typer.Option(
        "--db", help="Use the latest (or --version) stored policy of this store.")] = None,
    version: Annotated[int | None, typer.Option("--version", help="Stored version (with "
                                                "--db).")] = None,
    name: NameOpt = "default",
    edition: EditionOpt = "deu",
    registered: Annotated[list[str] | None, typer.Option(
        "--registered", help="Point name (or terminal id) of a registered (whitelisted) "
        "terminal; repeat for more. Others count as not registered.")] = None,
    terminal_id: Annotated[list[str] | None, typer.Option(
        "--terminal-id", help="NAME=ID: the terminal id of a point; repeat for more.")] = None,
) -> None:
    """Is a terminal at each point served? Prints name, cell, served, rule, code, the
    territories the cell touches (with land shares) and the reason.

    Without --policy or --db the built-in world policy decides.
    """
    if fmt not in ("json", "table"):
        raise InputError(f"unknown format {fmt!r}; use json or table", "--format")
    if policy is not None and db is not None:
        raise PolicyError("give --policy or --db, not both", "--policy")
    points = parse_ground_points(point, "--point")
    ids: dict[str, str] = {p.name: p.id for p in points if p.id}
    for item in terminal_id or []:
        nm, sep, tid = item.partition("=")
        if not sep or not nm.strip() or not tid.strip():
            raise SiteError(f"cannot read {item!r}; use NAME=ID", "--terminal-id")
        if nm.strip() not in {p.name for p in points}:
            raise SiteError(f"--terminal-id names {nm.strip()!r}, which is not a --point",
                            "--terminal-id")
        ids[nm.strip()] = tid.strip()
    reg = {r.strip() for r in (registered or [])}
    known = {p.name for p in points} | set(ids.values())
    unknown = sorted(reg - known)
    if unknown:
        raise SiteError(f"--registered names {', '.join(map(repr, unknown))}, not a point name "
                        "or terminal id", "--registered")
    source: str
    if db is not None:
        with open_store(db, edition=edition) as store:
            v = store.get_version(version, name)
        doc, source = v.doc(), v.label()
    else:
        from ..policy.builtin import DEFAULT_POLICY_NAME, load_builtin_or_file

        pf: PolicyFile = load_builtin_or_file(policy)
        doc = pf.policy()
        source = f"built-in {policy or DEFAULT_POLICY_NAME} policy" if policy is None or (
            not Path(policy).is_file()) else str(policy)
    from ..policy.builtin import compiled_policy

    compiled: CompiledPolicy = compiled_policy(doc, edition, source=source)
    t = to_utc_datetime(at if at is not None else _now(), "--at")
    decisions = compiled.check_points(
        [p.name for p in points], [p.lat_deg for p in points], [p.lon_deg for p in points],
        format_utc(t), speed_kmh=[p.speed_kmh for p in points],
        terminal_ids=[ids.get(p.name) for p in points],
        registered=[(bool(p.is_registered(format_utc(t)).all()) or p.name in reg
                     or ids.get(p.name) in reg) for p in points])
    if fmt == "json":
        typer.echo(json.dumps([d.as_dict() for d in decisions], indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{source} at {format_utc(t)}")
    for col in ("name", "cell", "served", "rule", "code", "territories", "reason"):
        table.add_column(col, overflow="fold")
    for d in decisions:
        terr = ", ".join(f"{n} {s:.0%}" if s > 0 else f"{n} (sea)" for n, s in d.territories)
        table.add_row(d.name, d.cell, "yes" if d.served else "no", d.rule, d.code or "",
                      terr or "international waters", d.reason)
    _console().print(table)
