"""Cells decided by the land they hold and the territorial sea (skyfence.ground.membership),
against independent references: H3 children located point by point (land shares), geodesic
distances from geographiclib (territorial sea), and the world table against the cell path."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely
from geographiclib.geodesic import Geodesic

from skyfence.errors import InputError
from skyfence.ground import (
    TERRITORIAL_SEA_KM,
    cell_sample_points,
    get_catalogue,
    latlng_to_cells,
    territory_shares,
)

DEU = get_catalogue("deu")


def _cell(lat: float, lon: float, res: int = 5) -> int:
    return int(latlng_to_cells(lat, lon, res))


def _ring(lat: float, lon: float, res: int = 5, k: int = 1) -> list[int]:
    return [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(lat, lon, res), k)]


def test_territorial_sea_is_twelve_nautical_miles():
    assert abs(TERRITORIAL_SEA_KM - 22.224) < 1e-12


@pytest.mark.parametrize("name, lat, lon, expect", [
    ("Kaohsiung", 22.62, 120.28, {"Taiwan"}),
    ("Penghu", 23.57, 119.58, {"Taiwan"}),
    ("Henichesk", 46.17, 34.82, {"Ukraine"}),
    ("Sevastopol", 44.60, 33.52, {"Ukraine"}),  # German edition: Crimea is Ukraine's
    ("Odesa", 46.48, 30.73, {"Ukraine"}),
    ("Taipei", 25.03, 121.56, {"Taiwan"}),
    ("mid-Atlantic", 20.0, -40.0, set()),
    ("Taiwan Strait middle", 24.3, 119.6, set()),  # ~60 km from either coast
])
def test_coastal_and_island_cells_hold_their_territory(name, lat, lon, expect):
    c = _cell(lat, lon)
    got = {r["territory"] for r in territory_shares(cells=[c]).touching(c)}
    assert got == expect, name


def test_border_and_strait_cells_touch_every_territory():
    # The Ukraine / Russia border north of Kharkiv runs through this cell.
    shares = territory_shares(cells=_ring(50.36, 36.36))
    touching = [{r["territory"] for r in shares.touching(c)} for c in _ring(50.36, 36.36)]
    assert any({"Ukraine", "Russia"} <= t for t in touching)
    # Between Kinmen (Taiwan) and Xiamen (China) the strait is ~5 km wide: both territorial
    # seas meet at the equidistance line, so a strait cell holds both by sea.
    c = _cell(24.47, 118.22)
    rows = {r["territory"]: r for r in territory_shares(cells=[c]).touching(c)}
    assert {"China", "Taiwan"} <= set(rows)
    assert sum(r["sea_share"] for r in rows.values()) > 0.3


def test_majority_and_totals():
    cells = _ring(50.36, 36.36, k=2)
    shares = territory_shares(cells=cells)
    land, sea, intl = shares.totals(cells)
    np.testing.assert_allclose(land + sea + intl, 1.0, atol=1e-6)
    maj = shares.majority(cells)
    for c, m in zip(cells, maj, strict=True):
        rows = shares.touching(c)
        assert shares.territories[m] == max(rows, key=lambda r: r["land_share"])["territory"]
    assert shares.majority([_cell(20.0, -40.0)]).tolist() == [-1]
    frame = shares.to_frame()
    assert list(frame.columns) == ["h3_cell", "territory", "land_share", "sea_share"]


def _land_share_by_points(cell: int, n: int = 40_000) -> dict[str, float]:
    """Reference: random points of equal area density inside the cell (H3's own point ->
    cell test, not the polygon under test), each located in the catalogue."""
    text = h3.int_to_str(cell)
    b = np.array(h3.cell_to_boundary(text))
    lat0, lat1 = b[:, 0].min(), b[:, 0].max()
    lon = b[:, 1]
    if lon.max() - lon.min() > 180:  # straddles the antimeridian
        lon = np.where(lon < 0, lon + 360.0, lon)
    rng = np.random.default_rng(cell % 2**32)
    # Uniform on the sphere within the latitude band: sin(lat) uniform.
    s = rng.uniform(np.sin(np.radians(lat0)), np.sin(np.radians(lat1)), n)
    plat = np.degrees(np.arcsin(s))
    plon = (rng.uniform(lon.min(), lon.max(), n) + 180.0) % 360.0 - 180.0
    inside = np.array([h3.latlng_to_cell(a, o, h3.get_resolution(text)) == text
                       for a, o in zip(plat, plon, strict=True)])
    idx = DEU.locate_index(plat[inside], plon[inside])
    return {DEU.names[i]: float(np.mean(idx == i)) for i in np.unique(idx[idx >= 0])}


@pytest.mark.parametrize("lat, lon", [
    (50.36, 36.36),    # Ukraine / Russia border
    (46.17, 34.82),    # Henichesk, Arabat spit
    (-29.6, 28.2),     # Lesotho inside South Africa
    (-16.8, 179.99),   # Fiji on the antimeridian
    (59.9, 10.6),      # Oslofjord
    (22.62, 120.28),   # Kaohsiung coast
])
def test_land_shares_against_children_located_point_by_point(lat, lon):
    cells = _ring(lat, lon)
    shares = territory_shares(cells=cells)
    for c in cells:
        ref = _land_share_by_points(c)
        got = {r["territory"]: r["land_share"] for r in shares.touching(c)
               if r["land_share"] > 0}
        for name in set(ref) | set(got):
            # ~25,000 points inside: standard error below 0.003.
            assert got.get(name, 0.0) == pytest.approx(ref.get(name, 0.0), abs=0.012), (c, name)


def _coast_distance_km(lat: float, lon: float, window_deg: float = 0.6
                       ) -> tuple[float, str | None]:
    """Reference: geodesic distance (geographiclib) to the nearest outline vertex nearby."""
    box = shapely.box(lon - window_deg / np.cos(np.radians(lat)), lat - window_deg,
                      lon + window_deg / np.cos(np.radians(lat)), lat + window_deg)
    best, owner = np.inf, None
    for i, g in enumerate(DEU.geometries):
        if not g.intersects(box):
            continue
        line = shapely.segmentize(shapely.intersection(g.boundary, box), 0.001)
        for x, y in shapely.get_coordinates(line):
            d = Geodesic.WGS84.Inverse(lat, lon, y, x, Geodesic.DISTANCE)["s12"] / 1000.0
            if d < best:
                best, owner = d, DEU.names[i]
    return best, owner


@pytest.mark.parametrize("lat, lon", [
    (24.42, 118.20), (24.36, 118.45), (24.30, 118.60),   # off Kinmen and Xiamen
    (22.45, 120.10), (22.40, 120.00),                    # off Kaohsiung, inside / beyond
    (45.90, 33.20), (45.60, 32.60),                      # off Crimea's west coast
    (46.35, 36.90), (45.95, 36.50),                      # Sea of Azov
])
def test_territorial_sea_points_against_geographiclib(lat, lon):
    """A tiny (res 10) cell at sea belongs to the nearest coast's territory within 22.224 km."""
    assert DEU.locate(lat, lon) is None  # a point at sea
    dist, owner = _coast_distance_km(lat, lon)
    if abs(dist - TERRITORIAL_SEA_KM) < 0.3:
        pytest.skip("too close to the limit for a vertex-based reference")
    c = _cell(lat, lon, 10)
    shares = territory_shares(cells=[c])
    rows = shares.touching(c)
    if dist < TERRITORIAL_SEA_KM:
        assert [r["territory"] for r in rows] == [owner]
        assert rows[0]["sea_share"] == pytest.approx(1.0, abs=1e-6)
    else:
        assert rows == []


def test_sample_points_are_area_weighted_and_inside_their_cell():
    cells = np.array([*_ring(50.0, 30.0, 5, 1), h3.str_to_int(h3.get_pentagons(5)[0])],
                     dtype=np.uint64)
    lat, lon, w, owner = cell_sample_points(cells)
    np.testing.assert_allclose(np.bincount(owner, weights=w), 1.0, atol=1e-12)
    # Nine points per boundary edge: hexagons 54; this class III pentagon has 10 vertices.
    n_edges = [len(h3.cell_to_boundary(h3.int_to_str(int(c)))) for c in cells]
    assert np.bincount(owner).tolist() == [9 * k for k in n_edges] and n_edges[:7] == [6] * 7
    back = np.array([h3.str_to_int(h3.latlng_to_cell(a, o, 5)) for a, o in zip(lat, lon,
                                                                               strict=True)])
    assert np.array_equal(back, cells[owner])


def test_world_table_matches_the_cell_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYFENCE_CACHE_DIR", str(tmp_path))
    world = territory_shares(2, progress=lambda _: None)
    assert (tmp_path / world_cache_name(2)).is_file()
    rng = np.random.default_rng(3)
    sample = rng.choice(world.cells, 60, replace=False)
    direct = territory_shares(cells=sample)
    sub = world.for_cells(sample)
    assert np.array_equal(sub.cell, direct.cell) and np.array_equal(sub.territory,
                                                                    direct.territory)
    np.testing.assert_allclose(sub.land_share, direct.land_share, atol=1e-6)
    np.testing.assert_allclose(sub.sea_share, direct.sea_share, atol=1e-6)
    land, sea, intl = world.totals(world.cells)
    assert np.all(land + sea <= 1.0 + 1e-6) and np.all(intl >= 0.0)
    # Cells inside a territory hold all of it; every land cell of the edition is listed.
    ukraine = world.cells_of("Ukraine", sea=False)
    assert ukraine.size > 5
    again = territory_shares(2)  # from the cache: identical
    assert np.array_equal(again.cell, world.cell)
    np.testing.assert_array_equal(again.land_share, world.land_share)


def world_cache_name(res: int) -> str:
    from skyfence.ground import territory_shares_cache_path

    return territory_shares_cache_path(res).name


def test_bad_parameters():
    with pytest.raises(InputError, match="territorial_sea_km must be in"):
        territory_shares(cells=[_cell(0, 0)], territorial_sea_km=-1)
    with pytest.raises(InputError, match=r"resolution must be an integer in \[0, 6\]"):
        territory_shares(9)
    none = territory_shares(cells=[_cell(24.47, 118.22)], territorial_sea_km=0)
    assert all(r["sea_share"] == 0 for r in none.touching(_cell(24.47, 118.22)))


# ---- any region: built-in areas, drawn polygons, admin-1 ------------------------------------


@pytest.fixture(scope="module")
def crimea_shares():
    from skyfence.ground import builtin_region, region_shares

    return region_shares(builtin_region("Crimea"))


@pytest.mark.parametrize("name, lat, lon, touches", [
    ("Kerch", 45.36, 36.47, True),
    ("Sevastopol", 44.616, 33.525, True),
    ("Yevpatoria", 45.19, 33.37, True),
    ("15 km off the south coast", 44.30, 34.30, True),
    ("40 km off the south coast", 44.05, 34.30, False),
    ("Kherson city", 46.64, 32.62, False),
    ("Skadovsk, across Karkinit Bay", 46.11, 32.91, False),
])
def test_crimea_coast_cells_follow_crimea(crimea_shares, name, lat, lon, touches):
    land, sea = crimea_shares.share([_cell(lat, lon)])
    assert bool(land[0] + sea[0] > 0) == touches, name


def test_region_sea_stops_at_the_equidistance_line(crimea_shares):
    """In Karkinit Bay a point belongs to Crimea's sea only when Crimea's coast is nearer
    than the Kherson coast (geographiclib distances to both outlines)."""
    from skyfence.ground import builtin_region, region_shares

    crimea = builtin_region("Crimea")
    ukraine = DEU.geometry("Ukraine")
    rest = shapely.difference(ukraine, shapely.buffer(crimea.geometry, 1e-6))
    checked = 0
    outcomes = []
    for lat, lon in [(45.95, 33.0), (46.0, 33.2), (45.9, 32.7), (45.85, 33.45), (46.05, 33.35),
                     (45.92, 33.1), (45.75, 33.0), (45.88, 33.25), (45.7, 32.8)]:
        assert DEU.locate(lat, lon) is None
        d = {}
        for key, geom in (("crimea", crimea.geometry), ("rest", rest)):
            box = shapely.box(lon - 0.5, lat - 0.4, lon + 0.5, lat + 0.4)
            line = shapely.segmentize(shapely.intersection(shapely.boundary(geom), box), 0.002)
            d[key] = min(Geodesic.WGS84.Inverse(lat, lon, y, x, Geodesic.DISTANCE)["s12"]
                         for x, y in shapely.get_coordinates(line)) / 1000.0
        if abs(d["crimea"] - d["rest"]) < 0.5 or abs(min(d.values()) - TERRITORIAL_SEA_KM) < 0.5:
            continue
        c = _cell(lat, lon, 10)  # a tiny cell: one point
        sea = region_shares(crimea, cells=[c]).share([c])[1][0]
        expect = d["crimea"] < d["rest"] and d["crimea"] < TERRITORIAL_SEA_KM
        assert (sea > 0.99) == expect and (sea < 0.01) == (not expect), (lat, lon, d)
        outcomes.append(expect)
        checked += 1
    # Both outcomes occur, including a point 16 km from Crimea but nearer the Kherson coast.
    assert checked >= 7 and any(outcomes) and not all(outcomes)


def test_region_shares_of_a_country_match_the_territory_table():
    from skyfence.ground import region_shares

    taiwan = region_shares(DEU.get("Taiwan"))
    sample = taiwan.cells[:: max(1, taiwan.cells.size // 40)]
    table = territory_shares(cells=sample)
    k = table.territory_index("Taiwan")
    for c in sample:
        rows = {r["territory"]: r for r in table.touching(c)}
        land, sea = taiwan.share([c])
        assert land[0] == pytest.approx(rows["Taiwan"]["land_share"] if "Taiwan" in rows
                                        else 0.0, abs=1e-9)
        assert sea[0] == pytest.approx(rows["Taiwan"]["sea_share"] if "Taiwan" in rows
                                       else 0.0, abs=1e-9)
    assert k >= 0


def test_explicit_cell_regions_keep_their_cells():
    from skyfence.ground import region_from_cells, region_shares

    cells = [h3.latlng_to_cell(50.0, 36.0, 5), h3.latlng_to_cell(50.1, 36.3, 5)]
    shares = region_shares(region_from_cells(cells, "blocked"))
    assert shares.explicit and sorted(shares.cells.tolist()) == sorted(
        h3.str_to_int(c) for c in cells)
    assert shares.land_share.tolist() == [1.0, 1.0] and shares.sea_share.tolist() == [0, 0]
    with pytest.raises(InputError, match=r"resolution must be in \[0, 7\]"):
        region_shares(DEU.get("Taiwan"), 9)
