"""SGP4 propagation of whole constellations to Earth-fixed (ITRS) positions.

Shape contract (as python-sgp4): positions are ``(n_sat, n_time, 3)`` in km; velocities
``(n_sat, n_time, 3)`` in km/s; error codes ``(n_sat, n_time)`` uint8 (0 = ok). A satellite
that fails gets NaN rows and an error code, never an exception.

Error codes (`ERROR_MESSAGES`): 1-6 are SGP4's own (their texts come from
``sgp4.api.SGP4_ERRORS``); 7 (`NOT_PHYSICAL`) is skyfence's: SGP4 returned a state with error 0
that no Earth satellite can have. Far from an element set's epoch SGP4's drag polynomial runs
away: 2026 Starlink elements propagated to 1950 give |r| of 1e15 to 1e23 km with error 0. A
state is flagged 7 when

* a position or velocity component is not finite, or
* it is not a bound Earth orbit: specific energy ``v^2/2 - mu/|r| >= 0``, or ``|r|`` beyond
  Earth's Hill sphere (`HILL_RADIUS_KM`), or
* its osculating semi-major axis ``a = -mu / (2 energy)`` exceeds `MAX_SMA_GROWTH` times the
  element set's mean semi-major axis at epoch. SGP4 models no thrust; its only secular change
  of ``a`` is drag, which lowers the orbit forward in time; a doubling of the orbit's size is
  the polynomial extrapolated past validity, not physics. (Short-period terms move the
  osculating ``a`` by well under 1 % for LEO; Vallado's verification set, including the
  e = 0.995 case, stays below 1.54.)

States below the Earth's surface are SGP4's own error 6. How many satellites and time steps
failed is in `Ephemeris.health` / `ephemeris_health`; `check_ephemeris` raises when no usable
state is left (a meaningless result), for the engine to call on each chunk or on the merged
health of all chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from sgp4 import api as sgp4_api
from sgp4.api import SGP4_ERRORS

from ..earth import gmst82_rad, teme_to_itrs
from ..errors import ElementError, InputError, PerformanceError
from ..timeutil import dut1_seconds, julian_date_utc
from .constellation import Constellation

__all__ = [
    "ERROR_MESSAGES",
    "HILL_RADIUS_KM",
    "MAX_SMA_GROWTH",
    "NOT_PHYSICAL",
    "SGP4_ERROR_MESSAGES",
    "Ephemeris",
    "PropagationHealth",
    "check_ephemeris",
    "ephemeris_health",
    "iter_ephemeris",
    "not_physical",
    "propagate",
    "require_accelerated",
]

#: skyfence's error code for a state SGP4 returned with error 0 that is not physical.
NOT_PHYSICAL = 7
#: Error code -> text: 0 ok, 1-6 SGP4's own (``sgp4.api.SGP4_ERRORS``), 7 `NOT_PHYSICAL`.
ERROR_MESSAGES: dict[int, str] = {
    0: "ok",
    **SGP4_ERRORS,
    NOT_PHYSICAL: "state not physical for an Earth satellite: the time is too far from the "
                  "elements' epoch",
}
#: Former name of `ERROR_MESSAGES`.
SGP4_ERROR_MESSAGES = ERROR_MESSAGES
#: Radius of Earth's Hill sphere (km): a (m_earth / (3 m_sun))^(1/3) with a = 1 au
#: = 1.496e8 km and m_earth / m_sun = 3.003e-6 gives 1.50e6 km. No Earth satellite is beyond.
HILL_RADIUS_KM = 1.5e6
#: Largest osculating / epoch mean semi-major axis ratio accepted as physical (see above).
MAX_SMA_GROWTH = 2.0


def not_physical(r_km: np.ndarray, v_km_s: np.ndarray, a_epoch_km: np.ndarray,
                 mu_km3_s2: np.ndarray | float) -> np.ndarray:
    """Boolean mask of states that are not physical (rules in the module docstring).

    ``r_km``, ``v_km_s``: (..., 3) TEME (or any inertial frame); ``a_epoch_km`` and
    ``mu_km3_s2`` broadcast against the leading axes (one per satellite: shape (n_sat, 1)).
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x, y, z = r_km[..., 0], r_km[..., 1], r_km[..., 2]
        r = np.sqrt(x * x + y * y + z * z)
        vx, vy, vz = v_km_s[..., 0], v_km_s[..., 1], v_km_s[..., 2]
        v2 = vx * vx + vy * vy + vz * vz
        # bound with a = -mu / (2 energy) <= growth * a_epoch  <=>  (with energy < 0)
        # energy <= -mu / (2 growth a_epoch); NaN compares False, so non-finite states fail
        energy = 0.5 * v2 - mu_km3_s2 / r
        limit = -mu_km3_s2 / (2.0 * MAX_SMA_GROWTH * a_epoch_km)
        ok = (energy <= limit) & (r <= HILL_RADIUS_KM) & (r > 0) & np.isfinite(v2)
    return ~ok


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
    error_code : uint8, shape (n_sat, n_time); 0 = ok, else `ERROR_MESSAGES`
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

    def health(self) -> PropagationHealth:
        """Counts of failed satellites and states (see `PropagationHealth`)."""
        return ephemeris_health(self)


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
    Ephemeris with ``r_km`` of shape ``(n_sat, n_time, 3)``. Failed states (SGP4 errors 1-6
    and `NOT_PHYSICAL`) are NaN rows with their code in ``error_code``; count them with
    ``.health()``.
    """
    require_accelerated()
    frame = frame.upper()
    if frame not in ("ITRS", "TEME"):
        raise InputError(f"frame must be 'ITRS' or 'TEME', got {frame!r}", "frame")
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
    suspect = (err == 0) & not_physical(r, v, constellation.semi_major_axis_km[:, None],
                                        constellation.mu_km3_s2[:, None])
    err[suspect] = NOT_PHYSICAL
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
        raise InputError(f"chunk_size must be > 0, got {chunk_size}", "chunk_size")
    for i in range(0, t.size, step):
        yield propagate(constellation, t[i : i + step], frame=frame, velocity=velocity)


# ---------------------------------------------------------------------------------------------
# health: how many satellites and states failed


@dataclass
class PropagationHealth:
    """Failed states of a propagation, per satellite and per error code; merge over chunks.

    Attributes
    ----------
    norad_ids : int64, shape (n_sat,)
    ok_steps, failed_steps : int64, shape (n_sat,)
        Time steps with a usable state / with an error, per satellite.
    by_code : dict
        Failed states per error code (keys of `ERROR_MESSAGES`).
    """

    norad_ids: np.ndarray
    ok_steps: np.ndarray
    failed_steps: np.ndarray
    by_code: dict[int, int] = field(default_factory=dict)

    @property
    def n_sat(self) -> int:
        """Satellites propagated."""
        return int(self.norad_ids.size)

    @property
    def n_states(self) -> int:
        """Satellite x time states propagated."""
        return int(self.ok_steps.sum() + self.failed_steps.sum())

    @property
    def n_failed_states(self) -> int:
        """States with an error code."""
        return int(self.failed_steps.sum())

    @property
    def n_failed_satellites(self) -> int:
        """Satellites with at least one failed state."""
        return int((self.failed_steps > 0).sum())

    @property
    def n_dead_satellites(self) -> int:
        """Satellites with no usable state at all."""
        return int(((self.failed_steps > 0) & (self.ok_steps == 0)).sum())

    @property
    def n_usable_satellites(self) -> int:
        """Satellites with at least one usable state."""
        return int((self.ok_steps > 0).sum())

    @property
    def usable(self) -> bool:
        """True when at least one state is usable."""
        return bool(self.ok_steps.sum() > 0)

    def merge(self, other: PropagationHealth) -> PropagationHealth:
        """Combine the health of two chunks of the same satellites (consecutive times)."""
        if not np.array_equal(self.norad_ids, other.norad_ids):
            raise ValueError("cannot merge the health of different satellite sets")
        codes = dict(self.by_code)
        for k, n in other.by_code.items():
            codes[k] = codes.get(k, 0) + n
        return PropagationHealth(self.norad_ids, self.ok_steps + other.ok_steps,
                                 self.failed_steps + other.failed_steps, codes)

    def summary(self) -> str:
        """One line: failed satellites and states, by error code (empty text when none)."""
        if not self.n_failed_states:
            return ""
        codes = "; ".join(f"{n:,} x code {k} ({ERROR_MESSAGES.get(k, 'unknown')})"
                          for k, n in sorted(self.by_code.items()))
        return (f"{self.n_failed_satellites:,} of {self.n_sat:,} satellites failed at "
                f"{self.n_failed_states:,} of {self.n_states:,} states "
                f"({self.n_dead_satellites:,} at every step): {codes}")

    def failed_ids(self, limit: int | None = None) -> list[int]:
        """Catalogue numbers of the satellites with a failed state (first ``limit``)."""
        ids = self.norad_ids[self.failed_steps > 0]
        return [int(x) for x in (ids if limit is None else ids[:limit])]


def ephemeris_health(eph: Ephemeris | Iterable[Ephemeris]) -> PropagationHealth:
    """`PropagationHealth` of one `Ephemeris`, or merged over chunks of the same satellites."""
    if isinstance(eph, Ephemeris):
        code = eph.error_code
        failed = code != 0
        values, counts = np.unique(code[failed], return_counts=True)
        return PropagationHealth(
            np.asarray(eph.norad_ids, dtype=np.int64),
            (~failed).sum(axis=1).astype(np.int64),
            failed.sum(axis=1).astype(np.int64),
            {int(k): int(n) for k, n in zip(values, counts, strict=True)},
        )
    total: PropagationHealth | None = None
    for chunk in eph:
        h = ephemeris_health(chunk)
        total = h if total is None else total.merge(h)
    if total is None:
        return PropagationHealth(np.zeros(0, np.int64), np.zeros(0, np.int64),
                                 np.zeros(0, np.int64))
    return total


def check_ephemeris(
    eph: Ephemeris | PropagationHealth,
    *,
    where: str = "propagation",
    max_failed_fraction: float | None = None,
    epochs_utc: np.ndarray | None = None,
) -> PropagationHealth:
    """Check a propagation result; raise `ElementError` when it is meaningless.

    Parameters
    ----------
    eph : Ephemeris or PropagationHealth
        A chunk, or the merged health of all chunks (`PropagationHealth.merge`).
    where : str
        Names the input in the error (e.g. ``"scenario.toml: time.start"``).
    max_failed_fraction : float, optional
        Also raise when more than this fraction (0-1) of the satellites has a failed state.
    epochs_utc : datetime64 array, optional
        Element-set epochs, quoted in the error to show how far the times are from them.

    Returns
    -------
    PropagationHealth
        For reporting (``summary()`` is empty when nothing failed).

    Raises
    ------
    ElementError
        When no satellite has a usable state (all NaN), or the failed fraction is exceeded.
    """
    health = eph.health() if isinstance(eph, Ephemeris) else eph
    if health.n_sat == 0 or health.n_states == 0:
        return health
    span = ""
    if epochs_utc is not None and np.size(epochs_utc):
        e = np.asarray(epochs_utc, dtype="datetime64[s]")
        span = (f"; the element sets' epochs are {e.min()}Z to {e.max()}Z, SGP4 is meant for "
                "days to weeks around them")
    if not health.usable:
        raise ElementError(
            f"no usable satellite: every state failed ({health.summary()}){span}", where)
    if max_failed_fraction is not None and \
            health.n_failed_satellites > max_failed_fraction * health.n_sat:
        raise ElementError(
            f"{health.n_failed_satellites / health.n_sat:.0%} of the satellites failed, more "
            f"than the {max_failed_fraction:.0%} allowed ({health.summary()}){span}", where)
    return health
