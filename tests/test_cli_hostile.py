"""Bad input on every command, table-driven: exit 2, one ``Error:`` line naming the file, line
or field, no traceback, nothing written, and the policy store unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SHARED_DATA
from skyfence.cli import app

runner = CliRunner()
SHARED = SHARED_DATA
BAD = SHARED / "bad-inputs"
TERMINAL = "[[ground.terminals]]\nname = \"K\"\nlat = 50.45\nlon = 30.52\n"


def _files(tmp: Path) -> dict[str, Path]:
    f = {
        "typo": "[time]\nstepp = \"60s\"\n",
        "nested": "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "nsstep": "[time]\nduration = \"1d\"\nstep = \"0.000000001s\"\n",
        "century": "[time]\nduration = \"36500d\"\n" + TERMINAL,
        "empty_ground": "[ground]\nregions = []\nterminals = []\n[network]\nenabled = false\n",
        "far_region": "[[ground.regions]]\nname = \"Russia\"\nresolution = 12\n",
        "lon200": "[[ground.terminals]]\nname = \"X\"\nlat = 10\nlon = 200\n",
        "mask95": "[constellation]\nmin_elevation_deg = 95\n",
        "unknown_region": "[[ground.regions]]\nname = \"Ukrane\"\n",
        "future": "[time]\nstart = \"2100-01-01T00:00:00Z\"\nduration = \"1m\"\n"
                  f"[constellation]\nsource = \"{SHARED / 'starlink-2026-02-23.tle'}\"\n"
                  + TERMINAL,
        "bad_policy": "[policy]\nsource = \"nosuch\"\n" + TERMINAL,
    }
    out = {}
    for name, text in f.items():
        p = tmp / f"{name}.toml"
        p.write_text(text)
        out[name] = p
    binary = tmp / "binary.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    out["binary"] = binary
    return out


RUN_CASES = [
    ("typo", "time.stepp"),
    ("nested", "nest"),
    ("nsstep", "memory_budget_gib"),
    ("century", "memory_budget_gib"),
    ("empty_ground", "no ground"),
    ("far_region", "memory_budget_gib"),
    ("lon200", "longitude"),
    ("mask95", "min_elevation_deg"),
    ("unknown_region", "Ukraine"),
    ("future", "days"),
    ("bad_policy", "nosuch"),
    ("binary", "binary.toml"),
]


def _one_error(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    return errors[0]


@pytest.mark.parametrize(("name", "message"), RUN_CASES)
def test_bad_scenarios(tmp_path: Path, name: str, message: str) -> None:
    files = _files(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "--scenario", str(files[name]), "--quiet", "--out",
                              str(out)])
    line = _one_error(res)
    assert message in line, line
    assert not out.exists() or not any(out.iterdir())


# Never an empty (silently skipped) set: without the folder the one case fails and says why.
@pytest.mark.parametrize("name", sorted(p.name for p in BAD.glob("*") if p.suffix != ".md")
                         or ["bad-inputs folder missing"])
def test_bad_element_files_name_their_line(tmp_path: Path, shared_data: Path, name: str) -> None:
    assert (BAD / name).is_file(), f"{BAD / name} not found"
    res = runner.invoke(app, ["constellation", "info", str(BAD / name)])
    line = _one_error(res)
    assert name in line, line


@pytest.mark.parametrize(("args", "message"), [
    (["propagate", "starlink-gen1", "--start", "2026-02-23T00:00:00Z", "--duration", "10m",
      "--step", "0s", "--out", "p.parquet"], "step"),
    (["coverage", "-c", "starlink-gen1", "--terminal", "K=50,30", "--min-elevation", "95"],
     "[0, 90)"),
    (["coverage", "-c", "nosuch-preset", "--terminal", "K=50,30"], "nosuch-preset"),
    (["network", "-c", "starlink-gen1", "--terminal", "K=50,30", "--gateway-down",
      "Atlantis"], "Atlantis"),
    (["regions", "cells", "Luxembourg", "--out", "/dev/full"], "/dev/full"),
    (["policy", "check", "--point", "K=50,30", "--at", "soon"], "soon"),
    (["policy", "check", "--point", "K=50,30", "--policy", "nosuch"], "nosuch"),
    (["request", "decide", "1180591620717411303424", "--outcome", "approved", "--why", "x"],
     "request_id"),
])
def test_bad_command_options(tmp_path: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, [*args, *(["--out", str(tmp_path / "o")]
                                       if args[0] in ("coverage", "network") else [])])
    line = _one_error(res)
    assert message in line, line
    assert Path("/dev/full").is_char_device()


def test_refused_store_calls_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["policy", "apply", "default", "--db", str(db), "--by", "alice"])
    assert res.exit_code == 0, res.output

    def snapshot() -> tuple[bytes, list[tuple]]:
        with sqlite3.connect(db) as c:
            counts = [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()
                      for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return db.read_bytes(), counts

    empty = tmp_path / "empty.toml"
    empty.write_text('name = "default"\ndefault_action = "on"\ndefault_reason = "x"\n')
    before = snapshot()
    for args, message in [
        (["request", "file", "--region", "Atlantis", "--action", "on", "--why", "w",
          "--by", "bob", "--db", str(db)], "Atlantis"),
        (["request", "file", "--region", "Crimea", "--action", "on", "--why", "w",
          "--by", " ", "--db", str(db)], "by"),
        (["request", "file", "--region", "Crimea", "--action", "on", "--why", "w",
          "--by", "bob", "--from", "2100-01-01T00:00:00Z", "--db", str(db)], "2100"),
        (["policy", "apply", str(empty), "--db", str(db), "--by", "alice"], "allow-sweeping"),
        (["request", "decide", "99", "--outcome", "approved", "--why", "w", "--by", "carol",
          "--db", str(db)], "99"),
    ]:
        line = _one_error(runner.invoke(app, args))
        assert message in line, (args, line)
        assert snapshot() == before, args
