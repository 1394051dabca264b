"""The policy stage: who is served, covered but blocked, or uncovered, per point and region.

Status per point and step (computed once by the pipeline, `StepData.status`): *served* (a
usable satellite and the policy allows service), *blocked* (a usable satellite but the policy
switches the point off) or *uncovered* (no usable satellite). This stage counts steps per
status and point, records the status and deciding rule per step of the points whose series are
kept (terminals, then ``ground.timeseries_cells``), and the area of each region in each status
per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .protocol import StepData

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["PolicyPart", "PolicyStage"]

_CODES = np.array([0, 1, 2], dtype=np.int8)


@dataclass(frozen=True)
class PolicyPart:
    """Partial policy results of consecutive steps (immutable).

    status_steps : int32 (3, n_point), steps per status code (index = code)
    series_status : int8 (n_time, n_series), status of the series points per step
    series_rule : int32 (n_time, n_series), deciding rule (-1 = default)
    series_code : int8 (n_time, n_series), the policy's dish code index (0 = allowed)
    region_status_km2 : float64 (n_time, n_region, 3), area per status code
    t_utc : datetime64[ns] (n_time,)
    """

    status_steps: np.ndarray
    series_status: np.ndarray
    series_rule: np.ndarray
    series_code: np.ndarray
    region_status_km2: np.ndarray
    t_utc: np.ndarray


class _Acc:
    def __init__(self, stage: PolicyStage, ctx: RunContext, t_utc: np.ndarray) -> None:
        g = ctx.ground
        n_t, n_term = t_utc.size, stage.series_points.size
        self.term = stage.series_points
        self.weights = stage.weights
        self.status_steps = np.zeros((3, g.n_points), np.int32)
        self.series_status = np.zeros((n_t, n_term), np.int8)
        self.series_rule = np.full((n_t, n_term), -1, np.int32)
        self.series_code = np.zeros((n_t, n_term), np.int8)
        self.region_km2 = np.zeros((n_t, len(g.regions), 3))
        self.t_utc = t_utc
        self.k = 0

    def update(self, step: StepData) -> None:
        k = self.k
        st = step.status
        for code in range(3):
            self.status_steps[code] += st == code
        self.series_status[k] = st[self.term]
        self.series_rule[k] = step.rule_index[self.term]
        self.series_code[k] = step.code[self.term]
        if self.weights.shape[0]:
            self.region_km2[k] = self.weights @ (st[:, None] == _CODES[None, :])
        self.k = k + 1

    def result(self) -> PolicyPart:
        n = self.k
        return PolicyPart(self.status_steps.copy(), self.series_status[:n].copy(),
                          self.series_rule[:n].copy(), self.series_code[:n].copy(),
                          self.region_km2[:n].copy(), self.t_utc[:n].copy())


@dataclass(frozen=True)
class PolicyStage:
    """Status counts per point, terminal status and rule per step, region areas per step."""

    weights: sparse.csr_matrix
    series_points: np.ndarray
    name: str = "policy"

    @classmethod
    def prepare(cls, ctx: RunContext) -> PolicyStage:
        cov = ctx.stage("coverage")
        points = cov.series_points if cov is not None else ctx.ground.terminal_index
        return cls(ctx.ground.region_area_matrix(), np.asarray(points, np.int64))

    def start(self, ctx: RunContext, t_utc: np.ndarray) -> _Acc:
        return _Acc(self, ctx, t_utc)

    def concat(self, a: PolicyPart, b: PolicyPart) -> PolicyPart:
        return PolicyPart(
            a.status_steps + b.status_steps,
            np.concatenate([a.series_status, b.series_status]),
            np.concatenate([a.series_rule, b.series_rule]),
            np.concatenate([a.series_code, b.series_code]),
            np.concatenate([a.region_status_km2, b.region_status_km2]),
            np.concatenate([a.t_utc, b.t_utc]),
        )

    def finalize(self, ctx: RunContext, part: PolicyPart) -> dict[str, Any]:
        return {
            "status_steps": part.status_steps,
            "series_status": part.series_status,
            "series_rule": part.series_rule,
            "series_code": part.series_code,
            "region_status_km2": part.region_status_km2,
            "t_utc": part.t_utc,
        }
