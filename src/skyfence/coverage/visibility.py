"""The visibility kernel: which satellites each ground point sees above its elevation mask.

Geometry
--------
A satellite at ITRS position ``s`` (km) is usable from a ground point ``g`` (ITRS km) with
WGS-84 ellipsoid normal ``n`` when its elevation above the local horizon reaches the mask
``m``:

    sin(el) = n . (s - g) / |s - g| >= sin(m),     0 <= m < 90 deg,

evaluated exactly (no slant-range cut-off), optionally together with the geostationary-arc
exclusion (`skyfence.coverage.gso`). Peers that use a slant-range cut-off get the mask wrong
by several degrees; this kernel agrees with an all-pairs evaluation of
`skyfence.earth.look_angles` except for ties within about 1e-12 deg of the mask.

Spatial method
--------------
Ground points are sorted once into bins (cells of a gnomonic cube-sphere grid, about
``bin_size_km`` across), each with a centre and a radius enclosing its points. Per time step,
a k-d tree over the satellites finds the (satellite, bin) pairs whose distance is at most the
satellite's largest possible slant range at the mask plus the bin radius. That slant range is
an exact upper bound, not a heuristic: the ellipsoid normal of every ground point is within
``delta`` (<= 0.193 deg, measured from the points themselves) of its geocentric radius, so a
satellite at elevation >= ``m`` has geocentric elevation >= ``m - delta``, and on a sphere of
radius ``R`` the slant range at geocentric elevation ``e`` is
``-R sin e + sqrt(r^2 - R^2 cos^2 e)``, which decreases with ``e`` and (for ``e >= 0``) with
``R``; the smallest ground radius in the set is used. For each bin the exact test then runs as
one dense block (points x candidate satellites) of two small matrix products:

    A = [n, -n.g, 0] @ [s, 1, |s|^2]^T = n.(s - g),
    B = [-2g, |g|^2, 1] @ [s, 1, |s|^2]^T = |s - g|^2,
    usable  <=>  A >= 0  and  A^2 >= sin^2(m) B.

No array ever spans time x points x satellites, and nothing loops over satellites x points in
Python: the loop runs over bins (about 1,500 for all land cells).

Kernels
-------
Two implementations of the per-step work share the bins, bounds and decisions:

``"numba"`` (default when numba imports)
    `skyfence.coverage._compiled`: candidate blocks found through a 3-D satellite grid, each
    block's satellites gathered contiguously, the exact test compiled and vectorized, bins dealt
    to all threads (``threads``; default ``NUMBA_NUM_THREADS``, i.e. every core).
``"numpy"``
    The reference: candidate blocks from k-d trees (scipy), the exact test as the two matrix
    products above per block.

Both return the same visible sets, counts, best satellites and held flags, except for pairs
whose elevation is within rounding (about 1e-12 deg) of the mask and choices between
satellites whose elevations agree to rounding. Without numba the NumPy kernel is used and a
notice is logged. ``SKYFENCE_COVERAGE_KERNEL=numpy|numba`` sets the default.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from ..errors import InputError
from ..threads import max_threads, run_chunks
from .gso import gso_excluded_pairs

__all__ = [
    "DEFAULT_MIN_ELEVATION_DEG",
    "KERNELS",
    "GroundIndex",
    "StepVisibility",
    "VisibilityPairs",
    "check_masks",
    "elevation_masks",
    "visibility_brute_force",
]

#: Default user-terminal elevation mask, deg (FCC order of April 2021; ../shared/facts.md).
DEFAULT_MIN_ELEVATION_DEG = 25.0

#: Names of the visibility kernels (`GroundIndex` ``kernel=``).
KERNELS = ("numba", "numpy")

_log = logging.getLogger(__name__)
_KERNEL_ENV = "SKYFENCE_COVERAGE_KERNEL"
_compiled_module: ModuleType | None = None
_compiled_error: str | None = None
_fallback_logged = False


def _compiled() -> ModuleType | None:
    """The compiled kernel module, or None when numba does not import (reason kept)."""
    global _compiled_module, _compiled_error
    if _compiled_module is None and _compiled_error is None:
        try:
            from . import _compiled as mod
        except Exception as exc:  # numba missing or broken: the NumPy kernel stays
            _compiled_error = f"{type(exc).__name__}: {exc}"
        else:
            _compiled_module = mod
    return _compiled_module


def _resolve_kernel(kernel: str | None) -> str:
    """The kernel to use: ``kernel``, else ``$SKYFENCE_COVERAGE_KERNEL``, else numba if it
    imports (a notice is logged once when it does not), else numpy."""
    global _fallback_logged
    field = "kernel"
    if kernel is None:
        env = os.environ.get(_KERNEL_ENV, "").strip().lower()
        if env:
            kernel, field = env, _KERNEL_ENV
    if kernel is not None:
        name = str(kernel).strip().lower()
        if name not in KERNELS:
            raise InputError(f"unknown visibility kernel {kernel!r}; choose one of "
                             f"{', '.join(KERNELS)}", field)
        if name == "numba" and _compiled() is None:
            raise InputError(f"the numba kernel is not available ({_compiled_error}); use "
                             "kernel='numpy' or install numba", field)
        return name
    if _compiled() is not None:
        return "numba"
    if not _fallback_logged:
        _log.warning("numba is not available (%s); using the NumPy visibility kernel",
                     _compiled_error)
        _fallback_logged = True
    return "numpy"

_CUBE_FACE_KM = 10_000.0  # a cube-sphere face spans 90 deg of arc, ~10,000 km
# Automatic bin size: candidates (km), and a cost model for one step with a nominal
# constellation (5,000 satellites, 1,200 km reach): each block costs about as much as
# _BLOCK_COST_CHECKS exact pair checks (measured: ~90 us per block, ~10 ns per check).
_BIN_SIZES_KM = (200.0, 300.0, 450.0, 600.0, 900.0, 1300.0, 2000.0, 3000.0, 5000.0, 10_000.0)
_BLOCK_COST_CHECKS = 8_000.0
# The compiled kernel: a block costs its candidate search and gather, about as much as
# _COMPILED_CANDIDATE_COST exact checks per candidate satellite (measured on all land cells).
_COMPILED_CANDIDATE_COST = 40.0
_GRID_MAX_CELLS = 1 << 22
_NOMINAL_SATS = 5_000.0
_NOMINAL_REACH_KM = 1_200.0
_SHELL_RADIUS_KM = 6_900.0
_BLOCK_ENTRIES = 49_152  # points x satellites per block: with K = 5, OpenBLAS stays single-threaded
_MARGIN_KM = 1e-6
_ZENITH_FIX_DEG = 89.0  # above this, recompute elevations with the cross-product form


class _StepArrays:
    """Per-point outputs of one step, in sorted order (blocks write disjoint slices)."""

    def __init__(self, n: int, with_held: bool) -> None:
        self.n_vis = np.zeros(n, np.int32)
        self.best_sat = np.full(n, -1, np.int64)
        self.best_el = np.full(n, np.nan)
        self.best_u = np.zeros(n)  # n.(s - g) of the best satellite
        self.best_b2 = np.ones(n)  # |s - g|^2 of the best satellite
        self.held_ok = np.zeros(n, bool) if with_held else None


def check_masks(min_elevation_deg: ArrayLike, n_sat: int, field: str) -> np.ndarray:
    m = np.asarray(min_elevation_deg, dtype=np.float64)
    if m.ndim == 0:
        m = np.full(n_sat, float(m))
    if m.shape != (n_sat,):
        raise InputError(
            f"elevation masks need one value or one per satellite ({n_sat}), got shape {m.shape}",
            field,
        )
    bad = ~((m >= 0.0) & (m < 90.0))
    if bad.any():
        raise InputError(
            f"elevation mask must be within [0, 90) deg, got {float(m[bad][0])}", field
        )
    return m


def elevation_masks(
    shell_labels: tuple[str, ...] | list[str],
    min_elevation_deg: float = DEFAULT_MIN_ELEVATION_DEG,
    by_shell: dict[str, float] | None = None,
) -> np.ndarray:
    """Per-satellite elevation masks (deg): ``by_shell[label]`` where given, else the default.

    Parameters
    ----------
    shell_labels : sequence of str
        Shell label of each satellite (`Constellation.shell`).
    min_elevation_deg : float
        Mask for satellites whose shell has no entry.
    by_shell : dict, optional
        Masks per shell label. An unknown label raises `InputError` listing the known ones.

    >>> elevation_masks(("a", "b", "a"), 25.0, {"b": 20.0}).tolist()
    [25.0, 20.0, 25.0]
    """
    labels = np.asarray(list(shell_labels), dtype=object)
    masks = np.full(labels.size, float(min_elevation_deg))
    known = sorted(set(labels.tolist()))
    for shell, mask in (by_shell or {}).items():
        sel = labels == shell
        if not sel.any():
            raise InputError(
                f"unknown shell {shell!r}; shells in this constellation: {known}",
                "min_elevation_by_shell",
            )
        masks[sel] = float(mask)
    return check_masks(masks, labels.size, "min_elevation_deg")


@dataclass(frozen=True)
class VisibilityPairs:
    """Every usable (ground point, satellite) pair of one time step.

    Attributes
    ----------
    point : int64, shape (k,)
        Ground-point index (caller order).
    sat : int64, shape (k,)
        Satellite index (row of the position array).
    elevation_deg : float64, shape (k,)
        Elevation above the WGS-84 local horizon.
    range_km : float64, shape (k,), or None
        Slant range (km), ``sqrt(|s - g|^2)`` from the kernel's own ``|s - g|^2`` (agrees with
        a direct evaluation to about 1e-11 km).

    Pairs are sorted by ``point``, then ``sat``.
    """

    point: np.ndarray
    sat: np.ndarray
    elevation_deg: np.ndarray
    range_km: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.point.size)


@dataclass(frozen=True)
class StepVisibility:
    """What every ground point sees at one time step.

    Attributes
    ----------
    n_visible : int32, shape (n_point,)
        Usable satellites (elevation >= mask, GSO arc kept clear when asked).
    best_elevation_deg : float64, shape (n_point,)
        Highest elevation of a usable satellite; NaN where none.
    best_sat : int64, shape (n_point,)
        Index of that satellite (lowest index among exact ties); -1 where none.
    held_usable : bool, shape (n_point,) or None
        With ``held_sat`` given to `GroundIndex.visibility`: whether that satellite is usable
        (decided by the same arithmetic as ``n_visible``).
    pairs : VisibilityPairs or None
        All usable pairs, when asked for.
    """

    n_visible: np.ndarray
    best_elevation_deg: np.ndarray
    best_sat: np.ndarray
    held_usable: np.ndarray | None = None
    pairs: VisibilityPairs | None = None


def _auto_bin_size_km(u: np.ndarray, kernel: str = "numpy") -> float:
    """Bin size (km) minimising the modelled per-step cost of ``kernel`` for unit vectors
    ``u``."""
    best, best_cost = _BIN_SIZES_KM[0], np.inf
    n = u.shape[0]
    for size in _BIN_SIZES_KM:
        n_div = max(1, int(np.ceil(_CUBE_FACE_KM / size)))
        n_bins = np.unique(_cube_bins(u, n_div)).size
        reach = _NOMINAL_REACH_KM + 0.75 * size
        sats_per_bin = _NOMINAL_SATS * reach**2 / (4.0 * _SHELL_RADIUS_KM**2)
        if kernel == "numba":
            cost = n_bins * sats_per_bin * _COMPILED_CANDIDATE_COST + n * sats_per_bin
        else:
            blocks = max(n_bins, n * sats_per_bin / _BLOCK_ENTRIES)
            cost = blocks * _BLOCK_COST_CHECKS + n * sats_per_bin
        if cost < best_cost:
            best, best_cost = size, cost
    return best


def _cube_bins(u: np.ndarray, n_div: int) -> np.ndarray:
    """Bin id of unit vectors on a gnomonic cube-sphere grid with ``n_div`` x ``n_div`` faces."""
    ax = np.argmax(np.abs(u), axis=1)
    rows = np.arange(u.shape[0])
    major = u[rows, ax]
    face = ax * 2 + (major < 0)
    a = u[rows, (ax + 1) % 3] / np.abs(major)
    b = u[rows, (ax + 2) % 3] / np.abs(major)
    ia = np.clip(((a + 1.0) * 0.5 * n_div).astype(np.int64), 0, n_div - 1)
    ib = np.clip(((b + 1.0) * 0.5 * n_div).astype(np.int64), 0, n_div - 1)
    return (face * n_div + ia) * n_div + ib


class GroundIndex:
    """Ground points prepared for the visibility kernel (built once, used every time step).

    Parameters
    ----------
    r_itrs_km : array_like, shape (n_point, 3)
        ITRS positions of the ground points, km (for example H3 cell centres on the WGS-84
        ellipsoid, or terminals at their altitude).
    up : array_like, shape (n_point, 3)
        Unit ellipsoid normals (local "up") at those points, ITRS components
        (`skyfence.earth.enu_basis`).
    gso_exclusion_deg : float or array_like (n_point,), optional
        Minimum separation of a link from the geostationary arc, per point (22 deg for user
        terminals, 18 for gateways); NaN or None: no exclusion for that point. Applied when
        `visibility` is called with ``gso=True``.
    bin_size_km : float, optional
        Edge of the spatial bins; affects speed only, never results. By default chosen from
        the points by a cost model of the kernel in use (for all land cells about 450 km with
        the compiled kernel, 450-600 km with NumPy; a few thousand km for a few scattered
        terminals).
    kernel : {"numba", "numpy"}, optional
        The per-step implementation (module docstring, "Kernels"). Default:
        ``$SKYFENCE_COVERAGE_KERNEL`` if set, else numba when it imports, else NumPy (with a
        logged notice). Asking for numba where it does not import is an `InputError`.
    threads : int, optional
        Threads per step. Compiled kernel: default ``NUMBA_NUM_THREADS`` (every core unless
        that variable says otherwise), and never more than it. NumPy kernel: a thread pool
        over the blocks (NumPy and BLAS release the GIL), default 1. Under process-level
        parallelism (Dask workers) give 1, or set ``NUMBA_NUM_THREADS=1`` for the workers.
    workers : int, optional
        Former name of ``threads`` (used when ``threads`` is not given).

    Examples
    --------
    >>> from skyfence.earth import geodetic_to_itrs, enu_basis
    >>> lat, lon = np.array([50.45, 25.03]), np.array([30.52, 121.56])
    >>> ground = GroundIndex(geodetic_to_itrs(lat, lon), enu_basis(lat, lon)[2])
    >>> sat = geodetic_to_itrs(50.45, 30.52, 550.0)[None, :]   # overhead Kyiv
    >>> step = ground.visibility(sat, 25.0)
    >>> step.n_visible.tolist(), round(float(step.best_elevation_deg[0]), 6)
    ([1, 0], 90.0)
    """

    def __init__(
        self,
        r_itrs_km: ArrayLike,
        up: ArrayLike,
        *,
        gso_exclusion_deg: float | ArrayLike | None = None,
        bin_size_km: float | None = None,
        kernel: str | None = None,
        threads: int | None = None,
        workers: int | None = None,
    ) -> None:
        g = np.asarray(r_itrs_km, dtype=np.float64).reshape(-1, 3)
        n = np.asarray(up, dtype=np.float64).reshape(-1, 3)
        if g.shape != n.shape:
            raise InputError(
                f"r_itrs_km and up must both have shape (n_point, 3); got {g.shape} and {n.shape}",
                "ground points",
            )
        if not (np.isfinite(g).all() and np.isfinite(n).all()):
            raise InputError("ground points contain NaN or infinite coordinates", "ground points")
        if g.shape[0] and np.abs(np.linalg.norm(n, axis=1) - 1.0).max() > 1e-9:
            raise InputError("up vectors must be unit vectors", "ground points")
        if bin_size_km is not None and not (bin_size_km > 0.0):
            raise InputError(f"bin size must be > 0 km, got {bin_size_km!r}", "bin_size_km")
        if threads is None:
            threads = workers
        if threads is not None and (isinstance(threads, bool) or not (
                isinstance(threads, int | np.integer) and threads >= 1)):
            raise InputError(f"threads must be an integer >= 1, got {threads!r}", "threads")
        self.n_points = g.shape[0]
        #: The kernel in use: "numba" or "numpy".
        self.kernel = _resolve_kernel(kernel)
        self._threads = None if threads is None else int(threads)
        if gso_exclusion_deg is None:
            lim = np.full(self.n_points, np.nan)
        else:
            lim = np.broadcast_to(
                np.asarray(gso_exclusion_deg, dtype=np.float64), (self.n_points,)
            ).copy()
            bad = np.isfinite(lim) & ~((lim >= 0.0) & (lim < 90.0))
            if bad.any():
                raise InputError(
                    f"GSO exclusion angle must be within [0, 90) deg, got {float(lim[bad][0])}",
                    "gso_exclusion_deg",
                )
        self.r_itrs_km = g
        self.up = n
        self.gso_exclusion_deg = lim
        # ---- bins (points sorted so that each bin is one contiguous slice) ----
        if self.n_points:
            radius = np.linalg.norm(g, axis=1)
            unit = g / radius[:, None]
            if bin_size_km is None:
                bin_size_km = _auto_bin_size_km(unit, self.kernel)
            n_div = max(1, int(np.ceil(_CUBE_FACE_KM / bin_size_km)))
            key = _cube_bins(unit, n_div)
        else:
            radius = np.zeros(0)
            key = np.zeros(0, np.int64)
        order = np.argsort(key, kind="stable")
        self._order = order  # sorted position -> caller index
        self._rank = np.empty(self.n_points, np.int64)  # caller index -> sorted position
        self._rank[order] = np.arange(self.n_points)
        #: The bin size in use (km).
        self.bin_size_km = float(bin_size_km) if bin_size_km is not None else 0.0
        key_s = key[order]
        _, start, count = np.unique(key_s, return_index=True, return_counts=True)
        self._bin_start = start.astype(np.int64)
        self._bin_count = count.astype(np.int64)
        gs, ns = g[order], n[order]
        self._g = gs
        self._n = ns
        self._gso_rad = np.radians(lim[order])
        self._any_gso = bool(np.isfinite(lim).any())
        if self.n_points:
            centre = np.add.reduceat(gs, start, axis=0) / count[:, None]
            spread = np.linalg.norm(gs - np.repeat(centre, count, axis=0), axis=1)
            self._bin_radius = np.maximum.reduceat(spread, start) * (1 + 1e-12) + _MARGIN_KM
            self._bin_centre = np.ascontiguousarray(centre)
            self._tree = cKDTree(centre) if self.kernel == "numpy" else None
            self._centre = gs.mean(axis=0)
            self._reach_radius = float(np.linalg.norm(gs - self._centre, axis=1).max())
            self._reach_radius = self._reach_radius * (1 + 1e-12) + _MARGIN_KM
            # Largest angle between a normal and its geocentric radius (atan2 form: accurate
            # near zero), plus a margin far above rounding.
            delta = np.arctan2(np.linalg.norm(np.cross(ns, gs), axis=1),
                               np.einsum("ij,ij->i", ns, gs))
            self._delta_rad = float(delta.max()) + 1e-7
            self._r_min = float(radius.min())
            self._r_max = float(radius.max())
        else:
            self._bin_radius = np.zeros(0)
            self._bin_centre = np.zeros((0, 3))
            self._tree = None
            self._centre = np.zeros(3)
            self._reach_radius = 0.0
            self._delta_rad = 0.0
            self._r_min = self._r_max = 0.0
        c = np.einsum("ij,ij->i", ns, gs)
        g2 = np.einsum("ij,ij->i", gs, gs)
        # [n, -n.g, 0] and [-2 g, |g|^2, 1]: one row per point; with [s, 1, |s|^2] per satellite
        # A = n.(s - g) and B = |s - g|^2 are plain matrix products.
        if self.kernel == "numpy":
            zero, one = np.zeros_like(c), np.ones_like(c)
            self._na = np.ascontiguousarray(np.column_stack([ns, -c, zero]))
            self._gb = np.ascontiguousarray(np.column_stack([-2.0 * gs, g2, one]))
        else:
            # Structure of arrays (8, n_point) for the compiled kernel: n, -n.g, -2 g, |g|^2.
            self._P = np.ascontiguousarray(np.vstack([ns.T, -c, -2.0 * gs.T, g2]))
        #: Number of (point, satellite) pairs evaluated exactly by the last `visibility` call.
        self.last_checks = 0

    @property
    def n_bins(self) -> int:
        """Number of spatial bins."""
        return int(self._bin_start.size)

    @property
    def threads(self) -> int:
        """Threads a `visibility` call uses (see the ``threads`` parameter)."""
        if self.kernel == "numba":
            cap = max_threads()
            return cap if self._threads is None else min(self._threads, cap)
        return 1 if self._threads is None else self._threads

    @property
    def workers(self) -> int:
        """Former name of `threads`."""
        return self.threads

    # ------------------------------------------------------------------ bounds
    def max_slant_range_km(self, r_sat_km: np.ndarray, min_elevation_deg: np.ndarray) -> np.ndarray:
        """Upper bound on the slant range (km) of a usable satellite at geocentric distance
        ``r_sat_km`` with mask ``min_elevation_deg``, for every point of this set."""
        e = np.radians(min_elevation_deg) - self._delta_rad
        r = np.asarray(r_sat_km, dtype=np.float64)
        rmin, rmax = self._r_min, self._r_max
        with np.errstate(invalid="ignore"):
            root = np.sqrt(r * r - (rmin * np.cos(e)) ** 2)
            rho = np.where(e >= 0.0, -rmin * np.sin(e) + root, rmax * np.abs(np.sin(e)) + root)
        # A satellite at or below the highest ground point: no useful bound, take all.
        rho = np.where((r > rmax) & np.isfinite(rho), rho, r + rmax)
        return rho * (1.0 + 1e-9) + _MARGIN_KM

    # ------------------------------------------------------------------ kernel
    def visibility(
        self,
        r_sat_itrs_km: ArrayLike,
        min_elevation_deg: float | ArrayLike = DEFAULT_MIN_ELEVATION_DEG,
        *,
        gso: bool = False,
        held_sat: ArrayLike | None = None,
        pairs: bool = False,
    ) -> StepVisibility:
        """Usable satellites of every ground point at one time step.

        Parameters
        ----------
        r_sat_itrs_km : array_like, shape (n_sat, 3)
            Satellite ITRS positions at this time, km. Rows with NaN (failed propagation) are
            never usable.
        min_elevation_deg : float or array_like (n_sat,)
            Elevation mask per satellite (per-shell masks), within [0, 90) deg.
        gso : bool
            Apply each point's GSO-arc exclusion angle.
        held_sat : array_like of int (n_point,), optional
            A satellite per point (-1 for none) whose usability to report in ``held_usable``.
        pairs : bool
            Also return every usable pair (`VisibilityPairs`).

        Returns
        -------
        StepVisibility
        """
        s = np.asarray(r_sat_itrs_km, dtype=np.float64)
        if s.ndim != 2 or s.shape[1] != 3:
            raise InputError(
                f"satellite positions must have shape (n_sat, 3), got {s.shape}", "r_sat_itrs_km"
            )
        n_sat = s.shape[0]
        masks = check_masks(min_elevation_deg, n_sat, "min_elevation_deg")
        held = None
        if held_sat is not None:
            held = np.asarray(held_sat, dtype=np.int64)
            if held.shape != (self.n_points,):
                raise InputError(
                    f"held_sat needs one entry per point ({self.n_points}), got {held.shape}",
                    "held_sat",
                )
        if self.kernel == "numba":
            return self._visibility_compiled(s, masks, gso and self._any_gso, held, pairs)
        if held is not None:
            held = held[self._order]
        return self._visibility(s, masks, gso and self._any_gso, held, pairs)

    def _reachable(self, s: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Satellites that may be usable from some point, and their slant-range bounds (km)."""
        ok = np.flatnonzero(np.isfinite(s).all(axis=1))
        if ok.size == 0 or self.n_points == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        rho = self.max_slant_range_km(np.linalg.norm(s[ok], axis=1), masks[ok])
        # Satellites that cannot reach the sphere enclosing all points are dropped first.
        near = np.linalg.norm(s[ok] - self._centre, axis=1) <= rho + self._reach_radius
        return ok[near], rho[near]

    def _candidates(self, s: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bin, sat) pairs that may hold a usable pair, sorted by bin then satellite."""
        ok, rho = self._reachable(s, masks)
        if ok.size == 0 or self._tree is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        so = s[ok]
        reach = float(rho.max() + self._bin_radius.max())
        sdm = cKDTree(so).sparse_distance_matrix(self._tree, reach, output_type="ndarray")
        i = sdm["i"].astype(np.int64)
        j = sdm["j"].astype(np.int64)
        keep = sdm["v"] <= rho[i] + self._bin_radius[j]
        sat, bins = ok[i[keep]], j[keep]
        order = np.lexsort((sat, bins))
        return bins[order], sat[order]

    def _visibility(
        self,
        s: np.ndarray,
        masks: np.ndarray,
        gso: bool,
        held: np.ndarray | None,
        want_pairs: bool,
    ) -> StepVisibility:
        npt = self.n_points
        out = _StepArrays(npt, held is not None)
        bins, sats = self._candidates(s, masks)
        s_h = np.column_stack([s, np.ones(s.shape[0]), np.einsum("ij,ij->i", s, s)])
        sin2 = np.sin(np.radians(masks)) ** 2
        blocks: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        if bins.size:
            edges = np.flatnonzero(np.diff(bins)) + 1
            starts = np.concatenate([[0], edges]).tolist()
            stops = np.concatenate([edges, [bins.size]]).tolist()
            for a, b in zip(starts, stops, strict=True):
                sel = sats[a:b]
                p_start = int(self._bin_start[bins[a]])
                p_stop = p_start + int(self._bin_count[bins[a]])
                sh_t = np.ascontiguousarray(s_h[sel].T)
                rows_per_block = max(1, _BLOCK_ENTRIES // sel.size)
                for p0 in range(p_start, p_stop, rows_per_block):
                    blocks.append((p0, min(p0 + rows_per_block, p_stop), sel, sh_t))
        self.last_checks = sum((b[1] - b[0]) * b[2].size for b in blocks)
        pair_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

        def run(block: tuple[int, int, np.ndarray, np.ndarray]) -> None:
            part = self._block(block, s, sin2, gso, held, out, want_pairs)
            if part is not None:
                pair_parts.append(part)

        if self.threads > 1 and len(blocks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(run, blocks))
        else:
            for block in blocks:
                run(block)
        has = out.best_sat >= 0
        u = out.best_u
        el = np.degrees(np.arctan2(u, np.sqrt(np.maximum(out.best_b2 - u * u, 0.0))))
        out.best_el = np.where(has, el, np.nan)
        # Near the zenith recompute with the well-conditioned cross-product form.
        high = np.flatnonzero(out.best_el > _ZENITH_FIX_DEG)
        if high.size:
            out.best_el[high] = self._elevation_deg(high, out.best_sat[high], s)
        # Back to caller order.
        inv = self._order
        out_n = np.empty(npt, np.int32)
        out_n[inv] = out.n_vis
        out_sat = np.empty(npt, np.int64)
        out_sat[inv] = out.best_sat
        out_el = np.empty(npt)
        out_el[inv] = out.best_el
        out_held = None
        if out.held_ok is not None:
            out_held = np.empty(npt, bool)
            out_held[inv] = out.held_ok
        vp = None
        if want_pairs:
            if pair_parts:
                rows_s = np.concatenate([p[0] for p in pair_parts])
                sat_p = np.concatenate([p[1] for p in pair_parts])
                elev = np.concatenate([p[2] for p in pair_parts])
                rng = np.concatenate([p[3] for p in pair_parts])
            else:
                rows_s = np.zeros(0, np.int64)
                sat_p = np.zeros(0, np.int64)
                elev = np.zeros(0)
                rng = np.zeros(0)
            high = np.flatnonzero(elev > _ZENITH_FIX_DEG)
            if high.size:
                elev[high] = self._elevation_deg(rows_s[high], sat_p[high], s)
            point = inv[rows_s]
            order = np.lexsort((sat_p, point))
            vp = VisibilityPairs(point[order], sat_p[order], elev[order], rng[order])
        return StepVisibility(out_n, out_el, out_sat, out_held, vp)

    def _visibility_compiled(
        self,
        s: np.ndarray,
        masks: np.ndarray,
        gso: bool,
        held: np.ndarray | None,
        want_pairs: bool,
    ) -> StepVisibility:
        """The step with the compiled kernel (`skyfence.coverage._compiled`)."""
        kern = _compiled()
        if kern is None:  # e.g. an index unpickled where numba does not import
            raise InputError(f"this ground index uses the numba kernel, which is not available "
                             f"here ({_compiled_error})", "kernel")
        npt, n_sat = self.n_points, s.shape[0]
        out_n = np.zeros(npt, np.int32)
        out_sat = np.full(npt, -1, np.int64)
        out_el = np.full(npt, np.nan)
        out_held = np.zeros(npt, bool) if held is not None else None
        self.last_checks = 0
        ok, rho = self._reachable(s, masks)
        if ok.size == 0:
            vp = VisibilityPairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                 np.zeros(0))
            return StepVisibility(out_n, out_el, out_sat, out_held, vp if want_pairs else None)
        S = np.empty((5, n_sat))
        S[:3] = s.T
        S[3] = np.einsum("ij,ij->i", s, s)
        S[4] = np.sin(np.radians(masks)) ** 2
        # Satellite grid: cells of edge h (at least the largest reach), at most _GRID_MAX_CELLS.
        so = s[ok]
        lo = so.min(axis=0)
        span = so.max(axis=0) - lo
        h = float(rho.max() + self._bin_radius.max())
        while np.prod(np.floor(span / h) + 1.0) > _GRID_MAX_CELLS:
            h *= 1.5
        dims = (np.floor(span / h) + 1).astype(np.int64)
        threads = self.threads
        held_s = (np.ascontiguousarray(held[self._order]) if held is not None
                  else np.zeros(0, np.int64))
        held_c = held if held is not None else np.zeros(0, np.int64)
        no_held = np.zeros(0, bool)
        sat_grid = kern.satellite_grid(S, ok, rho, lo, h, dims)
        grid = (sat_grid, float(rho.max()), lo, h, dims, self._bin_centre, self._bin_radius,
                self._bin_start, self._bin_count, self._P, S, self._order)
        self.last_checks = run_chunks(
            kern.count_best, threads, *grid, held_s, held is not None, out_n, out_sat, out_el,
            out_held if out_held is not None else no_held)
        if not (gso or want_pairs):
            return StepVisibility(out_n, out_el, out_sat, out_held, None)
        offset = np.zeros(npt + 1, np.int64)
        np.cumsum(out_n, out=offset[1:])
        n_pairs = int(offset[-1])
        p_sat = np.empty(n_pairs, np.int64)
        p_a, p_b, p_el = np.empty(n_pairs), np.empty(n_pairs), np.empty(n_pairs)
        run_chunks(kern.fill_pairs, threads, *grid, offset, p_sat, p_a, p_b, p_el)
        run_chunks(kern.pair_elevations, threads, offset, self._rank, p_sat, p_a, p_b,
                        p_el, self._P, S)
        p_point = np.repeat(np.arange(npt, dtype=np.int64), out_n)
        if gso:
            keep = self._gso_keep(s, p_point, p_sat)
            if keep is not None:
                run_chunks(kern.reduce_pairs, threads, offset, keep, p_sat, p_a, p_b,
                                held_c, held is not None, self._rank, self._P, S, out_n,
                                out_sat, out_el, out_held if out_held is not None else no_held)
                p_point, p_sat, p_el, p_b = p_point[keep], p_sat[keep], p_el[keep], p_b[keep]
        out_pairs = VisibilityPairs(p_point, p_sat, p_el, np.sqrt(p_b)) if want_pairs else None
        return StepVisibility(out_n, out_el, out_sat, out_held, out_pairs)

    def _gso_keep(self, s: np.ndarray, point: np.ndarray, sat: np.ndarray) -> np.ndarray | None:
        """Pairs (caller point order) that survive the GSO exclusion; None when all do.

        The same decision as the NumPy kernel's (`_apply_gso`): `gso.gso_excluded_pairs` on the unit
        line of sight of each pair whose point has an exclusion angle.
        """
        lim = self._gso_rad[self._rank[point]]
        idx = np.flatnonzero(np.isfinite(lim))
        if idx.size == 0:
            return None
        g = self.r_itrs_km[point[idx]]
        d = s[sat[idx]] - g
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        bad = gso_excluded_pairs(g, d, lim[idx])
        if not bad.any():
            return None
        keep = np.ones(point.size, bool)
        keep[idx[bad]] = False
        return keep

    def _block(
        self,
        block: tuple[int, int, np.ndarray, np.ndarray],
        s: np.ndarray,
        sin2: np.ndarray,
        gso: bool,
        held: np.ndarray | None,
        out: _StepArrays,
        want_pairs: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Exact test of points ``[p0, p1)`` (sorted order) against satellites ``sel``."""
        p0, p1, sel, sh_t = block
        sin2_sel = sin2[sel]
        A = self._na[p0:p1] @ sh_t  # n . (s - g)
        B = self._gb[p0:p1] @ sh_t  # |s - g|^2
        key = np.abs(A)
        key *= A  # A |A|: sign of A with magnitude A^2
        uniform = not gso and sin2_sel[0] == sin2_sel[-1] and (sin2_sel == sin2_sel[0]).all()
        if uniform:
            # One mask: sin^2(el) >= sin^2(m) with A >= 0, and the best is the largest key.
            key /= B
            vis = key >= sin2_sel[0]
        else:
            vis = B * sin2_sel <= key  # el >= mask, i.e. A >= 0 and A^2 >= sin^2(m) B
            if gso:
                self._apply_gso(vis, p0, s, sel)
            key /= B  # sin^2(el) signed
            np.putmask(key, ~vis, -2.0)
        out.n_vis[p0:p1] = vis.sum(axis=1, dtype=np.int32)
        k = np.argmax(key, axis=1)  # first maximum: lowest satellite index among ties
        rows = np.arange(p1 - p0)
        out.best_sat[p0:p1] = np.where(vis[rows, k], sel[k], -1)
        out.best_u[p0:p1] = A[rows, k]
        out.best_b2[p0:p1] = B[rows, k]
        if out.held_ok is not None and held is not None:
            h = held[p0:p1]
            col = np.minimum(np.searchsorted(sel, h), sel.size - 1)
            out.held_ok[p0:p1] = (h >= 0) & (sel[col] == h) & vis[rows, col]
        if not want_pairs:
            return None
        r, c = np.nonzero(vis)
        u, b2 = A[r, c], B[r, c]
        el = np.degrees(np.arctan2(u, np.sqrt(np.maximum(b2 - u * u, 0.0))))
        return r + p0, sel[c], el, np.sqrt(b2)

    def _apply_gso(self, vis: np.ndarray, p0: int, s: np.ndarray, sel: np.ndarray) -> None:
        r, c = np.nonzero(vis)
        if r.size == 0:
            return
        pts = r + p0
        lim = self._gso_rad[pts]
        on = np.isfinite(lim)
        if not on.any():
            return
        r, c, pts, lim = r[on], c[on], pts[on], lim[on]
        g = self._g[pts]
        d = s[sel[c]] - g
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        bad = gso_excluded_pairs(g, d, lim)
        vis[r[bad], c[bad]] = False

    def _elevation_deg(self, rows_sorted: np.ndarray, sat: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Elevation (deg) of satellite ``sat`` from sorted-order point ``rows_sorted``.

        ``atan2(n.d, |n x d|)`` is well conditioned from the horizon to the zenith.
        """
        if rows_sorted.size == 0:
            return np.zeros(0)
        n = self._n[rows_sorted]
        d = s[sat] - self._g[rows_sorted]
        u = np.einsum("ij,ij->i", n, d)
        h = np.linalg.norm(np.cross(n, d), axis=1)
        return np.degrees(np.arctan2(u, h))

    def elevation_deg(
        self, point: ArrayLike, sat: ArrayLike, r_sat_itrs_km: ArrayLike
    ) -> np.ndarray:
        """Elevation (deg) of satellites ``sat`` seen from points ``point`` (caller indices)."""
        p = np.asarray(point, dtype=np.int64)
        inv = np.empty(self.n_points, np.int64)
        inv[self._order] = np.arange(self.n_points)
        return self._elevation_deg(
            inv[p], np.asarray(sat, dtype=np.int64), np.asarray(r_sat_itrs_km, dtype=np.float64)
        )


def visibility_brute_force(
    r_ground_itrs_km: ArrayLike,
    up: ArrayLike,
    r_sat_itrs_km: ArrayLike,
    min_elevation_deg: float | ArrayLike = DEFAULT_MIN_ELEVATION_DEG,
    *,
    gso_exclusion_deg: float | ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs reference: elevation (deg) and usability of every (point, satellite) pair.

    Dense ``(n_point, n_sat)`` arrays: for tests and benchmark baselines on small sets only.
    """
    g = np.asarray(r_ground_itrs_km, dtype=np.float64).reshape(-1, 3)
    n = np.asarray(up, dtype=np.float64).reshape(-1, 3)
    s = np.asarray(r_sat_itrs_km, dtype=np.float64).reshape(-1, 3)
    masks = check_masks(min_elevation_deg, s.shape[0], "min_elevation_deg")
    d = s[None, :, :] - g[:, None, :]
    u = np.einsum("pk,psk->ps", n, d)
    rng = np.linalg.norm(d, axis=2)
    with np.errstate(invalid="ignore"):
        el = np.degrees(np.arcsin(np.clip(u / rng, -1.0, 1.0)))
    usable = el >= masks[None, :]
    usable &= np.isfinite(el)
    if gso_exclusion_deg is not None:
        lim = np.broadcast_to(np.asarray(gso_exclusion_deg, np.float64), (g.shape[0],))
        pr, ps = np.nonzero(usable & np.isfinite(lim)[:, None])
        if pr.size:
            dd = d[pr, ps] / rng[pr, ps][:, None]
            bad = gso_excluded_pairs(g[pr], dd, np.radians(lim[pr]))
            usable[pr[bad], ps[bad]] = False
    return el, usable
