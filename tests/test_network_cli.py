"""``skyfence network``: the paths table, what-if outputs and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.cli.network import parse_terminal
from skyfence.errors import SiteError

runner = CliRunner()
BASE = ["network", "--constellation", "starlink-gen1-1", "--start", "2026-02-23T00:00:00Z",
        "--duration", "45s", "--step", "15s"]


def test_paths_parquet_columns_and_nulls(tmp_path: Path) -> None:
    res = runner.invoke(app, [*BASE, "--terminal", "Kyiv=50.45,30.52",
                              "--terminal", "Pacific=0,-150", "--no-lasers",
                              "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    table = pq.read_table(tmp_path / "paths.parquet")
    assert table.column_names == ["terminal", "t_utc", "serving_norad_id", "gateway", "pop",
                                  "n_laser_hops", "rtt_ms"]
    df = table.to_pandas()
    assert len(df) == 2 * 4
    kyiv = df[df.terminal == "Kyiv"]
    assert set(kyiv["pop"]) == {"Warsaw"} and (kyiv["n_laser_hops"] == 0).all()
    assert kyiv["rtt_ms"].between(5.0, 40.0).all()
    # Mid-Pacific without lasers: no gateway within reach -> nulls, not zeros.
    pac = df[df.terminal == "Pacific"]
    assert pac["gateway"].isna().all() and pac["rtt_ms"].isna().all()
    assert pac["n_laser_hops"].isna().all()
    assert str(table.schema.field("t_utc").type) == "timestamp[ns, tz=UTC]"
    summary = pd.read_csv(tmp_path / "terminals.csv")
    assert summary.set_index("user").loc["Kyiv", "served_share"] == 1.0
    assert (tmp_path / "gateway_load.csv").exists() and (tmp_path / "rtt_by_time.csv").exists()


def test_gateway_down_writes_what_if(tmp_path: Path) -> None:
    res = runner.invoke(app, [*BASE, "--terminal", "Kyiv=50.45,30.52",
                              "--gateway-down", "Wola Krobowska", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    diff = pd.read_csv(tmp_path / "whatif.csv")
    assert diff.loc[0, "outcome"] in {"longer RTT", "loses service"}
    assert (tmp_path / "whatif.png").stat().st_size > 10_000
    df = pq.read_table(tmp_path / "paths.parquet").to_pandas()
    assert "Wola Krobowska" not in set(df["gateway"].dropna())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--terminal", "Kyiv=50.45,30.52", "--gateway-down", "Wola"], "unknown gateway or PoP"),
        (["--terminal", "Kyiv=50.45"], "use NAME=LAT,LON"),
        (["--terminal", "Kyiv=95,30"], "latitude must be in"),
        (["--terminal", "Kyiv=50.45,30.52", "--laser-range-km", "0"],
         "laser range must be > 0 km"),
        (["--terminal", "Kyiv=50.45,30.52", "--strategy", "cheapest"], "unknown strategy"),
        (["--terminal", "Kyiv=50.45,30.52", "--allow-gateway-countries", "Poland"],
         "ISO alpha-2"),
        (["--terminal", "A=1,2", "--terminal", "A=3,4"], "terminal names must be unique"),
        ([], "give at least one --terminal"),
    ],
)
def test_bad_input_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, [*BASE, *args, "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_bad_site_file_row(tmp_path: Path) -> None:
    gw = tmp_path / "gw.csv"
    gw.write_text("name,lat,lon,country\nWola Krobowska,52.184,20.854,PL\nKaunas,x,24.01,LT\n")
    res = runner.invoke(app, [*BASE, "--terminal", "Kyiv=50.45,30.52", "--gateways", str(gw),
                              "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "gw.csv:3: lat" in res.output and "must be a number" in res.output


def test_parse_terminal() -> None:
    assert parse_terminal(" Kyiv = 50.45 , 30.52 ") == ("Kyiv", 50.45, 30.52)
    assert parse_terminal("A b=-1e1,+2") == ("A b", -10.0, 2.0)
    with pytest.raises(SiteError):
        parse_terminal("=1,2")
    assert np.isfinite(parse_terminal("x=0,0")[1])
