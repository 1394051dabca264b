"""Terminal files: CSV, GeoJSON and Parquet, read with file:line errors and written back.

One row (or feature) per terminal, or one per track point with rows sharing an ``id`` (or a
``name`` when there is no id) and a time column: those rows make the terminal's `Track`.

Columns (case-insensitive; the first name is the one written)
-------------------------------------------------------------
=====================  ====================================================================
``id``                 terminal id (``terminal_id``); names the terminal when ``name`` is
                       absent
``name``               display name (``terminal``); defaults to the id
``lat_deg``            WGS-84 latitude, deg (``lat``, ``latitude``)
``lon_deg``            WGS-84 longitude, deg (``lon``, ``lng``, ``longitude``)
``alt_m``              height above the ellipsoid, m (``altitude_m``, ``altitude``)
``speed_kmh``          stated ground speed, km/h (fixed terminals only: a track has its own)
``owner``              owner or account (``account``)
``registered``         true/false, yes/no, 1/0
``registered_from``    registration valid from, ISO 8601 UTC
``registered_until``   registration valid until (exclusive), ISO 8601 UTC
``t_utc``              time of a track point, ISO 8601 UTC (``time``, ``timestamp``,
                       ``datetime``)
=====================  ====================================================================

Attributes (name, owner, registration) may be repeated on every row of a track or given on
one; two different values for one terminal are an error naming both lines. Unknown columns
are errors (a misspelt ``registerd`` must not be ignored). Rows of a track may come in any
order; two rows with the same time are an error.

GeoJSON: a FeatureCollection (or one Feature) of ``Point`` features (``[lon, lat]`` or
``[lon, lat, alt_m]``) with the columns above as properties (``t_utc`` on track points), or
``LineString`` / ``MultiPoint`` features whose ``properties.times`` (or ``coordTimes``, as
written by GPX converters) holds one time per coordinate.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, SiteError
from ..fsio import atomic_output, atomic_write_text
from ..timeutil import format_utc, format_utc_array, parse_time
from .formats import check_file, read_text
from .terminals import (
    Terminal,
    Track,
    check_unique_names,
    parse_flag,
)

__all__ = [
    "MAX_TERMINAL_FILE_BYTES",
    "TERMINAL_COLUMNS",
    "load_terminals",
    "load_terminals_csv",
    "load_terminals_geojson",
    "load_terminals_parquet",
    "terminals_to_frame",
    "write_terminals",
]

#: Largest terminal file read, bytes.
MAX_TERMINAL_FILE_BYTES = 1024 * 1024 * 1024
#: Canonical columns and the names accepted for each (see the module docstring).
TERMINAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "terminal_id"),
    "name": ("name", "terminal"),
    "lat_deg": ("lat_deg", "lat", "latitude"),
    "lon_deg": ("lon_deg", "lon", "lng", "longitude"),
    "alt_m": ("alt_m", "altitude_m", "altitude"),
    "speed_kmh": ("speed_kmh",),
    "owner": ("owner", "account"),
    "registered": ("registered",),
    "registered_from": ("registered_from",),
    "registered_until": ("registered_until",),
    "t_utc": ("t_utc", "time", "timestamp", "datetime"),
}
_ALIASES = {alias: key for key, names in TERMINAL_COLUMNS.items() for alias in names}
_ATTRIBUTES = ("name", "owner", "registered", "registered_from", "registered_until")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if np.ndim(value) == 0 else False
    except (TypeError, ValueError):
        return False


def _check_file(path: Path) -> None:
    check_file(path, MAX_TERMINAL_FILE_BYTES, error=SiteError, missing="terminal file not found")


def _read_text(path: Path) -> str:
    return read_text(path, MAX_TERMINAL_FILE_BYTES, error=SiteError,
                     missing="terminal file not found")


def _canonical_header(header: Sequence[Any], where: str) -> list[str]:
    out = []
    for h in header:
        key = _ALIASES.get(str(h).strip().lower())
        if key is None:
            known = ", ".join(TERMINAL_COLUMNS)
            raise SiteError(f"unknown column {str(h).strip()!r}; known columns: {known}", where)
        if key in out:
            raise SiteError(f"column {key} given twice (as {str(h).strip()!r})", where)
        out.append(key)
    if "lat_deg" not in out or "lon_deg" not in out or not ({"id", "name"} & set(out)):
        need = [k for k in ("id or name", "lat_deg", "lon_deg")
                if (k == "id or name" and not {"id", "name"} & set(out))
                or (k != "id or name" and k not in out)]
        raise SiteError(f"missing column(s) {', '.join(need)}; header is "
                        f"{', '.join(str(h).strip() for h in header)}", where)
    return out


def _number(value: Any, field: str, where: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise SiteError(f"{field} must be a number, got {value!r}", where)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip()
    try:
        if "_" in text:
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise SiteError(f"{field} {text!r} is not a number", where) from None


def _terminals_from_records(records: Iterable[tuple[str, dict[str, Any]]], label: str
                            ) -> list[Terminal]:
    """Terminals from (where, {canonical column: value}) records; groups rows into tracks."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for where, rec in records:
        rec = {k: v for k, v in rec.items() if not _missing(v)}
        key = rec.get("id", rec.get("name"))
        if key is None:
            raise SiteError("row has neither an id nor a name", where)
        groups.setdefault(str(key).strip(), []).append((where, rec))
    if not groups:
        raise SiteError("no terminals in file", label)
    out = []
    for key, rows in groups.items():
        out.append(_terminal_from_rows(key, rows))
    check_unique_names(out, label)
    return out


def _terminal_from_rows(key: str, rows: list[tuple[str, dict[str, Any]]]) -> Terminal:
    attrs: dict[str, tuple[Any, str]] = {}
    for where, rec in rows:
        for name in (*_ATTRIBUTES, "id"):
            if name not in rec:
                continue
            value = rec[name]
            if name == "registered":
                value = parse_flag(value, "registered", where)
            elif isinstance(value, str):
                value = value.strip()
            if name in attrs and not _same(attrs[name][0], value):
                raise SiteError(f"{name} {value!r} differs from {attrs[name][0]!r} given at "
                                f"{attrs[name][1]} for terminal {key!r}", where)
            attrs.setdefault(name, (value, where))
    first = rows[0][0]
    timed = [r for r in rows if "t_utc" in r[1]]
    if timed and len(timed) != len(rows):
        where = next(w for w, r in rows if "t_utc" not in r)
        raise SiteError(f"terminal {key!r} has track rows with times; this row has none",
                        where)
    if not timed and len(rows) > 1:
        raise SiteError(f"terminal {key!r} appears again without a time (first at {first}); "
                        "give t_utc on every row of a track", rows[1][0])
    kwargs = {name: attrs[name][0] for name in ("owner", "registered", "registered_from",
                                                 "registered_until") if name in attrs}
    name = attrs.get("name", attrs.get("id", (key, first)))[0]
    ident = attrs["id"][0] if "id" in attrs else None
    try:
        if not timed:
            where, rec = rows[0]
            lat = _number(rec.get("lat_deg"), "lat_deg", where) if "lat_deg" in rec else None
            lon = _number(rec.get("lon_deg"), "lon_deg", where) if "lon_deg" in rec else None
            if lat is None or lon is None:
                raise SiteError("lat_deg and lon_deg are required", where)
            alt = _number(rec["alt_m"], "alt_m", where) if "alt_m" in rec else 0.0
            speed = _number(rec["speed_kmh"], "speed_kmh", where) if "speed_kmh" in rec \
                else None
            try:
                return Terminal(name, lat, lon, alt, speed, ident, **kwargs)
            except SiteError as exc:
                raise SiteError(exc.message, where) from None
        points = []
        for where, rec in rows:
            if "speed_kmh" in rec:
                raise SiteError("speed_kmh on a track row: a moving terminal's speed comes "
                                "from its track", where)
            if "lat_deg" not in rec or "lon_deg" not in rec:
                raise SiteError("lat_deg and lon_deg are required on every track row", where)
            try:
                t = parse_time(rec["t_utc"], "t_utc")
            except InputError as exc:
                raise SiteError(f"t_utc: {exc.message}", where) from None
            points.append((t, _number(rec["lat_deg"], "lat_deg", where),
                           _number(rec["lon_deg"], "lon_deg", where),
                           _number(rec["alt_m"], "alt_m", where) if "alt_m" in rec else 0.0,
                           where))
        points.sort(key=lambda p: p[0])
        for a, b in itertools.pairwise(points):
            if a[0] == b[0]:
                raise SiteError(f"terminal {key!r} has two track points at {format_utc(a[0])} "
                                f"(also at {a[4]})", b[4])
        track = Track.from_points(np.array([p[0] for p in points], dtype="datetime64[ns]"),
                                  [p[1] for p in points], [p[2] for p in points],
                                  [p[3] for p in points], labels=[p[4] for p in points])
        try:
            return Terminal.moving(name, track, id=ident, **kwargs)
        except SiteError as exc:
            raise SiteError(exc.message, first) from None
    except SiteError as exc:
        if exc.where is None:
            raise SiteError(exc.message, first) from None
        raise


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (np.datetime64, str)) or isinstance(b, (np.datetime64, str)):
        try:
            return bool(parse_time(a) == parse_time(b))
        except InputError:  # not times: compare as text
            return str(a).strip() == str(b).strip()
    return bool(a == b)


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def load_terminals_csv(path: str | Path) -> list[Terminal]:
    """Terminals from a CSV file with a header (see the module docstring for columns).

    Errors name the file and line (``terminals.csv:12: latitude 95 is outside ...``).
    """
    p = Path(path)
    text = _read_text(p)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SiteError(f"not valid CSV: {exc}", f"{p}:1") from None
    if header is None or not any(h.strip() for h in header):
        raise SiteError("empty CSV: expected a header such as id,lat_deg,lon_deg", str(p))
    cols = _canonical_header(header, f"{p}:1")

    def records() -> Iterable[tuple[str, dict[str, Any]]]:
        try:
            for row in reader:
                where = f"{p}:{reader.line_num}"
                if not row or not any(c.strip() for c in row):
                    continue
                if len(row) != len(cols):
                    raise SiteError(f"expected {len(cols)} fields, got {len(row)}", where)
                yield where, dict(zip(cols, row, strict=True))
        except csv.Error as exc:
            raise SiteError(f"not valid CSV: {exc}", f"{p}:{reader.line_num}") from None

    return _terminals_from_records(records(), str(p))


def load_terminals_parquet(path: str | Path) -> list[Terminal]:
    """Terminals from a Parquet file (same columns; errors name ``file: row N``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    _check_file(p)
    try:
        table = pq.read_table(p)
    except (OSError, pa.ArrowException) as exc:
        raise SiteError(f"not a readable Parquet file: {exc}", str(p)) from None
    cols = _canonical_header(table.column_names, str(p))
    data = {c: table.column(i).to_pylist() for i, c in enumerate(cols)}
    n = table.num_rows

    def records() -> Iterable[tuple[str, dict[str, Any]]]:
        for i in range(n):
            yield f"{p}: row {i + 1}", {c: _native(data[c][i]) for c in cols}

    return _terminals_from_records(records(), str(p))


def _native(value: Any) -> Any:
    """Parquet values as the readers expect: aware datetimes to UTC datetime64."""
    import datetime as dt

    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return np.datetime64(value, "ns")
    return value


def load_terminals_geojson(path: str | Path) -> list[Terminal]:
    """Terminals from GeoJSON (Points, or LineStrings / MultiPoints with per-point times)."""
    p = Path(path)
    label = str(p)
    text = _read_text(p)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SiteError(f"not valid JSON: {exc.msg} (line {exc.lineno})", label) from None
    except RecursionError:
        raise SiteError("JSON nested too deeply", label) from None
    feats: Any
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        feats, base = [obj], f"{label}: feature"
    elif isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        feats = obj.get("features")
        base = f"{label}: features"
        if not isinstance(feats, list):
            raise SiteError("FeatureCollection needs a 'features' list", label)
    else:
        raise SiteError("expected a GeoJSON FeatureCollection or Feature", label)

    def records() -> Iterable[tuple[str, dict[str, Any]]]:
        for i, f in enumerate(feats):
            where = f"{base}[{i}]" if len(feats) > 1 or base.endswith("features") else base
            if not isinstance(f, dict) or f.get("type") != "Feature":
                raise SiteError("not a GeoJSON Feature", where)
            props = f.get("properties") or {}
            if not isinstance(props, dict):
                raise SiteError("properties must be an object", where)
            geom = f.get("geometry")
            if not isinstance(geom, dict):
                raise SiteError("feature has no geometry", where)
            attrs = {}
            times = None
            for k, v in props.items():
                if k in ("times", "coordTimes"):
                    times = v
                    continue
                key = _ALIASES.get(str(k).strip().lower())
                if key is None:
                    raise SiteError(f"unknown property {k!r}; known: "
                                    f"{', '.join(TERMINAL_COLUMNS)}, times", where)
                attrs[key] = v
            gtype, coords = geom.get("type"), geom.get("coordinates")
            if gtype == "Point":
                lon, lat, alt = _position(coords, f"{where}.geometry.coordinates")
                rec = {**attrs, "lat_deg": lat, "lon_deg": lon}
                if alt is not None:
                    rec["alt_m"] = alt
                yield where, rec
            elif gtype in ("LineString", "MultiPoint"):
                if not isinstance(coords, list) or not coords:
                    raise SiteError(f"{gtype} needs coordinates", f"{where}.geometry")
                if not isinstance(times, list) or len(times) != len(coords):
                    raise SiteError(f"a {gtype} track needs properties.times with one time "
                                    f"per coordinate ({len(coords)})", f"{where}.properties")
                for j, (c, t) in enumerate(zip(coords, times, strict=True)):
                    lon, lat, alt = _position(c, f"{where}.geometry.coordinates[{j}]")
                    rec = {**attrs, "lat_deg": lat, "lon_deg": lon, "t_utc": t}
                    if alt is not None:
                        rec["alt_m"] = alt
                    yield f"{where}.geometry.coordinates[{j}]", rec
            else:
                raise SiteError(f"geometry {gtype!r} is not a terminal: use Point, LineString "
                                "or MultiPoint", f"{where}.geometry")

    return _terminals_from_records(records(), label)


def _position(coords: Any, where: str) -> tuple[float, float, float | None]:
    if not isinstance(coords, list) or len(coords) not in (2, 3):
        raise SiteError("a position is [lon, lat] or [lon, lat, alt_m]", where)
    vals = [_number(v, ("lon_deg", "lat_deg", "alt_m")[k], where) for k, v in enumerate(coords)]
    return vals[0], vals[1], (vals[2] if len(vals) == 3 else None)


def load_terminals(path: str | Path) -> list[Terminal]:
    """Terminals from a ``.csv``, ``.geojson`` / ``.json`` or ``.parquet`` file (by suffix).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("id,lat_deg,lon_deg,registered\\nUT-1,50.45,30.52,yes\\n")
    >>> [(t.name, t.registered) for t in load_terminals(p)]
    [('UT-1', True)]
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return load_terminals_csv(p)
    if suffix in (".geojson", ".json"):
        return load_terminals_geojson(p)
    if suffix in (".parquet", ".pq"):
        return load_terminals_parquet(p)
    raise SiteError(f"unknown terminal file type {suffix!r}; expected .csv, .geojson or "
                    ".parquet", str(p))


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def terminals_to_frame(terminals: Sequence[Terminal]) -> Any:
    """One row per fixed terminal and per track point (pandas), in the columns above.

    Times are ``datetime64[ns, UTC]``; missing values are null.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for t in terminals:
        base = {"id": t.id, "name": t.name, "owner": t.owner, "registered": t.registered,
                "registered_from": t.registered_from, "registered_until": t.registered_until}
        if t.track is None:
            rows.append({**base, "t_utc": None, "lat_deg": t.lat_deg, "lon_deg": t.lon_deg,
                         "alt_m": t.altitude_m, "speed_kmh": t.speed_kmh})
            continue
        tr = t.track
        for k in range(len(tr)):
            rows.append({**base, "t_utc": tr.t_utc[k], "lat_deg": float(tr.lat_deg[k]),
                         "lon_deg": float(tr.lon_deg[k]), "alt_m": float(tr.alt_m[k]),
                         "speed_kmh": None})
    frame = pd.DataFrame(rows, columns=list(TERMINAL_COLUMNS))
    for col in ("t_utc", "registered_from", "registered_until"):
        frame[col] = pd.to_datetime(frame[col].astype("datetime64[ns]"), utc=True)
    frame["registered"] = frame["registered"].astype("boolean")
    for col in ("lat_deg", "lon_deg", "alt_m", "speed_kmh"):
        frame[col] = frame[col].astype("float64")
    return frame


def write_terminals(terminals: Sequence[Terminal], path: str | Path,
                    where: str | None = None) -> Path:
    """Write terminals as ``.csv``, ``.geojson`` or ``.parquet`` (atomically, `skyfence.fsio`).

    CSV times are ISO 8601 UTC with ``Z``; GeoJSON writes fixed terminals as Points and
    moving ones as LineStrings with ``properties.times``. `load_terminals` reads them back.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    terms = list(terminals)
    if suffix in (".geojson", ".json"):
        feats = [_feature(t) for t in terms]
        text = json.dumps({"type": "FeatureCollection", "features": feats},
                          ensure_ascii=False, indent=1)
        return atomic_write_text(p, text + "\n", where)
    frame = terminals_to_frame(terms)
    if suffix == ".csv":
        out = frame.copy()
        for col in ("t_utc", "registered_from", "registered_until"):
            values = out[col].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
            out[col] = format_utc_array(values, "ms" if _has_ms(values) else "s")
        buf = io.StringIO()
        out.to_csv(buf, index=False, lineterminator="\n")
        return atomic_write_text(p, buf.getvalue(), where)
    if suffix in (".parquet", ".pq"):
        with atomic_output(p, where) as tmp:
            frame.to_parquet(tmp, index=False)
        return p
    raise SiteError(f"unknown terminal file type {suffix!r}; expected .csv, .geojson or "
                    ".parquet", where or str(p))


def _has_ms(values: np.ndarray) -> bool:
    ns = values[~np.isnat(values)].astype(np.int64)
    return bool(np.any(ns % 1_000_000_000))


def _feature(t: Terminal) -> dict[str, Any]:
    props: dict[str, Any] = {"id": t.id, "name": t.name}
    if t.owner is not None:
        props["owner"] = t.owner
    if t.registered is not None:
        props["registered"] = t.registered
    for key in ("registered_from", "registered_until"):
        value = getattr(t, key)
        if value is not None:
            props[key] = format_utc(value)
    if t.track is None:
        if t.speed_kmh is not None:
            props["speed_kmh"] = t.speed_kmh
        geom = {"type": "Point", "coordinates": [t.lon_deg, t.lat_deg, t.altitude_m]}
    else:
        tr = t.track
        props["times"] = [format_utc(v) for v in tr.t_utc]
        geom = {"type": "LineString" if len(tr) > 1 else "MultiPoint",
                "coordinates": [[float(o), float(a), float(h)] for o, a, h in
                                zip(tr.lon_deg, tr.lat_deg, tr.alt_m, strict=True)]}
    return {"type": "Feature", "properties": {k: v for k, v in props.items() if v is not None},
            "geometry": geom}
