"""The ground: regions (boundaries, custom polygons, H3 cell lists), service cells, terminals.

One module per job:

- `geometry`: lon/lat normalisation, WGS-84 areas and buffers, `Region` and its algebra;
- `formats`: GeoJSON, WKT and H3 cell-list files (file:line errors);
- `catalogue`: Natural Earth editions, `CountryCatalogue` (look-up, point location);
- `disputed`: built-in disputed areas (Crimea, Sevastopol) and `resolve_region`;
- `h3index`: the H3 cell parser (`parse_cell`, `parse_cells`) and index helpers;
- `cells`: H3 cell sets of regions, the global land set, `CellSet` arrays for kernels;
- `terminals`: named user terminals mapped to their resolution-5 cell.

Everything public is importable from ``skyfence.ground`` itself.
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
    fold_name,
    get_catalogue,
    load_catalogue,
    world_atlas_install_command,
)
from .cells import (
    DEFAULT_RESOLUTION,
    MAX_LAND_RESOLUTION,
    CellSet,
    all_cells,
    cell_areas_km2,
    cell_resolution,
    cell_set,
    cells_to_geometry,
    cells_to_latlng,
    cells_to_polygons,
    cells_to_str,
    land_cache_path,
    land_cell_set,
    land_cells,
    latlng_to_cells,
    region_cell_set,
    region_cells,
)
from .disputed import BUILTIN_REGIONS, builtin_region, resolve_region
from .formats import (
    MAX_REGION_FILE_BYTES,
    load_region,
    read_cells_file,
    read_text,
    region_from_cells,
    region_from_geojson,
    region_from_wkt,
)
from .geometry import (
    AUTHALIC_RADIUS_KM,
    GLOBE_AREA_KM2,
    MAX_BUFFER_KM,
    Region,
    buffer_km,
    check_region_extent,
    check_ring,
    check_valid_polygon,
    geodesic_area_km2,
    normalize_lonlat,
    normalized_polygon,
    polygonal,
    region_from_geometry,
    region_within_km,
    repair_polygon,
    split_at_antimeridian,
    unwrapped_polygon,
)
from .h3index import as_cells, parse_cell, parse_cells
from .terminals import (
    MAX_ALTITUDE_M,
    MIN_ALTITUDE_M,
    Terminal,
    TerminalSet,
    load_terminals_csv,
    parse_terminal,
    parse_terminals,
    terminal_set,
)

__all__ = [
    "AUTHALIC_RADIUS_KM",
    "BUILTIN_REGIONS",
    "DEFAULT_EDITION",
    "DEFAULT_RESOLUTION",
    "EDITIONS",
    "GLOBE_AREA_KM2",
    "MAX_ALTITUDE_M",
    "MAX_BUFFER_KM",
    "MAX_LAND_RESOLUTION",
    "MAX_REGION_FILE_BYTES",
    "MIN_ALTITUDE_M",
    "WORLD_ATLAS_VERSION",
    "CellSet",
    "Country",
    "CountryCatalogue",
    "EditionInfo",
    "Region",
    "Terminal",
    "TerminalSet",
    "all_cells",
    "as_cells",
    "buffer_km",
    "builtin_region",
    "cache_dir",
    "cell_areas_km2",
    "cell_resolution",
    "cell_set",
    "cells_to_geometry",
    "cells_to_latlng",
    "cells_to_polygons",
    "cells_to_str",
    "check_region_extent",
    "check_ring",
    "check_valid_polygon",
    "fold_name",
    "geodesic_area_km2",
    "get_catalogue",
    "land_cache_path",
    "land_cell_set",
    "land_cells",
    "latlng_to_cells",
    "load_catalogue",
    "load_region",
    "load_terminals_csv",
    "normalize_lonlat",
    "normalized_polygon",
    "parse_cell",
    "parse_cells",
    "parse_terminal",
    "parse_terminals",
    "polygonal",
    "read_cells_file",
    "read_text",
    "region_cell_set",
    "region_cells",
    "region_from_cells",
    "region_from_geojson",
    "region_from_geometry",
    "region_from_wkt",
    "region_within_km",
    "repair_polygon",
    "resolve_region",
    "split_at_antimeridian",
    "terminal_set",
    "unwrapped_polygon",
    "world_atlas_install_command",
]
