"""The products of a run as plain tables: what the engine returns and the outputs write.

A `RunTables` holds pandas DataFrames in the project's one column vocabulary
(`skyfence.vocabulary`) and a metadata mapping; it knows nothing of the engine or of files, so
the engine, the outputs, the HTTP service and notebooks exchange it freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["STATUS_NAMES", "RunTables"]

#: Service status codes (``skyfence.policy``: UNCOVERED 0, BLOCKED 1, SERVED 2) and their names.
STATUS_NAMES: dict[int, str] = {0: "uncovered", 1: "blocked", 2: "served"}


@dataclass
class RunTables:
    """The tables of one run.

    Attributes
    ----------
    cells : one row per region cell (coverage, status shares, RTT)
    regions : one row per scenario region (area-weighted)
    regions_by_time : area per status, per region and step
    terminals : one row per terminal and step (coverage, status, rule, path and RTT)
    terminal_summary : one row per terminal
    rules : the policy's rules
    extra : further tables by name (``cells_timeseries``, ``gateway_load``, ``rtt_by_time``,
        ``whatif_regions``, ``whatif_terminals``, ``outages``, ``capacity_by_time``,
        ``satellite_load``, ``gateway_capacity``, ``capacity_whatif_regions``,
        ``capacity_outage_regions``) when the run has them
    metadata : scenario, window, constellation, policy, timings, notes (JSON-able values)
    """

    cells: pd.DataFrame
    regions: pd.DataFrame
    regions_by_time: pd.DataFrame
    terminals: pd.DataFrame
    terminal_summary: pd.DataFrame
    rules: pd.DataFrame
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (the main ones, then ``extra``)."""
        out = {"cells": self.cells, "regions": self.regions,
               "regions_by_time": self.regions_by_time, "terminals": self.terminals,
               "terminal_summary": self.terminal_summary, "rules": self.rules}
        out.update(self.extra)
        return out
