"""Arrays: per-step coverage of selected points as an xarray Dataset, written to NetCDF.

Dimensions ``(time, point)``; ``time`` holds UTC times (CF-encoded on disk), ``point`` the
terminal names or H3 cell strings. NetCDF files are written with the ``h5netcdf`` engine
(NetCDF-4 / HDF5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from ..coverage.metrics import TimeSeries
from ..errors import InputError

__all__ = ["read_netcdf", "timeseries_dataset", "write_netcdf"]


def timeseries_dataset(
    ts: TimeSeries,
    names: Sequence[str],
    norad_ids: ArrayLike,
    *,
    lat_deg: ArrayLike | None = None,
    lon_deg: ArrayLike | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """A `TimeSeries` as an xarray Dataset with dimensions ``(time, point)``.

    Variables: ``n_visible`` (int16), ``best_elevation_deg`` (float32, NaN where none),
    ``serving_norad_id`` (int64, -1 where none; ``_FillValue`` -1 on disk). Optional point
    coordinates ``lat_deg`` and ``lon_deg``.
    """
    k = ts.point.size
    if len(names) != k:
        raise InputError(f"need one name per recorded point ({k}), got {len(names)}", "names")
    ids = np.asarray(norad_ids, dtype=np.int64)
    sat = ts.serving_sat.astype(np.int64)
    serving = np.where(sat >= 0, ids[np.maximum(sat, 0)] if ids.size else -1, -1)
    coords: dict[str, Any] = {"time": ts.t_utc, "point": np.asarray(list(names), dtype=str)}
    if lat_deg is not None:
        coords["lat_deg"] = ("point", np.asarray(lat_deg, dtype=np.float64))
    if lon_deg is not None:
        coords["lon_deg"] = ("point", np.asarray(lon_deg, dtype=np.float64))
    ds = xr.Dataset(
        {
            "n_visible": (("time", "point"), ts.n_visible,
                          {"long_name": "usable satellites in view", "units": "1"}),
            "best_elevation_deg": (("time", "point"), ts.best_elevation_deg,
                                   {"long_name": "highest usable elevation",
                                    "units": "degree"}),
            "serving_norad_id": (("time", "point"), serving.astype(np.int64),
                                 {"long_name": "NORAD id of the serving satellite (-1: none)"}),
        },
        coords=coords,
        attrs=dict(attrs or {}),
    )
    ds["serving_norad_id"].encoding["_FillValue"] = -1
    ds["time"].encoding["units"] = "seconds since 1970-01-01T00:00:00Z"
    return ds


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to NetCDF-4 with the ``h5netcdf`` engine; returns the path."""
    p = Path(path)
    if p.suffix.lower() not in (".nc", ".nc4", ".netcdf"):
        raise InputError(f"NetCDF file must end in .nc, got {p.name!r}", str(p))
    p.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(p, engine="h5netcdf")
    return p


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Load a NetCDF file written by `write_netcdf` into memory (``h5netcdf`` engine)."""
    with xr.open_dataset(Path(path), engine="h5netcdf") as ds:
        return ds.load()
