"""Bridge from the region catalogue (`skyfence.ground`) to the policy's region resolver.

Region names in a policy resolve, in order, to: a region defined in the policy itself, a
built-in disputed area (``Crimea``, ``Sevastopol``), a country of the chosen Natural Earth
edition, a sub-national (admin-1) region such as ``Kherson`` (`skyfence.ground.admin1`).
A region's cells are the res-5 cells whose centre lies inside it
(`skyfence.ground.region_cells`). Countries have kind ``"country"`` (dish code
BLOCKED_COUNTRY), everything else kind ``"area"`` (BLOCKED_AREA).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import RegionError
from .rules import RESOLUTION, RegionResolver, RegionSpec, ResolvedRegion

__all__ = ["CatalogueResolver", "build_region", "catalogue_resolver", "check_region_name"]

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
    """

    def __init__(self, edition: str = "deu") -> None:
        self.edition = edition
        self._cache: dict[str, ResolvedRegion] = {}

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
            from ..ground import region_cells

            region, kind = self.region(name)
            cells = np.asarray(region_cells(region, RESOLUTION), dtype=np.uint64)
            self._cache[key] = ResolvedRegion(str(name), cells, kind, region)
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
    from ..ground import load_region, region_cells, region_from_geojson, region_from_wkt

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
    region = region.renamed(spec.name)
    if spec.buffer_km:
        region = region.buffer_km(spec.buffer_km, spec.name)
    return ResolvedRegion(spec.name, np.asarray(region_cells(region, RESOLUTION), np.uint64),
                          spec.resolved_kind, region)


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
    if cells.size == 0:
        raise RegionError(f"{text!r} holds no cell: the expression is empty", "expression")
    return None, cells.astype(np.uint64)
