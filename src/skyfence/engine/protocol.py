"""The stage protocol: prepare once, update per step, pure mergeable partials, finalize to tables.

A run is a sequence of time steps. At each step the pipeline computes what every stage shares
(`StepData`: satellite positions, the visibility of every ground point, the scheduler's serving
satellite, the policy's decision and the service status) and hands it to each stage's
accumulator. A stage::

    name: str                                    unique ("coverage", "policy", "network", ...)
    start(ctx, t_utc) -> accumulator             for one time chunk
    accumulator.update(step: StepData)           per step, in time order
    accumulator.result() -> partial              the chunk's partial result
    concat(a, b) -> partial                      pure: ``a``'s steps directly followed by ``b``'s
    finalize(ctx, partial) -> dict[str, ...]     tables / columns for the outputs

`concat` joins partials of adjacent chunks; `Segment` and `ChunkResult` (in `pipeline`) keep
partials of chunks that do not touch apart until the chunks between them arrive, so merging is
pure, associative and order-free, and a run merged in any grouping equals the one-chunk run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..coverage import StepVisibility

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["Accumulator", "Stage", "StepData"]


@dataclass(frozen=True)
class StepData:
    """What the pipeline computes once per step and every stage reads.

    Attributes
    ----------
    i : int
        Step index in the run's grid (``ctx.t_utc[i] == t_utc``).
    t_utc : datetime64[ns]
    r_sat_itrs_km : float64 (n_sat, 3)
        Satellite positions, ITRS km (NaN rows where SGP4 failed).
    visibility : StepVisibility
        Usable satellites of every ground point (pairs present on routed steps).
    serving : int64 (n_point,)
        The scheduler's serving satellite (coverage strategy, held within a slot); -1 = none.
    allowed : bool (n_point,)
        Whether the policy allows service (moving-terminal rules applied).
    rule_index : int32 (n_point,)
        Deciding rule per point, an index into ``ctx.rule_labels`` (-1 = the default).
    code : int8 (n_point,)
        The policy's dish code (`skyfence.policy.STATUS_CODES` index; 0 = allowed).
    status : int8 (n_point,)
        ``SERVED`` / ``BLOCKED`` (covered but switched off) / ``UNCOVERED``.
    """

    i: int
    t_utc: np.datetime64
    r_sat_itrs_km: np.ndarray
    visibility: StepVisibility
    serving: np.ndarray
    allowed: np.ndarray
    rule_index: np.ndarray
    code: np.ndarray
    status: np.ndarray


class Accumulator(Protocol):
    """A stage's per-chunk state."""

    def update(self, step: StepData) -> None:  # pragma: no cover - protocol
        ...

    def result(self) -> Any:  # pragma: no cover - protocol
        ...


class Stage(Protocol):
    """A pipeline stage (see the module docstring)."""

    name: str

    def start(self, ctx: RunContext, t_utc: np.ndarray) -> Accumulator:  # pragma: no cover
        ...

    def concat(self, a: Any, b: Any) -> Any:  # pragma: no cover - protocol
        ...

    def finalize(self, ctx: RunContext, partial: Any) -> dict[str, Any]:  # pragma: no cover
        ...
