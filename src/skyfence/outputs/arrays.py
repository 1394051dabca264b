"""Arrays: per-step series of terminals (or cells) as a CF-1.10 ``timeSeries`` Dataset.

The long per-step table (one row per point and step, `skyfence.vocabulary`) becomes an
xarray Dataset in CF's orthogonal multidimensional representation: dimensions
``(station, time)``, a ``station`` name variable with ``cf_role = "timeseries_id"``, latitude /
longitude / height coordinates with their standard names, every per-step variable with its
units, and the service status as ``flag_values`` / ``flag_meanings``. Written to NetCDF-4 with
the ``h5netcdf`` engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..fsio import atomic_output

__all__ = ["STATUS_FLAGS", "read_netcdf", "series_dataset", "write_netcdf"]

#: Status codes as written (``flag_values``) and their names (``flag_meanings``).
STATUS_FLAGS: dict[int, str] = {0: "uncovered", 1: "blocked", 2: "served"}

# column -> (dtype, fill, attributes)
_VARS: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "n_visible": ("int16", None, {"long_name": "usable satellites in view above the mask",
                                  "units": "1"}),
    "best_elevation_deg": ("float32", None, {
        "long_name": "elevation of the highest usable satellite above the WGS-84 local "
                     "horizon", "units": "degree"}),
    "serving_norad_id": ("int64", -1, {
        "long_name": "NORAD catalogue number of the serving satellite (scheduler's choice, "
                     "held within a slot)"}),
    "routed": ("int8", None, {"long_name": "whether the network stage routed this step",
                              "flag_values": np.array([0, 1], np.int8),
                              "flag_meanings": "not_routed routed"}),
    "path_norad_id": ("int64", -1, {
        "long_name": "NORAD catalogue number of the satellite carrying the routed path"}),
    "gateway": ("str", None, {"long_name": "gateway of the routed path"}),
    "pop": ("str", None, {"long_name": "point of presence of the routed path"}),
    "n_laser_hops": ("int16", -1, {"long_name": "laser links on the routed path "
                                   "(0: bent pipe)", "units": "1"}),
    "path": ("str", None, {"long_name": "nodes of the routed path, serving satellite first: "
                                        "sat:<NORAD id> > ... > gw:<gateway> > pop:<PoP> "
                                        "(empty: unserved or not routed)"}),
    "rtt_ms": ("float64", None, {"long_name": "round-trip time to the point of presence",
                                 "units": "ms"}),
    "rtt_floor_ms": ("float64", None, {
        "long_name": "round-trip propagation time to the point of presence (no overheads)",
        "units": "ms"}),
    "rule": ("str", None, {"long_name": "policy rule deciding the status"}),
}


def series_dataset(
    frame: pd.DataFrame,
    stations: pd.DataFrame,
    *,
    name_column: str = "terminal",
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """A CF-1.10 ``timeSeries`` Dataset from a long per-step table.

    Parameters
    ----------
    frame : DataFrame
        One row per station and step, columns ``name_column``, ``t_utc`` (UTC) and any of
        ``n_visible, best_elevation_deg, serving_norad_id, status, rule, routed,
        path_norad_id, gateway, pop, n_laser_hops, path, rtt_ms, rtt_floor_ms``.
    stations : DataFrame
        One row per station: ``name_column``, ``lat_deg``, ``lon_deg`` and optionally
        ``altitude_m`` and ``h3_cell``.
    attrs : mapping, optional
        Extra global attributes.
    """
    names = list(stations[name_column])
    if frame.empty or not names:
        raise InputError("no per-step rows to write", "series")
    t = np.unique(pd.DatetimeIndex(frame["t_utc"]).tz_convert(None).to_numpy("datetime64[ns]"))
    n_s, n_t = len(names), t.size
    if len(frame) != n_s * n_t:
        raise InputError(f"need {n_s} x {n_t} rows (every station at every step), got "
                         f"{len(frame)}", "series")
    order = pd.Categorical(frame[name_column], categories=names)
    f = frame.assign(_o=order.codes).sort_values(["_o", "t_utc"], kind="stable")
    data: dict[str, Any] = {}

    def grid(col: str) -> np.ndarray:
        return f[col].to_numpy().reshape(n_s, n_t)

    for col, (dtype, fill, attrs_v) in _VARS.items():
        if col not in f.columns:
            continue
        if dtype == "str":
            v = f[col].astype(object).where(f[col].notna(), "").to_numpy(dtype=object)
            arr = v.reshape(n_s, n_t).astype(str)
        elif fill is not None:
            s = f[col].astype("Int64")
            arr = s.to_numpy(dtype=np.int64, na_value=fill).reshape(n_s, n_t).astype(dtype)
        elif dtype == "int8":
            arr = grid(col).astype(bool).astype(np.int8)
        else:
            arr = np.asarray(f[col].to_numpy(dtype=np.float64 if dtype.startswith("float")
                                              else np.int64)).reshape(n_s, n_t).astype(dtype)
        var = xr.Variable(("station", "time"), arr, dict(attrs_v))
        var.attrs["coordinates"] = "lat lon alt station_name"
        if fill is not None:
            var.encoding["_FillValue"] = np.array(fill, dtype=dtype)
        data[col] = var
    if "status" in f.columns:
        codes = {v: k for k, v in STATUS_FLAGS.items()}
        st = np.array([codes[str(x)] for x in f["status"]], np.int8).reshape(n_s, n_t)
        data["status"] = xr.Variable(("station", "time"), st, {
            "long_name": "service status",
            "flag_values": np.array(sorted(STATUS_FLAGS), np.int8),
            "flag_meanings": " ".join(STATUS_FLAGS[k] for k in sorted(STATUS_FLAGS)),
            "coordinates": "lat lon alt station_name"})
    st_info = stations.set_index(name_column).loc[names]
    alt = (st_info["altitude_m"].to_numpy(np.float64) if "altitude_m" in st_info
           else np.zeros(n_s))
    coords: dict[str, Any] = {
        "time": ("time", t, {"standard_name": "time", "long_name": "time (UTC)",
                             "axis": "T"}),
        "station_name": ("station", np.asarray(names, dtype=str),
                         {"cf_role": "timeseries_id", "long_name": "station name"}),
        "lat": ("station", st_info["lat_deg"].to_numpy(np.float64),
                {"standard_name": "latitude", "units": "degrees_north",
                 "long_name": "WGS-84 geodetic latitude"}),
        "lon": ("station", st_info["lon_deg"].to_numpy(np.float64),
                {"standard_name": "longitude", "units": "degrees_east",
                 "long_name": "WGS-84 geodetic longitude"}),
        "alt": ("station", alt, {"standard_name": "height_above_reference_ellipsoid",
                                 "units": "m", "positive": "up",
                                 "long_name": "height above the WGS-84 ellipsoid"}),
    }
    if "h3_cell" in st_info:
        coords["h3_cell"] = ("station", st_info["h3_cell"].astype(str).to_numpy(),
                             {"long_name": "H3 resolution-5 service cell"})
    ds = xr.Dataset(data, coords=coords, attrs={
        "Conventions": "CF-1.10", "featureType": "timeSeries",
        "title": "skyfence per-step series", "source": "skyfence", **dict(attrs or {})})
    whole = bool(np.all(t.astype(np.int64) % 1_000_000_000 == 0))
    ds["time"].encoding["units"] = ("seconds since 1970-01-01 00:00:00" if whole
                                    else "milliseconds since 1970-01-01 00:00:00")
    ds["time"].encoding["calendar"] = "standard"
    ds["time"].encoding["dtype"] = "int64" if whole else "float64"
    return ds


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to NetCDF-4 with the ``h5netcdf`` engine; returns the path."""
    p = Path(path)
    if p.suffix.lower() not in (".nc", ".nc4", ".netcdf"):
        raise InputError(f"NetCDF file must end in .nc, got {p.name!r}", str(p))
    with atomic_output(p, str(p)) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return p


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Load a NetCDF file written by `write_netcdf` into memory (``h5netcdf`` engine)."""
    with xr.open_dataset(Path(path), engine="h5netcdf") as ds:
        return ds.load()
