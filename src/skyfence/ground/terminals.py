"""Named user terminals: parsing, validation, and their res-5 cells and ground vectors.

A terminal is a named WGS-84 point with a height above the ellipsoid in metres. Policy is
enforced per H3 resolution-5 cell from the terminal's location (../shared/facts.md, "How
service works"), so every terminal maps to its res-5 cell. `TerminalSet` holds the arrays the
coverage kernel needs, with the same field names as `skyfence.ground.cells.CellSet`
(``lat_deg``, ``lon_deg``, ``alt_km``, ``r_itrs_km``, ``up``, ``cells``).
"""

from __future__ import annotations

import csv
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..earth import enu_basis, geodetic_to_itrs
from ..errors import SiteError
from .cells import DEFAULT_RESOLUTION, latlng_to_cells

__all__ = [
    "MAX_ALTITUDE_M",
    "MAX_NAME_CHARS",
    "MAX_SPEED_KMH",
    "MIN_ALTITUDE_M",
    "POINT_KEYS",
    "POINT_SYNTAX",
    "Terminal",
    "TerminalSet",
    "check_label",
    "check_unique_names",
    "load_terminals_csv",
    "parse_ground_point",
    "parse_ground_points",
    "parse_terminal",
    "parse_terminals",
    "terminal_set",
    "validate_ground_point",
]

#: Lowest accepted terminal height above the ellipsoid (m): below the Dead Sea shore (-430 m)
#: with margin for geoid undulation.
MIN_ALTITUDE_M = -1_000.0
#: Highest accepted terminal height (m): airliners fly below 13 km; 20 km leaves margin.
MAX_ALTITUDE_M = 20_000.0

#: Highest accepted ground speed (km/h): above airliners (~1,000 km/h) and Concorde
#: (2,180 km/h) with margin; a larger value is almost certainly m/s or a typo.
MAX_SPEED_KMH = 5_000.0
#: Longest accepted terminal name or id (characters).
MAX_NAME_CHARS = 200

#: The one ground-point syntax of every command and the scenario.
POINT_SYNTAX = "NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..]"
_EXAMPLE = "Kyiv=50.45,30.52,alt_m=180"
#: Named extras of the ground-point syntax, and what they hold.
POINT_KEYS: dict[str, str] = {
    "alt_m": "height above the WGS-84 ellipsoid, metres",
    "speed_kmh": "ground speed, km/h (>= 0)",
    "id": "terminal identifier (text)",
}
# Bidirectional-text controls (spoofing: "Kyiv" that renders as something else).
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def check_label(value: object, field: str, where: str | None) -> str:
    """A name or id: non-blank text without control characters, ``=`` or ``,``; stripped.

    Raises `SiteError` naming ``field`` and the value.
    """
    if not isinstance(value, str):
        raise SiteError(f"{field} must be text, got {value!r}", where)
    text = value.strip()
    if not text:
        raise SiteError(f"{field} must not be blank, got {value!r}", where)
    bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")
                or ch in _BIDI), None)
    if bad is not None:
        raise SiteError(f"{field} {value!r} contains the control character "
                        f"U+{ord(bad):04X}", where)
    if "=" in text or "," in text:
        raise SiteError(f"{field} {value!r} must not contain '=' or ','", where)
    if len(text) > MAX_NAME_CHARS:
        raise SiteError(f"{field} is {len(text)} characters long (limit {MAX_NAME_CHARS})",
                        where)
    return text


def _number(value: object, field: str, where: str | None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise SiteError(f"{field} must be a finite number, got {value!r}", where)
    v = float(value)
    if not math.isfinite(v):
        raise SiteError(f"{field} must be a finite number, got {value!r}", where)
    return v


def _check_position(lat_deg: object, lon_deg: object, altitude_m: object,
                    where: str | None) -> tuple[float, float, float]:
    lat = _number(lat_deg, "lat_deg", where)
    lon = _number(lon_deg, "lon_deg", where)
    alt = _number(altitude_m, "altitude_m", where)
    if not -90.0 <= lat <= 90.0:
        raise SiteError(f"latitude {lat:g} is outside [-90, 90] deg", where)
    if not -180.0 <= lon <= 180.0:
        raise SiteError(f"longitude {lon:g} is outside [-180, 180] deg", where)
    if not MIN_ALTITUDE_M <= alt <= MAX_ALTITUDE_M:
        raise SiteError(f"altitude {alt:g} m is outside [{MIN_ALTITUDE_M:g}, "
                        f"{MAX_ALTITUDE_M:g}] m (metres, not km?)", where)
    return lat, lon, alt


def _check_speed(speed_kmh: object, where: str | None) -> float | None:
    if speed_kmh is None:
        return None
    v = _number(speed_kmh, "speed_kmh", where)
    if v < 0.0:
        raise SiteError(f"speed_kmh {v:g} must be >= 0 km/h", where)
    if v > MAX_SPEED_KMH:
        raise SiteError(f"speed_kmh {v:g} is above {MAX_SPEED_KMH:g} km/h (km/h, not m/s?)",
                        where)
    return v


@dataclass(frozen=True)
class Terminal:
    """A named user terminal.

    Attributes
    ----------
    name : str
        Non-blank; no control characters, ``=`` or ``,`` (names are unique within a set).
    lat_deg, lon_deg : float
        WGS-84 geodetic latitude in [-90, 90] and longitude in [-180, 180], degrees.
    altitude_m : float
        Height above the WGS-84 ellipsoid, metres, in [`MIN_ALTITUDE_M`, `MAX_ALTITUDE_M`].
    speed_kmh : float or None
        Ground speed, km/h, in [0, `MAX_SPEED_KMH`]; None when not stated.
    id : str or None
        Terminal identifier (for example the dish's serial or account terminal id).

    >>> Terminal("Kyiv", 50.45, 30.52).cell()
    599513355757027327
    """

    name: str
    lat_deg: float
    lon_deg: float
    altitude_m: float = 0.0
    speed_kmh: float | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        label = self.name if isinstance(self.name, str) else repr(self.name)
        where = f"terminal {label!r}"
        object.__setattr__(self, "name", check_label(self.name, "terminal name", where))
        lat, lon, alt = _check_position(self.lat_deg, self.lon_deg, self.altitude_m, where)
        object.__setattr__(self, "lat_deg", lat)
        object.__setattr__(self, "lon_deg", lon)
        object.__setattr__(self, "altitude_m", alt)
        object.__setattr__(self, "speed_kmh", _check_speed(self.speed_kmh, where))
        if self.id is not None:
            object.__setattr__(self, "id", check_label(self.id, "id", where))

    @property
    def alt_km(self) -> float:
        """Height above the ellipsoid, km."""
        return self.altitude_m / 1000.0

    def cell(self, resolution: int = DEFAULT_RESOLUTION) -> int:
        """The H3 cell (uint64 as int) containing the terminal (res 5 by default)."""
        return int(latlng_to_cells(self.lat_deg, self.lon_deg, resolution))

    @classmethod
    def parse(cls, text: str, where: str | None = None) -> Terminal:
        """Parse the ground-point syntax; see `parse_ground_point`."""
        return parse_ground_point(text, where)


def validate_ground_point(name: object, lat_deg: object, lon_deg: object,
                          altitude_m: object = 0.0, speed_kmh: object = None,
                          id: object = None, where: str | None = None) -> Terminal:
    """A `Terminal` from already-split fields, validated exactly as `parse_ground_point` does.

    For callers that hold the fields separately (a scenario's ``[[ground.terminals]]``
    table, an API request): errors are `SiteError` naming ``where`` (for example
    ``"scenario.toml: ground.terminals[2]"``), the field and the bad value.

    >>> validate_ground_point("Kyiv", 50.45, 30.52, speed_kmh=90).speed_kmh
    90.0
    """
    try:
        return Terminal(name, lat_deg, lon_deg, altitude_m, speed_kmh, id)  # type: ignore[arg-type]
    except SiteError as exc:
        raise SiteError(exc.message, where or exc.where) from None


def _parse_number(raw: str, field: str, text: str, where: str) -> float:
    try:
        if "_" in raw:  # float() would read "1_000" as 1000: refuse digit separators
            raise ValueError(raw)
        return float(raw)
    except ValueError:
        raise SiteError(f"{field} {raw!r} is not a number in {text!r}; expected "
                        f"{POINT_SYNTAX}, e.g. {_EXAMPLE}", where) from None


def parse_ground_point(text: str, where: str | None = None) -> Terminal:
    """A terminal from the one ground-point syntax (`POINT_SYNTAX`).

    ``NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..]``.

    Latitude and longitude are WGS-84 degrees; the extras are named (``alt_m`` metres above
    the ellipsoid, ``speed_kmh`` km/h, ``id`` text) and may come in any order. A bare third
    number is an error that says to write ``alt_m=...``: it used to mean altitude in one
    command and speed in another. Validation is `validate_ground_point`'s: latitude in
    [-90, 90], longitude in [-180, 180], finite numbers, altitude within
    [`MIN_ALTITUDE_M`, `MAX_ALTITUDE_M`], speed in [0, `MAX_SPEED_KMH`], names and ids
    non-blank without control characters. Errors are `SiteError` naming ``where`` (an
    option such as ``"--point"``), the field and the bad value.

    >>> parse_ground_point("Kyiv=50.45,30.52,alt_m=180,speed_kmh=60")
    Terminal(name='Kyiv', lat_deg=50.45, lon_deg=30.52, altitude_m=180.0, speed_kmh=60.0, id=None)
    """
    label = where or "point"
    if not isinstance(text, str):
        raise SiteError(f"expected text {POINT_SYNTAX}, got {text!r}", label)
    if "=" not in text:
        raise SiteError(f"cannot read point {text!r}: expected {POINT_SYNTAX}, "
                        f"e.g. {_EXAMPLE}", label)
    name, _, rest = text.partition("=")
    if not name.strip():
        raise SiteError(f"point {text!r} has no name before '=': expected {POINT_SYNTAX}",
                        label)
    fields = [f.strip() for f in rest.split(",")]
    positional = [f for f in fields if "=" not in f]
    named = [f for f in fields if "=" in f]
    first_named = next((i for i, f in enumerate(fields) if "=" in f), len(fields))
    if any("=" not in f for f in fields[first_named:]):
        raise SiteError(f"point {text!r}: LAT and LON come first, then named extras "
                        f"(alt_m=.., speed_kmh=.., id=..)", label)
    if len(positional) < 2 or not all(positional):
        raise SiteError(f"point {text!r} needs LAT,LON after '=': expected {POINT_SYNTAX}, "
                        f"e.g. {_EXAMPLE}", label)
    if len(positional) > 2:
        raise SiteError(f"point {text!r}: a third number {positional[2]!r} is ambiguous; "
                        f"write alt_m={positional[2]} (metres) or speed_kmh={positional[2]} "
                        "(km/h)", label)
    lat = _parse_number(positional[0], "LAT", text, label)
    lon = _parse_number(positional[1], "LON", text, label)
    extras: dict[str, str] = {}
    for item in named:
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if key not in POINT_KEYS:
            raise SiteError(f"point {text!r}: unknown key {key!r}; known keys: "
                            f"{', '.join(POINT_KEYS)}", label)
        if key in extras:
            raise SiteError(f"point {text!r}: {key} given twice", label)
        if not value.strip():
            raise SiteError(f"point {text!r}: {key} has no value", label)
        extras[key] = value.strip()
    alt = _parse_number(extras["alt_m"], "alt_m", text, label) if "alt_m" in extras else 0.0
    speed = (_parse_number(extras["speed_kmh"], "speed_kmh", text, label)
             if "speed_kmh" in extras else None)
    try:
        return Terminal(name, lat, lon, alt, speed, extras.get("id"))
    except SiteError as exc:
        raise SiteError(f"{exc.message} (in {text!r})", label) from None


def check_unique_names(terminals: Sequence[Terminal], where: str | None) -> None:
    """Raise `SiteError` when two terminals share a name (or, when given, an id)."""
    seen: set[str] = set()
    ids: set[str] = set()
    for t in terminals:
        if t.name in seen:
            raise SiteError(f"duplicate terminal name {t.name!r}", where)
        seen.add(t.name)
        if t.id is not None:
            if t.id in ids:
                raise SiteError(f"duplicate terminal id {t.id!r}", where)
            ids.add(t.id)


def parse_ground_points(texts: Iterable[str], where: str = "--point") -> list[Terminal]:
    """Terminals from ground-point strings (`parse_ground_point`); names must be unique.

    Errors name the option and the position: ``--point #2: ...``.
    """
    if isinstance(texts, str):
        texts = [texts]
    out = [parse_ground_point(t, f"{where} #{i + 1}") for i, t in enumerate(texts)]
    check_unique_names(out, where)
    return out


#: Earlier names of the parser, kept for existing callers.
parse_terminal = parse_ground_point


def parse_terminals(texts: Iterable[str], where: str = "--terminal") -> list[Terminal]:
    """`parse_ground_points` with errors naming ``--terminal`` by default."""
    return parse_ground_points(texts, where)


_COLUMNS = {
    "name": ("name", "terminal"),
    "lat": ("lat_deg", "lat", "latitude"),
    "lon": ("lon_deg", "lon", "lng", "longitude"),
    "alt": ("altitude_m", "alt_m", "altitude"),
    "speed": ("speed_kmh",),
    "id": ("id", "terminal_id"),
}


def load_terminals_csv(path: str | Path) -> list[Terminal]:
    """Terminals from a CSV with a header: ``name, lat_deg, lon_deg[, altitude_m, speed_kmh, id]``.

    Accepted column names: name/terminal, lat_deg/lat/latitude, lon_deg/lon/lng/longitude,
    altitude_m/alt_m/altitude (metres), speed_kmh (km/h), id/terminal_id; without a name
    column the id names the terminal. Values are validated as `validate_ground_point` does;
    errors name the file and line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SiteError("terminal file not found", str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"cannot read: {exc}", str(p)) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise SiteError("empty CSV: expected a header name,lat_deg,lon_deg[,altitude_m]", str(p))
    header = [h.strip().lower() for h in rows[0]]
    cols: dict[str, int] = {}
    for key, names in _COLUMNS.items():
        for n in names:
            if n in header:
                cols[key] = header.index(n)
                break
    if "name" not in cols and "id" in cols:
        cols["name"] = cols["id"]
    missing = [k for k in ("name", "lat", "lon") if k not in cols]
    if missing:
        raise SiteError(f"missing column(s) {', '.join(_COLUMNS[k][0] for k in missing)}; "
                        f"header is {', '.join(header)}", f"{p}:1")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        where = f"{p}:{n}"
        if len(row) < len(header):
            raise SiteError(f"expected {len(header)} fields, got {len(row)}", where)
        vals: dict[str, float | None] = {}
        for key in ("lat", "lon", "alt", "speed"):
            raw = row[cols[key]].strip() if key in cols else ""
            if not raw:
                vals[key] = 0.0 if key != "speed" else None
                continue
            try:
                if "_" in raw:
                    raise ValueError(raw)
                vals[key] = float(raw)
            except ValueError:
                raise SiteError(f"{header[cols[key]]} {raw!r} is not a number", where) from None
        ident = row[cols["id"]].strip() if "id" in cols else ""
        out.append(validate_ground_point(row[cols["name"]], vals["lat"], vals["lon"],
                                         vals["alt"], vals["speed"], ident or None, where))
    if not out:
        raise SiteError("no terminals in file", str(p))
    check_unique_names(out, str(p))
    return out


@dataclass(frozen=True, eq=False)
class TerminalSet:
    """Arrays of terminals for the coverage kernel (same field names as `CellSet`).

    Attributes
    ----------
    names : tuple of str
        Terminal names, in order.
    lat_deg, lon_deg, alt_km : ndarray of float64, (n,)
        WGS-84 geodetic position; height in km.
    cells : ndarray of uint64, (n,)
        H3 cell of each terminal at ``resolution`` (5: the policy cell).
    r_itrs_km : ndarray of float64, (n, 3)
        ITRS (Earth-fixed) position, km.
    up : ndarray of float64, (n, 3)
        Unit ellipsoid normal (local vertical), ITRS.
    resolution : int
        H3 resolution of ``cells``.
    """

    names: tuple[str, ...]
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    cells: np.ndarray
    r_itrs_km: np.ndarray
    up: np.ndarray
    resolution: int = DEFAULT_RESOLUTION

    def __len__(self) -> int:
        return len(self.names)

    @property
    def altitude_m(self) -> np.ndarray:
        """Height above the ellipsoid, metres."""
        return self.alt_km * 1000.0

    def terminals(self) -> list[Terminal]:
        """The terminals as records."""
        return [Terminal(n, float(a), float(o), float(h) * 1000.0)
                for n, a, o, h in zip(self.names, self.lat_deg, self.lon_deg, self.alt_km,
                                      strict=True)]


def terminal_set(terminals: Sequence[Terminal], resolution: int = DEFAULT_RESOLUTION
                 ) -> TerminalSet:
    """Arrays (positions, ITRS vectors, normals, cells) of terminals; names must be unique."""
    terms = list(terminals)
    check_unique_names(terms, "terminals")
    lat = np.array([t.lat_deg for t in terms], dtype=np.float64)
    lon = np.array([t.lon_deg for t in terms], dtype=np.float64)
    alt = np.array([t.alt_km for t in terms], dtype=np.float64)
    _, _, up = enu_basis(lat, lon)
    return TerminalSet(tuple(t.name for t in terms), lat, lon, alt,
                       latlng_to_cells(lat, lon, resolution), geodetic_to_itrs(lat, lon, alt),
                       up.reshape(-1, 3), resolution)
