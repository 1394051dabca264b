"""Global selections and streamed outputs: ``land``/``world`` ground selections, the Zarr
store of every cell's per-step values, equal to the in-memory engine values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _engine_helpers import _scenario
from skyfence.cli import app
from skyfence.engine import build_ground, run
from skyfence.errors import InputError
from skyfence.ground import all_cells, land_cells
from skyfence.outputs import ZarrSeriesWriter, open_series
from skyfence.scenario import parse_scenario

runner = CliRunner()


def test_land_and_world_selections_give_every_cell_once() -> None:
    land = build_ground(parse_scenario(_scenario(
        ground={"regions": [{"name": "land", "resolution": 3}], "terminals": []})))
    ref = np.sort(land_cells(3))
    assert np.array_equal(land.cells, ref)
    assert np.unique(land.cells).size == land.cells.size
    world = build_ground(parse_scenario(_scenario(
        ground={"regions": [{"name": "World", "resolution": 1}], "terminals": []})))
    assert np.array_equal(world.cells, np.sort(all_cells(1)))
    # Every land cell is in the world.
    land1 = np.sort(land_cells(1))
    assert np.isin(land1, world.cells).all() and land1.size < world.cells.size


def test_zarr_stream_equals_the_in_memory_series(tmp_path: Path) -> None:
    sc = _scenario(time={"duration": "12m"}, run={"chunk_steps": 5},
                   ground={"regions": [{"name": "Moldova", "resolution": 5}], "terminals": []},
                   network={"enabled": False}, outputs={"cell_series": True})
    from skyfence.engine import prepare

    ctx = prepare(parse_scenario(sc))
    cells = ctx.ground.point_names[: ctx.ground.n_cells]
    sink = ZarrSeriesWriter(tmp_path / "s.zarr", cells, ctx.ground.lat_deg, ctx.ground.lon_deg,
                            ctx.t_utc, time_chunk=4)
    from skyfence.engine import finalize, simulate

    tables = finalize(ctx, simulate(ctx, sink=sink))
    assert sink.written == ctx.n_steps
    # The same cells kept in memory as per-step series.
    sc2 = dict(sc)
    sc2["ground"] = {**sc["ground"], "timeseries_cells": list(cells)}
    sc2["outputs"] = {}
    mem = run(parse_scenario(sc2)).extra["cells_timeseries"]
    ds = open_series(tmp_path / "s.zarr")
    assert ds["status"].chunks is not None  # lazy
    for name in cells[:40]:
        m = mem[mem.h3_cell == name]
        z = ds.sel(cell=name)
        np.testing.assert_array_equal(z["n_visible"].values, m["n_visible"].to_numpy())
        codes = {"uncovered": 0, "blocked": 1, "served": 2}
        np.testing.assert_array_equal(z["status"].values,
                                      m["status"].astype(str).map(codes).to_numpy())
    # The share of served steps per cell equals the cells table's.
    served = (ds["status"] == 2).mean("time").to_series()
    cells_tab = tables.cells.set_index("h3_cell")["served_share"]
    pd.testing.assert_series_equal(served.sort_index(), cells_tab.sort_index(),
                                   check_names=False)


def test_streaming_needs_a_sink_and_the_cli_writes_the_store(tmp_path: Path) -> None:
    sc = parse_scenario(_scenario(time={"duration": "2m"}, network={"enabled": False},
                                  outputs={"cell_series": True}))
    with pytest.raises(InputError, match="sink"):
        run(sc)
    res = runner.invoke(app, ["coverage", "-c", "starlink-gen1", "--region", "Luxembourg",
                              "--duration", "3m", "--cell-series", "--no-maps", "--quiet",
                              "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    ds = open_series(tmp_path / "cells_series.zarr")
    assert ds.sizes["time"] == 4 and int(ds["n_visible"].min()) >= 0
