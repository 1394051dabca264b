"""The ``skyfence`` command line: a thin shell over the library, one module per command group.

Every `SkyfenceError` becomes a one-line ``Error: ...`` message with exit code 2.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from ..errors import SkyfenceError

__all__ = ["app", "main"]

# Typer >= 0.20 vendors click; take ClickException from Typer's own class tree so the error is
# caught by whichever click Typer runs on.
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class InputFailure(_ClickException):  # type: ignore[misc, valid-type]
    """A `SkyfenceError` shown to the user without a traceback (exit code 2)."""

    exit_code = 2


class _Group(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
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
    from . import constellation, coverage, network, policy, propagate_cmd, regions, request, run

    run.register(app)
    app.add_typer(constellation.app, name="constellation")
    propagate_cmd.register(app)
    coverage.register(app)
    app.add_typer(regions.app, name="regions")
    app.add_typer(policy.app, name="policy")
    app.add_typer(request.app, name="request")
    network.register(app)


_register()


def main() -> None:
    """Entry point of the ``skyfence`` console script."""
    app()
