"""The policy document and the region-resolution types every policy module shares.

What a TOML / JSON policy file holds, validated by pydantic (`PolicyDoc` and its parts:
`RegionSpec`, `RuleSpec`, `MovingRuleSpec`, `TerminalRuleSpec`, `TerritorySpec`), and what a
region name resolves to (`ResolvedRegion`, the `RegionResolver` protocol, `MappingResolver`).
The compiler (`skyfence.policy.rules`) and the catalogue bridge (`skyfence.policy.regions`)
both build on this module, which imports neither: the dependency runs one way.

Times are read by the one time parser (`skyfence.timeutil`); here its errors become
`PolicyError` naming the field.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from .. import timeutil
from ..errors import InputError, PolicyError, RegionError

__all__ = [
    "DEFAULT_RULE",
    "INTERNATIONAL_WATERS_RULE",
    "RESOLUTION",
    "MappingResolver",
    "MovingRuleSpec",
    "PolicyDoc",
    "RegionBuilder",
    "RegionResolver",
    "RegionSpec",
    "ResolvedRegion",
    "RuleSpec",
    "Status",
    "StatusSpec",
    "StrictModel",
    "TerminalRuleSpec",
    "TerritorySpec",
    "WindowedSpec",
    "format_utc",
    "policy_errors",
    "to_utc_datetime",
]

RESOLUTION = 5
"""H3 resolution of service cells (``facts.md``: Starlink's service cells are res-5)."""

DEFAULT_RULE = "default"
"""Name reported as the deciding rule where no rule applies."""

INTERNATIONAL_WATERS_RULE = "international-waters"
"""Name of the rule deciding cells beyond every territory's territorial sea."""


# ---------------------------------------------------------------------------------------------
# time: the one parser (skyfence.timeutil), with policy errors


@contextmanager
def policy_errors(where: str | None = None) -> Iterator[None]:
    """Re-raise an `InputError` of a shared parser (time, H3 cells) as `PolicyError`.

    ``where`` replaces the error's location when given.
    """
    try:
        yield
    except PolicyError:
        raise
    except InputError as exc:
        raise PolicyError(exc.message, where if where is not None else exc.where) from None


def to_utc_datetime(value: Any, field_name: str = "time", *,
                    years: tuple[int, int] | None = None, why: str = "") -> datetime:
    """Read a UTC instant from ISO text, `datetime`, `date` or ``datetime64``.

    `skyfence.timeutil.parse_utc_datetime` reads it (naive values are UTC, a `date` is
    midnight UTC, instants outside 1678-2261 are refused; ``years`` and ``why`` narrow the
    range). Returns an aware `datetime` (UTC). Raises `PolicyError` naming ``field_name``.
    """
    with policy_errors():
        return timeutil.parse_utc_datetime(value, field_name, years=years, why=why)


def format_utc(dt: Any) -> str:
    """ISO 8601 UTC text with a ``Z`` suffix (fractions only when non-zero).

    `skyfence.timeutil.format_utc`; raises `PolicyError` for what it cannot read.
    """
    with policy_errors():
        return timeutil.format_utc(dt)


# ---------------------------------------------------------------------------------------------
# the policy document (what a TOML / JSON file holds; validated by pydantic)


class StrictModel(BaseModel):
    """Base of the policy's models: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowedSpec(StrictModel):
    """A model with an optional UTC time window ``[start, end)``."""

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
    def _window(self) -> WindowedSpec:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(
                f"window end {format_utc(self.end)} must be after start {format_utc(self.start)}"
            )
        return self

    @property
    def timed(self) -> bool:
        """Whether the rule has a window (either bound set)."""
        return self.start is not None or self.end is not None


class RegionSpec(StrictModel):
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


class RuleSpec(WindowedSpec):
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


class MovingRuleSpec(WindowedSpec):
    """Service off for terminals reporting a speed above ``max_speed_kmh`` inside ``region``.

    ``exempt_registered``: terminals registered (whitelisted) at the time keep service
    (Ukraine, 2026: registered terminals are exempt from the speed limit).
    """

    name: str = Field(min_length=1)
    region: str = Field(min_length=1)
    max_speed_kmh: float = Field(gt=0, allow_inf_nan=False)
    exempt_registered: bool = False
    reason: str = ""
    reference: str = ""


class TerminalRuleSpec(WindowedSpec):
    """A rule on terminal attributes inside ``region``: ``require = "registered"`` turns
    service off for terminals not registered at the time (dish code ``UNREGISTERED``)."""

    name: str = Field(min_length=1)
    region: str = Field(min_length=1)
    require: Literal["registered"] = "registered"
    reason: str = ""
    reference: str = ""


Status = Literal["on", "off", "not_launched", "licence_pending", "unknown"]
"""A territory's service status: ``on`` (service offered), ``off`` (blocked or withdrawn),
``not_launched`` (not a market), ``licence_pending`` (licence applied for or granted, service
not launched), ``unknown`` (no source found; treated as the policy's ``unknown_action``)."""


class StatusSpec(StrictModel):
    """One dated status of a territory: from ``since`` (UTC, inclusive; None = from the
    beginning) until the next entry. ``source`` is required (a URL or a citation)."""

    since: datetime | None = None
    status: Status
    source: str = Field(min_length=1)
    note: str = ""

    @field_validator("since", mode="before")
    @classmethod
    def _utc(cls, v: Any) -> datetime | None:
        if v is None:
            return None
        try:
            return to_utc_datetime(v, "since")
        except PolicyError as exc:
            raise ValueError(exc.message) from None

    @field_serializer("since")
    def _iso(self, v: datetime | None) -> str | None:
        return None if v is None else format_utc(v)


class TerritorySpec(StrictModel):
    """A territory of the boundary catalogue with its dated status history.

    ``region`` is the catalogue name or code (ADM0_A3 such as ``UKR``); ``editions`` limits
    the entry to boundary editions that have the feature (``["default"]`` for Somaliland).
    ``history`` is in time order; the first entry may omit ``since``.
    """

    region: str = Field(min_length=1)
    name: str = ""
    iso_a2: str = ""
    editions: list[str] | None = None
    history: list[StatusSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> TerritorySpec:
        prev: datetime | None = None
        for i, h in enumerate(self.history):
            if h.since is None and i > 0:
                raise ValueError(f"history[{i}].since is required (only the first entry may "
                                 "omit it)")
            if h.since is not None and prev is not None and h.since <= prev:
                raise ValueError(f"history[{i}].since {format_utc(h.since)} must be after "
                                 f"history[{i - 1}].since {format_utc(prev)}")
            prev = h.since if h.since is not None else prev
        return self

    def status_at(self, t: Any) -> StatusSpec:
        """The status entry in force at ``t`` (the first entry before its own ``since``)."""
        when = to_utc_datetime(t)
        current = self.history[0]
        for h in self.history:
            if h.since is None or h.since <= when:
                current = h
        return current


class PolicyDoc(StrictModel):
    """A whole policy: default action, region definitions, ordered rules, territory statuses,
    moving and terminal rules, and how shared cells and international waters are decided."""

    name: str = Field("default", min_length=1)
    description: str = ""
    default_action: Literal["on", "off"] = "on"
    default_reason: str = ""
    shared_cells: Literal["restrictive", "majority"] = "restrictive"
    international_waters: Literal["on", "off"] | None = None
    international_waters_reason: str = ""
    unknown_action: Literal["on", "off"] = "off"
    regions: list[RegionSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    territories: list[TerritorySpec] = Field(default_factory=list)
    moving_rules: list[MovingRuleSpec] = Field(default_factory=list)
    terminal_rules: list[TerminalRuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> PolicyDoc:
        names: dict[str, list[str]] = {
            "rules": [r.name for r in self.rules],
            "moving_rules": [m.name for m in self.moving_rules],
            "terminal_rules": [t.name for t in self.terminal_rules],
            "regions": [g.name for g in self.regions],
        }
        for label, listed in names.items():
            seen: dict[str, int] = {}
            for i, name in enumerate(listed):
                if name in seen:
                    raise ValueError(
                        f"{label}[{i}].name {name!r} repeats {label}[{seen[name]}].name;"
                        " names must be unique"
                    )
                seen[name] = i
        rule_names = set(names["rules"]) | {DEFAULT_RULE, INTERNATIONAL_WATERS_RULE}
        for label in ("moving_rules", "terminal_rules"):
            for i, name in enumerate(names[label]):
                if name in rule_names:
                    raise ValueError(f"{label}[{i}].name {name!r} is already a rule name")
        for reserved in (DEFAULT_RULE, INTERNATIONAL_WATERS_RULE):
            if reserved in {r.name for r in self.rules}:
                raise ValueError(f"rule name {reserved!r} is reserved")
        seen_t: dict[str, int] = {}
        for i, t in enumerate(self.territories):
            key = t.region.casefold()
            if key in seen_t:
                raise ValueError(f"territories[{i}].region {t.region!r} repeats "
                                 f"territories[{seen_t[key]}]")
            seen_t[key] = i
        return self

    def content(self) -> dict[str, Any]:
        """The policy as plain JSON-ready data (times as ISO text, no empty optionals)."""
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------------------------------------
# resolving region names to cells


@dataclass(frozen=True)
class ResolvedRegion:
    """A region as the policy needs it: the res-5 cells it touches, and its kind.

    ``cells`` are the sorted res-5 cells that overlap the region's land or, for territories
    with a coast, its 12-nautical-mile territorial sea. ``land_share`` (aligned with
    ``cells``; None = 1 everywhere) is the fraction of each cell's area that is the region's
    land (0 for a cell that only touches its territorial sea). ``kind`` is ``"country"`` for a
    territory of the catalogue, ``"cells"`` for a cell list, else ``"area"``. ``region`` is
    the `skyfence.ground.Region` (geometry) when known.
    """

    name: str
    cells: np.ndarray
    kind: str = "area"
    region: Any = field(default=None, repr=False)
    land_share: np.ndarray | None = field(default=None, repr=False)

    def shares(self) -> np.ndarray:
        """``land_share`` as a float array aligned with ``cells`` (1 where not given)."""
        if self.land_share is None:
            return np.ones(self.cells.size, dtype=np.float32)
        return np.asarray(self.land_share, dtype=np.float32)


class RegionResolver(Protocol):
    """Maps a region name to its res-5 cells; raises `RegionError` (with suggestions) if unknown.

    A resolver may also provide ``territory_names() -> list[str]`` (every territory of its
    catalogue; needed for an international-waters rule) and an ``edition`` attribute.
    """

    def __call__(self, name: str) -> ResolvedRegion:  # pragma: no cover - protocol
        ...


class MappingResolver:
    """A `RegionResolver` over a fixed mapping ``name -> cells``.

    Values: ``cells``, ``(cells, kind)`` or ``(cells, kind, land_share)`` (a float per cell).
    Unknown names raise `RegionError` listing close matches and the known names. Its
    ``territory_names()`` are the regions of kind ``"country"``. Useful for tests and for runs
    that already hold plain cell sets (e.g. a cell-membership table from `skyfence.ground`).
    """

    def __init__(self, regions: Mapping[str, Any], edition: str | None = None) -> None:
        self.edition = edition
        self._regions: dict[str, ResolvedRegion] = {}
        for name, value in regions.items():
            tup = value if isinstance(value, tuple) else (value, "area")
            cells, kind = tup[0], tup[1]
            share = tup[2] if len(tup) > 2 else None
            raw = np.asarray(list(cells) if isinstance(cells, set) else cells, dtype=np.uint64)
            arr, first = np.unique(raw, return_index=True)
            shares = None if share is None else np.asarray(share, np.float32)[first]
            self._regions[name] = ResolvedRegion(name, arr, kind, None, shares)

    def names(self) -> list[str]:
        """Known region names, sorted."""
        return sorted(self._regions)

    def territory_names(self) -> list[str]:
        """Names of the regions of kind ``"country"``."""
        return sorted(k for k, v in self._regions.items() if v.kind == "country")

    def __call__(self, name: str) -> ResolvedRegion:
        if name in self._regions:
            return self._regions[name]
        folded = {k.casefold(): k for k in self._regions}
        if name.casefold() in folded:
            return self._regions[folded[name.casefold()]]
        close = difflib.get_close_matches(name, list(self._regions), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RegionError(
            f"unknown region {name!r}{hint} Known: {', '.join(self.names()) or '(none)'}",
            "region",
        )


RegionBuilder = Callable[[RegionSpec, RegionResolver], ResolvedRegion]
"""Turns a policy-defined region (geometry, expression) into cells, given the outer resolver."""
