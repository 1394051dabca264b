"""Element sets in and out: TLE (2-line), CelesTrak 3-line, and OMM (CelesTrak JSON and CSV).

Every record is validated before it reaches SGP4; a bad one raises `ElementError` whose
``where`` is ``"FILE:LINE"`` and whose message names the problem (for a column-layout error it
shows the official column template above the offending line, as python-sgp4 does). With
``skip_invalid=True`` the valid records load and the rest are listed in
``Constellation.report.skipped`` as ``(where, reason)``.

Checks on every record:

* TLE lines: 69 columns, the column layout of the format, checksum (column 69, the sum of the
  digits in columns 1-68 with each ``-`` counted as 1, modulo 10), line numbers ``1`` then
  ``2``, the same catalogue number on both lines;
* TLE numeric fields: no space inside a number (``1 .31035506`` is an altered line, not
  1.31 or 13.1), so every field reads as exactly one number;
* OMM values: numbers (or strings holding one number, ASCII digits only: no ``1_000``, no
  ``NaN``), integers within what the TLE format can carry (``EPHEMERIS_TYPE`` 0-9,
  ``ELEMENT_SET_NO`` 0-9999, ``REV_AT_EPOCH`` 0-99999), names without control characters;
* all formats: epoch (a real calendar day), eccentricity in [0, 1), inclination in
  [0, 180] deg, node, argument of perigee and mean anomaly in [0, 360] deg, mean motion > 0;
* then SGP4 itself: an element set SGP4 flags at its epoch (``Satrec.error`` after
  initialisation, e.g. mean motion 99 rev/day puts the satellite underground: error 6) is
  rejected with SGP4's own text (``sgp4.api.SGP4_ERRORS``), and so is one whose state at epoch
  is not a bound Earth orbit (`skyfence.orbits.propagate.not_physical`).

Input caps (`skyfence.limits`): files above ``MAX_FILE_BYTES["elements"]``, non-regular files
(FIFOs, devices), binary content, OMM JSON nested deeper than ``MAX_NESTING_DEPTH`` and OMM CSV
fields holding a line break are refused with `ElementError`; no other exception escapes.

Repeated catalogue numbers keep the record with the newest epoch (the first one on equal
epochs); the others are listed in ``report.duplicates``. Element sets are initialised by
python-sgp4 (``Satrec.twoline2rv`` for TLEs, ``sgp4.omm.initialize`` for OMM), with WGS-72
constants and the improved (``'i'``) operation mode, as CelesTrak's element sets expect.

Format references: the TLE column layout of CelesTrak "NORAD Two-Line Element Set Format"
(celestrak.org/NORAD/documentation/tle-fmt.php) and python-sgp4's ``sgp4/io.py``; OMM keywords
of CCSDS 502.0-B-3 as CelesTrak publishes them
(celestrak.org/NORAD/documentation/gp-data-formats.php).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sgp4 import omm as sgp4_omm
from sgp4.api import SGP4_ERRORS, Satrec
from sgp4.conveniences import sat_epoch_datetime
from sgp4.exporter import export_tle

from .. import limits
from ..errors import ElementError, InputError
from ..timeutil import parse_utc_datetime
from .constellation import Constellation, ValidationReport
from .propagate import ERROR_MESSAGES, HILL_RADIUS_KM, NOT_PHYSICAL, not_physical

__all__ = [
    "ELEMENT_FORMATS",
    "OMM_OPTIONAL_FIELDS",
    "OMM_REQUIRED_FIELDS",
    "TLE_LINE1_TEMPLATE",
    "TLE_LINE2_TEMPLATE",
    "detect_format",
    "load_elements",
    "parse_elements_text",
    "parse_omm_csv",
    "parse_omm_json",
    "parse_tle_text",
    "write_tle",
]

#: Formats `detect_format` recognises, with a human description each.
ELEMENT_FORMATS = {
    "tle": "TLE, 2-line or CelesTrak 3-line (a name line before each element set)",
    "omm-json": "OMM as CelesTrak JSON (a list of objects with NORAD_CAT_ID, EPOCH, ...)",
    "omm-csv": "OMM as CelesTrak CSV (a header row with NORAD_CAT_ID, EPOCH, ...)",
}

#: Column templates of the two TLE lines (python-sgp4's ``sgp4.io``): N a digit, C the
#: classification, A the international designator, + a sign or a space.
TLE_LINE1_TEMPLATE = "1 NNNNNC NNNNNAAA NNNNN.NNNNNNNN +.NNNNNNNN +NNNNN-N +NNNNN-N N NNNNN"
TLE_LINE2_TEMPLATE = "2 NNNNN NNN.NNNN NNN.NNNN NNNNNNN NNN.NNNN NNN.NNNN NN.NNNNNNNNNNNNNN"

#: OMM keywords a record must have (CCSDS 502.0-B-3 mean elements + TLE parameters).
OMM_REQUIRED_FIELDS = (
    "NORAD_CAT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)
#: OMM keywords used when present, with the value assumed when absent or empty.
OMM_OPTIONAL_FIELDS = {
    "OBJECT_NAME": "",
    "OBJECT_ID": "",
    "CLASSIFICATION_TYPE": "U",
    "EPHEMERIS_TYPE": 0,
    "ELEMENT_SET_NO": 999,
    "REV_AT_EPOCH": 0,
}

_TLE_LENGTH = 69
# Alpha-5 catalogue numbers (first character a letter other than I and O) reach 339999.
_MAX_CATALOGUE_NUMBER = 339_999

_DIGIT = "0123456789"
_SPACE_DIGIT = " " + _DIGIT
_ALPHA5 = _SPACE_DIGIT + "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DESIGNATOR = _SPACE_DIGIT + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SIGN = " +-"
_EXP_SIGN = "+-"


def _columns(*spec: tuple[str, int]) -> tuple[str, ...]:
    cols: list[str] = []
    for chars, count in spec:
        cols.extend([chars] * count)
    return tuple(cols)


# Characters allowed in each column (0-based) of line 1 and line 2.
_LINE1_COLUMNS = _columns(
    ("1", 1), (" ", 1),
    (_ALPHA5, 1), (_SPACE_DIGIT, 3), (_DIGIT, 1),  # catalogue number, cols 3-7
    ("UCS ", 1), (" ", 1),  # classification, col 8
    (_DESIGNATOR, 8), (" ", 1),  # international designator, cols 10-17
    (_DIGIT, 2), (_SPACE_DIGIT, 3), (".", 1), (_DIGIT, 8), (" ", 1),  # epoch, cols 19-32
    (_SIGN, 1), (".", 1), (_DIGIT, 8), (" ", 1),  # ndot / 2, cols 34-43
    (_SIGN, 1), (_DIGIT, 5), (_EXP_SIGN, 1), (_DIGIT, 1), (" ", 1),  # nddot / 6, cols 45-52
    (_SIGN, 1), (_DIGIT, 5), (_EXP_SIGN, 1), (_DIGIT, 1), (" ", 1),  # BSTAR, cols 54-61
    (_SPACE_DIGIT, 1), (" ", 1),  # ephemeris type, col 63
    (_SPACE_DIGIT, 4),  # element set number, cols 65-68
    (_DIGIT, 1),  # checksum, col 69
)
_ANGLE = ((_SPACE_DIGIT, 3), (".", 1), (_DIGIT, 4))
_LINE2_COLUMNS = _columns(
    ("2", 1), (" ", 1),
    (_ALPHA5, 1), (_SPACE_DIGIT, 3), (_DIGIT, 1), (" ", 1),  # catalogue number, cols 3-7
    *_ANGLE, (" ", 1),  # inclination, cols 9-16
    *_ANGLE, (" ", 1),  # right ascension of the ascending node, cols 18-25
    (_SPACE_DIGIT, 7), (" ", 1),  # eccentricity (leading decimal point implied), cols 27-33
    *_ANGLE, (" ", 1),  # argument of perigee, cols 35-42
    *_ANGLE, (" ", 1),  # mean anomaly, cols 44-51
    (_SPACE_DIGIT, 2), (".", 1), (_DIGIT, 8),  # mean motion (rev/day), cols 53-63
    (_SPACE_DIGIT, 5),  # revolution number at epoch, cols 64-68
    (_DIGIT, 1),  # checksum, col 69
)
assert len(_LINE1_COLUMNS) == len(_LINE2_COLUMNS) == _TLE_LENGTH


def _layout_regex(columns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("".join(f"[{re.escape(chars)}]" for chars in columns))


_LINE1_RE = _layout_regex(_LINE1_COLUMNS)
_LINE2_RE = _layout_regex(_LINE2_COLUMNS)
_LAYOUT = {1: (_LINE1_COLUMNS, _LINE1_RE, TLE_LINE1_TEMPLATE),
           2: (_LINE2_COLUMNS, _LINE2_RE, TLE_LINE2_TEMPLATE)}
# Numeric fields of each line: (first, stop) 0-based slice, label, columns as the format counts.
_LINE1_NUMBERS = (
    (2, 7, "catalogue number", "columns 3-7"),
    (18, 20, "epoch year", "columns 19-20"),
    (20, 32, "epoch day of year", "columns 21-32"),
    (62, 63, "ephemeris type", "column 63"),
    (64, 68, "element set number", "columns 65-68"),
)
_LINE2_NUMBERS = (
    (2, 7, "catalogue number", "columns 3-7"),
    (8, 16, "inclination", "columns 9-16"),
    (17, 25, "right ascension of the ascending node", "columns 18-25"),
    (26, 33, "eccentricity", "columns 27-33"),
    (34, 42, "argument of perigee", "columns 35-42"),
    (43, 51, "mean anomaly", "columns 44-51"),
    (52, 63, "mean motion", "columns 53-63"),
    (63, 68, "revolution number at epoch", "columns 64-68"),
)
# Byte -> checksum value: digits count their value, '-' counts 1, everything else 0.
_CHECKSUM_TABLE = bytes(
    (c - 48) if 48 <= c <= 57 else (1 if c == 45 else 0) for c in range(256)
)
_WHITESPACE_RE = re.compile(r"\s*")
# Line breaks as editors count them (str.splitlines would also split at \f, \x1c-\x1e, \x85,
# U+2028 and U+2029, shifting line numbers; those characters are refused inside lines instead).
_LINE_BREAK_RE = re.compile(r"\r\n|\n|\r")
# A number in an OMM text field: ASCII digits, optional sign, point and exponent (float()
# alone would also take "1_000", "nan", "infinity" and non-ASCII digits).
_OMM_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Integer OMM keywords: the range a TLE (and sgp4's C long fields) can carry.
_OMM_INT_RANGES = {"EPHEMERIS_TYPE": (0, 9), "ELEMENT_SET_NO": (0, 9999),
                   "REV_AT_EPOCH": (0, 99999), "NORAD_CAT_ID": (1, 339_999)}
_GROUP_HINT = "the file holds TLE, 3-line TLE, OMM JSON or OMM CSV element sets"


class _Record(NamedTuple):
    where: str
    norad_id: int
    name: str
    satrec: Satrec


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_elements(
    path: str | os.PathLike[str],
    *,
    skip_invalid: bool = False,
    name: str | None = None,
) -> Constellation:
    """Read an element file (TLE, 3-line TLE, OMM JSON or OMM CSV; format detected by content).

    Parameters
    ----------
    path : path-like
        The element file.
    skip_invalid : bool
        Load the valid records and list the bad ones in ``report.skipped`` instead of raising
        at the first bad record.
    name : str, optional
        Name of the constellation (default: the file name without its suffix).

    Returns
    -------
    Constellation
        One satellite per catalogue number, in file order; ``report`` says what was skipped
        and which duplicates were dropped.

    Raises
    ------
    ElementError
        For a missing or unreadable file, an unknown format, or (unless ``skip_invalid``) the
        first invalid record, with ``where="FILE:LINE"``.
    """
    p = Path(path)
    source = str(p)
    if not p.exists():
        raise ElementError("no such element file", where=source)
    if p.is_dir():
        raise ElementError("not a file but a directory; give an element file", where=source)
    data = limits.read_bytes_file(p, kind="elements", where=source, error=ElementError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ElementError(
            f"not a text file: byte 0x{data[exc.start]:02x} is not UTF-8; {_GROUP_HINT}",
            where=f"{source}:{line}",
        ) from None
    return parse_elements_text(
        text, source=source, skip_invalid=skip_invalid, name=name if name else p.stem
    )


def _check_text(text: str, source: str) -> None:
    """Size cap and binary content (NUL bytes), before any parsing."""
    if not isinstance(text, str):
        raise ElementError(f"element text must be str, got {type(text).__name__}", source)
    limits.check_text_size(text, source, kind="elements", error=ElementError)
    nul = text.find("\x00")
    if nul >= 0:
        raise ElementError(f"binary content (a NUL byte): not a text file; {_GROUP_HINT}",
                           where=f"{source}:{text.count(chr(10), 0, nul) + 1}")


def detect_format(text: str, source: str = "<string>") -> str:
    """Tell the element format of ``text`` from its content: a key of `ELEMENT_FORMATS`.

    Raises `ElementError` for an empty text or an unrecognised format.
    """
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        raise ElementError(f"the file is empty: no element sets ({_GROUP_HINT})", where=source)
    if body[0] in "[{":
        return "omm-json"
    lines = [ln for ln in body.splitlines() if ln.strip()][:3]
    first = lines[0]
    lineno = text[: len(text) - len(body)].count("\n") + 1
    if body[0] == "<":
        raise ElementError(
            f"unknown element format: the file starts with {first[:40]!r} (XML or HTML); "
            f"{_GROUP_HINT}. For CelesTrak use FORMAT=tle, FORMAT=json or FORMAT=csv",
            where=f"{source}:{lineno}",
        )
    if "," in first and "NORAD_CAT_ID" in first.upper():
        return "omm-csv"
    if any(ln.startswith(("1 ", "2 ")) for ln in lines):
        return "tle"
    raise ElementError(
        f"unknown element format: the first line {first[:72]!r} is neither a TLE line "
        "('1 ...' / '2 ...'), a satellite name followed by a TLE, JSON ('[' or '{') nor a CSV "
        f"header with NORAD_CAT_ID; {_GROUP_HINT}",
        where=f"{source}:{lineno}",
    )


def parse_elements_text(
    text: str,
    *,
    source: str = "<string>",
    skip_invalid: bool = False,
    name: str | None = None,
) -> Constellation:
    """Parse element sets of any supported format (detected by `detect_format`)."""
    _check_text(text, source)
    fmt = detect_format(text, source)
    parser = {"tle": parse_tle_text, "omm-json": parse_omm_json, "omm-csv": parse_omm_csv}[fmt]
    return parser(text, source=source, skip_invalid=skip_invalid, name=name)


def parse_tle_text(
    text: str,
    *,
    source: str = "<string>",
    skip_invalid: bool = False,
    name: str | None = None,
) -> Constellation:
    """Parse 2-line TLEs and CelesTrak 3-line TLEs (a name line before each element set).

    The two may be mixed; blank lines between records are ignored; a name line may carry the
    ``"0 "`` prefix of Space-Track's 3LE. Lines must have exactly 69 columns (trailing spaces
    and carriage returns are ignored).

    Hypatia's ``tles.txt`` starts with a header ``N_ORBITS N_SATS_PER_ORBIT``: a first
    non-blank line of exactly two positive integers is read as that header when their product
    equals the number of element sets that follow (any other count is an error naming the
    header's line); the satellites, in file order, are then orbit-major (satellite ``k`` is in
    plane ``k // N_SATS_PER_ORBIT``, slot ``k % N_SATS_PER_ORBIT``), which sets
    ``Constellation.plane`` and ``slot`` when every element set loads.

    Parameters
    ----------
    text : str
    source : str
        File name used in error locations (``"SOURCE:LINE"``).
    skip_invalid : bool
        Skip bad records and list them in ``report.skipped`` instead of raising.
    name : str, optional
        Name of the constellation (default ``source``).
    """
    _check_text(text, source)
    lines = _LINE_BREAK_RE.split(text)
    if lines and not lines[-1]:
        lines.pop()  # the break ending the last line starts no line
    header = _hypatia_header(lines)
    if header is not None:
        lines = list(lines)
        lines[header[0]] = ""  # read as a blank line: every other line keeps its number
    records: list[_Record] = []
    skipped: list[tuple[str, str]] = []
    n_records = 0
    i, n = 0, len(lines)
    while i < n:
        raw = lines[i].rstrip()
        if not raw.strip():
            i += 1
            continue
        n_records += 1
        try:
            rec, i = _read_tle_record(lines, i, source)
        except _RecordError as exc:
            error = exc.error
            if (n_records == 1 and header is None and _NUMBERS_LINE_RE.fullmatch(raw)
                    and not raw.startswith(("1 ", "2 "))):
                # numbers only, no TLE after them: a header that is not Hypatia's
                error = ElementError(
                    f"the first line {raw.strip()[:40]!r} is neither a satellite name followed "
                    "by a TLE nor Hypatia's header (exactly two positive integers N_ORBITS "
                    "N_SATS_PER_ORBIT, whose product is the number of element sets)",
                    f"{source}:{i + 1}")
            if not skip_invalid:
                raise error from None
            skipped.append((error.where or source, error.message))
            i = exc.resume
            continue
        records.append(rec)
    if header is not None:
        at, n_orbits, n_per = header
        if n_records != n_orbits * n_per:
            raise ElementError(
                f"the header {n_orbits} {n_per} (Hypatia's N_ORBITS N_SATS_PER_ORBIT) promises "
                f"{n_orbits} x {n_per} = {n_orbits * n_per} element sets, but {n_records} "
                "follow", where=f"{source}:{at + 1}")
    if n_records == 0:
        raise ElementError(f"the file is empty: no element sets ({_GROUP_HINT})", where=source)
    const = _assemble(records, skipped, n_records, source, name)
    if header is not None and len(const) == n_records:
        k = np.arange(n_records, dtype=np.int64)
        const = dataclasses.replace(const, plane=k // header[2], slot=k % header[2])
    return const


_HYPATIA_HEADER_RE = re.compile(r"\s*([0-9]{1,9})\s+([0-9]{1,9})\s*")
_NUMBERS_LINE_RE = re.compile(r"[0-9\s+-]+")


def _hypatia_header(lines: list[str]) -> tuple[int, int, int] | None:
    """``(line index, n_orbits, n_sats_per_orbit)`` when the first non-blank line is exactly
    two positive integers (Hypatia's ``tles.txt`` header), else None."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        m = _HYPATIA_HEADER_RE.fullmatch(line)
        if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
            return None
        return i, int(m.group(1)), int(m.group(2))
    return None


def parse_omm_json(
    text: str,
    *,
    source: str = "<string>",
    skip_invalid: bool = False,
    name: str | None = None,
) -> Constellation:
    """Parse OMM records in CelesTrak's JSON layout: a list of objects (or one object).

    Keys are the CCSDS OMM keywords (`OMM_REQUIRED_FIELDS`, `OMM_OPTIONAL_FIELDS`); values may
    be numbers or strings. Error locations give the line where the record's object starts.
    """
    _check_text(text, source)
    records: list[_Record] = []
    skipped: list[tuple[str, str]] = []
    objects = list(_json_objects(text, source))
    if not objects:
        raise ElementError("the JSON list is empty: no element sets", where=source)
    for lineno, obj in objects:
        where = f"{source}:{lineno}"
        try:
            if not isinstance(obj, dict):
                raise ElementError(
                    f"an OMM record must be a JSON object, got {type(obj).__name__}", where
                )
            records.append(_omm_record(obj, where))
        except ElementError as exc:
            if not skip_invalid:
                raise
            skipped.append((where, exc.message))
    return _assemble(records, skipped, len(objects), source, name)


def parse_omm_csv(
    text: str,
    *,
    source: str = "<string>",
    skip_invalid: bool = False,
    name: str | None = None,
) -> Constellation:
    """Parse OMM records in CelesTrak's CSV layout: a header row of OMM keywords, one row each.

    Error locations give the row's line number in the file.
    """
    _check_text(text, source)
    # Lines end at "\n" only (a "\r\n" ending is fine): a lone carriage return inside a row
    # is then a CSV error naming the row, not a silent split into two short rows.
    buffer = io.StringIO(text.lstrip("\ufeff"))
    reader = csv.DictReader(buffer)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise ElementError(f"CSV header: {_csv_problem(exc)}", where=f"{source}:1") from None
    header = [h.strip().upper() for h in (fieldnames or [])]
    if not header:
        raise ElementError(f"the file is empty: no element sets ({_GROUP_HINT})", where=source)
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise ElementError(f"the CSV header names the column(s) {', '.join(repeated)} more "
                           "than once", where=f"{source}:1")
    reader.fieldnames = header
    missing = [f for f in OMM_REQUIRED_FIELDS if f not in header]
    if missing:
        raise ElementError(
            f"the CSV header lacks the column(s) {', '.join(missing)}; an OMM CSV needs "
            f"{', '.join(OMM_REQUIRED_FIELDS)}",
            where=f"{source}:1",
        )
    records: list[_Record] = []
    skipped: list[tuple[str, str]] = []
    n_records = 0
    rows = iter(reader)
    lines_before = 1  # physical lines read so far (the header)
    while True:
        position = buffer.tell()
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            # csv consumed the broken line (its line_num lags): count lines from the text
            n_records += 1
            lines_before += 1
            error = ElementError(_csv_problem(exc), where=f"{source}:{lines_before}")
            if not skip_invalid or buffer.tell() == position:
                raise error from None
            lines_before = text.lstrip("\ufeff").count("\n", 0, buffer.tell())
            skipped.append((error.where or source, error.message))
            continue
        lines_before = reader.line_num
        where = f"{source}:{reader.line_num}"
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        n_records += 1
        try:
            if None in row:
                raise ElementError(
                    f"the row has {len(header) + len(row[None])} values for {len(header)} "
                    "columns", where
                )
            records.append(_omm_record(row, where))
        except ElementError as exc:
            if not skip_invalid:
                raise
            skipped.append((where, exc.message))
    if n_records == 0:
        raise ElementError("the CSV has a header but no element sets", where=source)
    return _assemble(records, skipped, n_records, source, name)


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "new-line character seen in unquoted field" in text:
        return ("a line break (carriage return) inside an unquoted CSV field; an OMM CSV row "
                "is one line, and a field holding a line break must be quoted")
    if "field larger than field limit" in text:
        return f"a CSV field longer than {csv.field_size_limit():,} characters"
    return f"invalid CSV: {text}"


def write_tle(constellation: Constellation, path: str | os.PathLike[str]) -> Path:
    """Write the constellation as CelesTrak 3-line element sets (name line + TLE lines).

    Uses `sgp4.exporter.export_tle`, so Walker shells become element sets any SGP4 tool reads.
    The file is written atomically (a temporary file renamed into place).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ElementError
        When a satellite cannot be expressed as a TLE (an angle outside its range), or the
        path cannot be written (a directory, a device, a read-only folder, a full disk).
    """
    out = Path(path)
    chunks: list[str] = []
    for i, sat in enumerate(constellation.satrecs):
        try:
            line1, line2 = export_tle(sat)
        except (ValueError, AttributeError) as exc:
            raise ElementError(
                f"satellite {constellation.names[i]!r} (catalogue number "
                f"{int(constellation.norad_ids[i])}) cannot be written as a TLE: {exc}",
                where=f"{constellation.name or 'constellation'}[{i}]",
            ) from None
        label = constellation.names[i].strip() or str(int(constellation.norad_ids[i]))
        chunks.append(f"{label}\n{line1}\n{line2}\n")
    text = "".join(chunks)
    with limits.atomic_output(out, field=str(out), error=ElementError) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return out


# ---------------------------------------------------------------------------------------------
# TLE records


class _RecordError(Exception):
    """An invalid record and the line index where scanning resumes."""

    def __init__(self, error: ElementError, resume: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.resume = resume


def _looks_like_tle_line(line: str) -> bool:
    return len(line) >= 60 and line[0].isdigit() and line[1:2] == " "


def _read_tle_record(lines: list[str], i: int, source: str) -> tuple[_Record, int]:
    """Read the record starting at ``lines[i]``; return it and the index after it."""
    n = len(lines)
    first = lines[i].rstrip()
    if first.startswith("2 "):
        raise _RecordError(ElementError(
            "found line 2 of an element set without its line 1 before it "
            f"(a TLE is line 1, then line 2): {first[:72]!r}", f"{source}:{i + 1}"), i + 1)
    if first.startswith("1 "):
        sat_name, i1 = "", i
    else:
        if _looks_like_tle_line(first):
            raise _RecordError(ElementError(
                f"wrong line number {first[0]!r} in column 1: a TLE line starts with '1 ' or "
                f"'2 ' (and a name line, in 3-line files, precedes line 1): {first[:72]!r}",
                f"{source}:{i + 1}"), i + 1)
        sat_name = first[2:].strip() if first.startswith("0 ") else first.strip()
        i1 = i + 1
        line1 = lines[i1].rstrip() if i1 < n else ""
        if not line1.startswith("1 "):
            where = f"{source}:{i1 + 1}" if i1 < n else f"{source}:{i + 1}"
            found = f"found {line1[:72]!r}" if i1 < n else "the file ends here"
            raise _RecordError(ElementError(
                f"expected line 1 of the element set named {sat_name[:40]!r} (a line starting "
                f"with '1 ' after the name line {i + 1}), {found}", where), i1)
    line1 = lines[i1].rstrip()
    i2 = i1 + 1
    if i2 >= n or not lines[i2].strip():
        raise _RecordError(ElementError(
            f"line 2 is missing: the element set whose line 1 is at line {i1 + 1} is not "
            "followed by a line starting with '2 '", f"{source}:{i1 + 1}"), i2)
    line2 = lines[i2].rstrip()
    if not line2.startswith("2"):
        raise _RecordError(ElementError(
            f"wrong line number {line2[:1]!r} in column 1: expected '2' (line 2 of the element "
            f"set whose line 1 is at line {i1 + 1}), found {line2[:72]!r}",
            f"{source}:{i2 + 1}"),
            # A mis-numbered TLE line belongs to this record; anything else may start the next.
            i2 + 1 if _looks_like_tle_line(line2) else i2)
    try:
        rec = _tle_record(line1, line2, sat_name, source, i1 + 1, i2 + 1)
    except ElementError as exc:
        raise _RecordError(exc, i2 + 1) from None
    return rec, i2 + 1


def _layout_message(line: str, number: int) -> str:
    columns, _, template = _LAYOUT[number]
    col = next(
        (k for k, ch in enumerate(line[:_TLE_LENGTH]) if ch not in columns[k]), None
    )
    if col is None:
        # Every column present matches: the line is too short or too long.
        col = min(len(line), _TLE_LENGTH)
        problem = f"it has {len(line)} characters; a TLE line has exactly {_TLE_LENGTH}"
    else:
        allowed = columns[col]
        want = (
            "a digit" if allowed == _DIGIT else
            "a digit or a space" if allowed == _SPACE_DIGIT else
            "a space" if allowed == " " else
            "a sign (+, - or space)" if allowed == _SIGN else
            "+ or -" if allowed == _EXP_SIGN else
            "U, C, S or a space" if allowed == "UCS " else
            "a digit, a capital letter or a space" if allowed in (_ALPHA5, _DESIGNATOR) else
            f"{allowed!r}"
        )
        problem = f"column {col + 1} should hold {want}, found {line[col]!r}"
    caret = " " * col + "^"
    return (
        f"TLE line {number} does not match the column layout: {problem}.\n"
        f"Official layout of line {number} (N a digit), then the line given:\n"
        f"{template}\n{line}\n{caret}"
    )


def _check_line(line: str, number: int, where: str) -> None:
    if not line.isascii():
        raise ElementError(
            f"TLE line {number} contains non-ASCII characters: {line!r}", where
        )
    _, regex, _ = _LAYOUT[number]
    if len(line) != _TLE_LENGTH or regex.fullmatch(line) is None:
        raise ElementError(_layout_message(line, number), where)
    for first, stop, label, cols in (_LINE1_NUMBERS if number == 1 else _LINE2_NUMBERS):
        field = line[first:stop]
        body = field.strip()
        if " " in body:
            col = first + len(field) - len(field.lstrip()) + body.index(" ") + 1
            raise ElementError(
                f"TLE line {number}: the {label} ({cols}) holds {field!r}, with a space inside "
                f"the number at column {col}; the line was altered (TLE numbers are "
                "right-aligned, without gaps)", where)
    expected = _checksum(line)
    if int(line[68]) != expected:
        raise ElementError(
            f"checksum error on TLE line {number}: column 69 holds {line[68]}, but the digits "
            f"of columns 1-68 (each '-' counting 1) sum to {expected} modulo 10; the line was "
            "altered or truncated",
            where,
        )


def _checksum(line: str) -> int:
    """TLE checksum of columns 1-68: sum of digits, each '-' counting 1, modulo 10."""
    return sum(line[:68].encode("ascii").translate(_CHECKSUM_TABLE)) % 10


def _catalogue_number(field: str) -> int:
    field = field.strip()
    if field and field[0].isalpha():
        # Alpha-5: A=10, ..., H=17, J=18, ..., N=22, P=23, ..., Z=33 (I and O are skipped).
        c = field[0]
        value = ord(c) - ord("A") + 10 - (c > "I") - (c > "O")
        return value * 10_000 + int(field[1:])
    return int(field)


def _tle_record(
    line1: str, line2: str, sat_name: str, source: str, lineno1: int, lineno2: int
) -> _Record:
    where1, where2 = f"{source}:{lineno1}", f"{source}:{lineno2}"
    _check_line(line1, 1, where1)
    _check_line(line2, 2, where2)
    if line1[2:7] != line2[2:7]:
        raise ElementError(
            f"catalogue numbers differ: line 1 (line {lineno1}) has {line1[2:7]!r}, line 2 "
            f"has {line2[2:7]!r}; the two lines belong to different satellites",
            where2,
        )
    norad_id = _catalogue_number(line1[2:7])
    _check_tle_epoch(line1, where1)
    values = {
        "inclination": (float(line2[8:16]), "columns 9-16"),
        "right ascension of the ascending node": (float(line2[17:25]), "columns 18-25"),
        "argument of perigee": (float(line2[34:42]), "columns 35-42"),
        "mean anomaly": (float(line2[43:51]), "columns 44-51"),
    }
    _check_ranges(
        ecc=float("0." + line2[26:33].replace(" ", "0")),
        inclination_deg=values["inclination"][0],
        angles_deg={k: v for k, v in values.items() if k != "inclination"},
        mean_motion_rev_day=float(line2[52:63]),
        where=where2,
        fields={"ecc": "columns 27-33", "inclination": "columns 9-16",
                "mean motion": "columns 53-63"},
    )
    try:
        sat = Satrec.twoline2rv(line1, line2)
    except (ValueError, RuntimeError, OverflowError) as exc:
        raise ElementError(f"SGP4 cannot read this element set: {exc}", where2) from None
    _check_sgp4(sat, where2)
    return _Record(where1, norad_id, _clean_sat_name(sat_name, where1) or str(norad_id), sat)


def _check_sgp4(sat: Satrec, where: str) -> None:
    """Reject an element set SGP4 flags at its epoch, or whose epoch state is not physical."""
    detail = (f"mean motion {sat.no_kozai * 1440.0 / (2.0 * math.pi):.8g} rev/day, "
              f"eccentricity {sat.ecco:.7g}")
    code = int(sat.error)
    if code != 0:
        text = SGP4_ERRORS.get(code, f"unknown SGP4 error {code}")
        raise ElementError(
            f"SGP4 rejects this element set at its epoch: error {code}, {text} ({detail})",
            where)
    err, r, v = sat.sgp4_tsince(0.0)
    a_km = sat.a * sat.radiusearthkm
    if err == 0 and (not_physical(np.array(r), np.array(v), np.array(a_km), sat.mu)
                     or a_km * (1.0 + sat.ecco) > HILL_RADIUS_KM):
        raise ElementError(
            f"this element set is not an Earth orbit at its epoch: error {NOT_PHYSICAL}, "
            f"{ERROR_MESSAGES[NOT_PHYSICAL].split(':')[0]} ({detail}, semi-major axis "
            f"{a_km:.6g} km)", where)
    if err != 0:
        raise ElementError(
            f"SGP4 rejects this element set at its epoch: error {err}, "
            f"{SGP4_ERRORS.get(err, 'unknown')} ({detail})", where)


def _clean_sat_name(name: str, where: str) -> str:
    """A satellite name from a name line or OBJECT_NAME: one line of printable text."""
    if not name:
        return ""
    try:
        return limits.clean_name(name, "satellite name", error=ElementError)
    except ElementError as exc:
        raise ElementError(exc.message.replace("names are", "a satellite name is"),
                           f"{where} (satellite name)") from None


def _days_in_year(year: int) -> int:
    return 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365


def _check_tle_epoch(line1: str, where: str) -> None:
    yy = int(line1[18:20])
    year = 1900 + yy if yy >= 57 else 2000 + yy  # two-digit years 57-99 are 1957-1999
    day = float(line1[20:32])
    last = _days_in_year(year)
    if not (1.0 <= day < last + 1.0):
        raise ElementError(
            f"bad epoch {line1[18:32].strip()!r} (columns 19-32): day of year {day} is not "
            f"within 1 <= day < {last + 1} for {year}",
            where,
        )


def _check_ranges(
    *,
    ecc: float,
    inclination_deg: float,
    angles_deg: Mapping[str, tuple[float, str]],
    mean_motion_rev_day: float,
    where: str,
    fields: Mapping[str, str],
) -> None:
    if not (0.0 <= ecc < 1.0):
        raise ElementError(
            f"eccentricity {ecc!r} ({fields['ecc']}) is outside the range 0 <= e < 1", where
        )
    if not (0.0 <= inclination_deg <= 180.0):
        raise ElementError(
            f"inclination {inclination_deg!r} deg ({fields['inclination']}) is outside "
            "0 to 180 deg", where,
        )
    for label, (value, cols) in angles_deg.items():
        if not (0.0 <= value <= 360.0):
            raise ElementError(
                f"{label} {value!r} deg ({cols}) is outside 0 to 360 deg", where
            )
    if not (mean_motion_rev_day > 0.0):
        raise ElementError(
            f"mean motion {mean_motion_rev_day!r} rev/day ({fields['mean motion']}) must be "
            "greater than 0", where,
        )


# ---------------------------------------------------------------------------------------------
# OMM records


def _skip_space(text: str, pos: int) -> int:
    """Index of the first non-whitespace character at or after ``pos``."""
    m = _WHITESPACE_RE.match(text, pos)
    return pos if m is None else m.end()


def _json_objects(text: str, source: str) -> Iterable[tuple[int, Any]]:
    """Yield ``(line number, value)`` for each element of a JSON list (or one JSON object)."""
    # Depth and string caps first: after this the decoder cannot recurse without bound.
    limits.check_json_text(text, source, kind="elements", error=ElementError)
    decoder = json.JSONDecoder()
    body = text.lstrip("\ufeff")

    def fail(exc: ValueError) -> ElementError:
        if isinstance(exc, json.JSONDecodeError):
            return ElementError(f"invalid JSON: {exc.msg} (column {exc.colno})",
                                where=f"{source}:{exc.lineno}")
        msg = str(exc)
        if "digits" in msg:  # CPython's int-size guard
            msg = "a number with more than 4300 digits"
        return ElementError(f"invalid JSON: {msg}", where=f"{source}:{line}")

    pos = _skip_space(body, 0)
    line = 1 + body.count("\n", 0, pos)
    if body.startswith("{", pos):
        try:
            obj, end = decoder.raw_decode(body, pos)
        except (ValueError, RecursionError) as exc:
            raise fail(exc if isinstance(exc, ValueError) else ValueError(
                "nested too deeply")) from None
        _expect_end(body, end, source)
        yield line, obj
        return
    pos += 1  # the '['
    while True:
        nxt = _skip_space(body, pos)
        line += body.count("\n", pos, nxt)
        pos = nxt
        if body.startswith("]", pos):
            _expect_end(body, pos + 1, source)
            return
        try:
            obj, end = decoder.raw_decode(body, pos)
        except (ValueError, RecursionError) as exc:
            raise fail(exc if isinstance(exc, ValueError) else ValueError(
                "nested too deeply")) from None
        yield line, obj
        line += body.count("\n", pos, end)
        nxt = _skip_space(body, end)
        line += body.count("\n", end, nxt)
        pos = nxt
        if body.startswith(",", pos):
            pos += 1
        elif not body.startswith("]", pos):
            found = body[pos : pos + 10] or "the end of the file"
            raise ElementError(
                f"invalid JSON: expected ',' or ']' after a record, found {found!r}",
                where=f"{source}:{line}",
            )


def _expect_end(body: str, pos: int, source: str) -> None:
    rest = body[pos:]
    if rest.strip():
        line = 1 + body.count("\n", 0, pos + len(rest) - len(rest.lstrip()))
        raise ElementError(
            f"invalid JSON: unexpected text after the element sets: {rest.strip()[:20]!r}",
            where=f"{source}:{line}",
        )


def _omm_value(fields: Mapping[str, Any], key: str, where: str) -> Any:
    value = fields.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if key in OMM_OPTIONAL_FIELDS:
            return OMM_OPTIONAL_FIELDS[key]
        raise ElementError(
            f"missing field {key}; an OMM record needs {', '.join(OMM_REQUIRED_FIELDS)}", where
        )
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ElementError(f"field {key}: expected a number or a text, got "
                           f"{type(value).__name__} {_short(value)}", where)
    return value.strip() if isinstance(value, str) else value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:45] + "..." + text[-10:]


def _omm_float(fields: Mapping[str, Any], key: str, where: str) -> float:
    value = _omm_value(fields, key, where)
    if isinstance(value, str) and not _OMM_NUMBER_RE.fullmatch(value):
        raise ElementError(f"field {key}: cannot read {_short(value)} as a number", where)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ElementError(f"field {key}: cannot read {_short(value)} as a number",
                           where) from None
    if not math.isfinite(number):
        raise ElementError(f"field {key}: {_short(value)} is not a finite number", where)
    return number


def _omm_int(fields: Mapping[str, Any], key: str, where: str) -> int:
    value = _omm_value(fields, key, where)
    number = _omm_float(fields, key, where)
    if number != int(number):
        raise ElementError(f"field {key}: {number!r} is not a whole number", where)
    low, high = _OMM_INT_RANGES[key]
    # exact for big integers given as JSON ints, which float() would round
    whole = value if isinstance(value, int) else int(number)
    if not low <= whole <= high:
        what = ("the Alpha-5 range an SGP4 element set can carry" if key == "NORAD_CAT_ID"
                else "the range a TLE can carry")
        raise ElementError(f"field {key}: {_short(value)} is outside {low} to {high} ({what})",
                           where)
    return whole


def _omm_epoch(fields: Mapping[str, Any], where: str) -> datetime:
    """EPOCH as a naive UTC `datetime`, read by the one time parser (`skyfence.timeutil`)."""
    text = str(_omm_value(fields, "EPOCH", where))
    try:
        epoch = parse_utc_datetime(text, "EPOCH", years=(1957, 2056),
                                   why="the years an SGP4 element set can carry")
    except InputError as exc:
        raise ElementError(f"field EPOCH: {exc.message}", where) from None
    return epoch.replace(tzinfo=None)


def _omm_record(fields: Mapping[str, Any], where: str) -> _Record:
    for key, allowed in (("MEAN_ELEMENT_THEORY", ("SGP4",)), ("REF_FRAME", ("TEME",)),
                         ("CENTER_NAME", ("EARTH",))):
        value = fields.get(key)
        if value not in (None, "") and str(value).strip().upper() not in allowed:
            raise ElementError(
                f"field {key} is {_short(value)}; skyfence propagates SGP4 mean elements, which "
                f"need {key} = {allowed[0]}", where,
            )
    norad_id = _omm_int(fields, "NORAD_CAT_ID", where)
    epoch = _omm_epoch(fields, where)
    clean: dict[str, Any] = {
        "NORAD_CAT_ID": norad_id,
        "EPOCH": epoch.strftime("%Y-%m-%dT%H:%M:%S.%f"),
    }
    for key in OMM_REQUIRED_FIELDS[2:]:
        clean[key] = _omm_float(fields, key, where)
    for key in ("EPHEMERIS_TYPE", "ELEMENT_SET_NO", "REV_AT_EPOCH"):
        clean[key] = _omm_int(fields, key, where)
    classification = str(_omm_value(fields, "CLASSIFICATION_TYPE", where)).upper()
    if classification not in ("U", "C", "S"):
        raise ElementError(
            f"field CLASSIFICATION_TYPE: {_short(classification)} is not one of U, C, S", where
        )
    clean["CLASSIFICATION_TYPE"] = classification
    object_id = str(_omm_value(fields, "OBJECT_ID", where))
    # sgp4.omm turns "2019-074A" into the TLE designator "19074A"; anything else is dropped.
    clean["OBJECT_ID"] = object_id if re.fullmatch(r"\d{4}-\d{3}[A-Z]{0,3}", object_id) else ""
    _check_ranges(
        ecc=clean["ECCENTRICITY"],
        inclination_deg=clean["INCLINATION"],
        angles_deg={
            "right ascension of the ascending node": (clean["RA_OF_ASC_NODE"], "RA_OF_ASC_NODE"),
            "argument of perigee": (clean["ARG_OF_PERICENTER"], "ARG_OF_PERICENTER"),
            "mean anomaly": (clean["MEAN_ANOMALY"], "MEAN_ANOMALY"),
        },
        mean_motion_rev_day=clean["MEAN_MOTION"],
        where=where,
        fields={"ecc": "ECCENTRICITY", "inclination": "INCLINATION",
                "mean motion": "MEAN_MOTION"},
    )
    sat = Satrec()
    try:
        sgp4_omm.initialize(sat, clean)
    except (ValueError, OverflowError, RuntimeError, KeyError) as exc:
        raise ElementError(f"SGP4 cannot initialise this element set: {exc}", where) from None
    _check_sgp4(sat, where)
    sat_name = _clean_sat_name(str(_omm_value(fields, "OBJECT_NAME", where)).strip(), where)
    return _Record(where, norad_id, sat_name or str(norad_id), sat)


# ---------------------------------------------------------------------------------------------
# Assembly: duplicates, report, Constellation


def _epoch_text(sat: Satrec) -> str:
    return sat_epoch_datetime(sat).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _assemble(
    records: list[_Record],
    skipped: list[tuple[str, str]],
    n_records: int,
    source: str,
    name: str | None,
) -> Constellation:
    kept: dict[int, int] = {}
    order: list[_Record | None] = []
    duplicates: list[tuple[int, str, str]] = []
    for rec in records:
        j = kept.get(rec.norad_id)
        if j is None:
            kept[rec.norad_id] = len(order)
            order.append(rec)
            continue
        old = order[j]
        assert old is not None
        old_epoch = old.satrec.jdsatepoch + old.satrec.jdsatepochF
        new_epoch = rec.satrec.jdsatepoch + rec.satrec.jdsatepochF
        if new_epoch > old_epoch:
            duplicates.append((rec.norad_id, _epoch_text(rec.satrec), _epoch_text(old.satrec)))
            order[j] = None
            kept[rec.norad_id] = len(order)
            order.append(rec)
        else:
            duplicates.append((rec.norad_id, _epoch_text(old.satrec), _epoch_text(rec.satrec)))
    final = [r for r in order if r is not None]
    report = ValidationReport(
        source=source,
        n_records=n_records,
        n_loaded=len(final),
        skipped=list(skipped),
        duplicates=duplicates,
    )
    return Constellation(
        satrecs=tuple(r.satrec for r in final),
        norad_ids=np.array([r.norad_id for r in final], dtype=np.int64),
        names=tuple(r.name for r in final),
        name=name if name is not None else source,
        report=report,
    )
