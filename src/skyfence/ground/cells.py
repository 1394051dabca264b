"""H3 service cells: cell sets for regions, the global land set, and ground arrays for kernels.

The real system enforces service per H3 resolution-5 cell (~253 km^2; ../shared/facts.md,
"How service works"), so `DEFAULT_RESOLUTION` is 5; coarser resolutions serve overviews.

Cells are ``uint64`` H3 indexes (``h3.str_to_int`` of the hex form). h3-py v4 is scalar per
call; measured on the project machine (bench/cells.py): ``cell_to_latlng`` about 1.4 us,
``cell_area`` 2.7 us, ``latlng_to_cell`` 0.9 us per call, against 0.5 us per cell for the
vectorised ``h3ronpy.vector.cells_to_coordinates`` -- a 2.7x gain on a one-time, cached build
that does not pay for two more compiled dependencies. So cell sets are built once (the land
set is cached on disk) and everything downstream works on arrays of cell centres.

Which cells belong to a region: those whose centre lies in the region (boundary included),
with edges straight in (lon, lat) as everywhere in `skyfence.ground.regions`. Candidates come
from H3's polygon fill of the region's bounding boxes (cut into strips at most 60 deg wide,
so nothing spans the antimeridian or more than 180 deg), and their centres are tested with
shapely; this is exact for holes, multipolygons, polar caps and regions cut at the
antimeridian, and is much faster than H3's fill of detailed coastlines. A region smaller than
every cell still gets one cell: the cell containing its representative point.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h3
import h3.api.basic_int as h3i
import numpy as np
import shapely
from numpy.typing import ArrayLike

from ..earth import enu_basis, geodetic_to_itrs
from ..errors import InputError, RegionError
from ._cache import CACHE_FORMAT, cache_dir, load_npz, save_npz
from .catalogue import DEFAULT_EDITION, get_catalogue
from .geometry import (
    Region,
    polygonal,
    repair_polygon,
    split_at_antimeridian,
    unwrapped_polygon,
)
from .h3index import as_cells, cell_resolution, cells_to_str

__all__ = [
    "DEFAULT_RESOLUTION",
    "MAX_LAND_RESOLUTION",
    "CellSet",
    "all_cells",
    "cell_areas_km2",
    "cell_resolution",
    "cell_set",
    "cells_to_geometry",
    "cells_to_latlng",
    "cells_to_polygons",
    "cells_to_str",
    "land_cache_path",
    "land_cell_set",
    "land_cells",
    "latlng_to_cells",
    "region_cell_set",
    "region_cells",
]

#: Service cells are H3 resolution 5 (../shared/facts.md).
DEFAULT_RESOLUTION = 5
#: Finest resolution of the global land set (resolution 6 has 14 million cells worldwide).
MAX_LAND_RESOLUTION = 6
_LAND_FORMAT = 1
_STRIP_DEG = 60.0
_MARGIN_DEG = 0.01
_DENSIFY_DEG = 1.0


def _check_resolution(resolution: int, maximum: int = 15) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or not 0 <= int(resolution) <= maximum:
        raise InputError(f"H3 resolution must be an integer in [0, {maximum}], got "
                         f"{resolution!r}", "resolution")
    return int(resolution)


# --------------------------------------------------------------------------------------------
# Scalar h3 wrapped as array functions
# --------------------------------------------------------------------------------------------


def cells_to_latlng(cells: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres ``(lat_deg, lon_deg)`` (H3's centre on its sphere, read as WGS-84)."""
    flat = np.ravel(as_cells(cells))
    ll = np.array([h3i.cell_to_latlng(int(c)) for c in flat], dtype=np.float64).reshape(-1, 2)
    shape = np.shape(cells)
    return ll[:, 0].reshape(shape), ll[:, 1].reshape(shape)


def latlng_to_cells(lat_deg: ArrayLike, lon_deg: ArrayLike,
                    resolution: int = DEFAULT_RESOLUTION) -> np.ndarray:
    """The cell containing each point (uint64); broadcasts ``lat_deg`` and ``lon_deg``."""
    res = _check_resolution(resolution)
    lat, lon = np.broadcast_arrays(np.asarray(lat_deg, dtype=np.float64),
                                   np.asarray(lon_deg, dtype=np.float64))
    if np.any(~np.isfinite(lat)) or np.any(~np.isfinite(lon)) or np.any(np.abs(lat) > 90.0):
        raise InputError("points need finite coordinates with latitude in [-90, 90] deg",
                         "lat_deg")
    out = np.fromiter((h3i.latlng_to_cell(a, o, res) for a, o in zip(lat.ravel(), lon.ravel(),
                                                                     strict=True)),
                      dtype=np.uint64, count=lat.size)
    return out.reshape(lat.shape)


def cell_areas_km2(cells: ArrayLike) -> np.ndarray:
    """Area of each cell (km^2, H3's exact spherical cell area on its authalic sphere)."""
    flat = np.ravel(as_cells(cells))
    out = np.fromiter((h3i.cell_area(int(c), "km^2") for c in flat), dtype=np.float64,
                      count=flat.size)
    return out.reshape(np.shape(cells))


def _great_circle_ring(latlng_deg: np.ndarray, max_step_deg: float) -> np.ndarray:
    """A closed (lat, lon) ring with points added along each great-circle edge."""
    lat, lon = np.radians(latlng_deg[:, 0]), np.radians(latlng_deg[:, 1])
    v = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    out = [v[:1]]
    for a, b in itertools.pairwise(v):
        angle = np.arccos(np.clip(a @ b, -1.0, 1.0))
        n = max(1, int(np.ceil(np.degrees(angle) / max_step_deg)))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        if angle < 1e-12:
            seg = np.repeat(b[None, :], n, axis=0)
        else:  # spherical linear interpolation
            seg = (np.sin((1.0 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)
        out.append(seg)
    w = np.vstack(out)
    ring = np.column_stack([np.degrees(np.arcsin(np.clip(w[:, 2], -1.0, 1.0))),
                            np.degrees(np.arctan2(w[:, 1], w[:, 0]))])
    ring[-1] = ring[0]  # exactly closed
    return ring


def _polygon_slow(cell: int, max_step_deg: float) -> shapely.Geometry:
    b = np.asarray(h3i.cell_to_boundary(int(cell)))
    ring = _great_circle_ring(np.vstack([b, b[:1]]), max_step_deg)[:, ::-1]
    planar = unwrapped_polygon(ring, [], None)
    return split_at_antimeridian(planar) if (planar.bounds[0] < -180.0
                                             or planar.bounds[2] > 180.0) else planar


def cells_to_polygons(cells: ArrayLike, max_step_deg: float = 0.25) -> np.ndarray:
    """One shapely (Multi)Polygon per cell, lon/lat degrees, cut at the antimeridian.

    For GeoJSON, maps and areas: H3 cell edges are great-circle arcs, so each edge is
    densified along its great circle (steps of at most ``max_step_deg``); a cell that
    straddles 180 deg becomes a two-part MultiPolygon, and a cell over a pole a cap closed
    through the pole. Cells whose edges are all shorter than ``max_step_deg`` (every cell at
    resolution 4 and finer with the default) and that touch neither the antimeridian nor a
    pole are built in one vectorised call.
    """
    flat = np.ravel(as_cells(cells))
    n = flat.size
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    ll = np.empty((n, 10, 2))
    count = np.empty(n, np.int64)
    for i, c in enumerate(flat):
        b = h3i.cell_to_boundary(int(c))
        count[i] = len(b)
        ll[i, :len(b)] = b
        ll[i, len(b):] = b[0]
    lat, lon = np.radians(ll[..., 0]), np.radians(ll[..., 1])
    v = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    nxt = np.roll(v, -1, axis=1)
    # Closing edge of each ring: last real vertex back to the first (padding repeats it).
    rows = np.arange(n)
    nxt[rows, count - 1] = v[rows, 0]
    cosang = np.clip(np.einsum("ijk,ijk->ij", v, nxt), -1.0, 1.0)
    longest = np.degrees(np.arccos(cosang)).max(axis=1)
    dlon = (np.diff(np.concatenate([ll[..., 1], ll[:, :1, 1]], axis=1), axis=1) + 180.0) \
        % 360.0 - 180.0
    span = np.abs(np.cumsum(dlon, axis=1)).max(axis=1)
    unwrapped = ll[:, :1, 1] + np.concatenate([np.zeros((n, 1)), np.cumsum(dlon[:, :-1], axis=1)],
                                              axis=1)
    fast = ((longest <= max_step_deg) & (np.abs(ll[..., 0]).max(axis=1) < 89.0)
            & (unwrapped.min(axis=1) >= -180.0) & (unwrapped.max(axis=1) <= 180.0)
            & (span < 180.0))
    idx = np.flatnonzero(fast)
    if idx.size:
        m = count[idx]
        take = np.concatenate([np.arange(k) for k in m])
        owner = np.repeat(np.arange(idx.size), m)
        coords = np.column_stack([unwrapped[idx[owner], take], ll[idx[owner], take, 0]])
        out[idx] = shapely.polygons(shapely.linearrings(coords, indices=owner))
    for j in np.flatnonzero(~fast):
        out[j] = _polygon_slow(int(flat[j]), max_step_deg)
    return out


def cells_to_geometry(cells: ArrayLike) -> shapely.Polygon | shapely.MultiPolygon:
    """The union of H3 cells as a normalised lon/lat geometry (H3's own cell union).

    Edges are H3's cell vertices joined straight in (lon, lat), cut at the antimeridian; for
    a `Region` made of explicit cells (`skyfence.ground.region_from_cells`).
    """
    arr = np.ravel(as_cells(cells))
    if arr.size == 0:
        return shapely.MultiPolygon()
    shape_ = h3i.cells_to_h3shape([int(c) for c in arr], tight=True)
    polys = shape_.polys if isinstance(shape_, h3.LatLngMultiPoly) else [shape_]
    out = []
    for poly in polys:
        outer = np.asarray(poly.outer)[:, ::-1]
        holes = [np.asarray(h)[:, ::-1] for h in poly.holes]
        close = [np.vstack([r, r[:1]]) for r in [outer, *holes]]
        planar = unwrapped_polygon(close[0], close[1:], None)
        out.append(split_at_antimeridian(repair_polygon(planar)))
    return polygonal(shapely.union_all(out))


def all_cells(resolution: int) -> np.ndarray:
    """Every H3 cell of a resolution, sorted (uint64); resolution 5 has 2,016,842 cells.

    >>> all_cells(0).size, all_cells(1).size
    (122, 842)
    """
    res = _check_resolution(resolution, MAX_LAND_RESOLUTION)
    parts = [np.asarray(h3i.cell_to_children(c, res), dtype=np.uint64)
             for c in h3i.get_res0_cells()]
    return np.sort(np.concatenate(parts))


# --------------------------------------------------------------------------------------------
# Region -> cells
# --------------------------------------------------------------------------------------------


def _polyfill(poly: shapely.Polygon, res: int) -> list[int]:
    dense = shapely.segmentize(poly, _DENSIFY_DEG)
    outer = [(y, x) for x, y in np.asarray(dense.exterior.coords)[:-1]]
    holes = [[(y, x) for x, y in np.asarray(r.coords)[:-1]] for r in dense.interiors]
    return h3i.polygon_to_cells(h3.LatLngPoly(outer, *holes), res)


def _candidates(geometry: shapely.Geometry, res: int) -> np.ndarray:
    """Cells whose centre lies in the (slightly enlarged) bounding boxes of the parts."""
    parts = shapely.get_parts(geometry)
    b = shapely.bounds(parts)
    boxes = shapely.box(np.maximum(b[:, 0] - _MARGIN_DEG, -180.0),
                        np.maximum(b[:, 1] - _MARGIN_DEG, -90.0),
                        np.minimum(b[:, 2] + _MARGIN_DEG, 180.0),
                        np.minimum(b[:, 3] + _MARGIN_DEG, 90.0))
    cover = shapely.union_all(boxes)
    out: list[int] = []
    edges = np.arange(-180.0, 180.0 + _STRIP_DEG / 2, _STRIP_DEG)
    strips = shapely.box(edges[:-1], np.full(edges.size - 1, -90.0), edges[1:],
                         np.full(edges.size - 1, 90.0))
    for piece in shapely.intersection(cover, strips):
        for poly in shapely.get_parts(piece):
            if poly.geom_type == "Polygon" and poly.area > 0.0:
                out.extend(_polyfill(poly, res))
    return np.unique(np.array(out, dtype=np.uint64))


def region_cells(region: Region, resolution: int = DEFAULT_RESOLUTION) -> np.ndarray:
    """H3 cells (sorted uint64) whose centre lies in ``region`` (boundary included).

    A region with an explicit cell set at this resolution returns that set (at other
    resolutions: the cells whose centre lies in the union of its cells). A region smaller
    than every cell it touches gets the cell containing its representative point, so every
    non-empty region has at least one cell.

    Parameters
    ----------
    region : Region
        Lon/lat geometry, see `skyfence.ground.regions`.
    resolution : int
        H3 resolution, 0-15 (default 5, the service-cell resolution).
    """
    res = _check_resolution(resolution)
    if region.cells is not None and region.cell_resolution == res:
        return np.array(region.cells, dtype=np.uint64)
    if region.geometry.is_empty:
        raise RegionError("empty region: it has no area and no cells", region.name)
    cand = _candidates(region.geometry, res)
    if cand.size:
        lat, lon = cells_to_latlng(cand)
        cells = cand[region.contains(lat, lon)]
    else:
        cells = cand
    if cells.size == 0:
        lat0, lon0 = region.representative_point()
        cells = np.array([h3i.latlng_to_cell(lat0, lon0, res)], dtype=np.uint64)
    return cells


# --------------------------------------------------------------------------------------------
# CellSet
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CellSet:
    """Arrays of H3 cells and their WGS-84 ground points, for the coverage and policy kernels.

    All arrays have length ``n`` (vectors ``(n, 3)``) and share one order.

    Attributes
    ----------
    resolution : int
        H3 resolution of every cell.
    cells : ndarray of uint64, (n,)
        H3 indexes.
    lat_deg, lon_deg : ndarray of float64, (n,)
        Cell centres, WGS-84 geodetic degrees.
    alt_km : ndarray of float64, (n,)
        Height above the ellipsoid (zero: cells sit on the ellipsoid), km.
    r_itrs_km : ndarray of float64, (n, 3)
        Cell centres in ITRS (Earth-fixed), km.
    up : ndarray of float64, (n, 3)
        Unit ellipsoid normals (local vertical) in ITRS.
    area_km2 : ndarray of float64, (n,)
        Cell areas, km^2.
    region_code : ndarray of int32, (n,)
        Index into ``region_names`` of each cell's region label.
    region_names : tuple of str
        Region labels.
    """

    resolution: int
    cells: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    r_itrs_km: np.ndarray
    up: np.ndarray
    area_km2: np.ndarray
    region_code: np.ndarray
    region_names: tuple[str, ...] = field(default=("",))

    def __len__(self) -> int:
        return int(self.cells.size)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.cells.size)

    @property
    def region(self) -> np.ndarray:
        """Region label of each cell (object array of str)."""
        return np.asarray(self.region_names, dtype=object)[self.region_code]

    @property
    def cell_strings(self) -> list[str]:
        """Hex strings of the cells."""
        return cells_to_str(self.cells)

    def subset(self, index: ArrayLike) -> CellSet:
        """The cells selected by a boolean mask or an integer index array."""
        idx = np.asarray(index)
        return CellSet(self.resolution, self.cells[idx], self.lat_deg[idx], self.lon_deg[idx],
                       self.alt_km[idx], self.r_itrs_km[idx], self.up[idx], self.area_km2[idx],
                       self.region_code[idx], self.region_names)

    def region_mask(self, name: str) -> np.ndarray:
        """Boolean mask of the cells labelled ``name``."""
        if name not in self.region_names:
            raise RegionError(f"no region {name!r} in this cell set; labels are "
                              f"{', '.join(self.region_names[:10])}", "region")
        return self.region_code == self.region_names.index(name)

    def index_of(self, cells: ArrayLike) -> np.ndarray:
        """Position of each given cell in this set, ``-1`` where absent (vectorised)."""
        want = as_cells(cells)
        flat = np.ravel(want)
        if self.cells.size == 0:
            return np.full(np.shape(want), -1, np.int64)
        order = np.argsort(self.cells, kind="stable")
        sorted_cells = self.cells[order]
        pos = np.minimum(np.searchsorted(sorted_cells, flat), sorted_cells.size - 1)
        hit = sorted_cells[pos] == flat
        return np.where(hit, order[pos], -1).astype(np.int64).reshape(np.shape(want))


def _build_cell_set(cells: np.ndarray, res: int, lat: np.ndarray, lon: np.ndarray,
                    area: np.ndarray, code: np.ndarray, names: tuple[str, ...]) -> CellSet:
    _, _, up = enu_basis(lat, lon)
    alt = np.zeros_like(lat)
    return CellSet(res, cells, lat, lon, alt, geodetic_to_itrs(lat, lon, 0.0), up, area,
                   code.astype(np.int32, copy=False), names)


def cell_set(cells: ArrayLike, *, region_code: ArrayLike | None = None,
             region_names: Sequence[str] = ("",)) -> CellSet:
    """A `CellSet` from H3 cells (uint64 or hex strings) of one resolution, in the given order.

    ``region_code`` (default all 0) indexes ``region_names``.
    """
    arr = np.ravel(as_cells(cells))
    if arr.size == 0:
        res = DEFAULT_RESOLUTION
    else:
        res_all = cell_resolution(arr)
        if np.any(res_all != res_all[0]):
            raise RegionError("a cell set needs cells of one H3 resolution, got "
                              f"{sorted(set(res_all.tolist()))}", "cells")
        valid = np.fromiter((h3i.is_valid_cell(int(c)) for c in arr), dtype=bool,
                            count=arr.size)
        if not valid.all():
            i = int(np.argmin(valid))
            raise RegionError(f"not a valid H3 cell: {int(arr[i]):#x}", f"cells[{i}]")
        res = int(res_all[0])
    code = np.zeros(arr.size, np.int32) if region_code is None \
        else np.asarray(region_code, dtype=np.int32).ravel()
    if code.size != arr.size:
        raise InputError(f"region_code has {code.size} entries for {arr.size} cells",
                         "region_code")
    if code.size and (code.min() < 0 or code.max() >= len(region_names)):
        raise InputError("region_code out of range of region_names", "region_code")
    lat, lon = cells_to_latlng(arr)
    return _build_cell_set(arr, res, lat, lon, cell_areas_km2(arr), code, tuple(region_names))


def region_cell_set(regions: Region | Sequence[Region],
                    resolution: int = DEFAULT_RESOLUTION) -> CellSet:
    """Cells of one or more regions, labelled by region name (sorted by cell).

    A cell in several regions is labelled with the first of them.
    """
    regs = [regions] if isinstance(regions, Region) else list(regions)
    if not regs:
        raise RegionError("no regions given", "regions")
    names = tuple(r.name for r in regs)
    if len(set(names)) != len(names):
        raise RegionError(f"duplicate region names: {', '.join(names)}", "regions")
    all_c, all_code = [], []
    for k, r in enumerate(regs):
        c = region_cells(r, resolution)
        all_c.append(c)
        all_code.append(np.full(c.size, k, np.int32))
    cells = np.concatenate(all_c)
    code = np.concatenate(all_code)
    # Stable sort by cell, keep the first label of each cell.
    order = np.lexsort((code, cells))
    cells, code = cells[order], code[order]
    first = np.r_[True, cells[1:] != cells[:-1]]
    return cell_set(cells[first], region_code=code[first], region_names=names)


# --------------------------------------------------------------------------------------------
# Global land set
# --------------------------------------------------------------------------------------------


def land_cache_path(resolution: int = DEFAULT_RESOLUTION, edition: str = DEFAULT_EDITION
                    ) -> Path:
    """Cache file of the land cell set: keyed by boundary source, version and resolution."""
    res = _check_resolution(resolution, MAX_LAND_RESOLUTION)
    info = get_catalogue(edition).info
    key = (f"land-cells-{info.key}-ne{info.natural_earth_version}-{info.package}-"
           f"{info.package_version}-r{res}-h3{h3.versions()['c']}-"
           f"v{_LAND_FORMAT}.{CACHE_FORMAT}.npz")
    return cache_dir() / key


def _load_land(path: Path, res: int) -> CellSet | None:
    z = load_npz(path, ("cells", "lat_deg", "lon_deg", "area_km2", "country_code", "names"))
    if z is None:
        return None
    try:
        names = tuple(json.loads(str(z["names"])))
    except ValueError:
        return None
    cells, lat, lon, area, code = (z["cells"], z["lat_deg"], z["lon_deg"], z["area_km2"],
                                   z["country_code"])
    if not (cells.size == lat.size == lon.size == area.size == code.size):
        return None
    return _build_cell_set(cells.astype(np.uint64), res, lat, lon, area, code, names)


def land_cell_set(resolution: int = DEFAULT_RESOLUTION, *, edition: str = DEFAULT_EDITION,
                  rebuild: bool = False, use_cache: bool = True) -> CellSet:
    """Every cell whose centre is on land (in any country of the edition), labelled by country.

    Land is the union of the catalogue's admin-0 features (Antarctica included): 570,042
    cells at resolution 5. Built once (2,016,842 candidate centres located; about 7-10 s on
    the 2-core project machine, see bench/cells.py)
    and cached in `cache_dir` as ``.npz`` keyed by edition, package version, H3 version and
    resolution; later calls load the cache. ``rebuild`` forces a new build.
    """
    res = _check_resolution(resolution, MAX_LAND_RESOLUTION)
    path = land_cache_path(res, edition)
    if use_cache and not rebuild:
        cached = _load_land(path, res)
        if cached is not None:
            return cached
    catalogue = get_catalogue(edition)
    cand = all_cells(res)
    lat, lon = cells_to_latlng(cand)
    country = catalogue.locate_index(lat, lon)
    keep = country >= 0
    cells, lat, lon, country = cand[keep], lat[keep], lon[keep], country[keep]
    area = cell_areas_km2(cells)
    names = tuple(catalogue.names)
    if use_cache:
        save_npz(path, cells=cells, lat_deg=lat, lon_deg=lon, area_km2=area,
                         country_code=country.astype(np.int16),
                         names=np.array(json.dumps(list(names))))
    return _build_cell_set(cells, res, lat, lon, area, country, names)


def land_cells(resolution: int = DEFAULT_RESOLUTION, *, edition: str = DEFAULT_EDITION,
               rebuild: bool = False) -> np.ndarray:
    """The land cells (sorted uint64) of `land_cell_set`."""
    return land_cell_set(resolution, edition=edition, rebuild=rebuild).cells
