"""Bridge from the region catalogue (`skyfence.ground`) to the policy's region resolver.

Region names in a policy resolve, in order, to: a region defined in the policy itself, a
built-in disputed area (``Crimea``, ``Sevastopol``), a country of the chosen Natural Earth
edition, a sub-national (admin-1) region such as ``Kherson`` (`skyfence.ground.admin1`).
Countries have kind ``"country"`` (dish code BLOCKED_COUNTRY), everything else kind ``"area"``
(BLOCKED_AREA).

A region's cells are the res-5 cells that touch its land or its 12-nautical-mile territorial
sea, with the share of each cell's area that is the region's land (`TerritoryCells`). The
membership comes from a `TerritoryMembership` function (``(name, geometry) ->
TerritoryCells``). The default, `ground_membership`, is the ground package's
(`skyfence.ground.region_shares`): land shares are exact (cell polygons intersected with the
land), and the territorial sea is *sea* whose nearest coast is the region's, within 22.224 km
(so a landlocked country has none, and neither a neighbour's land nor the sea beyond the
equidistance line with another coast counts). `geometric_membership` is the older, faster
approximation (pass ``membership=geometric_membership`` to `CatalogueResolver`); its method,
stated with its error:

- a cell is in the zone when its centre lies within 22.224 km (12 nmi) + 8.54 km (the mean
  res-5 edge length, the largest centre-to-vertex distance of a hexagon) of the region's land,
  i.e. when some point of the cell is (approximately) within the territorial sea: it may
  include a cell up to one edge (~8.5 km) beyond the exact zone, never miss one; the zone is
  not cut at other land, so it also takes a neighbour's land cells within ~31 km of the
  border;
- it touches land when its centre lies within 8.54 km of the land (same approximation);
- the land share is the fraction of its resolution-7 children's centres (49 points) inside the
  land, computed where its 7 resolution-6 children disagree (else 0 or 1): about 2 % steps.

A drawn area (a policy's own GeoJSON / WKT / expression region, no territorial sea) is
exact: a cell belongs to it when their polygons overlap with positive area (a cell sharing
only an edge does not), with the overlap fraction as land share.

The land geometry is simplified to 0.02 deg (~2 km) before the geodesic buffers
(`skyfence.ground.buffer_km`); land shares use the unsimplified geometry. Results are cached
in memory per resolver and on disk in `skyfence.ground.cache_dir` (``policy-zone-*.npz``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h3
import numpy as np

from ..errors import RegionError
from .model import RESOLUTION, RegionResolver, RegionSpec, ResolvedRegion

__all__ = [
    "TERRITORIAL_SEA_KM",
    "CatalogueResolver",
    "TerritoryCells",
    "TerritoryMembership",
    "build_region",
    "catalogue_resolver",
    "check_region_name",
    "geometric_membership",
    "ground_membership",
]

#: The territorial sea: 12 nautical miles (UNCLOS art. 3) x 1.852 km.
TERRITORIAL_SEA_KM = 22.224
#: Mean edge length of an H3 res-5 cell, km (H3 documentation, table of cell statistics): a
#: hexagon's vertices are one edge length from its centre.
_RES5_EDGE_KM = 8.544
_SIMPLIFY_DEG = 0.02
_ZONE_FORMAT = 2
_GROUND_FORMAT = 1


@dataclass(frozen=True)
class TerritoryCells:
    """The res-5 cells a territory touches (sorted uint64) and each one's land share."""

    cells: np.ndarray
    land_share: np.ndarray


TerritoryMembership = Callable[[str, Any], TerritoryCells]
"""``(name, shapely geometry in lon/lat degrees) -> TerritoryCells``: the cells touching the
territory's land or 12-nm sea. The ground package's cell-membership table can be wrapped as
one and given to `CatalogueResolver`."""


def geometric_membership(name: str, geometry: Any, *, sea_km: float = TERRITORIAL_SEA_KM,
                         use_cache: bool = True) -> TerritoryCells:
    """Cells touching ``geometry``'s land or its ``sea_km`` zone, with land shares.

    See the module docstring for the method and its error. ``name`` labels the disk cache.
    """
    import shapely

    from ..ground import Region, buffer_km, cache_dir, region_cells

    wkb = shapely.to_wkb(geometry)
    method = f"{sea_km}:{_ZONE_FORMAT}" if sea_km > 0 else "exact-overlap:1"
    key = hashlib.sha1(wkb + method.encode()).hexdigest()[:16]
    path = cache_dir() / f"policy-zone-v{_ZONE_FORMAT}-{key}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path) as z:
                return TerritoryCells(z["cells"].astype(np.uint64),
                                      z["land_share"].astype(np.float32))
        except (OSError, ValueError, KeyError):
            pass
    if sea_km <= 0:
        out = _exact_overlap(name, geometry)
        _save(path, out, use_cache)
        return out
    land = shapely.make_valid(shapely.simplify(geometry, _SIMPLIFY_DEG, preserve_topology=True))
    zone = buffer_km(land, sea_km + _RES5_EDGE_KM)
    cells = np.asarray(region_cells(Region(name, zone, "zone"), RESOLUTION), dtype=np.uint64)
    share = np.zeros(cells.size, dtype=np.float32)
    if cells.size:
        near = buffer_km(land, _RES5_EDGE_KM)
        ll = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
        touch = shapely.contains_xy(near, ll[:, 1], ll[:, 0])
        # centres deeper than one edge inside the land: the whole cell is land
        try:
            inner = buffer_km(land, -_RES5_EDGE_KM)
            deep = touch & shapely.contains_xy(inner, ll[:, 1], ll[:, 0])
        except RegionError:
            deep = np.zeros(cells.size, dtype=bool)
        share[deep] = 1.0
        geom = shapely.make_valid(geometry)
        shapely.prepare(geom)
        for i in np.flatnonzero(touch & ~deep):
            share[i] = _land_share(int(cells[i]), geom)
        # a cell near the land whose samples all miss it still touches it (thin islands)
        share[touch & (share == 0)] = 1.0 / 98.0
    out = TerritoryCells(cells, share)
    _save(path, out, use_cache)
    return out


def ground_membership(edition: str = "deu", *, use_cache: bool = True) -> TerritoryMembership:
    """The ground package's membership (`skyfence.ground.region_shares`) for ``edition``.

    A region's cells are those holding any of its land (exact polygon overlap with positive
    area) or of its territorial sea (sea whose nearest coast of the edition is the region's,
    within 22.224 km); ``land_share`` is the exact share of each cell's area that is the
    region's land. Results are cached on disk per geometry and edition
    (``policy-zone-ground-*.npz`` in `skyfence.ground.cache_dir`).
    """

    def membership(name: str, geometry: Any) -> TerritoryCells:
        import shapely

        from ..ground import Region, cache_dir, region_shares

        method = f"ground:{edition}:{TERRITORIAL_SEA_KM}:{_GROUND_FORMAT}"
        key = hashlib.sha1(shapely.to_wkb(geometry) + method.encode()).hexdigest()[:16]
        path = cache_dir() / f"policy-zone-ground-v{_GROUND_FORMAT}-{key}.npz"
        if use_cache and path.is_file():
            try:
                with np.load(path) as z:
                    return TerritoryCells(z["cells"].astype(np.uint64),
                                          z["land_share"].astype(np.float32))
            except (OSError, ValueError, KeyError):
                pass
        shares = region_shares(Region(name, geometry, "zone"), RESOLUTION, edition=edition,
                               territorial_sea_km=TERRITORIAL_SEA_KM)
        cells = np.asarray(shares.touching(), dtype=np.uint64)
        land, _ = shares.share(cells)
        out = TerritoryCells(cells, np.clip(land, 0.0, 1.0).astype(np.float32))
        _save(path, out, use_cache)
        return out

    return membership


def _save(path: Any, tc: TerritoryCells, use_cache: bool) -> None:
    if not use_cache:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, cells=tc.cells, land_share=tc.land_share)
        tmp.replace(path)
    except OSError:
        pass


#: Overlap below this fraction of a cell's area counts as touching only at the edge.
_MIN_OVERLAP = 1e-4


def _exact_overlap(name: str, geometry: Any) -> TerritoryCells:
    """Cells overlapping a drawn area with positive area, and the overlap fraction (exact
    polygon intersection in lon/lat; a cell sharing only an edge does not count)."""
    import shapely

    from ..ground import Region, buffer_km, region_cells

    geom = shapely.make_valid(geometry)
    cand = np.asarray(region_cells(Region(name, buffer_km(geom, _RES5_EDGE_KM), "zone"),
                                   RESOLUTION), dtype=np.uint64)
    if cand.size == 0:
        return TerritoryCells(cand, np.zeros(0, np.float32))
    polys = []
    for c in cand:
        ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(c)))]
        lng = np.array([p[0] for p in ring])
        if lng.max() - lng.min() > 180.0:  # across the antimeridian: unwrap to the east
            ring = [((x + 360.0) if x < 0 else x, y) for x, y in ring]
        polys.append(shapely.Polygon(ring))
    arr = np.array(polys, dtype=object)
    frac = shapely.area(shapely.intersection(arr, geom)) / shapely.area(arr)
    keep = frac > _MIN_OVERLAP
    return TerritoryCells(cand[keep], np.clip(frac[keep], 0.0, 1.0).astype(np.float32))


def _land_share(cell: int, geom: Any) -> float:
    import shapely

    text = h3.int_to_str(cell)
    kids = h3.cell_to_children(text, RESOLUTION + 1)
    ll = np.array([h3.cell_to_latlng(k) for k in kids])
    inside = shapely.contains_xy(geom, ll[:, 1], ll[:, 0])
    if inside.all() or not inside.any():
        return float(inside.all())
    g7 = h3.cell_to_children(text, RESOLUTION + 2)
    ll = np.array([h3.cell_to_latlng(k) for k in g7])
    return float(np.mean(shapely.contains_xy(geom, ll[:, 1], ll[:, 0])))

_FILE_SUFFIX = re.compile(r"\.(geojson|json|wkt|csv)$", re.IGNORECASE)
_WKT_START = re.compile(
    r"^\s*(MULTI)?POLYGON|^\s*GEOMETRYCOLLECTION|^\s*(MULTI)?(POINT|LINESTRING)", re.IGNORECASE)
_OPERATOR = re.compile(r"\s+([+\-&])\s+")


class CatalogueResolver:
    """`RegionResolver` over the built-in areas and a Natural Earth edition (cells cached).

    Parameters
    ----------
    edition : str
        ``"deu"`` (German point of view: Crimea in Ukraine, Taiwan on its own) or
        ``"default"`` (de facto control: Crimea in Russia); see `skyfence.ground.regions`.
    membership : TerritoryMembership, optional
        Cells of a territory or area with land shares; default `ground_membership`.
    """

    def __init__(self, edition: str = "deu",
                 membership: TerritoryMembership | None = None) -> None:
        self.edition = edition
        self.membership = membership or ground_membership(edition)
        self._cache: dict[str, ResolvedRegion] = {}

    def territory_names(self) -> list[str]:
        """Every territory of the edition, by a name that resolves to it (ADM0_A3 or name)."""
        from ..ground import get_catalogue

        cat = get_catalogue(self.edition)
        return [c.adm0_a3 or c.name for c in cat]

    def region(self, name: str) -> tuple[Any, str]:
        """The `skyfence.ground.Region` for ``name`` and its kind (``country`` or ``area``)."""
        from ..ground import BUILTIN_REGIONS, builtin_region, get_catalogue

        text = str(name).strip()
        if not text:
            raise RegionError("empty region name", "region")
        if _FILE_SUFFIX.search(text):
            raise RegionError(f"{text!r} looks like a file; define it under [[regions]] with "
                              "file = ... and refer to it by name", "region")
        if text.casefold() in {k.casefold() for k in BUILTIN_REGIONS}:
            return builtin_region(text), "area"
        from ..ground import resolve_region

        catalogue = get_catalogue(self.edition)
        if text in catalogue:
            return catalogue.get(text), "country"
        # An admin-1 region (oblast, state) when known; else resolve_region raises with
        # close matches from the catalogue and built-ins.
        return resolve_region(text, edition=self.edition), "area"

    def check(self, name: str) -> None:
        """Raise `RegionError` (with close matches) when ``name`` is unknown; no cells built."""
        self.region(name)

    def __call__(self, name: str) -> ResolvedRegion:
        key = str(name).strip().casefold()
        if key not in self._cache:
            region, kind = self.region(name)
            tc = self.membership(region.name, region.geometry)
            self._cache[key] = ResolvedRegion(region.name, np.asarray(tc.cells, np.uint64),
                                              kind, region,
                                              np.asarray(tc.land_share, np.float32))
        return self._cache[key]


_RESOLVERS: dict[str, CatalogueResolver] = {}


def catalogue_resolver(edition: str = "deu") -> CatalogueResolver:
    """The shared `CatalogueResolver` of an edition (one per process, cells cached)."""
    if edition not in _RESOLVERS:
        from ..ground import get_catalogue

        get_catalogue(edition)  # validates the edition name
        _RESOLVERS[edition] = CatalogueResolver(edition)
    return _RESOLVERS[edition]


def check_region_name(name: str, edition: str = "deu") -> None:
    """Raise `RegionError` with suggestions when ``name`` is not a known region."""
    catalogue_resolver(edition).check(name)


def build_region(spec: RegionSpec, resolver: RegionResolver) -> ResolvedRegion:
    """Cells of a region defined in a policy: GeoJSON, WKT, a file or an expression.

    Geometry goes through `skyfence.ground`'s validating loaders (open rings, self-
    intersections and out-of-range coordinates raise `RegionError` naming the position).
    An ``expression`` such as ``"Ukraine - Crimea"`` or ``"Poland + Lithuania"`` combines
    names left to right with `` + `` (union), `` - `` (difference) and `` & ``
    (intersection); operators need spaces around them (names may hold hyphens). It works on
    geometries when every operand has one, else on cell sets. ``buffer_km`` needs geometry.
    """
    from ..ground import load_region, region_from_geojson, region_from_wkt

    if spec.geojson is not None:
        region = region_from_geojson(spec.geojson, spec.name)
    elif spec.wkt is not None:
        if not _WKT_START.match(spec.wkt):
            raise RegionError(f"not WKT: expected POLYGON or MULTIPOLYGON, got "
                              f"{spec.wkt[:40]!r}", "wkt")
        region = region_from_wkt(spec.wkt, spec.name)
    elif spec.file is not None:
        region = load_region(spec.file, spec.name)
    else:
        assert spec.expression is not None
        region, cells = _expression(spec.expression, resolver)
        if region is None:
            if spec.buffer_km:
                raise RegionError("buffer_km needs geometry, but an operand is a cell list",
                                  "buffer_km")
            return ResolvedRegion(spec.name, cells, spec.resolved_kind)
    region = region.renamed(spec.name)  # errors below name the policy's region
    if spec.buffer_km:
        region = region.buffer_km(spec.buffer_km, spec.name)
    membership = getattr(resolver, "membership", None) or getattr(
        getattr(resolver, "_outer", None), "membership", None)
    if membership is None:
        # a drawn area (no coast of its own): the cells touching it, no territorial sea
        tc = geometric_membership(spec.name, region.geometry, sea_km=0.0)
    else:
        tc = membership(spec.name, region.geometry) if spec.resolved_kind == "country" else \
            geometric_membership(spec.name, region.geometry, sea_km=0.0)
    return ResolvedRegion(spec.name, tc.cells, spec.resolved_kind, region, tc.land_share)


def _expression(text: str, resolver: RegionResolver) -> tuple[Any, np.ndarray]:
    parts = _OPERATOR.split(text.strip())
    names = parts[0::2]
    ops = parts[1::2]
    if any(not n.strip() for n in names):
        raise RegionError(f"cannot read region expression {text!r}; write names joined by "
                          "' + ', ' - ' or ' & ', e.g. 'Ukraine - Crimea'", "expression")
    operands = []
    for n in names:
        try:
            operands.append(resolver(n.strip()))
        except RegionError as exc:
            raise RegionError(exc.message, f"expression {text!r}") from None
    if all(o.region is not None for o in operands):
        region = operands[0].region
        for op, o in zip(ops, operands[1:], strict=True):
            region = (region | o.region if op == "+" else region - o.region if op == "-"
                      else region & o.region)
        return region, np.zeros(0, np.uint64)
    cells = operands[0].cells
    for op, o in zip(ops, operands[1:], strict=True):
        cells = (np.union1d(cells, o.cells) if op == "+" else np.setdiff1d(cells, o.cells)
                 if op == "-" else np.intersect1d(cells, o.cells))
    return None, cells.astype(np.uint64)
