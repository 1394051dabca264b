"""``run``, ``coverage`` and ``network``: one engine behind three front-ends.

The same terminal over the same window gives identical per-step satellites in view, serving
satellite, status and RTT whichever command computes it; every command writes the same
columns for the same table; bad input is a one-line error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.coverage import GroundIndex, compute_coverage
from skyfence.earth import enu_basis, geodetic_to_itrs
from skyfence.orbits import load_constellation
from skyfence.timeutil import time_grid
from skyfence.vocabulary import COLUMNS, describe

runner = CliRunner()
START = "2026-02-23T00:00:00Z"
WINDOW = ["--start", START, "--duration", "10m", "--step", "60s"]
KYIV = "Kyiv=50.45,30.52,registered=yes"  # Ukraine serves registered terminals from 2026-02


def _text(res) -> str:
    """The output with box drawing removed and whitespace collapsed (messages may wrap)."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", res.output).split())


def _ok(args: list[str]):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def three(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("three")
    out = {k: base / k for k in ("coverage", "network", "run")}
    _ok(["coverage", "-c", "starlink-gen1", "--terminal", KYIV, "--terminal",
         "Taipei=25.03,121.56", *WINDOW, "--network", "--no-maps", "--quiet",
         "--out", str(out["coverage"])])
    _ok(["network", "-c", "starlink-gen1", "--terminal", KYIV, "--terminal",
         "Taipei=25.03,121.56", *WINDOW, "--no-maps", "--quiet", "--out", str(out["network"])])
    scenario = base / "s.toml"
    scenario.write_text(
        f'name = "cmp"\n[time]\nstart = "{START}"\nduration = "10m"\nstep = "60s"\n'
        '[ground]\n[[ground.terminals]]\nname = "Kyiv"\nlat = 50.45\nlon = 30.52\n'
        'registered = true\n'
        '[[ground.terminals]]\nname = "Taipei"\nlat = 25.03\nlon = 121.56\n'
        '[network]\nrtt_every = "60s"\n[outputs]\nmaps = false\n')
    _ok(["run", "--scenario", str(scenario), "--quiet", "--out", str(out["run"])])
    return out


def test_three_commands_give_identical_steps(three) -> None:
    frames = {k: pd.read_parquet(p / "terminals.parquet") for k, p in three.items()}
    cols = ["terminal", "t_utc", "n_visible", "best_elevation_deg", "serving_norad_id",
            "status", "rule", "path_norad_id", "gateway", "pop", "rtt_ms", "rtt_floor_ms"]
    ref = frames["run"][cols]
    assert len(ref) == 2 * 11 and ref.loc[ref.terminal == "Kyiv", "rtt_ms"].notna().all()
    for name, frame in frames.items():
        assert list(frame.columns) == list(frames["run"].columns), name
        pd.testing.assert_frame_equal(frame[cols], ref, obj=name)
    # And the coverage columns equal the coverage library called directly.
    const = load_constellation("starlink-gen1", epoch=START)
    lat, lon = np.array([50.45, 25.03]), np.array([30.52, 121.56])
    ground = GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2])
    ts = compute_coverage(const, ground, time_grid(START, 600.0, 60.0),
                          timeseries_points=[0, 1]).timeseries
    kyiv = ref[ref.terminal == "Kyiv"]
    np.testing.assert_array_equal(kyiv["n_visible"], ts.n_visible[:, 0])
    np.testing.assert_allclose(kyiv["best_elevation_deg"], ts.best_elevation_deg[:, 0],
                               rtol=1e-6)
    serving = const.norad_ids[ts.serving_sat[:, 0]]
    np.testing.assert_array_equal(kyiv["serving_norad_id"].to_numpy(), serving)
    summaries = {k: pd.read_csv(p / "terminal_summary.csv") for k, p in three.items()}
    for name, s in summaries.items():
        pd.testing.assert_frame_equal(s, summaries["run"], obj=name)


def test_every_column_is_in_the_vocabulary_and_the_readme(three) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    seen = set()
    for out in three.values():
        for f in out.glob("*.parquet"):
            seen |= set(pd.read_parquet(f).columns)
    for col in seen:
        describe(col)  # KeyError if missing
    for col in COLUMNS:
        assert f"`{col}`" in readme, col


def test_csv_times_are_iso_utc_with_z(three) -> None:
    head = pd.read_csv(three["run"] / "terminals.csv", nrows=2)
    assert head["t_utc"].tolist() == ["2026-02-23T00:00:00Z", "2026-02-23T00:01:00Z"]


def test_netcdf_is_cf_and_complete(three) -> None:
    import cf_xarray  # noqa: F401  (registers the .cf accessor)

    with xr.open_dataset(three["run"] / "terminals.nc", engine="h5netcdf") as ds:
        assert ds.attrs["Conventions"] == "CF-1.10"
        assert ds.attrs["featureType"] == "timeSeries"
        assert ds.cf["latitude"].attrs["units"] == "degrees_north"
        assert ds.cf["longitude"].attrs["units"] == "degrees_east"
        assert ds.cf.cf_roles["timeseries_id"] == ["station_name"]
        # Flags decode to names: cf_xarray compares a flag variable with its meaning.
        kyiv = list(ds["station_name"].values).index("Kyiv")
        assert bool((ds["status"].cf == "served").isel(station=kyiv).all())
        taipei = list(ds["station_name"].values).index("Taipei")
        assert bool((ds["status"].cf == "blocked").isel(station=taipei).all())
        readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
        listed = re.search(r"`terminals\.nc` \(CF-1\.10 `timeSeries`, per step: ([^)]*)\)",
                           " ".join(readme.split()))
        assert listed, "README lists the per-step variables of terminals.nc"
        names = re.findall(r"`([a-z0-9_]+)`", listed.group(1))
        assert len(names) >= 10
        for var in names:
            assert var in ds.variables, var
        assert ds["rtt_ms"].attrs["units"] == "ms"


def test_coverage_regions_and_cell_series(tmp_path: Path) -> None:
    from skyfence.ground import region_cell_set, resolve_region

    cells = region_cell_set(resolve_region("Luxembourg"))
    one = cells.cell_strings[0]
    out = tmp_path / "lux"
    _ok(["coverage", "-c", "starlink-gen1", "--region", "Luxembourg", "--cell", one,
         "--start", START, "--duration", "4m", "--step", "60s", "--min-elevation", "40",
         "--gso-exclusion", "--out", str(out), "--quiet"])
    frame = pd.read_parquet(out / "cells.parquet")
    assert len(frame) == len(cells) and set(frame["region"]) == {"Luxembourg"}
    fc = json.loads((out / "cells.geojson").read_text())
    assert len(fc["features"]) == len(cells)
    summary = pd.read_csv(out / "regions.csv").set_index("region")
    assert summary.loc["Luxembourg", "n_cells"] == len(cells)
    assert any(p.name.startswith("map_served_luxembourg") for p in out.iterdir())
    series = pd.read_parquet(out / "cells_timeseries.parquet")
    assert set(series["h3_cell"]) == {one} and len(series) == 5
    with xr.open_dataset(out / "cells_timeseries.nc", engine="h5netcdf") as ds:
        assert list(ds["station_name"].values) == [one]


def test_network_outage_what_if_tables(tmp_path: Path) -> None:
    _ok(["network", "-c", "starlink-gen1-1", "--terminal", KYIV, "--start", START,
         "--duration", "45s", "--step", "15s", "--gateway-down", "Wola Krobowska",
         "--no-maps", "--quiet", "--out", str(tmp_path)])
    wt = pd.read_csv(tmp_path / "whatif_terminals.csv").set_index("terminal")
    assert wt.loc["Kyiv", "baseline_served_steps"] == 4
    t = pd.read_parquet(tmp_path / "terminals.parquet")
    assert "Wola Krobowska" not in set(t["gateway"].dropna())
    assert (tmp_path / "outages.csv").exists()


def test_bent_pipe_mid_pacific_has_nulls_not_zeros(tmp_path: Path) -> None:
    _ok(["network", "-c", "starlink-gen1-1", "--terminal", KYIV, "--terminal", "Pacific=0,-150",
         "--no-lasers", "--start", START, "--duration", "45s", "--step", "15s", "--no-maps",
         "--quiet", "--policy", "default", "--out", str(tmp_path)])
    df = pd.read_parquet(tmp_path / "terminals.parquet")
    kyiv = df[df.terminal == "Kyiv"]
    assert set(kyiv["pop"]) == {"Warsaw"} and (kyiv["n_laser_hops"] == 0).all()
    pac = df[df.terminal == "Pacific"]
    assert pac["gateway"].isna().all() and pac["rtt_ms"].isna().all()
    assert pac["n_laser_hops"].isna().all()


@pytest.mark.parametrize(("command", "args", "message"), [
    ("coverage", ["--region", "Ukrane"], "did you mean Ukraine"),
    ("coverage", [], "give at least one --terminal or --region"),
    ("coverage", ["--terminal", KYIV, "--min-elevation", "90"], "[0, 90) deg"),
    ("coverage", ["--terminal", KYIV, "--step", "0s"], "must be > 0 s"),
    ("coverage", ["--terminal", KYIV, "--strategy", "best"], "strategy"),
    ("coverage", ["--terminal", KYIV, "--duration", "100000d"], "memory_budget_gib"),
    ("coverage", ["--region", "Russia", "--resolution", "12"], "memory_budget_gib"),
    ("network", ["--terminal", KYIV, "--gateway-down", "Wola"], "unknown gateway or PoP"),
    ("network", ["--terminal", KYIV, "--laser-range-km", "0"], "laser range"),
    ("network", ["--terminal", KYIV, "--routing", "cheapest"], "routing"),
    ("network", ["--terminal", KYIV, "--allow-gateway-countries", "Poland"], "ISO"),
    ("network", ["--terminal", "A=1,2", "--terminal", "A=3,4"], "duplicate"),
    ("network", [], "give at least one --terminal"),
    ("run", ["--policy", "nosuchpolicy"], "unknown built-in policy 'nosuchpolicy'"),
    ("run", ["--dask", "nowhere"], "must be 'local' or a scheduler address"),
    ("run", ["--gateway-down", "Atlantis"], "Atlantis"),
])
def test_bad_input_is_one_line(tmp_path: Path, command: str, args: list[str],
                               message: str) -> None:
    common = ["--out", str(tmp_path / "o"), "--no-maps", "--quiet"]
    if command != "run":
        common += ["-c", "starlink-gen1", "--duration", "2m"]
    else:
        common += ["--duration", "2m", "--no-network"] if "--gateway-down" not in args else [
            "--duration", "2m"]
    res = runner.invoke(app, [command, *common, *args])
    assert res.exit_code == 2, res.output
    text = _text(res)
    assert message in text, text
    assert "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("Error:")]) == 1


def test_bad_region_files_are_errors(tmp_path: Path) -> None:
    open_ring = tmp_path / "open.geojson"
    open_ring.write_text(json.dumps(
        {"type": "Polygon", "coordinates": [[[30, 50], [31, 50], [31, 51], [30, 51]]]}))
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "Polygon", "coordinates": []}))
    for path, message in ((open_ring, "open ring"), (empty, "empty Polygon")):
        res = runner.invoke(app, ["coverage", "-c", "starlink-gen1", "--region", str(path),
                                  "--out", str(tmp_path / "o"), "--quiet"])
        assert res.exit_code == 2 and message in _text(res), res.output


def test_region_smaller_than_a_cell_gets_one_cell(tmp_path: Path) -> None:
    speck = tmp_path / "speck.geojson"
    speck.write_text(json.dumps({"type": "Polygon", "coordinates": [
        [[30.5, 50.4], [30.501, 50.4], [30.501, 50.401], [30.5, 50.401], [30.5, 50.4]]]}))
    _ok(["coverage", "-c", "starlink-gen1", "--region", str(speck), "--duration", "2m",
         "--no-maps", "--quiet", "--out", str(tmp_path / "o")])
    assert len(pd.read_parquet(tmp_path / "o" / "cells.parquet")) == 1


def test_bad_site_file_row_names_file_and_line(tmp_path: Path) -> None:
    gw = tmp_path / "gw.csv"
    gw.write_text("name,lat,lon,country\nWola Krobowska,52.184,20.854,PL\nKaunas,x,24.01,LT\n")
    res = runner.invoke(app, ["network", "-c", "starlink-gen1-1", "--terminal", KYIV,
                              "--gateways", str(gw), "--duration", "15s", "--quiet",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "gw.csv:3: lat" in res.output and "must be a number" in res.output


def test_output_folder_that_is_a_file_or_device_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "taken.txt"
    afile.write_text("keep me")
    for out in (afile, Path("/dev/null")):
        res = runner.invoke(app, ["coverage", "-c", "starlink-gen1", "--terminal", KYIV,
                                  "--duration", "2m", "--quiet", "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert "not a directory" in _text(res)
    assert afile.read_text() == "keep me"
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("command", ["coverage", "network", "policy"])
def test_ground_point_syntax_is_one_in_every_command(tmp_path: Path, command: str) -> None:
    # Longitude 200 and a bare third number are refused the same way everywhere.
    for bad, message in (("X=10,200", "longitude 200"), ("X=50.45,30.52,100", "alt_m=")):
        if command == "policy":
            args = ["policy", "check", "--point", bad]
        else:
            args = [command, "-c", "starlink-gen1", "--terminal", bad, "--duration", "1m",
                    "--quiet", "--out", str(tmp_path / "o")]
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (command, bad, res.output)
        assert message in _text(res), (command, bad, res.output)


def test_ground_point_extras_land_where_they_should(tmp_path: Path) -> None:
    point = "Van=50.45,30.52,alt_m=150,speed_kmh=100,id=UA-17"
    _ok(["coverage", "-c", "starlink-gen1", "--terminal", point, "--start",
         "2026-01-31T12:00:00Z", "--duration", "2m", "--policy", "world", "--quiet",
         "--no-maps", "--out", str(tmp_path)])
    summ = pd.read_csv(tmp_path / "terminal_summary.csv").iloc[0]
    assert summ["altitude_m"] == pytest.approx(150.0) and summ["id"] == "UA-17"
    t = pd.read_parquet(tmp_path / "terminals.parquet")
    assert (t["speed_kmh"] == 100.0).all()
    # 100 km/h in Ukraine on 2026-01-31 (speed limit 75 km/h, unregistered): off by the rule.
    assert set(t["dish_code"]) == {"MOVING_TOO_FAST_FOR_POLICY"}
    res = _ok(["policy", "check", "--point", point, "--at", "2026-01-31T12:00:00Z",
               "--format", "json"])
    answer = json.loads(res.output)[0]
    assert answer["served"] is False and answer["code"] == "MOVING_TOO_FAST_FOR_POLICY"
    # The same point in a scenario file.
    sc = tmp_path / "s.toml"
    sc.write_text('[time]\nstart = "2026-01-31T12:00:00Z"\nduration = "1m"\n[network]\n'
                  'enabled = false\n[capacity]\nenabled = false\n[[ground.terminals]]\n'
                  'name = "Van"\nlat = 50.45\nlon = 30.52\naltitude_m = 150\n'
                  'speed_kmh = 100\nid = "UA-17"\n')
    _ok(["run", "--scenario", str(sc), "--quiet", "--no-maps", "--out", str(tmp_path / "r")])
    t2 = pd.read_parquet(tmp_path / "r" / "terminals.parquet")
    assert set(t2["dish_code"]) == {"MOVING_TOO_FAST_FOR_POLICY"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[ground.terminals]]\nname = "X"\nlat = 10\nlon = 200\n')
    res = runner.invoke(app, ["run", "--scenario", str(bad), "--quiet", "--out",
                              str(tmp_path / "b")])
    assert res.exit_code == 2 and "longitude" in _text(res)
