"""Recover orbital shells from real element sets, so nobody maintains shell tables by hand.

Satellites of one shell share an inclination and a mean altitude to within a few hundredths of
a degree and a few km, while satellites raising their orbit, lowering it or drifting spread
thinly between shells. `recover_shells` therefore clusters by density on a grid of
inclination x mean altitude:

1. Each satellite falls into a cell ``inclination_tol_deg`` wide and ``altitude_tol_km`` tall.
2. Cells holding at least ``min_cell_sats`` satellites are dense; dense cells that touch
   (8-neighbourhood) form one cluster (a grid form of DBSCAN).
3. Clusters with at least ``min_shell_sats`` satellites are shells; everything else (sparse
   cells, tiny clusters) is reported as unclustered: typically orbit raising or deorbiting.

Mean altitude is ``a * R - R`` from SGP4's mean semi-major axis ``a`` (Earth radii) and the
WGS-72 radius R that SGP4 uses (`Constellation.mean_altitude_km`).

The number of planes of a shell is estimated from the right ascensions of the ascending node,
first brought to a common epoch (the shell's median epoch) with SGP4's secular node rate
(``Satrec.nodedot``; about -5 deg/day at 53 deg and 550 km, so epochs a day apart would
otherwise blur 5-degree plane spacings), then split at circular gaps wider than
``plane_gap_deg``. Groups with at least ``min_plane_sats`` members are planes: every member
gets a plane id (`ShellRecovery.plane_index`), which the laser topology
(`skyfence.network.PlusGrid`) links in-plane and to the neighbouring planes.

This is the one shell and plane recovery of skyfence. Measured on the real element sets in
``../shared/data`` it leaves fewer satellites out than the gap-splitting recovery the laser
topology had before (2023-05-29 file: 13 shells, 149 satellites unclustered against 267;
2026-02-23 file: 20 shells, 280 against 672, the old one also cutting 90 satellites at
53.05 deg into three "shells" with more planes than members).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import InputError
from .constellation import Constellation

__all__ = [
    "RecoveredShell",
    "ShellRecovery",
    "assign_shell_labels",
    "estimate_planes",
    "format_shells",
    "nodes_at_common_epoch_deg",
    "plane_labels",
    "recover_planes",
    "recover_shells",
]

_MIN_PER_DAY = 1440.0


@dataclass(frozen=True, eq=False)
class RecoveredShell:
    """One shell found in an element set.

    Attributes
    ----------
    inclination_deg : float
        Median inclination of the members, deg.
    altitude_km : float
        Median mean altitude of the members (above the WGS-72 equatorial radius), km.
    n_sats : int
    n_planes_estimate : int
        Orbital planes with at least ``min_plane_sats`` members; 0 when the nodes show no gap
        wider than ``plane_gap_deg`` (planes not resolvable).
    norad_ids : numpy.ndarray of int64
        Catalogue numbers of the members.
    """

    inclination_deg: float
    altitude_km: float
    n_sats: int
    n_planes_estimate: int
    norad_ids: np.ndarray

    @property
    def label(self) -> str:
        """Short label such as ``"53.1deg/547km"`` (inclination to 0.1 deg, altitude to 1 km)."""
        return f"{self.inclination_deg:.1f}deg/{self.altitude_km:.0f}km"

    def describe(self) -> str:
        """One line such as ``"53.05 deg / 547 km: 1,439 satellites, ~72 planes"``."""
        k = self.n_planes_estimate
        planes = f", ~{k} plane{'s' if k != 1 else ''}" if k > 0 else ""
        return (f"{self.inclination_deg:.2f} deg / {self.altitude_km:.0f} km: "
                f"{self.n_sats:,} satellites{planes}")


@dataclass(frozen=True, eq=False)
class ShellRecovery(Sequence[RecoveredShell]):
    """Shells found in a constellation, largest first, and the satellites in none of them.

    Behaves as the sequence of its shells (``len``, indexing, iteration).

    Attributes
    ----------
    shells : tuple of RecoveredShell
        Sorted by size, largest first.
    unclustered_norad_ids : numpy.ndarray of int64
        Satellites in no shell (orbit raising, deorbiting, drifting, or tiny groups).
    shell_index : numpy.ndarray of int64, shape (n_sat,)
        Per satellite of the input, the index of its shell in ``shells``, or -1.
    plane_index : numpy.ndarray of int64, shape (n_sat,)
        Per satellite, a plane id unique over all shells (numbered shell by shell, in order of
        ascending node within a shell), or -1: not in a shell, or in a group of nodes smaller
        than ``min_plane_sats``, or in a shell whose planes are not resolvable.
    """

    shells: tuple[RecoveredShell, ...]
    unclustered_norad_ids: np.ndarray
    shell_index: np.ndarray
    plane_index: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.shells)

    @overload
    def __getitem__(self, i: int) -> RecoveredShell: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[RecoveredShell]: ...

    def __getitem__(self, i: int | slice) -> RecoveredShell | Sequence[RecoveredShell]:
        return self.shells[i]

    def __iter__(self) -> Iterator[RecoveredShell]:
        return iter(self.shells)

    @property
    def n_unclustered(self) -> int:
        """Number of satellites in no shell."""
        return int(self.unclustered_norad_ids.size)


def recover_shells(
    constellation: Constellation,
    *,
    inclination_tol_deg: float = 0.05,
    altitude_tol_km: float = 5.0,
    min_cell_sats: int = 5,
    min_shell_sats: int = 10,
    plane_gap_deg: float = 1.0,
    min_plane_sats: int = 3,
) -> ShellRecovery:
    """Find the shells of a constellation by density clustering in inclination x altitude.

    Parameters
    ----------
    constellation : Constellation
    inclination_tol_deg : float
        Cell width in inclination, deg (> 0). Starlink shells 0.15 deg apart (53.05 and 53.2)
        stay separate at the default.
    altitude_tol_km : float
        Cell height in mean altitude, km (> 0).
    min_cell_sats : int
        Satellites a cell needs to be dense (>= 1).
    min_shell_sats : int
        Satellites a cluster needs to count as a shell (>= 1).
    plane_gap_deg : float
        Gap in ascending node (at a common epoch) that separates two planes, deg (> 0).
    min_plane_sats : int
        Satellites a group of nodes needs to count as a plane (>= 1).

    Returns
    -------
    ShellRecovery
        The shells, largest first, and the unclustered satellites.
    """
    for value, label in ((inclination_tol_deg, "inclination_tol_deg"),
                         (altitude_tol_km, "altitude_tol_km"), (plane_gap_deg, "plane_gap_deg")):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{label} must be a number > 0, got {value!r}", label)
    for count, label in ((min_cell_sats, "min_cell_sats"), (min_shell_sats, "min_shell_sats"),
                         (min_plane_sats, "min_plane_sats")):
        if int(count) != count or count < 1:
            raise InputError(f"{label} must be a whole number >= 1, got {count!r}", label)
    n = len(constellation)
    inc = constellation.inclination_deg if n else np.zeros(0)
    alt = constellation.mean_altitude_km if n else np.zeros(0)
    cluster = _grid_clusters(inc, alt, inclination_tol_deg, altitude_tol_km, int(min_cell_sats))
    shells: list[tuple[RecoveredShell, np.ndarray, np.ndarray]] = []
    for k in range(int(cluster.max(initial=-1)) + 1):
        members = np.flatnonzero(cluster == k)
        if members.size < min_shell_sats:
            continue
        planes = plane_labels(constellation.subset(members), plane_gap_deg=plane_gap_deg,
                              min_plane_sats=int(min_plane_sats))
        shell = RecoveredShell(
            inclination_deg=float(np.median(inc[members])),
            altitude_km=float(np.median(alt[members])),
            n_sats=int(members.size),
            n_planes_estimate=int(planes.max(initial=-1)) + 1,
            norad_ids=constellation.norad_ids[members],
        )
        shells.append((shell, members, planes))
    shells.sort(key=lambda item: (-item[0].n_sats, item[0].inclination_deg,
                                  item[0].altitude_km))
    shell_index = np.full(n, -1, dtype=np.int64)
    plane_index = np.full(n, -1, dtype=np.int64)
    next_plane = 0
    for j, (shell, members, planes) in enumerate(shells):
        shell_index[members] = j
        plane_index[members] = np.where(planes >= 0, planes + next_plane, -1)
        next_plane += shell.n_planes_estimate
    return ShellRecovery(
        shells=tuple(s for s, _, _ in shells),
        unclustered_norad_ids=constellation.norad_ids[shell_index < 0],
        shell_index=shell_index,
        plane_index=plane_index,
    )


def _grid_clusters(
    inc_deg: np.ndarray, alt_km: np.ndarray, di: float, da: float, min_cell: int
) -> np.ndarray:
    """Cluster index per point (-1 for none): connected dense cells of a di x da grid."""
    n = inc_deg.size
    out = np.full(n, -1, dtype=np.int64)
    ok = np.isfinite(inc_deg) & np.isfinite(alt_km)
    if not ok.any():
        return out
    ii = np.floor(inc_deg[ok] / di).astype(np.int64)
    aa = np.floor(alt_km[ok] / da).astype(np.int64)
    ii -= ii.min()
    aa -= aa.min() - 1  # >= 1, so neighbours at -1 never wrap into the previous row
    width = int(aa.max()) + 2
    key = ii * width + aa
    cells, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    dense = np.flatnonzero(counts >= min_cell)
    if dense.size == 0:
        return out
    dkey = cells[dense]  # sorted
    m = dkey.size
    rows, cols = [np.arange(m)], [np.arange(m)]
    for d_inc, d_alt in ((0, 1), (1, -1), (1, 0), (1, 1)):
        target = dkey + d_inc * width + d_alt
        pos = np.minimum(np.searchsorted(dkey, target), m - 1)
        hit = dkey[pos] == target
        rows.append(np.flatnonzero(hit))
        cols.append(pos[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(m, m))
    _, component = connected_components(graph, directed=False)
    cell_cluster = np.full(cells.size, -1, dtype=np.int64)
    cell_cluster[dense] = component
    out[np.flatnonzero(ok)] = cell_cluster[inverse.ravel()]
    return out


def nodes_at_common_epoch_deg(constellation: Constellation) -> np.ndarray:
    """Right ascension of the ascending node of each satellite at the median epoch, deg.

    Each node is moved from its own epoch with SGP4's secular node rate
    (``Satrec.nodedot``), so planes stay sharp across elements of different epochs.
    """
    if len(constellation) == 0:
        return np.zeros(0)
    sats = constellation.satrecs
    epoch = np.array([s.jdsatepoch for s in sats]) + np.array([s.jdsatepochF for s in sats])
    t_ref = np.median(epoch)
    node0 = np.array([s.nodeo for s in sats])
    node_rate = np.array([s.nodedot for s in sats])  # rad/min
    return np.degrees(node0 + node_rate * (t_ref - epoch) * _MIN_PER_DAY) % 360.0


def plane_labels(
    constellation: Constellation, *, plane_gap_deg: float = 1.0, min_plane_sats: int = 3
) -> np.ndarray:
    """Plane label of each satellite of one shell: 0, 1, ... in order of node, or -1.

    Nodes at the common epoch (`nodes_at_common_epoch_deg`) are sorted on the circle and
    split at gaps wider than ``plane_gap_deg``; groups with at least ``min_plane_sats``
    members are planes, labelled in order of node starting after the widest gap. All -1
    when no gap is that wide (planes not resolvable) or a node is not finite.
    """
    n = len(constellation)
    out = np.full(n, -1, dtype=np.int64)
    node = nodes_at_common_epoch_deg(constellation)
    ok = np.flatnonzero(np.isfinite(node))
    if ok.size == 0:
        return out
    order = ok[np.argsort(node[ok], kind="stable")]
    vals = node[order]
    gaps = np.diff(np.append(vals, vals[0] + 360.0))
    if not np.any(gaps > plane_gap_deg):
        return out
    # Start after the widest gap, so no group straddles the start of the circle.
    start = (int(np.argmax(gaps)) + 1) % order.size
    order, gaps = np.roll(order, -start), np.roll(gaps, -start)
    group = np.concatenate([[0], np.cumsum(gaps[:-1] > plane_gap_deg)])
    sizes = np.bincount(group)
    keep = sizes >= min_plane_sats
    label_of_group = np.where(keep, np.cumsum(keep) - 1, -1)
    out[order] = label_of_group[group]
    return out


def estimate_planes(
    constellation: Constellation, *, plane_gap_deg: float = 1.0, min_plane_sats: int = 3
) -> int:
    """Estimate the number of orbital planes from the nodes at a common epoch.

    Right ascensions of the ascending node are moved to the median epoch with SGP4's secular
    node rate, sorted on the circle and split at gaps wider than ``plane_gap_deg``; groups with
    at least ``min_plane_sats`` members count. Returns 0 when no gap is that wide.
    """
    labels = plane_labels(constellation, plane_gap_deg=plane_gap_deg,
                          min_plane_sats=min_plane_sats)
    return int(labels.max(initial=-1)) + 1


def format_shells(recovery: ShellRecovery) -> list[str]:
    """Lines such as ``"53.05 deg / 547 km: 1,439 satellites, ~72 planes"``, then unclustered."""
    lines = [s.describe() for s in recovery.shells]
    if recovery.n_unclustered:
        lines.append(
            f"unclustered (orbit raising, deorbiting or drifting): "
            f"{recovery.n_unclustered:,} satellites"
        )
    return lines


def assign_shell_labels(constellation: Constellation, **params: float) -> Constellation:
    """The constellation with ``shell`` labels from `recover_shells` (``"53.1deg/547km"``).

    Satellites in no shell get ``""``. Labels of shells that would coincide at 0.1 deg / 1 km
    are written with two decimals of inclination. ``params`` go to `recover_shells`.
    """
    recovery = recover_shells(constellation, **params)  # type: ignore[arg-type]
    labels = [s.label for s in recovery.shells]
    for j, lab in enumerate(labels):
        if labels.count(lab) > 1:
            s = recovery.shells[j]
            labels[j] = f"{s.inclination_deg:.2f}deg/{s.altitude_km:.0f}km"
    per_sat = tuple(labels[k] if k >= 0 else "" for k in recovery.shell_index)
    return dataclasses.replace(constellation, shell=per_sat)


def recover_planes(constellation: Constellation, **params: float) -> tuple[np.ndarray, np.ndarray]:
    """Shell and plane of each satellite: ``(shell_index, plane_index)``, int64, -1 for none.

    `recover_shells` with its parameters; for the laser topology's +Grid.
    """
    recovery = recover_shells(constellation, **params)  # type: ignore[arg-type]
    return recovery.shell_index, recovery.plane_index
