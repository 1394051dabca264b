"""SGP4 propagation of whole constellations to Earth-fixed (ITRS) positions.

Shape contract (as python-sgp4): positions are ``(n_sat, n_time, 3)`` in km; velocities
``(n_sat, n_time, 3)`` in km/s; error codes ``(n_sat, n_time)`` uint8 (0 = ok). A satellite
that fails (decayed, bad elements) gets NaN rows and its SGP4 error code, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sgp4 import api as sgp4_api

from ..earth import gmst82_rad, teme_to_itrs
from ..errors import PerformanceError
from ..timeutil import dut1_seconds, julian_date_utc
from .constellation import Constellation

__all__ = [
    "SGP4_ERROR_MESSAGES",
    "Ephemeris",
    "iter_ephemeris",
    "propagate",
    "require_accelerated",
]

#: SGP4 error codes (python-sgp4 documentation, "Errors").
SGP4_ERROR_MESSAGES = {
    0: "ok",
    1: "mean eccentricity is outside the range 0 <= e < 1",
    2: "mean motion has fallen below zero",
    3: "perturbed eccentricity is outside the range 0 <= e <= 1",
    4: "length of the orbit's semi-latus rectum has fallen below zero",
    5: "(no longer used)",
    6: "orbit has decayed: the computed position is underground",
}

_DEFAULT_CHUNK_BYTES = 256 * 2**20


def require_accelerated() -> None:
    """Raise `PerformanceError` unless sgp4's compiled C++ extension is in use."""
    if not sgp4_api.accelerated:
        raise PerformanceError(
            "sgp4 is running its pure-Python fallback (sgp4.api.accelerated is False), which is "
            "about 100x slower; install a binary wheel of sgp4 for this platform"
        )


@dataclass(frozen=True)
class Ephemeris:
    """Positions of ``n_sat`` satellites at ``n_time`` UTC times.

    Attributes
    ----------
    t_utc : datetime64[ns], shape (n_time,)
    r_km : float64, shape (n_sat, n_time, 3), frame given by ``frame`` ("ITRS" or "TEME")
    error_code : uint8, shape (n_sat, n_time); 0 = ok, else `SGP4_ERROR_MESSAGES`
    norad_ids : int64, shape (n_sat,)
    frame : str
    v_km_s : float64, shape (n_sat, n_time, 3) or None. In ITRS this is the velocity relative
        to the rotating Earth.
    """

    t_utc: np.ndarray
    r_km: np.ndarray
    error_code: np.ndarray
    norad_ids: np.ndarray
    frame: str = "ITRS"
    v_km_s: np.ndarray | None = None

    @property
    def ok(self) -> np.ndarray:
        """Boolean ``(n_sat, n_time)``: True where SGP4 succeeded."""
        return self.error_code == 0


def propagate(
    constellation: Constellation,
    t_utc: np.ndarray,
    *,
    frame: str = "ITRS",
    velocity: bool = False,
) -> Ephemeris:
    """Propagate every satellite to every time in one call.

    Parameters
    ----------
    constellation : Constellation
    t_utc : datetime64 array, shape (n_time,)
    frame : {"ITRS", "TEME"}
        ITRS (Earth-fixed) uses UT1 from skyfield's bundled IERS table and GMST 1982.
    velocity : bool
        Also return velocities (km/s). In ITRS, relative to the rotating Earth.

    Returns
    -------
    Ephemeris with ``r_km`` of shape ``(n_sat, n_time, 3)``.
    """
    require_accelerated()
    frame = frame.upper()
    if frame not in ("ITRS", "TEME"):
        raise ValueError(f"frame must be 'ITRS' or 'TEME', got {frame!r}")
    t = np.atleast_1d(np.asarray(t_utc, dtype="datetime64[ns]"))
    n_sat, n_time = len(constellation), t.size
    if n_sat == 0 or n_time == 0:
        empty = np.zeros((n_sat, n_time, 3))
        return Ephemeris(
            t, empty, np.zeros((n_sat, n_time), np.uint8), constellation.norad_ids, frame,
            empty.copy() if velocity else None,
        )
    jd, fr = julian_date_utc(t)
    err, r, v = constellation.satrec_array.sgp4(jd, fr)
    bad = err != 0
    if bad.any():
        r[bad] = np.nan
        v[bad] = np.nan
    if frame == "ITRS":
        fr_ut1 = fr + dut1_seconds(t) / 86400.0
        r_out = teme_to_itrs(r, jd, fr_ut1)
        v_out = None
        if velocity:
            # v_ITRS = R v_TEME - omega x r_ITRS (GMST rate, rad/s; Vallado eq. 3-80).
            v_rot = teme_to_itrs(v, jd, fr_ut1)
            omega = _gmst_rate_rad_s(jd, fr_ut1)
            v_out = v_rot.copy()
            v_out[..., 0] += omega * r_out[..., 1]
            v_out[..., 1] -= omega * r_out[..., 0]
        return Ephemeris(t, r_out, err, constellation.norad_ids, "ITRS", v_out)
    return Ephemeris(t, r, err, constellation.norad_ids, "TEME", v if velocity else None)


def _gmst_rate_rad_s(jd: np.ndarray, fr: np.ndarray) -> np.ndarray:
    """Rate of GMST 1982 (rad/s), by a one-second finite difference (exact to ~1e-15)."""
    d = 1.0 / 86400.0
    delta = (gmst82_rad(jd, fr + d) - gmst82_rad(jd, fr)) % (2.0 * np.pi)
    return delta


def chunk_length(n_sat: int, max_bytes: int = _DEFAULT_CHUNK_BYTES, velocity: bool = False) -> int:
    """Number of time steps per chunk so one chunk's arrays stay under ``max_bytes``."""
    per_step = max(n_sat, 1) * (3 * 8 * (4 if velocity else 2) + 1)
    return max(1, int(max_bytes // per_step))


def iter_ephemeris(
    constellation: Constellation,
    t_utc: np.ndarray,
    *,
    chunk_size: int | None = None,
    max_bytes: int = _DEFAULT_CHUNK_BYTES,
    frame: str = "ITRS",
    velocity: bool = False,
) -> Iterator[Ephemeris]:
    """Yield `Ephemeris` chunks over consecutive slices of ``t_utc`` (bounded memory).

    ``chunk_size`` time steps per chunk, or as many as fit in ``max_bytes``.
    """
    t = np.atleast_1d(np.asarray(t_utc, dtype="datetime64[ns]"))
    step = chunk_size or chunk_length(len(constellation), max_bytes, velocity)
    if step <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
    for i in range(0, t.size, step):
        yield propagate(constellation, t[i : i + step], frame=frame, velocity=velocity)
