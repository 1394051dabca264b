"""The coverage stage: satellites in view, serving satellite and gaps per ground point.

Per point: availability, satellites in view (mean / min / max), longest gap, serving changes,
mean best elevation (`skyfence.coverage.CoverageSummary`, mergeable); per step for terminals
and the scenario's ``ground.timeseries_cells``: satellites in view, best elevation and the
scheduler's serving satellite (`skyfence.coverage.TimeSeries`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..coverage import CoverageAccumulator, CoverageSummary, TimeSeries, TimeSeriesRecorder
from ..errors import InputError
from ..ground import cells_to_str, parse_cell
from .protocol import StepData

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["CoveragePart", "CoverageStage"]


@dataclass(frozen=True)
class CoveragePart:
    """Partial coverage results of consecutive steps (immutable)."""

    summary: CoverageSummary
    series: TimeSeries | None
    failed_sat_steps: int = 0
    sat_steps: int = 0


class _Acc:
    def __init__(self, stage: CoverageStage, ctx: RunContext, t_utc: np.ndarray) -> None:
        self.acc = CoverageAccumulator(ctx.ground.n_points, ctx.step_s)
        self.rec = (TimeSeriesRecorder(stage.series_points, t_utc, budget_bytes=2**62)
                    if stage.series_points.size else None)
        self.failed = 0
        self.total = 0

    def update(self, step: StepData) -> None:
        vis = step.visibility
        self.acc.update(step.t_utc, vis.n_visible, vis.best_elevation_deg, step.serving)
        if self.rec is not None:
            self.rec.record(vis, step.serving)
        r = step.r_sat_itrs_km
        self.failed += int(np.count_nonzero(~np.isfinite(r[:, 0])))
        self.total += int(r.shape[0])

    def result(self) -> CoveragePart:
        return CoveragePart(self.acc.summary(),
                            self.rec.result() if self.rec is not None else None,
                            self.failed, self.total)


@dataclass(frozen=True)
class CoverageStage:
    """Per-point coverage metrics and per-step series of selected points.

    ``series_points``: point indices whose per-step values are kept (terminals first, then
    the scenario's time-series cells), with ``series_names``.
    """

    series_points: np.ndarray
    series_names: tuple[str, ...]
    name: str = "coverage"

    @classmethod
    def prepare(cls, ctx: RunContext) -> CoverageStage:
        g = ctx.ground
        points = list(g.terminal_index)
        names = list(g.terminal_names)
        wanted = ctx.scenario.ground.timeseries_cells
        if wanted:
            # In the order given (names and points stay aligned), any resolution, once each.
            cells = np.array(list(dict.fromkeys(
                parse_cell(w, f"ground.timeseries_cells[{i}]") for i, w in enumerate(wanted))),
                np.uint64)
            pos = np.searchsorted(g.cells, cells)
            pos = np.minimum(pos, max(g.n_cells - 1, 0))
            ok = (g.n_cells > 0) & (g.cells[pos] == cells) if g.n_cells else np.zeros(
                cells.size, bool)
            if not np.all(ok):
                bad = cells_to_str(cells[~np.asarray(ok)][:1])[0]
                raise InputError(f"cell {bad} is not one of the scenario's region cells",
                                 "ground.timeseries_cells")
            points += pos.tolist()
            names += cells_to_str(cells)
        return cls(np.asarray(points, np.int64), tuple(names))

    def start(self, ctx: RunContext, t_utc: np.ndarray) -> _Acc:
        return _Acc(self, ctx, t_utc)

    def concat(self, a: CoveragePart, b: CoveragePart) -> CoveragePart:
        series = None
        if a.series is not None and b.series is not None:
            series = a.series.merge(b.series)
        return CoveragePart(a.summary.merge(b.summary), series,
                            a.failed_sat_steps + b.failed_sat_steps, a.sat_steps + b.sat_steps)

    def finalize(self, ctx: RunContext, part: CoveragePart) -> dict[str, Any]:
        notes = []
        if part.failed_sat_steps:
            notes.append(
                f"{part.failed_sat_steps:,} of {part.sat_steps:,} satellite-steps "
                f"({100 * part.failed_sat_steps / max(part.sat_steps, 1):.2f} %) had no usable "
                "state (SGP4 errors or physically impossible states) and served no one.")
        return {"metrics": part.summary.finalize(), "series": part.series,
                "series_names": self.series_names, "notes": notes}
