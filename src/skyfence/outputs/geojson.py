"""GeoJSON: H3 cells with their metrics as a FeatureCollection (RFC 7946).

Each cell is its hexagon (or pentagon) from ``h3.cell_to_boundary``, in lon/lat degrees; a
cell that straddles the antimeridian is cut there into a two-part MultiPolygon and a cell over
a pole is closed through the pole (`skyfence.ground.cells.cells_to_polygons`), as RFC 7946
section 3.1.9 asks. Exterior rings are counter-clockwise (RFC 7946 section 3.1.6).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike
from shapely.geometry import mapping

from ..errors import InputError
from ..fsio import atomic_open
from ..ground import cells_to_polygons, cells_to_str

__all__ = ["cells_feature_collection", "write_geojson"]


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if not math.isfinite(f) else f
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def cells_feature_collection(
    cells: ArrayLike,
    properties: Mapping[str, ArrayLike] | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    polygons: np.ndarray | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of H3 cells with per-cell properties.

    Parameters
    ----------
    cells : array_like of uint64
        H3 cell indexes.
    properties : mapping of str to array_like, optional
        One value per cell for each property (NaN and ``pd.NA`` become ``null``).
    metadata : mapping, optional
        Extra top-level members (for example the time window).
    polygons : array of shapely geometries, optional
        The cells' outlines when already computed (`skyfence.ground.cells_to_polygons`).

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "features": [...]}``; each feature carries
        ``h3_cell`` (hex string) and the given properties.
    """
    arr = np.asarray(cells, dtype=np.uint64).ravel()
    props = {k: np.asarray(v, dtype=object).ravel() for k, v in (properties or {}).items()}
    for k, v in props.items():
        if v.size != arr.size:
            raise InputError(f"property {k!r} has {v.size} values for {arr.size} cells", k)
    if polygons is not None and len(polygons) != arr.size:
        raise InputError(f"need one polygon per cell ({arr.size}), got {len(polygons)}",
                         "polygons")
    raw: Any = polygons if polygons is not None else (
        cells_to_polygons(arr) if arr.size else [])
    polys: Any = shapely.orient_polygons(raw) if arr.size else []
    names = cells_to_str(arr) if arr.size else []
    features = []
    for i in range(arr.size):
        p: dict[str, Any] = {"h3_cell": names[i]}
        for k, v in props.items():
            val = v[i]
            try:
                missing = val is None or bool(val != val)  # NaN and pd.NA
            except TypeError:
                missing = True
            p[k] = None if missing else _json_value(val)
        features.append({"type": "Feature", "geometry": mapping(polys[i]), "properties": p})
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    out.update(dict(metadata or {}))
    return out


def write_geojson(collection: Mapping[str, Any], path: str | Path) -> Path:
    """Write a FeatureCollection to ``path`` (``.geojson`` or ``.json``); returns the path."""
    p = Path(path)
    if p.suffix.lower() not in (".geojson", ".json"):
        raise InputError(f"GeoJSON file must end in .geojson, got {p.name!r}", str(p))
    with atomic_open(p, "w", str(p)) as fh:
        json.dump(collection, fh, separators=(",", ":"), allow_nan=False)
    return p
