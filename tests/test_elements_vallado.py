"""Vallado's SGP4 verification vectors reproduced through skyfence's own path.

``SGP4-VER.TLE`` (the verification element sets, each line 2 followed by start, stop and step
in minutes) and ``tcppver.out`` (the positions and velocities Vallado's C++ code prints for
them) ship inside the ``sgp4`` package. Here each element set goes through skyfence's TLE parser
and validator and `skyfence.orbits.propagate.propagate` (frame TEME), one satellite per
constellation, at epoch + tsince for every time the file lists. As in python-sgp4's own test
(``sgp4/tests.py``, ``run_satellite_against_tcppver``): WGS-72 constants, the improved
operation mode ``'i'`` (Satrec.twoline2rv's default; AFSPC mode ``'a'`` does not reproduce the
file: it differs from line 315 on), and agreement within 2e-7 in the printed units (km, km/s).
Cases where SGP4 fails must come back as NaN rows with the error codes python-sgp4's test
expects, in the same order: [1, 1, 6, 6, 4, 3, 6]. The one element set SGP4 already flags at
its epoch (33334, error 3: tcppver.out prints no data for it) is rejected by the loader, with
SGP4's own text, and counts as its error 3.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
from sgp4.api import SGP4_ERRORS
from sgp4.io import fix_checksum

from skyfence.errors import ElementError
from skyfence.orbits.elements import parse_tle_text
from skyfence.orbits.propagate import SGP4_ERROR_MESSAGES, propagate

# python-sgp4's tolerance on tcppver.out's printed fields (sgp4/tests.py: ``error = 2e-7``).
TCPPVER_TOLERANCE_KM = 2e-7
TCPPVER_TOLERANCE_KM_S = 2e-7
EXPECTED_ERRORS = [1, 1, 6, 6, 4, 3, 6]
# Records of SGP4-VER.TLE built on purpose with wrong checksums (python-sgp4's test_tle_export:
# "33333: Checksum error as expected on both lines", 33334 on line 1, 33335 on line 1; its
# line-2 list holds 33333 and 33335).
BAD_CHECKSUM_LINE1 = {33333, 33334, 33335}
BAD_CHECKSUM_LINE2 = {33333, 33335}
# The element set SGP4 flags at its epoch (Satrec.error after initialisation), and its code.
REJECTED_AT_LOAD = {33334: 3}

_UNIX_EPOCH_JD = 2440587.5


def _read(name: str) -> str:
    return (files("sgp4") / name).read_text(encoding="ascii").replace("\r", "")


def _cases() -> list[tuple[int, str, str, tuple[float, float, float]]]:
    """(line number of line 1, line 1, line 2, (start, stop, step) minutes) per record."""
    lines = _read("SGP4-VER.TLE").splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("1 "):
            l1, l2 = line[:69], lines[i + 1]
            start, stop, step = (float(x) for x in l2[69:].split())
            out.append((i + 1, l1, l2[:69], (start, stop, step)))
    return out


def _tcppver_blocks() -> list[tuple[int, np.ndarray]]:
    """(catalogue number, rows of [tsince, x, y, z, vx, vy, vz]) per block of tcppver.out."""
    blocks: list[tuple[int, list[list[float]]]] = []
    for line in _read("tcppver.out").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] == "xx":
            blocks.append((int(fields[0]), []))
        elif fields:
            blocks[-1][1].append([float(f) for f in fields[:7]])
    return [(n, np.array(rows)) for n, rows in blocks]


def _schedule(start: float, stop: float, step: float) -> list[float]:
    """The tsince values Vallado's driver prints (python-sgp4's generate_satellite_output)."""
    times = [0.0]
    t = start
    while t <= stop:
        if not (t == start == 0.0):
            times.append(t)
        t += step
    if t - stop < step - 1e-6:
        times.append(stop)
    return times


def _times_utc(sat, tsince_min: list[float]) -> np.ndarray:
    """Epoch + tsince as datetime64[ns], exact to the nanosecond (no float day sums)."""
    assert sat.jdsatepoch % 1.0 == 0.5  # whole days start at midnight
    day_ns = round(sat.jdsatepoch - _UNIX_EPOCH_JD) * 86_400 * 10**9
    epoch_ns = day_ns + round(sat.jdsatepochF * 86_400e9)
    ns = np.array([epoch_ns + round(t * 60e9) for t in tsince_min], dtype=np.int64)
    return ns.astype("datetime64[ns]")


def _load_case(lineno: int, l1: str, l2: str):
    """One-satellite constellation through skyfence's parser (checksums fixed where needed)."""
    try:
        return parse_tle_text(f"{l1}\n{l2}\n", source=f"SGP4-VER.TLE:{lineno}")
    except ElementError as exc:
        assert "checksum error" in exc.message
        return parse_tle_text(f"{fix_checksum(l1)}\n{fix_checksum(l2)}\n")


def test_validator_flags_exactly_the_deliberate_checksum_errors() -> None:
    # The whole file through the parser: comment lines blanked (line numbers kept), the
    # start/stop/step columns cut off.
    text = "\n".join("" if ln.startswith("#") else ln[:69]
                      for ln in _read("SGP4-VER.TLE").splitlines())
    const = parse_tle_text(text, source="SGP4-VER.TLE", skip_invalid=True)
    cases = _cases()
    line_of = {lineno: int(l1[2:7]) for lineno, l1, _, _ in cases}
    assert const.report.n_records == len(cases) == 33
    assert all("checksum error on TLE line 1" in reason for _, reason in const.report.skipped)
    bad1 = {line_of[int(where.split(":")[1])] for where, _ in const.report.skipped}
    assert bad1 == BAD_CHECKSUM_LINE1
    # 20413 appears twice with the same epoch (two time spans): one is reported as duplicate.
    assert [d[0] for d in const.report.duplicates] == [20413]
    assert len(const) == 33 - 3 - 1
    bad2 = set()
    for _, l1, l2, _ in cases:
        try:
            parse_tle_text(f"{fix_checksum(l1)}\n{l2}\n", source="SGP4-VER.TLE")
        except ElementError as exc:
            if "SGP4 rejects" in exc.message:
                assert int(l1[2:7]) in REJECTED_AT_LOAD
                continue
            assert "checksum error on TLE line 2" in exc.message, exc
            assert exc.where == "SGP4-VER.TLE:2"
            bad2.add(int(l1[2:7]))
    assert bad2 == BAD_CHECKSUM_LINE2


def test_tcppver_reproduced_through_skyfence_propagate() -> None:
    cases = _cases()
    blocks = _tcppver_blocks()
    assert len(cases) == len(blocks) == 33
    errors: list[int] = []
    n_rows = 0
    for (lineno, l1, l2, span), (block_id, rows) in zip(cases, blocks, strict=True):
        if block_id in REJECTED_AT_LOAD:
            code = REJECTED_AT_LOAD[block_id]
            with pytest.raises(ElementError) as info:
                _load_case(lineno, l1, l2)
            assert info.value.message.startswith(
                f"SGP4 rejects this element set at its epoch: error {code}, {SGP4_ERRORS[code]}")
            assert info.value.where == "<string>:2"
            # tcppver.out then repeats the previous data line with tsince 0 (no new data).
            assert len(rows) == 1 and rows[0, 0] == 0.0
            errors.append(code)
            continue
        const = _load_case(lineno, l1, l2)
        (sat,) = const.satrecs
        assert const.norad_ids[0] == block_id == sat.satnum
        tsince = _schedule(*span)
        eph = propagate(const, _times_utc(sat, tsince), frame="TEME", velocity=True)
        assert eph.r_km.shape == (1, len(tsince), 3) and eph.frame == "TEME"
        code = eph.error_code[0]
        failed = np.flatnonzero(code != 0)
        n_ok = int(failed[0]) if failed.size else len(tsince)
        if failed.size:
            # A failure is NaN rows plus a documented SGP4 error code, never an exception.
            errors.append(int(code[n_ok]))
            assert int(code[n_ok]) in SGP4_ERROR_MESSAGES
            assert np.isnan(eph.r_km[0, n_ok]).all() and np.isnan(eph.v_km_s[0, n_ok]).all()
        assert n_ok > 0, block_id  # no element set fails at its epoch unless rejected above
        assert len(rows) == n_ok, (block_id, len(rows), n_ok)
        np.testing.assert_allclose(rows[:, 0], tsince[:n_ok], rtol=0, atol=1e-8)
        dr = np.abs(eph.r_km[0, :n_ok] - rows[:, 1:4]).max()
        dv = np.abs(eph.v_km_s[0, :n_ok] - rows[:, 4:7]).max()
        assert dr < TCPPVER_TOLERANCE_KM, (block_id, dr)
        assert dv < TCPPVER_TOLERANCE_KM_S, (block_id, dv)
        n_rows += n_ok
    assert errors == EXPECTED_ERRORS
    # 700 lines in tcppver.out: 33 headers, 1 placeholder line, and 666 data rows.
    assert n_rows == 666


@pytest.mark.parametrize("frame", ["TEME", "ITRS"])
def test_decayed_satellite_gives_nan_rows_not_an_exception(frame) -> None:
    # MINOTAUR R/B (28872): "Sub-orbital case - decayed 2005-11-29, lost in 50 minutes".
    (lineno, l1, l2, _), = [c for c in _cases() if c[1][2:7] == "28872"]
    const = _load_case(lineno, l1, l2)
    tsince = [0.0, 30.0, 50.0, 55.0, 60.0]
    eph = propagate(const, _times_utc(const.satrecs[0], tsince), frame=frame)
    # tcppver.out prints this satellite up to 50 min; from 55 min SGP4 reports decay (6).
    assert eph.error_code[0].tolist() == [0, 0, 0, 6, 6]
    assert np.isnan(eph.r_km[0, 3:]).all() and np.isfinite(eph.r_km[0, :3]).all()
