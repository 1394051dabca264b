"""Terminals: parsing and validation errors, CSV loading, res-5 cells and ground vectors."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from skyfence.earth import enu_basis, geodetic_to_itrs
from skyfence.errors import SiteError
from skyfence.ground import (
    Terminal,
    load_terminals_csv,
    parse_terminal,
    parse_terminals,
    terminal_set,
)


def test_parse_with_and_without_altitude():
    t = parse_terminal("Kyiv=50.4501,30.5234")
    assert t == Terminal("Kyiv", 50.4501, 30.5234, 0.0)
    t2 = Terminal.parse(" Mount Elbrus = 43.3499, 42.4453, alt_m=5642 ")
    assert (t2.name, t2.altitude_m, t2.alt_km) == ("Mount Elbrus", 5642.0, 5.642)


@pytest.mark.parametrize("text, pattern", [
    ("Kyiv 50.45,30.52", r"cannot read point .*expected NAME=LAT,LON"),
    ("=50.45,30.52", r"has no name before '='"),
    ("Kyiv=50.45", r"needs LAT,LON after '='"),
    ("Kyiv=1,2,3,4", r"third number '3' is ambiguous; write alt_m=3"),
    ("Kyiv=50.45,,", r"needs LAT,LON"),
    ("Kyiv=north,30.52", r"LAT 'north' is not a number"),
    ("Kyiv=50.45,east", r"LON 'east' is not a number"),
    ("Kyiv=91,30", r"latitude 91 is outside \[-90, 90\] deg"),
    ("Kyiv=50,181", r"longitude 181 is outside \[-180, 180\] deg"),
    ("Kyiv=50,30,alt_m=250000", r"altitude 250000 m is outside .*metres, not km"),
    ("Kyiv=nan,30", r"lat_deg must be a finite number"),
])
def test_parse_errors_show_text_and_form(text, pattern):
    with pytest.raises(SiteError, match=pattern):
        parse_terminal(text)


def test_duplicate_names_and_bad_records():
    with pytest.raises(SiteError, match="duplicate terminal name 'A'"):
        parse_terminals(["A=1,2", "B=3,4", "A=5,6"])
    with pytest.raises(SiteError, match="must not contain '=' or ','"):
        Terminal("a=b", 1.0, 2.0)
    with pytest.raises(SiteError, match="lat_deg must be a finite number"):
        Terminal("x", "50", 2.0)  # type: ignore[arg-type]


def test_load_csv(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("name,lat_deg,lon_deg,altitude_m\nKyiv,50.4501,30.5234,179\n"
                 "Taipei,25.0330,121.5654,\n\n")
    ts = load_terminals_csv(p)
    assert [t.name for t in ts] == ["Kyiv", "Taipei"]
    assert ts[0].altitude_m == 179.0 and ts[1].altitude_m == 0.0
    alt = tmp_path / "alt.csv"
    alt.write_text("terminal,latitude,longitude\nX,1,2\n")
    assert load_terminals_csv(alt)[0] == Terminal("X", 1.0, 2.0)


@pytest.mark.parametrize("body, pattern", [
    ("name,lat\nX,1\n", r"t\.csv:1: missing column\(s\) lon_deg"),
    ("name,lat,lon\nX,1,2\nY,north,3\n", r"t\.csv:3: lat_deg 'north' is not a number"),
    ("name,lat,lon\nX,95,2\n", r"t\.csv:2: latitude 95 is outside"),
    ("name,lat,lon\nX,1,2\nX,3,4\n", r"t\.csv:3: terminal 'X' appears again without a "
                                      r"time \(first at .*t\.csv:2\)"),
    ("name,lat,lon\nX,1\n", r"t\.csv:2: expected 3 fields, got 2"),
    ("name,lat,lon\n", r"t\.csv: no terminals"),
    ("", r"empty CSV"),
])
def test_csv_errors_name_file_and_line(tmp_path, body, pattern):
    p = tmp_path / "t.csv"
    p.write_text(body)
    with pytest.raises(SiteError, match=pattern):
        load_terminals_csv(p)
    with pytest.raises(SiteError, match="terminal file not found"):
        load_terminals_csv(tmp_path / "none.csv")


def test_terminal_cells_and_vectors():
    terms = parse_terminals(["Kyiv=50.4501,30.5234,alt_m=179", "Taipei=25.0330,121.5654",
                             "Fiji=-16.6,179.999", "Pole=89.999,0,alt_m=3000"])
    ts = terminal_set(terms)
    assert len(ts) == 4 and ts.names[0] == "Kyiv"
    assert [h3.int_to_str(int(c)) for c in ts.cells] == [
        h3.latlng_to_cell(t.lat_deg, t.lon_deg, 5) for t in terms]
    assert terms[0].cell() == int(ts.cells[0])
    np.testing.assert_allclose(ts.r_itrs_km, geodetic_to_itrs(ts.lat_deg, ts.lon_deg, ts.alt_km))
    np.testing.assert_allclose(ts.up, enu_basis(ts.lat_deg, ts.lon_deg)[2])
    np.testing.assert_allclose(np.linalg.norm(ts.up, axis=1), 1.0)
    np.testing.assert_allclose(ts.altitude_m, [179.0, 0.0, 0.0, 3000.0])
    assert ts.terminals() == terms
    # Altitude moves the point along the local vertical, by exactly that height.
    np.testing.assert_allclose(
        np.linalg.norm(ts.r_itrs_km[0] - geodetic_to_itrs(50.4501, 30.5234, 0.0)), 0.179)
    assert terminal_set(terms, resolution=3).cells[0] == h3.str_to_int(
        h3.latlng_to_cell(50.4501, 30.5234, 3))
    with pytest.raises(SiteError, match="duplicate"):
        terminal_set(terms + terms[:1])
