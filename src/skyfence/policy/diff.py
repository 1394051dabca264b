"""What-if: compare two policies (files or stored versions) cell by cell and rule by rule.

`diff_policies` evaluates both compiled policies over the same res-5 cells at one UTC time and
reports, per cell, whether it gains service (off in A, on in B), loses it, or keeps it, with the
cell's area in km^2 (H3's exact cell area) and the deciding rule on each side. The data is plain
(cells as uint64 and hex, status strings, areas): the diff map is drawn by `skyfence.outputs`.
`rule_changes` lists rules added, removed or changed between two policy documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ground import cell_areas_km2
from ..timeutil import parse_time_array
from .model import DEFAULT_RULE, PolicyDoc, policy_errors
from .rules import CompiledPolicy, cells_to_hex

__all__ = [
    "STATUS_GAIN",
    "STATUS_LOSS",
    "STATUS_SAME_OFF",
    "STATUS_SAME_ON",
    "PolicyDiff",
    "RuleChange",
    "diff_policies",
    "rule_changes",
]

STATUS_GAIN = "gain"
"""Off under policy A, on under policy B."""
STATUS_LOSS = "loss"
"""On under A, off under B."""
STATUS_SAME_ON = "on"
"""On under both."""
STATUS_SAME_OFF = "off"
"""Off under both."""


@dataclass(frozen=True)
class PolicyDiff:
    """Per-cell comparison of policy A and policy B at one time.

    Attributes
    ----------
    cells : (n_cell,) uint64
        H3 res-5 cells compared.
    served_a, served_b : (n_cell,) bool
        Whether each policy serves the cell.
    rule_a, rule_b : (n_cell,) object
        Name of the deciding rule on each side (``"default"`` where none applies).
    area_km2 : (n_cell,) float64
        Cell areas, km^2.
    t_utc : numpy.datetime64
        The time of the comparison.
    default_a, default_b : str
        Each policy's action for cells outside ``cells`` (the rest of the world).
    """

    cells: np.ndarray
    served_a: np.ndarray
    served_b: np.ndarray
    rule_a: np.ndarray
    rule_b: np.ndarray
    area_km2: np.ndarray
    t_utc: np.datetime64
    default_a: str
    default_b: str

    @property
    def status(self) -> np.ndarray:
        """(n_cell,) str: ``gain``, ``loss``, ``on`` or ``off``."""
        out = np.where(self.served_a, STATUS_SAME_ON, STATUS_SAME_OFF).astype(object)
        out[~self.served_a & self.served_b] = STATUS_GAIN
        out[self.served_a & ~self.served_b] = STATUS_LOSS
        return out

    @property
    def changed(self) -> np.ndarray:
        """(n_cell,) bool: cells that gain or lose service."""
        return self.served_a != self.served_b

    @property
    def default_changed(self) -> bool:
        """True when the rest of the world (outside ``cells``) changes too."""
        return self.default_a != self.default_b

    def summary(self) -> dict[str, Any]:
        """Counts and areas (km^2) of gained and lost cells."""
        gain = ~self.served_a & self.served_b
        loss = self.served_a & ~self.served_b
        return {
            "cells_compared": int(self.cells.size),
            "gain_cells": int(gain.sum()), "gain_km2": float(self.area_km2[gain].sum()),
            "loss_cells": int(loss.sum()), "loss_km2": float(self.area_km2[loss].sum()),
            "default_a": self.default_a, "default_b": self.default_b,
        }

    def records(self, only_changed: bool = True) -> list[dict[str, Any]]:
        """Rows ``h3_cell, status, area_km2, rule_a, rule_b`` (changed cells by default)."""
        idx = np.flatnonzero(self.changed) if only_changed else np.arange(self.cells.size)
        status = self.status
        hexes = cells_to_hex(self.cells[idx])
        return [{"h3_cell": hexes[k], "status": str(status[i]),
                 "area_km2": float(self.area_km2[i]), "rule_a": str(self.rule_a[i]),
                 "rule_b": str(self.rule_b[i])} for k, i in enumerate(idx)]

    def to_frame(self, only_changed: bool = True) -> Any:
        """The `records` as a pandas DataFrame (columns as in `records`)."""
        import pandas as pd

        cols = ["h3_cell", "status", "area_km2", "rule_a", "rule_b"]
        return pd.DataFrame(self.records(only_changed), columns=cols)


def _names(policy: CompiledPolicy, idx: np.ndarray) -> np.ndarray:
    names = np.array([*policy.rule_names, DEFAULT_RULE], dtype=object)
    return names[idx]  # -1 picks "default"


def diff_policies(a: CompiledPolicy, b: CompiledPolicy, t_utc: Any,
                  cells: np.ndarray | None = None) -> PolicyDiff:
    """Compare two compiled policies at time ``t_utc`` over ``cells``.

    Parameters
    ----------
    a, b : CompiledPolicy
        The policies ("before" and "after").
    t_utc : datetime64 or ISO str
        One UTC time.
    cells : (n_cell,) uint64, optional
        Cells to compare; default every cell either policy's rules name (outside them only the
        default actions apply, reported as ``default_a`` / ``default_b``).
    """
    if cells is None:
        cells = np.union1d(a.rule_cells(), b.rule_cells()).astype(np.uint64)
    cells = np.asarray(cells, dtype=np.uint64).ravel()
    with policy_errors():
        t = parse_time_array(t_utc, "t_utc")[:1]
    ea, eb = a.evaluate(cells, t), b.evaluate(cells, t)
    served_a, served_b = ea.served_at(0), eb.served_at(0)
    area = cell_areas_km2(cells).astype(np.float64)
    return PolicyDiff(
        cells=cells, served_a=served_a.copy(), served_b=served_b.copy(),
        rule_a=_names(a, ea.rule_index_at(0)), rule_b=_names(b, eb.rule_index_at(0)),
        area_km2=area, t_utc=t[0], default_a=a.doc.default_action,
        default_b=b.doc.default_action,
    )


@dataclass(frozen=True)
class RuleChange:
    """A rule (or the default) added, removed or changed between two policy documents."""

    name: str
    change: str  # "added", "removed", "changed"
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.change} {self.name}{extra}"


def rule_changes(a: PolicyDoc, b: PolicyDoc) -> list[RuleChange]:
    """Rules, moving rules, regions and defaults that differ between ``a`` and ``b``."""
    out: list[RuleChange] = []
    for fld in ("default_action", "default_reason"):
        if getattr(a, fld) != getattr(b, fld):
            out.append(RuleChange(fld, "changed"))
    for label in ("regions", "rules", "moving_rules"):
        ra = {x.name: x.model_dump(mode="json") for x in getattr(a, label)}
        rb = {x.name: x.model_dump(mode="json") for x in getattr(b, label)}
        prefix = "" if label == "rules" else f"{label[:-1]} "
        for name in ra:
            if name not in rb:
                out.append(RuleChange(prefix + name, "removed"))
            elif ra[name] != rb[name]:
                fields = tuple(k for k in sorted(set(ra[name]) | set(rb[name]))
                               if ra[name].get(k) != rb[name].get(k))
                out.append(RuleChange(prefix + name, "changed", fields))
        out.extend(RuleChange(prefix + n, "added") for n in rb if n not in ra)
    order_a = [r.name for r in a.rules if r.name in {x.name for x in b.rules}]
    order_b = [r.name for r in b.rules if r.name in {x.name for x in a.rules}]
    if order_a != order_b:
        out.append(RuleChange("rules", "changed", ("order",)))
    return out
