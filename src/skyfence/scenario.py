"""Scenarios: what to simulate, as TOML validated by pydantic.

A scenario names the constellation, the ground (regions and terminals), the service policy,
the network, the time window and the outputs. Unknown keys are errors that name the key and
suggest the closest valid one, so a typo never silently falls back to a default.

The built-in default scenario (``skyfence run`` without ``--scenario``) is the situation in the
news: Ukraine served, Kyiv's request for Crimea refused, Taiwan off, Russia and Belarus off.
"""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import InputError, ScenarioError
from .timeutil import parse_duration, parse_time, time_grid

__all__ = [
    "CapacitySpec",
    "ConstellationSpec",
    "GroundSpec",
    "NetworkSpec",
    "OutageSpec",
    "OutputSpec",
    "PolicySpec",
    "RegionSpec",
    "RunSpec",
    "Scenario",
    "TerminalSpec",
    "TimeSpec",
    "default_scenario",
    "load_scenario",
    "outage_specs",
    "parse_scenario",
    "with_overrides",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeSpec(_Strict):
    """Simulation window: ISO start (UTC), duration and step (``"1d"``, ``"60s"``)."""

    start: str = "2026-02-23T00:00:00Z"
    duration: str = "1d"
    step: str = "60s"

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        parse_time(v, "time.start")
        return v

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v, "time.duration")
        return v

    @field_validator("step")
    @classmethod
    def _step(cls, v: str) -> str:
        if parse_duration(v, "time.step") <= 0:
            raise ValueError(f"step must be > 0 s, got {v!r}")
        return v

    @property
    def start_utc(self) -> np.datetime64:
        return parse_time(self.start, "time.start")

    @property
    def duration_s(self) -> float:
        return parse_duration(self.duration, "time.duration")

    @property
    def step_s(self) -> float:
        return parse_duration(self.step, "time.step")

    def grid(self) -> np.ndarray:
        """The UTC time grid, ``datetime64[ns]``."""
        return time_grid(self.start_utc, self.duration_s, self.step_s)


class ConstellationSpec(_Strict):
    """A preset name (``starlink-gen1``) or an element file (TLE / 3LE / OMM)."""

    source: str = "starlink-gen1"
    skip_invalid: bool = False
    min_elevation_deg: float = Field(25.0, description="user-terminal elevation mask, deg")
    min_elevation_by_shell: dict[str, float] = Field(default_factory=dict)
    gso_exclusion: bool = False
    operational_only: bool = Field(
        True, description="only objects in an operational shell serve (no orbit raising, "
        "deorbiting or objects below 400 km); the count is reported")
    strategy: Literal["highest", "random"] = Field(
        "highest", description="the scheduler's serving satellite in the coverage stage: the "
        "highest in view, or a random one (seeded by the scenario's seed); held within a slot")

    @field_validator("min_elevation_deg")
    @classmethod
    def _mask(cls, v: float) -> float:
        if not (0.0 <= v < 90.0):
            raise ValueError(f"elevation mask must be within [0, 90) deg, got {v}")
        return v

    @field_validator("min_elevation_by_shell")
    @classmethod
    def _masks(cls, v: dict[str, float]) -> dict[str, float]:
        for shell, mask in v.items():
            if not (0.0 <= mask < 90.0):
                raise ValueError(
                    f"elevation mask of shell {shell!r} must be in [0, 90), got {mask}")
        return v


class RegionSpec(_Strict):
    """A region of the ground: a catalogue name (or a GeoJSON/WKT file) at an H3 resolution."""

    name: str
    resolution: int = 5
    file: str | None = None

    @field_validator("resolution")
    @classmethod
    def _res(cls, v: int) -> int:
        if not (0 <= v <= 15):
            raise ValueError(f"H3 resolution must be within 0..15 (service cells are 5), got {v}")
        return v


class TerminalSpec(_Strict):
    """A user terminal: WGS-84 degrees, metres above the ellipsoid, km/h, identity and
    registration (dates ISO 8601 UTC, ``[from, until)``).

    Validated by the same rules as the command line's ground points
    ``NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..]`` (`skyfence.ground.validate_ground_point`).
    Moving terminals (tracks) come from ``ground.terminals_file``.
    """

    name: str
    lat: float
    lon: float
    altitude_m: float = 0.0
    speed_kmh: float | None = None
    id: str | None = None
    owner: str | None = None
    registered: bool | None = None
    registered_from: str | None = None
    registered_until: str | None = None

    @model_validator(mode="after")
    def _point(self) -> TerminalSpec:
        try:
            self.to_terminal()
        except InputError as exc:
            raise ValueError(exc.message) from None
        return self

    def to_terminal(self) -> Any:
        """The `skyfence.ground.Terminal` this entry describes."""
        from .ground import validate_ground_point

        return validate_ground_point(
            self.name, self.lat, self.lon, self.altitude_m, self.speed_kmh, self.id,
            owner=self.owner, registered=self.registered,
            registered_from=self.registered_from, registered_until=self.registered_until)


class GroundSpec(_Strict):
    """Regions and terminals; ``edition`` picks the Natural Earth point of view."""

    edition: Literal["deu", "default"] = "deu"
    regions: list[RegionSpec] = Field(default_factory=list)
    terminals: list[TerminalSpec] = Field(default_factory=list)
    terminals_file: str | None = Field(
        None, description="terminals (with identity, registration and tracks) from a CSV, "
        "GeoJSON or Parquet file (skyfence.ground.load_terminals)")
    timeseries_cells: list[str] = Field(
        default_factory=list, description="H3 cells (of the regions' cells) whose per-step "
        "values are kept, like the terminals'")

    @model_validator(mode="after")
    def _unique(self) -> GroundSpec:
        for kind, names in (("region", [r.name for r in self.regions]),
                            ("terminal", [t.name for t in self.terminals])):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate {kind} names: {', '.join(sorted(dup))}")
        return self


class PolicySpec(_Strict):
    """Service policy: a built-in policy's name or a TOML/JSON policy file."""

    source: str = Field("world", description="built-in policy name (world, default) or "
                        "policy file")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("policy source is blank; give a built-in policy name or a file")
        return v


class OutageSpec(_Strict):
    """A gateway or PoP unavailable over ``[start, end)`` (ISO 8601 UTC; open-ended if empty)."""

    site: str
    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _window(self) -> OutageSpec:
        if not self.site.strip():
            raise ValueError("outage site name is blank")
        a = parse_time(self.start, "start") if self.start else None
        b = parse_time(self.end, "end") if self.end else None
        if a is not None and b is not None and b <= a:
            raise ValueError(f"outage of {self.site!r} ends ({self.end}) before it starts "
                             f"({self.start})")
        return self

    @property
    def text(self) -> str:
        """``NAME`` or ``NAME@START/END`` (the command line's form)."""
        if self.start is None and self.end is None:
            return self.site
        return f"{self.site}@{self.start or ''}/{self.end or ''}"


class NetworkSpec(_Strict):
    """Gateways, PoPs, lasers and routing. Empty files mean the built-in sites (facts.md)."""

    enabled: bool = True
    serving: Literal["min-rtt", "highest-routable", "highest", "coverage"] = Field(
        "min-rtt", description="which satellite in view carries a point's traffic: lowest RTT "
        "to the home PoP, highest with a route, highest in view (even without a route), or "
        "the coverage stage's serving satellite")
    routing: Literal["min-delay", "fewest-hops"] = "min-delay"
    gateways: str | None = None
    pops: str | None = None
    ground_segment: Literal["world", "facts"] = Field(
        "world", description="sites when no gateways/pops file is given: the real ground "
        "segment (158 gateways, 49 PoPs, sourced) or the 9 gateways and 5 PoPs of facts.md")
    latency_model: Literal["measured", "propagation"] = Field(
        "measured", description="rtt_ms as users measure it (propagation plus the fitted "
        "overhead model, skyfence.network.latency) or propagation only")
    lasers: bool = True
    laser_topology: Literal["grid", "nearest", "grid+nearest"] = "grid"
    laser_range_km: float = 5000.0
    laser_min_year: int | None = 2022
    slot: str = Field("15s", description="the scheduler's reassignment period: serving "
                      "satellites are held within a slot (coverage and network stages)")
    rtt_every: str = "5m"
    per_hop_ms: float = 0.0
    fibre_route_factor: float = 1.5
    allow_gateway_countries: list[str] = Field(default_factory=list)
    outages: list[OutageSpec] = Field(default_factory=list)

    @field_validator("laser_range_km")
    @classmethod
    def _range(cls, v: float) -> float:
        if not (v > 0 and v < 1e6):
            raise ValueError(f"laser range must be in (0, 1e6) km, got {v}")
        return v

    @field_validator("slot", "rtt_every")
    @classmethod
    def _period(cls, v: str, info: Any) -> str:
        if parse_duration(v, f"network.{info.field_name}") <= 0:
            raise ValueError(f"must be > 0 s, got {v!r}")
        return v

    @field_validator("per_hop_ms")
    @classmethod
    def _hop(cls, v: float) -> float:
        if not (0.0 <= v < 1000.0):
            raise ValueError(f"per-hop processing must be in [0, 1000) ms, got {v}")
        return v

    @field_validator("fibre_route_factor")
    @classmethod
    def _fibre(cls, v: float) -> float:
        if not (1.0 <= v <= 10.0):
            raise ValueError(f"fibre route factor must be in [1, 10], got {v}")
        return v

    @property
    def slot_s(self) -> float:
        return parse_duration(self.slot, "network.slot")

    @property
    def rtt_every_s(self) -> float:
        return parse_duration(self.rtt_every, "network.rtt_every")


class CapacitySpec(_Strict):
    """Demand, supply and allocation (`skyfence.capacity`); see the README's capacity section.

    Demand is a population proxy (GeoNames x take rate x busy-hour usage x a diurnal profile)
    unless ``demand_file`` gives busy-hour Mbps per cell or point. ``whatif_on`` /
    ``whatif_off`` (regions of the scenario or the catalogue) and ``whatif_policy`` (a second
    policy) run a second allocation beside the scenario's, in the same run.
    """

    enabled: bool = Field(True, description="run the capacity stage")
    every: str = Field("5m", description="allocate on this sub-grid of the steps (busy-hour "
                       "and window means are over the allocated steps)")
    rule: Literal["max-min", "proportional"] = Field(
        "max-min", description="max-min fair, or pro rata to demand at a bottleneck")
    assignment: Literal["balanced", "serving"] = Field(
        "balanced", description="cells on the scheduler's serving satellite, moved off "
        "overloaded satellites to others in view (balanced) or kept there (serving)")
    demand_file: str | None = Field(None, description="CSV/Parquet: demand_mbps (busy hour) "
                                    "per h3_cell or lat_deg/lon_deg, optional subscribers")
    demand_outside_file: Literal["proxy", "zero"] = "proxy"
    take_rate: float = Field(1.0e-3, description="subscribers per person where no count is "
                             "public")
    take_rates: dict[str, float] = Field(default_factory=dict,
                                         description="ISO alpha-2 -> subscribers per person")
    subscribers: dict[str, float] = Field(default_factory=dict, description="ISO alpha-2 -> "
                                          "subscriber count (adds to the built-in ones)")
    monthly_gb_per_subscriber: float = 586.7
    profile: Literal["residential", "flat"] = "residential"
    busy_hours: tuple[float, float] = Field((20.0, 23.0), description="local mean solar "
                                            "time [start, end) h")
    min_city_population: Literal[500, 1000, 5000, 15000] = 15000
    rural_min_share: float = 0.1
    satellite_gbps: dict[str, float] = Field(default_factory=dict,
                                             description="generation (v1, v2mini) -> Gbps")
    beams: dict[str, int] = Field(default_factory=dict,
                                  description="generation (v1, v2mini) -> user beams")
    cells_per_beam: int | None = None
    spectral_model: Literal["dvb-s2", "shannon"] = "dvb-s2"
    implementation_margin_db: float = 1.0
    esn0_zenith_db: float = 16.0
    gateway_antennas: int = Field(8, description="antennas of gateways the site file "
                                  "gives none")
    feeder_gbps_per_antenna: float = 20.0
    whatif_on: list[str] = Field(default_factory=list)
    whatif_off: list[str] = Field(default_factory=list)
    whatif_policy: str | None = None

    @field_validator("take_rate", "rural_min_share")
    @classmethod
    def _share(cls, v: float, info: Any) -> float:
        if not (0.0 <= v <= 1.0):
            raise ValueError(f"{info.field_name} must be in [0, 1], got {v}")
        return v

    @field_validator("take_rates", "subscribers")
    @classmethod
    def _by_country(cls, v: dict[str, float], info: Any) -> dict[str, float]:
        out = {}
        for code, x in v.items():
            iso = str(code).strip().upper()
            if len(iso) != 2 or not iso.isalpha():
                raise ValueError(f"{info.field_name}: country must be an ISO 3166-1 alpha-2 "
                                 f"code such as 'UA', got {code!r}")
            hi = 1.0 if info.field_name == "take_rates" else 1e10
            if not (0.0 <= x <= hi):
                raise ValueError(f"{info.field_name}.{iso} must be in [0, {hi:g}], got {x}")
            out[iso] = float(x)
        return out

    @field_validator("satellite_gbps", "beams")
    @classmethod
    def _by_generation(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        for gen, x in v.items():
            if gen not in ("v1", "v2mini"):
                raise ValueError(f"{info.field_name}: unknown generation {gen!r}; "
                                 "generations: v1, v2mini")
            if not (0 < x < 1e6):
                raise ValueError(f"{info.field_name}.{gen} must be in (0, 1e6), got {x}")
        return v

    @field_validator("monthly_gb_per_subscriber", "feeder_gbps_per_antenna")
    @classmethod
    def _positive(cls, v: float, info: Any) -> float:
        if not (0.0 <= v < 1e7):
            raise ValueError(f"{info.field_name} must be in [0, 1e7), got {v}")
        return v

    @field_validator("busy_hours")
    @classmethod
    def _hours(cls, v: tuple[float, float]) -> tuple[float, float]:
        a, b = v
        if not (0.0 <= a < 24.0 and 0.0 < b <= 24.0 and a != b):
            raise ValueError(f"busy_hours must be [start, end) local hours in [0, 24] with "
                             f"start != end, got {list(v)}")
        return v

    @field_validator("cells_per_beam", "gateway_antennas")
    @classmethod
    def _count(cls, v: int | None, info: Any) -> int | None:
        if v is not None and not (1 <= v <= 100_000):
            raise ValueError(f"{info.field_name} must be in [1, 100000], got {v}")
        return v

    @field_validator("implementation_margin_db", "esn0_zenith_db")
    @classmethod
    def _db(cls, v: float, info: Any) -> float:
        if not (-50.0 <= v <= 60.0):
            raise ValueError(f"{info.field_name} must be in [-50, 60] dB, got {v}")
        return v

    @model_validator(mode="after")
    def _whatif(self) -> CapacitySpec:
        both = set(self.whatif_on) & set(self.whatif_off)
        if both:
            raise ValueError(f"regions both in whatif_on and whatif_off: {', '.join(sorted(both))}")
        if self.whatif_policy is not None and not self.whatif_policy.strip():
            raise ValueError("whatif_policy is blank; give a built-in policy name or a file")
        return self

    @property
    def has_whatif(self) -> bool:
        return bool(self.whatif_on or self.whatif_off or self.whatif_policy)

    @field_validator("every")
    @classmethod
    def _every(cls, v: str) -> str:
        if parse_duration(v, "capacity.every") <= 0:
            raise ValueError(f"must be > 0 s, got {v!r}")
        return v

    @property
    def every_s(self) -> float:
        return parse_duration(self.every, "capacity.every")

class OutputSpec(_Strict):
    """Where and what to write."""

    dir: str = "out/default"
    maps: bool = True
    netcdf: bool = True
    formats: list[Literal["parquet", "csv"]] = Field(
        default_factory=lambda: ["parquet", "csv"])  # type: ignore[arg-type]
    cell_series: bool = Field(
        False, description="stream every cell's status and satellites in view at every step "
        "into cells_series.zarr (chunked, compressed; never held in memory)")
    czml: bool = Field(
        False, description="also write view.czml (the run as CZML: satellites, gateways, PoPs, "
        "terminals and their paths per step, cells by status) and the offline Cesium viewer "
        "view/ (skyfence view)")

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one table format (parquet, csv)")
        return list(dict.fromkeys(v))


class RunSpec(_Strict):
    """Execution: time-chunk length and optional Dask scheduler (``"local"`` or an address)."""

    chunk_steps: int = 60
    dask: str | None = None
    workers: int | None = Field(None, description="workers of a local Dask cluster "
                                "(default: the number of cores)")
    threads: int | None = Field(None, description="threads of the compiled kernels (visibility, "
                                "routing) per process (default: every core; Dask workers: 1)")
    memory_budget_gib: float = Field(2.0, description="memory the run may hold, GiB; larger "
                                     "runs are refused up front with an estimate")

    @field_validator("chunk_steps")
    @classmethod
    def _chunk(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {v}")
        return v

    @field_validator("workers", "threads")
    @classmethod
    def _workers(cls, v: int | None, info: Any) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"{info.field_name} must be >= 1, got {v}")
        return v

    @field_validator("memory_budget_gib")
    @classmethod
    def _budget(cls, v: float) -> float:
        if not (v > 0 and v < 1e6):
            raise ValueError(f"memory budget must be in (0, 1e6) GiB, got {v}")
        return v


class Scenario(_Strict):
    """A whole scenario (see the module docstring)."""

    name: str = "scenario"
    description: str = ""
    seed: int = 0
    time: TimeSpec = TimeSpec()
    constellation: ConstellationSpec = ConstellationSpec()
    ground: GroundSpec = GroundSpec()
    policy: PolicySpec = PolicySpec()
    network: NetworkSpec = NetworkSpec()
    capacity: CapacitySpec = CapacitySpec()
    outputs: OutputSpec = OutputSpec()
    run: RunSpec = RunSpec()


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at ``loc`` (the parent path of an unknown key)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        ann = info.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(
            a, BaseModel)), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            options = _known_keys(Scenario, tuple(err["loc"][:-1]))
            close = difflib.get_close_matches(key, options, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"unknown key {loc!r}{hint} (valid: {', '.join(options)})")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping; errors name the source and the offending keys."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, source), source) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a TOML scenario file."""
    from .limits import load_toml_text, read_text_file

    p = Path(path)
    if not p.exists():
        raise ScenarioError("scenario file not found", str(p))
    text = read_text_file(p, kind="scenario", error=ScenarioError)
    data = load_toml_text(text, str(p), kind="scenario", error=ScenarioError)
    scenario = parse_scenario(data, str(p))
    return _resolve_paths(scenario, p.parent)


def _resolve_paths(scenario: Scenario, base: Path) -> Scenario:
    """Make relative file paths in a scenario relative to the scenario file's folder."""

    def fix(value: str | None) -> str | None:
        if not value:
            return value
        candidate = Path(value).expanduser()
        if candidate.is_absolute() or not (base / candidate).exists():
            return value
        return str(base / candidate)

    src = scenario.constellation.source
    fixed_src = fix(src) or src
    return scenario.model_copy(update={
        "constellation": scenario.constellation.model_copy(update={"source": fixed_src}),
        "policy": scenario.policy.model_copy(update={
            "source": fix(scenario.policy.source) or scenario.policy.source}),
        "network": scenario.network.model_copy(update={
            "gateways": fix(scenario.network.gateways), "pops": fix(scenario.network.pops)}),
        "ground": scenario.ground.model_copy(update={"regions": [
            r.model_copy(update={"file": fix(r.file)}) for r in scenario.ground.regions],
            "terminals_file": fix(scenario.ground.terminals_file)}),
        "capacity": scenario.capacity.model_copy(update={
            "demand_file": fix(scenario.capacity.demand_file),
            "whatif_policy": fix(scenario.capacity.whatif_policy)}),
    })


def outage_specs(texts: list[str] | tuple[str, ...], where: str = "--gateway-down"
                 ) -> list[dict[str, Any]]:
    """Scenario ``[[network.outages]]`` entries from ``NAME`` or ``NAME@START/END`` texts
    (ISO 8601 UTC; either end may be empty)."""
    out = []
    for text in texts:
        name, sep, window = str(text).partition("@")
        entry: dict[str, Any] = {"site": name.strip()}
        if sep:
            a, slash, b = window.partition("/")
            if not slash:
                raise InputError(f"window {window!r} must be START/END (ISO 8601 UTC; either "
                                 "may be empty)", where)
            if a.strip():
                entry["start"] = a.strip()
            if b.strip():
                entry["end"] = b.strip()
        out.append(entry)
    return out


def with_overrides(scenario: Scenario, changes: dict[str, Any],
                   source: str = "command-line options") -> Scenario:
    """``scenario`` with ``changes[section][key]`` (or a top-level ``changes[key]``) applied
    where the value is not None, validated again (errors name ``source``)."""
    data = scenario.model_dump()
    for section, values in changes.items():
        if not isinstance(values, dict) or not isinstance(data.get(section), dict):
            if values is not None:
                data[section] = values
            continue
        for key, value in values.items():
            if value is not None:
                data[section][key] = value
    return parse_scenario(data, source)


def default_scenario() -> Scenario:
    """The built-in default scenario (package data ``skyfence/data/default_scenario.toml``)."""
    text = resources.files("skyfence").joinpath("data/default_scenario.toml").read_text("utf-8")
    return parse_scenario(tomllib.loads(text), "default_scenario.toml")
