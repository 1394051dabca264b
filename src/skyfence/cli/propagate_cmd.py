"""``skyfence propagate``: SGP4 positions (ITRS, km) of a constellation to Parquet/CSV."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``propagate`` command to ``app``."""
