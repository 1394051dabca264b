"""The built-in world policy on real boundaries: completeness, sources, history, coasts, borders.

Compiling the world policy resolves every territory of the edition once (about a minute on a
fresh machine, then cached on disk by `skyfence.policy.regions`).
"""

from __future__ import annotations

import json

import h3
import numpy as np
import pytest

from conftest import BLOCKED_CELLS_JSON
from skyfence.ground import get_catalogue
from skyfence.policy import (
    CODE_BLOCKED_AREA,
    CODE_BLOCKED_COUNTRY,
    CODE_CELL_IS_DISABLED,
    CODE_UNREGISTERED,
    compiled_policy,
    load_builtin_or_file,
)
from skyfence.policy.rules import PolicyDoc

EDITIONS = ("deu", "default")


@pytest.fixture(scope="module")
def world_doc() -> PolicyDoc:
    return load_builtin_or_file("world").policy()


@pytest.fixture(scope="module")
def world(world_doc):
    return compiled_policy(world_doc, "deu")


def _check(cp, pts: dict[str, tuple[float, float]], at: str, **kw):
    names = list(pts)
    out = cp.check_points(names, [pts[n][0] for n in names], [pts[n][1] for n in names],
                          at, **kw)
    return {d.name: d for d in out}


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_territory_has_a_status_and_a_source(world_doc, edition):
    cat = get_catalogue(edition)
    by_key = {t.region: t for t in world_doc.territories}
    statuses = {"on", "off", "not_launched", "licence_pending", "unknown"}
    for c in cat:
        key = c.adm0_a3 or c.name
        assert key in by_key, f"{c.name} ({key}) has no status in the world policy"
        t = by_key[key]
        assert t.editions is None or edition in t.editions
        for h in t.history:
            assert h.status in statuses and h.source.strip(), (c.name, h)
        # any date has an answer
        assert t.status_at("2020-01-01").status in statuses
    # a territory in one edition only is marked so (and skipped in the other)
    only_default = [t for t in world_doc.territories if t.editions == ["default"]]
    assert any(t.name == "Somaliland" for t in only_default)


def test_weak_lead_rows_did_not_become_facts(world_doc):
    by_key = {t.region: t for t in world_doc.territories}
    for key in ("AFG", "CUB"):
        assert all(h.status == "unknown" for h in by_key[key].history)
    assert all("same as RU" not in h.source for t in world_doc.territories for h in t.history)
    assert world_doc.unknown_action == "off"


def test_history_by_date(world):
    kyiv = {"Kyiv": (50.45, 30.52)}
    assert not _check(world, kyiv, "2022-02-01T00:00:00Z")["Kyiv"].served
    assert _check(world, kyiv, "2022-03-01T00:00:00Z")["Kyiv"].served
    berlin = {"Berlin": (52.52, 13.40)}
    d = _check(world, berlin, "2022-06-01T00:00:00Z")["Berlin"]
    assert not d.served and "unknown" in d.rule and "treated as off" in d.reason
    assert _check(world, berlin, "2024-01-01T00:00:00Z")["Berlin"].served
    moscow = _check(world, {"Moscow": (55.75, 37.62)}, "2025-01-01T00:00:00Z")["Moscow"]
    assert not moscow.served and moscow.code == CODE_BLOCKED_COUNTRY and moscow.reference


@pytest.mark.parametrize("name,lat,lon", [
    ("Kaohsiung", 22.62, 120.28), ("Penghu", 23.57, 119.58), ("Kinmen", 24.43, 118.32),
    ("Xiyu, Penghu", 23.60, 119.50), ("Green Island", 22.66, 121.49), ("Keelung", 25.13, 121.74),
])
def test_taiwan_coast_and_islands_off(world, name, lat, lon):
    d = _check(world, {name: (lat, lon)}, "2025-06-01T00:00:00Z")[name]
    assert not d.served and d.rule.startswith("TWN:"), d
    assert "Taiwan" in [n for n, _ in d.territories]


@pytest.mark.parametrize("name,lat,lon", [
    ("Sevastopol", 44.60, 33.52), ("Yalta", 44.50, 34.17), ("Kerch", 45.36, 36.47),
    ("Yevpatoria", 45.19, 33.37), ("Feodosia", 45.03, 35.38),
])
def test_crimea_coast_off(world, name, lat, lon):
    d = _check(world, {name: (lat, lon)}, "2023-06-01T00:00:00Z")[name]
    assert not d.served and d.rule == "crimea-off" and d.code == CODE_BLOCKED_AREA


@pytest.mark.parametrize("name,lat,lon", [
    ("Odesa", 46.48, 30.73), ("Mykolaiv", 46.97, 31.99), ("Lviv", 49.84, 24.03),
    ("Izmail", 45.35, 28.84),
])
def test_ukrainian_cities_on_and_registration_rule(world, name, lat, lon):
    d = _check(world, {name: (lat, lon)}, "2024-06-01T00:00:00Z")[name]
    assert d.served and d.rule == "UKR:on@2022-02-26"
    later = _check(world, {name: (lat, lon)}, "2026-02-23T00:00:00Z",
                   registered=[False])[name]
    assert not later.served and later.code == CODE_UNREGISTERED
    reg = _check(world, {name: (lat, lon)}, "2026-02-23T00:00:00Z", registered=[True],
                 speed_kmh=[110.0])[name]
    assert reg.served                        # registered: also exempt from the speed rule


def test_danube_border_cell_waits_for_both_territories(world):
    """Izmail's cell holds Ukrainian and Romanian land: restrictive, so it is off while
    Romania's status is unknown (before Starlink's September 2023 metrics list it)."""
    pts = {"Izmail": (45.35, 28.84)}
    d = _check(world, pts, "2023-06-01T00:00:00Z")["Izmail"]
    assert {n for n, _ in d.territories} == {"Ukraine", "Romania"}
    assert not d.served and d.rule.startswith("ROU:unknown")
    assert _check(world, pts, "2023-10-01T00:00:00Z")["Izmail"].served


def test_open_sea_is_international_waters(world):
    d = _check(world, {"ship": (35.0, -40.0)}, "2024-01-01T00:00:00Z")["ship"]
    assert d.served and d.rule == "international-waters" and d.territories == ()


def test_coastal_sea_within_12_nm_belongs_to_the_coast(world):
    # ~10 km off Taiwan's west coast (Taichung): in Taiwan's territorial sea, so off
    d = _check(world, {"sea": (24.25, 120.40)}, "2025-01-01T00:00:00Z")["sea"]
    assert not d.served and "Taiwan" in [n for n, _ in d.territories]
    # ~60 km off the same coast, in the strait: international waters
    far = _check(world, {"strait": (24.25, 119.85)}, "2025-01-01T00:00:00Z")["strait"]
    assert far.rule == "international-waters"


def test_border_cells_follow_the_restrictive_rule(world, world_doc):
    """Cells straddling a served and an unserved territory are off (restrictive default);
    with shared_cells = "majority" the territory holding most of the land decides."""
    cat = get_catalogue("deu")
    pol = cat.geometry("Poland")
    rus = cat.geometry("Russia")
    import shapely

    border = shapely.intersection(pol.boundary, rus.boundary)
    pts = shapely.get_coordinates(shapely.segmentize(border, 0.05))
    cells = np.unique([h3.str_to_int(h3.latlng_to_cell(la, lo, 5)) for lo, la in pts])
    ev = world.evaluate(cells.astype(np.uint64), ["2025-01-01"])
    terr = world.territories_of(cells)
    both = [i for i, t in enumerate(terr) if {"Poland", "Russia"} <= {n for n, _ in t}]
    assert len(both) > 10
    assert not ev.served[0, both].any()
    maj = compiled_policy(world_doc.model_copy(update={"shared_cells": "majority"}), "deu")
    ev_m = maj.evaluate(cells.astype(np.uint64), ["2025-01-01"])
    for i in both:
        shares = dict(terr[i])
        if abs(shares["Poland"] - shares["Russia"]) > 0.1:
            assert bool(ev_m.served[0, i]) == (shares["Poland"] > shares["Russia"]), terr[i]


def test_a_neighbour_is_touched_by_land_and_sea_only(world):
    """Belarus is landlocked: it has no territorial sea, so Polish cells near its border
    but holding none of its land are Poland's alone (served), while the cell straddling the
    Bug at Terespol holds Belarusian land and is off (restrictive)."""
    pts = {"Biala Podlaska West": (52.05, 23.05), "Terespol": (52.075, 23.617)}
    got = _check(world, pts, "2025-01-01T00:00:00Z")
    west = got["Biala Podlaska West"]
    assert [n for n, _ in west.territories] == ["Poland"] and west.served, west
    terespol = got["Terespol"]
    assert {n for n, _ in terespol.territories} == {"Poland", "Belarus"}
    assert all(share > 0 for _, share in terespol.territories)  # land of both, no sea
    assert not terespol.served and terespol.rule.startswith("BLR:")


def test_published_blocked_cells_are_a_dated_rule(world):
    cells = json.loads(BLOCKED_CELLS_JSON.read_text())["cells"]
    sample = [h3.str_to_int(c) for c in cells[::37]]
    ev = world.evaluate(np.array(sample, dtype=np.uint64), ["2024-06-01", "2025-06-01"])
    names = np.array([*world.rule_names, "default"], dtype=object)
    assert set(names[ev.rule_index[1]]) == {"starlink-blocked-cells"}
    assert not ev.served[1].any()
    assert "starlink-blocked-cells" not in set(names[ev.rule_index[0]])
    lat, lon = h3.cell_to_latlng(cells[0])
    d = _check(world, {"c": (lat, lon)}, "2025-06-01T00:00:00Z")["c"]
    assert d.code == CODE_CELL_IS_DISABLED


def test_default_edition_compiles_and_puts_crimea_in_russia():
    cp = compiled_policy(load_builtin_or_file("world").policy(), "default")
    d = _check(cp, {"Simferopol": (44.95, 34.10)}, "2024-01-01T00:00:00Z")["Simferopol"]
    assert not d.served
    assert "Russia" in [n for n, _ in d.territories]
