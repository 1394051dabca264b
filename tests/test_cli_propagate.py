"""The propagate command and the CLI shell: outputs, help, error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import skyfence
from skyfence.cli import app
from skyfence.orbits import load_constellation, propagate
from skyfence.timeutil import time_grid

runner = CliRunner()


def test_public_api_all_names_exist() -> None:
    for name in skyfence.__all__:
        assert hasattr(skyfence, name), name


def test_help_on_root_and_propagate() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "propagate" in res.output
    res = runner.invoke(app, ["propagate", "--help"])
    assert res.exit_code == 0 and "--duration" in res.output


def test_propagate_parquet_columns_and_values(tmp_path: Path) -> None:
    out = tmp_path / "pos.parquet"
    res = runner.invoke(app, ["propagate", "starlink-gen1-5", "--start", "2026-02-23T00:00:00Z",
                              "--duration", "10m", "--step", "60s", "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert list(df.columns) == ["norad_id", "t_utc", "x_km", "y_km", "z_km"]
    assert len(df) == 172 * 11
    const = load_constellation("starlink-gen1-5", epoch="2026-02-23T00:00:00Z")
    eph = propagate(const, time_grid("2026-02-23T00:00:00Z", 600, 60))
    first = df[df.norad_id == const.norad_ids[3]].sort_values("t_utc")
    assert np.allclose(first[["x_km", "y_km", "z_km"]].to_numpy(), eph.r_km[3], atol=1e-9)
    radius = np.linalg.norm(df[["x_km", "y_km", "z_km"]].to_numpy(), axis=1)
    assert ((radius > 6378 + 500) & (radius < 6378 + 620)).all()


def test_propagate_csv(tmp_path: Path) -> None:
    out = tmp_path / "pos.csv"
    res = runner.invoke(app, ["propagate", "starlink-gen1-5", "--duration", "2m", "--step",
                              "60s", "--out", str(out), "--with-errors"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert list(df.columns)[-1] == "sgp4_error" and len(df) == 172 * 3


def test_propagate_errors_are_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["propagate", "starlink-gen1", "--step", "0s", "--out",
                              str(tmp_path / "x.parquet")])
    assert res.exit_code == 2
    assert "step must be > 0" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["propagate", "starlink-gen1", "--out", str(tmp_path / "x.txt")])
    assert res.exit_code == 2 and "must end in .parquet or .csv" in res.output
    res = runner.invoke(app, ["propagate", "no-such-preset", "--out", str(tmp_path / "x.csv")])
    assert res.exit_code == 2 and "unknown constellation preset" in res.output
