"""The `Constellation` record: satellites as SGP4 element sets, whatever their source.

Walker shells, TLE / 3LE files and OMM records all become a `Constellation`, so every
constellation goes through the same SGP4 propagation path.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from sgp4.api import WGS72, WGS72OLD, WGS84, Satrec, SatrecArray

__all__ = ["Constellation", "ValidationReport"]

_UNIX_EPOCH_JD = 2440587.5
_SGP4_EPOCH0_JD = 2433281.5
# Gravity models by (Earth radius km, mu km^3/s^2), as sgp4 stores them on a Satrec.
_GRAVITY = {(6378.135, 398600.8): WGS72, (6378.135, 398600.79964): WGS72OLD,
            (6378.137, 398600.5): WGS84}
_LABELS = ("intldesg", "classification", "elnum", "revnum", "ephtype", "epochyr", "epochdays")


def _satrec_state(sat: Satrec) -> tuple:
    """The sgp4init arguments and labels of a Satrec (sgp4's Satrec does not pickle)."""
    gravity = _GRAVITY.get((round(sat.radiusearthkm, 6), round(sat.mu, 6)), WGS72)
    return (gravity, sat.operationmode, sat.satnum, sat.jdsatepoch, sat.jdsatepochF, sat.bstar,
            sat.ndot, sat.nddot, sat.ecco, sat.argpo, sat.inclo, sat.mo, sat.no_kozai,
            sat.nodeo, tuple(getattr(sat, k) for k in _LABELS))


def _satrec_from_state(state: tuple) -> Satrec:
    """Rebuild a Satrec bit for bit from `_satrec_state` (same sgp4init call as the loader)."""
    (gravity, mode, satnum, jd, fr, bstar, ndot, nddot, ecco, argpo, inclo, mo, no_kozai,
     nodeo, labels) = state
    sat = Satrec()
    sat.sgp4init(gravity, mode, satnum, (jd - _SGP4_EPOCH0_JD) + fr, bstar, ndot, nddot, ecco,
                 argpo, inclo, mo, no_kozai, nodeo)
    for key, value in zip(_LABELS, labels, strict=True):
        with contextlib.suppress(AttributeError, TypeError):
            setattr(sat, key, value)
    return sat


@dataclass
class ValidationReport:
    """What a loader accepted, skipped and replaced.

    ``skipped`` holds ``(where, reason)`` pairs, e.g. ``("sats.tle:12", "bad checksum ...")``;
    ``duplicates`` holds ``(norad_id, kept_epoch, dropped_epoch)`` for repeated catalogue numbers.
    """

    source: str = ""
    n_records: int = 0
    n_loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[int, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line: loaded, skipped and duplicate counts."""
        return (
            f"{self.n_loaded:,} satellites loaded from {self.n_records:,} records; "
            f"{len(self.skipped):,} skipped; {len(self.duplicates):,} duplicate catalogue numbers"
        )


@dataclass(frozen=True, eq=False)
class Constellation:
    """Satellites as SGP4 element sets.

    Attributes
    ----------
    satrecs : tuple of sgp4.api.Satrec
        One initialized element set per satellite.
    norad_ids : numpy.ndarray of int64, shape (n_sat,)
        Catalogue numbers (synthetic for Walker shells).
    names : tuple of str
        Satellite names.
    shell : tuple of str
        Shell label per satellite (e.g. ``"Gen1-1"``); empty string when unknown.
    name : str
        Name of the constellation (preset name or file name).
    report : ValidationReport or None
        What the loader skipped, for file sources.
    plane, slot : numpy.ndarray of int64, shape (n_sat,)
        Walker plane index and in-plane slot index (``-1`` when unknown, e.g. for TLE files;
        left out or empty: all unknown).
    """

    satrecs: tuple[Satrec, ...]
    norad_ids: np.ndarray
    names: tuple[str, ...]
    shell: tuple[str, ...] = ()
    name: str = ""
    report: ValidationReport | None = None
    plane: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    slot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.satrecs)
        ids = np.asarray(self.norad_ids, dtype=np.int64)
        object.__setattr__(self, "norad_ids", ids)
        if ids.shape != (n,) or len(self.names) != n:
            raise ValueError("satrecs, norad_ids and names must have the same length")
        if not self.shell:
            object.__setattr__(self, "shell", ("",) * n)
        elif len(self.shell) != n:
            raise ValueError("shell labels must have one entry per satellite")
        for attr in ("plane", "slot"):
            value = getattr(self, attr)
            unknown = value is None or (n > 0 and np.size(value) == 0)
            arr = np.full(n, -1, np.int64) if unknown else np.asarray(value, np.int64)
            if arr.shape != (n,):
                raise ValueError(f"{attr} must have one entry per satellite")
            object.__setattr__(self, attr, arr)

    def __len__(self) -> int:
        return len(self.satrecs)

    def __getstate__(self) -> dict:
        # Satrec objects do not pickle: keep their sgp4init arguments (exact round trip), and
        # drop cached arrays. Needed to ship constellations to Dask workers.
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("satrec_array", "epochs_utc", "inclination_deg",
                              "mean_altitude_km", "semi_major_axis_km", "mu_km3_s2")}
        state["satrecs"] = tuple(_satrec_state(s) for s in self.satrecs)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["satrecs"] = tuple(_satrec_from_state(s) for s in state["satrecs"])
        for key, value in state.items():
            object.__setattr__(self, key, value)

    @cached_property
    def satrec_array(self) -> SatrecArray:
        """The element sets as one `sgp4.api.SatrecArray` (built once)."""
        return SatrecArray(list(self.satrecs))

    @cached_property
    def epochs_utc(self) -> np.ndarray:
        """Element-set epochs as ``datetime64[ns]`` UTC, shape (n_sat,)."""
        if not self.satrecs:
            return np.zeros(0, dtype="datetime64[ns]")
        jd = np.array([s.jdsatepoch for s in self.satrecs], dtype=np.float64)
        fr = np.array([s.jdsatepochF for s in self.satrecs], dtype=np.float64)
        # Whole days and the fraction separately, in integer nanoseconds (float64 days since
        # 1970 would lose ~0.2 us).
        whole = np.floor(jd - _UNIX_EPOCH_JD)
        frac = (jd - _UNIX_EPOCH_JD - whole) + fr
        ns = whole.astype(np.int64) * 86_400 * 10**9 + np.round(frac * 86_400e9).astype(np.int64)
        return ns.astype("datetime64[ns]")

    @cached_property
    def inclination_deg(self) -> np.ndarray:
        """Mean inclination (deg) of each element set, shape (n_sat,)."""
        return np.degrees(np.array([s.inclo for s in self.satrecs], dtype=np.float64))

    @cached_property
    def mean_altitude_km(self) -> np.ndarray:
        """Mean altitude (km) above the SGP4 (WGS-72) equatorial radius, from the mean motion."""
        a_er = np.array([s.a for s in self.satrecs], dtype=np.float64)
        radius = np.array([s.radiusearthkm for s in self.satrecs], dtype=np.float64)
        return a_er * radius - radius

    @cached_property
    def semi_major_axis_km(self) -> np.ndarray:
        """Mean semi-major axis (km) of each element set at its epoch, shape (n_sat,)."""
        return np.array([s.a * s.radiusearthkm for s in self.satrecs], dtype=np.float64)

    @cached_property
    def mu_km3_s2(self) -> np.ndarray:
        """Gravitational parameter (km^3/s^2) of each element set's gravity model."""
        return np.array([s.mu for s in self.satrecs], dtype=np.float64)

    def subset(self, index: np.ndarray | slice | list[int]) -> Constellation:
        """A new constellation with the satellites selected by ``index`` (mask or indices)."""
        idx = np.arange(len(self))[index]
        return Constellation(
            satrecs=tuple(self.satrecs[i] for i in idx),
            norad_ids=self.norad_ids[idx],
            names=tuple(self.names[i] for i in idx),
            shell=tuple(self.shell[i] for i in idx),
            name=self.name,
            report=self.report,
            plane=self.plane[idx],
            slot=self.slot[idx],
        )

    def __add__(self, other: Constellation) -> Constellation:
        return Constellation(
            satrecs=self.satrecs + other.satrecs,
            norad_ids=np.concatenate([self.norad_ids, other.norad_ids]),
            names=self.names + other.names,
            shell=self.shell + other.shell,
            name=f"{self.name}+{other.name}" if self.name and other.name else self.name,
            plane=np.concatenate([self.plane, other.plane]),
            slot=np.concatenate([self.slot, other.slot]),
        )
