"""Territorial service policy: ordered rules over H3 res-5 cells, evaluated into a served mask.

A policy is a default action for the rest of the world plus ordered rules. A rule targets a
region (by name: a region defined in the policy itself, else the region catalogue) or an
explicit list of H3 cells; it turns service ``on`` or ``off``, optionally only inside a UTC
time window ``[start, end)``, and carries a ``reason`` and a ``reference``. A
``[[territories]]`` entry gives a territory of the catalogue a dated status history (``on``,
``off``, ``not_launched``, ``licence_pending``, ``unknown``), each entry with its source; it
compiles to one territory rule per entry. Moving-terminal rules (``max_speed_kmh``, optionally
``exempt_registered``) and terminal rules (``require = "registered"``) act on terminals.

Cells are decided by the land they hold
---------------------------------------
Service is decided per H3 resolution-5 cell, as the real system does (``facts.md``: the public
availability polygons are unions of res-5 cells and the terminal reports its ``H3CellId``);
a terminal is mapped to the res-5 cell holding its location. A region covers **every cell that
touches its land** (not only cells whose centre is inside) and, for a region with a coast,
every cell touching its **12-nautical-mile territorial sea** (22.224 km; UNCLOS art. 3). A
cell touched by several territories is *shared*; the policy's ``shared_cells`` says what it
gets: ``"restrictive"`` (default; as Starlink blocks cells straddling Ukraine's borders with
Russia and Belarus): if any touched territory's deciding rule turns service off, the cell is
off; ``"majority"``: the territory holding the largest share of the cell's land decides (a
tie, or a cell touching territories only through their territorial seas, falls back to the
restrictive choice). A cell touching no territory at all is in **international waters**: the
policy's ``international_waters`` action decides it when set (else the default action).

Precedence
----------
For a cell at a time, among the rules whose target touches the cell and whose window holds the
time, the deciding rule is the first by:

==== ======================== =====================================================
step compare                  winner
==== ======================== =====================================================
1    ``priority`` (int)       the higher (default 0; territory statuses are 0)
2    target type              a cell list, then an area (a sub-national, disputed or
                              custom region), then a territory of the catalogue
3    among cell lists / areas the smaller target (km^2 of its res-5 cells)
     among territories        the shared-cell rule above (``shared_cells``), each
                              territory first choosing its own rule by steps 4-6
4    time window              a time-windowed rule beats an untimed one
5    origin                   an explicit ``[[rules]]`` entry beats a territory's
                              status history
6    file order               still tied and same action: the earlier rule
7    no rule                  international waters (if set), else ``default_action``
==== ======================== =====================================================

Two explicit rules tied through step 5 (for territories: on the same territory) with opposite
actions that share a cell while their windows overlap are a conflict: `compile_policy` raises
`PolicyError` naming both rules. A status of ``unknown`` (no source found) takes the policy's
``unknown_action`` (default ``"off"``: no evidence of a market).

Terminals (`CompiledPolicy.evaluate_terminals`, vectorized over (n_time, n_point)) are decided
by their cell first; then a terminal whose cell is served is switched off by a moving rule
(speed above ``max_speed_kmh`` in its region and window, unless ``exempt_registered`` and the
terminal is registered) and then by a terminal rule (not registered at the time).

Dish-style codes (the real terminal's disablement codes, ``facts.md``) for a terminal not served
(`STATUS_CODES`; index 0 = served):

=================================== ==================================================
code                                when
=================================== ==================================================
``CELL_IS_DISABLED`` (1)            an ``off`` rule whose target is a cell list
``BLOCKED_COUNTRY`` (2)             a territory rule or status off, or default ``off``
``BLOCKED_AREA`` (3)                an ``off`` rule on any other region, or international
                                    waters ``off``
``MOVING_TOO_FAST_FOR_POLICY`` (4)  a moving-terminal rule
``UNREGISTERED`` (5)                a terminal rule: the terminal is not registered
=================================== ==================================================
"""


from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h3.api.basic_int as h3i
import numpy as np

from .. import timeutil
from ..errors import PolicyError, RegionError, SiteError
from ..ground import cell_areas_km2, cells_to_str, latlng_to_cells, parse_cells_at_resolution
from .model import (
    DEFAULT_RULE,
    INTERNATIONAL_WATERS_RULE,
    RESOLUTION,
    MappingResolver,
    MovingRuleSpec,
    PolicyDoc,
    RegionBuilder,
    RegionResolver,
    RegionSpec,
    ResolvedRegion,
    RuleSpec,
    StatusSpec,
    TerminalRuleSpec,
    TerritorySpec,
    format_utc,
    policy_errors,
    to_utc_datetime,
)
from .regions import build_region, catalogue_resolver

__all__ = [
    "BLOCKED",
    "CODE_BLOCKED_AREA",
    "CODE_BLOCKED_COUNTRY",
    "CODE_CELL_IS_DISABLED",
    "CODE_MOVING_TOO_FAST",
    "CODE_UNREGISTERED",
    "DEFAULT_RULE",
    "INTERNATIONAL_WATERS_RULE",
    "RESOLUTION",
    "SERVED",
    "STATUS_CODES",
    "UNCOVERED",
    "CompiledMovingRule",
    "CompiledPolicy",
    "CompiledRule",
    "CompiledTerminalRule",
    "MappingResolver",
    "MovingRuleSpec",
    "PointDecision",
    "PolicyDoc",
    "PolicyEvaluation",
    "RegionBuilder",
    "RegionResolver",
    "RegionSpec",
    "ResolvedRegion",
    "RuleSpec",
    "StatusSpec",
    "TerminalEvaluation",
    "TerminalRuleSpec",
    "TerritorySpec",
    "cells_from_hex",
    "cells_to_hex",
    "compile_policy",
    "format_utc",
    "service_status",
    "to_service_cells",
    "to_utc_datetime",
]

CODE_CELL_IS_DISABLED = "CELL_IS_DISABLED"
CODE_BLOCKED_COUNTRY = "BLOCKED_COUNTRY"
CODE_BLOCKED_AREA = "BLOCKED_AREA"
CODE_MOVING_TOO_FAST = "MOVING_TOO_FAST_FOR_POLICY"
CODE_UNREGISTERED = "UNREGISTERED"

STATUS_CODES: tuple[str, ...] = ("", CODE_CELL_IS_DISABLED, CODE_BLOCKED_COUNTRY,
                                 CODE_BLOCKED_AREA, CODE_MOVING_TOO_FAST, CODE_UNREGISTERED)
"""Dish-side status codes by integer value (0 = served), as `TerminalEvaluation.code` holds."""
_CODE_INDEX = {c: i for i, c in enumerate(STATUS_CODES)}

UNCOVERED = np.int8(0)
"""`service_status` value: no satellite in view."""
BLOCKED = np.int8(1)
"""`service_status` value: covered but the policy turns service off."""
SERVED = np.int8(2)
"""`service_status` value: covered and the policy allows service."""

_AREA_DECIMALS = 3  # specificity compares areas rounded to 0.001 km^2


# ---------------------------------------------------------------------------------------------
# time helpers (the one parser: skyfence.timeutil)


def _ns(dt: Any) -> int | None:
    """An instant (aware `datetime`, ISO text) as int64 ns since 1970 UTC; None stays None."""
    if dt is None:
        return None
    with policy_errors():
        return int(timeutil.parse_time(dt).astype(np.int64))


def _as_ns_array(t_utc: Any) -> np.ndarray:
    """Times (``datetime64``, ISO text, `datetime`) as 1-D int64 ns since 1970 UTC.

    `skyfence.timeutil.parse_time_array` reads them; raises `PolicyError` on ``t_utc``.
    """
    with policy_errors():
        return timeutil.parse_time_array(t_utc, "t_utc").astype(np.int64)


# ---------------------------------------------------------------------------------------------
# cell helpers


def cells_from_hex(values: Sequence[str] | Sequence[int] | np.ndarray, where: str = "cells",
                   resolution: int = RESOLUTION) -> np.ndarray:
    """H3 cells (hex strings or integers) at ``resolution`` or coarser -> sorted unique uint64.

    The ground's H3 parser (`skyfence.ground.parse_cells_at_resolution`) reads them: coarser
    cells are expanded to their children at ``resolution`` (a res-4 cell is 7 res-5 cells);
    finer cells are refused (service is decided per res-``resolution`` cell), and so is an
    empty list. Raises `PolicyError` naming the entry (``where[i]``).
    """
    with policy_errors():
        return parse_cells_at_resolution(values, resolution, where)


def _resolution_of(cells: np.ndarray) -> np.ndarray:
    """H3 resolution of uint64 cell indexes (bits 52-55 of the index), vectorized."""
    return ((np.asarray(cells, dtype=np.uint64) >> np.uint64(52)) & np.uint64(0xF)).astype(
        np.int8)


def to_service_cells(cells: np.ndarray | Sequence[int]) -> np.ndarray:
    """Map H3 cells of any resolution to the res-5 service cell that decides their policy.

    A coarser cell (an overview, e.g. res 3) maps to its res-5 centre child, whose centre is
    the coarse cell's centre (policy is looked up at the cell centre); a finer cell maps to
    its res-5 parent. Res-5 cells are returned unchanged. Input and output: uint64, same shape.
    """
    arr = np.asarray(cells, dtype=np.uint64)
    flat = arr.ravel()
    res = _resolution_of(flat)
    out = flat.copy()
    todo = np.flatnonzero(res != RESOLUTION)
    if todo.size:
        uniq, inverse = np.unique(flat[todo], return_inverse=True)
        mapped = np.empty(uniq.size, dtype=np.uint64)
        for k, c in enumerate(uniq):
            cell = int(c)
            r = h3i.get_resolution(cell)
            mapped[k] = (h3i.cell_to_center_child(cell, RESOLUTION) if r < RESOLUTION
                         else h3i.cell_to_parent(cell, RESOLUTION))
        out[todo] = mapped[inverse.ravel()]
    return out.reshape(arr.shape)


def cells_to_hex(cells: np.ndarray) -> list[str]:
    """uint64 H3 cells -> hex strings (`skyfence.ground.cells_to_str`)."""
    return cells_to_str(np.asarray(cells, dtype=np.uint64))


def _area_km2(cells: np.ndarray) -> float:
    """Total area of sorted cells in km^2 (`skyfence.ground.cell_areas_km2`, H3's exact
    cell areas)."""
    return float(math.fsum(cell_areas_km2(np.asarray(cells, dtype=np.uint64)).tolist()))


# ---------------------------------------------------------------------------------------------
# compiled policy

_KIND_RANK = {"cells": 2, "area": 1, "country": 0, "sea": -1}


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its target resolved to sorted unique res-5 cells (uint64).

    ``target_kind`` is ``"cells"``, ``"area"``, ``"country"`` (a territory: decided with the
    shared-cell rule) or ``"sea"`` (the international-waters rule). ``status`` is the
    territory status a ``[[territories]]`` entry compiled from (``""`` for plain rules).
    """

    index: int
    name: str
    action_on: bool
    priority: int
    cells: np.ndarray
    area_km2: float
    target: str
    target_kind: str
    start_ns: int | None
    end_ns: int | None
    reason: str
    reference: str
    status: str = ""

    @property
    def timed(self) -> bool:
        """Whether the rule has a time window."""
        return self.start_ns is not None or self.end_ns is not None

    @property
    def rank_key(self) -> tuple[int, int, float, int, int]:
        """Precedence key, larger wins: (priority, target type, -area, timed, explicit).

        Territory rules compare areas as 0: between territories the shared-cell rule decides.
        """
        area = 0.0 if self.target_kind == "country" else round(self.area_km2, _AREA_DECIMALS)
        return (self.priority, _KIND_RANK[self.target_kind], -area, int(self.timed),
                int(not self.status))

    @property
    def code(self) -> str | None:
        """Dish-style code when this rule turns service off, else None."""
        if self.action_on:
            return None
        if self.target_kind == "cells":
            return CODE_CELL_IS_DISABLED
        if self.target_kind == "country":
            return CODE_BLOCKED_COUNTRY
        return CODE_BLOCKED_AREA

    def active_at(self, t_ns: int) -> bool:
        """Whether ``t_ns`` (ns since 1970 UTC) lies in the rule's window ``[start, end)``."""
        return ((self.start_ns is None or t_ns >= self.start_ns)
                and (self.end_ns is None or t_ns < self.end_ns))

    def active_mask(self, t_ns: np.ndarray) -> np.ndarray:
        """Vectorized `active_at` over int64 ns times."""
        m = np.ones(t_ns.shape, dtype=bool)
        if self.start_ns is not None:
            m &= t_ns >= self.start_ns
        if self.end_ns is not None:
            m &= t_ns < self.end_ns
        return m


@dataclass(frozen=True)
class CompiledMovingRule:
    """A moving-terminal rule with its region resolved to res-5 cells."""

    name: str
    cells: np.ndarray
    target: str
    max_speed_kmh: float
    start_ns: int | None
    end_ns: int | None
    reason: str
    reference: str
    exempt_registered: bool = False

    def active_at(self, t_ns: int) -> bool:
        """Whether ``t_ns`` lies in the window ``[start, end)``."""
        return ((self.start_ns is None or t_ns >= self.start_ns)
                and (self.end_ns is None or t_ns < self.end_ns))

    def active_mask(self, t_ns: np.ndarray) -> np.ndarray:
        """Vectorized `active_at`."""
        m = np.ones(t_ns.shape, dtype=bool)
        if self.start_ns is not None:
            m &= t_ns >= self.start_ns
        if self.end_ns is not None:
            m &= t_ns < self.end_ns
        return m


@dataclass(frozen=True)
class CompiledTerminalRule:
    """A terminal-attribute rule (registered terminals only) with its region's cells."""

    name: str
    cells: np.ndarray
    target: str
    require: str
    start_ns: int | None
    end_ns: int | None
    reason: str
    reference: str

    def active_mask(self, t_ns: np.ndarray) -> np.ndarray:
        """Vectorized window test over int64 ns times."""
        m = np.ones(t_ns.shape, dtype=bool)
        if self.start_ns is not None:
            m &= t_ns >= self.start_ns
        if self.end_ns is not None:
            m &= t_ns < self.end_ns
        return m


@dataclass(frozen=True)
class PointDecision:
    """The policy's answer for one terminal at one time.

    ``rule`` is the deciding rule's name (``"default"`` where no rule applies); ``code`` the
    dish-style code when not served, else None; ``territories`` the territories the cell
    touches with their land share (0 = only the 12-nm territorial sea).
    """

    name: str
    lat_deg: float
    lon_deg: float
    cell: str
    t_utc: str
    served: bool
    rule: str
    reason: str
    code: str | None
    reference: str = ""
    speed_kmh: float | None = None
    territories: tuple[tuple[str, float], ...] = ()
    terminal_id: str | None = None
    registered: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the first keys are ``name, cell, served, rule, reason``."""
        return {
            "name": self.name, "cell": self.cell, "served": self.served, "rule": self.rule,
            "reason": self.reason, "code": self.code, "at": self.t_utc,
            "lat_deg": self.lat_deg, "lon_deg": self.lon_deg, "speed_kmh": self.speed_kmh,
            "terminal_id": self.terminal_id, "registered": self.registered,
            "territories": [{"name": n, "land_share": round(s, 3)} for n, s in self.territories],
            "reference": self.reference,
        }


@dataclass(frozen=True)
class PolicyEvaluation:
    """Served mask of a policy over cells x times, stored per window segment.

    Rule windows cut time into segments inside which every rule is either active or not; the
    decision per cell is computed once per segment present in ``t_utc``.

    Attributes
    ----------
    cells : (n_cell,) uint64
        The H3 res-5 cells evaluated, in the caller's order.
    t_utc : (n_time,) datetime64[ns]
        The times evaluated.
    segment_of_time : (n_time,) intp
        Row of ``*_by_segment`` holding the decision at each time.
    rule_index_by_segment : (n_seg, n_cell) int32
        Deciding rule (index into ``rule_names``) per segment and cell; -1 = default action.
    served_by_segment : (n_seg, n_cell) bool
        Whether the policy allows service.
    rule_names : tuple of str
        Rule names (index = rule index).
    """

    cells: np.ndarray
    t_utc: np.ndarray
    segment_of_time: np.ndarray
    rule_index_by_segment: np.ndarray
    served_by_segment: np.ndarray
    rule_names: tuple[str, ...]

    @property
    def served(self) -> np.ndarray:
        """(n_time, n_cell) bool: whether the policy allows service in each cell at each time."""
        return self.served_by_segment[self.segment_of_time]

    @property
    def rule_index(self) -> np.ndarray:
        """(n_time, n_cell) int32: deciding rule index per time and cell (-1 = default)."""
        return self.rule_index_by_segment[self.segment_of_time]

    def served_at(self, i_time: int) -> np.ndarray:
        """(n_cell,) bool served mask at time step ``i_time`` (no (n_time, n_cell) copy)."""
        return self.served_by_segment[self.segment_of_time[i_time]]

    def rule_index_at(self, i_time: int) -> np.ndarray:
        """(n_cell,) int32 deciding rule index at time step ``i_time``."""
        return self.rule_index_by_segment[self.segment_of_time[i_time]]


@dataclass(frozen=True)
class TerminalEvaluation:
    """The policy's answer for terminals over time, (n_time, n_point) arrays.

    ``code`` holds `STATUS_CODES` indices (0 = served); ``rule`` indexes ``rule_labels``
    (cell rules, then moving rules, then terminal rules, then ``"default"`` last, so -1 is
    the default).
    """

    cells: np.ndarray
    t_utc: np.ndarray
    served: np.ndarray
    code: np.ndarray
    rule: np.ndarray
    rule_labels: tuple[str, ...]

    def code_names(self) -> np.ndarray:
        """(n_time, n_point) object array of code names ("" = served)."""
        return np.asarray(STATUS_CODES, dtype=object)[self.code]

    def rule_names(self) -> np.ndarray:
        """(n_time, n_point) object array of deciding rule names."""
        return np.asarray(self.rule_labels, dtype=object)[self.rule]


@dataclass(frozen=True)
class _PairTable:
    """(cell, territory, land share) pairs over the universe, sorted by cell position."""

    cell_pos: np.ndarray  # (n_pair,) int64 positions in the universe, ascending
    terr: np.ndarray  # (n_pair,) int32
    share: np.ndarray  # (n_pair,) float32
    names: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """A `PolicyDoc` with every target resolved to cells, checked for conflicts.

    Build it with `compile_policy`. ``rules`` are in index order: the file's ``[[rules]]``,
    then one rule per territory status entry, then (if set) the international-waters rule.
    Decisions are computed once per time segment over the ``universe`` of cells any rule
    touches (cached), so evaluating more cells or one point later is a look-up.
    """

    doc: PolicyDoc
    rules: tuple[CompiledRule, ...]
    moving_rules: tuple[CompiledMovingRule, ...]
    rank_order: tuple[int, ...]
    regions: Mapping[str, ResolvedRegion] = field(default_factory=dict)
    terminal_rules: tuple[CompiledTerminalRule, ...] = ()
    universe: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64), repr=False)
    rule_pos: tuple[np.ndarray, ...] = field(default=(), repr=False)
    pairs: _PairTable | None = field(default=None, repr=False)
    territory_rules: Mapping[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    in_territory: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    bounds_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The policy's name."""
        return self.doc.name

    @property
    def default_on(self) -> bool:
        """Whether the rest of the world is served."""
        return self.doc.default_action == "on"

    @property
    def rule_names(self) -> tuple[str, ...]:
        """Rule names in index order (index = rule index in evaluations)."""
        return tuple(r.name for r in self.rules)

    @property
    def rule_codes(self) -> np.ndarray:
        """(n_rule + 1,) object: dish-style code of each rule when it decides, then the
        default's; index it with a ``rule_index`` array (-1 picks the default). None = served.
        """
        default = None if self.default_on else CODE_BLOCKED_COUNTRY
        return np.array([r.code for r in self.rules] + [default], dtype=object)

    def rule_cells(self) -> np.ndarray:
        """Sorted union of every rule's and moving rule's cells (uint64)."""
        parts = [r.cells for r in self.rules] + [m.cells for m in self.moving_rules]
        if not parts:
            return np.zeros(0, dtype=np.uint64)
        return np.unique(np.concatenate(parts))

    # -- segments and decisions -------------------------------------------------------------

    def segment_of(self, t_ns: np.ndarray) -> np.ndarray:
        """Segment index of each time (int64 ns): rule windows are constant inside one."""
        return np.searchsorted(self.bounds_ns, t_ns, side="right")

    def _rep_time(self, seg: int) -> int:
        return int(self.bounds_ns[seg - 1]) if seg > 0 else -(2**62)

    def universe_decision(self, seg: int) -> np.ndarray:
        """(n_universe,) int32 deciding rule per universe cell in segment ``seg`` (-1 default).

        Computed once per segment and cached (the policy is immutable).
        """
        got = self._cache.get(seg)
        if got is None:
            got = _decide(self, self._rep_time(seg))
            self._cache[seg] = got
        return got

    def lookup(self, cells: np.ndarray, seg: int) -> np.ndarray:
        """Deciding rule index of arbitrary res-5 ``cells`` in segment ``seg`` (-1 default)."""
        dec = self.universe_decision(seg)
        cells = np.asarray(cells, dtype=np.uint64)
        out = np.full(cells.shape, -1, dtype=np.int32)
        if self.universe.size:
            pos = np.searchsorted(self.universe, cells)
            pos_c = np.minimum(pos, self.universe.size - 1)
            hit = self.universe[pos_c] == cells
            out[hit] = dec[pos_c[hit]]
        sea = self._sea_rule
        if sea is not None:
            out = np.where((out < 0) & ~self._in_territory(cells), sea, out)
        return out

    @property
    def _sea_rule(self) -> int | None:
        if self.rules and self.rules[-1].target_kind == "sea":
            return self.rules[-1].index
        return None

    def _in_territory(self, cells: np.ndarray) -> np.ndarray:
        if not self.universe.size:
            return np.zeros(cells.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self.universe, cells), self.universe.size - 1)
        return (self.universe[pos] == cells) & self.in_territory[pos]

    def _served_of(self, rule_idx: np.ndarray) -> np.ndarray:
        action = np.array([r.action_on for r in self.rules] + [self.default_on], dtype=bool)
        return action[rule_idx]

    def territories_of(self, cells: Sequence[int] | np.ndarray
                       ) -> list[tuple[tuple[str, float], ...]]:
        """For each cell: the territories it touches, with land shares, largest first."""
        cells = np.asarray(cells, dtype=np.uint64).ravel()
        out: list[tuple[tuple[str, float], ...]] = []
        p = self.pairs
        for c in cells:
            if p is None or not self.universe.size:
                out.append(())
                continue
            pos = int(np.searchsorted(self.universe, c))
            if pos >= self.universe.size or self.universe[pos] != c:
                out.append(())
                continue
            lo, hi = np.searchsorted(p.cell_pos, [pos, pos + 1])
            items = sorted(((p.names[int(t)], float(s)) for t, s in zip(
                p.terr[lo:hi], p.share[lo:hi], strict=True)), key=lambda x: (-x[1], x[0]))
            out.append(tuple(items))
        return out

    # -- public evaluation ------------------------------------------------------------------

    def evaluate(self, cells: np.ndarray | Sequence[int], t_utc: Any) -> PolicyEvaluation:
        """Evaluate the policy for every cell at every time.

        Parameters
        ----------
        cells : (n_cell,) uint64
            H3 res-5 cells (uint64 H3 indexes).
        t_utc : (n_time,) datetime64[ns] or ISO strings
            UTC times.

        Returns
        -------
        PolicyEvaluation
            ``.served`` (n_time, n_cell) bool and ``.rule_index`` (n_time, n_cell) int32.
        """
        cells_arr = _check_res5(cells)
        t_ns = _as_ns_array(t_utc)
        seg_all = self.segment_of(t_ns)
        present, seg_of_time = np.unique(seg_all, return_inverse=True)
        rule_idx = np.empty((present.size, cells_arr.size), dtype=np.int32)
        for k, s in enumerate(present):
            rule_idx[k] = self.lookup(cells_arr, int(s))
        return PolicyEvaluation(
            cells=cells_arr, t_utc=t_ns.astype("datetime64[ns]"),
            segment_of_time=seg_of_time.astype(np.intp).ravel(),
            rule_index_by_segment=rule_idx, served_by_segment=self._served_of(rule_idx),
            rule_names=self.rule_names)

    def served_mask(self, cells: np.ndarray | Sequence[int], t_utc: Any) -> np.ndarray:
        """(n_time, n_cell) bool served mask; shorthand for ``evaluate(...).served``."""
        return self.evaluate(cells, t_utc).served

    def evaluate_terminals(
        self,
        cells: np.ndarray,
        t_utc: Any,
        speed_kmh: np.ndarray | None = None,
        registered: np.ndarray | None = None,
    ) -> TerminalEvaluation:
        """Decide service for terminals over time, vectorized.

        Parameters
        ----------
        cells : (n_point,) or (n_time, n_point) uint64
            Res-5 cell of each terminal (per step for moving terminals).
        t_utc : (n_time,)
            UTC times.
        speed_kmh : (n_point,) or (n_time, n_point) float, optional
            Ground speed, km/h (NaN = not reported): feeds the moving-terminal rules.
        registered : (n_point,) or (n_time, n_point) bool, optional
            Whether each terminal is registered (whitelisted) at each step; None = unknown,
            which registration rules treat as not registered.

        Returns
        -------
        TerminalEvaluation
            ``served``, ``code`` (`STATUS_CODES` index) and ``rule`` (n_time, n_point).
        """
        t_ns = _as_ns_array(t_utc)
        n_t = t_ns.size
        c = np.asarray(cells, dtype=np.uint64)
        if c.ndim == 1:
            c = np.broadcast_to(c, (n_t, c.size))
        if c.ndim != 2 or c.shape[0] != n_t:
            raise PolicyError(f"cells must be (n_point,) or ({n_t}, n_point), got {c.shape}",
                              "cells")
        _check_res5(c.ravel())
        n_p = c.shape[1]
        spd = (np.full((n_t, n_p), np.nan) if speed_kmh is None
               else np.broadcast_to(np.asarray(speed_kmh, dtype=np.float64), (n_t, n_p)))
        reg = (np.zeros((n_t, n_p), dtype=bool) if registered is None
               else np.broadcast_to(np.asarray(registered, dtype=bool), (n_t, n_p)))
        seg = self.segment_of(t_ns)
        rule = np.empty((n_t, n_p), dtype=np.int32)
        for s in np.unique(seg):
            rows = np.flatnonzero(seg == s)
            rule[rows] = self.lookup(c[rows].ravel(), int(s)).reshape(rows.size, n_p)
        served = self._served_of(rule)
        codes = np.array([_CODE_INDEX[r.code] if r.code else 0 for r in self.rules]
                         + [0 if self.default_on else _CODE_INDEX[CODE_BLOCKED_COUNTRY]],
                         dtype=np.int8)
        code = codes[rule]
        n_rules = len(self.rules)
        labels = list(self.rule_names)
        for j, m in enumerate(self.moving_rules):
            labels.append(m.name)
            hit = (served & (spd > m.max_speed_kmh) & m.active_mask(t_ns)[:, None]
                   & np.isin(c, m.cells))
            if m.exempt_registered:
                hit &= ~reg
            served = served & ~hit
            code = np.where(hit, _CODE_INDEX[CODE_MOVING_TOO_FAST], code)
            rule = np.where(hit, n_rules + j, rule)
        base = n_rules + len(self.moving_rules)
        for j, tr in enumerate(self.terminal_rules):
            labels.append(tr.name)
            hit = served & ~reg & tr.active_mask(t_ns)[:, None] & np.isin(c, tr.cells)
            served = served & ~hit
            code = np.where(hit, _CODE_INDEX[CODE_UNREGISTERED], code)
            rule = np.where(hit, base + j, rule)
        labels.append(DEFAULT_RULE)
        return TerminalEvaluation(cells=c, t_utc=t_ns.astype("datetime64[ns]"),
                                  served=np.asarray(served, dtype=bool),
                                  code=np.asarray(code, dtype=np.int8),
                                  rule=np.asarray(rule, dtype=np.int32),
                                  rule_labels=tuple(labels))

    def check_points(
        self,
        names: Sequence[str],
        lat_deg: Sequence[float] | np.ndarray,
        lon_deg: Sequence[float] | np.ndarray,
        t_utc: Any,
        speed_kmh: Sequence[float | None] | np.ndarray | None = None,
        *,
        terminal_ids: Sequence[str | None] | None = None,
        registered: Sequence[bool | None] | None = None,
    ) -> list[PointDecision]:
        """Decide service for terminals at WGS-84 locations (degrees) at one UTC time.

        Each location maps to its res-5 cell (`skyfence.ground.latlng_to_cells`). ``speed_kmh`` (per
        terminal, None / NaN = not reported) feeds the moving-terminal rules; ``registered``
        (None = unknown, treated as not registered) the terminal rules and the speed-rule
        exemption. Raises `SiteError` for a latitude outside [-90, 90] or a longitude outside
        [-180, 180].
        """
        lat = np.asarray(lat_deg, dtype=np.float64).ravel()
        lon = np.asarray(lon_deg, dtype=np.float64).ravel()
        n = lat.size
        if not (len(names) == n == lon.size):
            raise SiteError(
                f"names, lat_deg and lon_deg differ in length ({len(names)}, {n}, "
                f"{lon.size})", "points")
        speeds = (np.full(n, np.nan) if speed_kmh is None
                  else np.array([np.nan if s is None else float(s) for s in speed_kmh]))
        if speeds.size != n:
            raise SiteError(f"speed_kmh has {speeds.size} values for {n} points", "speed_kmh")
        regs = [None] * n if registered is None else list(registered)
        ids = [None] * n if terminal_ids is None else list(terminal_ids)
        if len(regs) != n or len(ids) != n:
            raise SiteError(f"registered / terminal_ids need {n} values", "registered")
        bad_lat = ~(np.isfinite(lat) & (np.abs(lat) <= 90.0))
        bad_lon = ~(np.isfinite(lon) & (np.abs(lon) <= 180.0))
        if bad_lat.any():
            i = int(np.flatnonzero(bad_lat)[0])
            raise SiteError(f"latitude {lat[i]} deg outside [-90, 90]", f"point {names[i]}")
        if bad_lon.any():
            i = int(np.flatnonzero(bad_lon)[0])
            raise SiteError(f"longitude {lon[i]} deg outside [-180, 180]", f"point {names[i]}")
        if np.any(speeds < 0):
            i = int(np.flatnonzero(speeds < 0)[0])
            raise SiteError(f"speed {speeds[i]} km/h is negative", f"point {names[i]}")
        t_ns = _as_ns_array(t_utc)
        if t_ns.size != 1:
            raise PolicyError(f"check_points takes one time, got {t_ns.size}", "t_utc")
        cells = latlng_to_cells(lat, lon, RESOLUTION)
        ev = self.evaluate_terminals(cells, t_ns.astype("datetime64[ns]"), speeds[None, :],
                                     np.array([bool(r) for r in regs])[None, :])
        t_text = format_utc(np.datetime64(int(t_ns[0]), "ns"))
        n_rules = len(self.rules)
        extra = list(self.moving_rules) + list(self.terminal_rules)
        terr = self.territories_of(cells)
        hexes = cells_to_hex(cells)
        out: list[PointDecision] = []
        for i, nm in enumerate(names):
            ri = int(ev.rule[0, i])
            if ri == len(ev.rule_labels) - 1 or ri < 0:
                rule, reason, ref = DEFAULT_RULE, self.doc.default_reason, ""
            elif ri < n_rules:
                r = self.rules[ri]
                rule, reason, ref = r.name, r.reason, r.reference
            else:
                e = extra[ri - n_rules]
                rule, reason, ref = e.name, e.reason, e.reference
            code_i = int(ev.code[0, i])
            out.append(PointDecision(
                name=str(nm), lat_deg=float(lat[i]), lon_deg=float(lon[i]),
                cell=hexes[i], t_utc=t_text, served=bool(ev.served[0, i]),
                rule=rule, reason=reason, code=STATUS_CODES[code_i] or None, reference=ref,
                speed_kmh=None if np.isnan(speeds[i]) else float(speeds[i]),
                territories=terr[i], terminal_id=None if ids[i] is None else str(ids[i]),
                registered=None if regs[i] is None else bool(regs[i]),
            ))
        return out


def _check_res5(cells: Any) -> np.ndarray:
    cells_arr = np.asarray(cells, dtype=np.uint64).ravel()
    res = _resolution_of(cells_arr)
    if cells_arr.size and np.any(res != RESOLUTION):
        bad = int(np.flatnonzero(res != RESOLUTION)[0])
        raise PolicyError(
            f"cells[{bad}] ({h3i.int_to_str(int(cells_arr[bad]))}) has resolution "
            f"{int(res[bad])}; policy is decided per res-{RESOLUTION} cell: map cells "
            "with to_service_cells first", "cells")
    return cells_arr


def _active(r: CompiledRule, t: int) -> bool:
    return r.active_at(t)


def _decide(policy: CompiledPolicy, t_rep: int) -> np.ndarray:
    """Deciding rule per universe cell at a representative time of a segment (module table)."""
    n = policy.universe.size
    decided = np.full(n, -1, dtype=np.int32)
    rules = policy.rules
    order = policy.rank_order
    levels = sorted({rules[i].priority for i in order}, reverse=True)
    for level in levels:
        at_level = [i for i in order if rules[i].priority == level]
        for i in at_level:
            r = rules[i]
            if r.target_kind in ("country", "sea") or not r.active_at(t_rep):
                continue
            pos = policy.rule_pos[i]
            take = pos[decided[pos] < 0]
            decided[take] = i
        terr_rules = [i for i in at_level if rules[i].target_kind == "country"
                      and rules[i].active_at(t_rep)]
        if terr_rules and policy.pairs is not None:
            _decide_territories(policy, terr_rules, decided)
    return decided


def _decide_territories(policy: CompiledPolicy, rule_ids: list[int],
                        decided: np.ndarray) -> None:
    """The shared-cell step: combine each touched territory's own deciding rule per cell."""
    p = policy.pairs
    assert p is not None
    rules = policy.rules
    terr_rule = np.full(len(p.names), -1, dtype=np.int64)
    name_index = {nm: k for k, nm in enumerate(p.names)}
    for i in rule_ids:  # already in rank order: the first rule for a territory wins
        k = name_index[rules[i].target]
        if terr_rule[k] < 0:
            terr_rule[k] = i
    und = decided[p.cell_pos] < 0
    if not und.any():
        return
    cp, tr, sh = p.cell_pos[und], p.terr[und], p.share[und]
    r = terr_rule[tr]
    part = r >= 0
    action = np.array([rr.action_on for rr in rules] + [True], dtype=bool)
    is_off = part & ~action[np.where(part, r, -1)]
    if policy.doc.shared_cells == "restrictive":
        # participating pairs only; off first, then the largest land share, then rule index
        m = part
        cp, sh, r, is_off = cp[m], sh[m], r[m], is_off[m]
        order = np.lexsort((r, -sh, ~is_off, cp))
    else:
        # majority: the largest land share of every touched territory; ties -> off first
        order = np.lexsort((np.where(part, r, 2**31), ~is_off, ~part, -sh, cp))
    if order.size == 0:
        return
    cps = cp[order]
    first = np.ones(cps.size, dtype=bool)
    first[1:] = cps[1:] != cps[:-1]
    pick = order[first]
    win = r[pick]
    ok = win >= 0
    decided[cp[pick][ok]] = win[ok].astype(np.int32)


# ---------------------------------------------------------------------------------------------
# compile


_STATUS_ON = {"on": True, "off": False, "not_launched": False, "licence_pending": False}


def compile_policy(
    doc: PolicyDoc,
    resolver: RegionResolver | None = None,
    *,
    region_builder: RegionBuilder | None = None,
    source: str = "policy",
) -> CompiledPolicy:
    """Resolve every target of ``doc`` to res-5 cells, order the rules, check for conflicts.

    Parameters
    ----------
    doc : PolicyDoc
        The validated policy.
    resolver : RegionResolver, optional
        Region names -> cells touched (land or 12-nm sea) and land shares. Default: the region
        catalogue of `skyfence.ground` (``"deu"`` edition).
    region_builder : callable, optional
        Builds the policy's own geometry / expression regions. Default: the loaders of
        `skyfence.ground`. Regions given as ``cells`` need neither.
    source : str
        Names the policy in error messages (a file path, ``"db:default v3"``).

    Raises
    ------
    RegionError
        An unknown region name (with close matches) or a bad region geometry.
    PolicyError
        Two equally ranked rules with opposite actions over shared cells and times.
    """
    outer = resolver
    if outer is None or (region_builder is None and any(
            r.cells is None for r in doc.regions)):
        outer = outer or catalogue_resolver()
        region_builder = region_builder or build_region
    assert outer is not None
    local: dict[str, ResolvedRegion] = {}

    def resolve(name: str, where: str) -> ResolvedRegion:
        if name in local:
            return local[name]
        try:
            return outer(name)
        except RegionError as exc:
            own = ", ".join(local)
            extra = f" (regions defined in this policy: {own})" if own else ""
            raise RegionError(exc.message + extra, f"{source}: {where}") from None

    for i, reg_spec in enumerate(doc.regions):
        where = f"regions[{i}] ({reg_spec.name})"
        try:
            if reg_spec.cells is not None:
                cells = cells_from_hex(reg_spec.cells, where=f"{source}: regions[{i}].cells")
                if reg_spec.buffer_km:
                    raise PolicyError("buffer_km applies to geometry regions, not cell lists",
                                      f"{source}: regions[{i}].buffer_km")
                local[reg_spec.name] = ResolvedRegion(reg_spec.name, cells,
                                                      reg_spec.resolved_kind)
            else:
                assert region_builder is not None
                built = region_builder(reg_spec, _LocalFirst(local, outer))
                local[reg_spec.name] = ResolvedRegion(reg_spec.name, built.cells,
                                                      reg_spec.resolved_kind, built.region,
                                                      built.land_share)
        except RegionError as exc:
            if exc.where and exc.where.startswith(source):
                raise
            loc = f"{source}: {where}" + (f": {exc.where}" if exc.where else "")
            raise RegionError(exc.message, loc) from None

    compiled: list[CompiledRule] = []
    territory_regions: dict[str, ResolvedRegion] = {}
    for i, spec in enumerate(doc.rules):
        if spec.cells is not None:
            cells = cells_from_hex(spec.cells, where=f"{source}: rules[{i}].cells")
            kind = "cells"
            target = f"{cells.size} cells"
        else:
            assert spec.region is not None
            reg = resolve(spec.region, f"rules[{i}].region")
            cells, kind, target = reg.cells, reg.kind, reg.name
            if kind == "country":
                territory_regions[target] = reg
        compiled.append(CompiledRule(
            index=len(compiled), name=spec.name, action_on=spec.action == "on",
            priority=spec.priority, cells=cells, area_km2=_area_km2(cells), target=target,
            target_kind=kind, start_ns=_ns(spec.start), end_ns=_ns(spec.end),
            reason=spec.reason, reference=spec.reference,
        ))
    edition = getattr(outer, "edition", None)
    unknown_on = doc.unknown_action == "on"
    for i, terr in enumerate(doc.territories):
        if terr.editions is not None and edition is not None and edition not in terr.editions:
            continue
        reg = resolve(terr.region, f"territories[{i}].region")
        if reg.kind != "country":
            reg = ResolvedRegion(reg.name, reg.cells, "country", reg.region, reg.land_share)
        territory_regions[reg.name] = reg
        label = terr.name or terr.region
        for j, h in enumerate(terr.history):
            nxt = terr.history[j + 1].since if j + 1 < len(terr.history) else None
            on = unknown_on if h.status == "unknown" else _STATUS_ON[h.status]
            since = "start" if h.since is None else format_utc(h.since)[:10]
            words = h.status.replace("_", " ")
            reason = f"{label}: {words}" + (f" ({h.note})" if h.note else "")
            if h.status == "unknown":
                reason += f"; unknown is treated as {doc.unknown_action}"
            compiled.append(CompiledRule(
                index=len(compiled), name=f"{terr.region}:{h.status}@{since}", action_on=on,
                priority=0, cells=reg.cells, area_km2=0.0, target=reg.name,
                target_kind="country", start_ns=_ns(h.since), end_ns=_ns(nxt), reason=reason,
                reference=h.source, status=h.status))
    moving = []
    for i, m in enumerate(doc.moving_rules):
        reg = resolve(m.region, f"moving_rules[{i}].region")
        moving.append(CompiledMovingRule(
            name=m.name, cells=reg.cells, target=m.region, max_speed_kmh=m.max_speed_kmh,
            start_ns=_ns(m.start), end_ns=_ns(m.end), reason=m.reason, reference=m.reference,
            exempt_registered=m.exempt_registered,
        ))
    terminal = []
    for i, tr in enumerate(doc.terminal_rules):
        reg = resolve(tr.region, f"terminal_rules[{i}].region")
        terminal.append(CompiledTerminalRule(
            name=tr.name, cells=reg.cells, target=tr.region, require=tr.require,
            start_ns=_ns(tr.start), end_ns=_ns(tr.end), reason=tr.reason,
            reference=tr.reference))
    # the territory table: every territory a rule names, and, for an international-waters
    # rule, every territory of the catalogue (cells outside all of them are international)
    if doc.international_waters is not None:
        names = getattr(outer, "territory_names", None)
        if names is None:
            raise PolicyError("an international-waters rule needs a resolver that lists its "
                              "territories (territory_names())", f"{source}: international_"
                              "waters")
        for nm in names():
            if nm not in territory_regions:
                reg = resolve(nm, "international_waters")
                territory_regions[reg.name] = reg
        compiled.append(CompiledRule(
            index=len(compiled), name=INTERNATIONAL_WATERS_RULE,
            action_on=doc.international_waters == "on", priority=-(2**30),
            cells=np.zeros(0, np.uint64), area_km2=0.0, target="international waters",
            target_kind="sea", start_ns=None, end_ns=None,
            reason=doc.international_waters_reason or "sea beyond every territory's 12-nm "
            "territorial sea", reference="UNCLOS art. 3 (territorial sea: 12 nautical miles)"))
    _check_conflicts(compiled, source)
    order = sorted(range(len(compiled)), key=lambda k: compiled[k].rank_key, reverse=True)
    # universe: every cell a rule or a territory touches
    parts = [r.cells for r in compiled] + [r.cells for r in territory_regions.values()]
    universe = (np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
                ).astype(np.uint64)
    rule_pos = tuple(np.searchsorted(universe, r.cells).astype(np.int64) for r in compiled)
    names_t = tuple(sorted(territory_regions))
    pc, pt, ps = [], [], []
    for k, nm in enumerate(names_t):
        reg = territory_regions[nm]
        pc.append(np.searchsorted(universe, reg.cells).astype(np.int64))
        pt.append(np.full(reg.cells.size, k, dtype=np.int32))
        ps.append(reg.shares())
    in_terr = np.zeros(universe.size, dtype=bool)
    pairs = None
    if pc:
        cell_pos = np.concatenate(pc)
        srt = np.argsort(cell_pos, kind="stable")
        pairs = _PairTable(cell_pos[srt], np.concatenate(pt)[srt],
                           np.concatenate(ps)[srt].astype(np.float32), names_t)
        in_terr[cell_pos] = True
    bounds = sorted({b for r in compiled for b in (r.start_ns, r.end_ns) if b is not None})
    return CompiledPolicy(
        doc=doc, rules=tuple(compiled), moving_rules=tuple(moving), rank_order=tuple(order),
        regions=dict(local), terminal_rules=tuple(terminal), universe=universe,
        rule_pos=rule_pos, pairs=pairs, in_territory=in_terr,
        bounds_ns=np.asarray(bounds, dtype=np.int64))


class _LocalFirst:
    """Resolver seeing the policy's own regions (defined earlier in the file) before the outer."""

    def __init__(self, local: dict[str, ResolvedRegion], outer: RegionResolver) -> None:
        self._local, self._outer = local, outer

    def __call__(self, name: str) -> ResolvedRegion:
        if name in self._local:
            return self._local[name]
        return self._outer(name)


def _windows_overlap(a: CompiledRule, b: CompiledRule) -> bool:
    lo = max(x for x in (a.start_ns, b.start_ns, -(2**63)) if x is not None)
    hi = min(x for x in (a.end_ns, b.end_ns, 2**63 - 1) if x is not None)
    return lo < hi


def _check_conflicts(rules: list[CompiledRule], source: str) -> None:
    by_key: dict[tuple[Any, ...], list[CompiledRule]] = {}
    for r in rules:
        if r.status or r.target_kind == "sea":
            continue  # status entries never overlap; explicit rules outrank them
        key: tuple[Any, ...] = r.rank_key
        if r.target_kind == "country":
            key = (*key, r.target)  # territories conflict only with rules on the same one
        by_key.setdefault(key, []).append(r)
    for group in by_key.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if a.action_on == b.action_on or not _windows_overlap(a, b):
                    continue
                shared = np.intersect1d(a.cells, b.cells, assume_unique=True)
                if shared.size:
                    raise PolicyError(
                        f"rules {a.name!r} (rules[{a.index}], {'on' if a.action_on else 'off'}) "
                        f"and {b.name!r} (rules[{b.index}], {'on' if b.action_on else 'off'}) "
                        f"conflict: equal priority ({a.priority}) and equal specificity "
                        f"({a.area_km2:.1f} km^2) over {shared.size} shared cells (e.g. "
                        f"{h3i.int_to_str(int(shared[0]))}) at overlapping times; give one a "
                        "higher priority or a smaller target",
                        source,
                    )


def service_status(covered: np.ndarray, served: np.ndarray) -> np.ndarray:
    """Combine coverage and policy: `SERVED` (2), `BLOCKED` (1) or `UNCOVERED` (0), int8.

    ``covered`` and ``served`` broadcast (e.g. both (n_time, n_cell) bool).
    """
    covered = np.asarray(covered, dtype=bool)
    served = np.asarray(served, dtype=bool)
    return np.where(covered, np.where(served, SERVED, BLOCKED), UNCOVERED).astype(np.int8)
