"""The ``skyfence`` command line: a thin shell over the library, one module per command group.

Every `SkyfenceError` becomes a one-line ``Error: ...`` message with exit code 2.
"""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from ..errors import SkyfenceError

__all__ = ["app", "main"]


class InputFailure(click.ClickException):
    """A `SkyfenceError` shown to the user without a traceback (exit code 2)."""

    exit_code = 2


class _Group(TyperGroup):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SkyfenceError as exc:
            raise InputFailure(str(exc)) from exc


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
    from . import constellation, propagate_cmd

    app.add_typer(constellation.app, name="constellation")
    propagate_cmd.register(app)


_register()


def main() -> None:
    """Entry point of the ``skyfence`` console script."""
    app()
