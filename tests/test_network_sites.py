"""Gateways and PoPs: the facts.md defaults, user files (CSV / GeoJSON), clear errors naming
file, row and field, home PoPs, outage windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skyfence.errors import SiteError
from skyfence.network import (
    Gateway,
    Pop,
    Sites,
    availability,
    default_sites,
    great_circle_km,
    load_gateways,
    load_pops,
    load_sites,
    parse_outage,
)
from skyfence.network.sites import MEAN_EARTH_RADIUS_KM

GW_HEADER = "name,lat,lon,country,min_elevation_deg,gso_exclusion_deg,antennas\n"
POP_HEADER = "name,lat,lon,country,gateways,countries\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_follow_facts() -> None:
    s = default_sites()
    # ../shared/facts.md, "Ground sites".
    assert s.gateway_names == ["Wola Krobowska", "Kaunas", "Muallim", "Sofia", "Plana",
                               "Angeles", "Akita", "Otaru", "Tumon"]
    assert s.pop_names == ["Warsaw", "Frankfurt", "Sofia", "Tokyo", "Manila"]
    kaunas = s.gateways[s.gateway_index("Kaunas")]
    assert (kaunas.lat_deg, kaunas.lon_deg, kaunas.country) == (54.87, 24.01, "LT")
    assert all(g.min_elevation_deg == 25.0 and g.gso_exclusion_deg == 18.0 for g in s.gateways)
    tokyo = s.pops[s.pop_index("Tokyo")]
    assert (tokyo.lat_deg, tokyo.lon_deg) == (35.686, 139.765)
    # Home PoPs: by country, else the nearest PoP.
    home = s.home_pop(["UA", "PL", "DE", "TW", "PH", "", "FR"],
                      [50.45, 52.2, 52.5, 25.03, 14.6, 35.0, 48.86],
                      [30.52, 21.0, 13.4, 121.56, 121.0, 139.0, 2.35])
    assert [s.pop_names[i] for i in home] == ["Warsaw", "Warsaw", "Frankfurt", "Tokyo",
                                              "Manila", "Tokyo", "Frankfurt"]


def test_great_circle_closed_form() -> None:
    # A quarter meridian and a quarter of the equator: pi R / 2.
    assert great_circle_km(0.0, 0.0, 90.0, 0.0) == pytest.approx(np.pi * MEAN_EARTH_RADIUS_KM / 2)
    assert great_circle_km(0.0, 170.0, 0.0, -100.0) == pytest.approx(
        np.pi * MEAN_EARTH_RADIUS_KM / 2)
    assert great_circle_km(10.0, 20.0, 10.0, 20.0) == 0.0


def test_csv_and_geojson_round_trip(tmp_path: Path) -> None:
    gw = write(tmp_path, "gw.csv", GW_HEADER + "A,50.0,20.0,pl,20,0,3\nB,51.0,21.0,LT,,,\n")
    gws = load_gateways(gw)
    assert gws[0] == Gateway("A", 50.0, 20.0, "PL", 20.0, 0.0, 3)
    assert gws[1].min_elevation_deg == 25.0 and gws[1].n_antennas is None
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [21.0, 52.2]},
              "properties": {"name": "W", "country": "PL", "gateways": ["A", "B"],
                             "countries": "PL;UA"}}]
    pops = write(tmp_path, "pops.geojson", json.dumps({"type": "FeatureCollection",
                                                       "features": feats}))
    sites = load_sites(gw, pops)
    assert sites.pops[0] == Pop("W", 52.2, 21.0, "PL", ("A", "B"), ("PL", "UA"))
    assert [sites.pop_names[i] for i in sites.home_pop(["UA"], [50.0], [30.0])] == ["W"]


@pytest.mark.parametrize(
    ("row", "match", "where"),
    [
        ("C,95,20,PL,,,", "latitude must be a number in", "gw.csv:3: lat"),
        ("C,abc,20,PL,,,", "lat must be a number, got 'abc'", "gw.csv:3: lat"),
        ("C,50,20,Poland,,,", "ISO 3166-1 alpha-2", "gw.csv:3: country"),
        ("C,50,20,PL,95,,", "min_elevation_deg must be in", "gw.csv:3: min_elevation_deg"),
        ("C,50,20,PL,,,0", "antennas must be an integer >= 1", "gw.csv:3: antennas"),
        ("C,50,20,PL,,,2.5", "antennas must be an integer >= 1", "gw.csv:3: antennas"),
        (",50,20,PL,,,", "missing value for 'name'", "gw.csv:3: name"),
        ("A,50,20,PL,,,", "duplicate gateway name 'A'", "gw.csv: name"),
        ("C,50,20,PL,,,,extra", "more values than the 7 columns", "gw.csv:3"),
    ],
)
def test_bad_gateway_row_names_file_row_and_field(tmp_path: Path, row: str, match: str,
                                                  where: str) -> None:
    gw = write(tmp_path, "gw.csv", GW_HEADER + "A,50.0,20.0,PL,,,\n" + row + "\n")
    with pytest.raises(SiteError, match=match) as exc:
        load_gateways(gw)
    assert exc.value.where.endswith(where)
    assert str(gw) in str(exc.value)


def test_missing_column_and_unknown_file_type(tmp_path: Path) -> None:
    gw = write(tmp_path, "gw.csv", "name,lat,lon\nA,1,2\n")
    with pytest.raises(SiteError, match=r"missing column.*country") as exc:
        load_gateways(gw)
    assert exc.value.where.endswith("gw.csv:1")
    with pytest.raises(SiteError, match="unknown site file type"):
        load_gateways(write(tmp_path, "gw.xlsx", "x"))
    with pytest.raises(SiteError, match="site file not found"):
        load_gateways(tmp_path / "nope.csv")
    with pytest.raises(SiteError, match="not valid JSON"):
        load_pops(write(tmp_path, "p.geojson", "{"))
    bad_geom = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
         "properties": {"name": "W", "country": "PL", "gateways": "A"}}]}
    with pytest.raises(SiteError, match="Point") as exc:
        load_pops(write(tmp_path, "p2.geojson", json.dumps(bad_geom)))
    assert exc.value.where.endswith("feature 0: geometry")


def test_pop_referencing_unknown_gateway(tmp_path: Path) -> None:
    gw = write(tmp_path, "gw.csv", GW_HEADER + "Kaunas,54.87,24.01,LT,,,\n")
    pops = write(tmp_path, "pops.csv", POP_HEADER + "Warsaw,52.2,21.0,PL,Kaunas;Kanuas,PL\n")
    with pytest.raises(SiteError, match=r"unknown gateway 'Kanuas'.*did you mean 'Kaunas'") as e:
        load_sites(gw, pops)
    assert "PoP 'Warsaw': gateways" in e.value.where


def test_pop_without_gateway(tmp_path: Path) -> None:
    pops = write(tmp_path, "pops.csv", POP_HEADER + "Warsaw,52.2,21.0,PL,,PL\n")
    with pytest.raises(SiteError, match="missing value for 'gateways'") as exc:
        load_pops(pops)
    assert exc.value.where.endswith("pops.csv:2: gateways")
    with pytest.raises(SiteError, match="at least one associated gateway"):
        Pop("Warsaw", 52.2, 21.0, "PL", ())


def test_cross_reference_errors() -> None:
    g = Gateway("G", 50.0, 20.0, "PL")
    with pytest.raises(SiteError, match="attached to no PoP"):
        Sites((g, Gateway("H", 51.0, 20.0, "PL")), (Pop("P", 52.0, 21.0, "PL", ("G",)),))
    with pytest.raises(SiteError, match="duplicate gateway name 'G'"):
        Sites((g, g), (Pop("P", 52.0, 21.0, "PL", ("G",)),))
    with pytest.raises(SiteError, match="country UA is homed at two PoPs"):
        Sites((g,), (Pop("P", 52.0, 21.0, "PL", ("G",), ("UA",)),
                     Pop("Q", 50.0, 8.0, "DE", ("G",), ("UA",))))
    with pytest.raises(SiteError, match="no PoPs defined"):
        Sites((g,), ())
    # A gateways file alone must keep the names the default PoPs reference.
    with pytest.raises(SiteError, match="unknown gateway"):
        default_sites().with_gateways([g])


def test_gateways_file_alone_explains_default_pops(tmp_path: Path) -> None:
    gw = write(tmp_path, "gw.csv", GW_HEADER + "Solo,50,20,PL,,,\n")
    with pytest.raises(SiteError, match="unknown gateway") as exc:
        load_sites(gw)
    assert "give --pops" in str(exc.value)


def test_outage_parsing_and_availability() -> None:
    s = default_sites()
    o = parse_outage("Wola Krobowska@2026-02-23T01:00:00Z/2026-02-23T02:00:00Z", s)
    assert (o.kind, o.index) == ("gateway", 0)
    p = parse_outage("Warsaw", s)
    assert p.kind == "pop" and p.start_utc is None
    t = np.datetime64("2026-02-23T00:30", "ns") + np.arange(4) * np.timedelta64(30, "m")
    gw_up, pop_up = availability([o, p], t, s)
    assert gw_up[:, 0].tolist() == [True, False, False, True]  # [01:00, 02:00)
    assert gw_up[:, 1:].all() and not pop_up[:, 0].any() and pop_up[:, 1:].all()
    open_end = parse_outage("Kaunas@2026-02-23T01:00:00Z/", s)
    assert open_end.end_utc is None and open_end.active(t).tolist() == [False, True, True, True]
    with pytest.raises(SiteError, match=r"unknown gateway or PoP 'Kaunaz'.*did you mean"):
        parse_outage("Kaunaz", s)
    with pytest.raises(SiteError, match="must be START/END"):
        parse_outage("Kaunas@2026-02-23T01:00:00Z", s)
    with pytest.raises(SiteError, match="cannot read time"):
        parse_outage("Kaunas@yesterday/", s)
    with pytest.raises(SiteError, match=r"ends .* before it starts"):
        parse_outage("Kaunas@2026-02-23T02:00:00Z/2026-02-23T01:00:00Z", s)
