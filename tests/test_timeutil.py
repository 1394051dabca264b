"""Time parsing, grids and time scales."""

from __future__ import annotations

import numpy as np
import pytest
from skyfield.api import load

from skyfence.errors import InputError
from skyfence.timeutil import dut1_seconds, julian_date_utc, parse_duration, parse_time, time_grid


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60.0), ("10m", 600.0), ("1.5h", 5400.0), ("1d", 86400.0), ("500ms", 0.5), (15, 15.0)],
)
def test_parse_duration(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "10 parsecs", "-5s", ""])
def test_bad_duration(text) -> None:
    with pytest.raises(InputError, match="duration"):
        parse_duration(text)


def test_parse_time_zones() -> None:
    assert parse_time("2022-09-01T12:00:00Z") == np.datetime64("2022-09-01T12:00:00", "ns")
    assert parse_time("2022-09-01T14:00:00+02:00") == np.datetime64("2022-09-01T12:00:00", "ns")
    with pytest.raises(InputError, match="--start: cannot read time"):
        parse_time("yesterday", "--start")


def test_time_grid_inclusive_and_bad_step() -> None:
    t = time_grid("2026-01-01T00:00:00Z", 600, 60)
    assert t.size == 11 and t[-1] == np.datetime64("2026-01-01T00:10:00", "ns")
    with pytest.raises(InputError, match="step must be > 0"):
        time_grid("2026-01-01T00:00:00Z", 600, 0)


def test_julian_date_and_dut1_against_skyfield() -> None:
    ts = load.timescale(builtin=True)
    t = time_grid("2023-05-29T00:00:00Z", 3 * 86400, 7777)
    jd, fr = julian_date_utc(t)
    assert np.all(jd % 1.0 == 0.5) and np.all((fr >= 0) & (fr < 1))
    secs = (t - np.datetime64("2023-05-29T00:00:00", "ns")).astype(np.int64) / 1e9
    # 2023-05-29 00:00 UTC is JD 2460093.5 (USNO Julian date converter).
    assert (jd - 2460093.5) * 86400 + fr * 86400 == pytest.approx(secs, abs=1e-6)
    ref = ts.utc(2023, 5, 29, 0, 0, secs)
    assert np.abs(dut1_seconds(t) - ref.dut1).max() < 1e-6
