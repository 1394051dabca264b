"""Built-in disputed areas (Crimea, Sevastopol) and `resolve_region`, the one name resolver.

`builtin_region` provides ``"Crimea"`` and ``"Sevastopol"`` as polygons a scenario can name.
Both take Natural Earth 5.1.1's coastline (German edition, Ukraine) and cut it along a land
boundary: for Crimea the Crimea / Kherson line of Natural Earth 4.1.0 (the Russia / Ukraine
boundary of the default edition); for Sevastopol an approximate city boundary (see
`_SEVASTOPOL_CUT_LONLAT`).

`resolve_region` turns what a user typed into a `Region`: a file path, a built-in area or a
country name or code of an edition.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

import shapely
from shapely.geometry import Polygon

from ..errors import OfflineError, RegionError
from .catalogue import DEFAULT_EDITION, fold_name, get_catalogue
from .formats import load_region
from .geometry import Region, polygonal

__all__ = ["BUILTIN_REGIONS", "builtin_region", "resolve_region"]


#: The Crimea / Kherson Oblast administrative line as Natural Earth 4.1.0 draws it (the
#: Russia / Ukraine boundary of its default edition, npm world-atlas 2.0.2, countries-10m),
#: simplified to 0.005 deg: from the Perekop isthmus (west, Karkinit Bay) across the Syvash,
#: south of the Chonhar peninsula, to the Arabat Spit (east), whose northern part belongs to
#: Kherson Oblast. Lon, lat degrees.
_CRIMEA_LINE_LONLAT = (
    (33.6297, 46.1257), (33.6621, 46.1477), (33.6729, 46.1730), (33.6621, 46.2102),
    (33.6693, 46.2186), (33.7161, 46.1950), (33.7557, 46.1933), (33.8025, 46.2034),
    (33.8457, 46.1950), (34.0257, 46.1156), (34.1049, 46.0953), (34.1625, 46.0903),
    (34.2021, 46.1004), (34.2345, 46.0970), (34.3029, 46.0700), (34.3353, 46.0700),
    (34.3605, 46.0565), (34.4109, 45.9873), (34.4649, 45.9552), (34.5045, 45.9501),
    (34.5297, 45.9805), (34.6881, 45.9738), (34.7349, 45.9535), (34.7637, 45.9315),
    (34.7853, 45.8995), (34.7889, 45.8032), (34.8105, 45.7846), (34.8717, 45.7728),
    (34.9509, 45.7222), (34.9761, 45.7171), (35.0014, 45.7289),
)
#: Closing the Crimea cut polygon through open sea: south from the isthmus down Perekop Bay,
#: then south-west through Karkinit Bay (clear of the Kherson shore, which reaches 46.05 N at
#: 33.5 E, and of Dzharylhach island, north of 46.0 N), round the peninsula's south
#: (Cape Sarych 44.39 N) and back through the Sea of Azov north of the Kerch peninsula. The
#: cut is applied to Ukraine (German edition), so the Russian Taman peninsula is never included.
_CRIMEA_SEA_LONLAT = (
    (35.30, 45.72), (36.90, 45.60), (36.90, 44.20), (32.20, 44.20), (32.20, 45.80),
    (33.20, 45.93), (33.45, 45.99), (33.59, 46.03),
)
#: Approximate land boundary of the city of Sevastopol (lon, lat), hand-placed between
#: public reference points: the city runs about 50 km north from Cape Sarych (44.39 N,
#: 33.74 E), the southernmost point of Crimea, to beyond Kacha and Andriivka (44.84 N); its
#: 106 km land border meets Bakhchysarai Raion to the north-east and Yalta to the south-east
#: (Baidar valley, Orlyne, and the Baidar Gate pass at about 44.42 N 33.78 E); land area
#: 864 km^2 (Sevastopol city administration figures as relayed by investsevastopol.com
#: "Location and climate" and Wikipedia "Sevastopol"). The sea side is closed far offshore
#: and the polygon is clipped to Natural Earth's coastline. Accuracy: a few km.
_SEVASTOPOL_CUT_LONLAT = (
    (33.20, 44.87), (33.585, 44.87), (33.66, 44.845), (33.74, 44.78), (33.77, 44.70),
    (33.79, 44.62), (33.84, 44.55), (33.89, 44.48), (33.84, 44.42), (33.775, 44.395),
    (33.77, 44.25), (33.20, 44.25), (33.20, 44.87),
)

#: Built-in regions by name, with a one-line description.
BUILTIN_REGIONS: dict[str, str] = {
    "Crimea": "the Crimean peninsula with Sevastopol, south of the Crimea / Kherson line "
              "(Natural Earth 4.1.0 line, Natural Earth 5.1.1 coast)",
    "Sevastopol": "the city of Sevastopol (approximate boundary, Natural Earth 5.1.1 coast)",
}


@functools.cache
def _builtin(key: str) -> Region:
    ukraine = get_catalogue("deu").geometry("UKR")
    if key == "crimea":
        ring = list(_CRIMEA_LINE_LONLAT) + list(_CRIMEA_SEA_LONLAT) + [_CRIMEA_LINE_LONLAT[0]]
        cut = Polygon(ring)
        return Region("Crimea", polygonal(shapely.intersection(ukraine, cut)),
                      BUILTIN_REGIONS["Crimea"])
    cut = Polygon(_SEVASTOPOL_CUT_LONLAT)
    return Region("Sevastopol", polygonal(shapely.intersection(ukraine, cut)),
                  BUILTIN_REGIONS["Sevastopol"])


def builtin_region(name: str) -> Region:
    """A built-in disputed area by name (case-insensitive): see `BUILTIN_REGIONS`."""
    key = fold_name(name)
    for k in BUILTIN_REGIONS:
        if fold_name(k) == key:
            return _builtin(key)
    raise RegionError(f"unknown built-in region {name!r}; choose one of "
                      f"{', '.join(BUILTIN_REGIONS)}", "region")


def resolve_region(source: str | Path, *, edition: str = DEFAULT_EDITION,
                   admin1: bool = True) -> Region:
    """A region from a file, a built-in area, a country or a sub-national (admin-1) region.

    Resolution order: a ``.geojson`` / ``.json`` / ``.wkt`` / ``.csv`` path; a built-in
    area (Crimea, Sevastopol); a country name or code of the edition; with ``admin1``, an
    admin-1 subdivision ("Kherson", "Punjab, Pakistan", see `skyfence.ground.admin1`), when
    its data are installed. Unknown names raise `RegionError` with close matches.

    >>> resolve_region("crimea").name, resolve_region("UA").name
    ('Crimea', 'Ukraine')
    """
    text = str(source).strip()
    if not text:
        raise RegionError("empty region name", "region")
    path = Path(text)
    if path.suffix.lower() in (".geojson", ".json", ".wkt", ".csv"):
        if not path.exists():
            raise RegionError("region file not found", text)
        return load_region(path)
    if fold_name(text) in {fold_name(k) for k in BUILTIN_REGIONS}:
        return builtin_region(text)
    catalogue = get_catalogue(edition)
    if text in catalogue:
        return catalogue.get(text)
    if admin1:
        sub = _admin1_region(text)
        if sub is not None:
            return sub
    try:
        return catalogue.get(text)
    except RegionError as exc:
        close = difflib.get_close_matches(fold_name(text),
                                          [fold_name(k) for k in BUILTIN_REGIONS], n=2)
        if close:
            names = [k for k in BUILTIN_REGIONS if fold_name(k) in close]
            raise RegionError(f"{exc.message}; built-in regions: {', '.join(names)}",
                              exc.where) from None
        raise


def _admin1_region(text: str) -> Region | None:
    """An admin-1 region by name, None when unknown or the data are not installed.

    Ambiguous names raise `RegionError` listing the choices.
    """
    from .admin1 import get_admin1_catalogue

    try:
        cat = get_admin1_catalogue()
    except OfflineError:
        return None
    i = cat.find(text)
    return cat.get(text) if i is not None else None
