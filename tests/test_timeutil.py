"""Time parsing, grids and time scales."""

from __future__ import annotations

import numpy as np
import pytest
from skyfield.api import load

from skyfence.errors import InputError
from skyfence.timeutil import (
    dut1_seconds,
    format_utc,
    format_utc_array,
    julian_date_utc,
    parse_duration,
    parse_time,
    parse_utc_datetime,
    time_grid,
)


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


@pytest.mark.parametrize(("text", "seconds"), [
    ("1h30m", 5400.0), ("1 d 6 h", 108000.0), ("10min", 600.0), ("2w", 1_209_600.0),
    ("PT1H30M", 5400.0), ("P1D", 86400.0), ("PT0.5S", 0.5), ("P1DT12H", 129600.0),
    ("250us", 250e-6), ("90", 90.0), ("1.5e3s", 1500.0), (" 60 s ", 60.0),
])
def test_parse_duration_compound_and_iso(text, seconds) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("value", ["1m2h", "1s1s", "5 5", "h", "P", "PT", "nan", "inf",
                                   "1h 30", "1e400s", True, None, "1" * 100])
def test_parse_duration_refuses(value) -> None:
    with pytest.raises(InputError, match=r"--step: (cannot read duration|duration must)"):
        parse_duration(value, "--step")


def test_parse_duration_limit() -> None:
    assert parse_duration("1d", max_s=86400) == 86400.0
    with pytest.raises(InputError, match=r"--duration: duration '100y'|above the limit"):
        parse_duration("101d", "--duration", max_s=100 * 86400)


def test_parse_time_forms_and_precision() -> None:
    from datetime import UTC, date, datetime, timedelta, timezone

    ref = np.datetime64("2022-09-01T12:00:00", "ns")
    assert parse_time("2022-09-01 12:00") == ref
    assert parse_time("2022-09-01T12:00:00z") == ref
    assert parse_time(datetime(2022, 9, 1, 12)) == ref  # naive = UTC
    assert parse_time(datetime(2022, 9, 1, 15, tzinfo=timezone(timedelta(hours=3)))) == ref
    assert parse_time(date(2022, 9, 1)) == np.datetime64("2022-09-01", "ns")
    assert parse_time("2022-09-01") == np.datetime64("2022-09-01", "ns")
    # Nanoseconds survive text and datetime64 input (datetime holds microseconds only).
    ns = np.datetime64("2022-09-01T12:00:00.123456789", "ns")
    assert parse_time("2022-09-01T12:00:00.123456789Z") == ns and parse_time(ns) == ns
    assert parse_utc_datetime("2022-09-01T14:00:00+02:00") == datetime(2022, 9, 1, 12,
                                                                       tzinfo=UTC)


@pytest.mark.parametrize("value, why", [
    ("2300-01-01", "outside 1678-2261"), (np.datetime64("2500-01-01", "D"), "outside"),
    (np.datetime64("NaT"), "NaT"), (1.5e9, "a float"), (True, "a bool"), ("", ""),
    ("2022-13-01", ""), ("2022-09-01T12:00:00\x00", ""), ("x" * 200, ""),
])
def test_parse_time_refuses(value, why) -> None:
    with pytest.raises(InputError, match=r"--at: cannot read time .*" + why):
        parse_time(value, "--at")


def test_format_utc_round_trips() -> None:
    for text in ("2022-09-01T12:00:00Z", "2022-09-01T12:00:00.500Z",
                 "2022-09-01T12:00:00.000001Z", "2022-09-01T12:00:00.123456789Z"):
        assert format_utc(text) == text and parse_time(format_utc(text)) == parse_time(text)
    t = parse_time("2022-09-01") + np.array([0, 1500], "timedelta64[ms]")
    assert format_utc_array(t).tolist() == ["2022-09-01T00:00:00Z", "2022-09-01T00:00:01Z"]
    assert format_utc_array(t, "ms").tolist()[1] == "2022-09-01T00:00:01.500Z"
    assert format_utc_array(np.array(["NaT"], "datetime64[ns]")).tolist() == [""]


def test_parse_time_array_forms_and_errors() -> None:
    from datetime import UTC, datetime

    from skyfence.timeutil import parse_time_array

    ref = np.array(["2022-09-01T12:00:00", "2022-09-01T12:00:01.5"], "datetime64[ns]")
    # text, aware datetimes, a datetime64 array of another unit: one datetime64[ns] 1-D array
    assert (parse_time_array(["2022-09-01T12:00:00Z", "2022-09-01T14:00:01.5+02:00"]) == ref
            ).all()
    assert (parse_time_array([datetime(2022, 9, 1, 12, tzinfo=UTC)]) == ref[:1]).all()
    assert parse_time_array(ref.astype("datetime64[ms]")).dtype == np.dtype("datetime64[ns]")
    assert parse_time_array("2022-09-01T12:00:00Z").shape == (1,)
    assert parse_time_array(np.zeros(0, "datetime64[s]")).size == 0
    # the first bad element is named; a day-unit date beyond 2261 is caught before any cast
    # to ns could wrap around silently
    with pytest.raises(InputError, match=r"t_utc\[1\]: cannot read time 'soon'"):
        parse_time_array(["2022-09-01", "soon"])
    with pytest.raises(InputError, match=r"t_utc\[1\]: .*NaT"):
        parse_time_array(np.array(["2022-09-01", "NaT"], "datetime64[s]"))
    with pytest.raises(InputError, match=r"t_utc\[0\]: .*outside 1678-2261"):
        parse_time_array(np.array(["3000-01-01"], "datetime64[D]"))


def test_parse_utc_datetime_year_bounds() -> None:
    from datetime import datetime

    kw = {"years": (1957, 2056), "why": "the years an SGP4 element set can carry"}
    assert parse_utc_datetime("2056-12-31T23:59:59Z", "EPOCH", **kw).year == 2056
    # inside the general range but outside the bounds, and far beyond it (year 9999): the
    # bounds' message, with the instant as ISO text
    for text in ("1956-12-31T23:59:59Z", "9999-12-31T00:00:00Z"):
        with pytest.raises(InputError, match=rf"EPOCH: {text} is outside 1957-2056, the years"):
            parse_utc_datetime(text, "EPOCH", **kw)
    with pytest.raises(InputError, match="outside 1957-2056"):
        parse_utc_datetime(datetime(2100, 1, 1), "at", years=(1957, 2056))
    # an offset that pushes an instant off the calendar is an error, not an OverflowError
    with pytest.raises(InputError, match="cannot read time"):
        parse_utc_datetime("0001-01-01T00:00:00+01:00")
