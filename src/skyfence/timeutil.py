"""Time parsing and time scales.

Times inside skyfence are UTC as ``numpy.datetime64[ns]`` (``t_utc``). SGP4 takes UTC Julian
dates split into a whole part and a fraction (``jd``, ``fr``); Earth rotation needs UT1, taken
from skyfield's bundled IERS tables (UT1 - UTC is up to 0.9 s, about 400 m at the equator).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "DATETIME64_MAX",
    "DATETIME64_MIN",
    "dut1_seconds",
    "format_utc",
    "format_utc_array",
    "julian_date_utc",
    "parse_duration",
    "parse_time",
    "parse_time_array",
    "parse_utc_datetime",
    "time_grid",
]

_UNIX_EPOCH_JD = 2440587.5
_NS_PER_DAY = 86_400 * 10**9
#: Seconds per duration unit (``m`` is minutes, as in ``10m``; months are not durations).
_DURATION_UNITS = {
    "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0,
    "seconds": 1.0, "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0, "w": 604800.0, "week": 604800.0,
    "weeks": 604800.0,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TERM = re.compile(rf"\s*({_NUMBER})\s*([a-zA-Z]*)\s*")
_ISO_DURATION = re.compile(
    rf"^P(?:({_NUMBER})W)?(?:({_NUMBER})D)?(?:T(?:({_NUMBER})H)?(?:({_NUMBER})M)?"
    rf"(?:({_NUMBER})S)?)?$", re.IGNORECASE)
_MAX_TEXT = 64
#: Range of ``datetime64[ns]`` (the internal time type), as aware datetimes.
DATETIME64_MIN = datetime(1678, 1, 1, tzinfo=UTC)
DATETIME64_MAX = datetime(2262, 1, 1, tzinfo=UTC)
_EXAMPLE_TIME = "2022-09-01T12:00:00Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = (DATETIME64_MIN - _EPOCH) // timedelta(microseconds=1)
_MAX_US = (DATETIME64_MAX - _EPOCH) // timedelta(microseconds=1)
_FRACTION = re.compile(r"[T ]\d\d:\d\d:\d\d[.,](\d+)")


def _time_error(value: Any, field: str, why: str = "") -> InputError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return InputError(f"cannot read time {shown}{why}; expected ISO 8601 UTC such as "
                      f"{_EXAMPLE_TIME}", field)


def _instant_text(dt: datetime) -> str:
    """ISO text of an aware `datetime` of any year (for messages about out-of-range times)."""
    frac = f".{dt.microsecond:06d}".rstrip("0") if dt.microsecond else ""
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt:%H:%M:%S}{frac}Z"


def parse_utc_datetime(value: Any, field: str = "time", *,
                       years: tuple[int, int] | None = None, why: str = "") -> datetime:
    """The one reader of instants: ISO-8601 text, `datetime`, `date` or ``datetime64`` -> UTC.

    Text: ``2022-09-01T12:00:00Z``, an offset (``+02:00``, converted to UTC), a space
    instead of ``T``, or a date alone (``2022-09-01`` = midnight UTC). A naive `datetime`
    or text without an offset is taken as UTC; a `date` is midnight UTC. Returns an aware
    `datetime` in UTC (microsecond precision). Raises `InputError` naming ``field`` for
    anything else: other types (numbers, booleans), NaT, blank or overlong text, and
    instants outside 1678-2261 (the range of ``datetime64[ns]``).

    ``years = (first, last)`` narrows the accepted range to those calendar years
    (inclusive); an instant outside them is refused as ``"... is outside first-last, why"``.
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise _time_error(value, field, " (NaT)")
        # Through microseconds (range +-290,000 years): a direct cast to ns overflows silently.
        us = int(value.astype("datetime64[us]").astype(np.int64))
        if not _MIN_US <= us < _MAX_US:
            raise _time_error(value, field, " (outside 1678-2261)")
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    elif isinstance(value, datetime):
        try:
            dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            dt = dt.astimezone(UTC)
        except OverflowError:  # an offset pushing year 1 or 9999 out of the calendar
            raise _time_error(value, field, " (outside 1678-2261)") from None
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_TEXT or not text.isascii() or not text.isprintable():
            raise _time_error(value, field)
        if text[-1] in "Zz":
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
            dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        except (ValueError, OverflowError):
            raise _time_error(value, field) from None
    else:
        raise _time_error(value, field, f" (a {type(value).__name__})")
    if years is not None and not years[0] <= dt.year <= years[1]:
        raise InputError(f"{_instant_text(dt)} is outside {years[0]}-{years[1]}"
                         + (f", {why}" if why else ""), field)
    if not DATETIME64_MIN <= dt < DATETIME64_MAX:
        raise _time_error(value, field, " (outside 1678-2261)")
    return dt


def parse_time(value: Any, field: str = "time") -> np.datetime64:
    """Parse an instant into UTC ``datetime64[ns]``; see `parse_utc_datetime` for the forms.

    A ``datetime64`` keeps its full (nanosecond) precision. Raises `InputError` naming
    ``field``.

    >>> parse_time("2022-09-01T14:00:00+02:00")
    np.datetime64('2022-09-01T12:00:00.000000000')
    """
    if isinstance(value, np.datetime64) and not np.isnat(value):
        parse_utc_datetime(value, field)  # range check
        return value.astype("datetime64[ns]")
    dt = parse_utc_datetime(value, field)
    t = np.datetime64(dt.replace(tzinfo=None).isoformat(), "ns")
    if isinstance(value, str):
        frac = _FRACTION.search(value)
        if frac is not None and len(frac.group(1)) > 6:  # datetime keeps microseconds only
            digits = frac.group(1)[6:9].ljust(3, "0")
            t = t + np.timedelta64(int(digits), "ns")
    return t


def parse_time_array(values: Any, field: str = "t_utc") -> np.ndarray:
    """Parse one instant or many into a 1-D UTC ``datetime64[ns]`` array.

    A ``datetime64`` array is checked as a whole (no NaT, within 1678-2261, full precision
    kept); anything else is read element by element with `parse_time`. Raises `InputError`
    naming ``field`` (and the index of the first bad element: ``t_utc[3]``).
    """
    arr = np.atleast_1d(np.asarray(values)).ravel()
    if np.issubdtype(arr.dtype, np.datetime64):
        if arr.size == 0:
            return arr.astype("datetime64[ns]")
        nat = np.isnat(arr)
        if nat.any():
            i = int(np.flatnonzero(nat)[0])
            raise _time_error(arr[i], f"{field}[{i}]", " (NaT)")
        # Compare in the array's own unit (a cast to ns would overflow silently out of range).
        unit = np.datetime_data(arr.dtype)[0]
        lo = np.datetime64(DATETIME64_MIN.replace(tzinfo=None), "us")
        hi = np.datetime64(DATETIME64_MAX.replace(tzinfo=None), "us")
        if unit not in ("ps", "fs", "as"):
            lo, hi = lo.astype(arr.dtype), hi.astype(arr.dtype)
            bad = (arr < lo) | (arr >= hi)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise _time_error(arr[i], f"{field}[{i}]", " (outside 1678-2261)")
        return arr.astype("datetime64[ns]")
    if arr.size == 1:
        return np.array([parse_time(arr[0].item() if isinstance(arr[0], np.generic)
                                    else arr[0], field)], dtype="datetime64[ns]")
    return np.array([parse_time(v.item() if isinstance(v, np.generic) else v, f"{field}[{i}]")
                     for i, v in enumerate(arr)], dtype="datetime64[ns]")


def format_utc(value: Any) -> str:
    """ISO-8601 UTC text with a ``Z``: ``2022-09-01T12:00:00Z`` (fractions only when non-zero).

    Takes anything `parse_time` reads; ``datetime64`` keeps up to nanoseconds.
    """
    t = parse_time(value)
    ns = int(t.astype(np.int64)) % 1_000_000_000
    unit = "s" if ns == 0 else "ms" if ns % 1_000_000 == 0 else "us" if ns % 1000 == 0 \
        else "ns"
    return str(np.datetime_as_string(t, unit=unit)) + "Z"  # type: ignore[call-overload]


def format_utc_array(t_utc: Any, unit: str = "s") -> np.ndarray:
    """ISO-8601 UTC strings with ``Z`` for an array of ``datetime64`` (``unit``: s, ms, us, ns).

    For CSV columns: one fixed precision per column. NaT becomes ``""``.
    """
    arr = np.asarray(t_utc, dtype="datetime64[ns]")
    text = np.char.add(np.datetime_as_string(arr, unit=unit), "Z")  # type: ignore[call-overload]
    return np.where(np.isnat(arr), "", text)


def _duration_error(value: Any, field: str) -> InputError:
    return InputError(f"cannot read duration {value!r}; use a number and a unit: 500ms, 60s, "
                      "10m, 2h, 1d, 1h30m (or ISO 8601 such as PT1H30M)", field)


def parse_duration(value: str | float | int, field: str = "duration", *,
                   max_s: float | None = None) -> float:
    """The one reader of durations -> seconds (float).

    Forms: a number of seconds (``15``, ``"15"``), a number and a unit (``500ms``, ``60s``,
    ``10m`` or ``10min``, ``1.5h``, ``1d``, ``2w``; ``us`` for microseconds), several such
    terms (``1h30m``, ``1 d 6 h``), or ISO 8601 (``PT1H30M``, ``P1D``). ``m`` is minutes.
    Raises `InputError` naming ``field`` for unreadable, negative or non-finite values and,
    with ``max_s``, for durations above it.
    """
    if isinstance(value, bool):
        raise _duration_error(value, field)
    if isinstance(value, (int, float, np.integer, np.floating)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_TEXT:
            raise _duration_error(value, field)
        iso = _ISO_DURATION.match(text)
        if iso and any(iso.groups()):
            w, d, h, m, sec = (float(g) if g else 0.0 for g in iso.groups())
            seconds = w * 604800.0 + d * 86400.0 + h * 3600.0 + m * 60.0 + sec
        else:
            seconds, pos, last = 0.0, 0, math.inf
            while pos < len(text):
                term = _TERM.match(text, pos)
                if term is None or term.end() == pos:
                    raise _duration_error(value, field)
                unit = term.group(2).lower() or ("s" if pos == 0 else "")
                if unit not in _DURATION_UNITS or (pos > 0 and not term.group(2)):
                    raise _duration_error(value, field)
                scale = _DURATION_UNITS[unit]
                if scale >= last:  # "1m2h" or "1s1s": units must decrease
                    raise _duration_error(value, field)
                last = scale
                seconds += float(term.group(1)) * scale
                pos = term.end()
            if pos == 0:
                raise _duration_error(value, field)
    else:
        raise _duration_error(value, field)
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"duration must be a finite number >= 0 s, got {value!r}", field)
    if max_s is not None and seconds > max_s:
        raise InputError(f"duration {value!r} is {seconds:g} s, above the limit of {max_s:g} s",
                         field)
    return seconds


def time_grid(
    start: str | np.datetime64 | datetime, duration_s: float, step_s: float
) -> np.ndarray:
    """Regular UTC grid ``start, start+step, ...`` up to and including ``start+duration``.

    Returns ``datetime64[ns]`` of length ``floor(duration/step) + 1``. ``step_s`` must be > 0.
    """
    if not np.isfinite(step_s) or step_s <= 0:
        raise InputError(f"step must be > 0 s, got {step_s!r}", "step")
    if not np.isfinite(duration_s) or duration_s < 0:
        raise InputError(f"duration must be >= 0 s, got {duration_s!r}", "duration")
    t0 = parse_time(start) if not isinstance(start, np.datetime64) else start.astype("M8[ns]")
    n = int(np.floor(duration_s / step_s + 1e-9)) + 1
    step_ns = np.int64(round(step_s * 1e9))
    return t0 + (np.arange(n, dtype=np.int64) * step_ns).astype("timedelta64[ns]")


def julian_date_utc(t_utc: np.ndarray | np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """Split UTC Julian dates ``(jd, fr)`` for ``datetime64`` input, exact to the nanosecond.

    ``jd`` holds whole days ending in .5 and ``fr`` the fraction of a day in [0, 1).
    """
    ns = np.asarray(t_utc, dtype="datetime64[ns]").astype(np.int64)
    days, rem = np.divmod(ns, _NS_PER_DAY)
    jd = days.astype(np.float64) + _UNIX_EPOCH_JD
    fr = rem.astype(np.float64) / _NS_PER_DAY
    return jd, fr


@lru_cache(maxsize=1)
def _timescale():
    from skyfield.api import load

    return load.timescale(builtin=True)


def dut1_seconds(t_utc: np.ndarray | np.datetime64) -> np.ndarray:
    """UT1 - UTC in seconds for each UTC time, from skyfield's bundled IERS table."""
    ns = np.atleast_1d(np.asarray(t_utc, dtype="datetime64[ns]")).astype(np.int64)
    ts = _timescale()
    jd, fr = julian_date_utc(ns.astype("datetime64[ns]"))
    days = (jd - 2451544.5) + fr
    t = ts.utc(2000, 1, 1 + np.floor(days).astype(np.int64), 0, 0, (days % 1.0) * 86400.0)
    return np.asarray(t.dut1, dtype=np.float64).reshape(np.shape(ns))
