"""Supply: satellite capacity by generation, beams, a user-link budget, gateway feeder capacity.

Figures and their sources
-------------------------
- **Per-satellite capacity.** Gen1 (v1.0 / v1.5): about 17-20 Gbps per satellite (SpaceX's
  public statements and FCC filings as summarised in the project brief); 20 Gbps is used.
  V2 mini: "about four times" the capacity of a V1.5 (SpaceX to Ars Technica, Feb 2023;
  press figures of ~80-100 Gbps, e.g. ~96 Gbps); 80 Gbps is used.
- **User downlink channel.** Ku band, 240 MHz occupied per channel at 250 MHz spacing, OFDM
  (Humphreys et al., "Signal Structure of the Starlink Ku-Band Downlink", IEEE Trans. Aerosp.
  Electron. Syst., 2023). One beam carries one channel: rate = 240 MHz x spectral efficiency
  (about one OFDM symbol per Hz; the implementation margin covers cyclic prefix and pilots).
- **Spectral efficiency** from the link's Es/N0 through the DVB-S2 MODCOD table (ETSI EN 302
  307-1, Table 13: ideal Es/N0 for quasi-error-free operation, AWGN, normal frames), the
  highest MODCOD whose threshold the link clears; or Shannon's log2(1 + SNR) (``shannon``).
- **Link budget** (a simple one, stated): clear-sky Es/N0 at zenith from 550 km of
  `ESN0_ZENITH_DB` (ASSUMPTION: 16 dB, the level at which the zenith beam reaches 32APSK 4/5),
  minus the extra free-space loss of the slant range, 20 log10(range / 550 km), minus the
  satellite array's scan loss, 10 log10(1 / cos(off-nadir angle)) (projected aperture),
  minus atmospheric loss `ATMOSPHERE_ZENITH_DB` / sin(elevation) (ASSUMPTION: 0.5 dB at zenith
  for gases and a light rain margin at 12 GHz, ITU-R P.676 / P.618 order of magnitude), minus
  the implementation margin (default 1 dB). At 25 deg elevation from 550 km this gives
  QPSK 4/5 (~380 Mbps per beam) against 32APSK 4/5 (~950 Mbps) at zenith.
- **Beams and cells per beam** are not public: ASSUMPTIONS of 24 user beams per Gen1
  satellite (24 x ~0.8 Gbps, about the 20 Gbps satellite figure), 96 per V2 mini, each beam
  hopping over at most 8 service cells (res-5 cells) at a time; a cell is lit by at most one
  beam of its satellite.
- **Gateways.** A gateway antenna tracks one satellite; its feeder capacity per antenna is an
  ASSUMPTION of 20 Gbps (one Gen1 satellite's capacity over a Ka-band feeder link). Antenna
  counts come from the site file (``antennas``); where absent, `DEFAULT_GATEWAY_ANTENNAS`
  (ASSUMPTION: 8, the typical number of radomes at community-mapped gateway sites).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from ..coverage import gso_excluded
from ..errors import InputError
from ..network import Sites, visible_pairs
from ..orbits import Constellation

__all__ = [
    "ATMOSPHERE_ZENITH_DB",
    "CHANNEL_MHZ",
    "DEFAULT_GATEWAY_ANTENNAS",
    "DVB_S2_MODCODS",
    "ESN0_ZENITH_DB",
    "FEEDER_GBPS_PER_ANTENNA",
    "GENERATIONS",
    "LinkBudget",
    "SatelliteClass",
    "attach_gateways",
    "feeder_pairs",
    "gateway_capacity_mbps",
    "generation_table",
    "satellite_generations",
    "spectral_efficiency",
]

#: Occupied bandwidth of one Starlink Ku downlink channel, MHz (Humphreys et al. 2023).
CHANNEL_MHZ = 240.0
#: Clear-sky Es/N0 of a user beam at zenith from the reference altitude, dB (ASSUMPTION).
ESN0_ZENITH_DB = 16.0
#: Reference altitude of the zenith Es/N0, km.
REFERENCE_ALTITUDE_KM = 550.0
#: Atmospheric loss at zenith, dB, scaled by 1 / sin(elevation) (ASSUMPTION).
ATMOSPHERE_ZENITH_DB = 0.5
#: Gateway antennas where the site file gives none (ASSUMPTION).
DEFAULT_GATEWAY_ANTENNAS = 8
#: Feeder capacity per gateway antenna, Gbps (ASSUMPTION).
FEEDER_GBPS_PER_ANTENNA = 20.0

#: DVB-S2 MODCODs: (name, ideal Es/N0 for QEF in dB, spectral efficiency in bit/symbol),
#: ETSI EN 302 307-1, Table 13 (normal FECFRAME, no pilots).
DVB_S2_MODCODS: tuple[tuple[str, float, float], ...] = (
    ("QPSK 1/4", -2.35, 0.490243), ("QPSK 1/3", -1.24, 0.656448),
    ("QPSK 2/5", -0.30, 0.789412), ("QPSK 1/2", 1.00, 0.988858),
    ("QPSK 3/5", 2.23, 1.188304), ("QPSK 2/3", 3.10, 1.322253),
    ("QPSK 3/4", 4.03, 1.487473), ("QPSK 4/5", 4.68, 1.587196),
    ("QPSK 5/6", 5.18, 1.654663), ("8PSK 3/5", 5.50, 1.779991),
    ("QPSK 8/9", 6.20, 1.766451), ("QPSK 9/10", 6.42, 1.788612),
    ("8PSK 2/3", 6.62, 1.980636), ("8PSK 3/4", 7.91, 2.228124),
    ("16APSK 2/3", 8.97, 2.637201), ("8PSK 5/6", 9.35, 2.478562),
    ("16APSK 3/4", 10.21, 2.966728), ("8PSK 8/9", 10.69, 2.646012),
    ("8PSK 9/10", 10.98, 2.679207), ("16APSK 4/5", 11.03, 3.165623),
    ("16APSK 5/6", 11.61, 3.300184), ("32APSK 3/4", 12.73, 3.703295),
    ("16APSK 8/9", 12.89, 3.523143), ("16APSK 9/10", 13.13, 3.567342),
    ("32APSK 4/5", 13.64, 3.951571), ("32APSK 5/6", 14.28, 4.119540),
    ("32APSK 8/9", 15.69, 4.397854), ("32APSK 9/10", 16.05, 4.453027),
)
_TH = np.array([m[1] for m in DVB_S2_MODCODS])
# Best efficiency reachable at or above each threshold (the table is not monotone in both).
_order = np.argsort(_TH, kind="stable")
_TH_SORTED = _TH[_order]
_EFF_BEST = np.maximum.accumulate(np.array([m[2] for m in DVB_S2_MODCODS])[_order])

_EARTH_RADIUS_KM = 6371.0


def spectral_efficiency(esn0_db: ArrayLike, model: str = "dvb-s2") -> np.ndarray:
    """Spectral efficiency (bit/symbol) at ``esn0_db`` (after margins).

    ``dvb-s2``: the best DVB-S2 MODCOD whose threshold the link clears (0 below QPSK 1/4);
    ``shannon``: log2(1 + Es/N0).
    """
    x = np.asarray(esn0_db, float)
    if model == "shannon":
        return np.log2(1.0 + 10.0 ** (x / 10.0))
    if model != "dvb-s2":
        raise InputError(f"unknown spectral model {model!r}; use 'dvb-s2' or 'shannon'",
                         "capacity.spectral_model")
    k = np.searchsorted(_TH_SORTED, x, side="right") - 1
    out = np.where(k >= 0, _EFF_BEST[np.maximum(k, 0)], 0.0)
    return np.where(np.isfinite(x), out, 0.0)


@dataclass(frozen=True)
class LinkBudget:
    """The user downlink's budget (see the module docstring); dB, km, deg, MHz."""

    esn0_zenith_db: float = ESN0_ZENITH_DB
    reference_altitude_km: float = REFERENCE_ALTITUDE_KM
    atmosphere_zenith_db: float = ATMOSPHERE_ZENITH_DB
    implementation_margin_db: float = 1.0
    scan_loss: bool = True
    channel_mhz: float = CHANNEL_MHZ
    model: str = "dvb-s2"

    def esn0_db(self, elevation_deg: ArrayLike, range_km: ArrayLike) -> np.ndarray:
        """Es/N0 (dB, margins taken) of a link at ``elevation_deg`` over ``range_km``."""
        el = np.radians(np.clip(np.asarray(elevation_deg, float), 0.1, 90.0))
        rng = np.maximum(np.asarray(range_km, float), 1.0)
        out = self.esn0_zenith_db - 20.0 * np.log10(rng / self.reference_altitude_km)
        out = out - self.atmosphere_zenith_db / np.sin(el)
        if self.scan_loss:
            # Off-nadir angle at the satellite (spherical Earth): sin(theta) = R cos(el) / r_sat,
            # with r_sat from the range and elevation (law of cosines).
            r_sat = np.sqrt(_EARTH_RADIUS_KM**2 + rng**2
                            + 2.0 * _EARTH_RADIUS_KM * rng * np.sin(el))
            cos_theta = np.sqrt(np.clip(1.0 - (_EARTH_RADIUS_KM * np.cos(el) / r_sat) ** 2,
                                        1e-6, 1.0))
            out = out + 10.0 * np.log10(cos_theta)
        return out - self.implementation_margin_db

    def beam_mbps(self, elevation_deg: ArrayLike, range_km: ArrayLike) -> np.ndarray:
        """Throughput of one beam on a cell at this geometry, Mbps."""
        return self.channel_mhz * spectral_efficiency(self.esn0_db(elevation_deg, range_km),
                                                      self.model)


@dataclass(frozen=True)
class SatelliteClass:
    """One satellite generation: capacity (Gbps), user beams, cells per beam, and the source."""

    name: str
    capacity_gbps: float
    n_beams: int
    cells_per_beam: int
    source: str

    def __post_init__(self) -> None:
        if not (self.capacity_gbps >= 0 and np.isfinite(self.capacity_gbps)):
            raise InputError(f"satellite capacity must be >= 0 Gbps, got {self.capacity_gbps}",
                             f"capacity.satellite_gbps.{self.name}")
        if self.n_beams < 1 or self.cells_per_beam < 1:
            raise InputError("beams per satellite and cells per beam must be >= 1",
                             f"capacity ({self.name})")


#: Satellite generations (see the module docstring for the sources).
GENERATIONS: dict[str, SatelliteClass] = {
    "v1": SatelliteClass("v1", 20.0, 24, 8,
                         "Gen1 v1.0/v1.5: ~17-20 Gbps per satellite (SpaceX statements and FCC "
                         "filings); 24 beams, 8 cells per beam: assumptions"),
    "v2mini": SatelliteClass("v2mini", 80.0, 96, 8,
                             "V2 mini: about 4x a V1.5 (SpaceX to Ars Technica, Feb 2023; "
                             "~80-100 Gbps); 96 beams, 8 cells per beam: assumptions"),
}


def satellite_generations(constellation: Constellation) -> np.ndarray:
    """Generation name of every satellite (object array): ``v2mini`` for Gen2 shells
    (``Gen2-*`` Walker presets) and for objects launched in 2023 or later (international
    designator; V2 minis first flew in Feb 2023), ``v1`` otherwise."""
    n = len(constellation)
    out = np.full(n, "v1", dtype=object)
    shells = constellation.shell if len(constellation.shell) == n else ("",) * n
    for i, sat in enumerate(constellation.satrecs):
        if str(shells[i]).lower().startswith("gen2"):
            out[i] = "v2mini"
            continue
        desg = str(getattr(sat, "intldesg", "") or "").strip()
        if len(desg) >= 2 and desg[:2].isdigit():
            yy = int(desg[:2])
            if (1900 + yy if yy >= 57 else 2000 + yy) >= 2023:
                out[i] = "v2mini"
    return out


def gateway_capacity_mbps(sites: Sites, *, default_antennas: int = DEFAULT_GATEWAY_ANTENNAS,
                          feeder_gbps_per_antenna: float = FEEDER_GBPS_PER_ANTENNA
                          ) -> tuple[Sites, np.ndarray, np.ndarray]:
    """``sites`` with every gateway's antenna count set (``default_antennas`` where none),
    the antennas per gateway and the feeder capacity per gateway (Mbps)."""
    if default_antennas < 1:
        raise InputError(f"gateway antennas must be >= 1, got {default_antennas}",
                         "capacity.gateway_antennas")
    if not feeder_gbps_per_antenna >= 0:
        raise InputError(f"feeder capacity must be >= 0 Gbps, got {feeder_gbps_per_antenna}",
                         "capacity.feeder_gbps_per_antenna")
    gws = tuple(g if g.n_antennas is not None else replace(g, n_antennas=default_antennas)
                for g in sites.gateways)
    fixed = sites.with_gateways(gws)
    antennas = np.array([g.n_antennas for g in gws], dtype=np.int64)
    return fixed, antennas, antennas * feeder_gbps_per_antenna * 1000.0


def feeder_pairs(r_sat_itrs_km: np.ndarray, sites: Sites,
                 gateway_up: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """Satellite -> gateway feeder links at one step: ``sat_idx, gw_idx, elevation_deg``.

    The same links as `skyfence.network.feeder_links` (elevation mask, the gateway's GSO-arc
    exclusion, at most ``n_antennas`` satellites per gateway, the highest first), with the
    GSO test run only on the pairs that can still make a gateway's antenna list (the test
    costs far more than the rest; the antennas keep the list short).
    """
    gws = sites.gateways
    lat, lon = sites.gateway_lat_lon_deg
    alt = np.array([g.alt_km for g in gws])
    masks = np.array([g.min_elevation_deg for g in gws])
    gi, si, el, _rng = visible_pairs(lat, lon, alt, r_sat_itrs_km, masks)
    if gateway_up is not None:
        up = np.asarray(gateway_up, bool)
        keep = up[gi]
        gi, si, el = gi[keep], si[keep], el[keep]
    if gi.size == 0:
        return si, gi, el
    order = np.lexsort((-el, gi))
    gi, si, el = gi[order], si[order], el[order]
    big = np.iinfo(np.int64).max
    cap = np.array([g.n_antennas if g.n_antennas is not None else big for g in gws], np.int64)
    excl = np.array([g.gso_exclusion_deg for g in gws])
    r = np.asarray(r_sat_itrs_km, float)
    out = np.zeros(gi.size, bool)       # excluded by the GSO arc
    checked = excl[gi] <= 0.0
    while True:
        alive = ~out
        # Rank among the pairs not excluded, per gateway (pairs are sorted by gw, -elevation).
        csum = np.cumsum(alive)
        start = np.searchsorted(gi, gi, side="left")
        before = np.where(start > 0, csum[np.maximum(start - 1, 0)], 0)
        rank = csum - before - 1
        top = alive & (rank < cap[gi])
        # Test twice the antennas at once (fewer rounds; exclusions are common near the arc).
        todo = np.flatnonzero(alive & (rank < 2 * np.minimum(cap[gi], big // 2)) & ~checked)
        if not (top & ~checked).any():
            break
        out[todo] = gso_excluded(sites.gateway_itrs_km[gi[todo]], r[si[todo]],
                                 excl[gi[todo]])
        checked[todo] = True
    return si[top], gi[top], el[top]


def attach_gateways(r_sat_itrs_km: np.ndarray, sites: Sites, *, gateway_up: np.ndarray | None,
                    lasers: bool, needed: np.ndarray | None = None) -> np.ndarray:
    """The gateway (index) carrying each satellite's traffic at one step, -1 for none.

    A satellite with a feeder link (`feeder_pairs`: mask, GSO arc, antennas) lands at its
    highest-elevation gateway; with ``lasers``, a satellite without one relays to the nearest
    satellite that has one and lands at that satellite's gateway. ``needed`` (bool per
    satellite) limits the relay search to those satellites.
    """
    r = np.asarray(r_sat_itrs_km, float)
    n = r.shape[0]
    out = np.full(n, -1, np.int64)
    si, gi, el = feeder_pairs(r, sites, gateway_up)
    if si.size:
        order = np.lexsort((-el, si))
        si, gi = si[order], gi[order]
        first = np.r_[True, si[1:] != si[:-1]]
        out[si[first]] = gi[first]
    if lasers:
        linked = np.flatnonzero(out >= 0)
        want = (out < 0) & np.isfinite(r).all(axis=1)
        if needed is not None:
            want &= np.asarray(needed, bool)
        todo = np.flatnonzero(want)
        if linked.size and todo.size:
            _d, j = cKDTree(r[linked]).query(r[todo])
            out[todo] = out[linked[j]]
    return out


def generation_table(overrides_gbps: Mapping[str, float] | None = None,
                     beams: Mapping[str, int] | None = None,
                     cells_per_beam: int | None = None) -> dict[str, SatelliteClass]:
    """`GENERATIONS` with the scenario's overrides applied."""
    out = {}
    for name, cls in GENERATIONS.items():
        upd: dict[str, object] = {}
        if overrides_gbps and name in overrides_gbps:
            upd["capacity_gbps"] = float(overrides_gbps[name])
            upd["source"] = "scenario override"
        if beams and name in beams:
            upd["n_beams"] = int(beams[name])
        if cells_per_beam is not None:
            upd["cells_per_beam"] = int(cells_per_beam)
        out[name] = replace(cls, **upd) if upd else cls  # type: ignore[arg-type]
    return out
