"""Region files and texts: GeoJSON, WKT and H3 cell lists, validated, with file:line errors.

``load_region`` picks the reader by suffix: ``.geojson`` (or ``.json`` holding GeoJSON) and
``.wkt`` give polygons; ``.csv`` and ``.json`` lists (or ``{"cells": [...]}``) give explicit H3
cell sets (`skyfence.ground.h3index.parse_cells` validates every cell). Errors name the file,
the feature index and the coordinate path, for example
``blocked.geojson: features[3].geometry.coordinates[0]: open ring ...``.
"""

from __future__ import annotations

import csv
import json
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ..errors import InputError, RegionError
from .cells import cells_to_geometry
from .geometry import Region, check_ring, check_valid_polygon, normalized_polygon
from .h3index import parse_cell, parse_cells

__all__ = [
    "MAX_REGION_FILE_BYTES",
    "check_file",
    "load_region",
    "read_cells_file",
    "read_text",
    "region_from_cells",
    "region_from_geojson",
    "region_from_wkt",
]



#: Deepest GeometryCollection nesting accepted (RFC 7946 advises against nesting at all).
_MAX_NESTING = 16


def _geojson_polygons(geom: Any, where: str, depth: int = 0) -> list[Polygon]:
    """Validated shapely polygons (unnormalised) from a GeoJSON geometry object."""
    if depth > _MAX_NESTING:
        raise RegionError(f"GeometryCollections nested deeper than {_MAX_NESTING}", where)
    if geom is None:
        raise RegionError("feature has no geometry (null)", where)
    if not isinstance(geom, dict) or "type" not in geom:
        raise RegionError("not a GeoJSON geometry object (needs 'type')", where)
    gtype = geom["type"]
    if gtype == "GeometryCollection":
        members = geom.get("geometries")
        if not isinstance(members, list):
            raise RegionError("GeometryCollection needs a 'geometries' list", where)
        if not members:
            raise RegionError("empty GeometryCollection (no geometries)", where)
        out: list[Polygon] = []
        for i, g in enumerate(members):
            out.extend(_geojson_polygons(g, f"{where}.geometries[{i}]", depth + 1))
        return out
    if gtype not in ("Polygon", "MultiPolygon"):
        if gtype in ("Point", "MultiPoint", "LineString", "MultiLineString"):
            raise RegionError(f"a {gtype} has no area: use a Polygon, or region_within_km to "
                              "buffer points and lines", where)
        raise RegionError(f"unknown GeoJSON geometry type {gtype!r}; expected Polygon, "
                          "MultiPolygon or GeometryCollection", where)
    coords = geom.get("coordinates")
    if not isinstance(coords, list):
        raise RegionError("missing 'coordinates' list", where)
    polys = [coords] if gtype == "Polygon" else coords
    if not polys or (gtype == "Polygon" and not coords):
        raise RegionError(f"empty {gtype}", where)
    out = []
    for p, rings in enumerate(polys):
        base = f"{where}.coordinates" + (f"[{p}]" if gtype == "MultiPolygon" else "")
        if not isinstance(rings, list) or not rings:
            raise RegionError("empty polygon (no rings)", base)
        arrays = []
        for r, ring in enumerate(rings):
            try:
                arr = np.asarray(ring, dtype=np.float64)
            except (TypeError, ValueError):
                raise RegionError("ring positions must be [lon, lat] numbers",
                                  f"{base}[{r}]") from None
            except OverflowError:  # an integer beyond the float range (1e400)
                raise RegionError("a ring position holds a number beyond the float range; "
                                  "positions are [lon, lat] degrees", f"{base}[{r}]") from None
            if arr.ndim != 2 or arr.shape[0] == 0:
                raise RegionError("empty or malformed ring", f"{base}[{r}]")
            check_ring(arr, f"{base}[{r}]")
            arrays.append(arr[:, :2])
        check_valid_polygon(arrays[0], arrays[1:], base)
        out.append(Polygon(arrays[0], arrays[1:]))
    return out


#: Largest region file read (bytes): far above Natural Earth's 1:10m admin-1 GeoJSON (~40 MB).
MAX_REGION_FILE_BYTES = 256 * 1024 * 1024


def check_file(path: str | Path, max_bytes: int = MAX_REGION_FILE_BYTES, *,
               error: type[InputError] = RegionError, missing: str = "file not found") -> None:
    """Refuse what is not a regular file of at most ``max_bytes``, with one-line ``error``.

    A directory, a FIFO that would block or a device is refused before anything is read;
    ``missing`` is the message for a path that does not exist.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(missing, str(p)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", str(p)) from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise error(f"cannot read: {kind}", str(p))
    if st.st_size > max_bytes:
        raise error(f"file too large: {st.st_size:,} bytes (limit {max_bytes:,})", str(p))


def read_text(path: str | Path, max_bytes: int = MAX_REGION_FILE_BYTES, *,
              error: type[InputError] = RegionError, missing: str = "file not found") -> str:
    """The UTF-8 text of a regular file, with one-line ``error`` (`RegionError`) naming the file.

    Refuses what `check_file` refuses, and text that is not UTF-8 (binary files).
    """
    p = Path(path)
    check_file(p, max_bytes, error=error, missing=missing)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", str(p)) from None
    if b"\x00" in data:
        raise error("binary file (NUL bytes): expected text", str(p))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", str(p)) from None


def _parse_json(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegionError(f"not valid JSON: {exc.msg} (line {exc.lineno})", label) from None
    except RecursionError:
        raise RegionError("JSON nested too deeply", label) from None


def _geojson_region(obj: Any, label: str, name: str | None) -> Region:
    if not isinstance(obj, dict) or "type" not in obj:
        raise RegionError("not a GeoJSON object (needs 'type')", label)
    polys: list[Polygon] = []
    default_name = Path(label).stem if label != "<geojson>" else "geojson"
    if obj["type"] == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise RegionError("FeatureCollection needs a 'features' list", label)
        if not feats:
            raise RegionError("empty FeatureCollection (no features)", label)
        for i, f in enumerate(feats):
            if not isinstance(f, dict) or f.get("type") != "Feature":
                raise RegionError("not a GeoJSON Feature", f"{label}: features[{i}]")
            polys.extend(_geojson_polygons(f.get("geometry"), f"{label}: features[{i}].geometry"))
    elif obj["type"] == "Feature":
        polys = _geojson_polygons(obj.get("geometry"), f"{label}: geometry")
        props = obj.get("properties") or {}
        if isinstance(props, dict) and props.get("name"):
            default_name = str(props["name"])
    else:
        polys = _geojson_polygons(obj, label)
    if not polys:
        raise RegionError("no polygon: the GeoJSON holds no area", label)
    geom = normalized_polygon(MultiPolygon(polys) if len(polys) > 1 else polys[0], label)
    return Region(name or default_name, geom, f"GeoJSON {label}")


def region_from_geojson(source: dict[str, Any] | str | Path, name: str | None = None) -> Region:
    """A region from GeoJSON: a FeatureCollection, a Feature or a bare geometry.

    All polygonal features are united. ``source`` is a parsed dict or a file path. Errors name
    the file, the feature index and the coordinate path, for example
    ``blocked.geojson: features[3].geometry.coordinates[0]: open ring ...``. A polygon that is a
    union of H3 cells gives back exactly those cells from `skyfence.ground.region_cells` (cell
    centres lie strictly inside their own cell).
    """
    if isinstance(source, dict):
        return _geojson_region(source, "<geojson>", name)
    path = Path(source)
    obj = _parse_json(read_text(path), str(path))
    return _geojson_region(obj, str(path), name)


def _shapely_polygons(geom: BaseGeometry, where: str) -> list[Polygon]:
    if geom.is_empty:
        raise RegionError("empty geometry", where)
    polys = []
    for k, part in enumerate(shapely.get_parts(geom)):
        if part.geom_type == "GeometryCollection":
            polys.extend(_shapely_polygons(part, where))
            continue
        if part.geom_type != "Polygon":
            raise RegionError(f"a {part.geom_type} has no area: use a POLYGON or MULTIPOLYGON, "
                              "or region_within_km to buffer points and lines", where)
        rings = [np.asarray(part.exterior.coords)] + [np.asarray(r.coords) for r in part.interiors]
        for j, ring in enumerate(rings):
            check_ring(ring, f"{where}: polygon {k}, ring {j}")
        check_valid_polygon(rings[0], rings[1:], f"{where}: polygon {k}")
        polys.append(part)
    return polys


def region_from_wkt(source: str | Path, name: str | None = None) -> Region:
    """A region from WKT: a ``.wkt`` file path or WKT text (one geometry, or one per line).

    Geometries on several lines are united; errors name the file and line.

    >>> r = region_from_wkt("POLYGON ((30 50, 31 50, 31 51, 30 51, 30 50))", "square")
    >>> r.name, round(r.area_km2)
    ('square', 7892)
    """
    text: str
    label: str
    if isinstance(source, Path) or (isinstance(source, str) and not re.match(
            r"\s*(MULTI)?POLYGON|\s*GEOMETRYCOLLECTION|\s*(MULTI)?(POINT|LINESTRING)",
            source, re.IGNORECASE)):
        path = Path(source)
        label = str(path)
        text = read_text(path)
    else:
        text, label = str(source), "<wkt>"
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines:
        raise RegionError("empty WKT (no geometry)", label)
    chunks = [(lines[0][0], text)] if len(lines) == 1 else None
    if chunks is None:
        try:
            shapely.from_wkt(text)
            chunks = [(lines[0][0], text)]
        except shapely.errors.GEOSException:
            chunks = lines
    polys: list[Polygon] = []
    for lineno, chunk in chunks:
        where = f"{label}:{lineno}"
        try:
            geom = shapely.from_wkt(chunk.strip())
        except shapely.errors.GEOSException as exc:
            msg = str(exc).split(":", 1)[-1].strip()
            if "closed" in msg.lower():
                msg = f"open ring: {msg}; rings must be closed (first point = last point)"
            raise RegionError(f"not valid WKT: {msg}", where) from None
        if geom is None:
            raise RegionError("empty WKT", where)
        polys.extend(_shapely_polygons(geom, where))
    geom = normalized_polygon(MultiPolygon(polys) if len(polys) > 1 else polys[0], label)
    return Region(name or (Path(label).stem if label != "<wkt>" else "wkt"), geom, f"WKT {label}")


_CELL_COLUMNS = ("h3_cell", "h3", "cell", "h3_index", "hex")


def read_cells_file(path: str | Path, column: str | None = None) -> tuple[np.ndarray, int]:
    """H3 cells from a JSON list, a JSON object with ``"cells"``, or a CSV column.

    CSV: the column ``column`` or the first of ``h3_cell, h3, cell, h3_index, hex``. Returns
    ``(sorted unique uint64 cells, resolution)``.
    """
    p = Path(path)
    label = str(p)
    text = read_text(p)
    if p.suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            raise RegionError("empty CSV", label)
        header = [h.strip() for h in rows[0]]
        wanted = [column] if column else list(_CELL_COLUMNS)
        idx = next((header.index(c) for c in wanted if c in header), None)
        if idx is None:
            raise RegionError(f"no cell column: looked for {', '.join(wanted)}; header is "
                              f"{', '.join(header)}", f"{label}:1")
        values = []
        for n, row in enumerate(rows[1:], start=2):
            if not row or not any(x.strip() for x in row):
                continue
            if idx >= len(row):
                raise RegionError(f"row has no column {header[idx]!r}", f"{label}:{n}")
            values.append(parse_cell(row[idx], f"{label}:{n}"))
        return parse_cells(values, label)
    obj = _parse_json(text, label)
    if isinstance(obj, dict):
        if "cells" not in obj:
            raise RegionError("JSON object has no 'cells' list", label)
        obj = obj["cells"]
    if not isinstance(obj, list):
        raise RegionError("expected a JSON list of H3 cells", label)
    cells, res = parse_cells(obj, f"{label}: cells")
    return cells, res


def region_from_cells(cells: Iterable[Any], name: str, source: str = "H3 cell list") -> Region:
    """A region made of explicit H3 cells (hex strings or integers, one resolution)."""
    arr, res = parse_cells(cells, name)
    return Region(name, cells_to_geometry(arr), source, arr, res)


def load_region(path: str | Path, name: str | None = None) -> Region:
    """A region from a file, by suffix.

    ``.geojson`` (or ``.json`` holding GeoJSON): polygons; ``.json`` holding a list or a
    ``{"cells": [...]}`` object: explicit H3 cells; ``.csv``: explicit H3 cells (column
    ``h3_cell``); ``.wkt``: WKT polygons.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    label = name or p.stem
    if suffix == ".wkt":
        return region_from_wkt(p, name)
    if suffix == ".csv":
        cells, res = read_cells_file(p)
        return Region(label, cells_to_geometry(cells), f"H3 cells {p}", cells, res)
    if suffix in (".geojson", ".json"):
        obj = _parse_json(read_text(p), str(p))
        if isinstance(obj, list) or (isinstance(obj, dict) and "cells" in obj
                                     and "type" not in obj):
            cells, res = read_cells_file(p)
            return Region(label, cells_to_geometry(cells), f"H3 cells {p}", cells, res)
        return _geojson_region(obj, str(p), name)
    raise RegionError(f"unknown region file type {suffix!r}; expected .geojson, .json, .wkt "
                      "or .csv", str(p))
