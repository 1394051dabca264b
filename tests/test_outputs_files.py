"""Output writers: Parquet/CSV tables, NetCDF arrays, GeoJSON cells and PNG maps."""

from __future__ import annotations

import json

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box, shape

from skyfence.errors import InputError
from skyfence.outputs import (
    cells_feature_collection,
    csv_frame,
    plot_cell_map,
    plot_terminal_timeseries,
    read_netcdf,
    series_dataset,
    write_geojson,
    write_netcdf,
    write_table,
)
from skyfence.timeutil import time_grid

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _long_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.DatetimeIndex(time_grid("2026-02-23T00:00:00Z", 240.0, 60.0)).tz_localize("UTC")
    nv = np.array([[3, 0], [2, 1], [0, 4], [1, 1], [5, 2]], np.int16)
    serving = pd.array([44714, 44714, None, 50000, 44715, None, 44715, 44715, 44714, 44714],
                       dtype="Int64")
    frame = pd.DataFrame({
        "terminal": np.repeat(["Kyiv", "Taipei"], 5),
        "t_utc": np.tile(t, 2),
        "n_visible": nv.T.ravel(),
        "best_elevation_deg": np.where(nv.T.ravel() > 0, 45.0, np.nan),
        "serving_norad_id": serving,
        "status": ["served", "served", "uncovered", "served", "served",
                   "uncovered", "blocked", "blocked", "blocked", "blocked"],
        "rtt_ms": [9.0, 9.5, np.nan, 9.1, 9.2] + [np.nan] * 5,
    })
    stations = pd.DataFrame({"terminal": ["Kyiv", "Taipei"], "lat_deg": [50.45, 25.03],
                             "lon_deg": [30.52, 121.56], "altitude_m": [180.0, 0.0]})
    return frame, stations


def test_tables_keep_nulls_and_write_utc_with_z(tmp_path) -> None:
    frame, _ = _long_table()
    back = pd.read_parquet(write_table(frame, tmp_path / "terminals.parquet"))
    assert str(back["serving_norad_id"].dtype) == "Int64"
    assert str(back["t_utc"].dt.tz) == "UTC"
    assert back["serving_norad_id"].isna().tolist() == frame["serving_norad_id"].isna().tolist()
    again = pd.read_csv(write_table(frame, tmp_path / "terminals.csv"))
    assert again["serving_norad_id"].isna().sum() == 2
    assert again["t_utc"][0] == "2026-02-23T00:00:00Z"
    # Sub-second times keep their fraction.
    sub = csv_frame(pd.DataFrame({"t_utc": pd.DatetimeIndex(
        ["2026-02-23T00:00:00.250"]).tz_localize("UTC")}))
    assert sub["t_utc"][0] == "2026-02-23T00:00:00.250000Z"


def test_table_suffix_error(tmp_path) -> None:
    with pytest.raises(InputError, match=r"must end in \.parquet or \.csv"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.xlsx")


def test_netcdf_series_round_trip_is_cf(tmp_path) -> None:
    frame, stations = _long_table()
    ds = series_dataset(frame, stations, attrs={"constellation": "test"})
    assert ds["n_visible"].dims == ("station", "time")
    assert ds.attrs["featureType"] == "timeSeries"
    path = write_netcdf(ds, tmp_path / "terminals.nc")
    back = read_netcdf(path)
    np.testing.assert_array_equal(back["n_visible"].values,
                                  frame["n_visible"].to_numpy().reshape(2, 5))
    serving = back["serving_norad_id"].values
    assert np.isnan(serving[0, 2]) or serving[0, 2] == -1
    assert serving[0, 0] == 44714
    assert back["status"].attrs["flag_meanings"] == "uncovered blocked served"
    assert back["status"].values[1].tolist() == [0, 1, 1, 1, 1]
    assert back["alt"].values.tolist() == [180.0, 0.0]
    assert back.attrs["constellation"] == "test"
    with pytest.raises(InputError, match=r"must end in \.nc"):
        write_netcdf(ds, tmp_path / "x.h5")
    with pytest.raises(InputError, match="every station at every step"):
        series_dataset(frame.iloc[:-1], stations)


def _antimeridian_cells() -> list[int]:
    seeds = [h3.latlng_to_cell(lat, 180.0, 5) for lat in (-40.0, 0.0, 65.0)]
    return [h3.str_to_int(c) for s in seeds for c in h3.grid_disk(s, 1)]


def test_geojson_cells_are_antimeridian_safe(tmp_path) -> None:
    polar = h3.str_to_int(h3.latlng_to_cell(90.0, 0.0, 5))
    cells = [*_antimeridian_cells(), polar]
    values = np.linspace(0.0, 1.0, len(cells))
    values[1] = np.nan
    fc = cells_feature_collection(cells, {"availability": values, "n": np.arange(len(cells))},
                                  metadata={"step_s": 60.0})
    path = write_geojson(fc, tmp_path / "cells.geojson")
    back = json.loads(path.read_text())  # strict JSON: no NaN literals
    assert back["step_s"] == 60.0
    assert len(back["features"]) == len(cells)
    split = 0
    for feat, cell in zip(back["features"], cells, strict=True):
        geom = shape(feat["geometry"])
        assert geom.is_valid
        xs = np.concatenate([np.asarray(p.exterior.coords)[:, 0]
                             for p in shapely.get_parts(geom)])
        assert xs.min() >= -180.0 and xs.max() <= 180.0
        for part in shapely.get_parts(geom):
            if cell != polar:  # a polar cap spans all longitudes; others never cross 180
                assert np.ptp(np.asarray(part.exterior.coords)[:, 0]) < 180.0
            assert part.exterior.is_ccw  # RFC 7946 winding
        split += geom.geom_type == "MultiPolygon"
        assert feat["properties"]["h3_cell"] == h3.int_to_str(cell)
    assert split >= 1
    assert back["features"][1]["properties"]["availability"] is None
    assert back["features"][2]["properties"]["n"] == 2
    # The split pieces together cover the cell's centre (seen on either side of 180 deg).
    lat, lon = h3.cell_to_latlng(h3.int_to_str(cells[0]))
    geom = shape(back["features"][0]["geometry"])
    assert geom.buffer(1e-9).contains(shapely.Point(lon, lat))


def test_geojson_bad_input(tmp_path) -> None:
    with pytest.raises(InputError, match="has 1 values for 2 cells"):
        cells_feature_collection(_antimeridian_cells()[:2], {"a": [1.0]})
    with pytest.raises(InputError, match=r"must end in \.geojson"):
        write_geojson({"type": "FeatureCollection", "features": []}, tmp_path / "x.txt")


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC


def test_cell_map_with_borders_and_colour_scale(tmp_path) -> None:
    from skyfence.ground import region_cell_set, resolve_region

    cells = region_cell_set(resolve_region("Luxembourg"), 6)
    values = np.linspace(0.0, 100.0, len(cells))
    borders = [resolve_region(n).geometry for n in ("Luxembourg", "Belgium", "France")]
    path = plot_cell_map(cells.cells, values, tmp_path / "map.png", title="test",
                         label="availability (%)", vmin=0, vmax=100, borders=borders)
    assert _is_png(path) and path.stat().st_size > 10_000


def test_cell_map_across_the_antimeridian(tmp_path) -> None:
    cells = np.array(_antimeridian_cells(), dtype=np.uint64)
    borders = [box(170.0, -50.0, 180.0, 70.0), box(-180.0, -50.0, -170.0, 70.0)]
    path = plot_cell_map(cells, np.arange(cells.size, dtype=float), tmp_path / "am.png",
                         borders=borders)
    assert _is_png(path)


def test_map_bad_input(tmp_path) -> None:
    cells = np.array(_antimeridian_cells(), dtype=np.uint64)
    with pytest.raises(InputError, match=r"must end in \.png"):
        plot_cell_map(cells, np.zeros(cells.size), tmp_path / "m.jpg")
    with pytest.raises(InputError, match="one value per cell"):
        plot_cell_map(cells, np.zeros(2), tmp_path / "m.png")
    with pytest.raises(InputError, match="no cells"):
        plot_cell_map(np.zeros(0, np.uint64), np.zeros(0), tmp_path / "m.png")


def test_terminal_time_series_plot(tmp_path) -> None:
    t = time_grid("2026-02-23T00:00:00Z", 240.0, 60.0)
    nv = np.array([3, 2, 0, 1, 5])
    el = np.where(nv > 0, 40.0, np.nan)
    path = plot_terminal_timeseries(t, {"Kyiv": (nv, el), "Taipei": (nv[::-1], el[::-1])},
                                    tmp_path / "ts.png", min_elevation_deg=25.0)
    assert _is_png(path)
    with pytest.raises(InputError, match="no terminals"):
        plot_terminal_timeseries(t, {}, tmp_path / "ts.png")
    with pytest.raises(InputError, match="must have 5 values"):
        plot_terminal_timeseries(t, {"x": ([1], [1])}, tmp_path / "ts.png")
