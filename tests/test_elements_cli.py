"""``skyfence constellation info | fetch | export`` through typer's CliRunner."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import TLE_2023
from skyfence.cli import app
from skyfence.orbits.elements import load_elements
from test_elements_fetch import _Server

runner = CliRunner()


def _flat(text: str) -> str:
    """Output with rich's panel borders and line wrapping removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.fixture(scope="module")
def lines_2023(shared_data) -> list[str]:
    return TLE_2023.read_text().splitlines()


@pytest.mark.parametrize("args", [["constellation", "--help"], ["constellation", "info", "--help"],
                                  ["constellation", "fetch", "--help"],
                                  ["constellation", "export", "--help"]])
def test_help_everywhere(args) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output
    if args[-2] == "constellation" and args[-1] == "--help":
        assert all(cmd in res.output for cmd in ("info", "fetch", "export"))


def test_info_on_the_real_file(shared_data) -> None:
    res = runner.invoke(app, ["constellation", "info", str(TLE_2023)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert out.startswith("starlink-2023-05-29: 4,168 satellites")
    assert "epochs: 2023-05-28T01:16" in out and "to 2023-05-29T06:00" in out
    assert "shells (recovered from the elements):" in out
    assert re.search(r"53\.0\d deg / 54\d km: 1,\d{3} satellites", out)
    assert re.search(r"53\.2\d deg / 540 km: 1,\d{3} satellites", out)
    assert "unclustered (orbit raising, deorbiting or drifting)" in out
    assert "4,168 satellites loaded from 4,168 records; 0 skipped; 0 duplicate" in out


def test_info_json(shared_data) -> None:
    res = runner.invoke(app, ["constellation", "info", str(TLE_2023), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["n_satellites"] == 4168 and data["shells_from"] == "recovered"
    assert sum(s["n_sats"] for s in data["shells"]) + data["n_unclustered"] == 4168
    assert data["validation"]["skipped"] == [] and data["validation"]["n_records"] == 4168


def test_info_on_a_preset_shows_defined_shells() -> None:
    res = runner.invoke(app, ["constellation", "info", "starlink-gen1"])
    assert res.exit_code == 0, res.output
    assert "shells (defined by the preset):" in res.output
    for line in ("Gen1-1: 53.00 deg / 550 km: 1,584 satellites, 72 planes",
                 "Gen1-3: 70.00 deg / 570 km: 720 satellites, 36 planes",
                 "Gen1-5: 97.60 deg / 560 km: 172 satellites, 4 planes"):
        assert line in res.output
    assert "validation:" not in res.output


def test_bad_file_error_and_skip_invalid(tmp_path, lines_2023) -> None:
    lines = lines_2023[:9]
    lines[5] = lines[5][:68] + str((int(lines[5][68]) + 1) % 10)  # break record 2's line 2
    lines.append(lines_2023[0])  # a name line with nothing after it
    path = tmp_path / "bad.tle"
    path.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["constellation", "info", str(path)])
    assert res.exit_code == 2
    assert f"{path}:6: checksum error on TLE line 2" in _flat(res.output)
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["constellation", "info", str(path), "--skip-invalid"])
    assert res.exit_code == 0, res.output
    assert "2 satellites loaded from 4 records; 2 skipped" in res.output
    assert f"  {path}:6: checksum error on TLE line 2" in res.output
    assert f"  {path}:10: expected line 1 of the element set named" in res.output
    data = json.loads(runner.invoke(app, ["constellation", "info", str(path), "--skip-invalid",
                                          "--format", "json"]).output)
    assert [s["where"] for s in data["validation"]["skipped"]] == [f"{path}:6", f"{path}:10"]


def test_info_lists_duplicates(tmp_path, lines_2023) -> None:
    path = tmp_path / "dup.tle"
    path.write_text("\n".join(lines_2023[:3] + lines_2023[:3]) + "\n")
    res = runner.invoke(app, ["constellation", "info", str(path)])
    assert res.exit_code == 0, res.output
    assert "duplicate catalogue numbers (newest epoch kept):" in res.output
    assert re.search(r"  44713: kept 2023-05-29T03:41:47\.\d+Z, dropped", res.output)


def test_info_bad_arguments(tmp_path) -> None:
    res = runner.invoke(app, ["constellation", "info", "starlink-gen1", "--format", "xml"])
    assert res.exit_code == 2 and "format must be text or json, got 'xml'" in _flat(res.output)
    res = runner.invoke(app, ["constellation", "info", str(tmp_path / "none.tle")])
    assert res.exit_code == 2 and "element file not found" in _flat(res.output)
    empty = tmp_path / "empty.tle"
    empty.write_text("")
    res = runner.invoke(app, ["constellation", "info", str(empty)])
    assert res.exit_code == 2 and "the file is empty: no element sets" in _flat(res.output)


def test_export_a_walker_preset(tmp_path) -> None:
    out = tmp_path / "gen1-4.tle"
    res = runner.invoke(app, ["constellation", "export", "starlink-gen1-4", "--out", str(out),
                              "--epoch", "2026-03-01T00:00:00Z"])
    assert res.exit_code == 0, res.output
    assert f"wrote 348 element sets to {out}" in res.output
    const = load_elements(out)
    assert len(const) == 348
    assert str(const.epochs_utc[0]).startswith("2026-03-01T00:00:00")
    # The exported shell is recovered as one shell of the preset's geometry.
    res = runner.invoke(app, ["constellation", "info", str(out)])
    assert re.search(r"97\.60 deg / 560 km: 348 satellites, ~6 planes", res.output), res.output
    res = runner.invoke(app, ["constellation", "export", "starlink-gen1-4", "--out",
                              str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "output must end in .tle, .3le, .txt" in _flat(res.output)


def test_fetch_command(tmp_path, lines_2023) -> None:
    text = "\n".join(lines_2023[:30]) + "\n"
    with _Server(text) as server:
        args = ["constellation", "fetch", "starlink", "--cache-dir", str(tmp_path / "cache"),
                "--url", server.url, "--timeout", "5s"]
        res = runner.invoke(app, [*args, "--out", str(tmp_path / "copy.tle")])
        assert res.exit_code == 0, res.output
        assert "starlink: downloaded" in res.output and "10 satellites loaded" in res.output
        assert (tmp_path / "copy.tle").read_text() == text
        res = runner.invoke(app, args)
        assert res.exit_code == 0 and "starlink: cached copy" in res.output
        assert len(server.queries) == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/gp.php"
    res = runner.invoke(app, ["constellation", "fetch", "starlink", "--cache-dir",
                              str(tmp_path / "cache"), "--url", dead, "--max-age", "0s"])
    assert res.exit_code == 0, res.output
    assert "Warning: download from CelesTrak failed" in res.output
    assert "stale cached copy" in res.output
    res = runner.invoke(app, ["constellation", "fetch", "starlink", "--cache-dir",
                              str(tmp_path / "empty"), "--url", dead])
    assert res.exit_code == 2
    assert "Pass a local element file instead" in _flat(res.output)
    res = runner.invoke(app, ["constellation", "fetch", "star link"])
    assert res.exit_code == 2 and "is not a CelesTrak group name" in _flat(res.output)
    assert not Path("star link").exists()
