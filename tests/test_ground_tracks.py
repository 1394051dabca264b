"""Terminals with identity and tracks: interpolation and ground speed against geographiclib,
registration windows, the per-step state of a set, and CSV / GeoJSON / Parquet files."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from geographiclib.geodesic import Geodesic

from skyfence.earth import WGS84_A_KM, geodetic_to_itrs
from skyfence.errors import SiteError
from skyfence.ground import (
    Terminal,
    Track,
    geodesic_distance_km,
    latlng_to_cells,
    load_terminals,
    parse_ground_point,
    terminal_set,
    validate_ground_point,
    write_terminals,
)

T0 = np.datetime64("2026-02-10T00:00:00", "ns")
MIN = np.timedelta64(60, "s")


def _track(points, alt=0.0) -> Track:
    t = T0 + np.arange(len(points)) * 10 * MIN
    lat, lon = zip(*points, strict=True)
    return Track.from_points(t, lat, lon, alt)


def test_geodesic_distance_against_geographiclib_and_closed_form():
    rng = np.random.default_rng(1)
    lat1, lon1 = rng.uniform(-89, 89, 500), rng.uniform(-180, 180, 500)
    lat2, lon2 = rng.uniform(-89, 89, 500), rng.uniform(-180, 180, 500)
    got = geodesic_distance_km(lat1, lon1, lat2, lon2)
    ref = [Geodesic.WGS84.Inverse(*v)["s12"] / 1000 for v in zip(lat1, lon1, lat2, lon2,
                                                                 strict=True)]
    np.testing.assert_allclose(got, ref, atol=1e-6)  # 1 mm
    # Along the equator a geodesic is the equator: a * dlon (for dlon below ~179.4 deg).
    assert geodesic_distance_km(0.0, 10.0, 0.0, 40.0) == pytest.approx(
        WGS84_A_KM * np.radians(30.0), rel=1e-12)
    assert geodesic_distance_km(0.0, 179.9, 0.0, -179.9) == pytest.approx(
        WGS84_A_KM * np.radians(0.2), rel=1e-12)
    # Nearly antipodal pairs (Vincenty does not converge) come from geographiclib.
    assert geodesic_distance_km(0.0, 0.0, 0.5, 179.7) == pytest.approx(
        Geodesic.WGS84.Inverse(0.0, 0.0, 0.5, 179.7)["s12"] / 1000, abs=1e-6)


def test_track_position_and_speed_against_geographiclib():
    tr = _track([(50.45, 30.52), (50.50, 30.70), (50.40, 30.90)])  # ~14 km legs, 10 min
    for k in range(2):
        inv = Geodesic.WGS84.Inverse(tr.lat_deg[k], tr.lon_deg[k], tr.lat_deg[k + 1],
                                     tr.lon_deg[k + 1])
        assert tr.leg_speed_kmh[k] == pytest.approx(inv["s12"] / 1000 * 6, rel=1e-9)
        for f in (0.25, 0.5, 0.9):
            t = tr.t_utc[k] + np.timedelta64(int(f * 600e9), "ns")
            lat, lon, _ = tr.position(t)
            ref = Geodesic.WGS84.Direct(tr.lat_deg[k], tr.lon_deg[k], inv["azi1"],
                                        f * inv["s12"])
            off = Geodesic.WGS84.Inverse(float(lat), float(lon), ref["lat2"], ref["lon2"])
            assert off["s12"] < 25.0  # metres: great circle vs WGS-84 geodesic, ~15 km legs
            assert tr.speed_kmh(t) == pytest.approx(tr.leg_speed_kmh[k])
    # Track points themselves are hit exactly; legs are [t_i, t_i+1).
    lat, lon, _ = tr.position(tr.t_utc)
    np.testing.assert_allclose(lat, tr.lat_deg, atol=1e-9)
    np.testing.assert_allclose(lon, tr.lon_deg, atol=1e-9)
    assert tr.speed_kmh(tr.t_utc[1]) == pytest.approx(tr.leg_speed_kmh[1])
    assert tr.speed_kmh(tr.t_utc[2]) == pytest.approx(tr.leg_speed_kmh[1])


def test_outside_the_track_holds_the_end_and_says_so():
    tr = _track([(10.0, 179.95), (10.0, -179.95)], alt=[0.0, 100.0])  # across 180 deg
    mid = tr.t_utc[0] + 5 * MIN
    _, lon, alt = tr.position(mid)
    assert abs(abs(float(lon)) - 180.0) < 1e-6 and float(alt) == pytest.approx(50.0)
    before, after = tr.t_utc[0] - MIN, tr.t_utc[-1] + MIN
    assert tr.covers([before, mid, after]).tolist() == [False, True, False]
    assert tr.speed_kmh([before, after]).tolist() == [0.0, 0.0]
    assert float(tr.position(before)[1]) == pytest.approx(179.95)
    assert float(tr.position(after)[1]) == pytest.approx(-179.95)
    term = Terminal.moving("boat", tr, id="B1")
    assert term.on_track([before, mid]).tolist() == [False, True]
    assert (term.lat_deg, term.lon_deg) == (10.0, 179.95)


def test_speed_from_track_changes_at_the_right_step():
    # 10 min at walking pace, then 10 min at ~120 km/h (20 km east at 50 N).
    dlon = np.degrees(20.0 / (6371.0 * np.cos(np.radians(50.0))))
    tr = _track([(50.0, 30.0), (50.0, 30.01), (50.0, 30.01 + dlon)])
    grid = T0 + np.arange(0, 21) * MIN
    speed = Terminal.moving("car", tr).speed_at(grid)
    fast = speed > 90.0
    assert not fast[:10].any() and fast[10:].all()  # from the step at 10 min on
    assert speed[15] == pytest.approx(tr.leg_speed_kmh[1]) and 110 < speed[15] < 130


@pytest.mark.parametrize("kwargs, pattern", [
    ({"t": [0, 0]}, r"repeats the previous"),
    ({"t": [10, 0]}, r"goes back before"),
    ({"lat": [50.0, 95.0]}, r"track point 1: latitude 95 is outside"),
    ({"lat": [50.0, float("nan")]}, r"lat_deg must be a finite number"),
    ({"lon": [30.0, 60.0]}, r"km/h, above 5000 km/h"),
])
def test_track_validation(kwargs, pattern):
    t = T0 + np.array(kwargs.get("t", [0, 10])) * MIN
    with pytest.raises(SiteError, match=pattern):
        Track.from_points(t, kwargs.get("lat", [50.0, 50.0]), kwargs.get("lon", [30.0, 30.1]))
    with pytest.raises(SiteError, match="speed comes from its track"):
        Terminal("x", 50.0, 30.0, speed_kmh=10.0, track=_track([(50.0, 30.0)]))


def test_registration_windows():
    t = Terminal("ut", 50.45, 30.52, registered_from="2026-02-01T00:00:00Z",
                 registered_until="2026-03-01")
    assert t.registered is True
    times = np.array(["2026-01-31T23:59:59", "2026-02-01T00:00:00", "2026-02-28T23:59:59",
                      "2026-03-01T00:00:00"], dtype="datetime64[ns]")
    assert t.is_registered(times).tolist() == [False, True, True, False]
    assert Terminal("a", 1, 2, registered=True).is_registered(times).all()
    assert not Terminal("a", 1, 2).is_registered(times).any()
    with pytest.raises(SiteError, match=r"registered_until .* must be after"):
        Terminal("a", 1, 2, registered_from="2026-03-01", registered_until="2026-02-01")
    with pytest.raises(SiteError, match="dates given for a terminal marked not registered"):
        Terminal("a", 1, 2, registered=False, registered_from="2026-03-01")
    with pytest.raises(SiteError, match="registered_from: cannot read time"):
        Terminal("a", 1, 2, registered_from="soon")
    p = parse_ground_point("Kyiv=50.45,30.52,id=UT1,owner=ACME,registered=yes,"
                           "registered_from=2026-02-01T00:00:00Z")
    assert (p.id, p.owner, p.registered, p.registered_from) == (
        "UT1", "ACME", True, np.datetime64("2026-02-01", "ns"))
    with pytest.raises(SiteError, match="registered must be true or false"):
        parse_ground_point("Kyiv=50.45,30.52,registered=maybe")
    v = validate_ground_point("Kyiv", 50.45, 30.52, owner="ACME", registered=False)
    assert (v.owner, v.registered) == ("ACME", False)


def test_terminal_set_state_over_time():
    tr = _track([(50.0, 30.0), (50.0, 30.5), (50.3, 30.5)])
    fixed = Terminal("home", 50.45, 30.52, speed_kmh=0.0, registered=True)
    car = Terminal.moving("car", tr, id="C1", registered_until="2026-02-10T00:15:00Z")
    ts = terminal_set([fixed, car])
    grid = T0 + np.arange(0, 25, 5) * MIN
    st = ts.state_at(grid)
    assert st.lat_deg.shape == (2, 5) and st.r_itrs_km.shape == (2, 5, 3)
    assert np.all(st.cells[0] == ts.cells[0])
    lat, lon, alt = tr.position(grid)
    np.testing.assert_allclose(st.lat_deg[1], lat)
    np.testing.assert_allclose(st.r_itrs_km[1], geodetic_to_itrs(lat, lon, alt / 1000))
    assert st.cells[1].tolist() == latlng_to_cells(lat, lon, 5).tolist()
    assert len(set(st.cells[1].tolist())) > 1  # the car changes cells along its way
    assert st.registered[1].tolist() == [True, True, True, False, False]
    assert st.registered[0].all() and st.on_track.all()
    np.testing.assert_allclose(st.speed_kmh[1], tr.speed_kmh(grid))
    assert ts.ids == (None, "C1") and ts.moving.tolist() == [False, True]


# ---- files ----------------------------------------------------------------------------------


def _fleet() -> list[Terminal]:
    tr = Track.from_points(T0 + np.arange(3) * MIN, [46.40, 46.41, 46.43],
                           [30.70, 30.72, 30.75], [0.0, 5.0, 12.5])
    return [
        Terminal("Kyiv office", 50.45, 30.52, 180.0, 0.0, "UT-1", "ACME", True,
                 "2026-02-01T00:00:00Z", None),
        Terminal("Lviv", 49.84, 24.03, id="UT-2", registered=False),
        Terminal.moving("patrol boat", tr, id="UT-3", owner="Navy",
                        registered_from="2026-01-15T12:00:00Z"),
    ]


def _same_terminals(a: list[Terminal], b: list[Terminal]) -> None:
    assert [t.name for t in a] == [t.name for t in b]
    for x, y in zip(a, b, strict=True):
        for f in ("id", "owner", "registered", "registered_from", "registered_until",
                  "speed_kmh"):
            assert getattr(x, f) == getattr(y, f), f
        assert (x.lat_deg, x.lon_deg, x.altitude_m) == pytest.approx(
            (y.lat_deg, y.lon_deg, y.altitude_m))
        assert (x.track is None) == (y.track is None)
        if x.track is not None:
            np.testing.assert_array_equal(x.track.t_utc, y.track.t_utc)
            np.testing.assert_allclose(x.track.lat_deg, y.track.lat_deg)
            np.testing.assert_allclose(x.track.alt_m, y.track.alt_m)


@pytest.mark.parametrize("suffix", [".csv", ".geojson", ".parquet"])
def test_files_round_trip(tmp_path, suffix):
    fleet = _fleet()
    path = write_terminals(fleet, tmp_path / f"fleet{suffix}")
    _same_terminals(fleet, load_terminals(path))


def test_csv_track_rows_in_any_order_with_attributes_once(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,lat,lon,t_utc,owner,registered\n"
                 "B1,46.41,30.72,2026-02-10T00:01:00Z,,\n"
                 "B1,46.40,30.70,2026-02-10T00:00:00Z,Navy,yes\n"
                 "H1,50.45,30.52,,ACME,no\n")
    boat, home = load_terminals(p)
    assert boat.name == "B1" and boat.owner == "Navy" and boat.registered
    assert boat.track.t_utc.tolist() == (T0 + np.arange(2) * MIN).tolist()
    assert home.track is None and home.registered is False


@pytest.mark.parametrize("body, pattern", [
    ("id,lat,lon,colour\nA,1,2,red\n", r"t\.csv:1: unknown column 'colour'; known columns"),
    ("id,lat,lon,owner,t_utc\nA,1,2,X,2026-01-01T00:00:00Z\nA,1,2.001,Y,2026-01-01T00:01:00Z\n",
     r"t\.csv:3: owner 'Y' differs from 'X' given at .*t\.csv:2"),
    ("id,lat,lon,t_utc\nA,1,2,2026-01-01T00:00:00Z\nA,1,2.001,2026-01-01T00:00:00Z\n",
     r"t\.csv:3: terminal 'A' has two track points at 2026-01-01T00:00:00Z \(also at .*:2\)"),
    ("id,lat,lon,t_utc\nA,1,2,2026-01-01T00:00:00Z\nA,1,2.001,\n",
     r"t\.csv:3: terminal 'A' has track rows with times; this row has none"),
    ("id,lat,lon,t_utc,speed_kmh\nA,1,2,2026-01-01T00:00:00Z,5\n",
     r"t\.csv:2: speed_kmh on a track row"),
    ("id,lat,lon,t_utc\nA,1,2,yesterday\n", r"t\.csv:2: t_utc: cannot read time 'yesterday'"),
    ("id,lat,lon,t_utc\nA,1,2,2026-01-01T00:00:00Z\nA,1,9,2026-01-01T00:01:00Z\n",
     r"t\.csv:3: track leg .* above 5000 km/h"),
    ("id,lat,lon,t_utc\nA,1,2,2026-01-01T00:00:00Z\nA,91,2,2026-01-01T00:01:00Z\n",
     r"t\.csv:3: latitude 91 is outside"),
    ("id,lat,lon,registered\nA,1,2,maybe\n", r"t\.csv:2: registered must be true or false"),
    ("lat,lon\n1,2\n", r"t\.csv:1: missing column\(s\) id or name"),
    ("id,lat,lon\nA,1,2\nB,1\n", r"t\.csv:3: expected 3 fields, got 2"),
    ("id,lat,lon\n\x00\n", r"binary file"),
])
def test_csv_errors_name_file_and_line(tmp_path, body, pattern):
    p = tmp_path / "t.csv"
    p.write_text(body)
    with pytest.raises(SiteError, match=pattern):
        load_terminals(p)


def test_geojson_and_parquet_errors(tmp_path):
    g = tmp_path / "t.geojson"
    g.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "A", "times": ["2026-01-01T00:00:00Z"]},
         "geometry": {"type": "LineString", "coordinates": [[30, 50], [30.1, 50]]}}]}))
    with pytest.raises(SiteError, match=r"features\[0\]\.properties: a LineString track "
                                        r"needs properties\.times with one time per "
                                        r"coordinate \(2\)"):
        load_terminals(g)
    g.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "A"},
         "geometry": {"type": "Point", "coordinates": [200, 50]}}]}))
    with pytest.raises(SiteError, match=r"features\[0\]: longitude 200 is outside"):
        load_terminals(g)
    q = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": ["A", "B", "C"], "lat_deg": [1.0, 2.0, 95.0],
                             "lon_deg": [1.0, 2.0, 3.0]}), q)
    with pytest.raises(SiteError, match=r"t\.parquet: row 3: latitude 95 is outside"):
        load_terminals(q)
    q.write_bytes(b"PAR1 not really")
    with pytest.raises(SiteError, match="not a readable Parquet file"):
        load_terminals(q)
    with pytest.raises(SiteError, match=r"unknown terminal file type '\.kml'"):
        load_terminals(tmp_path / "x.kml")
