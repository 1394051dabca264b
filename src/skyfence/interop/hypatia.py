"""Hypatia satellite-network directories: read, write, and build one from skyfence.

Hypatia (github.com/snkas/hypatia: satgenpy + an ns-3 module) describes a network as a folder
of plain text files. Formats, as satgenpy writes and reads them (``satgen/tles``,
``satgen/isls``, ``satgen/ground_stations``, ``satgen/description``, ``satgen/interfaces``)
and as the ns-3 module parses them (``topology-satellite-network.cc``):

``tles.txt``
    First line ``<n_orbits> <n_sats_per_orbit>`` (ns-3 requires their product to be the number
    of satellites), then one 3-line element set per satellite: ``<name> <sid>`` with ``sid``
    counting 0, 1, 2, ... (satgenpy checks it), TLE line 1, TLE line 2. Every element set has
    the same epoch, which is Hypatia's t = 0. satgenpy reads the epoch year as ``20YY``.
``isls.txt``
    One ISL per line, ``<a> <b>`` with ``a < b``, no duplicates. A satellite's ISL interfaces
    are numbered in the order of the lines that name it: that numbering is the one
    ``fstate_*.txt`` uses, so the order of the lines matters.
``ground_stations.txt``
    ``<gid>,<name>,<lat_deg>,<lon_deg>,<elevation_m>`` (basic, satgenpy's input) or extended
    with ``,<x_m>,<y_m>,<z_m>`` (what satgenpy writes and ns-3 reads): Cartesian positions on
    the WGS-72 ellipsoid (a = 6,378,135 m, f = 1/298.26), elevation and Cartesians as ``%f``.
``description.txt``
    ``max_gsl_length_m=%.10f`` and ``max_isl_length_m=%.10f`` (other ``key=value`` lines are
    kept).
``gsl_interfaces_info.txt``
    ``<node_id>,<number_of_interfaces>,<aggregate_max_bandwidth>`` for satellites then ground
    stations (node id = satellite id, or number of satellites + gid).

skyfence reads all of it (`read_hypatia_dir` -> `HypatiaNetwork`, whose ``constellation``,
``link_rule`` and ``lasers`` plug into skyfence's propagation, link rules and router), writes it
back byte for byte (`write_hypatia_dir`), and builds a directory from any skyfence
constellation and ground sites (`network_from_constellation`): real element sets are refitted
to one common epoch (Hypatia requires it), +Grid lasers become ``isls.txt``, and each shell's
elevation mask becomes a range (`skyfence.network.links.range_rule_for_mask`; one
``max_gsl_length_m`` for the whole directory, the largest, since Hypatia has one).
A ``skyfence_satellites.csv`` sidecar keeps catalogue numbers, names and shells.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from sgp4.api import WGS72, Satrec, SatrecArray
from sgp4.exporter import export_tle

from ..earth import WGS84_A_KM, geodetic_to_itrs
from ..errors import InputError
from ..network.links import MaxRange, range_rule_for_mask
from ..network.topology import StaticLasers
from ..orbits import Constellation
from ..orbits.elements import parse_tle_text
from ..timeutil import julian_date_utc

__all__ = [
    "FILES",
    "SIDECAR",
    "ExportReport",
    "GroundStation",
    "HypatiaNetwork",
    "hypatia_plus_grid_isls",
    "hypatia_shell_tles",
    "network_from_constellation",
    "read_description",
    "read_ground_stations",
    "read_gsl_interfaces_info",
    "read_hypatia_dir",
    "read_isls",
    "read_tles",
    "wgs72_cartesian_m",
    "write_hypatia_dir",
]

#: The files of a Hypatia satellite-network directory.
FILES = ("tles.txt", "isls.txt", "ground_stations.txt", "description.txt",
         "gsl_interfaces_info.txt")
#: skyfence's sidecar: satellite id -> catalogue number, name, shell, plane, slot.
SIDECAR = "skyfence_satellites.csv"

# WGS-72 ellipsoid as satgenpy's ``geodetic2cartesian`` uses it (GeographicLib's constants).
_WGS72_A_M = 6378135.0
_WGS72_F = 1.0 / 298.26
# SGP4 epochs count days from 1949 December 31 00:00 UT (JD 2433281.5).
_SGP4_EPOCH0_JD = 2433281.5
# Lowest altitude an ISL chord may graze, km (satgenpy's Starlink/Kuiper/Telesat scripts use
# 80 km "to avoid weather conditions"; skyfence's lasers use the same, topology.py).
_ISL_MIN_ALTITUDE_KM = 80.0


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


def wgs72_cartesian_m(lat_deg: float, lon_deg: float, elevation_m: float
                      ) -> tuple[float, float, float]:
    """Earth-fixed Cartesian position (m) of a geodetic point on the WGS-72 ellipsoid, as
    satgenpy writes it into extended ground-station files (closed form, Bowring's prime
    vertical radius)."""
    e2 = 2.0 * _WGS72_F - _WGS72_F * _WGS72_F
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    v = _WGS72_A_M / math.sqrt(1.0 - e2 * math.sin(lat) * math.sin(lat))
    return ((v + elevation_m) * math.cos(lat) * math.cos(lon),
            (v + elevation_m) * math.cos(lat) * math.sin(lon),
            (v * (1.0 - e2) + elevation_m) * math.sin(lat))


def _quantize6(x: float) -> float:
    """The float ``%f`` writes and reads back (idempotent)."""
    return float(f"{x:f}")


@dataclass(frozen=True)
class GroundStation:
    """One Hypatia ground station. Coordinates keep their text, as satgenpy does.

    Attributes
    ----------
    gid : int
        0, 1, 2, ... in file order; its node id is ``n_sats + gid``.
    name : str
    latitude_deg_str, longitude_deg_str : str
        Geodetic latitude / longitude (deg) exactly as written.
    elevation_m : float
        Height, m.
    cartesian_m : (x, y, z) in m or None
        Extended format only (WGS-72 Earth-fixed position).
    """

    gid: int
    name: str
    latitude_deg_str: str
    longitude_deg_str: str
    elevation_m: float
    cartesian_m: tuple[float, float, float] | None = None

    @property
    def lat_deg(self) -> float:
        """Latitude, deg."""
        return float(self.latitude_deg_str)

    @property
    def lon_deg(self) -> float:
        """Longitude, deg."""
        return float(self.longitude_deg_str)

    @classmethod
    def from_point(cls, gid: int, name: str, lat_deg: float, lon_deg: float,
                   elevation_m: float = 0.0) -> GroundStation:
        """A station from numbers, with the WGS-72 Cartesian position satgenpy would write.

        Names lose commas and line breaks (the format's separators); values are rounded as
        the file stores them, so writing and reading it back is exact.
        """
        clean = re.sub(r"[,\r\n]+", " ", str(name)).strip() or f"gs{gid}"
        if not (-90.0 <= lat_deg <= 90.0) or not math.isfinite(lon_deg):
            raise InputError(f"ground station {clean!r}: bad coordinates ({lat_deg}, {lon_deg})",
                             "ground stations")
        lon = float(lon_deg)
        if not -180.0 <= lon < 180.0:
            lon = ((lon + 180.0) % 360.0) - 180.0
        lat_s, lon_s = repr(float(lat_deg)), repr(lon)
        elev = _quantize6(float(elevation_m))
        xyz = wgs72_cartesian_m(float(lat_s), float(lon_s), elev)
        return cls(int(gid), clean, lat_s, lon_s, elev,
                   (_quantize6(xyz[0]), _quantize6(xyz[1]), _quantize6(xyz[2])))


@dataclass(frozen=True)
class HypatiaNetwork:
    """A Hypatia satellite-network directory in memory.

    Attributes
    ----------
    n_orbits, n_sats_per_orbit : int
        The ``tles.txt`` header.
    tles : tuple of (name line, TLE line 1, TLE line 2)
        One per satellite, in satellite-id order.
    isls : tuple of (a, b)
        In file order (the order fixes ISL interface numbers).
    ground_stations : tuple of GroundStation
    max_gsl_length_m, max_isl_length_m : float
        From ``description.txt``.
    gsl_interfaces : tuple of (number_of_interfaces, aggregate_max_bandwidth) or None
        One per node (satellites, then ground stations); None when the file is absent.
    description_extra : tuple of (key, value)
        Other ``description.txt`` lines, in order.
    satellites_info : tuple of (norad_id, name, shell, plane, slot) or None
        From skyfence's sidecar, when present.
    source : str
        Where it was read from (not compared).
    """

    n_orbits: int
    n_sats_per_orbit: int
    tles: tuple[tuple[str, str, str], ...]
    isls: tuple[tuple[int, int], ...]
    ground_stations: tuple[GroundStation, ...]
    max_gsl_length_m: float
    max_isl_length_m: float
    gsl_interfaces: tuple[tuple[int, float], ...] | None = None
    description_extra: tuple[tuple[str, str], ...] = ()
    satellites_info: tuple[tuple[int, str, str, int, int], ...] | None = None
    source: str = field(default="", compare=False)

    # -- sizes --------------------------------------------------------------------------------

    @property
    def n_sats(self) -> int:
        """Number of satellites."""
        return len(self.tles)

    @property
    def n_gs(self) -> int:
        """Number of ground stations."""
        return len(self.ground_stations)

    @property
    def n_nodes(self) -> int:
        """Satellites + ground stations (ns-3 node ids)."""
        return self.n_sats + self.n_gs

    # -- skyfence views -----------------------------------------------------------------------

    @cached_property
    def constellation(self) -> Constellation:
        """The satellites as a skyfence `Constellation`, in satellite-id order.

        Plane and slot come from the sidecar, else from the header (``sid = plane * S + slot``)
        when it has more than one orbit; shell labels from the sidecar, else the name token.
        """
        text = "\n".join(f"{n}\n{a}\n{b}" for n, a, b in self.tles)
        const = parse_tle_text(text, source=self._tles_source)
        if len(const) != self.n_sats:
            raise InputError(f"{self.n_sats} element sets but {len(const)} distinct catalogue "
                             "numbers: satellites must have distinct numbers",
                             self._tles_source)
        if self.satellites_info is not None:
            info = self.satellites_info
            names = tuple(i[1] for i in info)
            shell = tuple(i[2] for i in info)
            plane = np.array([i[3] for i in info], np.int64)
            slot = np.array([i[4] for i in info], np.int64)
        else:
            names = tuple(n for n, _, _ in self.tles)
            shell = tuple(n.split()[0] for n, _, _ in self.tles)
            sid = np.arange(self.n_sats)
            regular = self.n_orbits > 1 and self.n_orbits * self.n_sats_per_orbit == self.n_sats
            plane = sid // self.n_sats_per_orbit if regular else np.full(self.n_sats, -1)
            slot = sid % self.n_sats_per_orbit if regular else np.full(self.n_sats, -1)
        return Constellation(const.satrecs, const.norad_ids, names, shell=shell,
                             name=self.name, report=const.report, plane=plane, slot=slot)

    @property
    def name(self) -> str:
        """The constellation name (first token of the name lines)."""
        return self.tles[0][0].split()[0] if self.tles else ""

    @property
    def _tles_source(self) -> str:
        return str(Path(self.source) / "tles.txt") if self.source else "tles.txt"

    @property
    def epoch_utc(self) -> np.datetime64:
        """The common epoch of the element sets: Hypatia's t = 0 (UTC)."""
        return self.constellation.epochs_utc[0]

    @cached_property
    def isl_array(self) -> np.ndarray:
        """ISLs as an int64 array (n_isl, 2), file order."""
        return np.asarray(self.isls, np.int64).reshape(-1, 2)

    @property
    def lasers(self) -> StaticLasers:
        """The ISLs as a skyfence laser topology."""
        return StaticLasers(self.isl_array)

    @property
    def link_rule(self) -> MaxRange:
        """Hypatia's ground-link rule: range <= ``max_gsl_length_m``."""
        return MaxRange(self.max_gsl_length_m / 1000.0, source="description.txt")

    def shell_link_rule(self) -> MaxRange:
        """Per-shell ranges recorded by a skyfence export (``skyfence_max_gsl_length_m.*`` keys
        and the sidecar's shells), else `link_rule`."""
        extra = dict(self.description_extra)
        if self.satellites_info is None:
            return self.link_rule
        ranges = np.full(self.n_sats, self.max_gsl_length_m)
        for k, (_, _, shell, _, _) in enumerate(self.satellites_info):
            value = extra.get(f"skyfence_max_gsl_length_m.{_key(shell)}")
            if value is not None:
                ranges[k] = float(value)
        return MaxRange(ranges / 1000.0, source="description.txt (per shell)")

    @property
    def gs_lat_deg(self) -> np.ndarray:
        """Ground-station latitudes, deg."""
        return np.array([g.lat_deg for g in self.ground_stations], float)

    @property
    def gs_lon_deg(self) -> np.ndarray:
        """Ground-station longitudes, deg."""
        return np.array([g.lon_deg for g in self.ground_stations], float)

    @property
    def gs_alt_km(self) -> np.ndarray:
        """Ground-station heights, km."""
        return np.array([g.elevation_m for g in self.ground_stations], float) / 1000.0

    @property
    def gs_names(self) -> list[str]:
        """Ground-station names."""
        return [g.name for g in self.ground_stations]

    @cached_property
    def isl_interfaces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ISL interface numbers as satgenpy assigns them.

        Returns ``if_a, if_b, num_isls_per_sat``: the interface of line k at its first and
        second satellite (file order), and the ISL count of every satellite.
        """
        pairs = self.isl_array
        m = pairs.shape[0]
        ends = pairs.ravel()  # a0, b0, a1, b1, ... in the order satgenpy counts them
        order = np.argsort(ends, kind="stable")
        sorted_ends = ends[order]
        first = np.searchsorted(sorted_ends, sorted_ends, side="left")
        rank = np.empty(ends.size, np.int64)
        rank[order] = np.arange(ends.size) - first
        counts = np.bincount(ends, minlength=self.n_sats).astype(np.int64)
        return rank[0::2][:m], rank[1::2][:m], counts

    def interfaces_or(self, default: Sequence[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
        """``gsl_interfaces`` when the file was present, else ``default``."""
        return self.gsl_interfaces if self.gsl_interfaces is not None else tuple(default)

    def to_scenario(self, *, duration: str = "200s", step: str = "100ms"):
        """A skyfence `Scenario` with this directory's satellites and ground stations.

        The ground stations become terminals; time starts at the epoch (Hypatia's t = 0).
        The constellation source is this directory's ``tles.txt`` (Hypatia's header line
        needs the constellation loader to accept it) and the range rule is not a scenario key
        yet: use `constellation` and `link_rule` directly meanwhile.
        """
        from ..scenario import parse_scenario

        t0 = str(np.datetime_as_string(self.epoch_utc, unit="ms")) + "Z"
        terminals = [{"name": g.name or f"gs{g.gid}", "lat": g.lat_deg, "lon": g.lon_deg,
                      "altitude_m": g.elevation_m} for g in self.ground_stations]
        names = [t["name"] for t in terminals]
        for i, t in enumerate(terminals):  # the scenario wants unique terminal names
            if names.count(t["name"]) > 1:
                t["name"] = f"{t['name']}#{i}"
        return parse_scenario({
            "name": self.name or "hypatia",
            "description": f"Hypatia directory {self.source}",
            "time": {"start": t0, "duration": duration, "step": step},
            "constellation": {"source": self._tles_source},
            "ground": {"terminals": terminals},
            "network": {"laser_range_km": self.max_isl_length_m / 1000.0},
        }, self.source or "hypatia")


def _key(label: str) -> str:
    """A shell label as a ``description.txt`` key suffix (no spaces or '=')."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label) or "_"


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError("file not found", str(path))
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from None


def _int(text: str, where: str, what: str, minimum: int = 0) -> int:
    s = text.strip()
    if not re.fullmatch(r"[+-]?\d+", s) or int(s) < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}, got {text.strip()!r}", where)
    return int(s)


def _float(text: str, where: str, what: str, positive: bool = False) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise InputError(f"{what} must be a number, got {text.strip()!r}", where) from None
    if not math.isfinite(v) or (positive and v <= 0):
        raise InputError(f"{what} must be a finite number{' > 0' if positive else ''}, got "
                         f"{text.strip()!r}", where)
    return v


def read_tles(path: str | os.PathLike[str]) -> tuple[int, int, tuple[tuple[str, str, str], ...]]:
    """Read Hypatia's ``tles.txt``: ``(n_orbits, n_sats_per_orbit, ((name, line1, line2), ...))``.

    Checks the header, the ``<name> <sid>`` lines (sid = 0, 1, ...), the count against the
    header, every TLE (skyfence's validation: layout, checksums, ranges), one common epoch and
    an epoch year Hypatia reads correctly (20YY).
    """
    p = Path(path)
    lines = _read_lines(p)
    src = str(p)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError("empty file: expected the header '<n_orbits> <n_sats_per_orbit>'", src)
    head = lines[0].split()
    if len(head) != 2:
        raise InputError(f"the first line must be '<n_orbits> <n_sats_per_orbit>' (Hypatia's "
                         f"header), got {lines[0][:60]!r}", f"{src}:1")
    n_orbits = _int(head[0], f"{src}:1", "n_orbits", 1)
    n_per = _int(head[1], f"{src}:1", "n_sats_per_orbit", 1)
    body = lines[1:]
    if len(body) % 3:
        raise InputError(f"{len(body)} lines after the header: expected 3 per satellite (name "
                         f"line, TLE line 1, TLE line 2)", f"{src}:{len(lines)}")
    tles: list[tuple[str, str, str]] = []
    for k in range(len(body) // 3):
        name, l1, l2 = (body[3 * k + j].rstrip() for j in range(3))
        lineno = 2 + 3 * k
        parts = name.split()
        if len(parts) < 2 or not re.fullmatch(r"\d+", parts[1]) or int(parts[1]) != k:
            raise InputError(f"name line must be '<name> <satellite id>' with id {k} (ids count "
                             f"0, 1, 2, ... as Hypatia checks), got {name[:60]!r}",
                             f"{src}:{lineno}")
        tles.append((name, l1, l2))
    if len(tles) != n_orbits * n_per:
        raise InputError(f"the header says {n_orbits} x {n_per} = {n_orbits * n_per} satellites "
                         f"but the file has {len(tles)} (ns-3 requires them equal)", f"{src}:1")
    # Validate every element set with skyfence's parser, keeping line numbers (header blanked).
    const = parse_tle_text("\n" + "\n".join(body), source=src)
    if len(const) != len(tles):
        dup = len(tles) - len(const)
        raise InputError(f"{dup} repeated catalogue number(s): every satellite needs its own",
                         src)
    epochs = np.array([s.jdsatepoch + s.jdsatepochF for s in const.satrecs])
    bad = np.flatnonzero(epochs != epochs[0])
    if bad.size:
        k = int(bad[0])
        raise InputError(f"satellite {k} has epoch {tles[k][1][18:32].strip()} but satellite 0 "
                         f"has {tles[0][1][18:32].strip()}: Hypatia needs one common epoch "
                         "(its t = 0)", f"{src}:{3 + 3 * k}")
    year = int(tles[0][1][18:20]) if tles else 0
    if tles and const.epochs_utc[0] < np.datetime64("2000-01-01"):
        raise InputError(f"epoch year {year:02d} is before 2000: satgenpy reads TLE years as "
                         "20YY", f"{src}:3")
    return n_orbits, n_per, tuple(tles)


def read_isls(path: str | os.PathLike[str], n_sats: int) -> tuple[tuple[int, int], ...]:
    """Read ``isls.txt`` (``<a> <b>`` per line, ``a < b < n_sats``, no duplicates)."""
    p = Path(path)
    out: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, line in enumerate(_read_lines(p), start=1):
        if not line.strip():
            continue
        where = f"{p}:{i}"
        parts = line.split()
        if len(parts) != 2:
            raise InputError(f"expected '<sat a> <sat b>', got {line.strip()[:60]!r}", where)
        a = _int(parts[0], where, "satellite a")
        b = _int(parts[1], where, "satellite b")
        if a >= n_sats or b >= n_sats:
            raise InputError(f"satellite {max(a, b)} does not exist (tles.txt has {n_sats})",
                             where)
        if b <= a:
            raise InputError(f"the second satellite must be larger than the first, got {a} {b}",
                             where)
        if (a, b) in seen:
            raise InputError(f"duplicate ISL {a} {b}", where)
        seen.add((a, b))
        out.append((a, b))
    return tuple(out)


def read_ground_stations(path: str | os.PathLike[str]) -> tuple[GroundStation, ...]:
    """Read ``ground_stations.txt``, basic (5 columns) or extended (8 columns)."""
    p = Path(path)
    out: list[GroundStation] = []
    width = None
    for i, line in enumerate(_read_lines(p), start=1):
        if not line.strip():
            continue
        where = f"{p}:{i}"
        parts = line.split(",")
        if len(parts) not in (5, 8):
            raise InputError(f"{len(parts)} columns: a ground station has 5 (gid,name,lat,lon,"
                             "elevation_m) or 8 (... ,x_m,y_m,z_m)", where)
        if width is not None and len(parts) != width:
            raise InputError(f"{len(parts)} columns after lines of {width}: mixed basic and "
                             "extended formats", where)
        width = len(parts)
        gid = _int(parts[0], where, "gid")
        if gid != len(out):
            raise InputError(f"gid {gid} where {len(out)} was expected (gids count 0, 1, 2, "
                             "...)", where)
        lat = _float(parts[2], where, "latitude")
        lon = _float(parts[3], where, "longitude")
        if not -90.0 <= lat <= 90.0:
            raise InputError(f"latitude must be within [-90, 90] deg, got {lat}", where)
        if not -180.0 <= lon <= 360.0:
            raise InputError(f"longitude must be within [-180, 360] deg, got {lon}", where)
        elev = _float(parts[4], where, "elevation_m")
        xyz = None
        if len(parts) == 8:
            xyz = tuple(_float(parts[j], where, c) for j, c in zip(
                (5, 6, 7), ("x_m", "y_m", "z_m"), strict=True))
        out.append(GroundStation(gid, parts[1], parts[2].strip(), parts[3].strip(), elev,
                                 xyz))  # type: ignore[arg-type]
    return tuple(out)


def read_description(path: str | os.PathLike[str]) -> tuple[float, float,
                                                             tuple[tuple[str, str], ...]]:
    """Read ``description.txt``: ``(max_gsl_length_m, max_isl_length_m, other key=value)``."""
    p = Path(path)
    values: dict[str, tuple[str, str]] = {}
    extra: list[tuple[str, str]] = []
    for i, line in enumerate(_read_lines(p), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise InputError(f"expected 'key=value', got {line.strip()[:60]!r}", f"{p}:{i}")
        key, value = (s.strip() for s in line.split("=", 1))
        if key in ("max_gsl_length_m", "max_isl_length_m"):
            values[key] = (value, f"{p}:{i}")
        else:
            extra.append((key, value))
    out = []
    for key in ("max_gsl_length_m", "max_isl_length_m"):
        if key not in values:
            raise InputError(f"missing '{key}=...' (satgenpy's generate_description writes "
                             "max_gsl_length_m and max_isl_length_m)", str(p))
        out.append(_float(values[key][0], values[key][1], key, positive=True))
    return out[0], out[1], tuple(extra)


def read_gsl_interfaces_info(path: str | os.PathLike[str], n_sats: int, n_gs: int
                             ) -> tuple[tuple[int, float], ...]:
    """Read ``gsl_interfaces_info.txt``: ``(number_of_interfaces, aggregate_max_bandwidth)``
    for every node, satellites then ground stations."""
    p = Path(path)
    out: list[tuple[int, float]] = []
    for i, line in enumerate(_read_lines(p), start=1):
        if not line.strip():
            continue
        where = f"{p}:{i}"
        parts = line.split(",")
        if len(parts) != 3:
            raise InputError("expected '<node id>,<number of interfaces>,<aggregate max. "
                             "bandwidth>'", where)
        node = _int(parts[0], where, "node id")
        if node != len(out):
            raise InputError(f"node id {node} where {len(out)} was expected", where)
        n_if = _int(parts[1], where, "number of interfaces", 1)
        bw = _float(parts[2], where, "aggregate max. bandwidth", positive=True)
        out.append((n_if, bw))
    if len(out) != n_sats + n_gs:
        raise InputError(f"{len(out)} nodes but {n_sats} satellites + {n_gs} ground stations = "
                         f"{n_sats + n_gs}", str(p))
    return tuple(out)


def _read_sidecar(path: Path, n_sats: int) -> tuple[tuple[int, str, str, int, int], ...] | None:
    if not path.is_file():
        return None
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    if len(rows) != n_sats:
        raise InputError(f"{len(rows)} rows but tles.txt has {n_sats} satellites", str(path))
    out = []
    for k, row in enumerate(rows):
        where = f"{path}:{k + 2}"
        try:
            if int(row["sid"]) != k:
                raise InputError(f"sid {row['sid']} where {k} was expected", where)
            out.append((int(row["norad_id"]), row["name"], row["shell"], int(row["plane"]),
                        int(row["slot"])))
        except (KeyError, TypeError, ValueError):
            raise InputError("expected columns sid,norad_id,name,shell,plane,slot", where) from None
    return tuple(out)


def read_hypatia_dir(path: str | os.PathLike[str]) -> HypatiaNetwork:
    """Read a Hypatia satellite-network directory.

    ``tles.txt``, ``isls.txt``, ``ground_stations.txt`` and ``description.txt`` are required;
    ``gsl_interfaces_info.txt`` and skyfence's sidecar are read when present. Errors name the
    file and line.
    """
    d = Path(path)
    if not d.is_dir():
        raise InputError("not a directory (give a Hypatia satellite-network folder holding "
                         f"{', '.join(FILES)})", str(d))
    n_orbits, n_per, tles = read_tles(d / "tles.txt")
    isls = read_isls(d / "isls.txt", len(tles))
    gs = read_ground_stations(d / "ground_stations.txt")
    max_gsl, max_isl, extra = read_description(d / "description.txt")
    ifs = None
    if (d / "gsl_interfaces_info.txt").is_file():
        ifs = read_gsl_interfaces_info(d / "gsl_interfaces_info.txt", len(tles), len(gs))
    info = _read_sidecar(d / SIDECAR, len(tles))
    return HypatiaNetwork(n_orbits, n_per, tles, isls, gs, max_gsl, max_isl, ifs, extra, info,
                          source=str(d))


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _texts(net: HypatiaNetwork) -> dict[str, str]:
    tles = [f"{net.n_orbits} {net.n_sats_per_orbit}\n"]
    tles += [f"{n}\n{a}\n{b}\n" for n, a, b in net.tles]
    gs = []
    for g in net.ground_stations:
        row = (f"{g.gid},{g.name},{g.latitude_deg_str},{g.longitude_deg_str},"
               f"{g.elevation_m:f}")
        if g.cartesian_m is not None:
            row += ",{:f},{:f},{:f}".format(*g.cartesian_m)
        gs.append(row + "\n")
    desc = [f"max_gsl_length_m={net.max_gsl_length_m:.10f}\n",
            f"max_isl_length_m={net.max_isl_length_m:.10f}\n"]
    desc += [f"{k}={v}\n" for k, v in net.description_extra]
    out = {
        "tles.txt": "".join(tles),
        "isls.txt": "".join(f"{a} {b}\n" for a, b in net.isls),
        "ground_stations.txt": "".join(gs),
        "description.txt": "".join(desc),
    }
    if net.gsl_interfaces is not None:
        out["gsl_interfaces_info.txt"] = "".join(
            f"{i},{n},{bw:f}\n" for i, (n, bw) in enumerate(net.gsl_interfaces))
    if net.satellites_info is not None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["sid", "norad_id", "name", "shell", "plane", "slot"])
        for k, info in enumerate(net.satellites_info):
            w.writerow([k, *info])
        out[SIDECAR] = buf.getvalue()
    return out


def write_hypatia_dir(net: HypatiaNetwork, path: str | os.PathLike[str], *,
                      overwrite: bool = False) -> list[Path]:
    """Write a Hypatia satellite-network directory (each file atomically).

    Refuses to replace existing Hypatia files unless ``overwrite``. Returns the files written.
    """
    d = Path(path)
    texts = _texts(net)
    if d.exists() and not d.is_dir():
        raise InputError("exists and is not a directory", str(d))
    existing = [n for n in (*FILES, SIDECAR) if (d / n).exists()]
    if existing and not overwrite:
        raise InputError(f"already holds {', '.join(existing)}; choose another folder or "
                         "overwrite", str(d))
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        _atomic_write(d / name, text)
        written.append(d / name)
    if overwrite:
        for name in (*FILES, SIDECAR):
            if name not in texts and (d / name).exists():
                (d / name).unlink()
    return written


# --------------------------------------------------------------------------------------------
# Hypatia's own generators (for its published configurations)
# --------------------------------------------------------------------------------------------


def _checksum(line68: str) -> int:
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line68) % 10


def hypatia_shell_tles(
    name: str,
    n_orbits: int,
    n_sats_per_orbit: int,
    inclination_deg: float,
    mean_motion_rev_per_day: float,
    *,
    phase_diff: bool = True,
    eccentricity: float = 0.0000001,
    arg_of_perigee_deg: float = 0.0,
) -> tuple[tuple[str, str, str], ...]:
    """Element sets of a Hypatia shell, as its ``generate_tles_from_scratch_manual`` lays them.

    Orbit ``i`` has RAAN ``i * 360 / n_orbits``; satellite ``j`` has mean anomaly
    ``j * 360 / n_sats_per_orbit``, plus half a slot on odd orbits when ``phase_diff``; epoch
    2000-01-01 00:00 (``00001.00000000``); catalogue number = satellite id + 1. Hypatia's
    Starlink-550 is ``("Starlink-550", 72, 22, 53, 15.19)``.
    """
    if not re.fullmatch(r"\S+", name):
        raise InputError(f"the name must be one word (satgenpy splits on spaces), got {name!r}",
                         "name")
    for v, what in ((n_orbits, "n_orbits"), (n_sats_per_orbit, "n_sats_per_orbit")):
        if int(v) != v or v < 1:
            raise InputError(f"{what} must be an integer >= 1, got {v}", what)
    if n_orbits * n_sats_per_orbit > 99_999:
        raise InputError("more than 99,999 satellites do not fit TLE catalogue numbers", name)
    out = []
    sid = 0
    for orbit in range(n_orbits):
        raan = orbit * 360.0 / n_orbits
        shift = 360.0 / (n_sats_per_orbit * 2.0) if (phase_diff and orbit % 2 == 1) else 0.0
        for j in range(n_sats_per_orbit):
            ma = shift + j * 360 / n_sats_per_orbit
            l1 = (f"1 {sid + 1:05d}U 00000ABC 00001.00000000  .00000000  00000-0  00000+0 0"
                  "    0")
            l2 = "2 {:05d} {} {} {} {} {} {}    0".format(
                sid + 1, f"{inclination_deg:3.4f}".rjust(8), f"{raan:3.4f}".rjust(8),
                f"{eccentricity:0.7f}"[2:], f"{arg_of_perigee_deg:3.4f}".rjust(8),
                f"{ma:3.4f}".rjust(8), f"{mean_motion_rev_per_day:2.8f}".rjust(11))
            out.append((f"{name} {sid}", l1 + str(_checksum(l1)), l2 + str(_checksum(l2))))
            sid += 1
    return tuple(out)


def hypatia_plus_grid_isls(n_orbits: int, n_sats_per_orbit: int, isl_shift: int = 0,
                           idx_offset: int = 0) -> np.ndarray:
    """+Grid ISLs in the order of Hypatia's ``generate_plus_grid_isls``: for every satellite
    ``(i, j)``, the link to ``(i, j + 1)`` then to ``(i + 1, j + isl_shift)`` (indices wrap),
    each as ``(min, max)``. Returns int64 (2 * n_orbits * n_sats_per_orbit, 2)."""
    if n_orbits < 3 or n_sats_per_orbit < 3:
        raise InputError("a +Grid needs at least 3 orbits and 3 satellites per orbit",
                         "plus grid")
    i, j = np.divmod(np.arange(n_orbits * n_sats_per_orbit), n_sats_per_orbit)
    sat = i * n_sats_per_orbit + j
    same = i * n_sats_per_orbit + (j + 1) % n_sats_per_orbit
    adj = ((i + 1) % n_orbits) * n_sats_per_orbit + (j + isl_shift) % n_sats_per_orbit
    pairs = np.empty((sat.size, 2, 2), np.int64)
    pairs[:, 0, 0], pairs[:, 0, 1] = np.minimum(sat, same), np.maximum(sat, same)
    pairs[:, 1, 0], pairs[:, 1, 1] = np.minimum(sat, adj), np.maximum(sat, adj)
    return pairs.reshape(-1, 2) + idx_offset


# --------------------------------------------------------------------------------------------
# Export from skyfence
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    """What `network_from_constellation` did, for the user.

    Attributes
    ----------
    epoch_utc : datetime64[ns]
        The common epoch (Hypatia's t = 0).
    refitted : int
        Element sets refitted to that epoch (0 for Walker shells built at it).
    fit_max_error_km : float
        Largest position difference between the original element sets and the written ones
        over the fit span (km; TLE rounding included).
    shells : tuple of (label, n_sats, mask_deg, sat_radius_km, range_km)
    site_radius_km : float
        Radius of the sphere the masks were translated on (the stations' mean geocentric
        radius).
    isls_kept, isls_dropped : int
        +Grid pairs written, and pairs dropped for exceeding ``max_isl_length_m`` in the window.
    renumbered : bool
        Catalogue numbers replaced by satellite id + 1 (some did not fit 5 digits).
    dropped : tuple of str
        Satellites left out: SGP4 cannot propagate them over the window (decayed, bad sets)
        or their refit strays more than ``max_fit_error_km``.
    poorly_fitted : tuple of str
        Up to five written satellites whose refit differs by more than 1 km, with the
        difference.
    """

    epoch_utc: np.datetime64
    refitted: int
    fit_max_error_km: float
    shells: tuple[tuple[str, int, float, float, float], ...]
    site_radius_km: float
    isls_kept: int
    isls_dropped: int
    renumbered: bool
    dropped: tuple[str, ...] = ()
    poorly_fitted: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable summary lines, approximations stated."""
        out = [f"epoch (Hypatia t = 0): {np.datetime_as_string(self.epoch_utc, unit='ms')}Z"]
        if self.refitted:
            out.append(f"{self.refitted:,} element sets refitted to the common epoch; largest "
                       f"position difference over the fit span {self.fit_max_error_km * 1e3:,.0f}"
                       " m")
        for label, n, mask, rs, rng in self.shells:
            if label:
                out.append(f"shell {label}: {n:,} satellites, mask {mask:g} deg -> range "
                           f"{rng:,.3f} km at radius {rs:,.1f} km")
            else:
                out.append(f"{n:,} satellites in no shell, mask {mask:g} deg -> each its own "
                           f"range (up to {rng:,.3f} km) from its own radius")
        out.append(f"approximation: masks translated to ranges on a sphere of the stations' "
                   f"mean geocentric radius {self.site_radius_km:,.3f} km; Hypatia keeps one "
                   "range (the largest), so lower shells get slightly lower elevations")
        out.append(f"ISLs: {self.isls_kept:,} written, {self.isls_dropped:,} dropped (longer "
                   "than max_isl_length_m somewhere in the window)")
        if self.dropped:
            shown = ", ".join(self.dropped[:5]) + (" ..." if len(self.dropped) > 5 else "")
            out.append(f"{len(self.dropped):,} satellites left out (SGP4 fails over the window, "
                       f"or the refit strays too far): {shown}")
        if self.poorly_fitted:
            out.append("refit worse than 1 km (low, drag-dominated orbits far from their "
                       f"epoch): {', '.join(self.poorly_fitted)}")
        if self.renumbered:
            out.append("catalogue numbers replaced by satellite id + 1 (the originals are in "
                       f"{SIDECAR})")
        return out


def _epoch_days(t_utc: np.datetime64) -> float:
    jd, fr = julian_date_utc(np.atleast_1d(t_utc))
    return float((jd[0] - _SGP4_EPOCH0_JD) + fr[0])


def _as_ns(t: np.datetime64 | str) -> np.datetime64:
    """A time as ``datetime64[ns]``."""
    return np.datetime64(int(np.asarray(t, dtype="datetime64[ns]").astype(np.int64)), "ns")


def _round_epoch(t_utc: np.datetime64) -> np.datetime64:
    """The nearest time a TLE epoch field (1e-8 day) can state exactly."""
    t = _as_ns(t_utc)
    day = t.astype("datetime64[D]")
    ns = int((t - day) / np.timedelta64(1, "ns"))
    frac = round(ns / 86_400e9, 8)
    return day.astype("datetime64[ns]") + np.timedelta64(round(frac * 86_400e9), "ns")


def _refit(satrecs: Sequence[Satrec], epoch_utc: np.datetime64, span_s: float,
           n_samples: int = 16, iterations: int = 6) -> list[Satrec]:
    """Element sets at ``epoch_utc`` that best reproduce ``satrecs`` over ``span_s`` (TEME
    positions, least squares on the six mean elements, drag terms kept). Vectorized over
    satellites: a Levenberg-Marquardt iteration with forward-difference Jacobians."""
    n = len(satrecs)
    t = epoch_utc + (np.linspace(0.0, span_s, n_samples) * 1e9).astype("timedelta64[ns]")
    jd, fr = julian_date_utc(t)
    err, target, _ = SatrecArray(list(satrecs)).sgp4(jd, fr)
    epoch = _epoch_days(epoch_utc)
    dt_min = np.array([(epoch - ((s.jdsatepoch - _SGP4_EPOCH0_JD) + s.jdsatepochF)) * 1440.0
                       for s in satrecs])
    # Start: the mean elements advanced by SGP4's secular rates.
    x = np.array([[s.no_kozai, s.ecco, s.inclo, s.nodeo + s.nodedot * d,
                   s.argpo + s.argpdot * d, s.mo + s.mdot * d]
                  for s, d in zip(satrecs, dt_min, strict=True)])
    fixed = [(s.satnum, s.bstar, s.ndot, s.nddot) for s in satrecs]

    def build(xs: np.ndarray) -> list[Satrec]:
        out = []
        for (num, bstar, ndot, nddot), (no, ecc, inc, node, argp, mo) in zip(
                fixed, xs, strict=True):
            s = Satrec()
            s.sgp4init(WGS72, "i", num, epoch, bstar, ndot, nddot, min(max(ecc, 0.0), 0.99),
                       argp % (2 * np.pi), inc, mo % (2 * np.pi), no, node % (2 * np.pi))
            out.append(s)
        return out

    def resid(xs: np.ndarray) -> np.ndarray:
        e, r, _ = SatrecArray(build(xs)).sgp4(jd, fr)
        r[e != 0] = 1e6
        return (r - target).reshape(n, -1)

    steps = np.array([1e-9, 1e-7, 1e-7, 1e-7, 1e-7, 1e-7])
    lam = np.full(n, 1e-3)
    res = resid(x)
    cost = np.einsum("ij,ij->i", res, res)
    for _ in range(iterations):
        jac = np.empty((n, res.shape[1], 6))
        for k in range(6):
            xk = x.copy()
            xk[:, k] += steps[k]
            jac[:, :, k] = (resid(xk) - res) / steps[k]
        jtj = np.einsum("nik,nil->nkl", jac, jac)
        jtr = np.einsum("nik,ni->nk", jac, res)
        diag = np.einsum("nkk->nk", jtj)
        a = jtj + lam[:, None, None] * (diag[:, :, None] * np.eye(6)[None] + 1e-12 * np.eye(6))
        delta = -np.linalg.solve(a, jtr[:, :, None])[:, :, 0]
        x_new = x + delta
        res_new = resid(x_new)
        cost_new = np.einsum("ij,ij->i", res_new, res_new)
        better = cost_new < cost
        x[better], res[better], cost[better] = x_new[better], res_new[better], cost_new[better]
        lam = np.where(better, lam / 10.0, lam * 10.0)
    del err
    return build(x)


def _tle_lines(sat: Satrec, satnum: int, designator: str) -> tuple[str, str]:
    l1, l2 = export_tle(sat)
    num = f"{satnum:05d}"
    desg = (designator.strip() or "00000ABC")[:8].ljust(8)
    l1 = l1[:2] + num + l1[7] + " " + desg + l1[17:68]
    l2 = l2[:2] + num + l2[7:68]
    return l1 + str(_checksum(l1)), l2 + str(_checksum(l2))


def network_from_constellation(
    constellation: Constellation,
    ground_names: Sequence[str],
    ground_lat_deg: ArrayLike,
    ground_lon_deg: ArrayLike,
    ground_alt_m: ArrayLike = 0.0,
    *,
    epoch_utc: np.datetime64,
    min_elevation_deg: ArrayLike = 25.0,
    isls: ArrayLike | None = None,
    max_isl_length_m: float | None = None,
    laser_range_km: float = 5000.0,
    window_s: float = 200.0,
    max_fit_error_km: float = 5.0,
    algorithm: str = "algorithm_free_one_only_over_isls",
    name: str | None = None,
) -> tuple[HypatiaNetwork, ExportReport]:
    """A Hypatia directory for a skyfence constellation and ground sites.

    Parameters
    ----------
    constellation : Constellation
        Walker shells or real element sets (refitted to ``epoch_utc`` when their epochs
        differ from it; Hypatia needs one epoch).
    ground_names, ground_lat_deg, ground_lon_deg, ground_alt_m :
        The ground stations (WGS-84 deg, deg, m), in gid order.
    epoch_utc : datetime64
        Hypatia's t = 0 (rounded to the 1e-8 day a TLE epoch can state).
    min_elevation_deg : float or array (n_sat,)
        Elevation mask per satellite (e.g. `skyfence.coverage.elevation_masks`), translated to
        a range per shell on a sphere of the stations' mean geocentric radius.
    isls : int array (m, 2), optional
        Laser pairs (satellite indices of ``constellation``); default the +Grid of
        `skyfence.network.PlusGrid.from_constellation` between laser-capable satellites.
    max_isl_length_m : float, optional
        Default: the shorter of ``laser_range_km`` and the chord that grazes 80 km above the
        WGS-84 equator from the lowest satellite.
    window_s : float
        Window (s from the epoch) over which ISLs must stay within ``max_isl_length_m``, and
        the span of the epoch refit (at least two orbits).
    max_fit_error_km : float
        Satellites whose written element set strays further than this from the original over
        the span (low, drag-dominated orbits far from their own epoch) are left out.
    algorithm : str
        Dynamic-state algorithm the ``gsl_interfaces_info.txt`` is laid out for.

    Returns
    -------
    (HypatiaNetwork, ExportReport)
        Satellites left out are listed in the report.
    """
    from ..network import PlusGrid, laser_capable_by_launch_year
    from ..orbits import propagate, recover_shells
    from .hypatia_state import get_algorithm

    algo = get_algorithm(algorithm)
    n0 = len(constellation)
    if n0 == 0:
        raise InputError("the constellation is empty", "constellation")
    lat = np.atleast_1d(np.asarray(ground_lat_deg, float))
    lon = np.atleast_1d(np.asarray(ground_lon_deg, float))
    alt_m = np.broadcast_to(np.asarray(ground_alt_m, float), lat.shape)
    names = list(ground_names)
    if len(names) != lat.size or lon.shape != lat.shape:
        raise InputError(f"{len(names)} names for {lat.size} latitudes and {lon.size} "
                         "longitudes", "ground stations")
    if lat.size == 0:
        raise InputError("no ground stations: give gateways or terminals", "ground stations")
    stations = tuple(GroundStation.from_point(i, names[i], float(lat[i]), float(lon[i]),
                                              float(alt_m[i])) for i in range(lat.size))
    epoch = _round_epoch(_as_ns(epoch_utc))
    if epoch < np.datetime64("2000-01-01") or epoch >= np.datetime64("2057-01-01"):
        raise InputError(f"epoch {epoch} is outside 2000-2056: TLE years have two digits and "
                         "satgenpy reads them as 20YY", "epoch")
    masks0 = np.broadcast_to(np.asarray(min_elevation_deg, float), (n0,)).copy()
    # Shells: labels, else recovered from the elements (the unclustered get their own radius).
    labels0 = np.asarray(constellation.shell, dtype=object)
    if not any(labels0):
        idx = recover_shells(constellation).shell_index
        labels0 = np.array([f"shell{i}" if i >= 0 else "" for i in idx], dtype=object)
    # Lasers, in the original indexing.
    if isls is None:
        pairs0 = PlusGrid.from_constellation(constellation, epoch).pairs
        cap = laser_capable_by_launch_year(constellation)
        pairs0 = pairs0[cap[pairs0[:, 0]] & cap[pairs0[:, 1]]]
    else:
        pairs0 = np.sort(np.asarray(isls, np.int64).reshape(-1, 2), axis=1)
        if pairs0.size and (pairs0.min() < 0 or pairs0.max() >= n0):
            raise InputError(f"ISL references satellite {int(pairs0.max())} of {n0}", "isls")
    # One common epoch: keep the sets already at it, refit the others.
    period_s = 86400.0 / np.array([s.no_kozai * 1440.0 / (2 * np.pi)
                                   for s in constellation.satrecs])
    span = max(float(window_s), 2.0 * float(period_s.max()))
    check_t = epoch + (np.linspace(0.0, span, 9) * 1e9).astype("timedelta64[ns]")
    ref = propagate(constellation, check_t, frame="TEME")
    valid = (ref.error_code == 0).all(axis=1)  # SGP4 works over the window
    satrecs = list(constellation.satrecs)
    refit_idx = np.flatnonzero((constellation.epochs_utc != epoch) & valid)
    if refit_idx.size:
        for i, s in zip(refit_idx, _refit([satrecs[i] for i in refit_idx], epoch, span),
                        strict=True):
            satrecs[i] = s
    renumber = bool(np.any(constellation.norad_ids > 99_999)
                    or np.any(constellation.norad_ids < 1) or n0 > 99_999)
    lines = [_tle_lines(sat, k + 1 if renumber else int(constellation.norad_ids[k]),
                        str(getattr(constellation.satrecs[k], "intldesg", "") or ""))
             for k, sat in enumerate(satrecs)]
    # What the file states against the originals (refit and TLE rounding).
    written = parse_tle_text("\n".join(f"{a}\n{b}" for a, b in lines), source="export",
                             skip_invalid=True)
    err_km = np.full(n0, np.inf)
    if len(written) == n0:
        got = propagate(written, check_t, frame="TEME")
        d = np.linalg.norm(ref.r_km - got.r_km, axis=-1).max(axis=1)
        err_km = np.where(np.isfinite(d) & (got.error_code == 0).all(axis=1), d, np.inf)
    keep = valid & (err_km <= max_fit_error_km)
    if not keep.any():
        raise InputError("no satellite can be written: SGP4 fails over the window or the "
                         f"refit strays more than {max_fit_error_km} km", "constellation")
    dropped = tuple(f"{constellation.names[k]}" + ("" if not valid[k] else
                                                   f" (refit {err_km[k]:,.1f} km)")
                    for k in np.flatnonzero(~keep))
    kept_idx = np.flatnonzero(keep)
    if kept_idx.size > 99_999:
        raise InputError(f"{kept_idx.size:,} satellites do not fit TLE catalogue numbers "
                         "(99,999 at most)", "constellation")
    if not renumber and np.unique(constellation.norad_ids[kept_idx]).size != kept_idx.size:
        renumber = True
    sub = constellation.subset(kept_idx) if not keep.all() else constellation
    new_index = np.full(n0, -1, np.int64)
    new_index[kept_idx] = np.arange(kept_idx.size)
    label = _key(name or constellation.name or "skyfence")
    tles = []
    for j, k in enumerate(kept_idx):
        l1, l2 = lines[k]
        if renumber:
            l1, l2 = _renumber(l1, j + 1), _renumber(l2, j + 1)
        tles.append((f"{label} {j}", l1, l2))
    n = kept_idx.size
    sat_r = np.array([satrecs[k].a * satrecs[k].radiusearthkm for k in kept_idx])
    masks = masks0[kept_idx]
    labels = labels0[kept_idx]
    # Masks -> ranges on the stations' sphere, per shell (unclustered: their own radius).
    site_r = float(np.linalg.norm(geodetic_to_itrs(lat, lon, alt_m / 1000.0).reshape(-1, 3),
                                  axis=1).mean())
    ranges_km = np.asarray(range_rule_for_mask(masks, sat_r, site_radius_km=site_r)
                           .max_range_km, float).reshape(-1)
    shells = []
    extra = [("skyfence_epoch_utc", f"{np.datetime_as_string(epoch, unit='ns')}Z"),
             ("skyfence_range_rule", f"elevation mask translated per shell on a sphere of "
              f"radius {site_r:.3f} km")]
    for lab in dict.fromkeys(labels.tolist()):
        sel = labels == lab
        for mask in np.unique(masks[sel]):
            sm = sel & (masks == mask)
            if lab:
                rs = float(sat_r[sm].mean())
                rng = float(np.asarray(range_rule_for_mask(mask, rs, site_radius_km=site_r)
                                       .max_range_km))
                ranges_km[sm] = rng
            else:
                rs, rng = float(sat_r[sm].mean()), float(ranges_km[sm].max())
            shells.append((str(lab), int(sm.sum()), float(mask), rs, rng))
    for lab, _, _, _, rng in shells:
        if lab and len(shells) <= 32:
            extra.append((f"skyfence_max_gsl_length_m.{_key(lab)}", f"{rng * 1000.0:.10f}"))
    # ISLs between written satellites; drop pairs that leave max_isl_length_m in the window.
    pairs = new_index[pairs0]
    pairs = pairs[(pairs >= 0).all(axis=1)]
    if max_isl_length_m is None:
        r_low = float(min(satrecs[k].a * (1.0 - satrecs[k].ecco) * satrecs[k].radiusearthkm
                          for k in kept_idx))
        chord = 2.0 * math.sqrt(max(r_low**2 - (WGS84_A_KM + _ISL_MIN_ALTITUDE_KM) ** 2, 0.0))
        max_isl_length_m = min(laser_range_km, chord) * 1000.0
    ok_isl = np.ones(pairs.shape[0], bool)
    if pairs.size:
        written_kept = written.subset(kept_idx) if not keep.all() else written
        n_t = int(min(max(window_s / 30.0, 2), 400))
        t_win = epoch + (np.linspace(0.0, window_s, n_t) * 1e9).astype("timedelta64[ns]")
        r = propagate(written_kept, t_win, frame="TEME").r_km
        dist_m = np.linalg.norm(r[pairs[:, 0]] - r[pairs[:, 1]], axis=-1) * 1000.0
        ok_isl = np.all(dist_m <= max_isl_length_m, axis=1)
    kept_pairs = pairs[ok_isl]
    plane, slot = np.asarray(sub.plane, np.int64), np.asarray(sub.slot, np.int64)
    p_count = int(plane.max()) + 1 if n and (plane >= 0).all() else 0
    regular = (p_count > 1 and n % p_count == 0 and len(set(sub.shell)) == 1
               and np.array_equal(np.arange(n), plane * (n // p_count) + slot))
    header = (p_count, n // p_count) if regular else (1, n)
    info = tuple((int(sub.norad_ids[j]), str(sub.names[j]), str(labels[j]), int(plane[j]),
                  int(slot[j])) for j in range(n))
    max_gsl_m = float(ranges_km.max()) * 1000.0
    net = HypatiaNetwork(header[0], header[1], tuple(tles),
                         tuple((int(a), int(b)) for a, b in kept_pairs), stations,
                         _quantize10(max_gsl_m), _quantize10(float(max_isl_length_m)),
                         tuple(algo.default_interfaces(n, len(stations))), tuple(extra), info)
    fit_err = float(err_km[kept_idx].max())
    poor = tuple(f"{constellation.names[k]} ({err_km[k]:,.1f} km)"
                 for k in kept_idx[np.argsort(-err_km[kept_idx])][:5] if err_km[k] > 1.0)
    report = ExportReport(epoch, int(np.isin(refit_idx, kept_idx).sum()), fit_err,
                          tuple(shells), site_r, int(kept_pairs.shape[0]),
                          int((~ok_isl).sum()), renumber, dropped, poor)
    return net, report


def _renumber(line: str, satnum: int) -> str:
    """A TLE line with another catalogue number (checksum recomputed)."""
    body = line[:2] + f"{satnum:05d}" + line[7:68]
    return body + str(_checksum(body))


def _quantize10(x: float) -> float:
    """The float ``%.10f`` writes and reads back."""
    return float(f"{x:.10f}")
