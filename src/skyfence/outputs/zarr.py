"""Per-cell, per-step series streamed into a chunked, compressed Zarr store (via xarray).

`ZarrSeriesWriter` is the sink of the engine's ``cell_series`` stage: it creates the store's
layout once (dimensions ``(time, cell)``, CF-style attributes, status flag meanings), then
writes each time block into its region of the store as it arrives, so the whole (time x cell)
array is never in memory (the global day is ~1,441 x 570,042 cells). Read it back lazily with
``xarray.open_zarr(path)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError
from ..fsio import check_output_path

__all__ = ["ZarrSeriesWriter", "open_series"]

#: Chunk length along cells (cells per chunk); the time chunk is the engine's chunk length.
CELL_CHUNK = 65_536


class ZarrSeriesWriter:
    """Writes `SeriesBlock` objects (``first``, ``status``, ``n_visible``) into a Zarr store.

    Parameters
    ----------
    path : path
        The ``.zarr`` folder (created; must not exist as a file).
    cells : sequence of str
        H3 cell ids (hex), the ``cell`` coordinate.
    lat_deg, lon_deg : arrays (n_cell,)
        Cell centres, WGS-84 degrees.
    t_utc : datetime64[ns] (n_time,)
        The run's time grid.
    time_chunk : int
        Steps per Zarr chunk along time (the engine's ``run.chunk_steps`` aligns writes).
    attrs : mapping, optional
        Global attributes.
    """

    def __init__(self, path: str | Path, cells: Any, lat_deg: Any, lon_deg: Any,
                 t_utc: np.ndarray, *, time_chunk: int = 60,
                 attrs: dict[str, Any] | None = None) -> None:
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise InputError("exists and is not a folder (a Zarr store is a folder)", str(p))
        check_output_path(p / ".zgroup", str(p))
        self.path = p
        t = np.asarray(t_utc, "datetime64[ns]")
        n_cell = len(cells)
        self.n_time = t.size
        self.time_chunk = max(1, int(time_chunk))
        chunks = {"time": min(self.time_chunk, t.size), "cell": min(CELL_CHUNK, max(n_cell, 1))}
        template = xr.Dataset(
            {
                "status": (("time", "cell"), np.zeros((t.size, n_cell), np.int8), {
                    "long_name": "service status", "flag_values": np.array([0, 1, 2], np.int8),
                    "flag_meanings": "uncovered blocked served"}),
                "n_visible": (("time", "cell"), np.zeros((t.size, n_cell), np.int16), {
                    "long_name": "usable satellites in view above the mask", "units": "1"}),
            },
            coords={
                "time": ("time", t, {"standard_name": "time", "long_name": "time (UTC)"}),
                "cell": ("cell", np.asarray(list(cells), dtype=str),
                         {"long_name": "H3 cell index"}),
                "lat": ("cell", np.asarray(lat_deg, np.float64),
                        {"standard_name": "latitude", "units": "degrees_north"}),
                "lon": ("cell", np.asarray(lon_deg, np.float64),
                        {"standard_name": "longitude", "units": "degrees_east"}),
            },
            attrs={"title": "skyfence per-cell series", "Conventions": "CF-1.10",
                   **dict(attrs or {})},
        ).chunk(chunks)
        try:
            # Layout and coordinates only; the data arrive block by block.
            template.to_zarr(p, mode="w", compute=False, zarr_format=2)
        except OSError as exc:
            raise InputError(f"cannot create the Zarr store: {exc.strerror or exc}",
                             str(p)) from None
        self.written = 0

    def __call__(self, block: Any) -> None:
        """Write one block (its ``first`` step and (n, n_cell) arrays) into its region."""
        n = int(block.status.shape[0])
        if n == 0:
            return
        a, b = int(block.first), int(block.first) + n
        if a < 0 or b > self.n_time:
            raise InputError(f"block of steps {a}..{b - 1} outside 0..{self.n_time - 1}",
                             str(self.path))
        ds = xr.Dataset({"status": (("time", "cell"), block.status),
                         "n_visible": (("time", "cell"), block.n_visible)})
        ds.to_zarr(self.path, region={"time": slice(a, b), "cell": slice(None)}, zarr_format=2)
        self.written += n


def open_series(path: str | Path) -> xr.Dataset:
    """The series store, opened lazily (dask arrays)."""
    return xr.open_zarr(Path(path))
