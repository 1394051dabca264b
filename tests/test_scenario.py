"""Scenario validation: typos, ranges, defaults, relative paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyfence.errors import ScenarioError
from skyfence.scenario import default_scenario, load_scenario, parse_scenario


def test_default_scenario_is_valid() -> None:
    s = default_scenario()
    names = [r.name for r in s.ground.regions]
    assert {"Ukraine", "Crimea", "Taiwan", "Russia", "Belarus"} <= set(names)
    assert s.time.grid().size == 1441
    assert s.constellation.min_elevation_deg == 25.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tme": {}}, "unknown key 'tme'; did you mean 'time'"),
        ({"time": {"stepp": "1s"}}, "unknown key 'time.stepp'; did you mean 'step'"),
        ({"constellation": {"min_elevation_deg": 95}}, r"must be within \[0, 90\) deg, got 95"),
        ({"constellation": {"min_elevation_deg": -1}}, r"must be within \[0, 90\) deg"),
        ({"time": {"step": "0s"}}, "time.step: step must be > 0 s"),
        ({"time": {"start": "soon"}}, "time.start: .*cannot read time 'soon'"),
        ({"ground": {"regions": [{"name": "Ukraine", "resolution": 16}]}},
         "resolution must be within 0..15"),
        ({"ground": {"terminals": [{"name": "a", "lat": 91, "lon": 0}]}}, "latitude"),
        ({"ground": {"terminals": [{"name": "a", "lat": 1, "lon": 200}]}}, "longitude"),
        ({"policy": {"source": " "}}, "policy source is blank"),
        ({"network": {"outages": [{"site": "Kaunas", "start": "2026-02-23T01:00:00Z",
                                   "end": "2026-02-23T00:00:00Z"}]}}, "ends"),
        ({"network": {"rtt_every": "0s"}}, "must be > 0 s"),
        ({"run": {"memory_budget_gib": 0}}, "memory budget"),
        ({"ground": {"terminals": [{"name": "a", "lat": 1, "lon": 0},
                                   {"name": "a", "lat": 2, "lon": 0}]}}, "duplicate terminal"),
        ({"network": {"laser_range_km": 0}}, "laser range must be in"),
    ],
)
def test_bad_scenarios_name_the_key(data, message) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_load_scenario_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("[time\nstart = 1\n")
    with pytest.raises(ScenarioError, match=r"s\.toml:1: not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "missing.toml")


def test_relative_paths_resolve_against_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "sats.tle").write_text("")
    f = tmp_path / "s.toml"
    f.write_text('[constellation]\nsource = "sats.tle"\n[time]\nduration = "10m"\n')
    s = load_scenario(f)
    assert Path(s.constellation.source) == tmp_path / "sats.tle"
    assert s.time.duration_s == 600.0
