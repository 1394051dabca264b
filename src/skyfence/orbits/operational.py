"""Which objects of an element set can serve users, and whether the set is fresh enough.

An element set (CelesTrak's Starlink group) holds every tracked object of the constellation:
satellites on station, but also batches still raising their orbit from the ~350 km insertion
orbit, satellites lowering for disposal, and stragglers drifting between shells. Only the
first serve users: a satellite in transit carries no traffic (its phased-array and lasers are
not in service) and would inflate "satellites in view" (the 2026-02-23 file holds 973 objects
whose mean altitude is below 400 km).

Rule (`operational_mask`): an object serves when

1. it belongs to a shell that `skyfence.orbits.recover_shells` recovers from the same file
   (density clustering in inclination x mean altitude; objects in no dense cluster are "not
   in a shell": orbit raising, deorbiting, drifting), and
2. that shell's median mean altitude is at least ``min_altitude_km`` (default 400 km: the
   insertion / parking orbits are ~280-360 km and the lowest operational Starlink shells of
   2026 sit near 475-485 km; facts.md), and
3. the object's own mean altitude is at least ``min_altitude_km`` too.

Element age (`check_element_age`) is the time between each object's epoch and the simulated
time. SGP4 is a mean-element theory fitted to a few days of tracking: for a LEO satellite at
~550 km the along-track error grows by roughly 1-3 km per day (Vallado & Crawford, AIAA
2008-6770; CelesTrak refreshes Starlink elements several times a day) and Starlink satellites
manoeuvre often, so:

================== ==================== ===============================================
median age          default threshold   outcome
================== ==================== ===============================================
<= 3 days           ``warn_days``       fine
3 to 30 days        ``error_days``      `StaleElementsWarning` naming the median and the
                                        oldest age (positions off by tens of km)
> 30 days           --                  `ElementError`: propagated positions are not
                                        meaningful (drag and manoeuvres over a month move
                                        a LEO satellite by hundreds of km; 2023 elements
                                        propagated to 2026 gave 603 SGP4 errors)
================== ==================== ===============================================

Ages count in both directions (a simulated time before the epochs is as stale as one after).
Objects whose own epoch is more than ``error_days`` from the simulated time, in a set whose
median is fine, are excluded from serving ("stale") and counted.

The engine calls `serving_constellation(constellation, t_utc)` once per run: it checks the age
(warning or error), drops the non-serving objects and returns the subset with a
`ServingReport` whose ``summary()`` line belongs in the run's report.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ElementError, InputError
from .constellation import Constellation
from .recover import ShellRecovery, recover_shells

__all__ = [
    "DEFAULT_ERROR_DAYS",
    "DEFAULT_MIN_ALTITUDE_KM",
    "DEFAULT_WARN_DAYS",
    "ElementAge",
    "ServingReport",
    "StaleElementsWarning",
    "check_element_age",
    "element_age_days",
    "operational_mask",
    "serving_constellation",
]

#: Objects (and shells) below this mean altitude do not serve, km.
DEFAULT_MIN_ALTITUDE_KM = 400.0
#: Median element age above which a warning is given, days.
DEFAULT_WARN_DAYS = 3.0
#: Median element age above which propagation is refused, days.
DEFAULT_ERROR_DAYS = 30.0

_NS_PER_DAY = 86_400 * 10**9


class StaleElementsWarning(UserWarning):
    """Element epochs are days away from the simulated time: positions are off by km."""


@dataclass(frozen=True)
class ElementAge:
    """Element ages against a simulated time, days (positive: epoch before the time)."""

    age_days: np.ndarray
    median_days: float
    max_abs_days: float
    t_utc: np.datetime64
    stale: bool = False
    """Whether the median absolute age exceeds the warning threshold."""

    def describe(self) -> str:
        """One line: median and worst age."""
        return (f"element sets are {abs(self.median_days):.1f} days "
                f"{'older' if self.median_days >= 0 else 'newer'} than "
                f"{np.datetime_as_string(self.t_utc, unit='s')}Z in the median "
                f"(worst {self.max_abs_days:.1f} days)")


@dataclass(frozen=True)
class ServingReport:
    """Which objects serve and why the others do not.

    Attributes
    ----------
    n_total : int
        Objects in the element set.
    serving : (n_total,) bool
        The mask applied.
    n_not_in_shell, n_low_altitude, n_stale : int
        Objects excluded per reason (an object is counted under the first reason that applies,
        in that order).
    min_altitude_km : float
    age : ElementAge or None
        Element ages at the simulated time (None when no time was given).
    shells : ShellRecovery
    """

    n_total: int
    serving: np.ndarray
    n_not_in_shell: int
    n_low_altitude: int
    n_stale: int
    min_altitude_km: float
    age: ElementAge | None
    shells: ShellRecovery

    @property
    def n_serving(self) -> int:
        """Objects that serve."""
        return int(self.serving.sum())

    @property
    def n_excluded(self) -> int:
        """Objects that do not serve."""
        return self.n_total - self.n_serving

    def summary(self) -> str:
        """One line for reports, e.g. ``8,411 of 9,543 objects serve; 1,132 excluded (...)``."""
        parts = [f"{self.n_not_in_shell:,} not in a shell",
                 f"{self.n_low_altitude:,} below {self.min_altitude_km:.0f} km"]
        if self.n_stale:
            parts.append(f"{self.n_stale:,} with stale elements")
        line = (f"{self.n_serving:,} of {self.n_total:,} objects serve; {self.n_excluded:,} "
                f"excluded ({', '.join(parts)})")
        if self.age is not None:
            line += f"; {self.age.describe()}"
        return line


def element_age_days(constellation: Constellation, t_utc: object) -> np.ndarray:
    """Age of each element set at ``t_utc`` in days (time minus epoch; negative = future)."""
    t = _one_time(t_utc)
    epochs = constellation.epochs_utc.astype("datetime64[ns]").astype(np.int64)
    return (t.astype(np.int64) - epochs) / _NS_PER_DAY


def check_element_age(
    constellation: Constellation,
    t_utc: object,
    *,
    warn_days: float = DEFAULT_WARN_DAYS,
    error_days: float = DEFAULT_ERROR_DAYS,
) -> ElementAge:
    """Check element ages at ``t_utc``: warn above ``warn_days``, raise above ``error_days``.

    The median absolute age decides (one stale straggler does not condemn a fresh set).
    Raises `ElementError` when the median exceeds ``error_days``; emits
    `StaleElementsWarning` when it exceeds ``warn_days``. Returns the ages.
    """
    if not (np.isfinite(warn_days) and np.isfinite(error_days) and 0 < warn_days < error_days):
        raise InputError(f"need 0 < warn_days < error_days, got {warn_days!r}, {error_days!r}",
                         "warn_days")
    t = _one_time(t_utc)
    age = element_age_days(constellation, t)
    if age.size == 0:
        return ElementAge(age, 0.0, 0.0, t)
    med = float(np.median(age))
    worst = float(np.max(np.abs(age)))
    info = ElementAge(age, med, worst, t, abs(med) > warn_days)
    if abs(med) > error_days:
        raise ElementError(
            f"{info.describe()}: more than {error_days:g} days, SGP4 positions are not "
            f"meaningful; use element sets within {warn_days:g} days of the simulated time",
            constellation.name or "elements")
    if abs(med) > warn_days:
        warnings.warn(f"{info.describe()}: more than {warn_days:g} days, positions may be off "
                      "by tens of km", StaleElementsWarning, stacklevel=2)
    return info


def operational_mask(
    constellation: Constellation,
    *,
    min_altitude_km: float = DEFAULT_MIN_ALTITUDE_KM,
    recovery: ShellRecovery | None = None,
) -> np.ndarray:
    """(n_sat,) bool: in a recovered shell at or above ``min_altitude_km``, and itself above it."""
    return _reasons(constellation, min_altitude_km, recovery)[0]


def serving_constellation(
    constellation: Constellation,
    t_utc: object | None = None,
    *,
    min_altitude_km: float = DEFAULT_MIN_ALTITUDE_KM,
    warn_days: float = DEFAULT_WARN_DAYS,
    error_days: float = DEFAULT_ERROR_DAYS,
    include_all: bool = False,
) -> tuple[Constellation, ServingReport]:
    """The objects that can serve users, and the report of those dropped.

    Parameters
    ----------
    constellation : Constellation
    t_utc : ISO text or datetime64, optional
        Simulated time (e.g. the run's start): checks element ages (warning / `ElementError`,
        see `check_element_age`) and drops objects older than ``error_days``.
    min_altitude_km : float
        Lowest mean altitude of a serving object and shell, km.
    include_all : bool
        Keep every object (the report still counts what would be dropped).

    Returns
    -------
    (Constellation, ServingReport)
        The serving subset (the input itself when nothing is dropped) and the report.
    """
    if not (np.isfinite(min_altitude_km) and min_altitude_km >= 0):
        raise InputError(f"min_altitude_km must be >= 0, got {min_altitude_km!r}",
                         "min_altitude_km")
    age = None if t_utc is None else check_element_age(
        constellation, t_utc, warn_days=warn_days, error_days=error_days)
    ok, not_in_shell, low, recovery = _reasons(constellation, min_altitude_km, None)
    stale = np.zeros(len(constellation), dtype=bool)
    if age is not None and age.age_days.size:
        stale = ok & (np.abs(age.age_days) > error_days)
        ok = ok & ~stale
    report = ServingReport(
        n_total=len(constellation), serving=ok, n_not_in_shell=int(not_in_shell.sum()),
        n_low_altitude=int(low.sum()), n_stale=int(stale.sum()),
        min_altitude_km=float(min_altitude_km), age=age, shells=recovery)
    if include_all or bool(ok.all()):
        return constellation, report
    return constellation.subset(np.flatnonzero(ok)), report


def _reasons(constellation: Constellation, min_altitude_km: float,
             recovery: ShellRecovery | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, ShellRecovery]:
    n = len(constellation)
    if recovery is None:
        recovery = recover_shells(constellation)
    if recovery.shell_index.shape != (n,):
        raise InputError("shell recovery does not match the constellation", "recovery")
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return empty, empty, empty, recovery
    alt = constellation.mean_altitude_km
    shell_alt = np.array([s.altitude_km for s in recovery.shells] + [np.nan])
    idx = recovery.shell_index
    not_in_shell = idx < 0
    own_low = alt < min_altitude_km
    shell_low = np.where(idx >= 0, shell_alt[idx] < min_altitude_km, False)
    low = ~not_in_shell & (own_low | shell_low)
    return ~(not_in_shell | low), not_in_shell, low, recovery


def _one_time(t_utc: object) -> np.datetime64:
    try:
        if isinstance(t_utc, str):
            text = t_utc.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1]
            t = np.datetime64(text, "ns")
        else:
            t = np.datetime64(t_utc, "ns")  # type: ignore[call-overload]
    except (ValueError, TypeError):
        raise InputError(f"cannot read time {t_utc!r}; expected ISO 8601 UTC such as "
                         "2026-02-23T00:00:00Z", "t_utc") from None
    if np.isnat(t):
        raise InputError("time is NaT", "t_utc")
    return t
