"""``skyfence policy`` and ``skyfence request``: the thin CLI over the policy library and store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.policy.io import default_policy_path

runner = CliRunner()

PLACES = {  # approximate public coordinates (city centres), lat, lon degrees
    "Kyiv": (50.450, 30.524), "Kharkiv": (49.994, 36.231), "Simferopol": (44.952, 34.102),
    "Sevastopol": (44.616, 33.525), "Kerch": (45.357, 36.468), "Taipei": (25.033, 121.565),
    "Kinmen": (24.449, 118.377), "Minsk": (53.900, 27.567), "Moscow": (55.756, 37.617),
    "Warsaw": (52.230, 21.011),
}


def _points(*names: str, speed: dict[str, float] | None = None) -> list[str]:
    args = []
    for n in names:
        lat, lon = PLACES[n]
        extra = f",speed_kmh={speed[n]}" if speed and n in speed else ""
        args += ["--point", f"{n}={lat},{lon}{extra}"]
    return args


def _run(args: list[str], **kw):
    return runner.invoke(app, args, catch_exceptions=False, **kw)


def _check(args: list[str]) -> dict[str, dict]:
    res = _run(["policy", "check", "--format", "json", *args])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    return {d["name"]: d for d in out}


def test_check_default_policy_on_the_news_situation():
    got = _check([*_points(*PLACES), "--at", "2026-02-23T00:00:00Z", "--policy", "default"])
    for d in got.values():
        assert {"name", "cell", "served", "rule", "reason"} <= set(d)
    served = {n: (d["served"], d["rule"], d["code"]) for n, d in got.items()}
    assert served == {
        "Kyiv": (True, "ukraine-on", None), "Kharkiv": (True, "ukraine-on", None),
        "Simferopol": (False, "crimea-off", "BLOCKED_AREA"),
        "Sevastopol": (False, "crimea-off", "BLOCKED_AREA"),
        "Kerch": (False, "crimea-off", "BLOCKED_AREA"),
        "Taipei": (False, "taiwan-off", "BLOCKED_COUNTRY"),
        "Kinmen": (False, "taiwan-off", "BLOCKED_COUNTRY"),
        "Minsk": (False, "belarus-off", "BLOCKED_COUNTRY"),
        "Moscow": (False, "russia-off", "BLOCKED_COUNTRY"),
        "Warsaw": (True, "default", None),
    }
    assert got["Kyiv"]["cell"] == "851e6387fffffff"  # h3.latlng_to_cell(50.45, 30.524, 5)


def test_check_history_before_activation_and_moving_terminal():
    before = _check([*_points("Kyiv"), "--at", "2022-02-25T12:00:00Z", "--policy", "default"])
    assert (before["Kyiv"]["served"], before["Kyiv"]["rule"]) == (False, "ukraine-not-offered")
    fast = _check([*_points("Kyiv", "Warsaw", speed={"Kyiv": 120.0, "Warsaw": 120.0}),
                   "--at", "2026-02-23T00:00:00Z", "--policy", "default"])
    assert (fast["Kyiv"]["served"], fast["Kyiv"]["code"]) == (False,
                                                              "MOVING_TOO_FAST_FOR_POLICY")
    assert fast["Kyiv"]["rule"] == "ukraine-speed-limit" and fast["Kyiv"]["speed_kmh"] == 120.0
    assert fast["Warsaw"]["served"]
    early = _check([*_points("Kyiv", speed={"Kyiv": 120.0}), "--at", "2025-06-01T00:00:00Z",
                    "--policy", "default"])
    assert early["Kyiv"]["served"]


@pytest.mark.parametrize(("edition", "served", "rule"), [
    ("deu", True, "ukraine-on"),       # German point of view: Crimea is in Ukraine
    ("default", False, "russia-off"),  # de facto edition: Crimea is drawn in Russia
])
def test_check_depends_on_the_boundary_edition(tmp_path, edition, served, rule):
    pol = tmp_path / "p.toml"
    pol.write_text('[[rules]]\nname = "ukraine-on"\nregion = "Ukraine"\naction = "on"\n'
                   '[[rules]]\nname = "russia-off"\nregion = "Russia"\naction = "off"\n')
    got = _check([*_points("Simferopol", "Kyiv"), "--at", "2024-01-01T00:00:00Z",
                  "--policy", str(pol), "--edition", edition])
    assert (got["Simferopol"]["served"], got["Simferopol"]["rule"]) == (served, rule)
    assert got["Kyiv"]["rule"] == "ukraine-on"


def test_check_table_and_bad_point():
    res = _run(["policy", "check", *_points("Kyiv"), "--at", "2024-01-01T00:00:00Z",
                "--policy", "default"])
    assert res.exit_code == 0 and "ukraine-on" in res.output and "Kyiv" in res.output
    bad = runner.invoke(app, ["policy", "check", "--point", "Kyiv=50.45", "--at", "2024-01-01"])
    assert bad.exit_code == 2 and "NAME=LAT,LON" in bad.output
    bad = runner.invoke(app, ["policy", "check", "--point", "X=95,0", "--at", "2024-01-01"])
    assert bad.exit_code == 2 and "latitude 95" in bad.output
    # One syntax everywhere: a bare third number is ambiguous, longitude 200 is refused.
    bad = runner.invoke(app, ["policy", "check", "--point", "Kyiv=50.45,30.52,100"])
    assert bad.exit_code == 2 and "write alt_m=100" in bad.output
    bad = runner.invoke(app, ["policy", "check", "--point", "X=10,200"])
    assert bad.exit_code == 2 and "longitude 200 is outside [-180, 180]" in bad.output


def test_check_uses_the_world_policy_by_default_with_registration():
    """No --policy: the built-in world policy; registration and territories in the output."""
    args = [*_points("Kyiv", "Warsaw"), "--at", "2026-02-23T00:00:00Z"]
    got = _check(args)
    assert got["Kyiv"]["rule"] == "ukraine-registered-only"
    assert (got["Kyiv"]["served"], got["Kyiv"]["code"]) == (False, "UNREGISTERED")
    assert got["Warsaw"]["served"] and got["Warsaw"]["rule"].startswith("POL:on")
    assert got["Kyiv"]["territories"][0]["name"] == "Ukraine"
    reg = _check([*args, "--registered", "Kyiv", "--terminal-id", "Kyiv=UT-0001"])
    assert reg["Kyiv"]["served"] and reg["Kyiv"]["registered"] is True
    assert reg["Kyiv"]["terminal_id"] == "UT-0001"
    by_id = _check([*args, "--registered", "UT-0001", "--terminal-id", "Kyiv=UT-0001"])
    assert by_id["Kyiv"]["served"]
    for bad in (["--registered", "Nobody"], ["--terminal-id", "Kyiv"],
                ["--terminal-id", "Nobody=1"], ["--policy", "nonesuch"],
                ["--policy", "missing.toml"]):
        res = runner.invoke(app, ["policy", "check", *args, *bad])
        assert res.exit_code == 2 and "Error:" in res.output, bad
    table = _run(["policy", "check", *_points("Kerch"), "--at", "2024-01-01T00:00:00Z"])
    assert "crimea-off" in table.output and "Ukraine" in table.output


def test_store_workflow(tmp_path, monkeypatch):
    db = tmp_path / "s.sqlite"
    monkeypatch.setenv("SKYFENCE_DB", str(db))  # the default store path
    res = _run(["policy", "apply", str(default_policy_path()), "--by", "lead",
                "--comment", "news"])
    assert res.exit_code == 0 and "stored default v1" in res.output
    assert "3 requests and 2 decisions added" in res.output
    res = _run(["policy", "show"])
    assert "default v1 of 1" in res.output and "crimea-off" in res.output
    log = json.loads(_run(["request", "log", "--format", "json"]).output)
    assert [(r["region"], r["status"]) for r in log] == [
        ("Ukraine", "approved"), ("Crimea", "refused"), ("Taiwan", "pending")]
    res = _run(["request", "file", "--by", "Kyiv", "--region", "Crimea", "--action", "on",
                "--why", "again", "--from", "2026-03-01T00:00:00Z",
                "--at", "2026-02-01T00:00:00Z"])
    assert "request 4 filed" in res.output
    res = _run(["request", "decide", "4", "--by", "SpaceX", "--outcome", "approved",
                "--why", "test", "--at", "2026-02-02T00:00:00Z"])
    assert "stored default v2" in res.output
    again = runner.invoke(app, ["request", "decide", "4", "--by", "x", "--outcome", "refused",
                                "--why", "no"])
    assert again.exit_code == 2 and "already decided" in again.output
    # the approved rule opens Crimea from its window start
    got = _check([*_points("Simferopol"), "--at", "2026-03-02T00:00:00Z", "--db", str(db)])
    assert (got["Simferopol"]["served"], got["Simferopol"]["rule"]) == (True, "request-4")
    got = _check([*_points("Simferopol"), "--at", "2026-03-02T00:00:00Z", "--db", str(db),
                  "--version", "1"])
    assert got["Simferopol"]["rule"] == "crimea-off"
    out = tmp_path / "diff"
    res = _run(["policy", "diff", "1", "2", "--at", "2026-03-02T00:00:00Z", "--out", str(out)])
    assert "added request-4" in res.output
    import re

    n_gain = int(re.search(r"gain: (\d+) cells", res.output).group(1))
    # Crimea's cells now include every cell touching its land or 12-nm sea: more than the
    # 106 cells whose centre lies on the peninsula
    assert 106 < n_gain <= 240
    lines = (out / "policy-diff.csv").read_text().splitlines()
    assert lines[0] == "h3_cell,status,area_km2,rule_a,rule_b" and len(lines) == n_gain + 1
    # the diff map and cells: the Crimea cells, all gaining service
    assert (out / "policy-diff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    changes = json.loads((out / "policy-diff.geojson").read_text())["features"]
    assert len(changes) == n_gain and {f["properties"]["change"] for f in changes} == {"gain"}
    exported = tmp_path / "v2.json"
    _run(["policy", "export", "--format", "json", "--out", str(exported)])
    assert json.loads(exported.read_text())["rules"][-1]["name"] == "request-4"
    res = _run(["policy", "diff", "2", str(exported), "--at", "2026-03-02T00:00:00Z"])
    assert "gain: 0 cells" in res.output and "loss: 0 cells" in res.output
    res = _run(["policy", "verify"])
    assert res.exit_code == 0 and res.output.startswith("OK: 9 audit entries")

    raw = sqlite3.connect(db)
    raw.execute("DROP TRIGGER decisions_no_update")
    raw.execute("UPDATE decisions SET outcome = 'approved' WHERE id = 2")
    raw.commit()
    raw.close()
    res = runner.invoke(app, ["policy", "verify"])
    assert res.exit_code == 2
    assert "decisions#2: row differs from audit entry" in res.output


def test_bad_inputs_exit_2_and_keep_the_store(tmp_path):
    db = tmp_path / "b.sqlite"
    _run(["policy", "apply", str(default_policy_path()), "--by", "lead", "--db", str(db)])
    raw = sqlite3.connect(db)
    before = raw.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nregion = "Ukrane"\naction = "on"\n')
    cases = [
        (["policy", "apply", str(bad), "--db", str(db)], "did you mean Ukraine"),
        (["request", "decide", "99", "--by", "x", "--outcome", "approved", "--why", "w",
          "--db", str(db)], "no request with id 99"),
        (["request", "file", "--by", "x", "--region", "Krim", "--action", "on", "--why", "w",
          "--db", str(db)], "unknown region 'Krim'"),
        (["request", "file", "--by", "x", "--region", "Crimea", "--action", "up", "--why", "w",
          "--db", str(db)], "unknown action 'up'"),
        (["policy", "show", "--version", "5", "--db", str(db)], "no version 5"),
        (["policy", "show", "--db", str(tmp_path / "none.sqlite")], "no policy store at"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in " ".join(res.output.split()), (args, res.output)
    assert raw.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == before
    raw.close()
    assert not (tmp_path / "none.sqlite").exists()


def test_help_lists_the_commands():
    for group, commands in (("policy", ["show", "apply", "diff", "verify", "export", "check"]),
                            ("request", ["file", "decide", "log"])):
        res = _run([group, "--help"])
        assert res.exit_code == 0
        for c in commands:
            assert c in res.output


def test_default_policy_path_exists():
    assert Path(default_policy_path()).is_file()


def test_apply_refuses_a_sweeping_version_unless_allowed(tmp_path):
    import sqlite3 as sq

    db = tmp_path / "s.sqlite"
    first = tmp_path / "first.toml"
    first.write_text('[[rules]]\nname = "kyiv-off"\ncells = ["851e6387fffffff"]\n'
                     'action = "off"\n', encoding="utf-8")
    empty = tmp_path / "empty.toml"
    empty.write_text('default_action = "on"\n', encoding="utf-8")
    res = _run(["policy", "apply", str(first), "--by", "lead", "--db", str(db)])
    assert res.exit_code == 0 and "stored default v1" in res.output, res.output

    def rows() -> tuple[int, int]:
        c = sq.connect(db)
        try:
            return (c.execute("SELECT COUNT(*) FROM policy_versions").fetchone()[0],
                    c.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
        finally:
            c.close()

    before = rows()
    res = runner.invoke(app, ["policy", "apply", str(empty), "--by", "lead", "--db", str(db)])
    assert res.exit_code == 2
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "removes every rule (kyiv-off)" in errors[0] and "--allow-sweeping" in errors[0]
    assert rows() == before  # nothing stored
    res = _run(["policy", "apply", str(empty), "--by", "lead", "--allow-sweeping", "--db",
                str(db)])
    assert res.exit_code == 0, res.output
    assert "stored default v2" in res.output
    assert "sweeping change allowed: this version of 'default' changes service everywhere" \
        in res.output
    assert rows() == (before[0] + 1, before[1] + 1)
    shown = _run(["policy", "versions", "--db", str(db)]).output.splitlines()
    assert "sweeping: " in shown[-1] and "removes every rule (kyiv-off)" in shown[-1]
