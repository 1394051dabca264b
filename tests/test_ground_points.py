"""The one ground-point syntax: NAME=LAT,LON[,alt_m=..][,speed_kmh=..][,id=..], validated the
same way by the text parser, the field validator (scenario) and the CSV loader."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyfence.errors import SiteError
from skyfence.ground import (
    MAX_ALTITUDE_M,
    MAX_SPEED_KMH,
    MIN_ALTITUDE_M,
    Terminal,
    load_terminals_csv,
    parse_ground_point,
    parse_ground_points,
    validate_ground_point,
)


def test_named_extras_land_where_they_should():
    t = parse_ground_point("Kyiv=50.45,30.52,alt_m=100")
    assert (t.altitude_m, t.speed_kmh, t.id) == (100.0, None, None)
    t = parse_ground_point("Kyiv=50.45,30.52,speed_kmh=100")
    assert (t.altitude_m, t.speed_kmh) == (0.0, 100.0)
    t = parse_ground_point(" Truck 7 = -33.9 , 18.4 , id=UT-0042 , speed_kmh=80, alt_m=-12.5 ")
    assert (t.name, t.lat_deg, t.lon_deg, t.altitude_m, t.speed_kmh, t.id) == (
        "Truck 7", -33.9, 18.4, -12.5, 80.0, "UT-0042")
    assert parse_ground_point("X=0,180").lon_deg == 180.0
    assert parse_ground_point("X=-90,-180").lat_deg == -90.0
    assert parse_ground_point("Київ=50.45,30.52").name == "Київ"  # any script


@pytest.mark.parametrize("text, field, pattern", [
    ("Kyiv=50.45,30.52,100", "--point", r"a third number '100' is ambiguous; write alt_m=100"),
    ("X=10,200", "--point", r"longitude 200 is outside \[-180, 180\] deg"),
    ("X=10,-180.5", "--point", r"longitude -180.5 is outside"),
    ("X=90.0001,0", "--point", r"latitude 90.0001 is outside \[-90, 90\]"),
    ("X=inf,0", "--point", r"lat_deg must be a finite number"),
    ("X=1,nan", "--point", r"lon_deg must be a finite number"),
    ("X=1,2,alt_m=inf", "--point", r"altitude_m must be a finite number"),
    ("X=1,2,alt_m=25000", "--point", r"altitude 25000 m is outside"),
    ("X=1,2,alt_m=-1001", "--point", r"altitude -1001 m is outside"),
    ("X=1,2,speed_kmh=-1", "--point", r"speed_kmh -1 must be >= 0"),
    ("X=1,2,speed_kmh=9000", "--point", r"speed_kmh 9000 is above 5000 km/h"),
    ("X=1,2,speed_kmh=fast", "--point", r"speed_kmh 'fast' is not a number"),
    ("X=1_0,2", "--point", r"LAT '1_0' is not a number"),
    ("X=1,2,alt=5", "--point", r"unknown key 'alt'; known keys: alt_m, speed_kmh, id"),
    ("X=1,2,alt_m=5,alt_m=6", "--point", r"alt_m given twice"),
    ("X=1,2,id=", "--point", r"id has no value"),
    ("X=1,alt_m=5,2", "--point", r"LAT and LON come first"),
    ("X=1", "--point", r"needs LAT,LON after '='"),
    ("   =1,2", "--point", r"has no name before '='"),
    ("X\x07=1,2", "--point", r"control character U\+0007"),
    ("X\u202e=1,2", "--point", r"control character U\+202E"),
    ("X=1,2,id=a\tb", "--point", r"id 'a\\tb' contains the control character U\+0009"),
    ("Kyiv 50,30", "--point", r"cannot read point .* expected NAME=LAT,LON\[,alt_m=..\]"),
])
def test_errors_name_the_option_field_and_value(text, field, pattern):
    with pytest.raises(SiteError, match=pattern) as exc:
        parse_ground_point(text, field)
    assert str(exc.value).startswith(f"{field}: ") and "\n" not in str(exc.value)


def test_names_unique_and_positions_in_errors():
    with pytest.raises(SiteError, match=r"--point: duplicate terminal name 'A'"):
        parse_ground_points(["A=1,2", "B=3,4", "A=5,6"])
    with pytest.raises(SiteError, match=r"--point: duplicate terminal id 'u1'"):
        parse_ground_points(["A=1,2,id=u1", "B=3,4,id=u1"])
    with pytest.raises(SiteError, match=r"--point #2: latitude 95"):
        parse_ground_points(["A=1,2", "B=95,4"])
    with pytest.raises(SiteError, match="blank"):
        Terminal("   ", 1.0, 2.0)


def test_field_validator_matches_the_parser_and_names_where():
    t = validate_ground_point("Kyiv", 50.45, 30.52, 100.0, 90.0, "UT1")
    assert t == parse_ground_point("Kyiv=50.45,30.52,alt_m=100,speed_kmh=90,id=UT1")
    with pytest.raises(SiteError, match=r"scenario\.toml: ground\.terminals\[2\]: longitude 200"):
        validate_ground_point("X", 10, 200, where="scenario.toml: ground.terminals[2]")
    with pytest.raises(SiteError, match=r"lat_deg must be a finite number, got True"):
        validate_ground_point("X", True, 2)
    with pytest.raises(SiteError, match=r"terminal name must be text"):
        validate_ground_point(None, 1, 2)


def test_csv_columns_speed_and_id_are_validated_the_same_way(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,lat,lon,alt_m,speed_kmh\nUT1,50.45,30.52,100,90\nUT2,1,2,,\n")
    ts = load_terminals_csv(p)
    assert [(t.name, t.id, t.altitude_m, t.speed_kmh) for t in ts] == [
        ("UT1", "UT1", 100.0, 90.0), ("UT2", "UT2", 0.0, None)]
    p.write_text("name,lat,lon\nX,10,200\n")
    with pytest.raises(SiteError, match=r"t\.csv:2: longitude 200 is outside"):
        load_terminals_csv(p)


_finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(lat=st.floats(-100, 100, **_finite), lon=st.floats(-200, 200, **_finite),
       alt=st.floats(-2000, 30000, **_finite),
       speed=st.one_of(st.none(), st.floats(-10, 6000, **_finite)))
def test_parser_and_validator_agree_with_the_stated_bounds(lat, lon, alt, speed):
    """Accept exactly what the documented bounds accept, through both entry points."""
    ok = (-90 <= lat <= 90 and -180 <= lon <= 180 and MIN_ALTITUDE_M <= alt <= MAX_ALTITUDE_M
          and (speed is None or 0 <= speed <= MAX_SPEED_KMH))
    text = f"P={lat!r},{lon!r},alt_m={alt!r}" + ("" if speed is None else f",speed_kmh={speed!r}")
    results = []
    for call in (lambda: parse_ground_point(text), lambda: validate_ground_point(
            "P", lat, lon, alt, speed)):
        try:
            results.append(call())
        except SiteError:
            results.append(None)
    assert (results[0] is not None) == ok == (results[1] is not None)
    if ok:
        assert results[0] == results[1]
        assert math.isclose(results[0].altitude_m, alt) and results[0].speed_kmh == speed
