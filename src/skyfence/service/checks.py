"""Fast policy answers for single points: a compiled policy as a cell -> rule look-up table.

`CompiledPolicy.check_points` evaluates every rule over the points it is given, which is right
for a batch and slow for one point (each call re-tests membership in every rule's cells).
`CellLookup` does that work once per policy version and time segment instead: the cells any
rule names (sorted ``uint64``) and, per segment (an interval between rule window bounds inside
which the set of active rules is fixed), the deciding rule of each of those cells, evaluated by
`CompiledPolicy.evaluate` itself. A point is then one ``h3.latlng_to_cell`` and one binary
search; a cell no rule names gets the default action. Moving-terminal rules apply after the
cell decision exactly as in `check_points`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SiteError
from ..ground import cells_to_str, latlng_to_cells
from ..policy.rules import (
    CODE_BLOCKED_COUNTRY,
    CODE_MOVING_TOO_FAST,
    CODE_UNREGISTERED,
    DEFAULT_RULE,
    RESOLUTION,
    CompiledPolicy,
    format_utc,
)

__all__ = ["CellLookup", "PointAnswer", "check_point_values"]


@dataclass(frozen=True)
class PointAnswer:
    """The policy's answer for one point at one time (see `CellLookup.check`)."""

    cell: str
    served: bool
    rule: str
    reason: str
    code: str | None
    reference: str

    def as_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "served": self.served, "rule": self.rule,
                "reason": self.reason, "code": self.code, "reference": self.reference}


def check_point_values(lat_deg: float, lon_deg: float, speed_kmh: float | None,
                       where: str = "point") -> None:
    """`SiteError` for a latitude outside [-90, 90], a longitude outside [-180, 180], a
    non-finite value or a negative speed (the bounds `check_points` applies)."""
    if not (np.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise SiteError(f"latitude {lat_deg} deg outside [-90, 90]", where)
    if not (np.isfinite(lon_deg) and -180.0 <= lon_deg <= 180.0):
        raise SiteError(f"longitude {lon_deg} deg outside [-180, 180]", where)
    if speed_kmh is not None and not (np.isfinite(speed_kmh) and speed_kmh >= 0):
        raise SiteError(f"speed {speed_kmh} km/h must be a finite number >= 0", where)


class CellLookup:
    """A `CompiledPolicy` prepared for cheap point checks (thread-safe).

    The cell's deciding rule comes from the policy's own per-segment decision table
    (`CompiledPolicy.lookup`: territories, shared cells, international waters, cell rules),
    then the moving-terminal rules (speed; registered terminals exempt where the rule says so)
    and the terminal rules (registration required) apply, as `CompiledPolicy.evaluate_terminals`
    does for a run.

    Parameters
    ----------
    policy : CompiledPolicy
    """

    def __init__(self, policy: CompiledPolicy, max_segments: int = 64) -> None:
        self.policy = policy
        self._names = [r.name for r in policy.rules] + [DEFAULT_RULE]
        self._reasons = [r.reason for r in policy.rules] + [policy.doc.default_reason]
        self._refs = [r.reference for r in policy.rules] + [""]
        self._codes = list(policy.rule_codes)
        self._on = np.array([r.action_on for r in policy.rules] + [policy.default_on], bool)
        self._default = len(policy.rules)  # index of the default entry in the tables above
        self._lock = threading.Lock()

    def rule_indices(self, cells: np.ndarray, t_ns: int) -> np.ndarray:
        """Deciding rule index per res-5 cell (uint64) at ``t_ns``; -1 = default action."""
        cells = np.asarray(cells, dtype=np.uint64)
        seg = int(self.policy.segment_of(np.array([t_ns], dtype=np.int64))[0])
        with self._lock:  # the policy fills its per-segment cache on first use
            return np.asarray(self.policy.lookup(cells, seg), dtype=np.int32)

    def check(self, lat_deg: Sequence[float] | np.ndarray, lon_deg: Sequence[float] | np.ndarray,
              t_ns: int, speed_kmh: Sequence[float | None] | None = None,
              registered: Sequence[bool | None] | None = None) -> list[PointAnswer]:
        """Answers for points (WGS-84 degrees, already range-checked) at one time (ns UTC).

        ``registered`` (None = unknown, treated as not registered) feeds the registration
        rules and the speed rules' exemption.
        """
        lat = np.asarray(lat_deg, dtype=np.float64).ravel()
        lon = np.asarray(lon_deg, dtype=np.float64).ravel()
        cells = latlng_to_cells(lat, lon, RESOLUTION)
        hexes = cells_to_str(cells)
        idx = self.rule_indices(cells, t_ns)
        t_arr = np.array([t_ns], dtype=np.int64)
        moving = [m for m in self.policy.moving_rules if m.active_at(t_ns)]
        terminal_rules = [tr for tr in getattr(self.policy, "terminal_rules", ())
                          if bool(tr.active_mask(t_arr)[0])]
        out: list[PointAnswer] = []
        for i, hx in enumerate(hexes):
            k = int(idx[i])
            k = self._default if k < 0 else k
            served = bool(self._on[k])
            rule, reason, code, ref = self._names[k], self._reasons[k], self._codes[k], \
                self._refs[k]
            if k == self._default and not served:
                code = CODE_BLOCKED_COUNTRY
            spd = None if speed_kmh is None else speed_kmh[i]
            reg = bool(registered[i]) if registered is not None and registered[i] else False
            if served and spd is not None and moving:
                for m in moving:
                    if (spd > m.max_speed_kmh and _contains(m.cells, cells[i])
                            and not (m.exempt_registered and reg)):
                        served, rule, reason, code, ref = (False, m.name, m.reason,
                                                           CODE_MOVING_TOO_FAST, m.reference)
                        break
            if served and not reg:
                for tr in terminal_rules:
                    if _contains(tr.cells, cells[i]):
                        served, rule, reason, code, ref = (False, tr.name, tr.reason,
                                                           CODE_UNREGISTERED, tr.reference)
                        break
            out.append(PointAnswer(hx, served, rule, reason, code, ref))
        return out

    @staticmethod
    def time_text(t_ns: int) -> str:
        """ISO 8601 UTC text of ``t_ns``."""
        from ..policy.rules import to_utc_datetime

        return format_utc(to_utc_datetime(np.datetime64(int(t_ns), "ns")))


def _contains(sorted_cells: np.ndarray, cell: np.uint64) -> bool:
    i = int(np.searchsorted(sorted_cells, cell))
    return i < sorted_cells.size and sorted_cells[i] == cell
