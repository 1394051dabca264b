"""Tables: coverage results as pandas DataFrames, written to Parquet or CSV.

Times are UTC (``t_utc``, written as timestamps with the UTC zone); satellites are named by
their NORAD catalogue number, with a nullable integer where no satellite serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..coverage.metrics import PointMetrics, TimeSeries
from ..errors import InputError

__all__ = [
    "TABLE_SUFFIXES",
    "TERMINAL_COLUMNS",
    "metrics_frame",
    "norad_or_null",
    "timeseries_frame",
    "write_table",
]

#: File types `write_table` writes.
TABLE_SUFFIXES = (".parquet", ".csv")

#: Columns of the terminal time-series table (``terminals.parquet``).
TERMINAL_COLUMNS = ("terminal", "t_utc", "n_visible", "best_elevation_deg", "serving_norad_id")


def norad_or_null(sat_index: ArrayLike, norad_ids: ArrayLike) -> pd.array:
    """NORAD ids of satellite indices as a nullable ``Int64`` array (``<NA>`` where -1)."""
    idx = np.asarray(sat_index, dtype=np.int64).ravel()
    ids = np.asarray(norad_ids, dtype=np.int64)
    has = idx >= 0
    values = np.zeros(idx.size, np.int64)
    values[has] = ids[idx[has]]
    return pd.arrays.IntegerArray(values, ~has)


def timeseries_frame(
    ts: TimeSeries,
    names: Sequence[str],
    norad_ids: ArrayLike,
    *,
    name_column: str = "terminal",
) -> pd.DataFrame:
    """Long table of a `TimeSeries`: one row per point and time, points in order, then time.

    Columns: ``name_column``, ``t_utc`` (UTC), ``n_visible``, ``best_elevation_deg`` (NaN
    where none), ``serving_norad_id`` (nullable ``Int64``).
    """
    n_time, k = ts.n_visible.shape
    if len(names) != k:
        raise InputError(f"need one name per recorded point ({k}), got {len(names)}", "names")
    return pd.DataFrame(
        {
            name_column: np.repeat(np.asarray(names, dtype=object), n_time),
            "t_utc": pd.DatetimeIndex(np.tile(ts.t_utc, k)).tz_localize("UTC"),
            "n_visible": ts.n_visible.T.ravel().astype(np.int32),
            "best_elevation_deg": ts.best_elevation_deg.T.ravel().astype(np.float64),
            "serving_norad_id": norad_or_null(ts.serving_sat.T.ravel(), norad_ids),
        }
    )


def metrics_frame(
    metrics: PointMetrics, ids: Mapping[str, ArrayLike] | None = None
) -> pd.DataFrame:
    """Per-point metrics, with identifying columns (``ids``, in order) first."""
    frame = metrics.to_frame()
    n = len(frame)
    lead = {}
    for key, values in (ids or {}).items():
        arr = np.asarray(values)
        if arr.shape[:1] != (n,):
            raise InputError(f"column {key!r} needs {n} values, got {arr.shape}", key)
        lead[key] = arr
    return pd.concat([pd.DataFrame(lead), frame], axis=1) if lead else frame


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path``: Parquet for ``.parquet``, CSV for ``.csv``.

    The index is written only when it is named. Returns the path.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"table file must end in {' or '.join(TABLE_SUFFIXES)}, got {p.name!r}", str(p)
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    keep_index = frame.index.name is not None
    if suffix == ".parquet":
        frame.to_parquet(p, index=keep_index)
    else:
        frame.to_csv(p, index=keep_index)
    return p
