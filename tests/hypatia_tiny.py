"""A tiny Hypatia satellite-network directory written with plain Python (tests' fixture).

6 orbits x 8 satellites at 1,200 km, 60 deg; TLEs from sgp4's own exporter; ISLs in a shuffled
order (interface numbers then depend on the file order); six stations far apart, one at the
South Pole (never in range: its traffic is dropped).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from sgp4.api import WGS72, Satrec
from sgp4.exporter import export_tle

__all__ = ["MAX_GSL_M", "MAX_ISL_M", "N_GS", "N_ORB", "N_PER", "N_SAT", "STATIONS",
           "isls_shuffled", "write_tiny"]

# The tiny network: 6 orbits x 8 satellites at 1,200 km, 60 deg, five stations far apart.
N_ORB, N_PER = 6, 8
N_SAT = N_ORB * N_PER
ALT_KM = 1200.0
MU_WGS72 = 398600.8
EPOCH_DAYS_1949 = 2460370.5 - 2433281.5  # 2024-03-01 00:00 UTC (JD 2460370.5)
STATIONS = [("Madrid", 40.4168, -3.7038, 650.0), ("Nairobi", -1.2921, 36.8219, 1795.0),
            ("Tokyo", 35.6762, 139.6503, 40.0), ("New-York", 40.7128, -74.006, 10.0),
            ("Sydney", -33.8688, 151.2093, 58.0),
            # Never in range of a 60 deg shell: its traffic is dropped.
            ("Amundsen-Scott", -89.99, 0.0, 2835.0)]
N_GS = len(STATIONS)
MAX_GSL_M = 3_000_000.0
MAX_ISL_M = 9_000_000.0


def _tle_lines(sid: int, raan_deg: float, ma_deg: float) -> tuple[str, str]:
    a = 6378.135 + ALT_KM
    no_kozai = math.sqrt(MU_WGS72 / a**3) * 60.0
    sat = Satrec()
    sat.sgp4init(WGS72, "i", sid + 1, EPOCH_DAYS_1949, 0.0, 0.0, 0.0, 1e-4, 0.0,
                 math.radians(60.0), math.radians(ma_deg), no_kozai, math.radians(raan_deg))
    return export_tle(sat)


def isls_shuffled() -> list[tuple[int, int]]:
    pairs = []
    for i in range(N_ORB):
        for j in range(N_PER):
            s = i * N_PER + j
            for t in (i * N_PER + (j + 1) % N_PER, ((i + 1) % N_ORB) * N_PER + j):
                pairs.append((min(s, t), max(s, t)))
    random.Random(7).shuffle(pairs)  # interface numbers then depend on the file order
    return pairs


def write_tiny(folder: Path, *, isls: bool = True, interfaces: list[str] | None = None) -> Path:
    """A Hypatia directory written with plain Python (basic ground-station format)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{N_ORB} {N_PER}"]
    for i in range(N_ORB):
        for j in range(N_PER):
            sid = i * N_PER + j
            l1, l2 = _tle_lines(sid, i * 360.0 / N_ORB, j * 360.0 / N_PER + (i % 2) * 22.5)
            lines += [f"Tiny {sid}", l1, l2]
    (folder / "tles.txt").write_text("\n".join(lines) + "\n")
    (folder / "isls.txt").write_text(
        "".join(f"{a} {b}\n" for a, b in (isls_shuffled() if isls else [])))
    (folder / "ground_stations.txt").write_text("".join(
        f"{g},{n},{la},{lo},{el}\n" for g, (n, la, lo, el) in enumerate(STATIONS)))
    (folder / "description.txt").write_text(
        f"max_gsl_length_m={MAX_GSL_M:.10f}\nmax_isl_length_m={MAX_ISL_M:.10f}\n")
    rows = interfaces or ["1,1.000000"] * (N_SAT + N_GS)
    (folder / "gsl_interfaces_info.txt").write_text(
        "".join(f"{k},{r}\n" for k, r in enumerate(rows)))
    return folder


