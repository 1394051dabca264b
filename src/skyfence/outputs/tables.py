"""Tables: coverage results as pandas DataFrames, written to Parquet or CSV.

Times are UTC (``t_utc``, written as timestamps with the UTC zone); satellites are named by
their NORAD catalogue number, with a nullable integer where no satellite serves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..errors import InputError
from ..fsio import atomic_output

__all__ = [
    "TABLE_SUFFIXES",
    "csv_frame",
    "norad_or_null",
    "write_table",
]

#: File types `write_table` writes.
TABLE_SUFFIXES = (".parquet", ".csv")

def norad_or_null(sat_index: ArrayLike, norad_ids: ArrayLike) -> pd.arrays.IntegerArray:
    """NORAD ids of satellite indices as a nullable ``Int64`` array (``<NA>`` where -1)."""
    idx = np.asarray(sat_index, dtype=np.int64).ravel()
    ids = np.asarray(norad_ids, dtype=np.int64)
    has = idx >= 0
    values = np.zeros(idx.size, np.int64)
    values[has] = ids[idx[has]]
    return pd.arrays.IntegerArray(values, ~has)


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
    keep_index = frame.index.name is not None
    with atomic_output(p, str(p)) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=keep_index)
        else:
            csv_frame(frame).to_csv(tmp, index=keep_index)
    return p


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every time column as ISO 8601 UTC text ending in ``Z``
    (``2026-02-23T00:00:00Z``; fractions of a second only where present)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s):
            t = pd.DatetimeIndex(s)
            t = t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t
            missing = np.asarray(t.isna(), dtype=bool)
            frac = bool(np.any(t.asi8[~missing] % 1_000_000_000))
            fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if frac else "%Y-%m-%dT%H:%M:%SZ"
            out[col] = pd.Series(t.strftime(fmt), index=out.index).where(~missing, None)
    return out
