"""Time parsing and time scales.

Times inside skyfence are UTC as ``numpy.datetime64[ns]`` (``t_utc``). SGP4 takes UTC Julian
dates split into a whole part and a fraction (``jd``, ``fr``); Earth rotation needs UT1, taken
from skyfield's bundled IERS tables (UT1 - UTC is up to 0.9 s, about 400 m at the equator).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from .errors import InputError

__all__ = [
    "dut1_seconds",
    "julian_date_utc",
    "parse_duration",
    "parse_time",
    "time_grid",
]

_UNIX_EPOCH_JD = 2440587.5
_NS_PER_DAY = 86_400 * 10**9
_DURATION_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h|d)?\s*$", re.IGNORECASE)


def parse_time(value: str | datetime | np.datetime64, field: str = "time") -> np.datetime64:
    """Parse an ISO-8601 UTC time (``2022-09-01T12:00:00Z``) into ``datetime64[ns]``.

    A time zone offset other than UTC is converted to UTC. Raises `InputError` naming ``field``.
    """
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[ns]")
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"cannot read time {value!r}; expected ISO 8601 such as 2022-09-01T12:00:00Z",
                field,
            ) from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(dt.isoformat(), "ns")


def parse_duration(value: str | float | int, field: str = "duration") -> float:
    """Parse a duration such as ``"10m"``, ``"60s"``, ``"1.5h"``, ``"1d"`` or a number of seconds.

    Returns seconds (float). Raises `InputError` for unreadable or negative values.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise InputError(
                f"cannot read duration {value!r}; use a number and a unit: 500ms, 60s, 10m, 2h, 1d",
                field,
            )
        seconds = float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    if not np.isfinite(seconds) or seconds < 0:
        raise InputError(f"duration must be a finite number >= 0 s, got {value!r}", field)
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
