"""``skyfence run``: the main job on a scenario (the built-in default when none is given)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as opt

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""

    @app.command("run")
    def run_cmd(
        scenario: Annotated[Path | None, typer.Option(
            "--scenario", help="Scenario TOML file (default: the built-in scenario).")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Output folder (default: the scenario's outputs.dir).")] = None,
        constellation: opt.Constellation = None,
        start: opt.Start = None,
        duration: Annotated[str | None, typer.Option(help="Window, e.g. 6h.")] = None,
        step: Annotated[str | None, typer.Option(help="Time step, e.g. 60s.")] = None,
        policy: opt.Policy = None,
        gateway_down: opt.GatewayDown = None,
        dask: opt.Dask = None,
        workers: opt.Workers = None,
        memory_budget: opt.MemoryBudget = None,
        no_network: Annotated[bool, typer.Option(
            "--no-network", help="Skip gateways, routing and RTT.")] = False,
        no_maps: opt.NoMaps = False,
        quiet: opt.Quiet = False,
        profile: opt.Profile = False,
    ) -> None:
        """Run a scenario: coverage, policy, network; write tables, maps and a report."""
        from ..scenario import default_scenario, load_scenario, with_overrides
        from ._runjob import execute

        sc = load_scenario(scenario) if scenario else default_scenario()
        network: dict = {"enabled": False if no_network else None}
        if gateway_down:
            network["outages"] = opt.outages(gateway_down)
        sc = with_overrides(sc, {
            "constellation": {"source": constellation},
            "time": {"start": start, "duration": duration, "step": step},
            "policy": {"source": policy},
            "run": {"dask": dask, "workers": workers, "memory_budget_gib": memory_budget},
            "network": network,
            "outputs": {"maps": False if no_maps else None},
        })
        execute(sc, out or Path(sc.outputs.dir), quiet=quiet, profile=profile)
