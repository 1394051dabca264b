"""Outputs in open formats: tables (Parquet/CSV), arrays (xarray -> NetCDF), GeoJSON, PNG.

Writers take plain tables (`skyfence.results.RunTables`, DataFrames, xarray) and write files;
nothing here computes coverage or imports the engine.
"""

from __future__ import annotations

from .arrays import STATUS_FLAGS, read_netcdf, series_dataset, write_netcdf
from .geojson import cells_feature_collection, write_geojson
from .maps import country_borders, plot_cell_map, plot_terminal_timeseries
from .report import WrittenRun, render_markdown, write_run
from .tables import TABLE_SUFFIXES, csv_frame, norad_or_null, write_table
from .zarr import ZarrSeriesWriter, open_series

__all__ = [
    "STATUS_FLAGS",
    "TABLE_SUFFIXES",
    "WrittenRun",
    "ZarrSeriesWriter",
    "cells_feature_collection",
    "country_borders",
    "csv_frame",
    "norad_or_null",
    "open_series",
    "plot_cell_map",
    "plot_terminal_timeseries",
    "read_netcdf",
    "render_markdown",
    "series_dataset",
    "write_geojson",
    "write_netcdf",
    "write_run",
    "write_table",
]
