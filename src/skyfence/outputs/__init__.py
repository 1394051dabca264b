"""Outputs in open formats: tables (Parquet/CSV), arrays (xarray -> NetCDF), GeoJSON, PNG.

Writers take results as arrays and records and write files; nothing here computes coverage.
"""

from __future__ import annotations

from .arrays import read_netcdf, timeseries_dataset, write_netcdf
from .geojson import cells_feature_collection, write_geojson
from .maps import country_borders, plot_cell_map, plot_terminal_timeseries
from .tables import (
    TABLE_SUFFIXES,
    TERMINAL_COLUMNS,
    metrics_frame,
    norad_or_null,
    timeseries_frame,
    write_table,
)

__all__ = [
    "TABLE_SUFFIXES",
    "TERMINAL_COLUMNS",
    "cells_feature_collection",
    "country_borders",
    "metrics_frame",
    "norad_or_null",
    "plot_cell_map",
    "plot_terminal_timeseries",
    "read_netcdf",
    "timeseries_dataset",
    "timeseries_frame",
    "write_geojson",
    "write_netcdf",
    "write_table",
]
