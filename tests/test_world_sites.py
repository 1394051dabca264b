"""The real ground segment in the package data: counts, sources, cross-checks, home PoPs."""

from __future__ import annotations

import numpy as np
import pytest

from skyfence.network.sites import great_circle_km, site_records, world_sites


def test_counts_and_every_row_has_source_and_date():
    recs = site_records()
    gws = [r for r in recs if r.kind == "gateway"]
    pops = [r for r in recs if r.kind == "pop"]
    assert len(gws) >= 150 and len(pops) >= 30
    for r in recs:
        assert r.source.strip() and r.as_of.strip(), r.name
        assert -90 <= r.lat_deg <= 90 and -180 <= r.lon_deg <= 180
    names = [r.name for r in gws]
    assert len(set(names)) == len(names)


def test_facts_md_sites_present_with_their_coordinates():
    s = world_sites()
    facts = {"Wola Krobowska": (52.184, 20.854), "Kaunas": (54.87, 24.01),
             "Muallim": (40.789, 29.509), "Akita": (39.638, 140.065), "Tumon": (13.503, 144.805)}
    lat, lon = s.gateway_lat_lon_deg
    for name, (la, lo) in facts.items():
        i = s.gateway_index(name)
        assert great_circle_km(lat[i], lon[i], la, lo) < 1.0
    warsaw = s.pops[s.pop_index("Warsaw")]
    assert great_circle_km(warsaw.lat_deg, warsaw.lon_deg, 52.227, 21.003) < 1.0


def test_gateways_lie_in_their_country():
    from skyfence.ground import get_catalogue

    cat = get_catalogue("default")
    s = world_sites()
    lat, lon = s.gateway_lat_lon_deg
    idx = np.asarray(cat.locate_index(lat, lon))
    codes = [cat.countries[i].iso_a2 if i >= 0 else None for i in idx]
    wrong = [(g.name, g.country, c) for g, c in zip(s.gateways, codes, strict=True)
             if c is not None and c != g.country]
    # coastal sites may fall just offshore of a 1:10m coastline (None); none in another country
    assert not wrong, wrong


def test_home_pops_geoip_and_fallbacks():
    s = world_sites()
    names = s.pop_names
    pick = s.home_pop(["DE", "YE", "US", "US", "CA", "XK", "TR"],
                      [51.3, 15.4, 47.6, 25.8, 51.0, 42.6, 39.9],
                      [9.5, 44.2, -122.3, -80.2, -114.0, 21.2, 32.9])
    got = [names[i] for i in pick]
    assert got[0] == "Frankfurt"
    assert got[1] == "Frankfurt"          # geoIP feed: Yemen exits in Frankfurt
    assert got[2] == "Seattle" and got[3] == "Miami"   # multi-PoP country: nearest own PoP
    assert got[4] == "Calgary"
    assert got[5] == "Sofia"              # not in the feed: nearest PoP (Pristina -> Sofia)
    assert s.pops[pick[6]].country in {"BG", "IT", "DE", "PL", "QA"}


def test_every_pop_has_a_gateway_and_every_gateway_a_pop():
    s = world_sites(backhaul_km=300.0)
    assert all(p.gateways for p in s.pops)
    used = {g for p in s.pops for g in p.gateways}
    assert used == set(s.gateway_names)


def test_antenna_counts_where_sourced():
    s = world_sites()
    assert s.gateways[s.gateway_index("Sofia")].n_antennas == 30
    assert s.gateways[s.gateway_index("Kaunas")].n_antennas is None


def test_bad_backhaul():
    from skyfence.errors import SiteError

    with pytest.raises(SiteError):
        world_sites(backhaul_km=0)


def test_sites_cli_list_show_and_errors():
    import csv
    import io
    import json

    from typer.testing import CliRunner

    from skyfence.cli import app

    r = CliRunner()
    res = r.invoke(app, ["sites", "list", "--country", "PL", "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert {"Wola Krobowska", "Warsaw"} <= {x["name"] for x in rows}
    assert all(x["source"] for x in rows)
    res = r.invoke(app, ["sites", "list", "--kind", "pop", "--format", "json"])
    pops = json.loads(res.output)
    assert len(pops) >= 30 and all(p["kind"] == "pop" for p in pops)
    res = r.invoke(app, ["sites", "show", "frntdeu1", "--format", "json"])
    assert json.loads(res.output)["name"] == "Frankfurt" and "Aerzen" in json.loads(
        res.output)["linked"]
    for bad in (["sites", "show", "Nowhere"], ["sites", "list", "--country", "Poland"],
                ["sites", "list", "--kind", "moon"], ["sites", "list", "--format", "xml"]):
        res = r.invoke(app, bad)
        assert res.exit_code == 2 and "Error:" in res.output, bad
