"""Custom regions: GeoJSON / WKT / cell lists, validation errors, algebra, buffers, areas."""

from __future__ import annotations

import json

import h3
import numpy as np
import pytest
import shapely
from scipy import integrate
from shapely.geometry import LineString, Point, Polygon

from conftest import BLOCKED_CELLS_JSON, BLOCKED_GEOJSON
from skyfence.earth import WGS84_A_KM, WGS84_E2, geodetic_to_itrs
from skyfence.errors import RegionError
from skyfence.ground import (
    Region,
    buffer_km,
    builtin_region,
    geodesic_area_km2,
    get_catalogue,
    load_region,
    normalize_lonlat,
    parse_cells,
    read_cells_file,
    region_cells,
    region_from_cells,
    region_from_geojson,
    region_from_geometry,
    region_from_wkt,
    region_within_km,
    resolve_region,
)

TEN_METRES_KM = 0.010


def _feature(coords, gtype="Polygon", **props):
    return {"type": "Feature", "properties": props,
            "geometry": {"type": gtype, "coordinates": coords}}


def _square(lon0, lat0, size):
    return [[[lon0, lat0], [lon0 + size, lat0], [lon0 + size, lat0 + size],
             [lon0, lat0 + size], [lon0, lat0]]]


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _blocked_cells():
    data = json.loads(BLOCKED_CELLS_JSON.read_text())
    return np.array(sorted(h3.str_to_int(c) for c in data["cells"]), dtype=np.uint64)


# ---- Starlink's published blocked cells (must show) ------------------------------------------


def test_blocked_geojson_region_gives_exactly_the_published_cells():
    region = region_from_geojson(BLOCKED_GEOJSON)
    cells = region_cells(region, 5)
    expected = _blocked_cells()
    assert expected.size == 297
    np.testing.assert_array_equal(cells, expected)


def test_blocked_cell_list_as_region_matches_the_polygon():
    region = load_region(BLOCKED_CELLS_JSON, "blocked")
    assert region.cell_resolution == 5
    np.testing.assert_array_equal(region_cells(region, 5), _blocked_cells())
    # The union of the cells (H3's own union) is the published polygon.
    poly = region_from_geojson(BLOCKED_GEOJSON).geometry
    sym = shapely.symmetric_difference(region.geometry, poly)
    assert geodesic_area_km2(sym) < 1e-3 * geodesic_area_km2(poly)
    # Its area is the sum of H3's cell areas on H3's authalic sphere (R = 6371.0072 km), times
    # the WGS-84 local area scale M N / R^2 at the cells' latitude (about 49 N: 1.0033).
    h3_area = sum(h3.cell_area(h3.int_to_str(int(c)), "km^2") for c in region.cells)
    phi = np.radians(np.mean([h3.cell_to_latlng(h3.int_to_str(int(c)))[0]
                              for c in region.cells]))
    w2 = 1.0 - WGS84_E2 * np.sin(phi) ** 2
    scale = WGS84_A_KM ** 2 * (1.0 - WGS84_E2) / w2 ** 2 / 6371.007180918475 ** 2
    assert region.area_km2 == pytest.approx(h3_area * scale, rel=5e-4)


def test_cells_from_csv_and_json_list(tmp_path):
    cells = [h3.int_to_str(int(c)) for c in _blocked_cells()[:5]]
    csv_path = _write(tmp_path, "c.csv", "id,h3_cell\n" + "".join(
        f"{i},{c}\n" for i, c in enumerate(cells)))
    got, res = read_cells_file(csv_path)
    assert res == 5 and [h3.int_to_str(int(c)) for c in got] == sorted(cells)
    json_path = _write(tmp_path, "c.json", cells)
    region = load_region(json_path)
    assert region.cells is not None and region.cells.size == 5
    # Coarser resolution: centre containment of the union of cells.
    assert region_cells(region, 3).size >= 1


def test_cell_list_errors(tmp_path):
    with pytest.raises(RegionError, match=r"x\[1\]: 'nonsense' is not a valid H3 cell"):
        parse_cells(["851e6c2bfffffff", "nonsense"], "x")
    with pytest.raises(RegionError, match="mixed H3 resolutions"):
        parse_cells(["851e6c2bfffffff", h3.latlng_to_cell(50.0, 30.0, 6)])
    with pytest.raises(RegionError, match="empty cell list"):
        region_from_cells([], "none")
    bad_csv = _write(tmp_path, "bad.csv", "h3_cell\n851e6c2bfffffff\nzzz\n")
    with pytest.raises(RegionError, match=r"bad\.csv:3.*not a valid H3 cell"):
        read_cells_file(bad_csv)
    no_col = _write(tmp_path, "nocol.csv", "name,lat\nx,1\n")
    with pytest.raises(RegionError, match=r"nocol\.csv:1: no cell column"):
        read_cells_file(no_col)


# ---- GeoJSON / WKT loading ------------------------------------------------------------------


def test_geojson_feature_collection_geometry_and_feature(tmp_path):
    fc = {"type": "FeatureCollection",
          "features": [_feature(_square(30.0, 50.0, 1.0)), _feature(_square(40.0, 50.0, 1.0))]}
    region = region_from_geojson(_write(tmp_path, "two.geojson", fc))
    assert region.name == "two" and region.geometry.geom_type == "MultiPolygon"
    single = region_from_geojson(_feature(_square(30.0, 50.0, 1.0), name="sq"))
    assert single.name == "sq"
    bare = region_from_geojson({"type": "Polygon", "coordinates": _square(30.0, 50.0, 1.0)}, "b")
    assert region.area_km2 == pytest.approx(2 * single.area_km2, rel=1e-3)
    assert bare.geometry.equals(single.geometry)


def test_wkt_file_text_and_lines(tmp_path):
    text = "POLYGON ((30 50, 31 50, 31 51, 30 51, 30 50))"
    from_text = region_from_wkt(text, "w")
    from_file = region_from_wkt(_write(tmp_path, "a.wkt", text))
    assert from_file.name == "a" and from_file.geometry.equals(from_text.geometry)
    two = _write(tmp_path, "two.wkt", text + "\n" + text.replace("30", "40") + "\n")
    assert region_from_wkt(two).area_km2 > 1.9 * from_text.area_km2
    assert load_region(_write(tmp_path, "b.wkt", text)).geometry.equals(from_text.geometry)


# ---- Validation errors name file, feature and position --------------------------------------


@pytest.mark.parametrize("coords, gtype, pattern", [
    ([[[30, 50], [31, 50], [31, 51], [30, 51]]], "Polygon",
     r"bad\.geojson: features\[1\]\.geometry\.coordinates\[0\]: open ring: first position "
     r"\[30\.0, 50\.0\] differs from last \[30\.0, 51\.0\]"),
    ([[[30, 50], [31, 51], [31, 50], [30, 51], [30, 50]]], "Polygon",
     r"bad\.geojson: features\[1\]\.geometry\.coordinates: invalid polygon: "
     r"Self-intersection\[30\.5 50\.5\]"),
    ([[[30, 50], [31, 95], [31, 51], [30, 50]]], "Polygon",
     r"features\[1\]\.geometry\.coordinates\[0\]: latitude out of range \[-90, 90\] at "
     r"position 1"),
    ([[[30, 50], [400, 50], [31, 51], [30, 50]]], "Polygon", r"longitude out of range"),
    ([[[30, 50], [31, 50], [30, 50]]], "Polygon", r"at least 4 positions"),
    ([], "Polygon", r"features\[1\]\.geometry: empty Polygon"),
    ([[[[30, 50], [31, 50], [31, 51], [30, 51], [30, 50]]], [[[1, 2], [3, 4]]]], "MultiPolygon",
     r"coordinates\[1\]\[0\]: a ring needs at least 4 positions"),
    ([[30, 50], [31, 51]], "LineString", r"a LineString has no area"),
    ([[["a", 50], [31, 50], [31, 51], ["a", 50]]], "Polygon", r"\[lon, lat\] numbers"),
])
def test_geojson_errors_name_file_feature_and_position(tmp_path, coords, gtype, pattern):
    fc = {"type": "FeatureCollection",
          "features": [_feature(_square(30.0, 50.0, 1.0)), _feature(coords, gtype)]}
    path = _write(tmp_path, "bad.geojson", fc)
    with pytest.raises(RegionError, match=pattern):
        region_from_geojson(path)
    with pytest.raises(RegionError, match=pattern.split(": ", 1)[-1][:20]):
        load_region(path)


@pytest.mark.parametrize("obj, pattern", [
    ({"type": "FeatureCollection", "features": []}, "empty FeatureCollection"),
    ({"type": "Feature", "geometry": None}, "feature has no geometry"),
    ({"type": "Bogus"}, "unknown GeoJSON geometry type 'Bogus'"),
    ([1, 2], "not a GeoJSON object"),
])
def test_geojson_structure_errors(tmp_path, obj, pattern):
    with pytest.raises(RegionError, match=pattern):
        region_from_geojson(_write(tmp_path, "s.geojson", obj))


def test_file_errors(tmp_path):
    with pytest.raises(RegionError, match=r"missing\.geojson: file not found"):
        region_from_geojson(tmp_path / "missing.geojson")
    with pytest.raises(RegionError, match=r"j\.geojson: not valid JSON"):
        region_from_geojson(_write(tmp_path, "j.geojson", "{nope"))
    with pytest.raises(RegionError, match=r"unknown region file type '\.shp'"):
        load_region(_write(tmp_path, "x.shp", "x"))
    with pytest.raises(RegionError, match="region file not found"):
        resolve_region(str(tmp_path / "nope.geojson"))


@pytest.mark.parametrize("text, pattern", [
    ("POLYGON ((30 50, 31 50, 31 51, 30 51))", r"w\.wkt:1: not valid WKT: open ring"),
    ("POLYGON ((30 50, 31 51, 31 50, 30 51, 30 50))", r"w\.wkt:1: polygon 0: invalid polygon: "
                                                       r"Self-intersection"),
    ("POLYGON EMPTY", r"w\.wkt:1: empty geometry"),
    ("LINESTRING (30 50, 31 51)", r"w\.wkt:1: a LineString has no area"),
    ("POLYGON ((30 50, 31 50, 31 51, 30 51, 30 50))\nPOLYGON ((1 2, 3", r"w\.wkt:2: not valid"),
    ("POLYGON ((30 50, 31 95, 31 51, 30 50))", r"latitude out of range"),
])
def test_wkt_errors(tmp_path, text, pattern):
    with pytest.raises(RegionError, match=pattern):
        region_from_wkt(_write(tmp_path, "w.wkt", text))


def test_geometry_errors():
    with pytest.raises(RegionError, match="empty geometry"):
        region_from_geometry("e", Polygon())
    with pytest.raises(RegionError, match="a Point has no area"):
        region_from_geometry("p", Point(1, 2))


# ---- Antimeridian, poles, holes, multipolygons ----------------------------------------------


def test_antimeridian_ring_in_any_longitude_convention():
    over_180 = normalize_lonlat(shapely.box(175.0, -20.0, 185.0, -10.0))
    crossing = region_from_geojson({"type": "Polygon", "coordinates": [
        [[175, -20], [-175, -20], [-175, -10], [175, -10], [175, -20]]]}, "c").geometry
    zero_360 = normalize_lonlat(shapely.box(185.0, -20.0, 190.0, -10.0))
    assert over_180.geom_type == "MultiPolygon" and len(over_180.geoms) == 2
    assert over_180.equals(crossing)
    assert tuple(round(v, 9) for v in zero_360.bounds) == (-175.0, -20.0, -170.0, -10.0)
    # Area: two 5 x 10 deg boxes = one 10 x 10 deg box elsewhere at the same latitudes.
    assert geodesic_area_km2(over_180) == pytest.approx(
        geodesic_area_km2(shapely.box(0.0, -20.0, 10.0, -10.0)), rel=1e-12)


def test_ring_round_the_pole_encloses_its_pole():
    ring = [[lon, 80.0] for lon in range(-180, 181, 10)]
    cap = region_from_geojson({"type": "Polygon", "coordinates": [ring]}, "cap")
    assert cap.contains(89.9, 123.0) and not cap.contains(79.0, 0.0)
    south = region_from_geojson({"type": "Polygon", "coordinates": [
        [[lon, -70.0] for lon in range(0, 361, 10)]]}, "south")
    assert south.contains(-89.0, 0.0) and not south.contains(89.0, 0.0)


def _zone_area_km2(lat1_deg, lat2_deg, dlon_deg):
    """Area of a lat/lon box on WGS-84 by numerical integration of M N cos(phi)."""

    def integrand(phi):
        w2 = 1.0 - WGS84_E2 * np.sin(phi) ** 2
        m = WGS84_A_KM * (1.0 - WGS84_E2) / w2 ** 1.5
        n = WGS84_A_KM / np.sqrt(w2)
        return m * n * np.cos(phi)

    value, _ = integrate.quad(integrand, np.radians(lat1_deg), np.radians(lat2_deg),
                              epsabs=0.0, epsrel=1e-13)
    return value * np.radians(dlon_deg)


@pytest.mark.parametrize("box", [(30.0, 50.0, 31.0, 51.0), (-10.0, -5.0, 20.0, 7.0),
                                 (100.0, 80.0, 130.0, 90.0), (-180.0, -90.0, 180.0, 90.0)])
def test_geodesic_area_against_numerical_integration(box):
    x0, y0, x1, y1 = box
    assert geodesic_area_km2(shapely.box(*box)) == pytest.approx(
        _zone_area_km2(y0, y1, x1 - x0), rel=1e-9)


def test_whole_earth_area_is_wgs84_surface_area():
    # WGS-84 ellipsoid surface area 510,065,621.724 km^2 (NIMA TR8350.2, table 3.5).
    assert geodesic_area_km2(shapely.box(-180, -90, 180, 90)) == pytest.approx(
        510_065_621.724, abs=1.0)


def test_hole_and_multipolygon():
    outer, hole = _square(30.0, 40.0, 10.0)[0], _square(33.0, 43.0, 4.0)[0]
    holed = region_from_geojson({"type": "Polygon", "coordinates": [outer, hole]}, "h")
    assert holed.area_km2 == pytest.approx(
        _zone_area_km2(40, 50, 10) - _zone_area_km2(43, 47, 4), rel=1e-9)
    assert not holed.contains(45.0, 35.0) and holed.contains(41.0, 31.0)
    multi = region_from_geojson({"type": "MultiPolygon", "coordinates": [
        _square(0.0, 0.0, 1.0), _square(10.0, 0.0, 1.0)]}, "m")
    assert multi.area_km2 == pytest.approx(2 * _zone_area_km2(0, 1, 1), rel=1e-9)


# ---- Algebra and buffers --------------------------------------------------------------------


def test_ukraine_minus_crimea():
    ukraine, crimea = get_catalogue("deu").get("Ukraine"), builtin_region("Crimea")
    rest = ukraine - crimea
    assert rest.name == "Ukraine - Crimea"
    assert rest.area_km2 == pytest.approx(ukraine.area_km2 - crimea.area_km2, rel=1e-6)
    assert rest.contains(50.4501, 30.5234) and not rest.contains(44.9521, 34.1024)
    assert (crimea & ukraine).area_km2 == pytest.approx(crimea.area_km2, rel=1e-9)
    assert (rest | crimea).area_km2 == pytest.approx(ukraine.area_km2, rel=1e-6)


def _chord_km(lat1, lon1, lat2, lon2):
    return np.linalg.norm(geodetic_to_itrs(lat1, lon1) - geodetic_to_itrs(lat2, lon2), axis=-1)


@pytest.mark.parametrize("lat, lon", [(0.0, 0.0), (50.45, 30.52), (80.0, 10.0), (0.0, 179.95),
                                      (-60.0, -179.99), (89.95, 45.0)])
def test_point_buffer_vertices_at_geodesic_distance(lat, lon):
    """Vertices of a 20 km buffer lie 20 km away (WGS-84 chord; differs from arc by < 1 mm)."""
    g = buffer_km(Point(lon, lat), 20.0)
    xy = shapely.get_coordinates(g.boundary)
    # Drop the artificial cut vertices on the antimeridian and at the pole.
    keep = (np.abs(np.abs(xy[:, 0]) - 180.0) > 1e-9) & (np.abs(xy[:, 1]) < 90.0 - 1e-9)
    d = _chord_km(xy[keep, 1], xy[keep, 0], lat, lon)
    assert d.size > 40
    np.testing.assert_allclose(d, 20.0, atol=TEN_METRES_KM)
    region = region_from_geometry("b", g) if lat < 89 else None
    if region is not None and abs(lon) > 179:
        assert g.geom_type == "MultiPolygon"  # cut at the antimeridian


def test_within_20_km_of_a_line_cells_against_brute_force():
    line = LineString([(30.0, 50.0), (32.0, 50.5)])
    region = region_within_km(line, 20.0, "corridor")
    cells = region_cells(region, 7)
    # Reference: distance from candidate cell centres to the line sampled every ~70 m.
    t = np.linspace(0.0, 1.0, 2001)
    s_lon, s_lat = 30.0 + 2.0 * t, 50.0 + 0.5 * t
    cand = np.array(sorted(h3.str_to_int(c) for c in h3.geo_to_cells(
        shapely.box(29.5, 49.6, 32.5, 50.9), 7)), dtype=np.uint64)
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cand])
    samples = geodetic_to_itrs(s_lat, s_lon)
    pts = geodetic_to_itrs(centres[:, 0], centres[:, 1])
    dist = np.min(np.linalg.norm(pts[:, None, :] - samples[None, :, :], axis=-1), axis=1)
    inside = np.isin(cand, cells)
    assert np.all(inside[dist < 20.0 - 0.05]) and not np.any(inside[dist > 20.0 + 0.05])
    assert inside.sum() > 500


def test_negative_buffer_and_errors():
    square = region_from_geometry("sq", shapely.box(0.0, 0.0, 1.0, 1.0))
    shrunk = square.buffer_km(-10.0)
    # 1 deg at the equator: 111.32 km east-west, 110.57 km north-south (WGS-84).
    assert shrunk.area_km2 == pytest.approx((111.32 - 20.0) * (110.57 - 20.0), rel=3e-3)
    with pytest.raises(RegionError, match="distance must be > 0 km"):
        region_within_km(LineString([(0, 0), (1, 1)]), 0.0)
    with pytest.raises(RegionError, match="finite"):
        buffer_km(Point(0, 0), float("nan"))


# ---- No silent wrong answer: empty or global buffers and algebra results (issue 11) ---------


def test_huge_buffer_is_an_error_naming_the_region():
    taiwan = get_catalogue("deu").get("Taiwan")
    with pytest.raises(RegionError, match=r"^Taiwan: buffer distance 15000 km is beyond the "
                                          r"supported 5000 km"):
        taiwan.buffer_km(15_000.0)
    with pytest.raises(RegionError, match="beyond the supported"):
        buffer_km(Point(121.0, 24.0), -6000.0)
    with pytest.raises(RegionError, match=r"^Taiwan: Taiwan buffered by -300 km is empty"):
        taiwan.buffer_km(-300.0)  # Taiwan is about 140 km wide: nothing survives
    with pytest.raises(RegionError, match=r"^Moldova: .*must be a number"):
        get_catalogue("deu").get("Moldova").buffer_km("far")  # type: ignore[arg-type]


def test_algebra_results_that_are_empty_or_global_are_errors():
    cat = get_catalogue("deu")
    poland, japan = cat.get("Poland"), cat.get("Japan")
    with pytest.raises(RegionError, match=r"^Poland & Japan: Poland & Japan is empty"):
        poland & japan
    with pytest.raises(RegionError, match=r"^pj: pj \(Poland intersected with Japan\) is empty"):
        poland.intersection(japan, "pj")
    with pytest.raises(RegionError, match="Poland - Poland is empty"):
        poland - poland
    north = Region("north", shapely.box(-180.0, -1.0, 180.0, 90.0), "test")
    south = Region("south", shapely.box(-180.0, -90.0, 180.0, 1.0), "test")
    with pytest.raises(RegionError, match="north \\+ south covers the whole globe"):
        north | south
    # A legitimate result passes, with its area.
    assert (north & south).area_km2 == pytest.approx(2 * np.pi * 6378.137 * 221.1, rel=5e-3)
    cells_a = region_from_cells(["851e6c2bfffffff"], "a")
    with pytest.raises(RegionError, match="holds no cell"):
        cells_a - cells_a


def test_policy_region_with_a_huge_buffer_is_refused():
    from skyfence.policy.regions import build_region, catalogue_resolver
    from skyfence.policy.rules import RegionSpec

    spec = RegionSpec(name="taiwan-wide", expression="Taiwan", buffer_km=15_000.0)
    with pytest.raises(RegionError, match="taiwan-wide: buffer distance 15000 km is beyond"):
        build_region(spec, catalogue_resolver("deu"))
    spec = RegionSpec(name="nothing", expression="Poland & Japan")
    with pytest.raises(RegionError, match="Poland & Japan is empty"):
        build_region(spec, catalogue_resolver("deu"))


@pytest.mark.parametrize("distance_km, rel_tol", [(300.0, 5e-4), (3000.0, 5e-3)])
def test_large_point_buffer_against_geographiclib(distance_km, rel_tol):
    """Buffer vertices lie at the stated WGS-84 geodesic distance (geographiclib, Karney)."""
    from geographiclib.geodesic import Geodesic

    lat0, lon0 = 50.45, 30.52
    g = buffer_km(Point(lon0, lat0), distance_km)
    xy = shapely.get_coordinates(g.boundary)
    keep = (np.abs(np.abs(xy[:, 0]) - 180.0) > 1e-9) & (np.abs(xy[:, 1]) < 90.0 - 1e-9)
    d = np.array([Geodesic.WGS84.Inverse(lat0, lon0, la, lo)["s12"] / 1000.0
                  for lo, la in xy[keep][::5]])
    assert d.size > 10
    np.testing.assert_allclose(d, distance_km, rtol=rel_tol)


# ---- Built-in disputed areas ----------------------------------------------------------------


def test_builtin_crimea_and_sevastopol():
    crimea, sev = builtin_region("crimea"), builtin_region("Sevastopol")
    # Land area of the peninsula: about 27,000 km^2 (Crimean peninsula, Wikipedia).
    assert 26_000 < crimea.area_km2 < 28_000
    # Sevastopol: 864 km^2 of land, 1,080 km^2 with its bays (city administration figures).
    assert 800 < sev.area_km2 < 1_150
    inside = {"Simferopol": (44.9521, 34.1024), "Sevastopol": (44.6050, 33.5225),
              "Kerch": (45.3566, 36.4681), "Yalta": (44.4952, 34.1663),
              "Armyansk": (46.1094, 33.6922)}
    outside = {"Kherson": (46.6354, 32.6169), "Henichesk": (46.1712, 34.8152),
               "Kyiv": (50.4501, 30.5234), "Taman": (45.2117, 36.7161)}
    for lat, lon in inside.values():
        assert crimea.contains(lat, lon)
    for lat, lon in outside.values():
        assert not crimea.contains(lat, lon)
    for lat, lon in [(44.6050, 33.5225), (44.4965, 33.5992), (44.6144, 33.6078)]:
        assert sev.contains(lat, lon)  # Sevastopol, Balaklava, Inkerman
    for lat, lon in [(44.7514, 33.8606), (44.4952, 34.1663), (44.9521, 34.1024)]:
        assert not sev.contains(lat, lon)  # Bakhchysarai, Yalta, Simferopol
    with pytest.raises(RegionError, match="Sevastopol - Crimea is empty"):
        sev - crimea  # Sevastopol lies inside Crimea: nothing is left
    with pytest.raises(RegionError, match="choose one of Crimea, Sevastopol"):
        builtin_region("Donbas")


def test_resolve_region_names_builtins_and_files(tmp_path):
    assert resolve_region("Crimea").name == "Crimea"
    assert resolve_region("ukr").name == "Ukraine"
    assert resolve_region("UKR", edition="default").source.startswith("Natural Earth 4.1.0")
    path = _write(tmp_path, "sq.geojson", _feature(_square(30.0, 50.0, 1.0)))
    assert resolve_region(str(path)).area_km2 > 7_000
    with pytest.raises(RegionError, match="did you mean"):
        resolve_region("Ukrane")
