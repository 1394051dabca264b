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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..earth import enu_basis, geodetic_to_itrs
from ..errors import SiteError
from .cells import DEFAULT_RESOLUTION, latlng_to_cells

__all__ = [
    "MAX_ALTITUDE_M",
    "MIN_ALTITUDE_M",
    "Terminal",
    "TerminalSet",
    "load_terminals_csv",
    "parse_terminal",
    "parse_terminals",
    "terminal_set",
]

#: Lowest accepted terminal height above the ellipsoid (m): below the Dead Sea shore (-430 m)
#: with margin for geoid undulation.
MIN_ALTITUDE_M = -1_000.0
#: Highest accepted terminal height (m): airliners fly below 13 km; 20 km leaves margin.
MAX_ALTITUDE_M = 20_000.0

_NAME_RE = re.compile(r"^[^=,\n\r\t]+$")
_FORMAT = "NAME=LAT,LON or NAME=LAT,LON,ALT_M (degrees, metres), e.g. Kyiv=50.45,30.52"


@dataclass(frozen=True)
class Terminal:
    """A named user terminal.

    Attributes
    ----------
    name : str
        Unique, non-empty; no ``=``, ``,`` or line breaks.
    lat_deg, lon_deg : float
        WGS-84 geodetic latitude in [-90, 90] and longitude in [-180, 180], degrees.
    altitude_m : float
        Height above the WGS-84 ellipsoid, metres, in [`MIN_ALTITUDE_M`, `MAX_ALTITUDE_M`].

    >>> Terminal("Kyiv", 50.45, 30.52).cell()
    599513355757027327
    """

    name: str
    lat_deg: float
    lon_deg: float
    altitude_m: float = 0.0

    def __post_init__(self) -> None:
        where = f"terminal {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip() \
                or not _NAME_RE.match(self.name.strip()):
            raise SiteError(f"terminal name must be non-empty without '=', ',' or line breaks, "
                            f"got {self.name!r}", "terminal")
        object.__setattr__(self, "name", self.name.strip())
        for label, value in (("lat_deg", self.lat_deg), ("lon_deg", self.lon_deg),
                             ("altitude_m", self.altitude_m)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not math.isfinite(float(value)):
                raise SiteError(f"{label} must be a finite number, got {value!r}", where)
            object.__setattr__(self, label, float(value))
        if not -90.0 <= self.lat_deg <= 90.0:
            raise SiteError(f"latitude {self.lat_deg} is outside [-90, 90] deg", where)
        if not -180.0 <= self.lon_deg <= 180.0:
            raise SiteError(f"longitude {self.lon_deg} is outside [-180, 180] deg", where)
        if not MIN_ALTITUDE_M <= self.altitude_m <= MAX_ALTITUDE_M:
            raise SiteError(f"altitude {self.altitude_m} m is outside [{MIN_ALTITUDE_M:g}, "
                            f"{MAX_ALTITUDE_M:g}] m (metres, not km?)", where)

    @property
    def alt_km(self) -> float:
        """Height above the ellipsoid, km."""
        return self.altitude_m / 1000.0

    def cell(self, resolution: int = DEFAULT_RESOLUTION) -> int:
        """The H3 cell (uint64 as int) containing the terminal (res 5 by default)."""
        return int(latlng_to_cells(self.lat_deg, self.lon_deg, resolution))

    @classmethod
    def parse(cls, text: str, where: str | None = None) -> Terminal:
        """Parse ``"NAME=LAT,LON"`` or ``"NAME=LAT,LON,ALT_M"``; see `parse_terminal`."""
        return parse_terminal(text, where)


def parse_terminal(text: str, where: str | None = None) -> Terminal:
    """A terminal from ``"NAME=LAT,LON"`` or ``"NAME=LAT,LON,ALT_M"`` (degrees, metres).

    Errors show the bad text and the expected form.

    >>> parse_terminal("Kyiv=50.45,30.52,180")
    Terminal(name='Kyiv', lat_deg=50.45, lon_deg=30.52, altitude_m=180.0)
    """
    label = where or "--terminal"
    if not isinstance(text, str) or "=" not in text:
        raise SiteError(f"cannot parse terminal {text!r}: expected {_FORMAT}", label)
    name, _, rest = text.partition("=")
    if not name.strip():
        raise SiteError(f"terminal {text!r} has no name before '=': expected {_FORMAT}", label)
    fields = [f.strip() for f in rest.split(",")]
    if len(fields) not in (2, 3) or not all(fields):
        raise SiteError(f"terminal {text!r} needs 2 or 3 numbers after '=' (LAT,LON[,ALT_M]), "
                        f"got {len(fields)}: expected {_FORMAT}", label)
    values = []
    for field_name, f in zip(("LAT", "LON", "ALT_M"), fields, strict=False):
        try:
            values.append(float(f))
        except ValueError:
            raise SiteError(f"terminal {text!r}: {field_name} {f!r} is not a number; expected "
                            f"{_FORMAT}", label) from None
    try:
        return Terminal(name.strip(), *values)
    except SiteError as exc:
        raise SiteError(f"{exc.message} (in {text!r})", label) from None


def _check_unique(terminals: Sequence[Terminal], where: str | None) -> None:
    seen: set[str] = set()
    for t in terminals:
        if t.name in seen:
            raise SiteError(f"duplicate terminal name {t.name!r}", where)
        seen.add(t.name)


def parse_terminals(texts: Iterable[str]) -> list[Terminal]:
    """Terminals from ``NAME=LAT,LON[,ALT_M]`` strings; names must be unique."""
    out = [parse_terminal(t, f"--terminal #{i + 1}") for i, t in enumerate(texts)]
    _check_unique(out, "--terminal")
    return out


_COLUMNS = {
    "name": ("name", "terminal", "id"),
    "lat": ("lat_deg", "lat", "latitude"),
    "lon": ("lon_deg", "lon", "lng", "longitude"),
    "alt": ("altitude_m", "alt_m", "altitude"),
}


def load_terminals_csv(path: str | Path) -> list[Terminal]:
    """Terminals from a CSV with a header: ``name, lat_deg, lon_deg[, altitude_m]``.

    Accepted column names: name/terminal/id, lat_deg/lat/latitude, lon_deg/lon/lng/longitude,
    altitude_m/alt_m/altitude (metres). Errors name the file and line.
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
        vals = []
        for key in ("lat", "lon", "alt"):
            if key not in cols or (key == "alt" and not row[cols[key]].strip()):
                vals.append(0.0)
                continue
            raw = row[cols[key]].strip()
            try:
                vals.append(float(raw))
            except ValueError:
                raise SiteError(f"{header[cols[key]]} {raw!r} is not a number", where) from None
        try:
            out.append(Terminal(row[cols["name"]], *vals))
        except SiteError as exc:
            raise SiteError(exc.message, where) from None
    if not out:
        raise SiteError("no terminals in file", str(p))
    _check_unique(out, str(p))
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
    _check_unique(terms, "terminals")
    lat = np.array([t.lat_deg for t in terms], dtype=np.float64)
    lon = np.array([t.lon_deg for t in terms], dtype=np.float64)
    alt = np.array([t.alt_km for t in terms], dtype=np.float64)
    _, _, up = enu_basis(lat, lon)
    return TerminalSet(tuple(t.name for t in terms), lat, lon, alt,
                       latlng_to_cells(lat, lon, resolution), geodetic_to_itrs(lat, lon, alt),
                       up.reshape(-1, 3), resolution)
