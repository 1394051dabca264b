"""Hostile element files: every bad input is an `ElementError` naming the file and line.

Covers the cases in ../shared/data/bad-inputs (README there) and the mechanisms behind them:
spaces inside TLE numbers, element sets SGP4 itself flags at load (``Satrec.error``, texts
from ``sgp4.api.SGP4_ERRORS``), OMM values a TLE cannot carry, hostile JSON and CSV, binary
files, size caps and names with control characters.
"""

from __future__ import annotations

import json
import os

import pytest
from sgp4.api import SGP4_ERRORS, Satrec
from sgp4.io import fix_checksum
from typer.testing import CliRunner

from conftest import SHARED_DATA
from skyfence import limits
from skyfence.cli import app
from skyfence.errors import ElementError
from skyfence.orbits.elements import (
    load_elements,
    parse_elements_text,
    parse_omm_csv,
    parse_omm_json,
    parse_tle_text,
    write_tle,
)

BAD = SHARED_DATA / "bad-inputs"
runner = CliRunner()

# STARLINK-1008 as in ../shared/data/bad-inputs (the good record the bad ones were made from)
L1 = "1 44714U 19074B   26053.95338319  .00001514  00000+0  61711-4 0  9998"
L2 = "2 44714  53.1565 247.2957 0001251  94.4223 265.6921 15.31035506346616"
OMM = {
    "OBJECT_NAME": "STARLINK-1008", "OBJECT_ID": "2019-074B", "EPOCH": "2026-02-22T22:52:52.308",
    "MEAN_MOTION": 15.31035506, "ECCENTRICITY": 0.0001251, "INCLINATION": 53.1565,
    "RA_OF_ASC_NODE": 247.2957, "ARG_OF_PERICENTER": 94.4223, "MEAN_ANOMALY": 265.6921,
    "EPHEMERIS_TYPE": 0, "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": 44714,
    "ELEMENT_SET_NO": 999, "REV_AT_EPOCH": 34661, "BSTAR": 6.1711e-05,
    "MEAN_MOTION_DOT": 1.514e-05, "MEAN_MOTION_DDOT": 0,
}


def _line2(**cols: str) -> str:
    """Line 2 with fields replaced by column slices, checksum fixed."""
    spans = {"incl": (8, 16), "ecc": (26, 33), "mm": (52, 63)}
    line = L2
    for key, value in cols.items():
        a, b = spans[key]
        assert len(value) == b - a
        line = line[:a] + value + line[b:]
    return fix_checksum(line)


def _tle(name: str, l1: str, l2: str) -> str:
    return f"{name}\n{l1}\n{l2}\n"


def test_the_good_record_loads():
    assert len(parse_tle_text(_tle("STARLINK-1008", L1, L2))) == 1
    assert len(parse_omm_json(json.dumps([OMM]))) == 1


# ------------------------------------------------------------------------------------------
# the shared bad-input files


@pytest.mark.parametrize(("name", "line", "message"), [
    ("omm_bigint.json", 1, "field ELEMENT_SET_NO: 9223372036854775808 is outside 0 to 9999"),
    ("omm_ephtype_1e308.json", 1, "field EPHEMERIS_TYPE: 1e+308 is outside 0 to 9"),
    ("omm_cr.csv", 2, "carriage return) inside an unquoted CSV field"),
    ("tle_space_in_field.tle", 3, "the mean motion (columns 53-63) holds '1 .31035506', with a "
                                  "space inside the number at column 54"),
    ("tle_space_in_incl.tle", 3, "TLE line 2 does not match the column layout"),
    ("tle_mm99.tle", 3, f"SGP4 rejects this element set at its epoch: error 6, {SGP4_ERRORS[6]}"),
    # propagate outputs of unusable elements, not element files: refused as such
    ("ecc1.csv", 1, "unknown element format"),
    ("mm99.csv", 1, "unknown element format"),
])
def test_shared_bad_inputs_are_element_errors_with_file_and_line(shared_data, name, line,
                                                                 message):
    path = BAD / name
    with pytest.raises(ElementError) as info:
        load_elements(path)
    assert info.value.where == f"{path}:{line}"
    assert message in info.value.message
    res = runner.invoke(app, ["constellation", "info", str(path)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    error_lines = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(error_lines) == 1 and f"{path}:{line}" in error_lines[0]


def test_skip_invalid_counts_sgp4_rejections(shared_data):
    text = _tle("GOOD", L1, L2) + (BAD / "tle_mm99.tle").read_text() + _tle("GOOD2", L1, L2)
    const = parse_tle_text(text, source="mix.tle", skip_invalid=True)
    # both GOOD records carry 44714: one is a duplicate; the mean-motion-99 one is skipped
    assert len(const) == 1 and const.report.n_records == 3
    assert [w for w, _ in const.report.skipped] == ["mix.tle:6"]
    assert "error 6" in const.report.skipped[0][1]


# ------------------------------------------------------------------------------------------
# SGP4's own verdict at load


@pytest.mark.parametrize(("mm", "ecc", "code"), [
    ("99.99999999", "0001251", 6),  # below the surface at once
    ("17.50000000", "0001251", 6),
])
def test_sgp4_error_at_epoch_rejected_with_sgp4_text(mm, ecc, code):
    l2 = _line2(mm=mm, ecc=ecc)
    assert Satrec.twoline2rv(L1, l2).error == code  # the independent verdict
    with pytest.raises(ElementError) as info:
        parse_tle_text(_tle("X", L1, l2), source="s.tle")
    assert info.value.where == "s.tle:3"
    assert info.value.message.startswith(
        f"SGP4 rejects this element set at its epoch: error {code}, {SGP4_ERRORS[code]}")


def test_vallado_perturbed_eccentricity_case_rejected_as_sgp4_error_3():
    # SGP4-VER.TLE's 33334 (checksums fixed): SGP4 sets error 3 at initialisation
    l1 = fix_checksum("1 33334U 78066F   06174.85818871  .00000620  00000-0  10000-3 0  6809")
    l2 = fix_checksum("2 33334  68.4714 236.1303 5602877 123.7484 302.5767  0.00001000 67521")
    assert Satrec.twoline2rv(l1, l2).error == 3
    with pytest.raises(ElementError, match=f"error 3, {SGP4_ERRORS[3]}"):
        parse_tle_text(f"{l1}\n{l2}\n")


def test_orbit_beyond_the_hill_sphere_rejected_although_sgp4_accepts_it():
    l2 = _line2(mm=" 0.00030000")
    assert Satrec.twoline2rv(L1, l2).error == 0  # SGP4 does not object ...
    with pytest.raises(ElementError, match="not an Earth orbit at its epoch: error 7"):
        parse_tle_text(f"{L1}\n{l2}\n")  # ... but a = 9.4 million km is no Earth orbit


def test_omm_mean_motion_99_rejected_like_the_tle():
    rec = dict(OMM, MEAN_MOTION=99.99999999)
    with pytest.raises(ElementError, match="error 6") as info:
        parse_omm_json(json.dumps([OMM, rec], indent=1), source="gp.json")
    assert info.value.where.startswith("gp.json:")
    const = parse_omm_json(json.dumps([OMM, dict(rec, NORAD_CAT_ID=44715)]), skip_invalid=True)
    assert len(const) == 1 and len(const.report.skipped) == 1


# ------------------------------------------------------------------------------------------
# spaces inside TLE numbers


@pytest.mark.parametrize(("line_no", "first", "stop", "label"), [
    (1, 2, 7, "catalogue number"),
    (1, 20, 32, "epoch day of year"),
    (1, 64, 68, "element set number"),
    (2, 8, 16, "inclination"),
    (2, 17, 25, "right ascension of the ascending node"),
    (2, 26, 33, "eccentricity"),
    (2, 34, 42, "argument of perigee"),
    (2, 43, 51, "mean anomaly"),
    (2, 52, 63, "mean motion"),
    (2, 63, 68, "revolution number at epoch"),
])
def test_space_inside_any_tle_number_is_refused(line_no, first, stop, label):
    lines = [L1, L2]
    line = lines[line_no - 1]
    # blank the second non-blank character of the field: a gap inside the number
    field = line[first:stop]
    k = first + len(field) - len(field.lstrip()) + 1
    col = k + 1
    lines[line_no - 1] = fix_checksum(line[:k] + " " + line[k + 1:])
    if label == "catalogue number":  # keep both lines on the same satellite
        other = lines[2 - line_no]
        lines[2 - line_no] = fix_checksum(other[:2] + lines[line_no - 1][2:7] + other[7:])
    with pytest.raises(ElementError) as info:
        parse_tle_text("\n".join(lines) + "\n", source="f.tle")
    msg = info.value.message
    if "column layout" in msg:  # the layout allows no space here at all: also a clean refusal
        assert f"column {col} should hold" in msg, msg
    else:
        assert f"the {label} " in msg and f"space inside the number at column {col}" in msg, msg
    assert info.value.where == f"f.tle:{line_no}"


# ------------------------------------------------------------------------------------------
# OMM values


@pytest.mark.parametrize(("field", "value", "message"), [
    ("ELEMENT_SET_NO", 2**64, "outside 0 to 9999"),
    ("REV_AT_EPOCH", -1, "outside 0 to 99999"),
    ("EPHEMERIS_TYPE", 1e308, "outside 0 to 9"),
    ("EPHEMERIS_TYPE", "1e308", "outside 0 to 9"),
    ("NORAD_CAT_ID", 10**30, "outside 1 to 339999"),
    ("NORAD_CAT_ID", 10**400, "cannot read"),  # float() overflows
    ("MEAN_MOTION", True, "expected a number or a text, got bool"),
    ("MEAN_MOTION", {"a": 1}, "got dict"),
    ("MEAN_MOTION", [15.3], "got list"),
    ("MEAN_MOTION", "15_3", "cannot read '15_3' as a number"),
    ("MEAN_MOTION", "NaN", "cannot read 'NaN' as a number"),
    ("MEAN_MOTION", "inf", "cannot read 'inf' as a number"),
    ("MEAN_MOTION", "1e999", "is not a finite number"),
    ("MEAN_MOTION", "\u0661\u0665", "cannot read"),  # Arabic-Indic digits
    ("INCLINATION", "x" * 100_000, "cannot read 'xxxxxxxx"),
    ("EPOCH", "y" * 100_000, "field EPOCH: cannot read"),
    ("OBJECT_NAME", "STAR\x00LINK", "control character U+0000"),
    ("OBJECT_NAME", "STAR\u202eLINK", "control character U+202E"),
])
def test_hostile_omm_values(field, value, message):
    rec = dict(OMM, **{field: value})
    text = "[" + json.dumps(OMM) + ",\n" + json.dumps(rec) + "]"
    with pytest.raises(ElementError) as info:
        parse_omm_json(text, source="gp.json")
    assert info.value.where.startswith("gp.json:2")
    assert message in info.value.message
    assert len(info.value.message) < 400  # huge values are shortened in the message


def test_omm_values_as_csv_text_too():
    header = ",".join(OMM)
    row = ",".join(str(v) for v in OMM.values())
    bad = row.replace(",999,", ",99999999999999999999999,")
    with pytest.raises(ElementError, match="ELEMENT_SET_NO: '99999999999999999999999' is "
                                           "outside 0 to 9999") as info:
        parse_omm_csv(f"{header}\n{row}\n{bad}\n", source="gp.csv")
    assert info.value.where == "gp.csv:3"


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 100_000, "nested deeper than 64 levels"),
    ('[{"NORAD_CAT_ID": ' + "9" * 5000 + "}]", "more than 4300 digits"),
    ('[{"OBJECT_NAME": "' + "x" * (5 * 2**20) + '"}]', r"the cap of 4\.0 MiB"),
    ("[1e999999]", "must be a JSON object"),
])
def test_hostile_json_structure(text, message):
    with pytest.raises(ElementError, match=message):
        parse_elements_text(text, source="gp.json")


def test_hostile_csv():
    header = ",".join(OMM)
    row = ",".join(str(v) for v in OMM.values())
    with pytest.raises(ElementError, match="NORAD_CAT_ID more than once") as info:
        parse_omm_csv(f"{header},NORAD_CAT_ID\n{row},5\n", source="gp.csv")
    assert info.value.where == "gp.csv:1"
    huge = row.replace("STARLINK-1008", "X" * 200_000)
    with pytest.raises(ElementError, match="a CSV field longer than") as info:
        parse_omm_csv(f"{header}\n{row}\n{huge}\n", source="gp.csv")
    assert info.value.where == "gp.csv:3"
    cr = row.replace("2026-02-22T", "2026-02-22\rT")
    with pytest.raises(ElementError, match="carriage return") as info:
        parse_omm_csv(f"{header}\n{row}\n{cr}\n", source="gp.csv")
    assert info.value.where == "gp.csv:3"
    # with --skip-invalid the broken row is counted and the rest loads
    other = row.replace("44714", "44715")
    const = parse_omm_csv(f"{header}\n{row}\n{cr}\n{other}\n", source="gp.csv",
                          skip_invalid=True)
    assert len(const) == 2 and [w for w, _ in const.report.skipped] == ["gp.csv:3"]
    # a CRLF file is fine
    assert len(parse_omm_csv(f"{header}\r\n{row}\r\n", source="gp.csv")) == 1


# ------------------------------------------------------------------------------------------
# files: binary, caps, FIFOs, names


def test_binary_and_nul_content(tmp_path):
    path = tmp_path / "bin.tle"
    path.write_bytes(_tle("OK", L1, L2).encode() + b"\x00\x01\x02\x03")
    with pytest.raises(ElementError, match="binary content") as info:
        load_elements(path)
    assert info.value.where == f"{path}:4"
    png = tmp_path / "img.tle"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    with pytest.raises(ElementError):
        load_elements(png)


def test_size_cap_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.tle"
    path.write_text(_tle("A", L1, L2) * 50)
    monkeypatch.setitem(limits.MAX_FILE_BYTES, "elements", 1000)
    with pytest.raises(ElementError, match="exceeds the elements size cap of 1000 bytes"):
        load_elements(path)
    with pytest.raises(ElementError, match="exceeds the elements size cap"):
        parse_tle_text(path.read_text())


def test_fifo_is_refused_not_read(tmp_path):
    fifo = tmp_path / "sats.tle"
    os.mkfifo(fifo)
    with pytest.raises(ElementError, match="not a regular file"):
        load_elements(fifo)  # opening it would block forever


@pytest.mark.parametrize("name", ["STAR\x07LINK", "STAR\x85LINK", "STAR\u2028LINK",
                                  "X" * 300])
def test_name_lines_are_one_line_of_printable_text(name):
    text = _tle("GOOD", L1, L2).replace("44714", "44715").replace(
        L1.replace("44714", "44715"), fix_checksum(L1.replace("44714", "44715"))).replace(
        L2.replace("44714", "44715"), fix_checksum(L2.replace("44714", "44715")))
    text += _tle(name, L1, L2)
    with pytest.raises(ElementError, match="satellite name") as info:
        parse_tle_text(text, source="n.tle")
    # line numbers count \n only: U+0085 and U+2028 do not shift them
    assert info.value.where.startswith("n.tle:5")


def test_write_tle_refuses_directories_and_devices_and_keeps_the_old_file(tmp_path):
    const = parse_tle_text(_tle("A", L1, L2))
    with pytest.raises(ElementError, match="is a directory"):
        write_tle(const, tmp_path)
    fifo = tmp_path / "out.tle"
    os.mkfifo(fifo)
    with pytest.raises(ElementError, match="not a regular file"):
        write_tle(const, fifo)
    assert fifo.exists() and not fifo.is_file()  # the FIFO is still there, not replaced
    good = tmp_path / "good.tle"
    write_tle(const, good)
    assert len(load_elements(good)) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
