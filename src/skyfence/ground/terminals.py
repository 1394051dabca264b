"""Named user terminals: parsing, validation, and their res-5 cells and ground vectors.

A terminal is a named WGS-84 point with a height above the ellipsoid in metres. Policy is
enforced per H3 resolution-5 cell from the terminal's location (../shared/facts.md, "How
service works"), so every terminal maps to its res-5 cell. `TerminalSet` holds the arrays the
coverage kernel needs, with the same field names as `skyfence.ground.cells.CellSet`
(``lat_deg``, ``lon_deg``, ``alt_km``, ``r_itrs_km``, ``up``, ``cells``).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..earth import enu_basis, geodetic_to_itrs
from ..errors import InputError, SiteError
from ..timeutil import format_utc, parse_time
from .cells import DEFAULT_RESOLUTION, latlng_to_cells
from .geometry import geodesic_distance_km

__all__ = [
    "MAX_ALTITUDE_M",
    "MAX_NAME_CHARS",
    "MAX_SPEED_KMH",
    "MIN_ALTITUDE_M",
    "POINT_KEYS",
    "POINT_SYNTAX",
    "Terminal",
    "TerminalSet",
    "TerminalState",
    "Track",
    "check_label",
    "check_unique_names",
    "parse_flag",
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
POINT_SYNTAX = "NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..][,owner=..][,registered=yes|no]"
_EXAMPLE = "Kyiv=50.45,30.52,alt_m=180"
#: Named extras of the ground-point syntax, and what they hold.
POINT_KEYS: dict[str, str] = {
    "alt_m": "height above the WGS-84 ellipsoid, metres",
    "speed_kmh": "ground speed, km/h (>= 0)",
    "id": "terminal identifier (text)",
    "owner": "owner or account (text)",
    "registered": "registration status: yes or no",
    "registered_from": "registration valid from, ISO 8601 UTC",
    "registered_until": "registration valid until (exclusive), ISO 8601 UTC",
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


def _time(value: object, field: str, where: str | None) -> np.datetime64:
    try:
        return parse_time(value, field)
    except InputError as exc:
        raise SiteError(exc.message if where is None else f"{field}: {exc.message}",
                        where or exc.where) from None


def _as_times(values: ArrayLike, where: str | None) -> np.ndarray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        out = arr.astype("datetime64[ns]").ravel()
        if np.any(np.isnat(out)):
            raise SiteError(f"track time {int(np.argmax(np.isnat(out)))} is missing (NaT)",
                            where)
        for k in (0, out.size - 1):  # range check through the one parser
            if out.size:
                _time(arr.ravel()[k], f"t_utc[{k}]", where)
        return out
    return np.array([_time(v, f"t_utc[{k}]", where) for k, v in enumerate(arr.ravel())],
                    dtype="datetime64[ns]")


@dataclass(frozen=True, eq=False)
class Track:
    """Where a terminal is over time: UTC times and WGS-84 positions, with ground speed.

    Between two track points the terminal moves along the great circle at constant speed
    (position by spherical interpolation of the unit vectors, height linearly); the leg's
    ground speed is its WGS-84 geodesic length (`skyfence.ground.geodesic_distance_km`) over
    its duration. Outside the track the terminal stays at the first or last point with
    speed 0 and `covers` is False there: the engine can report it (clamp and say so).

    Attributes
    ----------
    t_utc : ndarray of datetime64[ns], (k,)
        Strictly increasing times.
    lat_deg, lon_deg, alt_m : ndarray of float64, (k,)
        WGS-84 geodetic position, height above the ellipsoid in metres.
    leg_km, leg_speed_kmh : ndarray of float64, (k-1,)
        Geodesic length and ground speed of each leg (derived).
    """

    t_utc: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_m: np.ndarray
    leg_km: np.ndarray = field(init=False, repr=False)
    leg_speed_kmh: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._validate(None)

    def _validate(self, where: str | None, labels: Sequence[str] | None = None) -> None:
        def at(k: int) -> str:
            if labels is not None and 0 <= k < len(labels):
                return labels[k]
            return f"{where}: point {k}" if where else f"track point {k}"

        t = _as_times(self.t_utc, where)
        cols = []
        for name, value in (("lat_deg", self.lat_deg), ("lon_deg", self.lon_deg),
                            ("alt_m", self.alt_m)):
            try:
                arr = np.broadcast_to(np.asarray(value, dtype=np.float64), t.shape).copy()
            except (TypeError, ValueError):
                raise SiteError(f"track {name} must be {t.size} numbers", where) from None
            cols.append(arr)
        lat, lon, alt = cols
        if t.size == 0:
            raise SiteError("a track needs at least one point", where)
        bad = ~(np.isfinite(lat) & np.isfinite(lon) & np.isfinite(alt))
        bad |= ((np.abs(lat) > 90.0) | (np.abs(lon) > 180.0) | (alt < MIN_ALTITUDE_M)
                | (alt > MAX_ALTITUDE_M))
        if bad.any():
            k = int(np.argmax(bad))
            _check_position(float(lat[k]), float(lon[k]), float(alt[k]), at(k))
        dt = np.diff(t.astype(np.int64))
        if np.any(dt <= 0):
            k = int(np.argmax(dt <= 0)) + 1
            what = "repeats" if dt[k - 1] == 0 else "goes back before"
            raise SiteError(f"track time {format_utc(t[k])} {what} the previous point's "
                            f"({format_utc(t[k - 1])}); times must increase", at(k))
        leg = geodesic_distance_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
        speed = leg / (dt / 3.6e12)  # km per (ns / 3.6e12 = hours)
        if np.any(speed > MAX_SPEED_KMH):
            k = int(np.argmax(speed > MAX_SPEED_KMH))
            raise SiteError(f"track leg from {format_utc(t[k])} to {format_utc(t[k + 1])} "
                            f"covers {leg[k]:.3f} km in {dt[k] / 1e9:g} s: {speed[k]:.0f} km/h, "
                            f"above {MAX_SPEED_KMH:g} km/h", at(k + 1))
        for name, value in (("t_utc", t), ("lat_deg", lat), ("lon_deg", lon), ("alt_m", alt),
                            ("leg_km", leg), ("leg_speed_kmh", speed)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @classmethod
    def from_points(cls, t_utc: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike,
                    alt_m: ArrayLike = 0.0, where: str | None = None,
                    labels: Sequence[str] | None = None) -> Track:
        """A validated track; errors are `SiteError` naming the point or leg.

        ``labels`` (one per point, such as ``"tracks.csv:12"``) name the offending point in
        errors; otherwise ``where`` and the point's index.
        """
        track = object.__new__(cls)
        for name, value in (("t_utc", t_utc), ("lat_deg", lat_deg), ("lon_deg", lon_deg),
                            ("alt_m", alt_m)):
            object.__setattr__(track, name, value)
        track._validate(where, labels)
        return track

    def __len__(self) -> int:
        return int(self.t_utc.size)

    @property
    def start(self) -> np.datetime64:
        """First time (UTC)."""
        return self.t_utc[0]

    @property
    def end(self) -> np.datetime64:
        """Last time (UTC)."""
        return self.t_utc[-1]

    def covers(self, t_utc: ArrayLike) -> np.ndarray:
        """Whether each time lies within [start, end]."""
        t = _grid(t_utc)
        return (t >= self.t_utc[0]) & (t <= self.t_utc[-1])

    def _leg(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leg index (clipped) and the fraction along it (clipped to [0, 1]) of each time."""
        if self.t_utc.size == 1:
            return np.zeros(t.shape, np.int64), np.zeros(t.shape)
        ti = self.t_utc.astype(np.int64)
        k = np.clip(np.searchsorted(ti, t.astype(np.int64), side="right") - 1, 0,
                    ti.size - 2)
        frac = (t.astype(np.int64) - ti[k]) / (ti[k + 1] - ti[k])
        return k, np.clip(frac, 0.0, 1.0)

    def position(self, t_utc: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``lat_deg, lon_deg, alt_m`` at each time (held at the ends outside the track)."""
        t = _grid(t_utc)
        if self.t_utc.size == 1:
            ones = np.ones(t.shape)
            return ones * self.lat_deg[0], ones * self.lon_deg[0], ones * self.alt_m[0]
        k, f = self._leg(t)
        p, q = _unit_vector(self.lat_deg[k], self.lon_deg[k]), _unit_vector(
            self.lat_deg[k + 1], self.lon_deg[k + 1])
        omega = np.arccos(np.clip(np.einsum("...i,...i->...", p, q), -1.0, 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.sin(omega)
            wa = np.where(s > 1e-12, np.sin((1.0 - f) * omega) / s, 1.0 - f)
            wb = np.where(s > 1e-12, np.sin(f * omega) / s, f)
        v = wa[..., None] * p + wb[..., None] * q
        v /= np.linalg.norm(v, axis=-1, keepdims=True)
        lat = np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0)))
        lon = np.degrees(np.arctan2(v[..., 1], v[..., 0]))
        alt = self.alt_m[k] + f * (self.alt_m[k + 1] - self.alt_m[k])
        return lat, lon, alt

    def speed_kmh(self, t_utc: ArrayLike) -> np.ndarray:
        """Ground speed (km/h) of the leg holding each time; 0 outside the track.

        Legs are half-open ``[t_i, t_i+1)``; the last point belongs to the last leg.
        """
        t = _grid(t_utc)
        if self.t_utc.size == 1:
            return np.zeros(t.shape)
        k, _ = self._leg(t)
        return np.where(self.covers(t), self.leg_speed_kmh[k], 0.0)


def _grid(t_utc: ArrayLike) -> np.ndarray:
    arr = np.asarray(t_utc)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ns]")
    if arr.ndim == 0:
        return np.asarray(parse_time(arr.item(), "t_utc"))
    return np.array([parse_time(v, "t_utc") for v in arr.ravel()],
                    dtype="datetime64[ns]").reshape(arr.shape)


def _unit_vector(lat_deg: ArrayLike, lon_deg: ArrayLike) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)],
                    axis=-1)


def _optional_time(value: object, field: str, where: str) -> np.datetime64 | None:
    if value is None:
        return None
    return _time(value, field, where)


@dataclass(frozen=True)
class Terminal:
    """A user terminal: where it is (or its track), who it is, and its registration.

    Attributes
    ----------
    name : str
        Non-blank; no control characters, ``=`` or ``,`` (names are unique within a set).
    lat_deg, lon_deg : float
        WGS-84 geodetic latitude in [-90, 90] and longitude in [-180, 180], degrees; for a
        moving terminal, its first track point.
    altitude_m : float
        Height above the WGS-84 ellipsoid, metres, in [`MIN_ALTITUDE_M`, `MAX_ALTITUDE_M`].
    speed_kmh : float or None
        Stated ground speed, km/h, in [0, `MAX_SPEED_KMH`]; None when not stated (a fixed
        terminal: speed 0). A moving terminal's speed comes from its track.
    id : str or None
        Terminal identifier (the dish's serial or the account's terminal id).
    owner : str or None
        Owner or account the terminal is registered to.
    registered : bool or None
        Registration status; None = not stated. Registration dates imply True.
    registered_from, registered_until : datetime64[ns] or None
        The registration's validity, UTC, ``[from, until)``; None = open.
    track : Track or None
        The terminal's path for moving terminals (vehicles, boats, drones).

    >>> Terminal("Kyiv", 50.45, 30.52).cell()
    599513355757027327
    """

    name: str
    lat_deg: float
    lon_deg: float
    altitude_m: float = 0.0
    speed_kmh: float | None = None
    id: str | None = None
    owner: str | None = None
    registered: bool | None = None
    registered_from: np.datetime64 | None = None
    registered_until: np.datetime64 | None = None
    track: Track | None = None

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
        if self.owner is not None:
            object.__setattr__(self, "owner", check_label(self.owner, "owner", where))
        start = _optional_time(self.registered_from, "registered_from", where)
        end = _optional_time(self.registered_until, "registered_until", where)
        object.__setattr__(self, "registered_from", start)
        object.__setattr__(self, "registered_until", end)
        if start is not None and end is not None and end <= start:
            raise SiteError(f"registered_until {format_utc(end)} must be after "
                            f"registered_from {format_utc(start)}", where)
        reg = self.registered
        if reg is not None and not isinstance(reg, (bool, np.bool_)):
            raise SiteError(f"registered must be true or false, got {reg!r}", where)
        if (start is not None or end is not None):
            if reg is False:
                raise SiteError("registration dates given for a terminal marked not "
                                "registered", where)
            reg = True
        object.__setattr__(self, "registered", None if reg is None else bool(reg))
        if self.track is not None:
            if not isinstance(self.track, Track):
                raise SiteError(f"track must be a Track, got {type(self.track).__name__}",
                                where)
            if self.speed_kmh is not None:
                raise SiteError("a moving terminal's speed comes from its track; do not "
                                "state speed_kmh as well", where)

    @classmethod
    def moving(cls, name: str, track: Track, **attributes: Any) -> Terminal:
        """A terminal following ``track`` (its position fields are the first track point)."""
        return cls(name, float(track.lat_deg[0]), float(track.lon_deg[0]),
                   float(track.alt_m[0]), track=track, **attributes)

    @property
    def alt_km(self) -> float:
        """Height above the ellipsoid, km."""
        return self.altitude_m / 1000.0

    @property
    def is_moving(self) -> bool:
        """True when the terminal follows a track."""
        return self.track is not None

    def cell(self, resolution: int = DEFAULT_RESOLUTION) -> int:
        """The H3 cell (uint64 as int) of the terminal's (first) position, res 5 by default."""
        return int(latlng_to_cells(self.lat_deg, self.lon_deg, resolution))

    def position_at(self, t_utc: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``lat_deg, lon_deg, altitude_m`` at each time (see `Track.position`)."""
        if self.track is not None:
            return self.track.position(t_utc)
        ones = np.ones(_grid(t_utc).shape)
        return ones * self.lat_deg, ones * self.lon_deg, ones * self.altitude_m

    def speed_at(self, t_utc: ArrayLike) -> np.ndarray:
        """Ground speed, km/h, at each time: from the track, else the stated speed (or 0)."""
        if self.track is not None:
            return self.track.speed_kmh(t_utc)
        return np.full(_grid(t_utc).shape, self.speed_kmh or 0.0)

    def on_track(self, t_utc: ArrayLike) -> np.ndarray:
        """False where a moving terminal is outside its track's times (held at an end)."""
        if self.track is not None:
            return self.track.covers(t_utc)
        return np.ones(_grid(t_utc).shape, bool)

    def is_registered(self, t_utc: ArrayLike) -> np.ndarray:
        """Whether the terminal is registered at each time (``[from, until)``, UTC)."""
        t = _grid(t_utc)
        if not self.registered:
            return np.zeros(t.shape, bool)
        ok = np.ones(t.shape, bool)
        if self.registered_from is not None:
            ok &= t >= self.registered_from
        if self.registered_until is not None:
            ok &= t < self.registered_until
        return ok

    @classmethod
    def parse(cls, text: str, where: str | None = None) -> Terminal:
        """Parse the ground-point syntax; see `parse_ground_point`."""
        return parse_ground_point(text, where)


def validate_ground_point(name: object, lat_deg: object, lon_deg: object,
                          altitude_m: object = 0.0, speed_kmh: object = None,
                          id: object = None, where: str | None = None, *,
                          owner: object = None, registered: object = None,
                          registered_from: object = None,
                          registered_until: object = None) -> Terminal:
    """A `Terminal` from already-split fields, validated exactly as `parse_ground_point` does.

    For callers that hold the fields separately (a scenario's ``[[ground.terminals]]``
    table, an API request): errors are `SiteError` naming ``where`` (for example
    ``"scenario.toml: ground.terminals[2]"``), the field and the bad value. Registration
    dates are ISO-8601 UTC text, `datetime` or ``datetime64``.

    >>> validate_ground_point("Kyiv", 50.45, 30.52, speed_kmh=90).speed_kmh
    90.0
    """
    try:
        return Terminal(name, lat_deg, lon_deg, altitude_m, speed_kmh, id,  # type: ignore[arg-type]
                        owner, registered, registered_from, registered_until)  # type: ignore[arg-type]
    except SiteError as exc:
        raise SiteError(exc.message, where or exc.where) from None


_TRUE = {"true", "yes", "y", "1", "registered"}
_FALSE = {"false", "no", "n", "0", "unregistered"}


def parse_flag(value: object, field: str, where: str | None) -> bool | None:
    """``true/yes/1`` or ``false/no/0`` (any case) -> bool; blank/None -> None."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SiteError(f"{field} must be true or false (yes/no, 1/0), got {value!r}", where)


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

    >>> t = parse_ground_point("Kyiv=50.45,30.52,alt_m=180,speed_kmh=60,registered=yes")
    >>> t.name, t.lat_deg, t.lon_deg, t.altitude_m, t.speed_kmh, t.registered
    ('Kyiv', 50.45, 30.52, 180.0, 60.0, True)
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
        registered = parse_flag(extras.get("registered"), "registered", label)
        return Terminal(name, lat, lon, alt, speed, extras.get("id"), extras.get("owner"),
                        registered, extras.get("registered_from"),  # type: ignore[arg-type]
                        extras.get("registered_until"))  # type: ignore[arg-type]
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


@dataclass(frozen=True, eq=False)
class TerminalState:
    """Terminals over a time grid: arrays of shape ``(n_terminal, n_time)`` (vectors ``+ (3,)``).

    Attributes
    ----------
    t_utc : ndarray of datetime64[ns], (n_time,)
    lat_deg, lon_deg, alt_km : ndarray of float64
        WGS-84 geodetic position; height in km.
    r_itrs_km, up : ndarray of float64, (..., 3)
        ITRS position (km) and unit ellipsoid normal.
    cells : ndarray of uint64
        H3 cell at the set's resolution (5: the policy cell).
    speed_kmh : ndarray of float64
        Ground speed (from the track, else the stated speed, else 0).
    on_track : ndarray of bool
        False where a moving terminal is outside its track (held at its first/last point).
    registered : ndarray of bool
        Registration valid at that time.
    """

    t_utc: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    r_itrs_km: np.ndarray
    up: np.ndarray
    cells: np.ndarray
    speed_kmh: np.ndarray
    on_track: np.ndarray
    registered: np.ndarray


@dataclass(frozen=True, eq=False)
class TerminalSet:
    """Arrays of terminals for the coverage kernel (same field names as `CellSet`).

    Positions are each terminal's fixed (or first track) position; `state_at` gives moving
    terminals' positions, speeds and registration over a time grid.

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
    records : tuple of Terminal
        The terminals themselves (identity, registration, tracks).
    """

    names: tuple[str, ...]
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    cells: np.ndarray
    r_itrs_km: np.ndarray
    up: np.ndarray
    resolution: int = DEFAULT_RESOLUTION
    records: tuple[Terminal, ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    @property
    def altitude_m(self) -> np.ndarray:
        """Height above the ellipsoid, metres."""
        return self.alt_km * 1000.0

    @property
    def ids(self) -> tuple[str | None, ...]:
        """Terminal ids (None where not given)."""
        return tuple(t.id for t in self.terminals())

    @property
    def moving(self) -> np.ndarray:
        """Which terminals follow a track."""
        return np.array([t.is_moving for t in self.terminals()], dtype=bool)

    def terminals(self) -> list[Terminal]:
        """The terminals as records."""
        if self.records:
            return list(self.records)
        return [Terminal(n, float(a), float(o), float(h) * 1000.0)
                for n, a, o, h in zip(self.names, self.lat_deg, self.lon_deg, self.alt_km,
                                      strict=True)]

    def state_at(self, t_utc: ArrayLike) -> TerminalState:
        """Positions, cells, speeds and registration of every terminal at each time.

        Vectorised over time for each moving terminal (a loop over moving terminals only);
        fixed terminals repeat their arrays.
        """
        t = np.atleast_1d(_grid(t_utc))
        n, m = len(self), t.size
        lat = np.repeat(self.lat_deg[:, None], m, axis=1)
        lon = np.repeat(self.lon_deg[:, None], m, axis=1)
        alt_m = np.repeat(self.altitude_m[:, None], m, axis=1)
        speed = np.zeros((n, m))
        on = np.ones((n, m), bool)
        reg = np.zeros((n, m), bool)
        for i, term in enumerate(self.terminals()):
            if term.track is not None:
                lat[i], lon[i], alt_m[i] = term.track.position(t)
                on[i] = term.track.covers(t)
            speed[i] = term.speed_at(t)
            reg[i] = term.is_registered(t)
        moving = self.moving
        cells = np.repeat(self.cells[:, None], m, axis=1)
        r = np.repeat(self.r_itrs_km[:, None, :], m, axis=1)
        up = np.repeat(self.up[:, None, :], m, axis=1)
        if moving.any():
            cells[moving] = latlng_to_cells(lat[moving], lon[moving], self.resolution)
            r[moving] = geodetic_to_itrs(lat[moving], lon[moving], alt_m[moving] / 1000.0)
            up[moving] = enu_basis(lat[moving], lon[moving])[2]
        return TerminalState(t, lat, lon, alt_m / 1000.0, r, up, cells, speed, on, reg)


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
                       up.reshape(-1, 3), resolution, tuple(terms))
