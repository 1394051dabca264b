"""The Cesium view is a run of the engine: what it draws is the run's tables.

One scenario (a registered terminal in Kyiv, Simferopol switched off, Warsaw, an unregistered
van driving from Poland into Ukraine with a changing altitude, Crimea and Moldova cells with
two of them kept per step) is written by ``skyfence run`` with ``outputs.czml = true`` and
viewed by ``skyfence view``. From the CZML alone (validated by czml3) the test reads back,
per step, each terminal's status and position, the drawn path (polyline references resolved
to NORAD ids and site names) and the two cells' status, and compares them with the run's
``terminals`` and ``cells_timeseries`` tables. The run's ``view.czml`` and the view's
``scene.czml`` are the same file. The run's viewer loads in Debian's chromium, and Cesium reads
the terminals' status per step from the CZML properties.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _viewer_browser import open_viewer
from skyfence.cli import app
from skyfence.errors import InputError
from skyfence.ground import cell_areas_km2, region_cells, resolve_region
from skyfence.interop.czml import STATUS_COLORS, validate_czml
from skyfence.interop.runview import (
    CellStatusCollector,
    h3_parents,
    parse_path,
    view_scenario,
)
from skyfence.scenario import load_scenario

runner = CliRunner()
START = np.datetime64("2026-02-23T00:00:00", "ns")
N_STEPS = 17  # 16 min at 60 s
STEP = np.timedelta64(60, "s")


def _series_cells() -> list[str]:
    return [h3.int_to_str(int(region_cells(resolve_region(n), 4)[3]))
            for n in ("Crimea", "Moldova")]


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runview")
    rows = ["id,name,registered,t_utc,lat_deg,lon_deg,alt_m"]
    for m, lon, alt in ((0, 23.0, 100.0), (8, 23.8, 400.0), (16, 24.6, 250.0)):
        rows.append(f"van-1,van,no,2026-02-23T00:{m:02d}:00Z,50.60,{lon},{alt}")
    (base / "fleet.csv").write_text("\n".join(rows) + "\n")
    cells = ", ".join(f'"{c}"' for c in _series_cells())
    scenario = base / "view.toml"
    scenario.write_text(f"""name = "view-vs-run"
[time]
start = "2026-02-23T00:00:00Z"
duration = "16m"
step = "60s"
[constellation]
source = "starlink-gen1-1"
[ground]
edition = "deu"
terminals_file = "{base / 'fleet.csv'}"
timeseries_cells = [{cells}]
[[ground.regions]]
name = "Crimea"
resolution = 4
[[ground.regions]]
name = "Moldova"
resolution = 4
[[ground.terminals]]
name = "Kyiv"
lat = 50.45
lon = 30.52
registered = true
[[ground.terminals]]
name = "Simferopol"
lat = 44.95
lon = 34.10
[[ground.terminals]]
name = "Warsaw"
lat = 52.23
lon = 21.01
altitude_m = 110
[network]
rtt_every = "60s"
[capacity]
enabled = false
[outputs]
czml = true
maps = false
netcdf = false
formats = ["parquet"]
""")
    run_dir, view_dir = base / "run", base / "view"
    res = runner.invoke(app, ["run", "--scenario", str(scenario), "--out", str(run_dir),
                              "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["view", "--scenario", str(scenario), "--out", str(view_dir),
                              "--link-cesium", "--quiet"])
    assert res.exit_code == 0, res.output
    return {"run": run_dir, "view": view_dir, "scenario": scenario}


def _packets(path: Path) -> dict[str, dict]:
    return {p["id"]: p for p in json.loads(path.read_text())}


def _t(text: str) -> np.datetime64:
    return np.datetime64(text.rstrip("Z"), "ns")


def _per_step(intervals: list[tuple[str, object]]) -> list[object]:
    """Value at each step time from ``(interval "a/b", value)`` pairs (None where none)."""
    out: list[object] = [None] * N_STEPS
    for iv, value in intervals:
        a, b = (_t(x) for x in iv.split("/"))
        for i in range(N_STEPS):
            if a <= START + i * STEP < b:
                assert out[i] is None, f"two values at step {i}"
                out[i] = value
    return out


def _names(packets: dict[str, dict]) -> dict[str, str]:
    """Entity id -> the node label of the path column (sat:NORAD, gw:NAME, pop:NAME)."""
    out = {}
    for k, p in packets.items():
        if k.startswith("sat-"):
            out[k] = "sat:" + p["name"].rsplit("(", 1)[1].rstrip(")")
        elif k.startswith(("gw-", "pop-")):
            out[k] = f"{k.split('-')[0]}:{p['name']}"
    return out


def test_run_view_and_view_are_one_scene(both) -> None:
    validate_czml(both["view"] / "scene.czml")
    validate_czml(both["run"] / "view.czml")
    assert (both["run"] / "view.czml").read_bytes() == \
        (both["view"] / "scene.czml").read_bytes()
    assert (both["run"] / "view" / "index.html").is_file()
    assert (both["run"] / "view" / "scene.czml").read_bytes() == \
        (both["run"] / "view.czml").read_bytes()


def test_view_terminal_statuses_positions_and_paths_are_the_run(both) -> None:
    packets = _packets(both["view"] / "scene.czml")
    table = pd.read_parquet(both["run"] / "terminals.parquet")
    names = _names(packets)
    terms = {p["name"]: k for k, p in packets.items() if k.startswith("term-")}
    assert set(terms) == set(table["terminal"]) == {"van", "Kyiv", "Simferopol", "Warsaw"}
    seen_paths = 0
    for name, tid in terms.items():
        rows = table[table["terminal"] == name].sort_values("t_utc")
        assert len(rows) == N_STEPS
        p = packets[tid]
        # Status per step: the CZML properties and the point colour.
        status = _per_step([(v["interval"], v["string"]) for v in p["properties"]["status"]])
        assert status == rows["status"].astype(str).tolist(), name
        col = p["point"]["color"]
        runs = col if isinstance(col, list) else [{"interval": f"{START}Z/2100-01-01T00:00:00Z",
                                                   **col}]
        by_colour = {tuple(c[:3]): s for s, c in (("served", STATUS_COLORS[2]),
                                                  ("blocked", STATUS_COLORS[1]),
                                                  ("uncovered", STATUS_COLORS[0]))}
        drawn = _per_step([(c["interval"], by_colour[tuple(c["rgba"][:3])]) for c in runs])
        assert drawn == status
        # Position per step (the van follows its track, altitude included).
        pos = p["position"]
        if "epoch" in pos:
            s = np.asarray(pos["cartographicDegrees"], float).reshape(-1, 4)
            np.testing.assert_allclose(s[:, 0], np.arange(N_STEPS) * 60.0)
            lon, lat, h = s[:, 1], s[:, 2], s[:, 3]
        else:
            lon, lat, h = (np.full(N_STEPS, v) for v in pos["cartographicDegrees"])
        np.testing.assert_allclose(lat, rows["lat_deg"], atol=1e-6)
        np.testing.assert_allclose(lon, rows["lon_deg"], atol=1e-6)
        np.testing.assert_allclose(h, rows["altitude_m"], atol=0.01)
        # The drawn path per step, from the polylines: terminal, then the table's path.
        polys = [q for k, q in packets.items() if k.startswith(f"path-{tid[5:]}-")]
        per_step = _per_step([(iv, tuple(r.split("#")[0] for r in q["polyline"]["positions"]
                                         ["references"]))
                              for q in polys for iv in q["availability"]])
        want = [None if x is None or x != x else x for x in rows["path"]]
        got = []
        for refs in per_step:
            if refs is None:
                got.append(None)
                continue
            assert refs[0] == tid
            got.append(" > ".join(names[r] for r in refs[1:]))
        assert got == want, name
        props = _per_step([(v["interval"], v["string"] or None)
                           for v in p["properties"].get("path", [])])
        assert props == want
        seen_paths += sum(x is not None for x in want)
    # The van crosses from Poland (served) into Ukraine unregistered (switched off).
    van = table[table["terminal"] == "van"]["status"].astype(str).tolist()
    assert van[0] == "served" and van[-1] == "blocked"
    assert table[table["terminal"] == "Simferopol"]["path"].isna().all()
    assert seen_paths >= 2 * N_STEPS
    for text in table["path"].dropna():
        assert [k for k, _ in parse_path(text)][-2:] == ["gw", "pop"]


def test_view_cell_status_is_the_run(both) -> None:
    packets = _packets(both["view"] / "scene.czml")
    series = pd.read_parquet(both["run"] / "cells_timeseries.parquet")
    colour = {tuple(STATUS_COLORS[c][:3]): s for c, s in ((2, "served"), (1, "blocked"),
                                                          (0, "uncovered"))}
    n_cells = len(pd.read_parquet(both["run"] / "cells.parquet"))
    drawn = {k.rsplit("-", 1)[0] for k in packets if k.startswith("cell-")}
    assert len(drawn) == n_cells
    for cell in _series_cells():
        p = packets[f"cell-{cell}-0"]
        c = p["polygon"]["material"]["solidColor"]["color"]
        runs = c if isinstance(c, list) else [{"interval": f"{START}Z/2100-01-01T00:00:00Z",
                                               **c}]
        got = _per_step([(r["interval"], colour[tuple(r["rgba"][:3])]) for r in runs])
        want = series[series["h3_cell"] == cell].sort_values("t_utc")["status"].astype(str)
        assert got == want.tolist(), cell
    # Per-step cells in the order given (Crimea's sorts after Moldova's): names and values
    # stay aligned.
    crimea, moldova = _series_cells()
    assert crimea > moldova
    assert set(series[series["h3_cell"] == crimea]["status"].astype(str)) == {"blocked"}
    assert set(series[series["h3_cell"] == moldova]["status"].astype(str)) == {"served"}


def test_run_viewer_loads_in_chromium_with_the_statuses(both) -> None:
    """The run's viewer in Debian's chromium: no console errors, no request leaving
    127.0.0.1, the clock runs, and Cesium reads each terminal's status at the current time
    from the CZML properties (the run's status at that step)."""
    table = pd.read_parquet(both["run"] / "terminals.parquet")
    with open_viewer(both["run"] / "view", ready_timeout_ms=90_000, polling_ms=200) as view:
        page, state = view.page, view.state
        assert state["errors"] == [] and state["ready"]
        assert state["czmlEntities"] > 1584
        page.wait_for_function("viewer.clock.canAnimate && viewer.clock.shouldAnimate",
                               timeout=30_000, polling=100)
        page.evaluate("viewer.clock.shouldAnimate = false")
        read = page.evaluate("""() => {
            const ds = viewer.dataSources.get(0);
            const out = {};
            for (const e of ds.entities.values) {
              if (!e.id.startsWith("term-")) continue;
              const t = Cesium.JulianDate.addSeconds(viewer.clock.startTime, 7 * 60 + 30,
                                                     new Cesium.JulianDate());
              out[e.name] = [e.properties.status.getValue(t),
                             e.position.getValue(t) !== undefined];
            }
            return out;
        }""")
    errors, outside = view.errors, view.outside
    assert errors == [] and outside == []
    at = table[table["t_utc"] == pd.Timestamp("2026-02-23T00:07:00Z")]
    want = dict(zip(at["terminal"], at["status"].astype(str), strict=True))
    assert {k: v[0] for k, v in read.items()} == want
    assert all(v[1] for v in read.values())


def test_cell_collector_draws_parents_by_largest_area() -> None:
    """Over the cap, cells are drawn as H3 parents; a parent's status at a step is the one
    covering the largest area of its cells (checked with h3's own parents and pandas)."""
    res5 = np.sort(region_cells(resolve_region("Moldova"), 5)).astype(np.uint64)
    coarse = np.sort(region_cells(resolve_region("Crimea"), 3)).astype(np.uint64)
    cells = np.concatenate([res5, coarse])
    res = np.r_[np.full(res5.size, 5), np.full(coarse.size, 3)].astype(np.int8)
    area = cell_areas_km2(cells)
    ground = SimpleNamespace(cells=cells, resolution=res, area_km2=area)
    col = CellStatusCollector(ground, n_steps=4, max_cells=40)
    assert col.parent_resolution is not None and col.cells.size <= 40
    want_parent = [h3i.cell_to_parent(int(c), col.parent_resolution) if r > col.parent_resolution
                   else int(c) for c, r in zip(cells, res, strict=True)]
    np.testing.assert_array_equal(h3_parents(cells, res, col.parent_resolution),
                                  np.array(want_parent, np.uint64))
    rng = np.random.default_rng(5)
    status = rng.integers(0, 3, (4, cells.size)).astype(np.int8)
    col(SimpleNamespace(first=0, status=status[:3]))
    assert not col.complete
    col(SimpleNamespace(first=3, status=status[3:]))
    assert col.complete
    for k in range(4):
        f = pd.DataFrame({"parent": want_parent, "status": status[k], "area": area})
        w = f.groupby(["parent", "status"])["area"].sum().unstack(fill_value=0.0)
        w = w.reindex(columns=[0, 1, 2], fill_value=0.0)
        best = w.idxmax(axis=1)  # first maximum: lowest code on ties
        got = dict(zip(col.cells.tolist(), col.status[k].tolist(), strict=True))
        assert {int(p): int(s) for p, s in best.items()} == got
    # At most the cap: every cell drawn as is.
    same = CellStatusCollector(ground, n_steps=1, max_cells=cells.size)
    assert same.parent_resolution is None
    same(SimpleNamespace(first=0, status=status[:1]))
    np.testing.assert_array_equal(same.status[0], status[0])
    with pytest.raises(InputError, match="block of"):
        same(SimpleNamespace(first=0, status=status[:1, :5]))


def test_view_scenario_overrides_and_bad_input(both, tmp_path) -> None:
    sc = load_scenario(both["scenario"])
    v = view_scenario(sc, duration=360, step="2m", resolution=3)
    assert v.time.duration_s == 360 and v.time.step == "2m" and v.network.rtt_every == "2m"
    assert {r.resolution for r in v.ground.regions} == {3}
    assert view_scenario(sc, rtt_every="5m").network.rtt_every == "5m"
    assert view_scenario(sc).time == sc.time
    for args, what in ((["--terminal", "Nowhere"], "unknown terminal"),
                       (["--resolution", "16"], "--resolution"),
                       (["--step", "-1s"], "step")):
        res = runner.invoke(app, ["view", "--scenario", str(both["scenario"]), "--out",
                                  str(tmp_path / "v"), "--duration", "2m", "--quiet", *args])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("Error: ") and what in res.output
        assert len(res.output.strip().splitlines()) == 1
    with pytest.raises(InputError, match="path node"):
        parse_path("sat:1 > gateway:x")
