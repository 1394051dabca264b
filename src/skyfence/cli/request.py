"""``skyfence request``: file activation requests, decide them, show the log.

Requests and decisions live in the policy store (``--db``, default ``$SKYFENCE_DB`` or
``./skyfence.sqlite``). Approving a request adds a policy version with a rule for it unless
``--no-apply``; approved and refused are final, deferred may be decided again.

Who acts is identified as the HTTP API does it: by an API token (``--token`` or
``$SKYFENCE_TOKEN``, from ``skyfence users add``) resolved to its user in the same store; filing
needs the role requester, deciding approver, and nobody decides a request they filed (four
eyes). A store without registered users is *open*: ``--by NAME`` (default ``$USER``) names the
actor as before, so existing scripts keep working until the first ``skyfence users add``;
from then on a token is required (``--by`` may still be given, but must name the token's user).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import AccessError, InputError
from ..policy.store import OUTCOMES, parse_request_id
from .policy import EditionOpt, db_path, open_store

__all__ = ["app"]

app = typer.Typer(help="Activation requests and decisions, recorded in the policy store.",
                  no_args_is_help=True)

DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Policy store (SQLite). Default: $SKYFENCE_DB or ./skyfence.sqlite.")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="SKYFENCE_TOKEN", show_envvar=True,
    help="API token (skyfence users add): acts as its user. Required once the store has "
    "users.")]


@app.command("file")
def file_request(
    region: Annotated[str, typer.Option("--region", help="Region name (catalogue or policy).")],
    action: Annotated[str, typer.Option("--action", help="on or off.")],
    why: Annotated[str, typer.Option("--why", help="Why the request is made.")],
    start: Annotated[str | None, typer.Option("--from", help="Window start, UTC ISO 8601.")]
    = None,
    end: Annotated[str | None, typer.Option("--to", help="Window end (exclusive), UTC ISO.")]
    = None,
    at: Annotated[str | None, typer.Option("--at", help="When it was asked; default now.")]
    = None,
    reference: Annotated[str, typer.Option("--reference", help="URL or document.")] = "",
    policy_name: Annotated[str, typer.Option("--policy-name", help="Policy it concerns.")]
    = "default",
    db: DbOpt = None,
    edition: EditionOpt = "deu",
    token: TokenOpt = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who asks, in a store without users (default $USER); with users the "
        "token names the requester.")] = None,
) -> None:
    """File an activation request (service on or off over a region)."""
    from ..service.users import identify_cli

    if action not in ("on", "off"):
        raise InputError(f"unknown action {action!r}; use on or off", "--action")
    by = identify_cli(db_path(db), token=token, by=by, need="requester",
                      action="request file").name
    with open_store(db, create=True, edition=edition) as store:
        req = store.file_request(by=by, region=region, action=action, why=why, at=at,
                                 start=start, end=end, reference=reference,
                                 policy_name=policy_name)
    typer.echo(f"request {req.id} filed: {req.requested_by} asks service {req.action} over "
               f"{req.region}")


@app.command("decide")
def decide(
    request_id: Annotated[str, typer.Argument(help="Request id (see: skyfence request log).",
                                              show_default=False)],
    outcome: Annotated[str, typer.Option("--outcome", help="approved, refused or deferred.")],
    why: Annotated[str, typer.Option("--why", help="Reason for the decision.")],
    at: Annotated[str | None, typer.Option("--at", help="When decided; default now.")] = None,
    reference: Annotated[str, typer.Option("--reference", help="URL or document.")] = "",
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="On approval, add a policy "
                                        "version with a rule for the request.")] = True,
    db: DbOpt = None,
    edition: EditionOpt = "deu",
    token: TokenOpt = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who decides, in a store without users (default $USER); with users the "
        "token names the approver.")] = None,
) -> None:
    """Decide a request: approved (adds a policy version unless --no-apply), refused, deferred.

    Nobody decides a request they filed (four eyes).
    """
    from ..service.users import identify_cli

    rid = parse_request_id(request_id, "request_id")
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome {outcome!r}; use {', '.join(OUTCOMES)}", "--outcome")
    by = identify_cli(db_path(db), token=token, by=by, need="approver",
                      action=f"request decide {rid}").name
    with open_store(db, edition=edition) as store:
        req = store.request(rid)
        if req.requested_by == by:
            raise AccessError(f"four eyes: {by!r} filed request {rid} and may not "
                              "decide it; another approver must")
        dec = store.decide(rid, by=by, outcome=outcome, reason=why, at=at,
                           reference=reference, apply=apply)
        label = None
        if dec.policy_version_id is not None:
            label = next(v.label() for v in store.versions()
                         if v.id == dec.policy_version_id)
    typer.echo(f"decision {dec.id}: request {rid} {dec.outcome} by {dec.decided_by}")
    if label:
        typer.echo(f"stored {label} with a rule for request {rid}")


@app.command("log")
def log(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOpt = None,
) -> None:
    """List requests with their decisions."""
    if fmt not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}; use table or json", "--format")
    with open_store(db) as store:
        reqs = store.requests()
    if fmt == "json":
        typer.echo(json.dumps([r.as_dict() for r in reqs], indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="activation requests")
    for col in ("id", "asked (UTC)", "by", "region", "action", "window", "status",
                "decided by", "reason"):
        table.add_column(col, overflow="fold")
    for r in reqs:
        last = r.decisions[-1] if r.decisions else None
        window = "" if not (r.window_start or r.window_end) else \
            f"[{r.window_start or '-inf'}, {r.window_end or '+inf'})"
        table.add_row(str(r.id), r.requested_at, r.requested_by, r.region, r.action, window,
                      r.status, last.decided_by if last else "", last.reason if last else r.why)
    Console(width=160).print(table)
