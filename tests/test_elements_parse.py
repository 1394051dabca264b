"""Element-set input: the real CelesTrak files, format equivalence, and every bad-input message.

References: python-sgp4's own ``Satrec.twoline2rv`` on the raw lines, the counts and epoch
ranges stated in ../shared/data/PROVENANCE.md, ``sgp4.io.fix_checksum`` (an independent
checksum) and ``sgp4.exporter`` (OMM written from TLEs by another implementation).
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from sgp4.api import WGS72, Satrec
from sgp4.exporter import export_omm
from sgp4.io import fix_checksum

from conftest import TLE_2023, TLE_2026
from skyfence.errors import ElementError
from skyfence.orbits.constellation import Constellation
from skyfence.orbits.elements import (
    TLE_LINE1_TEMPLATE,
    TLE_LINE2_TEMPLATE,
    detect_format,
    load_elements,
    parse_omm_csv,
    parse_omm_json,
    parse_tle_text,
    write_tle,
)
from skyfence.orbits.propagate import propagate

# OMM epochs carry microseconds and SGP4 stores the epoch as float days since 1949 (~0.1 us):
# about 1 us of along-track timing at 7.6 km/s is 7.6 mm; 2 cm bounds it with margin.
TWO_CM_KM = 2e-5
ONE_MM_KM = 1e-6

# Vanguard 1 as CelesTrak serves it (TLE in python-sgp4's tests), and the same element set
# written by hand as an OMM record: epoch day 287.20333880 of 2020 = 13 Oct 04:52:48.47232.
VANGUARD_L1 = "1 00005U 58002B   20287.20333880 -.00000016  00000-0 -22483-4 0  9998"
VANGUARD_L2 = "2 00005  34.2443 225.5254 1845686 162.2516 205.2356 10.84869164218149"
VANGUARD_OMM = {
    "OBJECT_NAME": "VANGUARD 1", "OBJECT_ID": "1958-002B", "EPOCH": "2020-10-13T04:52:48.472320",
    "MEAN_MOTION": 10.84869164, "ECCENTRICITY": 0.1845686, "INCLINATION": 34.2443,
    "RA_OF_ASC_NODE": 225.5254, "ARG_OF_PERICENTER": 162.2516, "MEAN_ANOMALY": 205.2356,
    "EPHEMERIS_TYPE": 0, "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": 5, "ELEMENT_SET_NO": 999,
    "REV_AT_EPOCH": 21814, "BSTAR": -2.2483e-05, "MEAN_MOTION_DOT": -1.6e-07,
    "MEAN_MOTION_DDOT": 0,
}


def _records(path) -> list[tuple[str, str, str]]:
    lines = path.read_text().splitlines()
    return [(lines[i].strip(), lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


@pytest.fixture(scope="module")
def recs_2023(shared_data) -> list[tuple[str, str, str]]:
    return _records(TLE_2023)


def _three_line(recs) -> str:
    return "".join(f"{n}\n{a}\n{b}\n" for n, a, b in recs)


def _positions(const: Constellation, minutes: float = 60.0) -> np.ndarray:
    """TEME positions (km) at a common time ``minutes`` after the first epoch."""
    t = const.epochs_utc.min() + np.array([0, int(minutes * 60e9)], "timedelta64[ns]")
    return propagate(const, t, frame="TEME").r_km


_SAT_ATTRS = ("satnum", "jdsatepoch", "jdsatepochF", "inclo", "nodeo", "ecco", "argpo", "mo",
              "no_kozai", "bstar", "ndot", "nddot")


# ------------------------------------------------------------------------------------------
# The real files


@pytest.mark.parametrize(
    ("path", "count", "first", "last"),
    [
        # Counts and epoch ranges as stated in ../shared/data/PROVENANCE.md.
        (TLE_2023, 4168, "2023-05-28T01:16", "2023-05-29T06:00"),
        (TLE_2026, 9543, "2026-01-31", "2026-02-23T06:03"),
    ],
)
def test_real_files_counts_and_epoch_range(shared_data, path, count, first, last) -> None:
    const = load_elements(path)
    assert len(const) == count
    assert const.report.n_records == count and const.report.n_loaded == count
    assert const.report.skipped == [] and const.report.duplicates == []
    assert const.name == path.stem
    assert str(const.epochs_utc.min()).startswith(first)
    assert str(const.epochs_utc.max()).startswith(last)
    assert len(set(const.norad_ids.tolist())) == count


@pytest.mark.parametrize("path", [TLE_2023, TLE_2026])
def test_real_files_match_sgp4_record_by_record(shared_data, path) -> None:
    recs = _records(path)
    const = load_elements(path)
    rng = np.random.default_rng(7)
    for k in [0, len(recs) - 1, *rng.choice(len(recs), 40, replace=False).tolist()]:
        name, l1, l2 = recs[k]
        ref = Satrec.twoline2rv(l1, l2, WGS72)
        sat = const.satrecs[k]
        assert const.names[k] == name
        assert const.norad_ids[k] == ref.satnum == int(l1[2:7])
        for attr in _SAT_ATTRS:
            assert getattr(sat, attr) == getattr(ref, attr), (k, attr)


def test_three_line_two_line_and_spacetrack_3le_are_equivalent(recs_2023) -> None:
    recs = recs_2023[:60]
    three = parse_tle_text(_three_line(recs), source="a.tle")
    two = parse_tle_text("".join(f"{a}\n{b}\n" for _, a, b in recs), source="b.tle")
    st = parse_tle_text("".join(f"0 {n}\r\n{a}\r\n{b}\r\n\n" for n, a, b in recs))
    for c in (two, st):
        assert np.array_equal(c.norad_ids, three.norad_ids)
        for s1, s2 in zip(three.satrecs, c.satrecs, strict=True):
            assert all(getattr(s1, a) == getattr(s2, a) for a in _SAT_ATTRS)
    assert two.names == tuple(str(int(i)) for i in three.norad_ids)
    assert st.names == three.names == tuple(n for n, _, _ in recs)
    # Mixed 2-line and 3-line records in one file.
    mixed = _three_line(recs[:2]) + f"{recs[2][1]}\n{recs[2][2]}\n" + _three_line(recs[3:5])
    assert len(parse_tle_text(mixed)) == 5


def test_omm_json_and_csv_written_by_sgp4_match_the_tles(recs_2023) -> None:
    recs = recs_2023[:40]
    tle = parse_tle_text(_three_line(recs))
    omm = [export_omm(s, n) for s, n in zip(tle.satrecs, tle.names, strict=True)]
    from_json = parse_omm_json(json.dumps(omm, indent=2), source="gp.json")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(omm[0]))
    writer.writeheader()
    writer.writerows(omm)
    from_csv = parse_omm_csv(buf.getvalue(), source="gp.csv")
    r_tle = _positions(tle)
    for c in (from_json, from_csv):
        assert np.array_equal(c.norad_ids, tle.norad_ids)
        assert c.names == tle.names
        np.testing.assert_allclose(c.inclination_deg, tle.inclination_deg, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c.mean_altitude_km, tle.mean_altitude_km, rtol=0, atol=1e-9)
        assert np.abs(_positions(c) - r_tle).max() < TWO_CM_KM


def test_hand_written_omm_json_matches_the_tle() -> None:
    tle = parse_tle_text(f"VANGUARD 1\n{VANGUARD_L1}\n{VANGUARD_L2}\n")
    for text in (json.dumps([VANGUARD_OMM]), json.dumps(VANGUARD_OMM),
                 json.dumps([{k: str(v) for k, v in VANGUARD_OMM.items()}])):
        omm = parse_omm_json(text)
        assert omm.names == ("VANGUARD 1",) and omm.norad_ids.tolist() == [5]
        assert abs(omm.satrecs[0].jdsatepochF - tle.satrecs[0].jdsatepochF) < 1e-10
        for minutes in (0.0, 90.0, 1440.0):
            assert np.abs(_positions(omm, minutes) - _positions(tle, minutes)).max() < TWO_CM_KM


def test_format_detection_by_content(tmp_path, recs_2023) -> None:
    tle = _three_line(recs_2023[:3])
    omm = [export_omm(s, "X") for s in parse_tle_text(tle).satrecs]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(omm[0]))
    writer.writeheader()
    writer.writerows(omm)
    cases = {"tle": tle, "omm-json": json.dumps(omm), "omm-csv": buf.getvalue()}
    for fmt, text in cases.items():
        assert detect_format(text) == fmt
        # The file suffix plays no part: all three are read from a ".txt" file.
        path = tmp_path / f"{fmt}.txt"
        path.write_text(text)
        assert len(load_elements(path)) == 3
    assert detect_format(f"{recs_2023[0][1]}\n{recs_2023[0][2]}\n") == "tle"


# ------------------------------------------------------------------------------------------
# Duplicates and skip-invalid


def _with_epoch(rec: tuple[str, str, str], day: str) -> tuple[str, str, str]:
    name, l1, l2 = rec
    return name, fix_checksum(l1[:20] + day + l1[32:]), l2


def test_duplicates_keep_the_newest_epoch(recs_2023) -> None:
    a, b = recs_2023[0], recs_2023[1]
    norad = int(a[1][2:7])
    old, new = _with_epoch(a, "149.00000000"), _with_epoch(a, "149.50000000")
    for order in ([old, b, new], [new, b, old]):
        const = parse_tle_text(_three_line(order), source="dup.tle")
        assert sorted(const.norad_ids.tolist()) == sorted([norad, int(b[1][2:7])])
        k = const.norad_ids.tolist().index(norad)
        assert const.satrecs[k].jdsatepochF == 0.5
        assert const.report.n_records == 3 and const.report.n_loaded == 2
        assert const.report.duplicates == [
            (norad, "2023-05-29T12:00:00.000000Z", "2023-05-29T00:00:00.000000Z")]
        assert "1 duplicate catalogue numbers" in const.report.summary()
    # Equal epochs: the first record stays.
    twin = (a[0] + " TWIN", a[1], a[2])
    const = parse_tle_text(_three_line([a, twin]))
    assert const.names == (a[0],) and len(const.report.duplicates) == 1


def test_skip_invalid_loads_the_rest_and_says_why(recs_2023) -> None:
    good = recs_2023[:5]
    bad_ck = (good[1][0], good[1][1][:68] + str((int(good[1][1][68]) + 1) % 10), good[1][2])
    short = (good[3][0], good[3][1], good[3][2][:60])
    text = _three_line([good[0], bad_ck, good[2], short, good[4]])
    with pytest.raises(ElementError, match="checksum"):
        parse_tle_text(text, source="mix.tle")
    const = parse_tle_text(text, source="mix.tle", skip_invalid=True)
    assert len(const) == 3
    assert const.names == (good[0][0], good[2][0], good[4][0])
    assert const.report.n_records == 5 and const.report.n_loaded == 3
    (w1, r1), (w2, r2) = const.report.skipped
    assert w1 == "mix.tle:5" and "checksum error on TLE line 1" in r1
    assert w2 == "mix.tle:12" and "has 60 characters" in r2
    assert "3 satellites loaded from 5 records; 2 skipped" in const.report.summary()


def test_skip_invalid_resynchronises_after_a_broken_record(recs_2023) -> None:
    g = recs_2023[:4]
    text = (_three_line(g[:1]) + f"{g[1][0]}\n{g[1][1]}\n"  # line 2 missing
            + _three_line(g[2:4]))
    const = parse_tle_text(text, source="cut.tle", skip_invalid=True)
    assert const.names == (g[0][0], g[2][0], g[3][0])
    ((where, reason),) = const.report.skipped
    assert where == "cut.tle:6" and "wrong line number" in reason
    # A mis-numbered line 2 is one bad record, not two.
    renumbered = (g[1][0], g[1][1], "3" + g[1][2][1:])
    const = parse_tle_text(_three_line([g[0], renumbered, *g[2:4]]), source="num.tle",
                           skip_invalid=True)
    assert const.names == (g[0][0], g[2][0], g[3][0])
    assert const.report.skipped == [("num.tle:6", const.report.skipped[0][1])]
    assert const.report.n_records == 4


# ------------------------------------------------------------------------------------------
# Bad input: every path, with its message


@pytest.fixture()
def rec(recs_2023) -> tuple[str, str, str]:
    return recs_2023[0]


def _fail(text: str, source: str = "bad.tle") -> ElementError:
    with pytest.raises(ElementError) as info:
        parse_tle_text(text, source=source)
    return info.value


def test_bad_checksum(rec) -> None:
    name, l1, l2 = rec
    wrong = str((int(l2[68]) + 3) % 10)
    err = _fail(f"{name}\n{l1}\n{l2[:68]}{wrong}\n")
    assert err.where == "bad.tle:3"
    assert f"checksum error on TLE line 2: column 69 holds {wrong}" in err.message
    assert f"sum to {l2[68]} modulo 10" in err.message
    assert str(err).startswith("bad.tle:3: checksum error")


def test_short_line_shows_the_column_template(rec) -> None:
    name, l1, l2 = rec
    err = _fail(f"{name}\n{l1[:-2]}\n{l2}\n")
    assert err.where == "bad.tle:2"
    assert "TLE line 1 does not match the column layout: it has 67 characters" in err.message
    assert TLE_LINE1_TEMPLATE in err.message and l1[:-2] in err.message


def test_column_layout_error_points_at_the_column(rec) -> None:
    _, l1, l2 = rec
    broken = l2[:11] + "x" + l2[12:]  # the decimal point of the inclination
    err = _fail(f"{l1}\n{broken}\n")
    assert err.where == "bad.tle:2"
    assert "column 12 should hold '.', found 'x'" in err.message
    lines = err.message.splitlines()
    assert lines[-3] == TLE_LINE2_TEMPLATE and lines[-2] == broken
    assert lines[-1] == " " * 11 + "^"


def test_long_line(rec) -> None:
    _, l1, l2 = rec
    err = _fail(f"{l1}\n{l2} 0.0 1440.0 360.0\n")
    assert "it has 86 characters; a TLE line has exactly 69" in err.message


def test_non_ascii(rec) -> None:
    _, l1, l2 = rec
    err = _fail(f"{l1}\n{l2[:10]}\u00a0{l2[11:]}\n")
    assert "non-ASCII" in err.message and "\\xa0" in err.message


def test_wrong_line_numbers(rec) -> None:
    name, l1, l2 = rec
    err = _fail(f"{name}\n{l1}\n3{l2[1:]}\n")
    assert err.where == "bad.tle:3"
    assert "wrong line number '3' in column 1: expected '2'" in err.message
    err = _fail(f"3{l1[1:]}\n{l2}\n")
    assert err.where == "bad.tle:1" and "wrong line number '3'" in err.message
    err = _fail(f"{l2}\n{l1}\n")
    assert err.where == "bad.tle:1" and "line 2 of an element set without its line 1" in err.message
    err = _fail(f"{name}\n{name}\n{l1}\n{l2}\n")
    assert err.where == "bad.tle:2" and f"named {name!r}" in err.message


def test_missing_line_two_at_end_of_file(rec) -> None:
    name, l1, _ = rec
    err = _fail(f"{name}\n{l1}\n")
    assert err.where == "bad.tle:2" and "line 2 is missing" in err.message
    err = _fail(f"{name}\n")
    assert err.where == "bad.tle:1" and "the file ends here" in err.message


def test_mismatched_catalogue_numbers(rec) -> None:
    name, l1, l2 = rec
    other = fix_checksum(l2[:2] + "99999" + l2[7:])
    err = _fail(f"{name}\n{l1}\n{other}\n")
    assert err.where == "bad.tle:3"
    assert f"catalogue numbers differ: line 1 (line 2) has {l1[2:7]!r}, line 2 has '99999'" in (
        err.message)


@pytest.mark.parametrize(("day", "message"), [
    ("366.50000000", "day of year 366.5 is not within 1 <= day < 366 for 2023"),
    ("000.50000000", "day of year 0.5 is not within 1 <= day < 366 for 2023"),
])
def test_bad_epoch(rec, day, message) -> None:
    name, l1, l2 = _with_epoch(rec, day)
    err = _fail(f"{name}\n{l1}\n{l2}\n")
    assert err.where == "bad.tle:2" and "bad epoch" in err.message and message in err.message


def test_leap_year_day_366_is_valid(rec) -> None:
    name, l1, l2 = rec
    l1 = fix_checksum(l1[:18] + "24366.50000000" + l1[32:])
    const = parse_tle_text(f"{name}\n{l1}\n{l2}\n")
    assert str(const.epochs_utc[0]).startswith("2024-12-31T12:00")


@pytest.mark.parametrize(("start", "stop", "value", "message"), [
    (8, 16, "200.0000", "inclination 200.0 deg (columns 9-16) is outside 0 to 180 deg"),
    (17, 25, "361.0000", "right ascension of the ascending node 361.0 deg (columns 18-25) is "
                         "outside 0 to 360 deg"),
    (52, 63, "00.00000000", "mean motion 0.0 rev/day (columns 53-63) must be greater than 0"),
])
def test_out_of_range_tle_fields(rec, start, stop, value, message) -> None:
    name, l1, l2 = rec
    l2 = fix_checksum(l2[:start] + value + l2[stop:])
    err = _fail(f"{name}\n{l1}\n{l2}\n")
    assert err.where == "bad.tle:3" and message in err.message


@pytest.mark.parametrize(("field", "value", "message"), [
    ("ECCENTRICITY", 1.2, "eccentricity 1.2 (ECCENTRICITY) is outside the range 0 <= e < 1"),
    ("ECCENTRICITY", -0.001, "eccentricity -0.001 (ECCENTRICITY) is outside the range"),
    ("INCLINATION", -1, "inclination -1.0 deg (INCLINATION) is outside 0 to 180 deg"),
    ("MEAN_MOTION", 0, "mean motion 0.0 rev/day (MEAN_MOTION) must be greater than 0"),
    ("MEAN_ANOMALY", 400, "mean anomaly 400.0 deg (MEAN_ANOMALY) is outside 0 to 360 deg"),
    ("EPOCH", "2020-13-01T00:00:00", "field EPOCH: cannot read time '2020-13-01T00:00:00'"),
    ("EPOCH", "1900-01-01T00:00:00", "outside 1957-2056"),
    ("MEAN_MOTION", "fast", "field MEAN_MOTION: cannot read 'fast' as a number"),
    ("BSTAR", None, "missing field BSTAR"),
    ("NORAD_CAT_ID", 5.5, "field NORAD_CAT_ID: 5.5 is not a whole number"),
    ("NORAD_CAT_ID", 400000, "outside 1 to 339999"),
    ("CLASSIFICATION_TYPE", "X", "CLASSIFICATION_TYPE: 'X' is not one of U, C, S"),
    ("MEAN_ELEMENT_THEORY", "SGP4-XP", "MEAN_ELEMENT_THEORY is 'SGP4-XP'"),
])
def test_bad_omm_fields(field, value, message) -> None:
    good = dict(VANGUARD_OMM, OBJECT_NAME="FIRST")
    bad = dict(VANGUARD_OMM)
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    text = json.dumps([good, bad], indent=1)
    with pytest.raises(ElementError) as info:
        parse_omm_json(text, source="gp.json")
    # The second record's object opens on the second ' {' line of the indented JSON.
    assert info.value.where == f"gp.json:{text.splitlines().index(' {', 2) + 1}"
    assert message in info.value.message
    const = parse_omm_json(text, source="gp.json", skip_invalid=True)
    assert const.names == ("FIRST",) and len(const.report.skipped) == 1


def test_bad_json_syntax_names_the_line() -> None:
    text = '[\n{"NORAD_CAT_ID": 5,\n "EPOCH": }\n]'
    with pytest.raises(ElementError, match="invalid JSON") as info:
        parse_omm_json(text, source="gp.json")
    assert info.value.where == "gp.json:3"
    with pytest.raises(ElementError, match="expected ',' or ']'"):
        parse_omm_json(json.dumps([VANGUARD_OMM])[:-1] + " x", source="gp.json")
    with pytest.raises(ElementError, match="must be a JSON object, got int"):
        parse_omm_json("[1, 2]")
    with pytest.raises(ElementError, match="the JSON list is empty"):
        parse_omm_json("[]")


def test_bad_omm_csv() -> None:
    header = ",".join(VANGUARD_OMM)
    row = ",".join(str(v) for v in VANGUARD_OMM.values())
    with pytest.raises(ElementError, match=r"the CSV header lacks the column\(s\) BSTAR") as info:
        parse_omm_csv(header.replace("BSTAR", "B_STAR") + "\n" + row + "\n", source="gp.csv")
    assert info.value.where == "gp.csv:1"
    bad_row = row.replace("34.2443", "abc")
    with pytest.raises(ElementError, match="field INCLINATION: cannot read 'abc'") as info:
        parse_omm_csv(f"{header}\n{row}\n{bad_row}\n", source="gp.csv")
    assert info.value.where == "gp.csv:3"
    with pytest.raises(ElementError, match=f"has 18 values for {len(VANGUARD_OMM)} columns"):
        parse_omm_csv(f"{header}\n{row},extra\n", source="gp.csv")
    with pytest.raises(ElementError, match="a header but no element sets"):
        parse_omm_csv(f"{header}\n\n", source="gp.csv")
    assert len(parse_omm_csv(f"{header}\n{row}\n{bad_row}\n", skip_invalid=True)) == 1


@pytest.mark.parametrize("content", ["", "\n\n   \n", "\ufeff"])
def test_empty_file(tmp_path, content) -> None:
    path = tmp_path / "empty.tle"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ElementError, match="the file is empty: no element sets") as info:
        load_elements(path)
    assert info.value.where == str(path)


@pytest.mark.parametrize(("content", "message"), [
    ("hello world\nthis is not an element set\n", "unknown element format: the first line "
                                                  "'hello world' is neither a TLE line"),
    ("<?xml version='1.0'?><ndm></ndm>", "(XML or HTML)"),
    ("<html><body>503</body></html>", "For CelesTrak use FORMAT=tle"),
])
def test_unknown_format(tmp_path, content, message) -> None:
    path = tmp_path / "x.dat"
    path.write_text(content)
    with pytest.raises(ElementError) as info:
        load_elements(path)
    assert message in info.value.message
    assert info.value.where == f"{path}:1"


def test_missing_directory_and_binary_files(tmp_path) -> None:
    with pytest.raises(ElementError, match="no such element file"):
        load_elements(tmp_path / "nope.tle")
    with pytest.raises(ElementError, match="not a file"):
        load_elements(tmp_path)
    binary = tmp_path / "b.tle"
    binary.write_bytes(b"STARLINK\n\x89PNG\xff\xfe")
    with pytest.raises(ElementError, match="not a text file: byte 0x89") as info:
        load_elements(binary)
    assert info.value.where == f"{binary}:2"


# ------------------------------------------------------------------------------------------
# Export


def test_write_tle_round_trip_of_real_elements(tmp_path, recs_2023) -> None:
    const = parse_tle_text(_three_line(recs_2023[:200]))
    path = write_tle(const, tmp_path / "out" / "copy.tle")
    back = load_elements(path)
    assert back.names == const.names and np.array_equal(back.norad_ids, const.norad_ids)
    for s1, s2 in zip(const.satrecs, back.satrecs, strict=True):
        assert all(getattr(s1, a) == getattr(s2, a) for a in _SAT_ATTRS)
    assert re.fullmatch(r"STARLINK-\d+", path.read_text().splitlines()[0])


def test_write_tle_of_a_walker_shell(tmp_path) -> None:
    from skyfence.orbits.shells import preset

    walker = preset("starlink-gen1-4", "2026-01-01T00:00:00Z")
    back = load_elements(write_tle(walker, tmp_path / "gen1-4.tle"))
    assert len(back) == 348 and back.names == walker.names
    # A TLE prints angles to 1e-4 deg: three angles rounded by <= 0.5e-4 deg move a satellite
    # at 6,938 km radius by at most 3 * 0.5e-4 * pi / 180 * 6938 km = 18 m.
    assert np.abs(_positions(back, 0) - _positions(walker, 0)).max() < 0.018
    assert np.abs(_positions(back, 90) - _positions(walker, 90)).max() < 0.018


def test_write_tle_refuses_angles_a_tle_cannot_hold(tmp_path) -> None:
    sat = Satrec()
    sat.sgp4init(WGS72, "i", 7, 26000.0, 0.0, 0.0, 0.0, 0.001, 0.0, 0.9, 0.0, 0.06, -0.5)
    const = Constellation((sat,), np.array([7]), ("ODD",), name="odd")
    message = r"'ODD' \(catalogue number 7\) cannot be written"
    with pytest.raises(ElementError, match=message) as info:
        write_tle(const, tmp_path / "odd.tle")
    assert info.value.where == "odd[0]"
    assert not (tmp_path / "odd.tle").exists()
