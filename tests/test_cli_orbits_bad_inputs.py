"""Table-driven: every bad input to ``constellation`` and ``propagate`` -> exit 2, one
``Error:`` line naming the file, line or field, no traceback, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SHARED_DATA
from skyfence.cli import app

runner = CliRunner()
BAD = SHARED_DATA / "bad-inputs"
GOOD_L1 = "1 44714U 19074B   26053.95338319  .00001514  00000+0  61711-4 0  9998"
GOOD_L2 = "2 44714  53.1565 247.2957 0001251  94.4223 265.6921 15.31035506346616"


def _setup(tmp: Path) -> None:
    (tmp / "empty.tle").write_text("")
    (tmp / "binary.tle").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp / "nul.tle").write_bytes(f"X\n{GOOD_L1}\n{GOOD_L2}\n\x00".encode())
    (tmp / "deep.json").write_text("[" * 50_000)
    (tmp / "latin1.tle").write_bytes(b"SAT \xe9\n" + GOOD_L1.encode() + b"\n")
    (tmp / "xml.tle").write_text("<?xml version='1.0'?><ndm/>")
    (tmp / "good.tle").write_text(f"X\n{GOOD_L1}\n{GOOD_L2}\n")
    os.mkfifo(tmp / "fifo.tle")
    os.mkfifo(tmp / "fifo.csv")
    (tmp / "adir").mkdir()


# (arguments with {tmp} and {bad}, text the Error line must hold)
CASES = [
    (["constellation", "info", "{tmp}/none.tle"], "element file not found: {tmp}/none.tle"),
    (["constellation", "info", "{tmp}/adir"], "{tmp}/adir: not a file but a directory"),
    (["constellation", "info", "{tmp}/fifo.tle"], "{tmp}/fifo.tle: not a regular file"),
    (["constellation", "info", "{tmp}/empty.tle"], "{tmp}/empty.tle: the file is empty"),
    (["constellation", "info", "{tmp}/binary.tle"], "{tmp}/binary.tle:1: not a text file"),
    (["constellation", "info", "{tmp}/nul.tle"], "{tmp}/nul.tle:4: binary content"),
    (["constellation", "info", "{tmp}/latin1.tle"], "{tmp}/latin1.tle:1: not a text file"),
    (["constellation", "info", "{tmp}/deep.json"], "{tmp}/deep.json:1: nested deeper"),
    (["constellation", "info", "{tmp}/xml.tle"], "{tmp}/xml.tle:1: unknown element format"),
    (["constellation", "info", "{bad}/omm_bigint.json"], "omm_bigint.json:1: field "
                                                         "ELEMENT_SET_NO"),
    (["constellation", "info", "{bad}/omm_ephtype_1e308.json"], "omm_ephtype_1e308.json:1: "
                                                                "field EPHEMERIS_TYPE"),
    (["constellation", "info", "{bad}/omm_cr.csv"], "omm_cr.csv:2: a line break"),
    (["constellation", "info", "{bad}/tle_space_in_field.tle"], "tle_space_in_field.tle:3: "
                                                                "TLE line 2: the mean motion"),
    (["constellation", "info", "{bad}/tle_space_in_incl.tle"], "tle_space_in_incl.tle:3: TLE "
                                                               "line 2 does not match"),
    (["constellation", "info", "{bad}/tle_mm99.tle"], "tle_mm99.tle:3: SGP4 rejects"),
    (["constellation", "info", "starlink-gen1", "--epoch", "nonsense"], "epoch: cannot read"),
    (["constellation", "info", "starlink-gen1", "--format", "xml"], "--format:"),
    (["constellation", "export", "starlink-gen1-5", "--out", "{tmp}/fifo.tle"],
     "--out: {tmp}/fifo.tle is not a regular file"),
    (["constellation", "export", "starlink-gen1-5", "--out", "{tmp}/x.parquet"],
     "--out: output must end in .tle"),
    (["constellation", "export", "{bad}/tle_mm99.tle", "--out", "{tmp}/x.tle"],
     "tle_mm99.tle:3: SGP4 rejects"),
    (["constellation", "fetch", "no group!", "--cache-dir", "{tmp}/cache"], "group:"),
    (["constellation", "fetch", "starlink", "--cache-dir", "{tmp}/cache", "--url",
      "file:///etc/passwd"], "url: the GP endpoint must be an http(s) URL"),
    (["constellation", "fetch", "starlink", "--cache-dir", "{tmp}/cache", "--format", "xml"],
     "format:"),
    (["constellation", "fetch", "starlink", "--cache-dir", "{tmp}/cache", "--url",
      "http://127.0.0.1:9/", "--timeout", "2s"], "no cached copy"),
    (["constellation", "fetch", "starlink", "--cache-dir", "{tmp}/cache", "--out",
      "{tmp}/fifo.tle"], "--out: {tmp}/fifo.tle is not a regular file"),
    (["propagate", "{bad}/tle_mm99.tle", "--out", "{tmp}/p.csv"], "tle_mm99.tle:3: SGP4"),
    (["propagate", "{bad}/omm_bigint.json", "--out", "{tmp}/p.csv"], "omm_bigint.json:1:"),
    (["propagate", "{tmp}/good.tle", "--out", "{tmp}/p.csv", "--start",
      "1950-01-01T00:00:00Z"], "satellites failed"),
    (["propagate", "{tmp}/good.tle", "--out", "{tmp}/p.csv", "--start",
      "1950-01-01T00:00:00Z", "--with-errors"], "no usable satellite"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/fifo.csv"], "--out:"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/adir"], "--out: output must end in"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/p.txt"], "--out: output must end in"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/p.csv", "--start", "2026-13-01"],
     "--start: cannot read time"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/p.csv", "--frame", "GCRS"], "--frame:"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/p.csv", "--step", "0s"], "step"),
    (["propagate", "starlink-gen1-5", "--out", "{tmp}/p.csv", "--max-rows", "0"],
     "--max-rows:"),
    (["propagate", "starlink-gen1", "--out", "{tmp}/p.csv", "--duration", "36500d"],
     "time steps"),
]


@pytest.mark.parametrize(("args", "expected"), CASES,
                         ids=[" ".join(a[:3]) + f"#{i}" for i, (a, _) in enumerate(CASES)])
def test_bad_input_exit_2_one_error_line_nothing_written(tmp_path, shared_data, args,
                                                         expected):
    _setup(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    fill = {"tmp": str(tmp_path), "bad": str(BAD)}
    res = runner.invoke(app, [a.format(**fill) for a in args])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert expected.format(**fill) in errors[0], errors[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
