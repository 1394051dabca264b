"""Metrics (percentiles, shares, load, handovers), the slot loop and the what-if diff."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skyfence.errors import InputError
from skyfence.network import (
    STATUS_NO_ROUTE,
    STATUS_NO_SATELLITE,
    STATUS_SERVED,
    GivenServing,
    GroundUsers,
    HighestElevation,
    MinimumRtt,
    NetworkMetrics,
    PlusGrid,
    Router,
    TopologyConfig,
    UserPaths,
    WhatIfDiff,
    default_sites,
    draw_what_if_map,
    histogram_percentiles,
    iter_network,
    iter_network_from_coverage,
    parse_outage,
)
from skyfence.orbits import iter_ephemeris, preset
from skyfence.timeutil import time_grid


def paths(serving, gateway, pop, hops, rtt, path_id) -> UserPaths:
    """UserPaths from lists; -1 gateway means unserved (no route if serving >= 0)."""
    serving, gateway = np.array(serving), np.array(gateway)
    served = gateway >= 0
    status = np.where(served, STATUS_SERVED,
                      np.where(serving >= 0, STATUS_NO_ROUTE, STATUS_NO_SATELLITE))
    return UserPaths(serving_sat=serving, access_km=np.where(serving >= 0, 600.0, np.nan),
                     gateway=gateway, pop=np.array(pop), n_laser_hops=np.array(hops),
                     n_links=np.where(served, np.array(hops) + 3, 0),
                     propagation_ms=np.array(rtt, float) / 2, rtt_ms=np.array(rtt, float),
                     path_id=np.array(path_id, np.uint64), status=status.astype(np.int8),
                     home_pop_used=served)


def test_histogram_percentiles_within_half_a_bin() -> None:
    rng = np.random.default_rng(0)
    x = rng.gamma(4.0, 6.0, size=(5, 3000))
    edges = np.arange(0.0, 200.0 + 0.125, 0.25)
    counts = np.stack([np.bincount(np.minimum((row / 0.25).astype(int), edges.size - 1),
                                   minlength=edges.size) for row in x])
    got = histogram_percentiles(counts, edges, (5, 50, 95))
    for k, q in enumerate((5, 50, 95)):
        ref = np.percentile(x, q, axis=1, method="inverted_cdf")
        assert np.all(np.abs(got[:, k] - ref) <= 0.125 + 1e-12)
    assert np.isnan(histogram_percentiles(np.zeros((1, 4)), np.arange(4.0), (50,))).all()


def test_metrics_handovers_shares_and_load() -> None:
    m = NetworkMetrics(3, n_gw=2, n_pop=1, group=[0, 0, 1], group_names=["UA", "TW"])
    t = np.datetime64("2026-01-01T00:00:00", "ns")
    seq = [
        paths([5, 7, 9], [0, 0, 1], [0, 0, 0], [0, 2, 1], [10.0, 20.0, 40.0], [1, 2, 3]),
        paths([5, 8, 9], [0, 1, 1], [0, 0, 0], [0, 2, 1], [10.0, 22.0, 40.0], [1, 4, 3]),
        paths([6, 8, -1], [1, 1, -1], [0, 0, -1], [1, 2, -1], [12.0, 22.0, np.nan], [5, 4, 0]),
        paths([6, 8, 9], [1, 1, 1], [0, 0, 0], [1, 2, 1], [12.0, 24.0, 44.0], [5, 6, 3]),
    ]
    for k, p in enumerate(seq):
        m.update(t + np.timedelta64(15 * k, "s"), p)
    u = m.per_user(["a", "b", "c"])
    assert u["served_share"].tolist() == [1.0, 1.0, 0.75]
    assert u["no_satellite_share"].tolist() == [0.0, 0.0, 0.25]
    assert u["bent_pipe_share"].tolist() == [0.5, 0.0, 0.0]
    assert u["path_changes"].tolist() == [1, 2, 0]  # c: its unserved slot breaks the pairs
    assert u["gateway_changes"].tolist() == [1, 1, 0]
    assert u["serving_changes"].tolist() == [1, 1, 0]
    assert u["service_losses"].tolist() == [0, 0, 1]
    assert u["rtt_mean_ms"].tolist() == pytest.approx([11.0, 22.0, 124 / 3])
    assert u["rtt_max_ms"].tolist() == [12.0, 24.0, 44.0]
    assert u["rtt_p50_ms"].tolist() == pytest.approx([10.125, 22.125, 40.125])
    g = m.gateway_load(["G0", "G1"])
    assert g["mean_users"].tolist() == [3 / 4, 8 / 4] and g["max_users"].tolist() == [2, 3]
    grp = m.per_group()
    assert grp["user_slots"].tolist() == [8, 4] and grp["served_share"].tolist() == [1.0, 0.75]
    per_t = m.per_time()
    assert per_t["n_served"].tolist() == [3, 3, 2, 3]
    assert per_t["rtt_p50_ms"].tolist() == [20.0, 22.0, 17.0, 24.0]
    s = m.summary()
    assert s["bent_pipe_share"] == pytest.approx(2 / 11)
    assert m.hop_histogram()["user_slots"].tolist() == [2, 5, 4]
    assert grp["bent_pipe_share"].tolist() == [0.25, 0.0]
    assert grp["mean_laser_hops"].tolist() == [1.25, 1.0]
    named = m.per_user(["a", "b", "c"], ["G0", "G1"], ["P0"])
    assert named["main_gateway"].tolist() == ["G0", "G1", "G1"]  # a: tie 2-2 -> first
    assert named["main_pop"].tolist() == ["P0"] * 3
    # Two consecutive chunks merged give the same tables as one run.
    first = NetworkMetrics(3, n_gw=2, n_pop=1, group=[0, 0, 1], group_names=["UA", "TW"])
    second = NetworkMetrics(3, n_gw=2, n_pop=1, group=[0, 0, 1], group_names=["UA", "TW"])
    for k, p in enumerate(seq):
        (first if k < 2 else second).update(t + np.timedelta64(15 * k, "s"), p)
    merged = first.merge(second)
    for table in ("per_user", "per_group", "per_time", "gateway_load", "hop_histogram"):
        pd.testing.assert_frame_equal(getattr(merged, table)(), getattr(m, table)())
    with pytest.raises(InputError, match="cannot merge"):
        merged.merge(NetworkMetrics(2, n_gw=2, n_pop=1))


def test_metrics_bad_input() -> None:
    with pytest.raises(InputError, match="bin_ms < max_ms"):
        NetworkMetrics(1, 1, 1, bin_ms=0.0)
    with pytest.raises(InputError, match="percentiles must be in"):
        NetworkMetrics(1, 1, 1, percentiles=(101,))
    with pytest.raises(InputError, match="group names"):
        NetworkMetrics(2, 1, 1, group=[0, 3], group_names=["a"])
    m = NetworkMetrics(2, 1, 1)
    with pytest.raises(InputError, match="paths for 3 users"):
        m.update(np.datetime64("2026-01-01", "ns"),
                 paths([1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1]))


def test_what_if_diff_classifies_users() -> None:
    d = WhatIfDiff(3)
    base = paths([1, 2, 3], [0, 0, 1], [0, 0, 0], [0, 0, 0], [10.0, 10.0, 30.0], [1, 2, 3])
    alt = paths([1, 2, 3], [-1, 1, 1], [-1, 0, 0], [-1, 0, 0], [np.nan, 15.0, 30.0], [0, 4, 3])
    d.update(base, alt)
    d.update(base, base)
    sites = default_sites()
    users = GroundUsers.from_points(["a", "b", "c"], [50, 51, 52], [30, 31, 32], sites,
                                    countries=["UA"] * 3)
    tab = d.table(users, sites).set_index("user")
    assert tab.loc["a", "outcome"] == "loses service" and tab.loc["a", "lost_steps"] == 1
    assert tab.loc["a", "lost_share"] == 0.5
    assert tab.loc["b", "outcome"] == "longer RTT"
    assert tab.loc["b", "mean_rtt_increase_ms"] == pytest.approx(2.5)
    assert tab.loc["b", "max_rtt_increase_ms"] == pytest.approx(5.0)
    assert tab.loc["c", "outcome"] == "unchanged" and tab.loc["c", "home_pop"] == "Warsaw"
    assert list(d.table(users)["user"]) == ["a", "b", "c"]  # worst first
    split = WhatIfDiff(3)
    split.update(base, alt)
    rest = WhatIfDiff(3)
    rest.update(base, base)
    pd.testing.assert_frame_equal(split.merge(rest).table(users, sites), d.table(users, sites))


@pytest.fixture(scope="module")
def shell_run():
    """Gen1 shell 1, Ukrainian and Polish terminals, 3 min at 15 s, Wola Krobowska down for
    the middle minute."""
    const = preset("starlink-gen1-1", "2026-02-23T00:00:00Z")
    t = time_grid("2026-02-23T00:00:00Z", 180.0, 15.0)
    sites = default_sites()
    lat = [50.45, 49.84, 49.99, 46.48, 52.23, 48.0]
    lon = [30.52, 24.03, 36.23, 30.72, 21.01, 37.8]
    users = GroundUsers.from_points(["Kyiv", "Lviv", "Kharkiv", "Odesa", "Warsaw", "Donetsk"],
                                    lat, lon, sites, countries=["UA"] * 5 + ["UA"],
                                    region=["UA"] * 6)
    out = parse_outage("Wola Krobowska@2026-02-23T00:01:00Z/2026-02-23T00:02:00Z", sites)
    cfg = TopologyConfig(lasers=None)
    steps = list(iter_network(iter_ephemeris(const, t, chunk_size=5), users, sites, cfg,
                              Router(), cases={"baseline": (), "down": (out,)}))
    return const, t, sites, users, out, steps


def test_outage_window_only_changes_its_window(shell_run, tmp_path: Path) -> None:
    _, t, sites, users, out, steps = shell_run
    assert len(steps) == t.size == 13
    diff = WhatIfDiff(len(users))
    changed = []
    for st in steps:
        b, a = st.paths["baseline"], st.paths["down"]
        inside = out.active(st.t_utc)
        if not inside:
            np.testing.assert_array_equal(a.rtt_ms, b.rtt_ms)
        else:
            assert not np.any(a.gateway == 0)
        changed.append(bool(np.any(np.nan_to_num(a.rtt_ms, nan=-1) != np.nan_to_num(
            b.rtt_ms, nan=-1))))
        diff.update(b, a)
    assert any(changed)
    tab = diff.table(users, sites)
    assert (tab["outcome"] != "unchanged").any()
    assert (tab["steps"] == 13).all()
    png = draw_what_if_map(tab, sites, [out], tmp_path / "map.png")
    head = png.read_bytes()[:8]
    assert head == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_serving_selectors(shell_run) -> None:
    const, t, sites, users, _, steps = shell_run
    # Given serving satellites reproduce the run exactly.
    given = np.stack([st.paths["baseline"].serving_sat for st in steps])
    again = list(iter_network(iter_ephemeris(const, t), users, sites, TopologyConfig(),
                              Router(), serving=GivenServing(given)))
    for a, b in zip(again, steps, strict=True):
        np.testing.assert_allclose(a.paths["baseline"].rtt_ms, b.paths["baseline"].rtt_ms,
                                   rtol=1e-12)
    # Min-RTT never gives a longer RTT than the highest routable satellite; "highest-any" may
    # leave covered users without a route (bent pipe, no gateway in view).
    grid = TopologyConfig(lasers=PlusGrid.from_constellation(const, t[0]))
    best = list(iter_network(iter_ephemeris(const, t), users, sites, grid, Router(),
                             serving=MinimumRtt()))
    hi = list(iter_network(iter_ephemeris(const, t), users, sites, grid, Router(),
                           serving=HighestElevation()))
    for a, b in zip(best, hi, strict=True):
        pa_, pb = a.paths["baseline"], b.paths["baseline"]
        assert np.all(pa_.served == pb.served)
        assert np.all(pa_.rtt_ms[pa_.served] <= pb.rtt_ms[pb.served] + 1e-9)
    anyp = list(iter_network(iter_ephemeris(const, t), users, sites, TopologyConfig(),
                             Router(), serving=HighestElevation(require_route=False)))
    assert any((s.paths["baseline"].status == STATUS_NO_ROUTE).any() for s in anyp)
    with pytest.raises(InputError, match="minimum elevation must be in"):
        HighestElevation(95.0)
    with pytest.raises(InputError, match="given serving satellites"):
        next(iter_network(iter_ephemeris(const, t), users, sites, TopologyConfig(), Router(),
                          serving=GivenServing(np.zeros((13, 2), int))))


def test_counted_mask_leaves_users_out() -> None:
    m = NetworkMetrics(2, n_gw=1, n_pop=1, group=[0, 0], group_names=["UA"])
    t = np.datetime64("2026-01-01T00:00:00", "ns")
    p = paths([1, 2], [0, 0], [0, 0], [0, 1], [10.0, 30.0], [1, 2])
    m.update(t, p, counted=[True, False])
    m.update(t, p, counted=[True, True])
    u = m.per_user()
    assert u["steps"].tolist() == [2, 1]
    assert u["rtt_mean_ms"].tolist() == [10.0, 30.0]
    assert m.per_group()["user_slots"].tolist() == [3]
    assert m.per_time()["n_users"].tolist() == [1, 2]
    assert m.gateway_load()["max_users"].tolist() == [2]
    with pytest.raises(InputError, match="counted must have shape"):
        m.update(t, p, counted=[True])


def test_routing_coverage_steps(shell_run) -> None:
    from skyfence.coverage import GroundIndex, iter_coverage
    from skyfence.earth import enu_basis, geodetic_to_itrs

    const, t, sites, users, _, steps = shell_run
    ground = GroundIndex(geodetic_to_itrs(users.lat_deg, users.lon_deg, users.alt_km),
                         enu_basis(users.lat_deg, users.lon_deg)[2])
    cov = list(iter_coverage(const, ground, t, min_elevation_deg=25.0, pairs=True))
    # The coverage stage's serving satellites, routed as given.
    given = list(iter_network_from_coverage(cov, users, sites, TopologyConfig(), Router()))
    for g, c in zip(given, cov, strict=True):
        np.testing.assert_array_equal(g.paths["baseline"].serving_sat, c.serving)
    # Choosing among the coverage kernel's pairs reproduces the network's own selector.
    chosen = list(iter_network_from_coverage(cov, users, sites, TopologyConfig(), Router(),
                                             serving=HighestElevation()))
    for a, b in zip(chosen, steps, strict=True):
        np.testing.assert_array_equal(a.paths["baseline"].serving_sat,
                                      b.paths["baseline"].serving_sat)
        np.testing.assert_allclose(a.paths["baseline"].rtt_ms, b.paths["baseline"].rtt_ms,
                                   rtol=1e-12)
    no_pairs = list(iter_coverage(const, ground, t[:1], min_elevation_deg=25.0))
    with pytest.raises(InputError, match="pairs=True"):
        next(iter_network_from_coverage(no_pairs, users, sites, TopologyConfig(), Router(),
                                        serving=MinimumRtt()))
