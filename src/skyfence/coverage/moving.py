"""Ground points that move: fixed points in a `GroundIndex`, moving ones re-indexed per step.

Vehicles, boats and drones follow tracks, so their ITRS positions change every step. A
`MovingGround` keeps the fixed points (cells, fixed terminals) in one `GroundIndex` built once,
and at each step builds a small index over the moving points at their positions of that time;
both run the same exact kernel, and the two results are scattered back into the caller's point
order, so a moving terminal is decided by exactly the arithmetic a fixed one would be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError
from .visibility import GroundIndex, StepVisibility, VisibilityPairs

__all__ = ["MovingGround"]

#: Positions of the moving points at a time: (r_itrs_km (k, 3), up (k, 3)).
PositionsAt = Callable[[np.datetime64], tuple[np.ndarray, np.ndarray]]


@dataclass
class MovingGround:
    """Fixed points indexed once plus moving points located per step.

    Parameters
    ----------
    fixed : GroundIndex or None
        The fixed points (None when every point moves).
    fixed_index, moving_index : int arrays
        Positions of the fixed and moving points in the caller's point order (together a
        permutation of ``range(n_points)``).
    positions_at : callable(t_utc) -> (r_itrs_km, up)
        ITRS positions (km) and unit normals of the moving points at a time, shapes (k, 3).
    gso_exclusion_deg : float or None
        GSO-arc exclusion angle of the moving points (as the fixed index's).
    """

    fixed: GroundIndex | None
    fixed_index: np.ndarray
    moving_index: np.ndarray
    positions_at: PositionsAt
    gso_exclusion_deg: float | None = None

    def __post_init__(self) -> None:
        both = np.concatenate([self.fixed_index, self.moving_index])
        if not np.array_equal(np.sort(both), np.arange(both.size)):
            raise InputError("fixed and moving point indices must partition the points",
                             "ground")
        n_fixed = 0 if self.fixed is None else self.fixed.n_points
        if n_fixed != self.fixed_index.size:
            raise InputError(f"{self.fixed_index.size} fixed indices for an index of {n_fixed} "
                             "points", "ground")

    @property
    def n_points(self) -> int:
        return int(self.fixed_index.size + self.moving_index.size)

    def visibility_at(
        self,
        t_utc: np.datetime64,
        r_sat_itrs_km: ArrayLike,
        min_elevation_deg: float | ArrayLike,
        *,
        gso: bool = False,
        held_sat: ArrayLike | None = None,
        pairs: bool = False,
    ) -> StepVisibility:
        """`GroundIndex.visibility` over every point, moving ones at their ``t_utc`` place."""
        held = None if held_sat is None else np.asarray(held_sat, np.int64)
        parts: list[tuple[np.ndarray, StepVisibility]] = []
        if self.fixed is not None and self.fixed_index.size:
            parts.append((self.fixed_index, self.fixed.visibility(
                r_sat_itrs_km, min_elevation_deg, gso=gso,
                held_sat=None if held is None else held[self.fixed_index], pairs=pairs)))
        if self.moving_index.size:
            r, up = self.positions_at(t_utc)
            idx = GroundIndex(r, up, gso_exclusion_deg=self.gso_exclusion_deg)
            parts.append((self.moving_index, idx.visibility(
                r_sat_itrs_km, min_elevation_deg, gso=gso,
                held_sat=None if held is None else held[self.moving_index], pairs=pairs)))
        n = self.n_points
        n_vis = np.zeros(n, np.int32)
        best_el = np.full(n, np.nan)
        best_sat = np.full(n, -1, np.int64)
        held_ok = np.zeros(n, bool) if held is not None else None
        pp, ps, pe, pr = [], [], [], []
        for where, v in parts:
            n_vis[where] = v.n_visible
            best_el[where] = v.best_elevation_deg
            best_sat[where] = v.best_sat
            if held_ok is not None and v.held_usable is not None:
                held_ok[where] = v.held_usable
            if v.pairs is not None:
                pp.append(where[v.pairs.point])
                ps.append(v.pairs.sat)
                pe.append(v.pairs.elevation_deg)
                pr.append(v.pairs.range_km)
        out_pairs = None
        if pairs:
            point = np.concatenate(pp) if pp else np.zeros(0, np.int64)
            sat = np.concatenate(ps) if ps else np.zeros(0, np.int64)
            el = np.concatenate(pe) if pe else np.zeros(0)
            order = np.lexsort((sat, point))
            ranges = [x for x in pr if x is not None]
            rng: np.ndarray | None = (np.concatenate(ranges)[order]
                                      if ranges and len(ranges) == len(pr) else None)
            out_pairs = VisibilityPairs(point[order], sat[order], el[order], rng)
        return StepVisibility(n_vis, best_el, best_sat, held_ok, out_pairs)
