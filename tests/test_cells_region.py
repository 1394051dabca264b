"""Region -> H3 cells: against brute force over every cell, H3's own fill and closed forms."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely

from skyfence.earth import WGS84_A_KM, WGS84_B_KM, geodetic_to_itrs
from skyfence.errors import InputError, RegionError
from skyfence.ground import (
    CellSet,
    Region,
    all_cells,
    cell_areas_km2,
    cell_resolution,
    cell_set,
    cells_to_latlng,
    cells_to_polygons,
    cells_to_str,
    geodesic_area_km2,
    get_catalogue,
    land_cache_path,
    land_cell_set,
    latlng_to_cells,
    region_cell_set,
    region_cells,
    region_from_geojson,
    region_from_geometry,
)


@pytest.fixture(scope="module")
def res3():
    """Every resolution-3 cell (41,162) and its centre: the brute-force reference set."""
    cells = np.array(sorted(h3.str_to_int(c) for base in h3.get_res0_cells()
                            for c in h3.cell_to_children(base, 3)), dtype=np.uint64)
    ll = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
    return cells, ll[:, 0], ll[:, 1]


def _poly(coords):
    return region_from_geojson({"type": "Polygon", "coordinates": coords}, "p")


# Closed-form regions (lon/lat boxes, rings) and their exact membership test on centres.
CLOSED_FORM = {
    "box over 180 (lon > 180)": (
        lambda: _poly([[[170, -30], [200, -30], [200, 10], [170, 10], [170, -30]]]),
        lambda la, lo: (la >= -30) & (la <= 10) & ((lo >= 170) | (lo <= -160))),
    "ring crossing 180": (
        lambda: _poly([[[170, -30], [-160, -30], [-160, 10], [170, 10], [170, -30]]]),
        lambda la, lo: (la >= -30) & (la <= 10) & ((lo >= 170) | (lo <= -160))),
    "north polar cap": (
        lambda: _poly([[[lon, 75.0] for lon in range(-180, 181, 5)]]),
        lambda la, lo: la >= 75.0),
    "south polar cap": (
        lambda: _poly([[[lon, -70.0] for lon in range(180, -181, -5)]]),
        lambda la, lo: la <= -70.0),
    "box with hole": (
        lambda: _poly([[[0, 0], [30, 0], [30, 30], [0, 30], [0, 0]],
                       [[10, 10], [20, 10], [20, 20], [10, 20], [10, 10]]]),
        lambda la, lo: (la >= 0) & (la <= 30) & (lo >= 0) & (lo <= 30)
        & ~((la > 10) & (la < 20) & (lo > 10) & (lo < 20))),
    "multipolygon": (
        lambda: region_from_geojson({"type": "MultiPolygon", "coordinates": [
            [[[-60, -10], [-40, -10], [-40, 10], [-60, 10], [-60, -10]]],
            [[[100, 40], [140, 40], [140, 60], [100, 60], [100, 40]]]]}, "m"),
        lambda la, lo: ((la >= -10) & (la <= 10) & (lo >= -60) & (lo <= -40))
        | ((la >= 40) & (la <= 60) & (lo >= 100) & (lo <= 140))),
    "wider than 180 deg": (
        lambda: _poly([[[-170, 20], [-90, 20], [0, 20], [90, 20], [170, 20], [170, 30],
                        [90, 30], [0, 30], [-90, 30], [-170, 30], [-170, 20]]]),
        lambda la, lo: (la >= 20) & (la <= 30) & (lo >= -170) & (lo <= 170)),
}


@pytest.mark.parametrize("name", list(CLOSED_FORM))
def test_region_cells_equal_closed_form(name, res3):
    make, member = CLOSED_FORM[name]
    cells, lat, lon = res3
    expected = cells[member(lat, lon)]
    got = region_cells(make(), 3)
    assert expected.size > 50
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("country", ["Ukraine", "Fiji", "Russia", "Antarctica", "Taiwan",
                                     "Canada"])
def test_country_cells_equal_brute_force_locate(country, res3):
    """Candidates from bounding boxes miss nothing: compare with every cell's centre."""
    cat = get_catalogue("deu")
    cells, lat, lon = res3
    region = cat.get(country)
    expected = cells[region.contains(lat, lon)]
    np.testing.assert_array_equal(region_cells(region, 3), expected)
    # The catalogue's point location agrees on these centres.
    assert set(cat.locate(lat[np.isin(cells, expected)], lon[np.isin(cells, expected)])) \
        == {country}


def test_fiji_and_russia_cells_on_both_sides_of_180():
    cat = get_catalogue("deu")
    for name in ("Fiji", "Russia"):
        _, lon = cells_to_latlng(region_cells(cat.get(name), 5))
        assert (lon > 179.0).any() and (lon < -179.0).any()


def test_ukraine_res5_equals_h3_polygon_fill():
    """H3's own fill (its own point-in-polygon) is an independent implementation."""
    ukraine = get_catalogue("deu").get("Ukraine")
    polys = []
    for p in shapely.get_parts(ukraine.geometry):
        polys.append(h3.LatLngPoly([(y, x) for x, y in p.exterior.coords[:-1]],
                                   *[[(y, x) for x, y in r.coords[:-1]] for r in p.interiors]))
    ref = np.array(sorted(h3.str_to_int(c) for c in h3.h3shape_to_cells(
        h3.LatLngMultiPoly(*polys), 5)), dtype=np.uint64)
    got = region_cells(ukraine, 5)
    assert ref.size > 2000
    np.testing.assert_array_equal(got, ref)


def test_region_smaller_than_a_cell_gets_its_cell():
    tiny = region_from_geometry("tiny", shapely.box(30.52, 50.45, 30.53, 50.455))
    cells = region_cells(tiny, 5)
    lat, lon = tiny.representative_point()
    assert cells.tolist() == [h3.str_to_int(h3.latlng_to_cell(lat, lon, 5))]


def test_explicit_cells_and_errors():
    region = region_from_geometry("sq", shapely.box(30.0, 50.0, 31.0, 51.0))
    with pytest.raises(InputError, match=r"resolution must be an integer in \[0, 15\]"):
        region_cells(region, 16)
    with pytest.raises(RegionError, match="sq & far is empty"):
        region & region_from_geometry("far", shapely.box(100.0, 0.0, 101.0, 1.0))
    empty = Region("empty", shapely.MultiPolygon(), "test")
    with pytest.raises(RegionError, match="empty region"):
        region_cells(empty, 5)


def test_scalar_wrappers_agree_with_h3():
    lat = np.array([50.45, -33.9, 0.0, 89.99, -89.99])
    lon = np.array([30.52, 18.4, 179.999, 0.0, 120.0])
    cells = latlng_to_cells(lat, lon, 5)
    assert cells_to_str(cells) == [h3.latlng_to_cell(a, o, 5) for a, o in zip(lat, lon,
                                                                              strict=True)]
    clat, clon = cells_to_latlng(cells)
    ref = np.array([h3.cell_to_latlng(c) for c in cells_to_str(cells)])
    np.testing.assert_array_equal(np.column_stack([clat, clon]), ref)
    np.testing.assert_array_equal(cell_resolution(cells), 5)
    np.testing.assert_allclose(cell_areas_km2(cells),
                               [h3.cell_area(c, "km^2") for c in cells_to_str(cells)])
    assert latlng_to_cells(50.0, 30.0, 5).shape == ()
    with pytest.raises(InputError, match="latitude"):
        latlng_to_cells(91.0, 0.0)


def test_all_cells_counts():
    # H3 has 2 + 120 * 7**r cells at resolution r (12 pentagons, the rest hexagons).
    for r in (0, 1, 2):
        assert all_cells(r).size == 2 + 120 * 7 ** r


def test_cell_polygons_cut_at_antimeridian():
    cell = latlng_to_cells(0.0, 179.999, 2)
    (poly,) = cells_to_polygons(np.array([cell]))
    assert poly.geom_type == "MultiPolygon"
    area = geodesic_area_km2(poly)
    # H3's area is on its sphere; WGS-84 at the equator differs by under 1 %.
    assert area == pytest.approx(h3.cell_area(h3.int_to_str(int(cell)), "km^2"), rel=1e-2)


def test_cell_polygons_tile_the_globe():
    """All resolution-1 cells (polar caps and antimeridian cells included) cover the Earth once."""
    polys = cells_to_polygons(all_cells(1))
    assert all(p.is_valid for p in polys)
    total = sum(geodesic_area_km2(p) for p in polys)
    assert total == pytest.approx(510_065_621.724, rel=1e-6)  # WGS-84 surface area
    union = shapely.union_all(polys)
    assert geodesic_area_km2(union) == pytest.approx(total, rel=1e-6)  # no overlaps


def test_cell_set_arrays_against_independent_formulas():
    region = get_catalogue("deu").get("Taiwan")
    cs = region_cell_set(region, 5)
    assert isinstance(cs, CellSet) and len(cs) == region_cells(region, 5).size
    assert cs.cells.dtype == np.uint64 and cs.resolution == 5
    np.testing.assert_allclose(cs.r_itrs_km, geodetic_to_itrs(cs.lat_deg, cs.lon_deg, 0.0))
    # The up vector is the ellipsoid normal: gradient of x^2/a^2 + y^2/a^2 + z^2/b^2.
    grad = cs.r_itrs_km / np.array([WGS84_A_KM ** 2, WGS84_A_KM ** 2, WGS84_B_KM ** 2])
    np.testing.assert_allclose(cs.up, grad / np.linalg.norm(grad, axis=1, keepdims=True),
                               atol=1e-12)
    # Cells cover the region: summed cell area within 10 % of the island's area.
    assert cs.area_km2.sum() == pytest.approx(region.area_km2, rel=0.1)
    assert set(cs.region) == {"Taiwan"}
    np.testing.assert_array_equal(cs.index_of(cs.cells[::-1]), np.arange(len(cs))[::-1])
    assert cs.index_of(np.array([0], np.uint64)).tolist() == [-1]
    sub = cs.subset(cs.lat_deg > 24.0)
    assert 0 < len(sub) < len(cs)


def test_region_cell_set_labels_first_region_wins():
    cat = get_catalogue("deu")
    from skyfence.ground import builtin_region

    cs = region_cell_set([builtin_region("Crimea"), cat.get("Ukraine")], 5)
    crimea = region_cells(builtin_region("Crimea"), 5)
    assert cs.region_mask("Crimea").sum() == crimea.size
    assert cs.region_mask("Ukraine").sum() == region_cells(cat.get("Ukraine"), 5).size \
        - crimea.size
    with pytest.raises(RegionError, match="no region 'Poland'"):
        cs.region_mask("Poland")
    with pytest.raises(RegionError, match="duplicate region names"):
        region_cell_set([cat.get("Ukraine"), cat.get("UA")])
    with pytest.raises(RegionError, match="one H3 resolution"):
        cell_set(np.concatenate([latlng_to_cells(0, 0, 4)[None], latlng_to_cells(0, 0, 5)[None]]))


def test_land_cell_set_coarse_and_cached(tmp_path, monkeypatch, res3):
    monkeypatch.setenv("SKYFENCE_CACHE_DIR", str(tmp_path))
    cat = get_catalogue("deu")
    land = land_cell_set(2)
    assert land_cache_path(2).is_file()
    cells2 = all_cells(2)
    lat, lon = cells_to_latlng(cells2)
    idx = cat.locate_index(lat, lon)
    np.testing.assert_array_equal(land.cells, cells2[idx >= 0])
    np.testing.assert_array_equal(land.region, np.array(cat.names, object)[idx[idx >= 0]])
    # Land is about 29 % of the globe (Natural Earth countries, lakes excluded).
    share = land.area_km2.sum() / 510.07e6
    assert 0.26 < share < 0.30
    again = land_cell_set(2)
    np.testing.assert_array_equal(again.cells, land.cells)
    np.testing.assert_array_equal(again.region_code, land.region_code)
    assert again.region_names == land.region_names
    kyiv = latlng_to_cells(50.45, 30.52, 2)
    assert land.region[land.index_of(kyiv)] == "Ukraine"
    assert land.index_of(latlng_to_cells(0.0, -140.0, 2)) == -1
    with pytest.raises(InputError, match=r"\[0, 6\]"):
        land_cell_set(7)
