"""Streaming network metrics: RTT percentiles, bent pipe vs laser, hops, gateway load, handovers.

`NetworkMetrics` is updated once per slot with a `UserPaths` and keeps memory bounded: per
user a few counters and (optionally) an RTT histogram; per group (region) an RTT histogram;
per step one row of cross-user statistics; per gateway load counters. Percentiles from
histograms are exact to half a bin (``bin_ms``, default 0.25 ms); means, minima and maxima are
exact.

Handovers per user (counted between consecutive slots where the user is served in both):
``path_changes`` (any node of the path differs, serving satellite included),
``gateway_changes``, ``pop_changes`` and ``serving_changes``; ``service_losses`` counts
served -> unserved transitions.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..errors import InputError
from .routing import STATUS_NO_ROUTE, STATUS_NO_SATELLITE, UserPaths

__all__ = ["NetworkMetrics", "histogram_percentiles"]


def histogram_percentiles(counts: np.ndarray, edges: np.ndarray, q: Sequence[float]
                          ) -> np.ndarray:
    """Percentiles (``q`` in [0, 100]) of histograms ``counts`` (..., n_bin) at bin centres.

    The last bin is an overflow bin reported at its lower edge. Rows with no samples give NaN.
    Returns shape (..., len(q)).
    """
    c = np.asarray(counts, np.int64)
    cum = np.cumsum(c, axis=-1)
    total = cum[..., -1:]
    centres = np.append(0.5 * (edges[:-1] + edges[1:]), edges[-1])
    out = np.full((*c.shape[:-1], len(q)), np.nan)
    for k, qq in enumerate(q):
        target = np.maximum(np.ceil(total * qq / 100.0), 1)
        idx = (cum < target).sum(axis=-1)
        val = centres[np.minimum(idx, centres.size - 1)]
        out[..., k] = np.where(total[..., 0] > 0, val, np.nan)
    return out


class NetworkMetrics:
    """Accumulates per-user, per-group, per-step and per-gateway metrics over slots.

    Parameters
    ----------
    n_user, n_gw, n_pop : int
    group : int array (n_user,), optional
        Group index per user (e.g. region), ``-1`` = in no group.
    group_names : sequence of str, optional
        Names of the groups (index order).
    bin_ms, max_ms : float
        RTT histogram bin width and upper end (values above go to an overflow bin), ms.
    per_user_histograms : bool
        Keep an RTT histogram per user for percentiles (n_user x n_bin int32).
    percentiles : sequence of float
        Percentiles reported, in [0, 100].
    """

    def __init__(
        self,
        n_user: int,
        n_gw: int,
        n_pop: int,
        *,
        group: ArrayLike | None = None,
        group_names: Sequence[str] | None = None,
        bin_ms: float = 0.25,
        max_ms: float = 500.0,
        per_user_histograms: bool = True,
        percentiles: Sequence[float] = (5.0, 50.0, 95.0),
    ) -> None:
        if not (bin_ms > 0 and max_ms > bin_ms):
            raise InputError(f"need 0 < bin_ms < max_ms, got {bin_ms}, {max_ms}", "metrics")
        if any(not (0 <= q <= 100) for q in percentiles):
            raise InputError(f"percentiles must be in [0, 100], got {list(percentiles)}",
                             "metrics")
        self.n_user, self.n_gw, self.n_pop = n_user, n_gw, n_pop
        self.percentiles = tuple(float(q) for q in percentiles)
        self.edges = np.arange(0.0, max_ms + bin_ms / 2, bin_ms)
        self._nbin = self.edges.size  # n-1 regular bins + overflow
        self.group = (np.full(n_user, -1, np.int64) if group is None
                      else np.asarray(group, np.int64))
        if self.group.shape != (n_user,):
            raise InputError(f"group must have shape ({n_user},)", "metrics")
        n_group = int(self.group.max()) + 1 if self.group.size and self.group.max() >= 0 else 0
        self.group_names = list(group_names) if group_names is not None else [
            str(i) for i in range(n_group)]
        if len(self.group_names) < n_group:
            raise InputError(f"{len(self.group_names)} group names for {n_group} groups",
                             "metrics")
        self.n_group = len(self.group_names)
        z = np.zeros
        self.steps = 0
        self.samples = z(n_user, np.int64)
        self.served = z(n_user, np.int64)
        self.no_satellite = z(n_user, np.int64)
        self.no_route = z(n_user, np.int64)
        self.bent_pipe = z(n_user, np.int64)
        self.rtt_sum = z(n_user)
        self.rtt_min = np.full(n_user, np.inf)
        self.rtt_max = np.full(n_user, -np.inf)
        self.laser_hops_sum = z(n_user, np.int64)
        self.path_changes = z(n_user, np.int64)
        self.gateway_changes = z(n_user, np.int64)
        self.pop_changes = z(n_user, np.int64)
        self.serving_changes = z(n_user, np.int64)
        self.service_losses = z(n_user, np.int64)
        self.user_hist = z((n_user, self._nbin), np.int32) if per_user_histograms else None
        self.group_hist = z((self.n_group, self._nbin), np.int64)
        self.group_samples = z(self.n_group, np.int64)
        self.group_served = z(self.n_group, np.int64)
        self.group_bent_pipe = z(self.n_group, np.int64)
        self.group_laser_hops = z(self.n_group, np.int64)
        self.user_gateway = z((n_user, n_gw), np.int32)
        self.user_pop = z((n_user, n_pop), np.int32)
        self.hop_hist = z(1, np.int64)
        self.gw_load_sum = z(n_gw, np.int64)
        self.gw_load_max = z(n_gw, np.int64)
        self.pop_load_sum = z(n_pop, np.int64)
        self._rows: list[dict] = []
        self._first: UserPaths | None = None
        self._first_counted = np.ones(n_user, bool)
        self._prev: UserPaths | None = None
        self._prev_counted = np.ones(n_user, bool)

    def _bin(self, rtt: np.ndarray) -> np.ndarray:
        return np.minimum((rtt / (self.edges[1] - self.edges[0])).astype(np.int64),
                          self._nbin - 1)

    def update(self, t_utc: np.datetime64, paths: UserPaths,
               counted: ArrayLike | None = None) -> None:
        """Add one slot.

        ``counted`` (bool, n_user) selects the users this slot counts for (e.g. the cells the
        policy serves at this time); the others are left out of every statistic for the slot.
        """
        if len(paths) != self.n_user:
            raise InputError(f"paths for {len(paths)} users, metrics for {self.n_user}",
                             "metrics")
        c = np.ones(self.n_user, bool) if counted is None else np.asarray(counted, bool)
        if c.shape != (self.n_user,):
            raise InputError(f"counted must have shape ({self.n_user},)", "metrics")
        s = paths.served & c
        idx = np.flatnonzero(s)
        rtt = paths.rtt_ms[idx]
        self.steps += 1
        self.samples += c
        self.served += s
        self.no_satellite += c & (paths.status == STATUS_NO_SATELLITE)
        self.no_route += c & (paths.status == STATUS_NO_ROUTE)
        self.bent_pipe += paths.bent_pipe & c
        self.rtt_sum[idx] += rtt
        self.rtt_min[idx] = np.minimum(self.rtt_min[idx], rtt)
        self.rtt_max[idx] = np.maximum(self.rtt_max[idx], rtt)
        hops = paths.n_laser_hops[idx]
        self.laser_hops_sum[idx] += hops
        b = self._bin(rtt)
        if self.user_hist is not None:
            self.user_hist[idx, b] += 1
        g = self.group[idx]
        ing = g >= 0
        if ing.any():
            np.add.at(self.group_hist, (g[ing], b[ing]), 1)
        gall = self.group[(self.group >= 0) & c]
        if gall.size:
            self.group_samples += np.bincount(gall, minlength=self.n_group)
            self.group_served += np.bincount(g[ing], minlength=self.n_group)
            self.group_bent_pipe += np.bincount(g[ing], weights=hops[ing] == 0,
                                                minlength=self.n_group).astype(np.int64)
            self.group_laser_hops += np.bincount(g[ing], weights=hops[ing],
                                                 minlength=self.n_group).astype(np.int64)
        self.user_gateway[idx, paths.gateway[idx]] += 1
        self.user_pop[idx, paths.pop[idx]] += 1
        if hops.size:
            hh = np.bincount(hops)
            if hh.size > self.hop_hist.size:
                self.hop_hist = np.pad(self.hop_hist, (0, hh.size - self.hop_hist.size))
            self.hop_hist[: hh.size] += hh
        load = np.bincount(paths.gateway[idx], minlength=self.n_gw)
        self.gw_load_sum += load
        self.gw_load_max = np.maximum(self.gw_load_max, load)
        self.pop_load_sum += np.bincount(paths.pop[idx], minlength=self.n_pop)
        if self._prev is not None:
            self._transitions(self._prev, self._prev_counted, paths, c)
        else:
            self._first, self._first_counted = paths, c
        self._prev = paths
        self._prev_counted = c
        row: dict[str, object] = {"t_utc": np.asarray(t_utc, "datetime64[ns]")[()],
                                  "n_users": int(c.sum()),
               "n_served": int(idx.size), "n_bent_pipe": int((paths.bent_pipe & c).sum())}
        qs = np.percentile(rtt, self.percentiles) if rtt.size else [np.nan] * len(
            self.percentiles)
        for q, v in zip(self.percentiles, qs, strict=True):
            row[f"rtt_p{q:g}_ms"] = float(v)
        row["mean_laser_hops"] = float(hops.mean()) if hops.size else np.nan
        self._rows.append(row)

    def _transitions(self, prev: UserPaths, prev_c: np.ndarray, cur: UserPaths,
                     cur_c: np.ndarray) -> None:
        prev_s = prev.served & prev_c
        s = cur.served & cur_c
        both = prev_s & s
        self.path_changes += both & (prev.path_id != cur.path_id)
        self.gateway_changes += both & (prev.gateway != cur.gateway)
        self.pop_changes += both & (prev.pop != cur.pop)
        self.serving_changes += both & (prev.serving_sat != cur.serving_sat)
        self.service_losses += prev_s & cur_c & ~s

    def merge(self, later: NetworkMetrics) -> NetworkMetrics:
        """The metrics of this window followed directly by ``later``'s (a new object; neither
        operand changes).

        Both must have the same users, sites, groups and bins. Handovers between this window's
        last slot and ``later``'s first slot are counted, so merging consecutive chunks in time
        order gives the same result as one run over the whole window.
        """
        same = (self.n_user == later.n_user and self.n_gw == later.n_gw
                and self.n_pop == later.n_pop and np.array_equal(self.edges, later.edges)
                and np.array_equal(self.group, later.group)
                and self.percentiles == later.percentiles
                and (self.user_hist is None) == (later.user_hist is None))
        if not same:
            raise InputError("cannot merge metrics of different users, sites, groups or bins",
                             "metrics")
        if later.steps == 0:
            return copy.copy(self)
        if self.steps == 0:
            return copy.copy(later)
        out = copy.copy(self)
        for name in ("samples", "served", "no_satellite", "no_route", "bent_pipe", "rtt_sum",
                     "laser_hops_sum", "path_changes", "gateway_changes", "pop_changes",
                     "serving_changes", "service_losses", "group_hist", "group_samples",
                     "group_served", "group_bent_pipe", "group_laser_hops", "user_gateway",
                     "user_pop", "gw_load_sum", "pop_load_sum"):
            setattr(out, name, getattr(self, name) + getattr(later, name))
        if self.user_hist is not None and later.user_hist is not None:
            out.user_hist = self.user_hist + later.user_hist
        out.rtt_min = np.minimum(self.rtt_min, later.rtt_min)
        out.rtt_max = np.maximum(self.rtt_max, later.rtt_max)
        out.gw_load_max = np.maximum(self.gw_load_max, later.gw_load_max)
        size = max(self.hop_hist.size, later.hop_hist.size)
        out.hop_hist = (np.pad(self.hop_hist, (0, size - self.hop_hist.size))
                        + np.pad(later.hop_hist, (0, size - later.hop_hist.size)))
        # Transitions across the boundary, counted on the new (fresh) arrays.
        if self._prev is not None and later._first is not None:
            out._transitions(self._prev, self._prev_counted, later._first,
                             later._first_counted)
        out._rows = self._rows + later._rows
        out._prev, out._prev_counted = later._prev, later._prev_counted
        out.steps = self.steps + later.steps
        return out

    # --- tables ---------------------------------------------------------------------------

    def per_user(self, names: Sequence[str] | None = None,
                 gateway_names: Sequence[str] | None = None,
                 pop_names: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per user: service shares (of the slots it was counted), RTT statistics (ms),
        hops, handovers and the gateway and PoP used most often (``main_gateway``,
        ``main_pop``; names when given)."""
        n = np.maximum(self.served, 1)
        k = np.maximum(self.samples, 1)
        df = pd.DataFrame({
            "user": list(names) if names is not None else np.arange(self.n_user),
            "steps": self.samples,
            "served_share": np.where(self.samples > 0, self.served / k, np.nan),
            "no_satellite_share": np.where(self.samples > 0, self.no_satellite / k, np.nan),
            "no_route_share": np.where(self.samples > 0, self.no_route / k, np.nan),
            "bent_pipe_share": np.where(self.served > 0, self.bent_pipe / n, np.nan),
            "rtt_mean_ms": np.where(self.served > 0, self.rtt_sum / n, np.nan),
            "rtt_min_ms": np.where(self.served > 0, self.rtt_min, np.nan),
            "rtt_max_ms": np.where(self.served > 0, self.rtt_max, np.nan),
            "mean_laser_hops": np.where(self.served > 0, self.laser_hops_sum / n, np.nan),
            "path_changes": self.path_changes,
            "gateway_changes": self.gateway_changes,
            "pop_changes": self.pop_changes,
            "serving_changes": self.serving_changes,
            "service_losses": self.service_losses,
        })
        if self.user_hist is not None:
            pq = histogram_percentiles(self.user_hist, self.edges, self.percentiles)
            for j, q in enumerate(self.percentiles):
                df[f"rtt_p{q:g}_ms"] = pq[:, j]
        mains: tuple[tuple[str, np.ndarray, Sequence[str] | None], ...] = (
            ("main_gateway", self.user_gateway, gateway_names),
            ("main_pop", self.user_pop, pop_names))
        for col, counts, labels in mains:
            if counts.shape[1] == 0:
                continue
            best = np.argmax(counts, axis=1)
            lab = (np.asarray(labels, dtype=object) if labels is not None
                   else np.arange(counts.shape[1]).astype(object))
            vals = lab[best].copy()
            vals[counts.max(axis=1) == 0] = None
            df[col] = vals
        return df

    def per_group(self) -> pd.DataFrame:
        """One row per group (region): served share of user-slots, bent-pipe and laser shares
        and mean laser hops of served user-slots, RTT percentiles (ms)."""
        pq = histogram_percentiles(self.group_hist, self.edges, self.percentiles)
        served = np.maximum(self.group_served, 1)
        has = self.group_served > 0
        df = pd.DataFrame({
            "group": self.group_names,
            "user_slots": self.group_samples,
            "served_share": self.group_served / np.maximum(self.group_samples, 1),
            "bent_pipe_share": np.where(has, self.group_bent_pipe / served, np.nan),
            "laser_share": np.where(has, 1.0 - self.group_bent_pipe / served, np.nan),
            "mean_laser_hops": np.where(has, self.group_laser_hops / served, np.nan),
        })
        for k, q in enumerate(self.percentiles):
            df[f"rtt_p{q:g}_ms"] = pq[:, k]
        return df

    def per_time(self) -> pd.DataFrame:
        """One row per slot: users served, bent-pipe count, RTT percentiles across users."""
        return pd.DataFrame(self._rows)

    def gateway_load(self, gateway_names: Sequence[str] | None = None) -> pd.DataFrame:
        """Users served through each gateway: mean and maximum per slot."""
        return pd.DataFrame({
            "gateway": list(gateway_names) if gateway_names is not None else np.arange(self.n_gw),
            "mean_users": self.gw_load_sum / max(self.steps, 1),
            "max_users": self.gw_load_max,
        })

    def hop_histogram(self) -> pd.DataFrame:
        """Served user-slots by number of laser hops (0 = bent pipe)."""
        return pd.DataFrame({"n_laser_hops": np.arange(self.hop_hist.size),
                             "user_slots": self.hop_hist})

    def summary(self) -> dict[str, float]:
        """Totals: served share, bent-pipe and laser shares of served user-slots, mean hops."""
        served = int(self.served.sum())
        total = int(self.samples.sum())
        hops = np.arange(self.hop_hist.size)
        return {
            "user_slots": total,
            "served_share": served / total if total else float("nan"),
            "bent_pipe_share": float(self.bent_pipe.sum() / served) if served else float("nan"),
            "laser_share": float(1 - self.bent_pipe.sum() / served) if served else float("nan"),
            "mean_laser_hops": float((hops * self.hop_hist).sum() / served) if served
            else float("nan"),
        }
