"""Compiled shortest paths for `skyfence.network.routing` (``Router(backend="numba")``).

Dijkstra with a binary heap on a CSR graph (non-negative weights; every stored edge counts,
zero weights included, as in ``scipy.sparse.csgraph``), a predecessor update only on a strict
improvement (as scipy), and early exit once the wanted targets are settled. Each node keeps the
edge it was reached by, so a path's links, laser links, propagation delay, gateway and hash are
read by walking the predecessors from the leaf to the root, in the same order and with the same
arithmetic as the NumPy walk of the reference implementation.

Searches from many roots run on several threads: the functions are compiled with
``nogil=True`` and dealt out by `skyfence.coverage._compiled.run_chunks`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def _fill(a, value):
    """``a[:] = value`` as a loop (slice assignment costs much more to compile)."""
    for i in range(a.size):
        a[i] = value


@njit(cache=True, nogil=True)
def csr(n, src, dst):
    """CSR of directed edges ``src -> dst`` over ``n`` nodes: ``(indptr, edge ids)``, edges of
    a node in input order (a counting sort)."""
    indptr = np.zeros(n + 1, np.int64)
    for e in range(src.size):
        indptr[src[e] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = np.empty(n, np.int64)
    for i in range(n):
        fill[i] = indptr[i]
    eid = np.empty(src.size, np.int64)
    for e in range(src.size):
        k = fill[src[e]]
        eid[k] = e
        fill[src[e]] = k + 1
    return indptr, eid


# An indexed 4-ary min-heap of nodes keyed by distance (ties: lower node first), with
# decrease-key: ``pos[v]`` is v's slot in the heap, -1 before it enters, -2 once settled.
@njit(cache=True, nogil=True, inline="always")
def _less(k1, v1, k2, v2):
    return k1 < k2 or (k1 == k2 and v1 < v2)


@njit(cache=True, nogil=True, inline="always")
def _sift_up(hk, hv, pos, i, key, val):
    while i > 0:
        parent = (i - 1) >> 2
        if not _less(key, val, hk[parent], hv[parent]):
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        pos[hv[i]] = i
        i = parent
    hk[i] = key
    hv[i] = val
    pos[val] = i


@njit(cache=True, nogil=True, inline="always")
def _pop(hk, hv, pos, size):
    """Remove the root (the caller read it); returns the new size."""
    pos[hv[0]] = -2
    size -= 1
    if size == 0:
        return 0
    key = hk[size]
    val = hv[size]
    i = 0
    while True:
        c = 4 * i + 1
        if c >= size:
            break
        best = c
        bk = hk[c]
        bv = hv[c]
        last = min(c + 4, size)
        for j in range(c + 1, last):
            if _less(hk[j], hv[j], bk, bv):
                best = j
                bk = hk[j]
                bv = hv[j]
        if not _less(bk, bv, key, val):
            break
        hk[i] = bk
        hv[i] = bv
        pos[bv] = i
        i = best
    hk[i] = key
    hv[i] = val
    pos[val] = i
    return size


@njit(cache=True, nogil=True)
def heap_search(indptr, eid, dst, weight, roots, is_target, n_targets, dist, pred, pred_edge,
                label, hk, hv, pos):
    """Dijkstra from ``roots`` (all at distance 0) into ``dist``, ``pred``, ``pred_edge`` and
    ``label`` (the root each node's path starts from), which the caller has reset to
    inf / -1 (``pos`` to -1). Stops once ``n_targets`` nodes flagged in ``is_target`` are
    settled (0: never). ``hk``, ``hv``: heap buffers of at least n entries."""
    size = 0
    for r in roots:
        if pos[r] == -1:
            dist[r] = 0.0
            label[r] = r
            _sift_up(hk, hv, pos, size, 0.0, r)
            size += 1
    left = n_targets
    while size > 0:
        du = hk[0]
        u = hv[0]
        size = _pop(hk, hv, pos, size)
        if n_targets > 0 and is_target[u]:
            left -= 1
            if left == 0:
                break
        for k in range(indptr[u], indptr[u + 1]):
            e = eid[k]
            v = dst[e]
            nd = du + weight[e]
            if nd < dist[v]:
                dist[v] = nd
                pred[v] = u
                pred_edge[v] = e
                label[v] = label[u]
                i = pos[v]
                if i == -1:
                    i = size
                    size += 1
                _sift_up(hk, hv, pos, i, nd, v)


@njit(cache=True, nogil=True)
def bucket_search(indptr, eid, dst, weight, roots, is_target, n_targets, dist, pred,
                  pred_edge, label, delta, head, ent_node, ent_next, settled):
    """Dijkstra with a bucket queue (Dial): buckets of width ``delta`` <= the smallest edge
    weight, so every node of the lowest non-empty bucket is final and a bucket is settled in
    any order, without comparisons between keys. Same distances as `heap_search`; the
    predecessor differs only between exactly equal alternatives. ``head`` is a circular array
    of more than ``max(weight) / delta + 1`` slots (set to -1), ``ent_*`` hold at least
    ``roots.size + dst.size`` entries, ``settled`` is reset to False by the caller."""
    nb = head.size
    n_ent = 0
    live = 0
    for r in roots:
        if dist[r] > 0.0:
            dist[r] = 0.0
            label[r] = r
            ent_node[n_ent] = r
            ent_next[n_ent] = head[0]
            head[0] = n_ent
            n_ent += 1
            live += 1
    left = n_targets
    b = 0
    while live > 0:
        slot = b % nb
        while head[slot] >= 0:
            k = head[slot]
            head[slot] = ent_next[k]
            live -= 1
            u = ent_node[k]
            if settled[u]:
                continue  # an older entry of a node settled from an earlier bucket
            du = dist[u]
            settled[u] = True
            if n_targets > 0 and is_target[u]:
                left -= 1
                if left == 0:
                    return
            for j in range(indptr[u], indptr[u + 1]):
                e = eid[j]
                v = dst[e]
                nd = du + weight[e]
                if nd < dist[v]:
                    dist[v] = nd
                    pred[v] = u
                    pred_edge[v] = e
                    label[v] = label[u]
                    nbk = max(int(nd / delta), b)
                    s2 = nbk % nb
                    ent_node[n_ent] = v
                    ent_next[n_ent] = head[s2]
                    head[s2] = n_ent
                    n_ent += 1
                    live += 1
        b += 1


@njit(cache=True, nogil=True)
def search(indptr, eid, dst, weight, roots, is_target, n_targets, dist, pred, pred_edge,
           label, delta, n_slots, fbuf, ibuf, jbuf, kbuf, flags):
    """Dijkstra from ``roots``: `bucket_search` when ``delta > 0`` (``n_slots`` buckets), else
    `heap_search`. The caller resets ``dist``/``pred``/``pred_edge``/``label``; the work
    buffers (from `buffers`) are reset here."""
    if delta > 0.0:
        head = jbuf[:n_slots]
        _fill(head, -1)
        _fill(flags, False)
        bucket_search(indptr, eid, dst, weight, roots, is_target, n_targets, dist, pred,
                      pred_edge, label, delta, head, ibuf, kbuf, flags)
    else:
        pos = jbuf[:dist.size]
        _fill(pos, -1)
        heap_search(indptr, eid, dst, weight, roots, is_target, n_targets, dist, pred,
                    pred_edge, label, fbuf, ibuf, pos)


@njit(cache=True, nogil=True)
def buffers(n, n_edge, n_roots, n_slots):
    """Work buffers of `search` for ``n`` nodes and ``n_edge`` edges."""
    m = max(n, n_roots + n_edge)
    return (np.empty(n), np.empty(m, np.int64), np.empty(max(n, n_slots), np.int64),
            np.empty(m, np.int64), np.empty(n, np.bool_))


@njit(cache=True, nogil=True)
def walk(pred, pred_edge, delay, start, n_sat, gw_lo, gw_hi):
    """Walk from ``start`` to its root: (propagation delay summed leaf to root, laser links,
    links, gateway node passed or -1, FNV-1a hash of the node sequence)."""
    cur = start
    h = (_FNV_OFFSET ^ np.uint64(cur)) * _FNV_PRIME
    dly = 0.0
    n_laser = 0
    n_links = 0
    gw = -1
    p = pred[cur]
    while p >= 0:
        dly += delay[pred_edge[cur]]
        if p < n_sat and cur < n_sat:
            n_laser += 1
        n_links += 1
        if gw_lo <= p < gw_hi:
            gw = p
        h = (h ^ np.uint64(p)) * _FNV_PRIME
        cur = p
        p = pred[cur]
    return dly, n_laser, n_links, gw, h


@njit(cache=True, nogil=True)
def walk_many(pred, pred_edge, delay, tree, start, n_sat, gw_lo, gw_hi, out_delay, out_laser,
              out_links, out_gw, out_hash):
    """`walk` for every (tree row, start node) pair."""
    for i in range(start.size):
        d, nl, nk, g, h = walk(pred[tree[i]], pred_edge[tree[i]], delay, start[i], n_sat,
                               gw_lo, gw_hi)
        out_delay[i] = d
        out_laser[i] = nl
        out_links[i] = nk
        out_gw[i] = g
        out_hash[i] = h


@njit(cache=True, nogil=True)
def trees(t, n_chunks, indptr, eid, dst, weight, delta, n_slots, roots, dist, pred,
          pred_edge):
    """Full shortest-path trees from each of ``roots`` (rows ``t, t + n_chunks, ...`` of
    ``dist``/``pred``/``pred_edge``, shape (n_root, n)). Returns 0."""
    n = indptr.size - 1
    fb, ib, jb, kb, fl = buffers(n, dst.size, 1, n_slots)
    label = np.empty(n, np.int64)
    no_target = np.zeros(0, np.bool_)
    one = np.empty(1, np.int64)
    for i in range(t, roots.size, n_chunks):
        _fill(dist[i], np.inf)
        _fill(pred[i], -1)
        _fill(pred_edge[i], -1)
        one[0] = roots[i]
        # (no_target.size, not a literal 0: the same signature as calls from Python)
        search(indptr, eid, dst, weight, one, no_target, no_target.size, dist[i], pred[i],
               pred_edge[i], label, delta, n_slots, fb, ib, jb, kb, fl)
    return 0


@njit(cache=True, nogil=True)
def site_rows(t, n_chunks, indptr, eid, dst, weight, delta, n_slots, delay, roots, targets,
              is_target, n_sat, with_walk, one_way, n_laser, n_links, delay_sum):
    """Site-to-site rows ``t, t + n_chunks, ...``: search from ``roots[i]`` until every
    target is settled; ``one_way[i, j]`` = distance to ``targets[j]`` (inf = unreachable), and
    with ``with_walk`` the laser links, links and propagation delay of the path. Returns 0."""
    n = indptr.size - 1
    fb, ib, jb, kb, fl = buffers(n, dst.size, 1, n_slots)
    dist = np.empty(n)
    pred = np.empty(n, np.int64)
    pred_edge = np.empty(n, np.int64)
    label = np.empty(n, np.int64)
    one = np.empty(1, np.int64)
    for i in range(t, roots.size, n_chunks):
        _fill(dist, np.inf)
        _fill(pred, -1)
        _fill(pred_edge, -1)
        one[0] = roots[i]
        search(indptr, eid, dst, weight, one, is_target, targets.size, dist, pred, pred_edge,
               label, delta, n_slots, fb, ib, jb, kb, fl)
        for j in range(targets.size):
            v = targets[j]
            one_way[i, j] = dist[v]
            if with_walk and dist[v] < np.inf:
                d, nl, nk, _, _ = walk(pred, pred_edge, delay, v, n_sat, 0, 0)
                n_laser[i, j] = nl
                n_links[i, j] = nk
                delay_sum[i, j] = d
    return 0


@njit(cache=True, nogil=True)
def segments(cu, cs):
    """``(ordered, starts)``: whether candidates are sorted by user then satellite, and the
    first index of each user's run (when ordered)."""
    n = cu.size
    starts = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        if i == 0 or cu[i] != cu[i - 1]:
            if i > 0 and (cu[i] < cu[i - 1]):
                return False, starts[:0]
            starts[m] = i
            m += 1
        elif cs[i] < cs[i - 1]:
            return False, starts[:0]
    return True, starts[:m]


@njit(cache=True, nogil=True)
def pick_home(starts, cu, cs, acc_w, home, row_of_pop, dist, score, use_score, pick):
    """Per user run: the candidate with the lowest ``score`` (or, without, the lowest cost
    ``dist[home row, sat] + access weight``) among those with a finite cost to the home PoP;
    the first such (lowest satellite) on ties; -1 where none."""
    n = cu.size
    for g in range(starts.size):
        a = starts[g]
        b = starts[g + 1] if g + 1 < starts.size else n
        row = row_of_pop[home[cu[a]]]
        best = -1
        bv = np.inf
        if row >= 0:
            for i in range(a, b):
                c = dist[row, cs[i]] + acc_w[i]
                if c < np.inf:
                    v = score[i] if use_score else c
                    if v < bv:
                        bv = v
                        best = i
        pick[g] = best


@njit(cache=True, nogil=True)
def pick_fallback(starts, cs, acc_w, dist_row, score, use_score, pick):
    """As `pick_home` with the costs to any PoP (the multi-source tree ``dist_row``), for the
    runs without a pick."""
    n = cs.size
    for g in range(starts.size):
        if pick[g] >= 0:
            continue
        a = starts[g]
        b = starts[g + 1] if g + 1 < starts.size else n
        best = -1
        bv = np.inf
        for i in range(a, b):
            c = dist_row[cs[i]] + acc_w[i]
            if c < np.inf:
                v = score[i] if use_score else c
                if v < bv:
                    bv = v
                    best = i
        pick[g] = best
