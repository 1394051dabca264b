"""Regions: one import point for boundaries, files, algebra and built-in areas.

The work is done by the modules of `skyfence.ground`, one job each:

- `skyfence.ground.geometry`: lon/lat normalisation, WGS-84 areas and buffers, `Region` and
  its algebra;
- `skyfence.ground.formats`: GeoJSON, WKT and H3 cell-list files;
- `skyfence.ground.catalogue`: Natural Earth editions and the `CountryCatalogue`;
- `skyfence.ground.disputed`: built-in disputed areas and `resolve_region`;
- `skyfence.ground.h3index`: the H3 cell parser.

This module re-exports their public names for code written against the earlier layout.
"""

from __future__ import annotations

from ._cache import cache_dir
from .catalogue import (
    DEFAULT_EDITION,
    EDITIONS,
    WORLD_ATLAS_VERSION,
    Country,
    CountryCatalogue,
    EditionInfo,
    get_catalogue,
    world_atlas_install_command,
)
from .disputed import BUILTIN_REGIONS, builtin_region, resolve_region
from .formats import (
    load_region,
    read_cells_file,
    region_from_cells,
    region_from_geojson,
    region_from_wkt,
)
from .geometry import (
    AUTHALIC_RADIUS_KM,
    Region,
    buffer_km,
    geodesic_area_km2,
    normalize_lonlat,
    region_from_geometry,
    region_within_km,
)
from .h3index import parse_cells

__all__ = [
    "AUTHALIC_RADIUS_KM",
    "BUILTIN_REGIONS",
    "DEFAULT_EDITION",
    "EDITIONS",
    "WORLD_ATLAS_VERSION",
    "Country",
    "CountryCatalogue",
    "EditionInfo",
    "Region",
    "buffer_km",
    "builtin_region",
    "cache_dir",
    "geodesic_area_km2",
    "get_catalogue",
    "load_region",
    "normalize_lonlat",
    "parse_cells",
    "read_cells_file",
    "region_from_cells",
    "region_from_geojson",
    "region_from_geometry",
    "region_from_wkt",
    "region_within_km",
    "resolve_region",
    "world_atlas_install_command",
]
