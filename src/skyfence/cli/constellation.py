"""``skyfence constellation``: inspect constellations (element files and presets)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect constellations: element files (TLE/3LE/OMM) and presets.",
                  no_args_is_help=True)
