"""``skyfence users``: users, roles and API tokens of the operator console (same store file).

Roles, weakest first: viewer (reads), requester (+ files requests, what-if jobs), approver
(+ decides requests filed by others), admin (+ stores policies, manages users). ``add`` prints
the new token alone on its last line (``TOKEN=$(skyfence users add ana --role viewer | tail
-1)``); only its SHA-256 is stored, so it cannot be shown again (``users token`` issues a new
one). Administration through this command needs write access to the store file; with a token
(``--token`` / ``$SKYFENCE_TOKEN``) it must be an admin's and is recorded as the actor, else
the actor is ``local:$USER``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError

__all__ = ["app", "open_users", "resolve_actor"]

app = typer.Typer(help="Users, roles and API tokens of the operator console (skyfence serve).",
                  no_args_is_help=True)

DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Store file (SQLite). Default: $SKYFENCE_DB or ./skyfence.sqlite.")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="SKYFENCE_TOKEN", show_envvar=True,
    help="An admin's API token: recorded as who administers (default: local:$USER).")]


def _db(db: Path | None) -> Path:
    from .policy import db_path

    return db_path(db)


def open_users(db: Path | None, *, create: bool = True) -> Any:
    """The `UserStore` of the store file (its ``svc_`` tables created when missing). A new
    file is created as a policy store first, so it is one file for both (as ``serve`` does)."""
    from ..policy.store import PolicyStore
    from ..service.users import UserStore

    path = _db(db)
    if create:
        with PolicyStore(path):  # creates the store's schema, or refuses a foreign file
            pass
    return UserStore(path, create=create)


def resolve_actor(users: Any, token: str | None, action: str) -> str:
    """Who administers: an admin token's user, else ``local:$USER``."""
    from ..service.users import identify, local_actor_name

    if token:
        return str(identify(users, token=token, by=None, need="admin", client="cli",
                            action=action).name)
    return local_actor_name()


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name: letters, digits, . _ @ -")],
    role: Annotated[str, typer.Option("--role", help="viewer, requester, approver or admin.")],
    db: DbOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register a user; prints its API token alone on the last line (shown once)."""
    from ..service.users import check_role, check_user_name

    check_user_name(name, "NAME")
    check_role(role, "--role")
    with open_users(db) as users:
        actor = resolve_actor(users, token, f"users add {name}")
        user, new_token = users.add_user(name, role, by=actor)
    typer.echo(f"added {user.name} ({user.role}) to {_db(db)}; keep this token secret, it is "
               "shown once:", err=True)
    typer.echo(new_token)


@app.command("token")
def token_cmd(
    name: Annotated[str, typer.Argument(help="An active user.")],
    db: DbOpt = None,
    token: TokenOpt = None,
) -> None:
    """Issue a further token for a user (prints it alone on the last line)."""
    with open_users(db, create=False) as users:
        actor = resolve_actor(users, token, f"users token {name}")
        new_token = users.issue_token(name, by=actor)
    typer.echo(f"new token for {name}; shown once:", err=True)
    typer.echo(new_token)


@app.command("list")
def list_users(
    db: DbOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Users with their roles, tokens (ids only) and last use."""
    if fmt not in ("table", "json"):
        raise InputError(f"unknown format {fmt!r}; use table or json", "--format")
    with open_users(db, create=False) as users:
        rows = users.users()
        tokens = users.tokens()
    by_user: dict[str, list[dict[str, Any]]] = {}
    for t in tokens:
        by_user.setdefault(t["user_name"], []).append(t)
    if fmt == "json":
        typer.echo(json.dumps([{**u.as_dict(), "tokens": by_user.get(u.name, [])}
                               for u in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"users of {_db(db)}")
    for col in ("name", "role", "state", "created (UTC)", "by", "tokens", "last use (UTC)"):
        table.add_column(col, overflow="fold")
    for u in rows:
        toks = by_user.get(u.name, [])
        active = [t for t in toks if t["revoked_at"] is None]
        last = max((t["last_used_at"] for t in toks if t["last_used_at"]), default="")
        state = "active" if u.active else f"revoked {u.revoked_at} by {u.revoked_by}"
        table.add_row(u.name, u.role, state, u.created_at, u.created_by,
                      f"{len(active)} active / {len(toks)}: "
                      + ", ".join(t["id"] for t in toks), last)
    Console(width=160).print(table)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The user to revoke (with all their tokens).")],
    db: DbOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke a user and all their tokens; every later use is refused (HTTP 401)."""
    with open_users(db, create=False) as users:
        actor = resolve_actor(users, token, f"users revoke {name}")
        user = users.revoke_user(name, by=actor)
    typer.echo(f"revoked {user.name} ({user.role}) at {user.revoked_at}")


@app.command("log")
def usage_log(
    db: DbOpt = None,
    token_id: Annotated[str | None, typer.Option("--token-id", help="Only this token.")]
    = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 50,
) -> None:
    """The newest token uses (API calls and CLI commands), newest first."""
    with open_users(db, create=False) as users:
        uses = users.uses(token_id, limit)
    for u in uses:
        typer.echo(f"{u.at}\t{u.token_id or '-'}\t{u.user_name or '-'}\t{u.client}\t"
                   f"{u.method} {u.target}\t{u.status if u.status is not None else '-'}")
