"""The cell-series stage: every cell's status and satellites in view at every step, streamed.

For the global workload (all land cells for a day) this is a (time x cell) array of a few GB,
more than a run may hold. The stage therefore produces one block per time chunk and the
pipeline hands each block to a *sink* as it arrives (`skyfence.outputs.ZarrSeriesWriter`
writes it into a chunked, compressed Zarr store) instead of merging it: memory stays at one
block per chunk in flight. The stage keeps no partial of its own (``streaming = True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .protocol import StepData

if TYPE_CHECKING:
    from .context import RunContext

__all__ = ["CellSeriesStage", "SeriesBlock"]


@dataclass(frozen=True)
class SeriesBlock:
    """Per-step values of every region cell over steps ``first .. first + n - 1``.

    status : int8 (n, n_cell) (0 uncovered, 1 blocked, 2 served); n_visible : int16 (n, n_cell)
    """

    first: int
    status: np.ndarray
    n_visible: np.ndarray


class _Acc:
    def __init__(self, ctx: RunContext, t_utc: np.ndarray) -> None:
        n_cell = ctx.ground.n_cells
        self.first = int(np.searchsorted(ctx.t_utc, t_utc[0])) if t_utc.size else 0
        self.n_cell = n_cell
        self.status = np.zeros((t_utc.size, n_cell), np.int8)
        self.n_visible = np.zeros((t_utc.size, n_cell), np.int16)
        self.k = 0

    def update(self, step: StepData) -> None:
        k = self.k
        self.status[k] = step.status[: self.n_cell]
        self.n_visible[k] = np.minimum(step.visibility.n_visible[: self.n_cell],
                                       np.iinfo(np.int16).max)
        self.k = k + 1

    def result(self) -> SeriesBlock:
        n = self.k
        return SeriesBlock(self.first, self.status[:n], self.n_visible[:n])


@dataclass(frozen=True)
class CellSeriesStage:
    """Streams every cell's per-step status and satellites in view (see module docstring)."""

    name: str = "cell_series"
    streaming: bool = True

    @classmethod
    def prepare(cls, ctx: RunContext) -> CellSeriesStage:
        return cls()

    def start(self, ctx: RunContext, t_utc: np.ndarray) -> _Acc:
        return _Acc(ctx, t_utc)

    def concat(self, a: Any, b: Any) -> Any:
        return None

    def finalize(self, ctx: RunContext, partial: Any) -> dict[str, Any]:
        return {}
