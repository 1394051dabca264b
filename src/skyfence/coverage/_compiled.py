"""The compiled (numba) visibility kernel behind `GroundIndex` (``kernel="numba"``).

Same geometry, same candidate blocks and same decisions as the NumPy kernel of
`skyfence.coverage.visibility` (the reference, ``kernel="numpy"``); only the arithmetic is
arranged differently (sums in another order than BLAS), so results agree except for pairs
whose elevation is within rounding (about 1e-12 deg) of the mask, and the choice between two
satellites whose elevations agree to rounding.

Per time step:

1. **Candidate blocks.** The (bin, satellite) pairs with ``|s - c_bin| <= rho_s + r_bin`` (the
   bound of `GroundIndex.max_slant_range_km` plus the bin radius): satellites are sorted once
   into a uniform 3-D grid of cell edge ``max(rho) + max(r_bin)`` (`satellite_grid`), and a bin
   tests only the satellites of the grid cells that meet the ball of radius
   ``max(rho) + r_bin`` around its centre.
2. **Exact test per block.** For each bin the candidate satellites ``[x, y, z, |s|^2, sin^2 m]``
   are gathered contiguously into a per-thread buffer; then for each satellite the loop over the
   bin's points (structure-of-arrays, vectorized by LLVM) evaluates

       A = n.s - n.g = n.(s - g),   B = -2 g.s + |g|^2 + |s|^2 = |s - g|^2,
       usable  <=>  A |A| >= sin^2(m) B,

   and keeps per point the count, the highest key ``A|A| / B`` (the NumPy kernel's key; lowest
   satellite index among equal keys) and whether the held satellite is usable.
3. **Pairs** (when asked, or for the GSO exclusion): the counts give each point's slice of the
   output; a second pass writes every usable pair (satellite order) with its ``A`` and ``B``.
   The GSO decision is the NumPy one (`skyfence.coverage.gso.gso_excluded_pairs`, whose arc
   minimisation is compiled below) on those pairs, and a reduction over the surviving pairs
   gives counts, best and held flags.

Elevations use ``atan2(A, sqrt(B - A^2))`` as the NumPy kernel, with a branch-free ``atan``
(Cephes) that vectorizes, and the cross-product form above 89 deg.

Bins are dealt to threads round-robin (bin ``b`` to thread ``b mod T``), which balances dense
and sparse regions without a dynamic scheduler; the threads are a pool running functions
compiled with ``nogil=True`` (`run_chunks`). Everything is compiled with ``cache=True``; the
first call in a fresh environment compiles (see ``bench/coverage.py`` for the measured cost).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__: list[str] = []

#: Points per tile of the inner loop (the tile's state stays in L1).
_TILE = 128
_ZENITH_FIX_DEG = 89.0

# ----------------------------------------------------------------------------- candidates
@njit(cache=True, error_model="numpy")
def _grid_sort(sx, sy, sz, ok, rho, lo, h, dims):
    """Counting sort of satellites ``ok`` into grid cells of edge ``h``.

    Returns ``cell_start`` (n_cell + 1,) and, in cell order, the satellites' coordinates, their
    ``rho`` and their indices.
    """
    ncell = dims[0] * dims[1] * dims[2]
    key = np.empty(ok.size, np.int64)
    start = np.zeros(ncell + 1, np.int64)
    for k in range(ok.size):
        i = ok[k]
        ix = min(max(int((sx[i] - lo[0]) / h), 0), dims[0] - 1)
        iy = min(max(int((sy[i] - lo[1]) / h), 0), dims[1] - 1)
        iz = min(max(int((sz[i] - lo[2]) / h), 0), dims[2] - 1)
        c = (ix * dims[1] + iy) * dims[2] + iz
        key[k] = c
        start[c + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]
    fill = np.empty(ncell, np.int64)
    for c in range(ncell):
        fill[c] = start[c]
    cx = np.empty(ok.size)
    cy = np.empty(ok.size)
    cz = np.empty(ok.size)
    crho = np.empty(ok.size)
    cid = np.empty(ok.size, np.int64)
    for k in range(ok.size):
        c = key[k]
        f = fill[c]
        i = ok[k]
        cx[f] = sx[i]
        cy[f] = sy[i]
        cz[f] = sz[i]
        crho[f] = rho[k]
        cid[f] = i
        fill[c] = f + 1
    return start, cx, cy, cz, crho, cid


@njit(cache=True, error_model="numpy")
def _axis_gap(v, i, lo, h):
    """Distance along one axis from coordinate ``v`` to grid slab ``i`` (0 inside)."""
    a = lo + i * h
    if v < a:
        return a - v
    b = a + h
    if v > b:
        return v - b
    return 0.0


@njit(cache=True, error_model="numpy")
def _bin_candidates(b, fill, out, start, cx, cy, cz, crho, cid, rho_max, lo, h, dims,
                    centre, radius):
    """Count (``fill`` False) or write into ``out`` the candidate satellites of bin ``b``:
    those with ``|s - c_b| <= rho_s + r_b``; only grid cells that meet the ball of radius
    ``rho_max + r_b`` are visited."""
    px, py, pz = centre[b, 0], centre[b, 1], centre[b, 2]
    rb = radius[b]
    reach = rho_max + rb
    reach2 = reach * reach
    x0 = max(math.floor((px - reach - lo[0]) / h), 0)
    x1 = min(math.floor((px + reach - lo[0]) / h), dims[0] - 1)
    y0 = max(math.floor((py - reach - lo[1]) / h), 0)
    y1 = min(math.floor((py + reach - lo[1]) / h), dims[1] - 1)
    z0 = max(math.floor((pz - reach - lo[2]) / h), 0)
    z1 = min(math.floor((pz + reach - lo[2]) / h), dims[2] - 1)
    n = 0
    for ix in range(x0, x1 + 1):
        gx = _axis_gap(px, ix, lo[0], h)
        for iy in range(y0, y1 + 1):
            gy = _axis_gap(py, iy, lo[1], h)
            rest = reach2 - gx * gx - gy * gy
            if rest < 0.0:
                continue
            # z cells whose slab is within sqrt(rest) of pz (contiguous in the cell order).
            dz = math.sqrt(rest)
            za = max(math.floor((pz - dz - lo[2]) / h), z0)
            zb = min(math.floor((pz + dz - lo[2]) / h), z1)
            if za > zb:
                continue
            base = (ix * dims[1] + iy) * dims[2]
            k0 = start[base + za]
            k1 = start[base + zb + 1]
            xs, ys, zs = cx[k0:k1], cy[k0:k1], cz[k0:k1]
            rs, ids = crho[k0:k1], cid[k0:k1]
            for k in range(xs.size):
                dx = xs[k] - px
                dy = ys[k] - py
                dzz = zs[k] - pz
                lim = rs[k] + rb
                if dx * dx + dy * dy + dzz * dzz <= lim * lim:
                    if fill:
                        out[n] = ids[k]
                    n += 1
    return n


# ----------------------------------------------------------------------------- exact test
@njit(cache=True, error_model="numpy")
def _gather(m, ID, S, X):
    """Copy the rows ``[x, y, z, |s|^2, sin^2 m]`` of satellites ``ID[:m]`` into ``X[:, :m]``."""
    for k in range(m):
        i = ID[k]
        X[0, k] = S[0, i]
        X[1, k] = S[1, i]
        X[2, k] = S[2, i]
        X[3, k] = S[3, i]
        X[4, k] = S[4, i]


@njit(cache=True, error_model="numpy")
def _tile(q0, q1, m, X, ID, P, held, has_held, cnt, bkey, bs, hok):
    """Points ``[q0, q1)`` (sorted order) against the ``m`` gathered satellites.

    Tile-local outputs (index ``q - q0``): usable count, best key ``A|A| / B`` (the signed
    ``sin^2`` of the elevation, as the NumPy kernel's) and its satellite (lowest index among
    equal keys, whatever the order of the satellites), and whether ``held[q]`` is usable. The
    loop over points is the inner one, free of cross-iteration dependencies, so LLVM
    vectorizes it; two satellites are folded into each point's state per pass (the state
    stays in registers), in the order given.
    """
    w = q1 - q0
    for r in range(w):
        cnt[r] = 0
        bkey[r] = -1.0
        bs[r] = -1
        hok[r] = False
    nx = P[0, q0:q1]
    ny = P[1, q0:q1]
    nz = P[2, q0:q1]
    nc = P[3, q0:q1]
    gx = P[4, q0:q1]
    gy = P[5, q0:q1]
    gz = P[6, q0:q1]
    g2 = P[7, q0:q1]
    if has_held:
        hq = held[q0:q1]
        j = 0
        while j + 2 <= m:
            x0, y0, z0, s0 = X[0, j + 0], X[1, j + 0], X[2, j + 0], X[3, j + 0]
            n0, i0 = X[4, j + 0], ID[j + 0]
            x1, y1, z1, s1 = X[0, j + 1], X[1, j + 1], X[2, j + 1], X[3, j + 1]
            n1, i1 = X[4, j + 1], ID[j + 1]
            for r in range(w):
                a0, a1, a2, a3 = nx[r], ny[r], nz[r], nc[r]
                b0, b1, b2, b3 = gx[r], gy[r], gz[r], g2[r]
                bk = bkey[r]
                bsv = bs[r]
                c = cnt[r]
                hk = hok[r]
                hh = hq[r]
                A = a0 * x0 + a1 * y0 + a2 * z0 + a3
                B = b0 * x0 + b1 * y0 + b2 * z0 + b3 + s0
                AA = A * abs(A)
                v = n0 * B <= AA
                key = AA / B
                up = v & ((key > bk) | ((key == bk) & (i0 < bsv)))
                c += v
                bk = key if up else bk
                bsv = i0 if up else bsv
                hk = hk | (v & (hh == i0))
                A = a0 * x1 + a1 * y1 + a2 * z1 + a3
                B = b0 * x1 + b1 * y1 + b2 * z1 + b3 + s1
                AA = A * abs(A)
                v = n1 * B <= AA
                key = AA / B
                up = v & ((key > bk) | ((key == bk) & (i1 < bsv)))
                c += v
                bk = key if up else bk
                bsv = i1 if up else bsv
                hk = hk | (v & (hh == i1))
                bkey[r] = bk
                bs[r] = bsv
                cnt[r] = c
                hok[r] = hk
            j += 2
        while j < m:
            x, y, z, ss, sn, sid = X[0, j], X[1, j], X[2, j], X[3, j], X[4, j], ID[j]
            for r in range(w):
                A = nx[r] * x + ny[r] * y + nz[r] * z + nc[r]
                B = gx[r] * x + gy[r] * y + gz[r] * z + g2[r] + ss
                AA = A * abs(A)
                v = sn * B <= AA
                key = AA / B
                bk = bkey[r]
                up = v & ((key > bk) | ((key == bk) & (sid < bs[r])))
                cnt[r] += v
                bkey[r] = key if up else bk
                bs[r] = sid if up else bs[r]
                hok[r] = hok[r] | (v & (hq[r] == sid))
            j += 1
    else:
        j = 0
        while j + 2 <= m:
            x0, y0, z0, s0 = X[0, j + 0], X[1, j + 0], X[2, j + 0], X[3, j + 0]
            n0, i0 = X[4, j + 0], ID[j + 0]
            x1, y1, z1, s1 = X[0, j + 1], X[1, j + 1], X[2, j + 1], X[3, j + 1]
            n1, i1 = X[4, j + 1], ID[j + 1]
            for r in range(w):
                a0, a1, a2, a3 = nx[r], ny[r], nz[r], nc[r]
                b0, b1, b2, b3 = gx[r], gy[r], gz[r], g2[r]
                bk = bkey[r]
                bsv = bs[r]
                c = cnt[r]
                A = a0 * x0 + a1 * y0 + a2 * z0 + a3
                B = b0 * x0 + b1 * y0 + b2 * z0 + b3 + s0
                AA = A * abs(A)
                v = n0 * B <= AA
                key = AA / B
                up = v & ((key > bk) | ((key == bk) & (i0 < bsv)))
                c += v
                bk = key if up else bk
                bsv = i0 if up else bsv
                A = a0 * x1 + a1 * y1 + a2 * z1 + a3
                B = b0 * x1 + b1 * y1 + b2 * z1 + b3 + s1
                AA = A * abs(A)
                v = n1 * B <= AA
                key = AA / B
                up = v & ((key > bk) | ((key == bk) & (i1 < bsv)))
                c += v
                bk = key if up else bk
                bsv = i1 if up else bsv
                bkey[r] = bk
                bs[r] = bsv
                cnt[r] = c
            j += 2
        while j < m:
            x, y, z, ss, sn, sid = X[0, j], X[1, j], X[2, j], X[3, j], X[4, j], ID[j]
            for r in range(w):
                A = nx[r] * x + ny[r] * y + nz[r] * z + nc[r]
                B = gx[r] * x + gy[r] * y + gz[r] * z + g2[r] + ss
                AA = A * abs(A)
                v = sn * B <= AA
                key = AA / B
                bk = bkey[r]
                up = v & ((key > bk) | ((key == bk) & (sid < bs[r])))
                cnt[r] += v
                bkey[r] = key if up else bk
                bs[r] = sid if up else bs[r]
            j += 1


# atan on [0, 1]: Cephes' atan.c (S. Moshier), rational approximation with relative error
# below 2.2e-16 (checked against libm's atan2 in the tests of this kernel).
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1,
           -7.500855792314704667340e1, -1.228866684490136173410e2,
           -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)
_MOREBITS = 6.123233995736765886130e-17  # pi/2 = double(pi/2) + _MOREBITS


@njit(cache=True, error_model="numpy")
def atan2_nonneg(y, x):
    """``atan2(y, x)`` (rad) for ``y, x >= 0``, without branches that stop vectorization."""
    p0, p1, p2, p3, p4 = _ATAN_P
    q0, q1, q2, q3, q4 = _ATAN_Q
    big = y > x
    num = x if big else y
    den = y if big else x
    red = num > 0.66 * den  # reduce t = num/den in (0.66, 1] to (t - 1)/(t + 1)
    a = (num - den) if red else num
    b = (num + den) if red else den
    t = a / b if b > 0.0 else 0.0
    z = t * t
    p = (((p0 * z + p1) * z + p2) * z + p3) * z + p4
    q = ((((z + q0) * z + q1) * z + q2) * z + q3) * z + q4
    r = t * (z * p / q) + t
    r = (math.pi / 4 + (r + 0.5 * _MOREBITS)) if red else r
    return (math.pi / 2 - r + _MOREBITS) if big else r


@njit(cache=True, error_model="numpy")
def _elevation_fast_deg(u, b2):
    """Elevation (deg) from ``A = u >= 0`` and ``B = b2``: ``atan2(u, sqrt(B - u^2))``."""
    return math.degrees(atan2_nonneg(max(u, 0.0), math.sqrt(max(b2 - u * u, 0.0))))


@njit(cache=True, error_model="numpy")
def _zenith_deg(q, sat, P, S):
    """Elevation (deg) by the cross-product form, well conditioned at the zenith."""
    nx, ny, nz = P[0, q], P[1, q], P[2, q]
    dx = S[0, sat] + 0.5 * P[4, q]
    dy = S[1, sat] + 0.5 * P[5, q]
    dz = S[2, sat] + 0.5 * P[6, q]
    uu = nx * dx + ny * dy + nz * dz
    cx = ny * dz - nz * dy
    cy = nz * dx - nx * dz
    cz = nx * dy - ny * dx
    return math.degrees(math.atan2(uu, math.sqrt(cx * cx + cy * cy + cz * cz)))


@njit(cache=True, error_model="numpy")
def _elevation_deg(u, b2, q, sat, P, S):
    """Elevation (deg) from ``A = u`` and ``B = b2``, as the NumPy kernel: the ``atan2`` of
    ``u`` and ``sqrt(B - u^2)``, and above 89 deg the cross-product form from the positions."""
    el = _elevation_fast_deg(u, b2)
    if el > _ZENITH_FIX_DEG:
        el = _zenith_deg(q, sat, P, S)
    return el


@njit(cache=True, error_model="numpy")
def _bin_setup(b, start, cx, cy, cz, crho, cid, rho_max, lo, h, dims, centre, radius, S,
               ID, X):
    m = _bin_candidates(b, True, ID, start, cx, cy, cz, crho, cid, rho_max, lo, h, dims,
                        centre, radius)
    _gather(m, ID, S, X)
    return m


@njit(cache=True, error_model="numpy")
def satellite_grid(S, ok, rho, lo, h, dims):
    """The satellite grid of one step (see `_grid_sort`), shared by the kernels below."""
    return _grid_sort(S[0], S[1], S[2], ok, rho, lo, h, dims)


@njit(cache=True, nogil=True, error_model="numpy")
def count_best(t, n_chunks, grid, rho_max, lo, h, dims, centre, radius, bin_start, bin_count,
               P, S, order, held, has_held, out_n, out_sat, out_el, out_held):
    """Bins ``t, t + n_chunks, ...`` of one step: candidates, exact test, best and held.

    ``grid`` from `satellite_grid`; ``S`` (5, n_sat): x, y, z, |s|^2, sin^2(mask); ``P``
    (8, n_point, sorted order): n, -n.g, -2 g, |g|^2. Writes ``out_*`` (caller order) for the
    points of those bins; returns the exact checks made.
    """
    start, cx, cy, cz, crho, cid = grid
    ID = np.empty(cid.size, np.int64)
    X = np.empty((5, cid.size))
    cnt = np.empty(_TILE, np.int32)
    bkey = np.empty(_TILE)
    bA = np.empty(_TILE)
    bB = np.empty(_TILE)
    bs = np.empty(_TILE, np.int64)
    hok = np.empty(_TILE, np.bool_)
    el = np.empty(_TILE)
    n_checks = 0
    for b in range(t, bin_start.size, n_chunks):
        p0 = bin_start[b]
        p1 = p0 + bin_count[b]
        m = _bin_setup(b, start, cx, cy, cz, crho, cid, rho_max, lo, h, dims, centre, radius,
                       S, ID, X)
        n_checks += m * (p1 - p0)
        for q0 in range(p0, p1, _TILE):
            q1 = min(q0 + _TILE, p1)
            _tile(q0, q1, m, X, ID, P, held, has_held, cnt, bkey, bs, hok)
            # A and B of the best satellite, recomputed with the loop's own arithmetic.
            w = q1 - q0
            for r in range(w):
                q = q0 + r
                sb = max(bs[r], 0)
                bA[r] = P[0, q] * S[0, sb] + P[1, q] * S[1, sb] + P[2, q] * S[2, sb] + P[3, q]
                bB[r] = (P[4, q] * S[0, sb] + P[5, q] * S[1, sb] + P[6, q] * S[2, sb] + P[7, q]
                         + S[3, sb])
            for r in range(w):
                el[r] = _elevation_fast_deg(bA[r], bB[r])
            for r in range(w):
                q = q0 + r
                j = order[q]
                out_n[j] = cnt[r]
                out_sat[j] = bs[r]
                if bs[r] < 0:
                    out_el[j] = np.nan
                elif el[r] > _ZENITH_FIX_DEG:
                    out_el[j] = _zenith_deg(q, bs[r], P, S)
                else:
                    out_el[j] = el[r]
                if has_held:
                    out_held[j] = hok[r]
    return n_checks


_RADIX_BITS = 11
_RADIX = 1 << _RADIX_BITS


@njit(cache=True, error_model="numpy")
def _sort_ids(ids, tmp, counts):
    """Sort non-negative integers ``ids`` in place (LSD radix sort, 11 bits a pass; ``tmp`` at
    least as long, ``counts`` of ``_RADIX + 1``). Compiles far faster than ``np.sort``."""
    m = ids.size
    if m < 2:
        return
    top = 0
    for i in range(m):
        top = max(top, ids[i])
    src = ids
    dst = tmp[:m]
    shift = 0
    swapped = False
    while (top >> shift) > 0:
        for k in range(counts.size):
            counts[k] = 0
        for i in range(m):
            counts[((src[i] >> shift) & (_RADIX - 1)) + 1] += 1
        for k in range(_RADIX):
            counts[k + 1] += counts[k]
        for i in range(m):
            k = (src[i] >> shift) & (_RADIX - 1)
            dst[counts[k]] = src[i]
            counts[k] += 1
        src, dst = dst, src
        swapped = not swapped
        shift += _RADIX_BITS
    if swapped:
        for i in range(m):
            ids[i] = src[i]


@njit(cache=True, nogil=True, error_model="numpy")
def fill_pairs(t, n_chunks, grid, rho_max, lo, h, dims, centre, radius, bin_start, bin_count,
               P, S, order, offset, pair_sat, pair_a, pair_b, pair_el):
    """Every usable pair of the points of bins ``t, t + n_chunks, ...``, written at
    ``offset[order[q]]`` (caller order) for sorted point ``q`` and sorted by satellite: its
    satellite, ``A``, ``B`` and elevation (deg).

    ``offset`` (n_point + 1,) comes from the counts of `count_best` (caller order); the test
    is the same arithmetic, so each point writes exactly its count. Returns 0. Elevations are
    left to `pair_elevations`.
    """
    start, cx, cy, cz, crho, cid = grid
    ID = np.empty(cid.size, np.int64)
    tmp = np.empty(cid.size, np.int64)
    counts = np.empty(_RADIX + 1, np.int64)
    X = np.empty((5, cid.size))
    for b in range(t, bin_start.size, n_chunks):
        p0 = bin_start[b]
        p1 = p0 + bin_count[b]
        m = _bin_candidates(b, True, ID, start, cx, cy, cz, crho, cid, rho_max, lo, h, dims,
                            centre, radius)
        _sort_ids(ID[:m], tmp, counts)  # satellite order: each point's pairs come out sorted
        _gather(m, ID, S, X)
        for q in range(p0, p1):
            nx, ny, nz, nc = P[0, q], P[1, q], P[2, q], P[3, q]
            gx, gy, gz, g2 = P[4, q], P[5, q], P[6, q], P[7, q]
            j0 = offset[order[q]]
            j1 = offset[order[q] + 1]
            k = j0
            for j in range(m):
                x = X[0, j]
                y = X[1, j]
                z = X[2, j]
                A = nx * x + ny * y + nz * z + nc
                B = gx * x + gy * y + gz * z + g2 + X[3, j]
                AA = A * abs(A)
                if X[4, j] * B <= AA and k < j1:
                    pair_sat[k] = ID[j]
                    pair_a[k] = A
                    pair_b[k] = B
                    k += 1
    return 0


@njit(cache=True, nogil=True, error_model="numpy")
def pair_elevations(t, n_chunks, offset, rank, pair_sat, pair_a, pair_b, pair_el, P, S):
    """Elevation (deg) of the pairs of caller points ``t, t + n_chunks, ...``: the fast form
    over all of them (vectorized), then the cross-product form above 89 deg. Returns 0."""
    n = offset.size - 1
    lo = offset[n * t // n_chunks]
    hi = offset[n * (t + 1) // n_chunks]
    a = pair_a[lo:hi]  # views: indices from 0, so no wraparound test stops vectorization
    b = pair_b[lo:hi]
    e = pair_el[lo:hi]
    for i in range(e.size):
        e[i] = _elevation_fast_deg(a[i], b[i])
    for i in range(lo, hi):
        if pair_el[i] > _ZENITH_FIX_DEG:  # rare: find the pair's point
            j = np.searchsorted(offset, i, side="right") - 1
            pair_el[i] = _zenith_deg(rank[j], pair_sat[i], P, S)
    return 0


@njit(cache=True, error_model="numpy")
def _reduce_point(j, offset, keep, pair_sat, pair_a, pair_b, held, has_held, rank, P, S,
                  out_n, out_sat, out_el, out_held):
    c = 0
    best = -1
    bAA = -1.0
    bB = 1.0
    bsat = -1
    h = False
    for i in range(offset[j], offset[j + 1]):
        if not keep[i]:
            continue
        c += 1
        A = pair_a[i]
        B = pair_b[i]
        AA = A * abs(A)
        sid = pair_sat[i]
        lhs = AA * bB
        rhs = bAA * B
        if lhs > rhs or (lhs == rhs and sid < bsat):
            bAA = AA
            bB = B
            best = i
            bsat = sid
        if has_held and held[j] == sid:
            h = True
    out_n[j] = c
    if best >= 0:
        out_sat[j] = pair_sat[best]
        out_el[j] = _elevation_deg(pair_a[best], pair_b[best], rank[j], pair_sat[best], P, S)
    else:
        out_sat[j] = -1
        out_el[j] = np.nan
    if has_held:
        out_held[j] = h


@njit(cache=True, nogil=True, error_model="numpy")
def reduce_pairs(t, n_chunks, offset, keep, pair_sat, pair_a, pair_b, held, has_held, rank, P,
                 S, out_n, out_sat, out_el, out_held):
    """Counts, best and held flags (caller order) of points ``t, t + n_chunks, ...`` from the
    pairs that are kept (after the GSO exclusion); ``rank[j]`` is caller point ``j``'s sorted
    position (for its geometry). Returns 0."""
    for j in range(t, offset.size - 1, n_chunks):
        _reduce_point(j, offset, keep, pair_sat, pair_a, pair_b, held, has_held, rank, P, S,
                      out_n, out_sat, out_el, out_held)
    return 0


# ----------------------------------------------------------------------------- GSO arc
# The minimisation of `skyfence.coverage.gso._min_separation_rad`, pair by pair: the same
# samples, the same Lipschitz filter and the same golden-section polish (same operations in
# the same order; only libm may differ in the last bit). NumPy's version is vectorized over
# pairs but runs ~1,000 small array operations per call whatever the number of pairs, which
# dominates for the few undecided pairs of a step's gateway links.
_GSO_R = 42_164.17  # skyfence.coverage.gso.GSO_RADIUS_KM
_GSO_SAMPLES = 512
_GSO_GOLDEN = 64
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


@njit(cache=True, error_model="numpy")
def _gso_angle_at(gx, gy, gz, dx, dy, dz, lam):
    wx = _GSO_R * math.cos(lam) - gx
    wy = _GSO_R * math.sin(lam) - gy
    wz = 0.0 - gz
    cx = dy * wz - dz * wy
    cy = dz * wx - dx * wz
    cz = dx * wy - dy * wx
    return math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), dx * wx + dy * wy + dz * wz)


@njit(cache=True, nogil=True, error_model="numpy")
def gso_min_separation_rad(g, d, out):
    """Minimum angle (rad) between unit LOS ``d[i]`` from ``g[i]`` (km) and the GSO arc."""
    n_s = _GSO_SAMPLES
    dlam = 2.0 * math.pi / n_s
    lam = np.empty(n_s)
    cl = np.empty(n_s)
    sl = np.empty(n_s)
    for j in range(n_s):
        lam[j] = j * dlam
        cl[j] = math.cos(lam[j])
        sl[j] = math.sin(lam[j])
    theta = np.empty(n_s)
    R = _GSO_R
    for i in range(g.shape[0]):
        gx, gy, gz = g[i, 0], g[i, 1], g[i, 2]
        dx, dy, dz = d[i, 0], d[i, 1], d[i, 2]
        g2 = gx * gx + gy * gy + gz * gz
        gd = gx * dx + gy * dy + gz * dz
        rho_g = math.hypot(gx, gy)
        lip = R / math.sqrt(R * R + g2 - 2.0 * R * rho_g)
        best = np.inf
        for j in range(n_s):
            num = R * (dx * cl[j] + dy * sl[j]) - gd
            den2 = R * R + g2 - 2.0 * R * (gx * cl[j] + gy * sl[j])
            c = num / math.sqrt(den2)
            theta[j] = math.acos(min(max(c, -1.0), 1.0))
            best = min(best, theta[j])
        res = np.inf
        for j in range(n_s):
            tj = theta[j]
            if not (tj <= theta[j - 1] and tj <= theta[(j + 1) % n_s]):
                continue
            if tj - lip * dlam > best:
                continue
            lo = lam[j] - dlam
            hi = lam[j] + dlam
            x1 = hi - _INV_PHI * (hi - lo)
            x2 = lo + _INV_PHI * (hi - lo)
            f1 = _gso_angle_at(gx, gy, gz, dx, dy, dz, x1)
            f2 = _gso_angle_at(gx, gy, gz, dx, dy, dz, x2)
            for _ in range(_GSO_GOLDEN):
                if f1 < f2:
                    hi = x2
                    x2 = x1
                    x1 = hi - _INV_PHI * (hi - lo)
                    f2 = f1
                    f1 = _gso_angle_at(gx, gy, gz, dx, dy, dz, x1)
                else:
                    lo = x1
                    x1 = x2
                    x2 = lo + _INV_PHI * (hi - lo)
                    f1 = f2
                    f2 = _gso_angle_at(gx, gy, gz, dx, dy, dz, x2)
            res = min(res, min(f1, f2))
        out[i] = res
