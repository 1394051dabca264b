"""``skyfence regions list|show|cells`` through the real CLI."""

from __future__ import annotations

import csv
import json

import h3
import pytest
from typer.testing import CliRunner

from conftest import BLOCKED_CELLS_JSON, BLOCKED_GEOJSON
from skyfence.cli import app
from skyfence.ground import get_catalogue, region_cells

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("args", [["regions", "--help"], ["regions", "list", "--help"],
                                  ["regions", "show", "--help"], ["regions", "cells", "--help"]])
def test_help(args):
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_list_match_and_editions():
    result = _run("regions", "list", "--match", "taiw")
    assert result.exit_code == 0, result.output
    assert "Natural Earth 5.1.1" in result.output and "German point of view" in result.output
    assert "Taiwan" in result.output and "TWN" in result.output and "Ukraine" not in result.output
    result = _run("regions", "list", "--edition", "default", "--format", "json")
    data = json.loads(result.output)
    assert "Natural Earth 4.1.0" in data["edition"] and "de facto" in data["edition"]
    assert len(data["countries"]) == len(get_catalogue("default"))
    assert {b["name"] for b in data["builtin"]} == {"Crimea", "Sevastopol"}


def test_show_crimea_and_json():
    result = _run("regions", "show", "Crimea")
    assert result.exit_code == 0, result.output
    assert "km^2" in result.output and "cells:" in result.output
    data = json.loads(_run("regions", "show", "UKR", "--format", "json").output)
    assert data["name"] == "Ukraine"
    assert data["n_cells"] == region_cells(get_catalogue("deu").get("Ukraine"), 5).size
    assert 590_000 < data["area_km2"] < 610_000
    assert data["bounds"]["min_lon_deg"] == pytest.approx(22.13, abs=0.01)
    default = json.loads(_run("regions", "show", "Ukraine", "--edition", "default",
                              "--format", "json").output)
    assert default["area_km2"] < data["area_km2"] - 20_000  # Crimea drawn in Russia


def test_errors_exit_2_with_one_line():
    result = _run("regions", "show", "Ukrain")
    assert result.exit_code == 2
    assert "did you mean Ukraine" in " ".join(result.output.split())
    result = _run("regions", "list", "--edition", "usa")
    assert result.exit_code == 2 and "choose one of deu, default" in result.output


def test_cells_from_geojson_file_writes_h3_cell_column(tmp_path):
    out = tmp_path / "blocked.csv"
    result = _run("regions", "cells", str(BLOCKED_GEOJSON), "--resolution", "5",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = set(json.loads(BLOCKED_CELLS_JSON.read_text())["cells"])
    assert {r["h3_cell"] for r in rows} == expected and len(rows) == 297


def test_cells_from_name_at_coarse_resolution(tmp_path):
    out = tmp_path / "sub" / "ua.csv"
    result = _run("regions", "cells", "Ukraine", "--resolution", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out, newline="") as fh:
        cells = [r["h3_cell"] for r in csv.DictReader(fh)]
    assert all(h3.get_resolution(c) == 3 for c in cells)
    assert len(cells) == region_cells(get_catalogue("deu").get("Ukraine"), 3).size
    bad = _run("regions", "cells", str(tmp_path / "missing.geojson"), "--out", str(out))
    assert bad.exit_code == 2 and "region file not found" in bad.output
