"""Hypothesis strategies for fuzzing skyfence's parsers, and the targets that run them.

Shared by ``tests/test_fuzz_parsers.py`` (a small, derandomised budget in CI) and
``bench/fuzz.py`` (a long run). Inputs are built from valid records and then damaged:
characters replaced at random columns (digits, signs, spaces, control characters, non-ASCII
digits), lines dropped, duplicated, truncated or swapped, checksums fixed or not, values
swapped for huge integers, non-finite floats, nested containers, text with quotes, commas and
carriage returns, and raw text edits of the serialised document. Each target returns normally
or raises a `SkyfenceError`; anything else is a crash.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from sgp4.io import fix_checksum

TLE_RECORDS = [
    ("STARLINK-1008",
     "1 44714U 19074B   26053.95338319  .00001514  00000+0  61711-4 0  9998",
     "2 44714  53.1565 247.2957 0001251  94.4223 265.6921 15.31035506346616"),
    ("VANGUARD 1",
     "1 00005U 58002B   20287.20333880 -.00000016  00000-0 -22483-4 0  9998",
     "2 00005  34.2443 225.5254 1845686 162.2516 205.2356 10.84869164218149"),
    ("MOLNIYA 1-83",  # Vallado's deep-space case 21897
     "1 21897U 92011A   06176.02341244 -.00001273  00000-0 -13525-3 0  3044",
     "2 21897  62.1749 198.0096 7421690 253.0462  20.1561  2.01269994104880"),
]
OMM_RECORD: dict[str, Any] = {
    "OBJECT_NAME": "STARLINK-1008", "OBJECT_ID": "2019-074B",
    "EPOCH": "2026-02-22T22:52:52.308", "MEAN_MOTION": 15.31035506,
    "ECCENTRICITY": 0.0001251, "INCLINATION": 53.1565, "RA_OF_ASC_NODE": 247.2957,
    "ARG_OF_PERICENTER": 94.4223, "MEAN_ANOMALY": 265.6921, "EPHEMERIS_TYPE": 0,
    "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": 44714, "ELEMENT_SET_NO": 999,
    "REV_AT_EPOCH": 34661, "BSTAR": 6.1711e-05, "MEAN_MOTION_DOT": 1.514e-05,
    "MEAN_MOTION_DDOT": 0,
}

# Characters that break parsers: format characters, signs, separators, controls, look-alikes.
_NASTY = "0123456789 .+-eE,;\"'[]{}#=\\\t\r\n\x00\x07\x0b\x0c\x1b\x85\u2028\u00a0\u0661\u2212é"
nasty_char = st.sampled_from(list(_NASTY)) | st.characters(min_codepoint=1)
nasty_text = st.text(alphabet=nasty_char, max_size=30)

huge_ints = st.sampled_from([2**63, 2**64 + 1, -(2**63) - 1, 10**30, 10**400, -1, 0])
weird_floats = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308,
                                5e-324, -0.0, 1e-300])
json_scalars = (st.none() | st.booleans() | st.integers() | huge_ints | st.floats()
                | weird_floats | nasty_text)
json_values = st.recursive(json_scalars,
                           lambda kids: st.lists(kids, max_size=3)
                           | st.dictionaries(nasty_text, kids, max_size=3),
                           max_leaves=8)


# ---------------------------------------------------------------------------------------------
# text edits


@st.composite
def edited(draw: st.DrawFn, text: str, max_edits: int = 4) -> str:
    """``text`` with a few characters replaced, inserted or deleted at random places."""
    chars = list(text)
    for _ in range(draw(st.integers(0, max_edits))):
        if not chars:
            chars.append(draw(nasty_char))
            continue
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "replace":
            chars[i] = draw(nasty_char)
        elif op == "insert":
            chars.insert(i, draw(nasty_char))
        else:
            del chars[i]
    return "".join(chars)


@st.composite
def tle_line(draw: st.DrawFn, line: str) -> str:
    out = draw(edited(line, max_edits=3))
    kind = draw(st.sampled_from(["keep", "fix", "fix", "cut", "pad"]))
    if kind == "fix" and len(out) == 69 and out.isascii():
        out = fix_checksum(out)  # get past the checksum to the field checks and SGP4
    elif kind == "cut":
        out = out[: draw(st.integers(0, len(out)))]
    elif kind == "pad":
        out = out + draw(st.sampled_from([" ", "  ", "\t", "x", "0"]))
    return out


@st.composite
def field_swap(draw: st.DrawFn, line: str) -> str:
    """Replace one field-sized slice by digits / spaces of the same width (checksum fixed)."""
    a = draw(st.integers(2, 60))
    b = min(69, a + draw(st.integers(1, 11)))
    body = draw(st.text(alphabet="0123456789 .-+", min_size=b - a, max_size=b - a))
    out = line[:a] + body + line[b:]
    return fix_checksum(out) if len(out) == 69 else out


@st.composite
def digit_edit(draw: st.DrawFn, line: str, gap: bool) -> str:
    """Replace 1-3 digits by other digits (or one by a space), checksum fixed: the layout
    still holds, so the field checks and SGP4's own initialisation are reached."""
    # not the catalogue number (columns 3-7): both lines must keep the same one
    positions = [i for i, ch in enumerate(line[:68]) if ch.isdigit() and i > 6]
    if not positions:
        return line
    chars = list(line)
    for _ in range(1 if gap else draw(st.integers(1, 3))):
        i = draw(st.sampled_from(positions))
        chars[i] = " " if gap else draw(st.sampled_from("0123456789"))
    return fix_checksum("".join(chars))


@st.composite
def tle_texts(draw: st.DrawFn, three_line: bool = False) -> str:
    """Two-line (or 3-line) element files built from damaged real records."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        name, l1, l2 = draw(st.sampled_from(TLE_RECORDS))
        mode = draw(st.sampled_from(["gap", "gap", "digits", "digits", "digits", "edit",
                                     "swap", "clean"]))
        if mode == "edit":
            l1, l2 = draw(tle_line(l1)), draw(tle_line(l2))
        elif mode in ("gap", "digits"):
            if draw(st.booleans()):
                l1 = draw(digit_edit(l1, mode == "gap"))
            else:
                l2 = draw(digit_edit(l2, mode == "gap"))
        elif mode == "swap":
            if draw(st.booleans()):
                l1 = draw(field_swap(l1))
            else:
                l2 = draw(field_swap(l2))
        rec = [l1, l2]
        if three_line:
            label = draw(st.sampled_from([name, "0 " + name]) | nasty_text)
            rec.insert(0, label)
        if draw(st.integers(0, 9)) == 0:  # structural damage: drop, duplicate, swap lines
            k = draw(st.integers(0, len(rec) - 1))
            op = draw(st.sampled_from(["drop", "dup", "swap"]))
            if op == "drop":
                del rec[k]
            elif op == "dup":
                rec.insert(k, rec[k])
            else:
                rec.reverse()
        lines.extend(rec)
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
    sep = draw(st.sampled_from(["\n", "\r\n", "\n", "\r"]))
    return sep.join(lines) + draw(st.sampled_from(["", sep, sep, "\ufeff"]))


# ---------------------------------------------------------------------------------------------
# OMM


_INT_KEYS = ("NORAD_CAT_ID", "EPHEMERIS_TYPE", "ELEMENT_SET_NO", "REV_AT_EPOCH")
_TEXT_KEYS = ("OBJECT_NAME", "OBJECT_ID", "EPOCH", "CLASSIFICATION_TYPE")
_int_values = huge_ints | st.integers() | st.integers(0, 10) | weird_floats | \
    st.integers().map(str) | huge_ints.map(str)
_float_values = st.floats() | weird_floats | st.floats(0, 20) | st.floats(0, 1.2) | \
    st.floats(-400, 400) | huge_ints | st.sampled_from(["nan", "1e999", "15_3", "0x1f",
                                                         "\u0661", " 15.3 ", "+.5", "-0"])


def _typed_value(key: str) -> st.SearchStrategy[Any]:
    if key in _INT_KEYS:
        return _int_values
    if key in _TEXT_KEYS:
        return nasty_text | st.sampled_from(["2100-01-01T00:00:00", "1956-12-31T23:59:59",
                                             "2026-02-30T00:00:00", "2026-02-22T22:52:52Z",
                                             "2026-02-22T22:52:52+14:00", "U", "S", ""])
    return _float_values


@st.composite
def omm_records(draw: st.DrawFn) -> dict[str, Any]:
    rec: dict[str, Any] = dict(OMM_RECORD)
    keys = list(rec)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["typed", "typed", "typed", "value", "delete", "add",
                                   "text-number"]))
        key = draw(st.sampled_from(keys))
        if op == "typed":
            rec[key] = draw(_typed_value(key))
        elif op == "value":
            rec[key] = draw(json_values)
        elif op == "delete":
            rec.pop(key, None)
        elif op == "add":
            rec[draw(nasty_text)] = draw(json_values)
        else:  # a number written as text, possibly damaged
            rec[key] = draw(edited(str(OMM_RECORD[key]), max_edits=2))
    return rec


@st.composite
def omm_json_texts(draw: st.DrawFn) -> str:
    recs = draw(st.lists(omm_records(), min_size=draw(st.sampled_from([1, 1, 1, 0])),
                         max_size=3))
    top: Any = recs if draw(st.integers(0, 5)) else (recs[0] if recs else {})
    text = json.dumps(top, indent=draw(st.sampled_from([None, 1])), allow_nan=True)
    if draw(st.sampled_from([False] * 7 + [True])):
        text = draw(edited(text, max_edits=3))
    if draw(st.integers(0, 20)) == 0:
        depth = draw(st.integers(50, 5000))
        text = "[" * depth + text + "]" * draw(st.integers(0, depth))
    return text


def _csv_row(cells: list[Any], quoted: bool) -> str:
    if not quoted:
        return ",".join(str(c) for c in cells)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


@st.composite
def omm_csv_texts(draw: st.DrawFn) -> str:
    header = list(OMM_RECORD)
    if draw(st.integers(0, 4)) == 0:
        op = draw(st.sampled_from(["drop", "dup", "rename"]))
        k = draw(st.integers(0, len(header) - 1))
        if op == "drop":
            del header[k]
        elif op == "dup":
            header.append(header[k])
        else:
            header[k] = draw(nasty_text)
    rows = []
    for _ in range(draw(st.integers(0, 3))):
        rec = draw(omm_records())
        cells = [rec.get(h, "") for h in header]
        if draw(st.sampled_from([False] * 5 + [True])):
            cells.append(draw(nasty_text))
        rows.append(_csv_row(cells, quoted=draw(st.sampled_from([True, True, True, False]))))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    text = sep.join([",".join(header), *rows]) + sep
    if draw(st.sampled_from([False] * 5 + [True])):
        text = draw(edited(text, max_edits=3))
    return text


# ---------------------------------------------------------------------------------------------
# GeoJSON

_lon = st.floats(-200, 400, allow_nan=False) | weird_floats | st.integers(-400, 400)
_lat = st.floats(-100, 100, allow_nan=False) | weird_floats
_position = st.lists(_lon | _lat | nasty_text | st.none(), min_size=0, max_size=4) | \
    st.tuples(_lon, _lat).map(list)


@st.composite
def _ring(draw: st.DrawFn) -> list[Any]:
    if draw(st.booleans()):  # a plausible small ring around a random centre
        lon, lat = draw(st.floats(-179, 179)), draw(st.floats(-85, 85))
        d = draw(st.floats(0.0, 3.0))
        ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d]]
        if draw(st.booleans()):
            ring.append(ring[0])
        return ring
    return draw(st.lists(_position, max_size=6))


_geometry_types = st.sampled_from(["Polygon", "Polygon", "MultiPolygon", "MultiPolygon",
                                   "Point", "LineString", "GeometryCollection", "polygon"])


@st.composite
def geometries(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(_geometry_types)
    rings = st.lists(_ring(), max_size=3)
    if kind == "MultiPolygon":
        coords: Any = draw(st.lists(rings, max_size=3))
    elif kind == "GeometryCollection":
        return {"type": kind, "geometries": draw(st.lists(
            st.builds(lambda r: {"type": "Polygon", "coordinates": r}, rings), max_size=2))}
    else:
        coords = draw(json_values) if draw(st.sampled_from([False] * 4 + [True])) else \
            draw(rings)
    return {"type": kind, "coordinates": coords}


@st.composite
def geojson_objects(draw: st.DrawFn) -> Any:
    geom = draw(json_values) if draw(st.sampled_from([False] * 5 + [True])) else \
        draw(geometries())
    wrap = draw(st.sampled_from(["bare", "feature", "feature", "collection", "junk"]))
    if wrap == "feature":
        return {"type": "Feature", "properties": draw(json_values), "geometry": geom}
    if wrap == "collection":
        return {"type": "FeatureCollection", "features": draw(st.lists(
            st.builds(lambda g: {"type": "Feature", "properties": {}, "geometry": g},
                      geometries()) | json_values, max_size=3))}
    if wrap == "junk":
        return draw(json_values)
    return geom


# ---------------------------------------------------------------------------------------------
# TOML documents (policy, scenario)


def _toml_value(v: Any) -> str:
    from skyfence.policy.io import to_toml

    return to_toml({"v": v}).split("=", 1)[1].strip() if not isinstance(v, dict) else "{}"


_POLICY_TEMPLATE = """name = "default"
default_action = "on"

[[regions]]
name = "zone"
cells = ["8510d39bfffffff"]

[[rules]]
name = "zone-off"
region = "zone"
action = "off"
priority = 2
start = 2022-02-26T00:00:00Z
reason = "test"

[[moving_rules]]
name = "fast"
region = "zone"
max_speed_kmh = 100.0

[[requests]]
key = "r1"
by = "Kyiv"
region = "zone"
action = "on"
at = 2022-09-01T00:00:00Z
why = "drones"

[[requests.decisions]]
by = "SpaceX"
outcome = "refused"
reason = "no"
at = 2022-09-02T00:00:00Z
"""

_SCENARIO_TEMPLATE = """name = "fuzz"
seed = 0

[time]
start = "2026-02-23T00:00:00Z"
duration = "1h"
step = "60s"

[constellation]
source = "starlink-gen1"
min_elevation_deg = 25.0

[ground]
edition = "deu"

[[ground.regions]]
name = "Ukraine"
resolution = 5
"""

_toml_scalars = st.sampled_from(['""', '" "', '"\\u0000"', "nan", "inf", "-inf", "1e999",
                                 "0", "-1", "9" * 30, "true", "[]", "{}", "[[]]",
                                 "2100-01-01T00:00:00Z", "0001-01-01", '"x"', "1.5"]) | \
    st.integers().map(str) | nasty_text.map(
        lambda t: json.dumps(t, ensure_ascii=False).replace("\x7f", "\\u007f"))


@st.composite
def toml_texts(draw: st.DrawFn, template: str) -> str:
    """``template`` with values replaced, lines dropped or duplicated and raw edits."""
    lines = template.splitlines()
    for _ in range(draw(st.integers(0, 4))):
        k = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value"] * 5 + ["drop", "drop", "dup", "key"]))
        if op == "value" and " = " in lines[k]:
            key = lines[k].split(" = ", 1)[0]
            lines[k] = f"{key} = {draw(_toml_scalars)}"
        elif op == "drop":
            del lines[k]
        elif op == "dup":
            lines.insert(k, lines[k])
        elif op == "key" and " = " in lines[k]:
            lines[k] = f"{draw(st.from_regex(r'[a-z_]{1,12}', fullmatch=True))} = " \
                       f"{lines[k].split(' = ', 1)[1]}"
        if not lines:
            lines = [""]
    text = "\n".join(lines) + "\n"
    if draw(st.sampled_from([False] * 7 + [True])):
        text = draw(edited(text, max_edits=3))
    if draw(st.integers(0, 25)) == 0:
        depth = draw(st.integers(50, 3000))
        text += "deep = " + "[" * depth + "]" * depth + "\n"
    return text


def policy_toml_texts() -> st.SearchStrategy[str]:
    return toml_texts(_POLICY_TEMPLATE)


def scenario_toml_texts() -> st.SearchStrategy[str]:
    return toml_texts(_SCENARIO_TEMPLATE)


# ---------------------------------------------------------------------------------------------
# targets: each returns normally or raises a SkyfenceError


def target_tle(text: str) -> None:
    from skyfence.orbits.elements import parse_elements_text, parse_tle_text

    parse_tle_text(text, source="fuzz.tle")
    parse_tle_text(text, source="fuzz.tle", skip_invalid=True)
    parse_elements_text(text, source="fuzz.tle")


def target_omm_json(text: str) -> None:
    from skyfence.orbits.elements import parse_elements_text, parse_omm_json

    parse_omm_json(text, source="fuzz.json", skip_invalid=True)
    parse_elements_text(text, source="fuzz.json")


def target_omm_csv(text: str) -> None:
    from skyfence.orbits.elements import parse_omm_csv

    parse_omm_csv(text, source="fuzz.csv", skip_invalid=True)
    parse_omm_csv(text, source="fuzz.csv")


#: Inputs that crash a parser outside this helper's files, reported to the lead and tracked
#: by an xfail test each (test_fuzz_parsers.py); the fuzz run steps around them.
KNOWN_CRASHES: dict[str, str] = {}  # none: every parser refuses bad input with its own errors


def target_geojson(obj: Any) -> None:
    from skyfence.ground import region_from_geojson

    if not isinstance(obj, dict):
        obj = {"type": "Feature", "geometry": obj}
    region_from_geojson(obj)


def target_policy_toml(text: str) -> None:
    from skyfence.policy.io import loads_policy

    loads_policy(text, "toml", source="fuzz.toml")


def target_scenario_toml(text: str) -> None:
    from skyfence import limits
    from skyfence.errors import ScenarioError
    from skyfence.scenario import parse_scenario

    data = limits.load_toml_text(text, "fuzz.toml", kind="scenario", error=ScenarioError)
    parse_scenario(data, "fuzz.toml")


#: parser name -> (strategy factory, target)
TARGETS: dict[str, tuple[Callable[[], st.SearchStrategy[Any]], Callable[[Any], None]]] = {
    "tle": (lambda: tle_texts(False), target_tle),
    "3le": (lambda: tle_texts(True), target_tle),
    "omm-json": (omm_json_texts, target_omm_json),
    "omm-csv": (omm_csv_texts, target_omm_csv),
    "geojson": (geojson_objects, target_geojson),
    "policy-toml": (policy_toml_texts, target_policy_toml),
    "scenario-toml": (scenario_toml_texts, target_scenario_toml),
}
