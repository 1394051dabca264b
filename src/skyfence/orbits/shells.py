"""Walker-delta shells from public parameters, exported as SGP4 element sets.

A Walker-delta shell ``i: T/P/F`` has ``P`` equally spaced orbital planes (right ascensions of
the ascending node spread over ``raan_spread_deg``, 360 deg for a delta pattern), ``S = T/P``
satellites equally spaced in each plane, and a phase offset between adjacent planes of
``F * 360 / T`` deg in argument of latitude. Orbits are circular.

Every shell becomes `sgp4.api.Satrec` element sets (``sgp4init``, WGS-72, mode ``'i'``), so Walker
constellations and real TLE files go through the same SGP4 propagation path. The mean motion is
chosen so that SGP4's mean semi-major axis equals ``R + altitude_km`` with R the WGS-84 equatorial
radius (6378.137 km).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
from sgp4.api import WGS72, Satrec

from ..earth import WGS84_A_KM
from ..errors import InputError
from ..timeutil import julian_date_utc, parse_time
from .constellation import Constellation

__all__ = [
    "PRESETS",
    "WalkerShell",
    "preset",
    "preset_names",
    "walker_angles",
    "walker_constellation",
]

# WGS-72 constants used by SGP4 (Vallado 2006, "wgs72"): mu (km^3/s^2) and Earth radius (km).
_MU_WGS72_KM3_S2 = 398600.8
_RADIUS_WGS72_KM = 6378.135
# SGP4 epochs count days from 1949 December 31 00:00 UT (JD 2433281.5).
_SGP4_EPOCH0_JD = 2433281.5


@dataclass(frozen=True)
class WalkerShell:
    """One Walker-delta shell.

    Parameters
    ----------
    name : str
        Label carried by each satellite (``Constellation.shell``).
    altitude_km : float
        Mean altitude above the WGS-84 equatorial radius, km (> 0).
    inclination_deg : float
        Orbital inclination, deg, in [0, 180].
    planes : int
        Number of orbital planes P (>= 1).
    sats_per_plane : int
        Satellites per plane S (>= 1); T = P * S.
    phasing : int
        Walker phasing factor F, 0 <= F < P.
    raan_spread_deg : float
        Spread of the ascending nodes: 360 for a delta pattern, 180 for a star pattern.
    raan0_deg : float
        Right ascension of the first plane, deg.
    """

    name: str
    altitude_km: float
    inclination_deg: float
    planes: int
    sats_per_plane: int
    phasing: int = 1
    raan_spread_deg: float = 360.0
    raan0_deg: float = 0.0

    def __post_init__(self) -> None:
        field = f"shell {self.name!r}"
        if not (80.0 <= self.altitude_km <= 40_000.0):
            raise InputError(
                f"altitude_km must be within [80, 40000] km, got {self.altitude_km}", field
            )
        if not (0.0 <= self.inclination_deg <= 180.0):
            raise InputError(
                f"inclination_deg must be within [0, 180], got {self.inclination_deg}", field
            )
        if int(self.planes) != self.planes or self.planes < 1:
            raise InputError(f"planes must be an integer >= 1, got {self.planes}", field)
        if int(self.sats_per_plane) != self.sats_per_plane or self.sats_per_plane < 1:
            raise InputError(
                f"sats_per_plane must be an integer >= 1, got {self.sats_per_plane}", field
            )
        if int(self.phasing) != self.phasing or not (0 <= self.phasing < self.planes):
            raise InputError(
                f"phasing F must be an integer in [0, planes-1] = [0, {self.planes - 1}], "
                f"got {self.phasing}",
                field,
            )
        if not (0.0 < self.raan_spread_deg <= 360.0):
            raise InputError(
                f"raan_spread_deg must be within (0, 360], got {self.raan_spread_deg}", field
            )

    @property
    def n_sats(self) -> int:
        """Total number of satellites T = P * S."""
        return self.planes * self.sats_per_plane


def walker_angles(shell: WalkerShell) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plane index, slot index, RAAN (deg) and argument of latitude (deg) of every satellite.

    Satellites are ordered plane by plane: ``index = plane * S + slot``. All in [0, 360).
    """
    p, s = shell.planes, shell.sats_per_plane
    plane = np.repeat(np.arange(p), s)
    slot = np.tile(np.arange(s), p)
    raan = (shell.raan0_deg + plane * shell.raan_spread_deg / p) % 360.0
    u = (slot * 360.0 / s + plane * shell.phasing * 360.0 / shell.n_sats) % 360.0
    return plane, slot, raan, u


def _kozai_mean_motion(altitude_km: float, inclination_deg: float) -> float:
    """Kozai mean motion (rad/min) giving SGP4 a mean semi-major axis of R_WGS84 + altitude."""
    a_target_km = WGS84_A_KM + altitude_km
    n = np.sqrt(_MU_WGS72_KM3_S2 / a_target_km**3) * 60.0
    probe = Satrec()
    for _ in range(6):
        probe.sgp4init(WGS72, "i", 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                       np.radians(inclination_deg), 0.0, n, 0.0)
        a_km = probe.a * _RADIUS_WGS72_KM
        n *= (a_km / a_target_km) ** 1.5
    return float(n)


def walker_constellation(
    shells: list[WalkerShell] | tuple[WalkerShell, ...],
    epoch_utc: str | np.datetime64,
    *,
    first_norad_id: int = 200_000,
    name: str = "walker",
) -> Constellation:
    """Build SGP4 element sets for Walker shells at ``epoch_utc``.

    Catalogue numbers are synthetic, consecutive from ``first_norad_id`` (kept within the
    5-character Alpha-5 range so the sets can be written as TLEs). Drag terms are zero.
    """
    epoch = parse_time(epoch_utc, "epoch") if not isinstance(epoch_utc, np.datetime64) else (
        epoch_utc.astype("datetime64[ns]"))
    jd, fr = julian_date_utc(epoch)
    epoch_days = float((jd - _SGP4_EPOCH0_JD) + fr)
    total = sum(sh.n_sats for sh in shells)
    if first_norad_id < 1 or first_norad_id + total - 1 > 339_999:
        raise InputError(
            f"catalogue numbers {first_norad_id}..{first_norad_id + total - 1} leave the "
            "Alpha-5 range 1..339999",
            "first_norad_id",
        )
    satrecs: list[Satrec] = []
    labels: list[str] = []
    planes: list[np.ndarray] = []
    slots: list[np.ndarray] = []
    norad = first_norad_id
    for sh in shells:
        plane, slot, raan, u = walker_angles(sh)
        n_kozai = _kozai_mean_motion(sh.altitude_km, sh.inclination_deg)
        incl = np.radians(sh.inclination_deg)
        for raan_deg, u_deg in zip(raan, u, strict=True):
            sat = Satrec()
            sat.sgp4init(WGS72, "i", norad, epoch_days, 0.0, 0.0, 0.0, 0.0, 0.0, incl,
                         np.radians(u_deg), n_kozai, np.radians(raan_deg))
            satrecs.append(sat)
            norad += 1
        labels.extend([sh.name] * sh.n_sats)
        planes.append(plane)
        slots.append(slot)
    ids = np.arange(first_norad_id, first_norad_id + total, dtype=np.int64)
    return Constellation(
        satrecs=tuple(satrecs),
        norad_ids=ids,
        names=tuple(f"{lab}-P{p:02d}-S{s:02d}" for lab, p, s in zip(
            labels, np.concatenate(planes) if planes else [],
            np.concatenate(slots) if slots else [], strict=True)),
        shell=tuple(labels),
        name=name,
        plane=np.concatenate(planes) if planes else np.zeros(0, np.int64),
        slot=np.concatenate(slots) if slots else np.zeros(0, np.int64),
    )


# Starlink Gen1, 4,408 satellites in 5 shells. Altitudes, inclinations, planes and satellites per
# plane from FCC DA-19-342 (Apr 2019) and DA-19-1294 (Dec 2019) for shell 1 and the FCC third
# modification order of 27 Apr 2021 (FCC 21-48) for shells 2-5 (../shared/facts.md).
# The filings do not state the Walker phasing factor F; F = 1 is used (the smallest offset that
# staggers adjacent planes); real element sets carry the actual geometry.
_GEN1 = (
    WalkerShell("Gen1-1", 550.0, 53.0, 72, 22, phasing=1),
    WalkerShell("Gen1-2", 540.0, 53.2, 72, 22, phasing=1),
    WalkerShell("Gen1-3", 570.0, 70.0, 36, 20, phasing=1),
    WalkerShell("Gen1-4", 560.0, 97.6, 6, 58, phasing=1),
    WalkerShell("Gen1-5", 560.0, 97.6, 4, 43, phasing=1),
)

# Starlink Gen2, first tranche authorized by FCC 22-91 (Dec 2022): shells at 525 / 530 / 535 km
# with inclinations 53 / 43 / 33 deg, 28 planes x 120 satellites per shell as in SpaceX's
# application (../shared/facts.md). The grant caps this tranche at 7,500 satellites across the
# three shells without a public per-shell split, so the preset carries the application's full
# geometry (3 x 3,360); reduce sats_per_plane in a scenario to model partial deployment.
_GEN2A = (
    WalkerShell("Gen2-525", 525.0, 53.0, 28, 120, phasing=1),
    WalkerShell("Gen2-530", 530.0, 43.0, 28, 120, phasing=1),
    WalkerShell("Gen2-535", 535.0, 33.0, 28, 120, phasing=1),
)

#: Preset name -> shells.
PRESETS: dict[str, tuple[WalkerShell, ...]] = {
    "starlink-gen1": _GEN1,
    "starlink-gen2a": _GEN2A,
    **{f"starlink-gen1-{i + 1}": (sh,) for i, sh in enumerate(_GEN1)},
}
_PRESET_FIRST_ID = {"starlink-gen2a": 210_000}


def preset_names() -> list[str]:
    """Names of the built-in Walker presets."""
    return sorted(PRESETS)


def preset(name: str, epoch_utc: str | np.datetime64) -> Constellation:
    """The Walker preset ``name`` with element sets at ``epoch_utc``.

    Unknown names raise `InputError` listing the presets and the closest match.
    """
    key = name.strip().lower()
    if key not in PRESETS:
        close = difflib.get_close_matches(key, PRESETS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown constellation preset {name!r}{hint} Presets: {', '.join(preset_names())}",
            "constellation",
        )
    return walker_constellation(
        PRESETS[key], epoch_utc, first_norad_id=_PRESET_FIRST_ID.get(key, 200_000), name=key
    )
