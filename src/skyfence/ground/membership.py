"""Which territories an H3 cell holds: the land of each, and the 12-nautical-mile territorial sea.

A coastal cell centred at sea used to fall to a policy's default although it holds a
territory's coast; a cell straddling a border belonged to whichever country held its centre.
`territory_shares` answers, for every cell, which territories it touches and how much:

Land (exact)
    The share of the cell's area that is land of each territory of a Natural Earth edition.
    The cell polygon (H3's vertices joined straight in lon/lat, as every region edge in
    skyfence) is intersected with each territory it meets and the pieces' areas integrated
    on the WGS-84 ellipsoid (`skyfence.ground.geodesic_areas_km2`). A cell holds a
    territory's land when the intersection has area (touching along a line does not count).

Territorial sea (sampled)
    12 nautical miles = 22.224 km (UNCLOS art. 3; 1 nautical mile = 1,852 m exactly). A
    point at sea belongs to the territorial sea of the territory whose coast is nearest, when
    that coast is within 22.224 km: between coasts closer than 24 nautical miles the
    equidistance line divides the sea (UNCLOS art. 15, absent an agreement). Beyond it is
    international waters. Distances are WGS-84 chord distances (differing from geodesics by
    under a metre at 22 km) to the coastline as the edition draws it, sampled every 0.005
    deg (0.55 km; distance error at the 22.224 km limit below 5 m). Normal baselines only:
    straight and archipelagic baselines, bays and historic waters are not modelled. A cell's
    sea shares are area-weighted fractions of 54 sample points (the six triangles from the
    centre to each edge, each cut into 9 equal triangles, at their centroids; 45 for a
    pentagon), so a sliver of a zone thinner than about a sixth of the cell width can be
    missed (at resolution 5: ~3 km, against the 1:10m coastline's own accuracy of a few
    hundred metres to a km). Water inside no territory, such as the Caspian Sea, is sea.

Result
    `TerritoryShares` is sparse: one row per (cell, territory) with ``land_share`` (share of
    the cell's area that is that territory's land) and ``sea_share`` (share in its
    territorial sea). A cell with no row is entirely international waters; for listed
    cells ``1 - sum(land) - sum(sea)`` is their international share. It is built for the
    whole world at a resolution (cached on disk, see `territory_shares`) or for given cells.

How a policy decides a cell shared by territories with different rules (restrictive by
default, majority of land as an option) is the policy's business (`skyfence.policy`); this
module states the facts: `TerritoryShares.touching`, `TerritoryShares.majority`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h3
import h3.api.basic_int as h3i
import numpy as np
import shapely
from numpy.typing import ArrayLike

from ..earth import geodetic_to_itrs
from ..errors import InputError, RegionError
from ._cache import CACHE_FORMAT, cache_dir, load_npz, save_npz
from .catalogue import DEFAULT_EDITION, CountryCatalogue, get_catalogue
from .cells import (
    DEFAULT_RESOLUTION,
    MAX_LAND_RESOLUTION,
    all_cells,
    cells_to_latlng,
    cells_to_polygons,
    land_cell_set,
)
from .geometry import Region, geodesic_areas_km2
from .h3index import as_cells, cell_resolution, cells_to_str

__all__ = [
    "MAX_REGION_SHARES_RESOLUTION",
    "TERRITORIAL_SEA_KM",
    "RegionShares",
    "TerritoryShares",
    "cell_sample_points",
    "coast_samples",
    "region_shares",
    "territory_shares",
    "territory_shares_cache_path",
]

#: Breadth of the territorial sea: 12 nautical miles of 1,852 m (UNCLOS art. 3), km.
TERRITORIAL_SEA_KM = 12 * 1.852
#: Each centre-to-edge triangle of a cell is cut into SPLIT^2 equal triangles for sampling.
_SPLIT = 3
#: Coast sampling step, degrees (0.005 deg of latitude = 0.55 km).
_COAST_STEP_DEG = 0.005
#: Territory polygons are cut until each piece has at most this many vertices.
_PIECE_VERTICES = 256
#: Cells processed per batch in the sea step (bounds memory: 54 points per cell).
_BATCH = 20_000
_FORMAT = 1
_SHARE_EPS = 1e-9


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TerritoryShares:
    """Sparse (cell, territory) shares of land and territorial sea.

    Rows are sorted by cell, then territory; a row exists when ``land_share > 0`` or
    ``sea_share > 0``.

    Attributes
    ----------
    edition : str
        Natural Earth edition key (``"deu"`` or ``"default"``).
    resolution : int
        H3 resolution of the cells (-1 when built for cells of several resolutions).
    territorial_sea_km : float
        Breadth of the territorial sea used, km.
    territories : tuple of str
        Territory names: the edition's countries in catalogue order (row ``territory``
        indexes it, as `CountryCatalogue.locate_index` does).
    cell : ndarray of uint64, (m,)
        H3 cell of each row.
    territory : ndarray of int32, (m,)
        Territory index of each row.
    land_share : ndarray of float64, (m,)
        Share of the cell's area that is this territory's land, in [0, 1].
    sea_share : ndarray of float64, (m,)
        Share of the cell's area in this territory's territorial sea, in [0, 1].
    """

    edition: str
    resolution: int
    territorial_sea_km: float
    territories: tuple[str, ...]
    cell: np.ndarray
    territory: np.ndarray
    land_share: np.ndarray
    sea_share: np.ndarray

    def __len__(self) -> int:
        return int(self.cell.size)

    @property
    def cells(self) -> np.ndarray:
        """The distinct cells with at least one row (sorted uint64)."""
        return np.unique(self.cell)

    def _rows_of(self, cells: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each asked cell, its row range ``[start, stop)``; also the asked cells."""
        want = np.ravel(as_cells(cells))
        start = np.searchsorted(self.cell, want, side="left")
        stop = np.searchsorted(self.cell, want, side="right")
        return want, start, stop

    def for_cells(self, cells: ArrayLike) -> TerritoryShares:
        """The rows of the given cells (cells without rows are international waters)."""
        _, start, stop = self._rows_of(cells)
        idx = np.concatenate([np.arange(a, b) for a, b in zip(start, stop, strict=True)]) \
            if start.size else np.zeros(0, np.int64)
        idx = np.unique(idx.astype(np.int64))
        return TerritoryShares(self.edition, self.resolution, self.territorial_sea_km,
                               self.territories, self.cell[idx], self.territory[idx],
                               self.land_share[idx], self.sea_share[idx])

    def touching(self, cell: Any) -> list[dict[str, Any]]:
        """The territories one cell touches, largest land share first, as plain records.

        Each record: ``territory``, ``land_share``, ``sea_share``. An empty list means the
        cell is entirely international waters.
        """
        _, start, stop = self._rows_of([cell])
        rows = range(int(start[0]), int(stop[0]))
        out: list[dict[str, Any]] = [
            {"territory": self.territories[int(self.territory[i])],
             "land_share": float(self.land_share[i]), "sea_share": float(self.sea_share[i])}
            for i in rows]
        out.sort(key=lambda r: (-r["land_share"], -r["sea_share"], r["territory"]))
        return out

    def totals(self, cells: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per asked cell: total land share, total territorial-sea share, international share."""
        _, start, stop = self._rows_of(cells)
        land_c = np.concatenate([[0.0], np.cumsum(self.land_share)])
        sea_c = np.concatenate([[0.0], np.cumsum(self.sea_share)])
        land = land_c[stop] - land_c[start]
        sea = sea_c[stop] - sea_c[start]
        return land, sea, np.clip(1.0 - land - sea, 0.0, 1.0)

    def majority(self, cells: ArrayLike | None = None) -> np.ndarray:
        """Territory index holding the largest land share of each cell; -1 for none.

        A cell with no land goes to the territory with the largest territorial-sea share;
        -1 when it has neither (international waters). Ties go to the lower index.
        ``cells`` default: `cells`.
        """
        want = self.cells if cells is None else np.ravel(as_cells(cells))
        out = np.full(want.size, -1, np.int64)
        if self.cell.size == 0 or want.size == 0:
            return out
        # Rank rows by (land, sea) within their cell; keep the best row per cell.
        order = np.lexsort((self.territory, -self.sea_share, -self.land_share, self.cell))
        first = np.r_[True, self.cell[order][1:] != self.cell[order][:-1]]
        best = order[first]
        pos = np.searchsorted(self.cell[best], want)
        pos = np.minimum(pos, best.size - 1)
        hit = self.cell[best][pos] == want
        out[hit] = self.territory[best][pos[hit]]
        return out

    def territory_index(self, name: str) -> int:
        """Index of a territory by its name (the edition's ``NAME``)."""
        try:
            return self.territories.index(name)
        except ValueError:
            raise RegionError(f"no territory {name!r} in edition {self.edition}",
                              "territory") from None

    def cells_of(self, name: str, *, land: bool = True, sea: bool = True) -> np.ndarray:
        """Cells that hold any land (and/or territorial sea) of one territory (sorted)."""
        k = self.territory_index(name)
        m = self.territory == k
        m &= ((self.land_share > 0) & land) | ((self.sea_share > 0) & sea)
        return np.unique(self.cell[m])

    def to_frame(self) -> Any:
        """A pandas DataFrame: ``h3_cell`` (hex), ``territory``, ``land_share``, ``sea_share``."""
        import pandas as pd

        return pd.DataFrame({
            "h3_cell": cells_to_str(self.cell),
            "territory": np.asarray(self.territories, dtype=object)[self.territory],
            "land_share": self.land_share, "sea_share": self.sea_share})


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _split(geom: Any, max_vertices: int) -> list[Any]:
    """Cut a polygon into pieces of at most ``max_vertices`` vertices (recursive halving)."""
    out: list[Any] = []
    stack = [geom]
    while stack:
        g = stack.pop()
        if g.is_empty:
            continue
        if shapely.get_num_coordinates(g) <= max_vertices:
            out.extend(p for p in shapely.get_parts(g) if p.geom_type == "Polygon")
            continue
        x0, y0, x1, y1 = g.bounds
        if x1 - x0 >= y1 - y0:
            xm = 0.5 * (x0 + x1)
            halves = (shapely.clip_by_rect(g, x0, y0, xm, y1), shapely.clip_by_rect(g, xm, y0,
                                                                                      x1, y1))
        else:
            ym = 0.5 * (y0 + y1)
            halves = (shapely.clip_by_rect(g, x0, y0, x1, ym), shapely.clip_by_rect(g, x0, ym,
                                                                                      x1, y1))
        if max(x1 - x0, y1 - y0) < 1e-6:  # degenerate: keep as is
            out.extend(p for p in shapely.get_parts(g) if p.geom_type == "Polygon")
            continue
        for h in halves:
            stack.extend(p for p in shapely.get_parts(h)
                         if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0.0)
    return out


@functools.lru_cache(maxsize=4)
def _pieces(catalogue: CountryCatalogue) -> tuple[np.ndarray, np.ndarray, shapely.STRtree]:
    """Territory polygons cut into small pieces, their territory, and an STRtree of them."""
    pieces: list[shapely.Geometry] = []
    owner: list[int] = []
    for i, g in enumerate(catalogue.geometries):
        for part in shapely.get_parts(g):
            got = _split(part, _PIECE_VERTICES)
            pieces.extend(got)
            owner.extend([i] * len(got))
    arr = np.array(pieces, dtype=object)
    shapely.prepare(arr)
    return arr, np.array(owner, dtype=np.int32), shapely.STRtree(arr)


def coast_samples(edition: str = DEFAULT_EDITION, step_deg: float = _COAST_STEP_DEG
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along every territory's outline: ``lat_deg, lon_deg, territory`` (cached).

    Each territory's rings are densified to ``step_deg`` (0.005 deg = 0.55 km); the
    artificial edges where Natural Earth cuts polygons (the antimeridian, the South Pole
    closure of Antarctica) are dropped. Land borders are included: the nearest outline
    point of a point at sea is always on a coast.
    """
    return _coast_samples(get_catalogue(edition), float(step_deg))


@functools.lru_cache(maxsize=4)
def _coast_samples(catalogue: CountryCatalogue, step_deg: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    info = catalogue.info
    key = (f"coast-{info.key}-ne{info.natural_earth_version}-{info.package}-"
           f"{info.package_version}-step{step_deg:g}-v{_FORMAT}.{CACHE_FORMAT}.npz")
    path = cache_dir() / key
    z = load_npz(path, ("lat_deg", "lon_deg", "territory"))
    if z is not None:
        return z["lat_deg"], z["lon_deg"], z["territory"].astype(np.int32)
    rings = shapely.boundary(np.asarray(catalogue.geometries, dtype=object))
    dense = shapely.segmentize(rings, step_deg)
    xy, idx = shapely.get_coordinates(dense, return_index=True)
    keep = (np.abs(xy[:, 0]) < 180.0 - 1e-9) & (xy[:, 1] > -90.0 + 1e-9)
    lat, lon, terr = xy[keep, 1].copy(), xy[keep, 0].copy(), idx[keep].astype(np.int32)
    save_npz(path, lat_deg=lat, lon_deg=lon, territory=terr.astype(np.int16))
    return lat, lon, terr


class _CoastIndex:
    """Nearest coast point queries (WGS-84 ITRS chords) over the coast samples."""

    def __init__(self, catalogue: CountryCatalogue) -> None:
        lat, lon, terr = _coast_samples(catalogue, _COAST_STEP_DEG)
        self.territory = terr
        self.xyz = geodetic_to_itrs(lat, lon, 0.0)
        self._tree: Any = None

    def tree(self) -> Any:
        """The k-d tree of the samples (scipy's cKDTree, built on first use)."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.xyz, balanced_tree=False, compact_nodes=False)
        return self._tree

    def nearest(self, xyz: np.ndarray, max_km: float, labels: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Distance (km, inf beyond ``max_km``) and label (-1) of the nearest coast sample.

        The label is the sample's territory, or ``labels[sample]`` when given.
        """
        if xyz.shape[0] == 0 or self.xyz.shape[0] == 0:
            return np.full(xyz.shape[0], np.inf), np.full(xyz.shape[0], -1, np.int32)
        dist, idx = self.tree().query(xyz, k=1, distance_upper_bound=max_km, workers=-1)
        found = np.isfinite(dist)
        terr = np.full(xyz.shape[0], -1, np.int32)
        terr[found] = (self.territory if labels is None else labels)[idx[found]]
        return dist, terr


@functools.lru_cache(maxsize=4)
def _coast_index(catalogue: CountryCatalogue) -> _CoastIndex:
    return _CoastIndex(catalogue)


def cell_sample_points(cells: ArrayLike, split: int = _SPLIT
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Area-weighted sample points of cells: ``lat_deg, lon_deg, weight, cell_index``.

    Each cell is cut into triangles from its centre to each edge of its H3 boundary, each
    triangle into ``split**2`` equal triangles (on the chord plane), sampled at their
    centroids and projected back onto the sphere. ``weight`` is each point's share of its
    cell (weights of a cell sum to 1). Hexagons give ``6 * split**2`` points (54 by default).
    """
    flat = np.ravel(as_cells(cells))
    n = flat.size
    if n == 0:
        z = np.zeros(0)
        return z, z.copy(), z.copy(), np.zeros(0, np.int64)
    # Triangle i of a cell runs centre -> vertex i -> vertex i+1 (cyclic); unused slots of
    # cells with fewer than 10 vertices (H3's maximum) are degenerate, with weight 0.
    v_ll = np.empty((n, 10, 2))
    w_ll = np.empty((n, 10, 2))
    for i, c in enumerate(flat):
        bnd = h3i.cell_to_boundary(int(c))
        m = len(bnd)
        v_ll[i, :m] = bnd
        w_ll[i, :m - 1] = bnd[1:]
        w_ll[i, m - 1] = bnd[0]
        v_ll[i, m:] = bnd[0]
        w_ll[i, m:] = bnd[0]
    clat, clon = cells_to_latlng(flat)
    c3 = _unit(clat, clon)  # (n, 3)
    a = _unit(v_ll[..., 0], v_ll[..., 1]) - c3[:, None, :]  # (n, 10, 3)
    b = _unit(w_ll[..., 0], w_ll[..., 1]) - c3[:, None, :]
    tri_area = 0.5 * np.linalg.norm(np.cross(a, b), axis=2)  # (n, 10), chord plane
    bary = []
    for i in range(split):
        for j in range(split - i):
            bary.append(((i + 1 / 3) / split, (j + 1 / 3) / split))
            if i + j <= split - 2:
                bary.append(((i + 2 / 3) / split, (j + 2 / 3) / split))
    st = np.array(bary)  # (split^2, 2)
    pts = (c3[:, None, None, :] + st[None, None, :, 0:1] * a[:, :, None, :]
           + st[None, None, :, 1:2] * b[:, :, None, :])  # (n, 10, s2, 3)
    weight = np.broadcast_to((tri_area / split**2)[:, :, None], pts.shape[:3])
    total = tri_area.sum(axis=1)
    keep = weight > 0.0
    pts = pts[keep]
    wts = (weight / total[:, None, None])[keep]
    owner = np.broadcast_to(np.arange(n)[:, None, None], keep.shape)[keep]
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    lat = np.degrees(np.arcsin(np.clip(pts[:, 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))
    return lat, lon, wts, owner.astype(np.int64)


def _unit(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _land_rows(cells: np.ndarray, catalogue: CountryCatalogue,
               index: tuple[np.ndarray, np.ndarray, Any, int] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact land shares: ``cell_index, territory, share`` and each cell's land geometry.

    The last is an object array over ``cells``: the pieces of land in the cell (a
    GeometryCollection), or None for a cell without land. ``index`` (pieces, their label,
    their STRtree, the number of labels) replaces the catalogue's territories.
    """
    if index is None:
        pieces, owner, tree = _pieces(catalogue)
        n_terr = len(catalogue)
    else:
        pieces, owner, tree, n_terr = index
    polys = cells_to_polygons(cells, max_step_deg=1.0)
    area = geodesic_areas_km2(polys)
    land_geom = np.full(cells.size, None, dtype=object)
    ci, pi = tree.query(polys, predicate="intersects")
    if ci.size == 0:
        z = np.zeros(0, np.int64)
        return z, z.astype(np.int32), np.zeros(0), land_geom
    inter = shapely.intersection(polys[ci], pieces[pi])
    a = geodesic_areas_km2(inter)
    order = np.argsort(ci, kind="stable")
    with_land, compact = np.unique(ci[order], return_inverse=True)
    land_geom[with_land] = shapely.geometrycollections(inter[order], indices=compact.ravel())
    key = ci.astype(np.int64) * n_terr + owner[pi]
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=a, minlength=uniq.size)
    cell_idx = uniq // n_terr
    share = np.clip(sums / area[cell_idx], 0.0, 1.0)
    keep = share > _SHARE_EPS
    return cell_idx[keep], (uniq % n_terr)[keep].astype(np.int32), share[keep], land_geom


def _sea_rows(cells: np.ndarray, land_total: np.ndarray, land_geom: np.ndarray,
              catalogue: CountryCatalogue, sea_km: float,
              labels: np.ndarray | None = None, n_labels: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Territorial-sea shares: ``cell_index, territory, share``.

    The cell's sea area (exact: one minus its land share) is divided among territories, and
    international waters, in proportion to the weights of its sample points at sea that
    fall in each territory's territorial sea. A cell with a sliver of sea but no sample
    point at sea divides it by all its sample points.
    """
    coast = _coast_index(catalogue)
    out_c, out_t, out_s = [], [], []
    n_terr = len(catalogue) if n_labels is None else n_labels
    sea_area = np.clip(1.0 - land_total, 0.0, 1.0)
    todo = np.flatnonzero(sea_area > _SHARE_EPS)
    for lo in range(0, todo.size, _BATCH):
        idx_cells = todo[lo:lo + _BATCH]
        lat, lon, w, owner = cell_sample_points(cells[idx_cells])
        partial = land_total[idx_cells][owner] > _SHARE_EPS
        at_sea = np.ones(lat.size, bool)
        if partial.any():
            idx = np.flatnonzero(partial)
            geoms = land_geom[idx_cells[owner[idx]]]
            ok = geoms != None  # noqa: E711 - elementwise on an object array
            at_sea[idx[ok]] = ~shapely.intersects_xy(geoms[ok], lon[idx[ok]], lat[idx[ok]])
        n_sub = idx_cells.size
        sea_w = np.bincount(owner[at_sea], weights=w[at_sea], minlength=n_sub)
        no_sea_point = sea_w <= 0.0
        at_sea |= no_sea_point[owner]  # sliver of sea between the sample points
        sea_w = np.bincount(owner[at_sea], weights=w[at_sea], minlength=n_sub)
        pts = np.flatnonzero(at_sea)
        dist, terr = coast.nearest(geodetic_to_itrs(lat[pts], lon[pts], 0.0), sea_km * 1.001,
                                   labels)
        inside = dist <= sea_km
        pts, terr = pts[inside], terr[inside]
        key = owner[pts].astype(np.int64) * n_terr + terr
        uniq, inv = np.unique(key, return_inverse=True)
        wsum = np.bincount(inv.ravel(), weights=w[pts], minlength=uniq.size)
        local = uniq // n_terr
        share = wsum / sea_w[local] * sea_area[idx_cells[local]]
        out_c.append(idx_cells[local])
        out_t.append((uniq % n_terr).astype(np.int32))
        out_s.append(np.clip(share, 0.0, 1.0))
    if not out_c:
        z = np.zeros(0, np.int64)
        return z, z.astype(np.int32), np.zeros(0)
    return np.concatenate(out_c), np.concatenate(out_t), np.concatenate(out_s)


def _merge(cells: np.ndarray, land: tuple[np.ndarray, ...], sea: tuple[np.ndarray, ...],
           n_terr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by (cell, territory) from land and sea triples over ``cells``."""
    key = np.concatenate([land[0] * n_terr + land[1], sea[0] * n_terr + sea[1]])
    uniq, inv = np.unique(key, return_inverse=True)
    land_share = np.zeros(uniq.size)
    sea_share = np.zeros(uniq.size)
    k = land[0].size
    land_share[inv[:k]] = land[2]
    sea_share[inv[k:]] = sea[2]
    cell = cells[uniq // n_terr]
    terr = (uniq % n_terr).astype(np.int32)
    order = np.lexsort((terr, cell))
    return cell[order], terr[order], land_share[order], sea_share[order]


def _edge_km(resolution: int) -> float:
    return float(h3.average_hexagon_edge_length(resolution, "km"))


def _check_sea_km(value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"territorial_sea_km must be a number of km, got {value!r}",
                         "territorial_sea_km") from None
    if not (math.isfinite(v) and 0.0 <= v <= 400.0):
        raise InputError(f"territorial_sea_km must be in [0, 400] km, got {value!r}",
                         "territorial_sea_km")
    return v


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def territory_shares_cache_path(resolution: int = DEFAULT_RESOLUTION,
                                edition: str = DEFAULT_EDITION,
                                territorial_sea_km: float = TERRITORIAL_SEA_KM) -> Path:
    """Cache file of the world's `TerritoryShares` at a resolution."""
    info = get_catalogue(edition).info
    return cache_dir() / (
        f"territory-shares-{info.key}-ne{info.natural_earth_version}-{info.package}-"
        f"{info.package_version}-r{int(resolution)}-sea{float(territorial_sea_km):g}-"
        f"h3{h3.versions()['c']}-v{_FORMAT}.{CACHE_FORMAT}.npz")


def territory_shares(resolution: int = DEFAULT_RESOLUTION, *, edition: str = DEFAULT_EDITION,
                     cells: ArrayLike | None = None,
                     territorial_sea_km: float = TERRITORIAL_SEA_KM,
                     use_cache: bool = True, rebuild: bool = False,
                     progress: Callable[[str], None] | None = None) -> TerritoryShares:
    """Land and territorial-sea shares of H3 cells per territory (see the module docstring).

    Parameters
    ----------
    resolution : int
        H3 resolution of the world table (0 to `MAX_LAND_RESOLUTION`, default 5). Ignored
        when ``cells`` is given.
    edition : str
        Natural Earth edition: ``"deu"`` or ``"default"``.
    cells : array_like of H3 cells, optional
        Compute for these cells only (any resolution, mixed allowed), without the world
        table: the fast path for a few cells (a point's cell in ``policy check``).
    territorial_sea_km : float
        Breadth of the territorial sea, km (default 22.224 = 12 nautical miles; 0 turns
        the sea part off).
    use_cache, rebuild : bool
        The world table is cached in `skyfence.ground.cache_dir`, keyed by edition,
        package version, H3 version, resolution and sea breadth; ``rebuild`` recomputes.
    progress : callable, optional
        Called with a short text at each phase of a world build.

    Returns
    -------
    TerritoryShares

    >>> from skyfence.ground import latlng_to_cells
    >>> kaohsiung = latlng_to_cells(22.62, 120.28)  # a coastal cell centred at sea
    >>> [r["territory"] for r in territory_shares(cells=[kaohsiung]).touching(kaohsiung)]
    ['Taiwan']
    """
    sea_km = _check_sea_km(territorial_sea_km)
    catalogue = get_catalogue(edition)
    names = tuple(catalogue.names)
    if cells is not None:
        arr = np.unique(np.ravel(as_cells(cells)))
        found_res = np.unique(cell_resolution(arr)) if arr.size else \
            np.array([DEFAULT_RESOLUTION])
        land = _land_rows(arr, catalogue)
        land_total = np.bincount(land[0], weights=land[2], minlength=arr.size)
        sea = _sea_rows(arr, land_total, land[3], catalogue, sea_km) if sea_km > 0 else \
            (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0))
        c, t, ls, ss = _merge(arr, land[:3], sea, len(names))
        return TerritoryShares(catalogue.edition,
                               int(found_res[0]) if found_res.size == 1 else -1, sea_km,
                               names, c, t, ls, ss)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or not 0 <= int(resolution) <= MAX_LAND_RESOLUTION:
        raise InputError(f"resolution must be an integer in [0, {MAX_LAND_RESOLUTION}] for the "
                         f"world table, got {resolution!r} (pass cells= for finer cells)",
                         "resolution")
    res = int(resolution)
    path = territory_shares_cache_path(res, edition, sea_km)
    if use_cache and not rebuild:
        cached = _load(path, catalogue.edition, res, sea_km, names)
        if cached is not None:
            return cached
    shares = _world(res, catalogue, sea_km, progress or (lambda _: None))
    if use_cache:
        save_npz(path, cell=shares.cell, territory=shares.territory.astype(np.int16),
                 land_share=shares.land_share.astype(np.float32),
                 sea_share=shares.sea_share.astype(np.float32),
                 names=np.array(json.dumps(list(names))))
        # float32 on disk: shares to 1e-7; reload so first and later calls agree exactly.
        again = _load(path, catalogue.edition, res, sea_km, names)
        if again is not None:
            return again
    return shares


def _load(path: Path, edition: str, res: int, sea_km: float, names: tuple[str, ...]
          ) -> TerritoryShares | None:
    z = load_npz(path, ("cell", "territory", "land_share", "sea_share", "names"))
    if z is None:
        return None
    try:
        if tuple(json.loads(str(z["names"]))) != names:
            return None
    except ValueError:
        return None
    n = z["cell"].size
    if not (z["territory"].size == z["land_share"].size == z["sea_share"].size == n):
        return None
    return TerritoryShares(edition, res, sea_km, names, z["cell"].astype(np.uint64),
                           z["territory"].astype(np.int32),
                           z["land_share"].astype(np.float64), z["sea_share"].astype(np.float64))


def _world(res: int, catalogue: CountryCatalogue, sea_km: float,
           progress: Callable[[str], None]) -> TerritoryShares:
    """The world table: exact shares where an outline crosses a cell, centres elsewhere."""
    names = tuple(catalogue.names)
    n_terr = len(names)
    edge = _edge_km(res)
    # 1. Cells crossed by an outline (coast or border): outline points at most 0.4 edge
    #    apart land in every crossed cell or a neighbour of it.
    progress("finding cells on coasts and borders")
    lat_s, lon_s, _ = _coast_samples(catalogue, _COAST_STEP_DEG)
    stride = max(1, int(0.4 * edge / (111.2 * _COAST_STEP_DEG)))
    rings = shapely.boundary(np.asarray(catalogue.geometries, dtype=object))
    verts = shapely.get_coordinates(rings)
    det_lat = np.concatenate([lat_s[::stride], verts[:, 1]])
    det_lon = np.concatenate([lon_s[::stride], verts[:, 0]])
    hit = np.unique(np.fromiter((h3i.latlng_to_cell(a, o, res) for a, o in
                                 zip(det_lat, det_lon, strict=True)),
                                dtype=np.uint64, count=det_lat.size))
    ring1 = np.concatenate([np.asarray(h3i.grid_disk(int(c), 1), dtype=np.uint64) for c in hit])
    crossing = np.unique(ring1)
    progress(f"land shares of {crossing.size:,} cells on outlines")
    land = _land_rows(crossing, catalogue)
    # 2. Cells with the centre on land and no outline: all land of one territory.
    progress("cells inside territories")
    landset = land_cell_set(res, edition=catalogue.edition)
    inner = ~np.isin(landset.cells, crossing)
    interior = landset.cells[inner]
    interior_terr = landset.region_code[inner].astype(np.int32)
    # 3. Sea: cells (not inside a territory) with the centre near a coast.
    progress("cells near coasts")
    coast = _coast_index(catalogue)
    everything = all_cells(res)
    cand = everything[~np.isin(everything, interior)]
    clat, clon = cells_to_latlng(cand)
    reach = sea_km + 2.5 * edge
    dist, _ = coast.nearest(geodetic_to_itrs(clat, clon, 0.0), reach)
    near = cand[np.isfinite(dist) & (dist <= reach)] if sea_km > 0 else cand[:0]
    sea_cells = np.union1d(near, crossing)
    land_total = np.zeros(sea_cells.size)
    pos = np.searchsorted(sea_cells, crossing[land[0]])
    np.add.at(land_total, pos, land[2])
    land_geom = np.full(sea_cells.size, None, dtype=object)
    land_geom[np.searchsorted(sea_cells, crossing)] = land[3]
    progress(f"territorial sea of {sea_cells.size:,} cells")
    sea = _sea_rows(sea_cells, land_total, land_geom, catalogue, sea_km) if sea_km > 0 else \
        (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0))
    # Merge: outline cells (exact), interior cells (share 1) and sea cells, by cell value.
    all_c = np.concatenate([crossing[land[0]], interior, sea_cells[sea[0]]])
    all_t = np.concatenate([land[1], interior_terr, sea[1]])
    all_l = np.concatenate([land[2], np.ones(interior.size), np.zeros(sea[0].size)])
    all_s = np.concatenate([np.zeros(land[0].size + interior.size), sea[2]])
    key_cells, cidx = np.unique(all_c, return_inverse=True)
    cidx = cidx.ravel()
    key = cidx.astype(np.int64) * n_terr + all_t
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.ravel()
    ls = np.bincount(inv, weights=all_l, minlength=uniq.size)
    ss = np.bincount(inv, weights=all_s, minlength=uniq.size)
    cell = key_cells[uniq // n_terr]
    terr = (uniq % n_terr).astype(np.int32)
    return TerritoryShares(catalogue.edition, res, sea_km, names, cell, terr,
                           np.clip(ls, 0.0, 1.0), np.clip(ss, 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# Any region (a built-in area, a policy's polygon, an admin-1 region)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RegionShares:
    """Cells that hold any of one region's land or territorial sea, with the shares.

    Attributes
    ----------
    name : str
        The region's name.
    resolution : int
        H3 resolution of the cells.
    territorial_sea_km : float
        Breadth of the territorial sea used, km (0: land only).
    cells : ndarray of uint64, (n,)
        Sorted cells with ``land_share > 0`` or ``sea_share > 0``.
    land_share : ndarray of float64, (n,)
        Share of each cell's area inside the region's geometry (for a country or an admin-1
        region: its land; for a drawn polygon, whatever it covers).
    sea_share : ndarray of float64, (n,)
        Share of each cell's area in the region's territorial sea: sea whose nearest coast
        is the region's, within the breadth (so Crimea's sea ends at the equidistance line
        with the Kherson coast across Karkinit Bay).
    explicit : bool
        The region is an explicit cell list: its cells, land share 1, no sea.
    """

    name: str
    resolution: int
    territorial_sea_km: float
    cells: np.ndarray
    land_share: np.ndarray
    sea_share: np.ndarray
    explicit: bool = False

    def __len__(self) -> int:
        return int(self.cells.size)

    def touching(self, *, land: bool = True, sea: bool = True) -> np.ndarray:
        """Cells holding any of the region's land (and/or territorial sea), sorted."""
        m = ((self.land_share > 0) & land) | ((self.sea_share > 0) & sea)
        return self.cells[m]

    def share(self, cells: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(land_share, sea_share)`` of the given cells (0 where the region is absent)."""
        want = np.ravel(as_cells(cells))
        pos = np.minimum(np.searchsorted(self.cells, want), max(self.cells.size - 1, 0))
        hit = (self.cells.size > 0) & (self.cells[pos] == want) if self.cells.size else \
            np.zeros(want.size, bool)
        land = np.where(hit, self.land_share[pos] if self.cells.size else 0.0, 0.0)
        sea = np.where(hit, self.sea_share[pos] if self.cells.size else 0.0, 0.0)
        return land, sea

    def to_frame(self) -> Any:
        """A pandas DataFrame: ``h3_cell`` (hex), ``land_share``, ``sea_share``."""
        import pandas as pd

        return pd.DataFrame({"h3_cell": cells_to_str(self.cells),
                             "land_share": self.land_share, "sea_share": self.sea_share})


def _outline_cells(geometry: shapely.Geometry, res: int) -> np.ndarray:
    """Cells crossed by a geometry's outline, and their neighbours (see `_world`)."""
    edge = _edge_km(res)
    step = min(_COAST_STEP_DEG * 4, 0.4 * edge / 111.2)
    pts = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geometry), step))
    if pts.size == 0:
        return np.zeros(0, np.uint64)
    seeds = np.unique(np.fromiter((h3i.latlng_to_cell(a, o, res) for o, a in pts),
                                  dtype=np.uint64, count=pts.shape[0]))
    return np.unique(np.concatenate([np.asarray(h3i.grid_disk(int(c), 1), dtype=np.uint64)
                                     for c in seeds]))


#: Finest resolution `region_shares` covers a whole region at (pass ``cells`` for finer).
MAX_REGION_SHARES_RESOLUTION = 7


def region_shares(region: Region, resolution: int = DEFAULT_RESOLUTION, *,
                  edition: str = DEFAULT_EDITION, cells: ArrayLike | None = None,
                  territorial_sea_km: float = TERRITORIAL_SEA_KM) -> RegionShares:
    """Which cells hold a region's land or territorial sea, and how much (any `Region`).

    For a policy's regions (a built-in area such as Crimea, a drawn polygon, an admin-1
    region): land shares are exact as in `territory_shares`; the territorial sea is the sea
    whose nearest coast (among all the edition's coasts) lies in the region, within
    ``territorial_sea_km``: coast samples of the edition are labelled by whether they lie
    in the region (1 cm tolerance), so the region's sea stops at the equidistance line with
    every other coast, its own country's included. A region given as explicit cells keeps
    exactly those cells (land share 1, no sea).

    ``cells`` restricts the answer to those cells (any resolution; the fast path for a few
    cells); otherwise every cell of ``resolution`` (at most
    `MAX_REGION_SHARES_RESOLUTION`) that touches the region is found.

    >>> from skyfence.ground import builtin_region, latlng_to_cells
    >>> crimea = region_shares(builtin_region("Crimea"))
    >>> int(latlng_to_cells(45.36, 36.47)) in crimea.touching()  # Kerch, on the strait
    True
    """
    sea_km = _check_sea_km(territorial_sea_km)
    res = int(resolution)
    given = None if cells is None else np.unique(np.ravel(as_cells(cells)))
    if given is not None and given.size:
        res_all = np.unique(cell_resolution(given))
        res = int(res_all[0]) if res_all.size == 1 else -1
    elif not 0 <= res <= MAX_REGION_SHARES_RESOLUTION:
        raise InputError(f"resolution must be in [0, {MAX_REGION_SHARES_RESOLUTION}] to cover "
                         f"a whole region, got {resolution!r} (pass cells= for finer cells)",
                         "resolution")
    if region.cells is not None and region.cell_resolution == res:
        explicit = np.asarray(region.cells, dtype=np.uint64)
        if given is not None:
            explicit = np.intersect1d(explicit, given)
        return RegionShares(region.name, res, 0.0, explicit, np.ones(explicit.size),
                            np.zeros(explicit.size), explicit=True)
    if region.geometry.is_empty:
        raise RegionError("empty region: it has no area and no cells", region.name)
    from .cells import region_cells

    catalogue = get_catalogue(edition)
    geom = region.geometry
    pieces = np.array(_split(geom, _PIECE_VERTICES) if geom.geom_type == "Polygon" else
                      [p for g in shapely.get_parts(geom) for p in _split(g, _PIECE_VERTICES)],
                      dtype=object)
    shapely.prepare(pieces)
    index = (pieces, np.zeros(pieces.size, np.int32), shapely.STRtree(pieces), 1)
    if given is not None:
        land_cells = given
    else:
        land_cells = np.union1d(region_cells(region, res), _outline_cells(geom, res))
    land = _land_rows(land_cells, catalogue, index)
    out_land = dict(zip(land_cells[land[0]].tolist(), land[2].tolist(), strict=True))
    out_sea: dict[int, float] = {}
    if sea_km > 0:
        lat_s, lon_s, _ = _coast_samples(catalogue, _COAST_STEP_DEG)
        x0, y0, x1, y1 = geom.bounds
        margin = 0.01
        near = np.flatnonzero((lat_s >= y0 - margin) & (lat_s <= y1 + margin)
                              & (lon_s >= x0 - margin) & (lon_s <= x1 + margin))
        tol = shapely.buffer(geom, 1e-7)
        shapely.prepare(tol)
        mine = near[shapely.intersects_xy(tol, lon_s[near], lat_s[near])]
        labels = np.ones(lat_s.size, np.int32)
        labels[mine] = 0
        if mine.size and given is not None:
            cand = given
        elif mine.size:
            edge = _edge_km(res)
            k = math.ceil((sea_km + 2.5 * edge) / (math.sqrt(3.0) * 0.6 * edge))
            stride = max(1, int(0.4 * edge / (111.2 * _COAST_STEP_DEG)))
            seeds = np.unique(np.fromiter(
                (h3i.latlng_to_cell(a, o, res) for a, o in
                 zip(lat_s[mine][::stride], lon_s[mine][::stride], strict=True)),
                dtype=np.uint64))
            cand = np.unique(np.concatenate(
                [np.asarray(h3i.grid_disk(int(c), k), dtype=np.uint64) for c in seeds]))
        if mine.size:
            world = _land_rows(cand, catalogue)
            land_total = np.bincount(world[0], weights=world[2], minlength=cand.size)
            sea = _sea_rows(cand, land_total, world[3], catalogue, sea_km, labels, 2)
            for ci, lab, sh in zip(*sea, strict=True):
                if lab == 0 and sh > _SHARE_EPS:
                    out_sea[int(cand[ci])] = float(sh)
    found = np.array(sorted(set(out_land) | set(out_sea)), dtype=np.uint64)
    return RegionShares(region.name, res, sea_km, found,
                        np.array([out_land.get(int(c), 0.0) for c in found]),
                        np.array([out_sea.get(int(c), 0.0) for c in found]))
