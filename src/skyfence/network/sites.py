"""Ground segment: gateways, points of presence (PoPs) and which PoP serves which country.

A `Gateway` is a satellite ground station (feeder links); a `Pop` is where traffic enters the
internet, reached from its associated gateways over terrestrial fibre. `Sites` holds both and
checks their cross-references. `default_sites` returns the public sites of ../shared/facts.md;
`load_sites` reads user files (CSV or GeoJSON) and reports bad rows by file, row and field.

File formats
------------
Gateways (CSV header or GeoJSON Point properties; GeoJSON takes lat/lon from the geometry)::

    name,lat,lon,country[,min_elevation_deg][,gso_exclusion_deg][,antennas][,alt_km]

PoPs::

    name,lat,lon,country,gateways[,countries]

``gateways`` lists the associated gateway names separated by ``;``; ``countries`` lists the ISO
3166-1 alpha-2 codes homed at the PoP (``;``-separated). A country homed nowhere goes to the
nearest PoP by great-circle distance.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..earth import geodetic_to_itrs
from ..errors import InputError, SiteError
from ..timeutil import parse_time

__all__ = [
    "DEFAULT_BACKHAUL_KM",
    "DEFAULT_GATEWAY_GSO_EXCLUSION_DEG",
    "DEFAULT_GATEWAY_MIN_ELEVATION_DEG",
    "MEAN_EARTH_RADIUS_KM",
    "Gateway",
    "Outage",
    "Pop",
    "SiteRecord",
    "Sites",
    "availability",
    "default_sites",
    "great_circle_km",
    "load_gateways",
    "load_pops",
    "load_sites",
    "parse_outage",
    "site_records",
    "world_sites",
]

#: Minimum elevation of gateway links, deg (FCC order of April 2021; ../shared/facts.md).
DEFAULT_GATEWAY_MIN_ELEVATION_DEG = 25.0
#: Gateways keep >= 18 deg from the geostationary arc (operator statements relayed by
#: starlink.sx's author; ../shared/facts.md).
DEFAULT_GATEWAY_GSO_EXCLUSION_DEG = 18.0
#: IUGG mean Earth radius R1 = (2a + b) / 3 for WGS-84, km (for great-circle distances).
MEAN_EARTH_RADIUS_KM = 6371.0088


def great_circle_km(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> np.ndarray:
    """Great-circle distance (km) on a sphere of the mean Earth radius (haversine; broadcasts).

    >>> round(float(great_circle_km(0.0, 0.0, 0.0, 90.0)), 1)
    10007.6
    """
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dl = np.radians(np.asarray(lon2_deg, float) - np.asarray(lon1_deg, float))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * MEAN_EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _check_country(code: str, where: str) -> str:
    text = str(code).strip().upper()
    if len(text) != 2 or not text.isalpha():
        raise SiteError(f"country must be an ISO 3166-1 alpha-2 code such as 'PL', got {code!r}",
                        where)
    return text


def _check_coordinates(lat_deg: float, lon_deg: float, where: str) -> None:
    if not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise SiteError(f"latitude must be a number in [-90, 90] deg, got {lat_deg!r}",
                        f"{where}: lat")
    if not (math.isfinite(lon_deg) and -180.0 <= lon_deg <= 360.0):
        raise SiteError(f"longitude must be a number in [-180, 360] deg, got {lon_deg!r}",
                        f"{where}: lon")


@dataclass(frozen=True)
class Gateway:
    """A gateway (satellite ground station).

    Parameters
    ----------
    name : str
        Unique name.
    lat_deg, lon_deg : float
        WGS-84 geodetic latitude and longitude, deg.
    country : str
        ISO 3166-1 alpha-2 code of the country hosting the gateway (routing policies use it).
    min_elevation_deg : float
        Elevation mask of the feeder link, deg, in [0, 90).
    gso_exclusion_deg : float
        Minimum angle between the feeder link and the geostationary arc as seen from the
        gateway, deg, in [0, 90); 0 disables the check.
    n_antennas : int or None
        Number of satellites the gateway can track at once (its highest-elevation ones);
        None = unlimited.
    alt_km : float
        Height above the WGS-84 ellipsoid, km.
    """

    name: str
    lat_deg: float
    lon_deg: float
    country: str
    min_elevation_deg: float = DEFAULT_GATEWAY_MIN_ELEVATION_DEG
    gso_exclusion_deg: float = DEFAULT_GATEWAY_GSO_EXCLUSION_DEG
    n_antennas: int | None = None
    alt_km: float = 0.0

    def __post_init__(self) -> None:
        where = f"gateway {self.name!r}"
        if not str(self.name).strip():
            raise SiteError("gateway name is empty", "gateway: name")
        _check_coordinates(self.lat_deg, self.lon_deg, where)
        object.__setattr__(self, "country", _check_country(self.country, f"{where}: country"))
        if not (0.0 <= self.min_elevation_deg < 90.0):
            raise SiteError(f"min_elevation_deg must be in [0, 90), got {self.min_elevation_deg}",
                            f"{where}: min_elevation_deg")
        if not (0.0 <= self.gso_exclusion_deg < 90.0):
            raise SiteError(f"gso_exclusion_deg must be in [0, 90), got {self.gso_exclusion_deg}",
                            f"{where}: gso_exclusion_deg")
        if self.n_antennas is not None and (
            int(self.n_antennas) != self.n_antennas or self.n_antennas < 1
        ):
            raise SiteError(f"antennas must be an integer >= 1 (or empty for unlimited), got "
                            f"{self.n_antennas!r}", f"{where}: antennas")
        if not (math.isfinite(self.alt_km) and -0.5 <= self.alt_km <= 9.0):
            raise SiteError(f"alt_km must be in [-0.5, 9] km, got {self.alt_km!r}",
                            f"{where}: alt_km")


@dataclass(frozen=True)
class Pop:
    """A point of presence: where user traffic enters the internet.

    Parameters
    ----------
    name : str
        Unique name.
    lat_deg, lon_deg : float
        WGS-84 geodetic latitude and longitude, deg.
    country : str
        ISO 3166-1 alpha-2 code of the hosting country.
    gateways : tuple of str
        Names of the gateways backhauled to this PoP over terrestrial fibre (at least one).
    home_countries : tuple of str
        ISO alpha-2 codes of the countries whose users are homed at this PoP.
    """

    name: str
    lat_deg: float
    lon_deg: float
    country: str
    gateways: tuple[str, ...]
    home_countries: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"PoP {self.name!r}"
        if not str(self.name).strip():
            raise SiteError("PoP name is empty", "PoP: name")
        _check_coordinates(self.lat_deg, self.lon_deg, where)
        object.__setattr__(self, "country", _check_country(self.country, f"{where}: country"))
        object.__setattr__(self, "gateways", tuple(str(g).strip() for g in self.gateways))
        object.__setattr__(self, "home_countries", tuple(
            _check_country(c, f"{where}: countries") for c in self.home_countries))
        if not self.gateways or not all(self.gateways):
            raise SiteError("a PoP needs at least one associated gateway (names separated by ';')",
                            f"{where}: gateways")


@dataclass(frozen=True, eq=False)
class Sites:
    """Gateways and PoPs with validated cross-references.

    Raises `SiteError` for duplicate names, a PoP that references an unknown gateway, a PoP
    without gateways, a gateway attached to no PoP, or a country homed at two PoPs.
    ``source`` names where the sites came from (for error messages).
    """

    gateways: tuple[Gateway, ...]
    pops: tuple[Pop, ...]
    source: str = "sites"
    _gw_index: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _pop_index: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gateways", tuple(self.gateways))
        object.__setattr__(self, "pops", tuple(self.pops))
        if not self.gateways:
            raise SiteError("no gateways defined", self.source)
        if not self.pops:
            raise SiteError("no PoPs defined", self.source)
        named: tuple[tuple[str, tuple[str, ...], dict[str, int]], ...] = (
            ("gateway", tuple(g.name for g in self.gateways), self._gw_index),
            ("PoP", tuple(p.name for p in self.pops), self._pop_index))
        for kind, names, index in named:
            for i, name in enumerate(names):
                if name in index:
                    raise SiteError(f"duplicate {kind} name {name!r}", self.source)
                index[name] = i
        used: set[str] = set()
        homed: dict[str, str] = {}
        for pop in self.pops:
            for g in pop.gateways:
                if g not in self._gw_index:
                    raise SiteError(
                        f"PoP {pop.name!r} references unknown gateway {g!r}"
                        f"{_suggest(g, self._gw_index)}; gateways: {', '.join(self._gw_index)}",
                        f"{self.source}: PoP {pop.name!r}: gateways")
                used.add(g)
            for c in pop.home_countries:
                if c in homed:
                    raise SiteError(f"country {c} is homed at two PoPs: {homed[c]!r} and "
                                    f"{pop.name!r}", f"{self.source}: PoP {pop.name!r}: countries")
                homed[c] = pop.name
        orphans = [g.name for g in self.gateways if g.name not in used]
        if orphans:
            raise SiteError(
                f"gateway(s) {', '.join(map(repr, orphans))} are attached to no PoP; list them in "
                "a PoP's gateways", self.source)

    @property
    def gateway_names(self) -> list[str]:
        """Gateway names, in index order."""
        return [g.name for g in self.gateways]

    @property
    def pop_names(self) -> list[str]:
        """PoP names, in index order."""
        return [p.name for p in self.pops]

    def gateway_index(self, name: str, where: str = "gateway") -> int:
        """Index of gateway ``name``; `SiteError` listing the gateways if unknown."""
        try:
            return self._gw_index[name]
        except KeyError:
            raise SiteError(f"unknown gateway {name!r}{_suggest(name, self._gw_index)}; "
                            f"gateways: {', '.join(self._gw_index)}", where) from None

    def pop_index(self, name: str, where: str = "PoP") -> int:
        """Index of PoP ``name``; `SiteError` listing the PoPs if unknown."""
        try:
            return self._pop_index[name]
        except KeyError:
            raise SiteError(f"unknown PoP {name!r}{_suggest(name, self._pop_index)}; "
                            f"PoPs: {', '.join(self._pop_index)}", where) from None

    def site_index(self, name: str, where: str = "site") -> tuple[str, int]:
        """``("gateway", i)`` or ``("pop", i)`` for a gateway or PoP name."""
        if name in self._gw_index:
            return "gateway", self._gw_index[name]
        if name in self._pop_index:
            return "pop", self._pop_index[name]
        names = {**self._gw_index, **self._pop_index}
        raise SiteError(f"unknown gateway or PoP {name!r}{_suggest(name, names)}; known: "
                        f"{', '.join(names)}", where)

    @property
    def gateway_lat_lon_deg(self) -> tuple[np.ndarray, np.ndarray]:
        """Gateway geodetic latitudes and longitudes, deg, shape (n_gw,) each."""
        return (np.array([g.lat_deg for g in self.gateways]),
                np.array([g.lon_deg for g in self.gateways]))

    @property
    def gateway_itrs_km(self) -> np.ndarray:
        """Gateway ITRS positions, km, shape (n_gw, 3)."""
        lat, lon = self.gateway_lat_lon_deg
        return geodetic_to_itrs(lat, lon, np.array([g.alt_km for g in self.gateways]))

    @property
    def gateway_countries(self) -> np.ndarray:
        """ISO alpha-2 country of each gateway, shape (n_gw,), dtype str."""
        return np.array([g.country for g in self.gateways])

    def fibre_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gateway index, PoP index and great-circle distance (km) of each fibre association."""
        gw, pop = [], []
        for j, p in enumerate(self.pops):
            for g in p.gateways:
                gw.append(self._gw_index[g])
                pop.append(j)
        gw_a, pop_a = np.array(gw, np.int64), np.array(pop, np.int64)
        lat, lon = self.gateway_lat_lon_deg
        plat = np.array([p.lat_deg for p in self.pops])
        plon = np.array([p.lon_deg for p in self.pops])
        return gw_a, pop_a, great_circle_km(lat[gw_a], lon[gw_a], plat[pop_a], plon[pop_a])

    def home_pop(
        self, country: Sequence[str] | str, lat_deg: ArrayLike, lon_deg: ArrayLike
    ) -> np.ndarray:
        """Home PoP index of each user: its country's PoP, else the nearest PoP in its country,
        else the nearest PoP (great-circle distance).

        Parameters
        ----------
        country : str or sequence of str, shape (n,) or scalar
            ISO alpha-2 codes ("" when unknown).
        lat_deg, lon_deg : array_like, shape (n,)
            User locations (used for the nearest-PoP fallback), deg.

        Returns
        -------
        int64 array, shape (n,).
        """
        lat = np.atleast_1d(np.asarray(lat_deg, float))
        lon = np.atleast_1d(np.asarray(lon_deg, float))
        codes = [country] * lat.size if isinstance(country, str) else list(country)
        if len(codes) != lat.size:
            raise SiteError(f"{len(codes)} country codes for {lat.size} users", "home_pop")
        plat = np.array([p.lat_deg for p in self.pops])
        plon = np.array([p.lon_deg for p in self.pops])
        dist = great_circle_km(lat[:, None], lon[:, None], plat, plon)
        nearest = np.argmin(dist, axis=1)
        homed = {c: j for j, p in enumerate(self.pops) for c in p.home_countries}
        pop_country = np.array([p.country for p in self.pops])
        out = np.empty(lat.size, dtype=np.int64)
        for i, (c, n) in enumerate(zip(codes, nearest, strict=True)):
            code = str(c).upper()
            if code in homed:
                out[i] = homed[code]
            elif code and np.any(pop_country == code):
                # a country with PoPs of its own but homed at none (the US, Canada, Brazil...):
                # its users exit at the nearest PoP inside the country
                out[i] = int(np.argmin(np.where(pop_country == code, dist[i], np.inf)))
            else:
                out[i] = int(n)
        return out

    def with_gateways(self, gateways: Iterable[Gateway]) -> Sites:
        """A copy with other gateways (PoP references are validated again)."""
        return Sites(tuple(gateways), self.pops, self.source)


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- defaults -------------------------------------------------------------------------------

# Gateway coordinates: ../shared/facts.md, "Ground sites", from the community map "Unofficial
# Starlink Global Gateways & PoPs" (approximate; Wola Krobowska marked approx. there). Antenna
# counts are not public: None = unlimited. Masks: facts.md (25 deg elevation, 18 deg from GSO).
_DEFAULT_GATEWAYS = (
    Gateway("Wola Krobowska", 52.184, 20.854, "PL"),
    Gateway("Kaunas", 54.87, 24.01, "LT"),
    Gateway("Muallim", 40.789, 29.509, "TR"),
    Gateway("Sofia", 42.672, 23.384, "BG"),
    Gateway("Plana", 42.483, 23.445, "BG"),
    Gateway("Angeles", 15.171, 120.506, "PH"),
    Gateway("Akita", 39.638, 140.065, "JP"),
    Gateway("Otaru", 43.173, 141.258, "JP"),
    Gateway("Tumon", 13.503, 144.805, "GU"),
)

# PoP coordinates: ../shared/facts.md (Starlink PoP list, DNS names like ``wrswpol1``).
# Gateway -> PoP associations and home countries are ASSUMPTIONS (facts.md gives none): each
# gateway is backhauled to the nearest listed PoP in or near its region; no German gateway is
# listed, so Frankfurt is reached by fibre from the Polish and Lithuanian gateways; Guam (Tumon)
# goes to Tokyo (about 2,500 km, slightly nearer than Manila). Ukraine is homed at Warsaw, the
# nearest listed PoP; Romania and Moldova (no gateway known, facts.md) at Sofia.
_DEFAULT_POPS = (
    Pop("Warsaw", 52.227, 21.003, "PL", ("Wola Krobowska", "Kaunas"), ("PL", "UA", "LT")),
    Pop("Frankfurt", 50.120, 8.735, "DE", ("Wola Krobowska", "Kaunas"), ("DE",)),
    Pop("Sofia", 42.703, 23.306, "BG", ("Sofia", "Plana", "Muallim"), ("BG", "TR", "RO", "MD")),
    Pop("Tokyo", 35.686, 139.765, "JP", ("Akita", "Otaru", "Tumon"), ("JP", "TW", "GU")),
    Pop("Manila", 14.564, 121.022, "PH", ("Angeles",), ("PH",)),
)


def default_sites() -> Sites:
    """The gateways and PoPs of ../shared/facts.md (9 gateways, 5 PoPs).

    >>> s = default_sites()
    >>> len(s.gateways), s.pop_names[0]
    (9, 'Warsaw')
    """
    return Sites(_DEFAULT_GATEWAYS, _DEFAULT_POPS, source="default sites")


# --- the real ground segment (package data) -------------------------------------------------

#: Gateways are backhauled by fibre to every PoP within this great-circle distance, km.
#: ASSUMPTION (no public source gives gateway -> PoP backhaul): 1,500 km covers the observed
#: pairs (Kaunas and Wola Krobowska -> Warsaw, Aerzen -> Frankfurt, Muallim -> Sofia) without
#: crossing oceans. A gateway with no PoP that near goes to its nearest PoP; a PoP with no
#: gateway that near (Mumbai, Guam) gets its nearest gateway.
DEFAULT_BACKHAUL_KM = 1500.0


@dataclass(frozen=True)
class SiteRecord:
    """One row of the package's ground-segment data, with its source.

    ``kind`` is ``"gateway"`` or ``"pop"``; ``code`` the PoP's DNS code (``wrswpol1``);
    ``countries`` the ISO alpha-2 codes whose users exit at the PoP (geoIP feed);
    ``antennas`` the antennas reported built (None = not stated); ``as_of`` the source date.
    """

    kind: str
    name: str
    lat_deg: float
    lon_deg: float
    country: str
    status: str
    as_of: str
    source: str
    code: str = ""
    antennas: int | None = None
    countries: tuple[str, ...] = ()
    countries_source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``countries`` as a list)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["countries"] = list(self.countries)
        return d


def _data_file(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("skyfence") / "data" / "ground" / name))


def site_records() -> list[SiteRecord]:
    """Every gateway and PoP of the package data (``data/ground/*.csv``), with sources.

    Gateways: community map "Unofficial Starlink Global Gateways & PoPs" (snapshot of
    2026-03-02) plus ../shared/facts.md; PoPs: Starlink DNS PoP codes with PeeringDB
    facilities (clarkzjw/starlink-geoip-data ``map/pop.json``) and, per PoP, the countries
    Starlink's geoIP feed assigns to it (December 2025).
    """
    out: list[SiteRecord] = []
    for kind, name in (("gateway", "gateways.csv"), ("pop", "pops.csv")):
        path = _data_file(name)
        with path.open(encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh), start=2):
                where = f"{path}:{i}"
                ant = (row.get("antennas") or "").strip()
                out.append(SiteRecord(
                    kind=kind, name=row["name"].strip(), lat_deg=_number(row, "lat", where),
                    lon_deg=_number(row, "lon", where), country=row["country"].strip(),
                    status=(row.get("status") or "").strip(), as_of=row["as_of"].strip(),
                    source=row["source"].strip(), code=(row.get("code") or "").strip(),
                    antennas=int(ant) if ant else None,
                    countries=_names(row.get("countries")),
                    countries_source=(row.get("countries_source") or "").strip()))
    return out


def world_sites(backhaul_km: float = DEFAULT_BACKHAUL_KM) -> Sites:
    """The real ground segment: 158 gateway sites and 49 PoPs from the package data.

    Gateway -> PoP fibre associations follow `DEFAULT_BACKHAUL_KM` (an assumption, see
    there); home countries come from Starlink's geoIP feed (`site_records`). Countries the
    feed does not list exit at the nearest PoP in the country, else the nearest PoP
    (`Sites.home_pop`). Gateways use the default masks (25 deg, 18 deg from GSO) and, where
    the source states a built count, that many antennas.
    """
    if not (math.isfinite(backhaul_km) and backhaul_km > 0):
        raise SiteError(f"backhaul_km must be > 0, got {backhaul_km!r}", "backhaul_km")
    recs = site_records()
    gws = [r for r in recs if r.kind == "gateway"]
    pops = [r for r in recs if r.kind == "pop"]
    glat = np.array([g.lat_deg for g in gws])
    glon = np.array([g.lon_deg for g in gws])
    plat = np.array([p.lat_deg for p in pops])
    plon = np.array([p.lon_deg for p in pops])
    d = great_circle_km(glat[:, None], glon[:, None], plat[None, :], plon[None, :])
    attach = d <= backhaul_km
    attach[np.arange(len(gws)), np.argmin(d, axis=1)] = True
    lonely = ~attach.any(axis=0)
    attach[np.argmin(d[:, lonely], axis=0), np.flatnonzero(lonely)] = True
    gateways = tuple(Gateway(g.name, g.lat_deg, g.lon_deg, g.country, n_antennas=g.antennas)
                     for g in gws)
    pop_objs = []
    for j, p in enumerate(pops):
        # nearest first, so listings read naturally
        members = np.flatnonzero(attach[:, j])
        members = members[np.argsort(d[members, j])]
        pop_objs.append(Pop(p.name, p.lat_deg, p.lon_deg, p.country,
                            tuple(gws[k].name for k in members), p.countries))
    return Sites(gateways, tuple(pop_objs), source="skyfence world ground segment")


# --- files ----------------------------------------------------------------------------------

_GW_FIELDS = ("name", "lat", "lon", "country")
_GW_OPTIONAL = ("min_elevation_deg", "gso_exclusion_deg", "antennas", "alt_km")
_POP_FIELDS = ("name", "lat", "lon", "country", "gateways")
_POP_OPTIONAL = ("countries",)


def _read_records(path: Path, required: Sequence[str], optional: Sequence[str]
                  ) -> list[tuple[str, dict[str, Any]]]:
    """Rows of a CSV or GeoJSON site file as ``(where, fields)``; checks the columns."""
    if not path.is_file():
        raise SiteError(f"site file not found: {path}", str(path))
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    rows: list[tuple[str, dict[str, Any]]] = []
    if suffix in (".geojson", ".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SiteError(f"not valid JSON: {exc.msg}", f"{path}:{exc.lineno}") from None
        feats = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(feats, list):
            raise SiteError("expected a GeoJSON FeatureCollection with a 'features' list",
                            str(path))
        for i, feat in enumerate(feats):
            where = f"{path}: feature {i}"
            geom = (feat or {}).get("geometry") or {}
            if geom.get("type") != "Point" or not isinstance(geom.get("coordinates"), list) or len(
                    geom["coordinates"]) < 2:
                raise SiteError("geometry must be a Point [lon, lat]", f"{where}: geometry")
            props = dict(feat.get("properties") or {})
            props["lon"], props["lat"] = geom["coordinates"][0], geom["coordinates"][1]
            rows.append((where, props))
    elif suffix in (".csv", ".txt"):
        reader = csv.DictReader(text.splitlines())
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise SiteError(f"missing column(s) {', '.join(missing)}; required: "
                            f"{', '.join(required)}; optional: {', '.join(optional)}",
                            f"{path}:1")
        for i, raw in enumerate(reader, start=2):
            values = [v for v in raw.values() if isinstance(v, str)]
            if not any(v.strip() for v in values) and None not in raw:
                continue
            if None in raw:
                raise SiteError(f"more values than the {len(header)} columns of the header",
                                f"{path}:{i}")
            rows.append((f"{path}:{i}", {k.strip(): v for k, v in raw.items() if k}))
    else:
        raise SiteError(f"unknown site file type {suffix!r}; use .csv or .geojson", str(path))
    for where, rec in rows:
        for c in required:
            if rec.get(c) is None or str(rec.get(c)).strip() == "":
                raise SiteError(f"missing value for {c!r}", f"{where}: {c}")
    return rows


def _number(rec: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = rec.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise SiteError(f"missing value for {key!r}", f"{where}: {key}")
        return default
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SiteError(f"{key} must be a number, got {value!r}", f"{where}: {key}") from None
    if not math.isfinite(out):
        raise SiteError(f"{key} must be finite, got {value!r}", f"{where}: {key}")
    return out


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(";")
    return tuple(str(v).strip() for v in items if str(v).strip())


def _with_where(where: str, fn, *args, **kwargs):
    """Call a record constructor; re-raise its `SiteError` with the file and row prefixed."""
    try:
        return fn(*args, **kwargs)
    except SiteError as exc:
        inner = exc.where or ""
        field_name = inner.rsplit(": ", 1)[-1] if ": " in inner else ""
        raise SiteError(exc.message, f"{where}: {field_name}" if field_name else where) from None


def load_gateways(path: str | Path) -> tuple[Gateway, ...]:
    """Gateways from a CSV or GeoJSON file (see the module docstring for the columns)."""
    p = Path(path)
    out = []
    for where, rec in _read_records(p, _GW_FIELDS, _GW_OPTIONAL):
        antennas = rec.get("antennas")
        n_ant: int | None = None
        if antennas is not None and str(antennas).strip() != "":
            a = _number(rec, "antennas", where)
            if a != int(a) or a < 1:
                raise SiteError(f"antennas must be an integer >= 1, got {antennas!r}",
                                f"{where}: antennas")
            n_ant = int(a)
        out.append(_with_where(
            where, Gateway, str(rec["name"]).strip(), _number(rec, "lat", where),
            _number(rec, "lon", where), str(rec["country"]),
            _number(rec, "min_elevation_deg", where, DEFAULT_GATEWAY_MIN_ELEVATION_DEG),
            _number(rec, "gso_exclusion_deg", where, DEFAULT_GATEWAY_GSO_EXCLUSION_DEG),
            n_ant, _number(rec, "alt_km", where, 0.0)))
    _check_unique([g.name for g in out], p, "gateway")
    return tuple(out)


def load_pops(path: str | Path) -> tuple[Pop, ...]:
    """PoPs from a CSV or GeoJSON file (see the module docstring for the columns)."""
    p = Path(path)
    out = []
    for where, rec in _read_records(p, _POP_FIELDS, _POP_OPTIONAL):
        out.append(_with_where(
            where, Pop, str(rec["name"]).strip(), _number(rec, "lat", where),
            _number(rec, "lon", where), str(rec["country"]), _names(rec.get("gateways")),
            _names(rec.get("countries"))))
    _check_unique([x.name for x in out], p, "PoP")
    return tuple(out)


def _check_unique(names: list[str], path: Path, kind: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise SiteError(f"duplicate {kind} name {n!r}", f"{path}: name")
        seen.add(n)


def load_sites(gateways: str | Path | None = None, pops: str | Path | None = None) -> Sites:
    """Sites from user files, each defaulting to `default_sites` when not given.

    A gateways file without a PoPs file must keep the default gateway names the default PoPs
    reference; otherwise give both files.
    """
    base = default_sites()
    gws = load_gateways(gateways) if gateways is not None else base.gateways
    ps = load_pops(pops) if pops is not None else base.pops
    source = ", ".join(str(x) for x in (gateways, pops) if x is not None) or base.source
    if gateways is not None and pops is None:
        source += " (with the default PoPs; give --pops to change the associations)"
    return Sites(gws, ps, source=source)


# --- availability ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Outage:
    """A gateway or PoP unavailable over ``[start_utc, end_utc)`` (None = open-ended).

    ``kind`` is ``"gateway"`` or ``"pop"`` and ``index`` its index in `Sites`.
    """

    name: str
    kind: str
    index: int
    start_utc: np.datetime64 | None = None
    end_utc: np.datetime64 | None = None

    def active(self, t_utc: np.ndarray) -> np.ndarray:
        """Bool array, shape of ``t_utc``: True while the site is down."""
        t = np.asarray(t_utc, dtype="datetime64[ns]")
        out = np.ones(t.shape, bool)
        if self.start_utc is not None:
            out &= t >= self.start_utc
        if self.end_utc is not None:
            out &= t < self.end_utc
        return out


def parse_outage(text: str, sites: Sites, where: str = "--gateway-down") -> Outage:
    """Parse ``NAME`` or ``NAME@START/END`` (ISO 8601 UTC; either end may be empty).

    ``NAME`` is a gateway or PoP of ``sites``.

    >>> o = parse_outage("Kaunas@2026-02-23T00:00Z/2026-02-23T01:00Z", default_sites())
    >>> o.kind, o.index, str(o.end_utc)
    ('gateway', 1, '2026-02-23T01:00:00.000000000')
    """
    name, sep, window = str(text).partition("@")
    name = name.strip()
    if not name:
        raise SiteError(f"empty site name in {text!r}; use NAME or NAME@START/END", where)
    kind, index = sites.site_index(name, where)
    start = end = None
    if sep:
        a, slash, b = window.partition("/")
        if not slash:
            raise SiteError(f"window {window!r} must be START/END (ISO 8601 UTC; either may be "
                            "empty)", where)
        try:
            start = parse_time(a.strip(), where) if a.strip() else None
            end = parse_time(b.strip(), where) if b.strip() else None
        except InputError as exc:
            raise SiteError(exc.message, where) from None
        if start is not None and end is not None and end <= start:
            raise SiteError(f"outage window ends ({b.strip()}) before it starts ({a.strip()})",
                            where)
    return Outage(name, kind, index, start, end)


def availability(
    outages: Iterable[Outage], t_utc: np.ndarray, sites: Sites
) -> tuple[np.ndarray, np.ndarray]:
    """Gateway and PoP availability over time.

    Returns ``gateway_up`` (n_time, n_gw) and ``pop_up`` (n_time, n_pop), bool.
    """
    t = np.atleast_1d(np.asarray(t_utc, dtype="datetime64[ns]"))
    gw_up = np.ones((t.size, len(sites.gateways)), bool)
    pop_up = np.ones((t.size, len(sites.pops)), bool)
    for o in outages:
        target = gw_up if o.kind == "gateway" else pop_up
        target[:, o.index] &= ~o.active(t)
    return gw_up, pop_up
