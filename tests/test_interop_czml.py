"""CZML scenes (validated with czml3) and the offline Cesium viewer in Debian's chromium."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _viewer_browser import open_viewer
from hypatia_tiny import N_GS, N_SAT, write_tiny
from skyfence.cli import app
from skyfence.errors import InputError
from skyfence.interop.czml import (
    STATUS_COLORS,
    STATUS_NAMES,
    scene_from_hypatia,
    validate_czml,
)
from skyfence.interop.hypatia import read_hypatia_dir
from skyfence.policy import BLOCKED, SERVED

runner = CliRunner()


@pytest.fixture(scope="module")
def hypatia_view(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny Hypatia directory, its dynamic state, and a viewer of two pairs' paths."""
    base = tmp_path_factory.mktemp("view")
    d = write_tiny(base / "tiny")
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(d), "--duration", "240s",
                              "--step", "60s", "--out", str(d / "state"), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["hypatia", "view", str(d), "--state", str(d / "state"),
                              "--pair", "0,2", "--pair", "Madrid,Sydney", "--out",
                              str(base / "viewer")])
    assert res.exit_code == 0, res.output
    return d, base / "viewer"


def _packets(path: Path) -> dict[str, dict]:
    return {p["id"]: p for p in json.loads(path.read_text())}


def test_hypatia_view_czml_validates_and_draws_the_fstate_paths(hypatia_view) -> None:
    d, viewer = hypatia_view
    doc = validate_czml(viewer / "scene.czml")
    assert doc.packets[0].id == "document"
    packets = _packets(viewer / "scene.czml")
    assert sum(k.startswith("sat-") for k in packets) == N_SAT
    assert sum(k.startswith("gs-") for k in packets) == N_GS
    paths = {k: p for k, p in packets.items() if k.startswith("path-")}
    assert paths
    for p in paths.values():
        refs = p["polyline"]["positions"]["references"]
        assert refs[0].startswith("gs-") and refs[-1].startswith("gs-")
        assert all(r.split("#")[0] in packets for r in refs)
    # The drawn path at each step is the one the forwarding state gives.
    net = read_hypatia_dir(d)
    scene = scene_from_hypatia(net, d / "state", [(0, 2)])
    from skyfence.interop.hypatia_state import ForwardingState, read_fstate_dir

    fs = ForwardingState(net.n_nodes)
    for i, (_, f) in enumerate(read_fstate_dir(d / "state")):
        fs.apply(f)
        p = fs.path(N_SAT, N_SAT + 2)
        want = None if p is None else tuple(f"sat-{n}" if n < N_SAT else f"gs-{n - N_SAT}"
                                            for n in p)
        assert scene.paths[0].nodes[i] == want
    meta = json.loads((viewer / "meta.json").read_text())
    assert meta["boundaries"].startswith("Natural Earth")
    gj = json.loads((viewer / "boundaries.geojson").read_text())
    assert len(gj["features"]) > 200
    assert (viewer / "cesium" / "Cesium.js").is_file()


def test_view_of_a_scenario_has_paths_sites_and_cells_by_policy_status(tmp_path) -> None:
    scenario = tmp_path / "view.toml"
    scenario.write_text(
        'name = "view-test"\n'
        '[time]\nstart = "2026-02-23T00:00:00Z"\n'
        '[constellation]\nsource = "starlink-gen1-1"\n'
        '[ground]\nedition = "deu"\n'
        '[[ground.regions]]\nname = "Ukraine"\n'
        '[[ground.regions]]\nname = "Crimea"\n'
        '[[ground.terminals]]\nname = "Kyiv"\nlat = 50.45\nlon = 30.52\nregistered = true\n'
        '[[ground.terminals]]\nname = "Simferopol"\nlat = 44.95\nlon = 34.10\n'
        '[[ground.terminals]]\nname = "Kyiv-unregistered"\nlat = 50.45\nlon = 30.52\n')
    out = tmp_path / "view"
    res = runner.invoke(app, ["view", "--scenario", str(scenario), "--out", str(out),
                              "--duration", "6m", "--step", "2m", "--resolution", "3",
                              "--link-cesium"])
    assert res.exit_code == 0, res.output
    validate_czml(out / "scene.czml")
    packets = _packets(out / "scene.czml")
    assert sum(k.startswith("sat-") for k in packets) == 1584
    assert any(k.startswith("gw-") for k in packets) and any(k.startswith("pop-")
                                                              for k in packets)
    assert packets["term-0"]["name"] == "Kyiv"
    # Kyiv's path: terminal -> satellite(s) -> gateway -> PoP, every step of the window.
    paths = [p for k, p in packets.items() if k.startswith("path-0-")]
    assert paths
    covered = 0.0
    for p in paths:
        refs = [r.split("#")[0] for r in p["polyline"]["positions"]["references"]]
        assert refs[0] == "term-0" and refs[1].startswith("sat-")
        assert refs[-2].startswith("gw-") and refs[-1].startswith("pop-")
        for iv in p["availability"]:
            a, b = (np.datetime64(x.rstrip("Z")) for x in iv.split("/"))
            covered += (b - a) / np.timedelta64(1, "s")
    assert covered == pytest.approx(8 * 60.0)  # 4 steps of 2 min
    # Cells: Crimea blocked by the default policy, the rest of Ukraine served.
    colours = set()
    for k, p in packets.items():
        if k.startswith("cell-"):
            c = p["polygon"]["material"]["solidColor"]["color"]
            colours.update(tuple(x["rgba"]) for x in (c if isinstance(c, list) else [c]))
    assert colours == {STATUS_COLORS[SERVED], STATUS_COLORS[BLOCKED]}
    # Simferopol (Crimea: activation refused) gets no path at all; neither does the
    # unregistered twin of Kyiv (Ukraine's 2026 registration rule, applied by the engine).
    assert packets["term-1"]["name"] == "Simferopol"
    assert not any(k.startswith("path-1-") for k in packets)
    assert packets["term-2"]["name"] == "Kyiv-unregistered"
    assert not any(k.startswith("path-2-") for k in packets)
    for k, want in (("term-0", "served"), ("term-1", "blocked"), ("term-2", "blocked")):
        assert [v["string"] for v in packets[k]["properties"]["status"]] == [want]
    assert STATUS_NAMES[BLOCKED] == "blocked"
    assert (out / "cesium").is_symlink()


def test_bad_scene_inputs(tmp_path) -> None:
    from skyfence.interop.czml import SceneData

    with pytest.raises(InputError, match=r"\(n_sat, n_sample, 3\)"):
        SceneData("x", np.array(["2026-01-01"], "datetime64[ns]"), 60.0, ("a",), ("a",),
                  np.zeros((2, 1, 3)))
    bad = tmp_path / "bad.czml"
    bad.write_text(json.dumps([{"id": "document", "version": "1.0", "name": "x"},
                               {"id": "a", "position": {"cartesian": [1, 2]}}]))
    with pytest.raises(InputError, match="not valid CZML"):
        validate_czml(bad)
    res = runner.invoke(app, ["hypatia", "view", str(tmp_path), "--out", str(tmp_path / "v")])
    assert res.exit_code == 2 and res.output.startswith("Error: ")


def test_viewer_loads_offline_in_chromium_and_its_clock_advances(hypatia_view) -> None:
    """Debian's chromium (installed by `make test`) loads the page from a local server with
    no console errors and no request leaving 127.0.0.1; the Cesium clock runs."""
    _, viewer = hypatia_view
    with open_viewer(viewer, ready_timeout_ms=60_000, polling_ms=100) as view:
        page, state = view.page, view.state
        assert state["errors"] == [] and state["ready"]
        assert state["czmlEntities"] > N_SAT and state["boundaries"] > 200
        page.wait_for_function("viewer.clock.canAnimate && viewer.clock.shouldAnimate",
                               timeout=30_000, polling=100)
        t0 = page.evaluate("Cesium.JulianDate.toIso8601(viewer.clock.currentTime)")
        page.wait_for_function(
            f"Cesium.JulianDate.toIso8601(viewer.clock.currentTime) !== '{t0}'",
            timeout=20_000, polling=100)
        t1 = page.evaluate("Cesium.JulianDate.secondsDifference(viewer.clock.currentTime, "
                           "viewer.clock.startTime)")
        assert t1 > 0
        # The scene's clock is the CZML document's (the dynamic state's epoch).
        start = page.evaluate("Cesium.JulianDate.toIso8601(viewer.clock.startTime, 0)")
        assert start.startswith("2024-03-01T00:00:00")
    errors, outside = view.errors, view.outside
    assert errors == []
    assert outside == []


def test_big_scenes_sample_satellite_positions() -> None:
    from skyfence.interop.czml import MAX_POSITION_SAMPLES, sample_index

    idx = sample_index(2000, 4408)
    assert idx[0] == 0 and idx[-1] == 1999 and idx.size * 4408 <= MAX_POSITION_SAMPLES
    assert np.all(np.diff(idx) > 0)
    assert sample_index(10, 100).tolist() == list(range(10))
    # 200 s at 100 ms: a sample every 10 s is plenty for Cesium's interpolation.
    assert sample_index(2000, 1584, 199.9).size == 20
