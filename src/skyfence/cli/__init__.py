"""The ``skyfence`` command line: a thin shell over the library, one module per command group.

Every `SkyfenceError` becomes a one-line ``Error: ...`` message with exit code 2.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from ..errors import SkyfenceError

__all__ = ["app", "main"]


class _Group(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SkyfenceError as exc:
            # One plain line on stderr (scriptable), exit code 2.
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from exc
        except TyperException as exc:
            # typer's (vendored) click usage errors of a command's options (a bad value, a
            # missing option, an unknown command): one plain line too, exit code 2.
            if isinstance(exc, (typer.Exit, typer.Abort)) or not hasattr(exc, "format_message"):
                raise
            message = " ".join(exc.format_message().split())
            if not message:  # a group called without arguments shows its help
                raise
            sub = getattr(exc, "ctx", None)
            hint = f" (see: {sub.command_path} --help)" if sub is not None else ""
            typer.echo(f"Error: {message}{hint}", err=True)
            raise typer.Exit(int(getattr(exc, "exit_code", 2) or 2)) from exc


app = typer.Typer(
    cls=_Group,
    name="skyfence",
    help="Simulate a Starlink-like constellation and the territorial policy that decides "
    "where it works.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Each command-group module defines ``app`` (a group) or ``register(app)`` (top-level commands).
    from . import (
        constellation,
        coverage,
        hypatia,
        network,
        policy,
        propagate_cmd,
        regions,
        request,
        run,
    )
    from . import sites as sites_cmd

    run.register(app)
    app.add_typer(constellation.app, name="constellation")
    propagate_cmd.register(app)
    coverage.register(app)
    app.add_typer(regions.app, name="regions")
    app.add_typer(policy.app, name="policy")
    app.add_typer(request.app, name="request")
    network.register(app)
    hypatia.register(app)
    app.add_typer(sites_cmd.app, name="sites")


_register()


def _register_console() -> None:
    # The operator console (skyfence.service): ``serve`` and ``users``.
    from . import serve, users

    serve.register(app)
    app.add_typer(users.app, name="users")


_register_console()


def main() -> None:
    """Entry point of the ``skyfence`` console script."""
    app()
