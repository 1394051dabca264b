"""The stages of the pipeline, by name, in pipeline order (see `skyfence.engine.protocol`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .capacity_stage import CapacityStage
from .coverage_stage import CoverageStage
from .network_stage import NetworkStage
from .policy_stage import PolicyStage
from .series_stage import CellSeriesStage

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["STAGES", "make_stages"]

#: Every stage by name, in pipeline order.
STAGES: dict[str, Any] = {"coverage": CoverageStage, "policy": PolicyStage,
                          "network": NetworkStage, "capacity": CapacityStage,
                          "cell_series": CellSeriesStage}


def make_stages(ctx: RunContext, names: Sequence[str]) -> tuple[Any, ...]:
    """Prepared stages by name, in pipeline order (coverage, policy, network, capacity)."""
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise InputError(f"unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}", "stages")
    order = [n for n in STAGES if n in names]
    if "network" in order and "policy" not in order:
        raise InputError("the network stage needs the policy stage", "stages")
    if "capacity" in order and "policy" not in order:
        raise InputError("the capacity stage needs the policy stage", "stages")
    stages: tuple[Any, ...] = ()
    for n in order:  # later stages may read earlier ones (ctx.stage) while preparing
        ctx.stages = stages
        stages = (*stages, STAGES[n].prepare(ctx))
    return stages
