"""The ``skyfence coverage`` command: files, columns, values and error messages."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.coverage import GroundIndex, compute_coverage
from skyfence.earth import enu_basis, geodetic_to_itrs
from skyfence.orbits import load_constellation
from skyfence.outputs import TERMINAL_COLUMNS, read_netcdf
from skyfence.timeutil import time_grid

runner = CliRunner()
START = "2026-02-23T00:00:00Z"


def _text(res) -> str:
    """The output with box drawing removed and whitespace collapsed (messages may wrap)."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", res.output).split())


def _run(*args: str):
    return runner.invoke(app, ["coverage", *args])


def test_help_lists_the_options() -> None:
    res = _run("--help")
    assert res.exit_code == 0
    text = _text(res)
    for opt in ("--constellation", "--terminal", "--region", "--start", "--duration", "--step",
                "--min-elevation", "--gso-exclusion", "--out", "--resolution"):
        assert opt in text


def test_terminals_table_matches_the_library(tmp_path) -> None:
    out = tmp_path / "out"
    res = _run("--constellation", "starlink-gen1", "--terminal", "Kyiv=50.45,30.52",
               "--terminal", "Pole=89.9,0", "--start", START, "--duration", "10m",
               "--step", "60s", "--out", str(out))
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out / "terminals.parquet")
    assert tuple(table.columns) == TERMINAL_COLUMNS
    assert str(table["serving_norad_id"].dtype) == "Int64"
    assert len(table) == 2 * 11
    # The same numbers straight from the library.
    const = load_constellation("starlink-gen1", epoch=START)
    lat, lon = np.array([50.45, 89.9]), np.array([30.52, 0.0])
    ground = GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2])
    ref = compute_coverage(const, ground, time_grid(START, 600.0, 60.0),
                           timeseries_points=[0, 1]).timeseries
    kyiv = table[table.terminal == "Kyiv"]
    np.testing.assert_array_equal(kyiv["n_visible"], ref.n_visible[:, 0])
    np.testing.assert_allclose(kyiv["best_elevation_deg"], ref.best_elevation_deg[:, 0],
                               rtol=1e-6)
    serving = np.where(ref.serving_sat[:, 0] >= 0,
                       const.norad_ids[np.maximum(ref.serving_sat[:, 0], 0)], -1)
    np.testing.assert_array_equal(kyiv["serving_norad_id"].fillna(-1).to_numpy(), serving)
    # Gen1 (inclinations up to 97.6 deg) serves near the pole at times only, or never.
    pole = table[table.terminal == "Pole"]
    assert (pole["n_visible"] == 0).sum() == pole["serving_norad_id"].isna().sum()
    for name in ("terminals.nc", "terminal_metrics.csv", "terminals.png"):
        assert (out / name).is_file()
    ds = read_netcdf(out / "terminals.nc")
    np.testing.assert_array_equal(ds["n_visible"].values[:, 0], ref.n_visible[:, 0])
    assert "Kyiv:" in res.output


def test_region_outputs(tmp_path) -> None:
    out = tmp_path / "lux"
    from skyfence.ground import region_cell_set, resolve_region

    cells = region_cell_set(resolve_region("Luxembourg"))
    one = cells.cell_strings[0]
    res = _run("-c", "starlink-gen1", "--region", "Luxembourg", "--cell", one, "--start", START,
               "--duration", "4m", "--step", "60s", "--min-elevation", "40",
               "--gso-exclusion", "--out", str(out))
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(out / "cells.parquet")
    assert len(frame) == len(cells)
    assert {"h3_cell", "region", "availability", "mean_in_view", "longest_gap_s",
            "serving_changes"} <= set(frame.columns)
    assert set(frame["region"]) == {"Luxembourg"}
    fc = json.loads((out / "cells.geojson").read_text())
    assert len(fc["features"]) == len(cells)
    assert fc["min_elevation_deg"] == 40.0 and fc["gso_exclusion"] == 1
    summary = pd.read_csv(out / "regions.csv", index_col="region")
    assert summary.loc["Luxembourg", "n_cells"] == len(cells)
    for name in ("map_availability.png", "map_mean_in_view.png", "cells_timeseries.nc"):
        assert (out / name).is_file()
    ds = read_netcdf(out / "cells_timeseries.nc")
    assert list(ds["point"].values) == [one]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("args", "message"), [
    (["--region", "Ukrane"], "unknown region 'Ukrane'"),
    (["--region", "Ukrane"], "did you mean Ukraine"),
    ([], "give at least one --terminal or --region"),
    (["--terminal", "Kyiv=50.45,30.52", "--min-elevation", "90"],
     "elevation mask must be within [0, 90) deg"),
    (["--terminal", "Kyiv=50.45,30.52", "--min-elevation", "-1"],
     "elevation mask must be within [0, 90) deg"),
    (["--terminal", "Kyiv=50.45,30.52", "--step", "0s"], "step must be > 0 s"),
    (["--terminal", "Kyiv=95,30.52"], "latitude"),
    (["--terminal", "Kyiv=50.45,30.52", "--strategy", "best"], "unknown strategy 'best'"),
    (["--terminal", "Kyiv=50.45,30.52", "--duration", "1d", "--step", "1s",
      "--memory-budget", "0.000001"], "over the budget"),
])
def test_bad_input_is_a_clear_error(tmp_path, args, message) -> None:
    res = _run("-c", "starlink-gen1", "--out", str(tmp_path / "o"), "--no-maps", *args)
    assert res.exit_code == 2, res.output
    text = _text(res)
    assert message in text, text
    assert "Traceback" not in res.output


def test_empty_and_open_polygons_are_errors(tmp_path) -> None:
    open_ring = tmp_path / "open.geojson"
    open_ring.write_text(json.dumps(
        {"type": "Polygon", "coordinates": [[[30, 50], [31, 50], [31, 51], [30, 51]]]}))
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "Polygon", "coordinates": []}))
    res = _run("-c", "starlink-gen1", "--region", str(open_ring), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "open ring" in _text(res)
    res = _run("-c", "starlink-gen1", "--region", str(empty), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2 and "empty Polygon" in _text(res)


def test_region_smaller_than_a_cell_gets_one_cell(tmp_path) -> None:
    speck = tmp_path / "speck.geojson"
    speck.write_text(json.dumps({"type": "Polygon", "coordinates": [
        [[30.5, 50.4], [30.501, 50.4], [30.501, 50.401], [30.5, 50.401], [30.5, 50.4]]]}))
    res = _run("-c", "starlink-gen1", "--region", str(speck), "--duration", "2m",
               "--no-maps", "--out", str(tmp_path / "o"))
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "o" / "cells.parquet")) == 1
