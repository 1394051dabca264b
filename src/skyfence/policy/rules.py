"""Territorial service policy: ordered rules over H3 res-5 cells, evaluated into a served mask.

A policy is a default action for the rest of the world plus ordered rules. A rule targets a
region (by name: a region defined in the policy itself, else the region catalogue) or an
explicit list of H3 cells; it turns service ``on`` or ``off``, optionally only inside a UTC
time window ``[start, end)``, and carries a ``reason`` and a ``reference``. A moving-terminal
rule turns service off for terminals faster than ``max_speed_kmh`` inside a region (the
measure reported for Ukraine from 2026-01-31; see ``data/default_policy.toml``).

Service is decided per H3 resolution-5 cell, as the real system does (``facts.md``: the public
availability polygons are unions of res-5 cells and the terminal reports its ``H3CellId``);
a terminal is mapped to the res-5 cell holding its location. A region's cells are the res-5
cells whose centre lies inside it.

Precedence
----------
For a cell at a time, among the rules whose target holds the cell and whose window holds the
time, the deciding rule is the first by:

==== ======================== =====================================================
step compare                  winner
==== ======================== =====================================================
1    ``priority`` (int)       the higher (default 0)
2    specificity              the smaller target: area in km^2 of the rule's res-5
                              cells (``h3.cell_area``), i.e. in practice fewer cells
3    target type              a cell list (a rule's ``cells`` or a policy region of
                              kind ``cells``) beats any other region of equal area
4    time window              a time-windowed rule beats an untimed one
5    file order               still tied and same action: the earlier rule
==== ======================== =====================================================

Two rules tied through step 4 with opposite actions that share a cell while their windows
overlap are a conflict: `compile_policy` raises `PolicyError` naming both rules. No rule
applies: the policy's ``default_action``.

Moving-terminal rules apply after the cell decision and only to terminals (cells do not move):
a terminal whose cell is served and which reports a speed above a moving rule's
``max_speed_kmh`` inside that rule's region and window is not served.

Dish-style codes (the real terminal's disablement codes, ``facts.md``) for a terminal not served:

============================== ==================================================
code                           when
============================== ==================================================
``CELL_IS_DISABLED``           an ``off`` rule whose target is a cell list
``BLOCKED_COUNTRY``            an ``off`` rule on a country region, or default ``off``
``BLOCKED_AREA``               an ``off`` rule on any other region (custom, disputed)
``MOVING_TOO_FAST_FOR_POLICY`` a moving-terminal rule
============================== ==================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

import h3
import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from ..errors import PolicyError, RegionError, SiteError

__all__ = [
    "BLOCKED",
    "CODE_BLOCKED_AREA",
    "CODE_BLOCKED_COUNTRY",
    "CODE_CELL_IS_DISABLED",
    "CODE_MOVING_TOO_FAST",
    "DEFAULT_RULE",
    "RESOLUTION",
    "SERVED",
    "UNCOVERED",
    "CompiledMovingRule",
    "CompiledPolicy",
    "CompiledRule",
    "MappingResolver",
    "MovingRuleSpec",
    "PointDecision",
    "PolicyDoc",
    "PolicyEvaluation",
    "RegionResolver",
    "RegionSpec",
    "ResolvedRegion",
    "RuleSpec",
    "cells_from_hex",
    "cells_to_hex",
    "compile_policy",
    "format_utc",
    "service_status",
    "to_service_cells",
    "to_utc_datetime",
]

RESOLUTION = 5
"""H3 resolution of service cells (``facts.md``: Starlink's service cells are res-5)."""

DEFAULT_RULE = "default"
"""Name reported as the deciding rule where no rule applies."""

CODE_CELL_IS_DISABLED = "CELL_IS_DISABLED"
CODE_BLOCKED_COUNTRY = "BLOCKED_COUNTRY"
CODE_BLOCKED_AREA = "BLOCKED_AREA"
CODE_MOVING_TOO_FAST = "MOVING_TOO_FAST_FOR_POLICY"

UNCOVERED = np.int8(0)
"""`service_status` value: no satellite in view."""
BLOCKED = np.int8(1)
"""`service_status` value: covered but the policy turns service off."""
SERVED = np.int8(2)
"""`service_status` value: covered and the policy allows service."""

_AREA_DECIMALS = 3  # specificity compares areas rounded to 0.001 km^2


# ---------------------------------------------------------------------------------------------
# time helpers


def to_utc_datetime(value: Any, field_name: str = "time") -> datetime:
    """Read a UTC instant from ISO text, `datetime`, `date` or ``datetime64``.

    Naive values are taken as UTC; a `date` is midnight UTC. Returns an aware `datetime` (UTC).
    Raises `PolicyError` naming ``field_name`` for anything else.
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise PolicyError("time is NaT", field_name)
        return value.astype("datetime64[us]").item().replace(tzinfo=UTC)
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise PolicyError(
                f"cannot read time {value!r}; expected ISO 8601 such as 2022-09-01T12:00:00Z",
                field_name,
            ) from None
    else:
        raise PolicyError(
            f"expected an ISO 8601 time such as 2022-09-01T12:00:00Z, got {value!r}", field_name
        )
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_utc(dt: datetime) -> str:
    """ISO 8601 UTC text with a ``Z`` suffix (microseconds only when non-zero)."""
    dt = dt.astimezone(UTC).replace(tzinfo=None)
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text + "Z"


def _ns(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    naive = dt.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(naive, "ns").astype(np.int64))


def _as_ns_array(t_utc: Any) -> np.ndarray:
    """Times as int64 nanoseconds since 1970 UTC, 1-D."""
    arr = np.atleast_1d(np.asarray(t_utc))
    if not np.issubdtype(arr.dtype, np.datetime64):
        try:
            arr = np.array([np.datetime64(to_utc_datetime(v).replace(tzinfo=None), "ns")
                            for v in arr.ravel()])
        except PolicyError as exc:
            raise PolicyError(exc.message, "t_utc") from None
    return arr.astype("datetime64[ns]").astype(np.int64).ravel()


# ---------------------------------------------------------------------------------------------
# cell helpers


def cells_from_hex(values: Sequence[str] | Sequence[int] | np.ndarray, where: str = "cells",
                   resolution: int = RESOLUTION) -> np.ndarray:
    """H3 cells (hex strings or integers) at ``resolution`` or coarser -> sorted unique uint64.

    Coarser cells are expanded to their children at ``resolution`` (a res-4 cell is 7 res-5
    cells). Finer cells are refused: service is decided per res-``resolution`` cell.
    """
    out: list[int] = []
    for i, v in enumerate(values):
        try:
            text = v if isinstance(v, str) else h3.int_to_str(int(v))
            ok = h3.is_valid_cell(text)
        except (TypeError, ValueError, OverflowError, h3.H3BaseException):
            ok = False
        if not ok:
            raise PolicyError(f"{v!r} is not a valid H3 cell", f"{where}[{i}]")
        res = h3.get_resolution(text)
        if res > resolution:
            parent = h3.cell_to_parent(text, resolution)
            raise PolicyError(
                f"H3 cell {text} has resolution {res}; service cells are resolution "
                f"{resolution}: give the res-{resolution} parent {parent}",
                f"{where}[{i}]",
            )
        if res == resolution:
            out.append(h3.str_to_int(text))
        else:
            out.extend(h3.str_to_int(c) for c in h3.cell_to_children(text, resolution))
    return np.unique(np.asarray(out, dtype=np.uint64))


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
            text = h3.int_to_str(int(c))
            r = h3.get_resolution(text)
            nxt = (h3.cell_to_center_child(text, RESOLUTION) if r < RESOLUTION
                   else h3.cell_to_parent(text, RESOLUTION))
            mapped[k] = h3.str_to_int(nxt)
        out[todo] = mapped[inverse.ravel()]
    return out.reshape(arr.shape)


def cells_to_hex(cells: np.ndarray) -> list[str]:
    """uint64 H3 cells -> hex strings (``h3.int_to_str``)."""
    return [h3.int_to_str(int(c)) for c in np.asarray(cells, dtype=np.uint64)]


def _area_km2(cells: np.ndarray) -> float:
    """Total area of sorted cells in km^2 (``h3.cell_area``, exact cell polygons)."""
    return float(math.fsum(h3.cell_area(h3.int_to_str(int(c)), "km^2") for c in cells))


# ---------------------------------------------------------------------------------------------
# the policy document (what a TOML / JSON file holds; validated by pydantic)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Windowed(_Strict):
    start: datetime | None = Field(None, description="start of the window, UTC, inclusive")
    end: datetime | None = Field(None, description="end of the window, UTC, exclusive")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _utc(cls, v: Any, info: Any) -> datetime | None:
        if v is None:
            return None
        try:
            return to_utc_datetime(v, info.field_name)
        except PolicyError as exc:
            raise ValueError(exc.message) from None

    @field_serializer("start", "end")
    def _iso(self, v: datetime | None) -> str | None:
        return None if v is None else format_utc(v)

    @model_validator(mode="after")
    def _window(self) -> _Windowed:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(
                f"window end {format_utc(self.end)} must be after start {format_utc(self.start)}"
            )
        return self

    @property
    def timed(self) -> bool:
        """Whether the rule has a window (either bound set)."""
        return self.start is not None or self.end is not None


class RegionSpec(_Strict):
    """A region defined inside a policy (a scenario's disputed area, a custom zone).

    Exactly one source: ``cells`` (H3 cells, res <= 5), ``geojson`` (a GeoJSON geometry,
    Feature or FeatureCollection in WGS-84 lon/lat degrees), ``wkt`` (WKT in lon/lat degrees),
    or ``expression`` (region algebra over other names, e.g. ``"Ukraine - Crimea"``, as the
    region catalogue reads it). ``buffer_km`` grows (or, negative, shrinks) the shape.
    ``file`` (a GeoJSON, WKT or H3 cell-list path relative to the policy file) is read by the
    loader and replaced by ``geojson`` / ``wkt`` / ``cells``, so a stored policy is
    self-contained. ``kind`` sets the dish code and precedence type: by default ``"cells"``
    for a cell list (CELL_IS_DISABLED, as specific as an explicit rule cell list), else
    ``"area"`` (BLOCKED_AREA); ``"country"`` gives BLOCKED_COUNTRY.
    """

    name: str = Field(min_length=1)
    kind: Literal["area", "country", "cells"] | None = None
    cells: list[str] | None = None
    geojson: dict[str, Any] | None = None
    wkt: str | None = None
    expression: str | None = None
    file: str | None = None
    buffer_km: float | None = None
    description: str = ""
    reference: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> RegionSpec:
        given = [k for k in ("cells", "geojson", "wkt", "expression", "file")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of cells, geojson, wkt, expression, file; got "
                + (", ".join(given) if given else "none")
            )
        return self

    @property
    def resolved_kind(self) -> str:
        """``kind``, or its default: ``"cells"`` for a cell list, else ``"area"``."""
        if self.kind is not None:
            return self.kind
        return "cells" if self.cells is not None else "area"


class RuleSpec(_Windowed):
    """One ordered rule: a region name or an explicit cell list -> ``on`` / ``off``."""

    name: str = Field(min_length=1)
    region: str | None = None
    cells: list[str] | None = None
    action: Literal["on", "off"]
    priority: int = 0
    reason: str = ""
    reference: str = ""

    @model_validator(mode="after")
    def _one_target(self) -> RuleSpec:
        if (self.region is None) == (self.cells is None):
            raise ValueError("give exactly one target: region (a name) or cells (H3 cells)")
        return self


class MovingRuleSpec(_Windowed):
    """Service off for terminals reporting a speed above ``max_speed_kmh`` inside ``region``."""

    name: str = Field(min_length=1)
    region: str = Field(min_length=1)
    max_speed_kmh: float = Field(gt=0, allow_inf_nan=False)
    reason: str = ""
    reference: str = ""


class PolicyDoc(_Strict):
    """A whole policy: default action, region definitions, ordered rules, moving rules."""

    name: str = Field("default", min_length=1)
    description: str = ""
    default_action: Literal["on", "off"] = "on"
    default_reason: str = ""
    regions: list[RegionSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    moving_rules: list[MovingRuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> PolicyDoc:
        for label, items in (("rules", self.rules), ("moving_rules", self.moving_rules),
                             ("regions", self.regions)):
            seen: dict[str, int] = {}
            for i, item in enumerate(items):
                if item.name in seen:
                    raise ValueError(
                        f"{label}[{i}].name {item.name!r} repeats {label}[{seen[item.name]}].name;"
                        " names must be unique"
                    )
                seen[item.name] = i
        rule_names = {r.name for r in self.rules}
        for i, m in enumerate(self.moving_rules):
            if m.name in rule_names or m.name == DEFAULT_RULE:
                raise ValueError(f"moving_rules[{i}].name {m.name!r} is already a rule name")
        if DEFAULT_RULE in rule_names:
            raise ValueError(f"rule name {DEFAULT_RULE!r} is reserved for the default action")
        return self

    def content(self) -> dict[str, Any]:
        """The policy as plain JSON-ready data (times as ISO text, no empty optionals)."""
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------------------------------------
# resolving region names to cells


@dataclass(frozen=True)
class ResolvedRegion:
    """A region as the policy needs it: its res-5 cells and its kind.

    ``kind`` is ``"country"`` for a country of the catalogue, else ``"area"``. ``region`` is
    the `skyfence.ground.Region` (geometry) when known, for region algebra and maps.
    """

    name: str
    cells: np.ndarray
    kind: str = "area"
    region: Any = field(default=None, repr=False)


class RegionResolver(Protocol):
    """Maps a region name to its res-5 cells; raises `RegionError` (with suggestions) if unknown."""

    def __call__(self, name: str) -> ResolvedRegion:  # pragma: no cover - protocol
        ...


class MappingResolver:
    """A `RegionResolver` over a fixed mapping ``name -> cells`` (or ``(cells, kind)``).

    Unknown names raise `RegionError` listing close matches (``difflib``) and the known names.
    Useful for tests and for coverage runs that already hold plain cell sets.
    """

    def __init__(self, regions: Mapping[str, Any]) -> None:
        self._regions: dict[str, ResolvedRegion] = {}
        for name, value in regions.items():
            cells, kind = (value if isinstance(value, tuple) else (value, "area"))
            arr = np.unique(np.asarray(list(cells) if isinstance(cells, set) else cells,
                                       dtype=np.uint64))
            self._regions[name] = ResolvedRegion(name, arr, kind)

    def names(self) -> list[str]:
        """Known region names, sorted."""
        return sorted(self._regions)

    def __call__(self, name: str) -> ResolvedRegion:
        if name in self._regions:
            return self._regions[name]
        folded = {k.casefold(): k for k in self._regions}
        if name.casefold() in folded:
            return self._regions[folded[name.casefold()]]
        import difflib

        close = difflib.get_close_matches(name, list(self._regions), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RegionError(
            f"unknown region {name!r}{hint} Known: {', '.join(self.names()) or '(none)'}",
            "region",
        )


# ---------------------------------------------------------------------------------------------
# compiled policy


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its target resolved to sorted unique res-5 cells (uint64)."""

    index: int
    name: str
    action_on: bool
    priority: int
    cells: np.ndarray
    area_km2: float
    target: str
    target_kind: str  # "cells", "country" or "area"
    start_ns: int | None
    end_ns: int | None
    reason: str
    reference: str

    @property
    def timed(self) -> bool:
        """Whether the rule has a time window."""
        return self.start_ns is not None or self.end_ns is not None

    @property
    def rank_key(self) -> tuple[int, float, int, int]:
        """Precedence key, larger wins: (priority, -area, cell list, timed)."""
        return (self.priority, -round(self.area_km2, _AREA_DECIMALS),
                int(self.target_kind == "cells"), int(self.timed))

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

    def active_at(self, t_ns: int) -> bool:
        """Whether ``t_ns`` lies in the window ``[start, end)``."""
        return ((self.start_ns is None or t_ns >= self.start_ns)
                and (self.end_ns is None or t_ns < self.end_ns))


@dataclass(frozen=True)
class PointDecision:
    """The policy's answer for one terminal at one time.

    ``rule`` is the deciding rule's name (``"default"`` where no rule applies); ``code`` the
    dish-style code when not served, else None.
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

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the first keys are ``name, cell, served, rule, reason``."""
        return {
            "name": self.name, "cell": self.cell, "served": self.served, "rule": self.rule,
            "reason": self.reason, "code": self.code, "at": self.t_utc,
            "lat_deg": self.lat_deg, "lon_deg": self.lon_deg, "speed_kmh": self.speed_kmh,
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
        Rule names in file order.
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
class CompiledPolicy:
    """A `PolicyDoc` with every target resolved to cells, checked for conflicts.

    Build it with `compile_policy`. ``rules`` are in file order; ``rank_order`` lists rule
    indices from strongest to weakest by the module's precedence.
    """

    doc: PolicyDoc
    rules: tuple[CompiledRule, ...]
    moving_rules: tuple[CompiledMovingRule, ...]
    rank_order: tuple[int, ...]
    regions: Mapping[str, ResolvedRegion] = field(default_factory=dict)

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
        """Rule names in file order (index = rule index in evaluations)."""
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

    def evaluate(self, cells: np.ndarray | Sequence[int], t_utc: Any) -> PolicyEvaluation:
        """Evaluate the policy for every cell at every time.

        Parameters
        ----------
        cells : (n_cell,) uint64
            H3 res-5 cells (integers as ``h3.str_to_int`` gives them).
        t_utc : (n_time,) datetime64[ns] or ISO strings
            UTC times.

        Returns
        -------
        PolicyEvaluation
            ``.served`` (n_time, n_cell) bool and ``.rule_index`` (n_time, n_cell) int32.
        """
        cells_arr = np.asarray(cells, dtype=np.uint64).ravel()
        res = _resolution_of(cells_arr)
        if cells_arr.size and np.any(res != RESOLUTION):
            bad = int(np.flatnonzero(res != RESOLUTION)[0])
            raise PolicyError(
                f"cells[{bad}] ({h3.int_to_str(int(cells_arr[bad]))}) has resolution "
                f"{int(res[bad])}; policy is decided per res-{RESOLUTION} cell: map cells "
                "with to_service_cells first", "cells")
        t_ns = _as_ns_array(t_utc)
        return _evaluate(self, cells_arr, t_ns)

    def served_mask(self, cells: np.ndarray | Sequence[int], t_utc: Any) -> np.ndarray:
        """(n_time, n_cell) bool served mask; shorthand for ``evaluate(...).served``."""
        return self.evaluate(cells, t_utc).served

    def check_points(
        self,
        names: Sequence[str],
        lat_deg: Sequence[float] | np.ndarray,
        lon_deg: Sequence[float] | np.ndarray,
        t_utc: Any,
        speed_kmh: Sequence[float | None] | np.ndarray | None = None,
    ) -> list[PointDecision]:
        """Decide service for terminals at WGS-84 locations (degrees) at one UTC time.

        Each location maps to its res-5 cell (``h3.latlng_to_cell``). ``speed_kmh`` (per
        terminal, None / NaN = not reported) feeds the moving-terminal rules.
        Raises `SiteError` for a latitude outside [-90, 90] or a longitude outside [-180, 180].
        """
        lat = np.asarray(lat_deg, dtype=np.float64).ravel()
        lon = np.asarray(lon_deg, dtype=np.float64).ravel()
        if not (len(names) == lat.size == lon.size):
            raise SiteError(
                f"names, lat_deg and lon_deg differ in length ({len(names)}, {lat.size}, "
                f"{lon.size})", "points")
        speeds = (np.full(lat.size, np.nan) if speed_kmh is None
                  else np.array([np.nan if s is None else float(s) for s in speed_kmh]))
        if speeds.size != lat.size:
            raise SiteError(f"speed_kmh has {speeds.size} values for {lat.size} points",
                            "speed_kmh")
        for i, nm in enumerate(names):
            if not (np.isfinite(lat[i]) and -90.0 <= lat[i] <= 90.0):
                raise SiteError(f"latitude {lat[i]} deg outside [-90, 90]", f"point {nm}")
            if not (np.isfinite(lon[i]) and -180.0 <= lon[i] <= 180.0):
                raise SiteError(f"longitude {lon[i]} deg outside [-180, 180]", f"point {nm}")
            if speeds[i] < 0:
                raise SiteError(f"speed {speeds[i]} km/h is negative", f"point {nm}")
        t_ns = _as_ns_array(t_utc)
        if t_ns.size != 1:
            raise PolicyError(f"check_points takes one time, got {t_ns.size}", "t_utc")
        hexes = [h3.latlng_to_cell(float(a), float(b), RESOLUTION) for a, b in zip(lat, lon,
                                                                                    strict=True)]
        cells = np.array([h3.str_to_int(h) for h in hexes], dtype=np.uint64)
        ev = _evaluate(self, cells, t_ns)
        served = ev.served_at(0)
        rule_idx = ev.rule_index_at(0)
        t_text = format_utc(to_utc_datetime(np.datetime64(int(t_ns[0]), "ns")))
        out: list[PointDecision] = []
        for i, nm in enumerate(names):
            spd = None if np.isnan(speeds[i]) else float(speeds[i])
            ri = int(rule_idx[i])
            if ri >= 0:
                r = self.rules[ri]
                rule, reason, code, ref = r.name, r.reason, r.code, r.reference
            else:
                rule, reason, ref = DEFAULT_RULE, self.doc.default_reason, ""
                code = None if self.default_on else CODE_BLOCKED_COUNTRY
            ok = bool(served[i])
            if ok and spd is not None:
                for m in self.moving_rules:
                    if (spd > m.max_speed_kmh and m.active_at(int(t_ns[0]))
                            and _contains(m.cells, cells[i])):
                        ok, rule, reason, code, ref = (False, m.name, m.reason,
                                                       CODE_MOVING_TOO_FAST, m.reference)
                        break
            out.append(PointDecision(
                name=str(nm), lat_deg=float(lat[i]), lon_deg=float(lon[i]), cell=hexes[i],
                t_utc=t_text, served=ok, rule=rule, reason=reason, code=code, reference=ref,
                speed_kmh=spd,
            ))
        return out


def _contains(sorted_cells: np.ndarray, cell: np.uint64) -> bool:
    i = int(np.searchsorted(sorted_cells, cell))
    return i < sorted_cells.size and sorted_cells[i] == cell


def _evaluate(policy: CompiledPolicy, cells: np.ndarray, t_ns: np.ndarray) -> PolicyEvaluation:
    n_cell = cells.size
    rules = policy.rules
    # membership of every evaluated cell in every rule's target: (n_rule, n_cell)
    member = np.zeros((len(rules), n_cell), dtype=bool)
    for r in rules:
        member[r.index] = np.isin(cells, r.cells)
    # window boundaries cut time into segments with a fixed set of active rules
    bounds = sorted({b for r in rules for b in (r.start_ns, r.end_ns) if b is not None})
    seg_all = np.searchsorted(np.asarray(bounds, dtype=np.int64), t_ns, side="right")
    present, segment_of_time = np.unique(seg_all, return_inverse=True)
    action = np.array([r.action_on for r in rules] + [policy.default_on], dtype=bool)
    rule_idx = np.full((present.size, n_cell), -1, dtype=np.int32)
    for s, seg in enumerate(present):
        # any time inside the segment represents it: every rule is on or off throughout
        t_rep = int(t_ns[np.argmax(seg_all == seg)])
        decided = rule_idx[s]
        for ri in policy.rank_order:
            r = rules[ri]
            if not r.active_at(t_rep):
                continue
            take = member[ri] & (decided < 0)
            decided[take] = ri
    served = action[rule_idx]  # index -1 picks the default action (last element)
    return PolicyEvaluation(
        cells=cells,
        t_utc=t_ns.astype("datetime64[ns]"),
        segment_of_time=segment_of_time.astype(np.intp).ravel(),
        rule_index_by_segment=rule_idx,
        served_by_segment=served,
        rule_names=policy.rule_names,
    )


# ---------------------------------------------------------------------------------------------
# compile


RegionBuilder = Callable[[RegionSpec, RegionResolver], ResolvedRegion]
"""Turns a policy-defined region (geometry, expression) into cells, given the outer resolver."""


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
        Region names -> cells. Default: the region catalogue of `skyfence.ground`.
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
            s.cells is None for s in doc.regions)):
        from . import _regions

        outer = outer or _regions.catalogue_resolver()
        region_builder = region_builder or _regions.build_region
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

    for i, spec in enumerate(doc.regions):
        where = f"regions[{i}] ({spec.name})"
        try:
            if spec.cells is not None:
                cells = cells_from_hex(spec.cells, where=f"{source}: regions[{i}].cells")
                if spec.buffer_km:
                    raise PolicyError("buffer_km applies to geometry regions, not cell lists",
                                      f"{source}: regions[{i}].buffer_km")
                local[spec.name] = ResolvedRegion(spec.name, cells, spec.resolved_kind)
            else:
                assert region_builder is not None
                built = region_builder(spec, _LocalFirst(local, outer))
                local[spec.name] = ResolvedRegion(spec.name, built.cells,
                                                  spec.resolved_kind, built.region)
        except RegionError as exc:
            if exc.where and exc.where.startswith(source):
                raise
            loc = f"{source}: {where}" + (f": {exc.where}" if exc.where else "")
            raise RegionError(exc.message, loc) from None

    compiled: list[CompiledRule] = []
    for i, spec in enumerate(doc.rules):
        if spec.cells is not None:
            cells = cells_from_hex(spec.cells, where=f"{source}: rules[{i}].cells")
            kind = "cells"
            target = f"{cells.size} cells"
        else:
            assert spec.region is not None
            reg = resolve(spec.region, f"rules[{i}].region")
            cells, kind, target = reg.cells, reg.kind, spec.region
        compiled.append(CompiledRule(
            index=i, name=spec.name, action_on=spec.action == "on", priority=spec.priority,
            cells=cells, area_km2=_area_km2(cells), target=target, target_kind=kind,
            start_ns=_ns(spec.start), end_ns=_ns(spec.end), reason=spec.reason,
            reference=spec.reference,
        ))
    moving = []
    for i, m in enumerate(doc.moving_rules):
        reg = resolve(m.region, f"moving_rules[{i}].region")
        moving.append(CompiledMovingRule(
            name=m.name, cells=reg.cells, target=m.region, max_speed_kmh=m.max_speed_kmh,
            start_ns=_ns(m.start), end_ns=_ns(m.end), reason=m.reason, reference=m.reference,
        ))
    # strongest first; Python's sort is stable so file order breaks the remaining ties
    order = sorted(range(len(compiled)), key=lambda k: compiled[k].rank_key, reverse=True)
    _check_conflicts(compiled, source)
    return CompiledPolicy(doc=doc, rules=tuple(compiled), moving_rules=tuple(moving),
                          rank_order=tuple(order), regions=dict(local))


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
    by_key: dict[tuple[int, float, int, int], list[CompiledRule]] = {}
    for r in rules:
        by_key.setdefault(r.rank_key, []).append(r)
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
                        f"{h3.int_to_str(int(shared[0]))}) at overlapping times; give one a "
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
