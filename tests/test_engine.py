"""The engine end to end on small scenarios: status, policy windows, merges, Dask, RTT."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _engine_helpers import _scenario, assert_tables_equal
from skyfence.earth import SPEED_OF_LIGHT_KM_S, geodetic_to_itrs
from skyfence.engine import finalize, merge_results, prepare, run, run_chunk, simulate
from skyfence.errors import InputError, ResourceError
from skyfence.policy import BLOCKED, SERVED, UNCOVERED
from skyfence.results import RunTables
from skyfence.scenario import parse_scenario


@pytest.fixture(scope="module")
def small():
    ctx = prepare(parse_scenario(_scenario()))
    whole = run_chunk(ctx, slice(0, ctx.n_steps))
    return ctx, whole, finalize(ctx, whole)


def _status(tables: RunTables, name: str) -> np.ndarray:
    t = tables.terminals
    return t[t.terminal == name]["status"].astype(str).to_numpy()


def test_status_partitions_every_step(small) -> None:
    ctx, whole, tables = small
    status_steps = whole.segments[0].parts["policy"].status_steps
    assert (status_steps.sum(axis=0) == ctx.n_steps).all()
    kyiv, taipei, pole = ctx.ground.terminal_index
    # Kyiv: served (Ukraine on since 2022-02-26); Taipei: covered but switched off; the pole:
    # Gen1's polar shells pass, but not continuously (uncovered part of the time or served).
    assert status_steps[SERVED, kyiv] == ctx.n_steps
    assert status_steps[BLOCKED, taipei] == ctx.n_steps
    assert status_steps[BLOCKED, pole] == 0
    assert status_steps[SERVED, ctx.ground.members["Crimea"]].sum() == 0
    moldova = ctx.ground.members["Moldova"]
    assert status_steps[UNCOVERED, moldova].sum() == 0
    assert (_status(tables, "Kyiv") == "served").all()
    assert (_status(tables, "Taipei") == "blocked").all()
    reg = tables.regions.set_index("region")
    assert reg.loc["Crimea", "blocked_share"] == pytest.approx(1.0)
    shares = reg[["served_share", "blocked_share", "uncovered_share"]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    # Conservation: per-step areas by status add up to each region's area.
    bt = tables.regions_by_time
    total = bt[["served_km2", "blocked_km2", "uncovered_km2"]].sum(axis=1)
    assert np.allclose(total, bt["region"].map(reg["area_km2"]))


def test_policy_window_switches_ukraine_on_mid_run() -> None:
    # 2022-02-25 23:50 .. 2022-02-26 00:09: blocked for 10 steps, served from midnight on.
    tables = run(parse_scenario(_scenario(
        time={"start": "2022-02-25T23:50:00Z", "duration": "19m", "step": "60s"},
        ground={"regions": [], "terminals": [{"name": "Kyiv", "lat": 50.45, "lon": 30.524}]},
        network={"enabled": False})))
    st_ = _status(tables, "Kyiv")
    assert st_[:10].tolist() == ["blocked"] * 10
    assert st_[10:].tolist() == ["served"] * 10
    rules = tables.terminals["rule"].tolist()
    assert rules[0] == "ukraine-not-offered" and rules[-1] == "ukraine-on"


def test_moving_terminal_rule_applies_from_2026() -> None:
    tables = run(parse_scenario(_scenario(ground={"regions": [], "terminals": [
        {"name": "slow", "lat": 50.45, "lon": 30.524, "speed_kmh": 40},
        {"name": "fast", "lat": 50.45, "lon": 30.524, "speed_kmh": 120}]},
        network={"enabled": False})))
    assert (_status(tables, "slow") == "served").all()
    assert (_status(tables, "fast") == "blocked").all()


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_and_merge_order_gives_the_same_tables(small, data) -> None:
    ctx, _whole, reference = small
    n = ctx.n_steps
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=6), label="cuts"))
    bounds = [0, *cuts, n]
    parts = [run_chunk(ctx, slice(a, b)) for a, b in itertools.pairwise(bounds)]
    rng = random.Random(data.draw(st.integers(0, 2**31), label="seed"))
    # Random binary merge tree over a random order of the parts.
    rng.shuffle(parts)
    while len(parts) > 1:
        i = rng.randrange(len(parts) - 1)
        a, b = parts[i], parts[i + 1]
        if rng.random() < 0.5:
            a, b = b, a
        parts[i:i + 2] = [merge_results(ctx, a, b)]
    assert_tables_equal(finalize(ctx, parts[0]), reference)


def test_merge_is_pure_and_reports_missing_chunks(small) -> None:
    ctx, _whole, _ = small
    a = run_chunk(ctx, slice(0, 5))
    c = run_chunk(ctx, slice(10, ctx.n_steps))
    before = a.segments[0].parts["coverage"].summary.served.copy()
    gap = merge_results(ctx, a, c)
    assert len(gap.segments) == 2 and not gap.complete
    with pytest.raises(ValueError, match="incomplete run"):
        finalize(ctx, gap)
    assert np.array_equal(a.segments[0].parts["coverage"].summary.served, before)
    assert len(a.segments) == 1


def test_dask_local_run_equals_one_process(small) -> None:
    _ctx, _whole, reference = small
    tables = run(parse_scenario(_scenario(run={"chunk_steps": 7, "dask": "local",
                                               "workers": 2})))
    assert_tables_equal(tables, reference)


def test_rtt_is_physical(small) -> None:
    _ctx, _whole, tables = small
    t = tables.terminals
    kyiv = t[(t.terminal == "Kyiv") & t.routed]
    assert kyiv.rtt_ms.notna().all() and len(kyiv) == 5  # every 5 minutes over 20 minutes
    # Floor: twice the straight-line distance to the Warsaw PoP at c (facts.md coordinates).
    straight = np.linalg.norm(geodetic_to_itrs(50.45, 30.524) - geodetic_to_itrs(52.227, 21.003))
    assert (kyiv.rtt_floor_ms > 2 * straight / SPEED_OF_LIGHT_KM_S * 1000).all()
    assert (kyiv.rtt_ms >= kyiv.rtt_floor_ms).all()
    assert (kyiv.rtt_ms < 33.0).all()
    assert set(kyiv["pop"]) == {"Warsaw"}
    assert t[t.terminal == "Taipei"].rtt_ms.isna().all()  # not served: no path counted
    # Exact percentiles of the terminal's own samples (numpy's linear interpolation).
    summ = tables.terminal_summary.set_index("terminal")
    assert summ.loc["Kyiv", "rtt_p50_ms"] == pytest.approx(np.percentile(kyiv.rtt_ms, 50))
    assert summ.loc["Kyiv", "rtt_p95_ms"] == pytest.approx(np.percentile(kyiv.rtt_ms, 95))


def test_terminal_paths_are_the_routed_paths(small) -> None:
    """The ``path`` column: the serving satellite, gateway and PoP of the other columns, as
    many laser hops, and a propagation floor recomputed from the nodes' positions (chords at
    c, fibre = great circle x route factor at the fibre speed) equal to ``rtt_floor_ms``;
    null where the step is not routed or the terminal not served."""
    from skyfence.network import great_circle_km
    from skyfence.orbits import propagate

    ctx, _whole, tables = small
    t = tables.terminals
    has = t["path"].notna().to_numpy()
    routed_served = (t["routed"] & (t["status"] == "served") & t["gateway"].notna()).to_numpy()
    assert np.array_equal(has, routed_served) and has.any()
    net = ctx.stage("network")
    sites = net.sites
    cfg = net.config
    gw = {g.name: g for g in sites.gateways}
    pops = {p.name: p for p in sites.pops}
    norad = list(np.asarray(ctx.constellation.norad_ids))
    summ = tables.terminal_summary.set_index("terminal")
    for _, row in t[has].iterrows():
        parts = [p.split(":", 1) for p in row["path"].split(" > ")]
        kinds = [k for k, _ in parts]
        assert kinds[-2:] == ["gw", "pop"] and set(kinds[:-2]) == {"sat"}
        assert int(parts[0][1]) == row["path_norad_id"]
        assert parts[-2][1] == row["gateway"] and parts[-1][1] == row["pop"]
        assert len(parts) - 3 == row["n_laser_hops"]
        when = np.array([row["t_utc"].tz_convert(None).to_datetime64()], "datetime64[ns]")
        idx = [norad.index(int(v)) for _, v in parts[:-2]]
        r = propagate(ctx.constellation.subset(idx), when).r_km[:, 0, :]
        g = gw[parts[-2][1]]
        p = pops[parts[-1][1]]
        term = geodetic_to_itrs(row["lat_deg"], row["lon_deg"],
                                summ.loc[row["terminal"], "altitude_m"] / 1000.0).reshape(3)
        chain = np.vstack([term, r, geodetic_to_itrs(g.lat_deg, g.lon_deg, g.alt_km)])
        km = np.linalg.norm(np.diff(chain, axis=0), axis=1).sum()
        fibre_km = float(great_circle_km(g.lat_deg, g.lon_deg, p.lat_deg, p.lon_deg))
        one_way_ms = (km / SPEED_OF_LIGHT_KM_S
                      + fibre_km * cfg.fibre_route_factor
                      / (SPEED_OF_LIGHT_KM_S * cfg.fibre_speed_fraction)) * 1e3
        assert 2 * one_way_ms == pytest.approx(row["rtt_floor_ms"], rel=1e-9)


def test_min_rtt_serving_never_worse_than_coverage_choice() -> None:
    terms = [{"name": "Manila", "lat": 14.6, "lon": 121.0},
             {"name": "Kyiv", "lat": 50.45, "lon": 30.524},
             {"name": "Chisinau", "lat": 47.01, "lon": 28.86}]
    rtt = {}
    for mode in ("coverage", "min-rtt"):
        tables = run(parse_scenario(_scenario(
            ground={"regions": [], "terminals": terms},
            network={"enabled": True, "rtt_every": "60s", "serving": mode})))
        rtt[mode] = tables.terminals.set_index(["terminal", "t_utc"])["rtt_ms"]
    both = rtt["coverage"].notna() & rtt["min-rtt"].notna()
    assert both.sum() >= 40
    assert (rtt["min-rtt"][both] <= rtt["coverage"][both] + 1e-9).all()
    assert rtt["min-rtt"].notna().sum() >= rtt["coverage"].notna().sum()
    assert rtt["min-rtt"].loc["Manila"].max() < 35.0


def test_outage_in_run_gives_region_wide_what_if() -> None:
    # "A Polish gateway fails: what happens to Ukraine?"
    tables = run(parse_scenario(_scenario(
        time={"duration": "10m"},
        ground={"regions": [{"name": "Moldova", "resolution": 4}],
                "terminals": [{"name": "Kyiv", "lat": 50.45, "lon": 30.524}]},
        network={"enabled": True, "rtt_every": "5m",
                 "outages": [{"site": "Wola Krobowska"}]})))
    wr = tables.extra["whatif_regions"].set_index("region")
    assert wr.loc["Moldova", "baseline_routed_share"] == pytest.approx(1.0)
    assert wr.loc["Moldova", "outage_rtt_p50_ms"] >= wr.loc["Moldova", "baseline_rtt_p50_ms"]
    t = tables.terminals
    assert "Wola Krobowska" not in set(t["gateway"].dropna())
    wt = tables.extra["whatif_terminals"].set_index("terminal")
    assert wt.loc["Kyiv", "rtt_change_mean_ms"] >= 0.0
    assert list(tables.extra["outages"]["site"]) == ["Wola Krobowska"]


def test_region_rtt_percentiles_at_scale(tmp_path: Path) -> None:
    # > 50,000 points (Russia at resolution 5, ~67,000 cells), one routed step, every cell on.
    policy = tmp_path / "open.toml"
    policy.write_text('name = "open"\ndefault_action = "on"\ndefault_reason = "test"\n')
    sc = parse_scenario(_scenario(
        time={"duration": "0s"}, constellation={"source": "starlink-gen1-1"},
        ground={"regions": [{"name": "Russia", "resolution": 5}], "terminals": []},
        policy={"source": str(policy)},
        network={"enabled": True, "serving": "coverage", "lasers": False}))
    ctx = prepare(sc)
    assert ctx.ground.n_points > 50_000
    tables = finalize(ctx, simulate(ctx))
    row = tables.regions.iloc[0]
    assert np.isfinite([row.rtt_p5_ms, row.rtt_p50_ms, row.rtt_p95_ms]).all()
    # Against the area-weighted percentile of the cells' own samples (0.01 ms bins).
    from skyfence.coverage import weighted_percentile

    cells = tables.cells
    served = cells["rtt_mean_ms"].notna()
    ref = weighted_percentile(cells.loc[served, "rtt_mean_ms"], cells.loc[served, "area_km2"],
                              [5, 50, 95])
    assert np.allclose([row.rtt_p5_ms, row.rtt_p50_ms, row.rtt_p95_ms], ref, atol=0.006)


def test_resource_guards_refuse_up_front() -> None:
    import time

    for over in ({"time": {"duration": "36500d", "step": "60s"}},
                 {"time": {"duration": "1d", "step": "0.000000001s"}},
                 {"ground": {"regions": [{"name": "Russia", "resolution": 12}],
                             "terminals": []}}):
        t0 = time.perf_counter()
        with pytest.raises(ResourceError, match="memory_budget_gib"):
            prepare(parse_scenario(_scenario(**over)))
        assert time.perf_counter() - t0 < 5.0
    with pytest.raises(InputError, match="no ground"):
        prepare(parse_scenario(_scenario(ground={"regions": [], "terminals": []})))


def test_elements_far_from_their_epoch_fail_loudly() -> None:
    # The 2026 element sets propagated to 1950: SGP4 runs, but no state is physical.
    from conftest import SHARED_DATA
    from skyfence.errors import ElementError

    sc = parse_scenario(_scenario(
        time={"start": "1950-01-01T00:00:00Z", "duration": "2m"},
        constellation={"source": str(SHARED_DATA / "starlink-2026-02-23.tle")},
        ground={"regions": [], "terminals": [{"name": "Kyiv", "lat": 50.45, "lon": 30.5}]},
        network={"enabled": False}))
    with pytest.raises((ElementError, InputError), match=r"epoch|usable|days (newer|older)"):
        prepare(sc)


def test_moving_terminal_follows_its_track_and_the_speed_rule(tmp_path: Path) -> None:
    # A vehicle near Kyiv on 2026-01-31 (speed limit on, registration not yet required):
    # 10 min at ~40 km/h, then 10 min at ~120 km/h. Unregistered, it loses service exactly
    # when it starts the fast leg; a registered twin keeps it (exempt).
    rows = ["id,name,registered,t_utc,lat_deg,lon_deg"]
    # 0.006 deg of latitude ~ 0.667 km: 0.667 km per minute = 40 km/h, x3 = 120 km/h.
    times = [f"2026-01-31T00:{m:02d}:00Z" for m in (0, 10, 20)]
    lats = [50.40, 50.40 + 10 * 0.006, 50.40 + 10 * 0.006 + 10 * 0.018]
    for tid, reg in (("van-1", "no"), ("van-2", "yes")):
        rows += [f"{tid},{tid},{reg},{t},{la:.4f},30.50" for t, la in zip(times, lats,
                                                                        strict=True)]
    f = tmp_path / "fleet.csv"
    f.write_text("\n".join(rows) + "\n")
    sc = parse_scenario(_scenario(
        time={"start": "2026-01-31T00:00:00Z", "duration": "20m", "step": "60s"},
        ground={"regions": [], "terminals": [], "terminals_file": str(f)},
        policy={"source": "world"}, network={"enabled": False}))
    ctx = prepare(sc)
    assert ctx.ground.moving.tolist() == [True, True]
    tables = finalize(ctx, simulate(ctx))
    t = tables.terminals
    van1, van2 = t[t.terminal == "van-1"], t[t.terminal == "van-2"]
    assert van1["speed_kmh"].iloc[:10].between(35, 45).all()
    assert van1["speed_kmh"].iloc[10:20].between(110, 130).all()
    status = van1["status"].astype(str).tolist()
    assert status[:10] == ["served"] * 10 and status[10:20] == ["blocked"] * 10
    assert set(van1["dish_code"].iloc[10:20]) == {"MOVING_TOO_FAST_FOR_POLICY"}
    assert (van2["status"].astype(str).iloc[:20] == "served").all()
    # The track moves the point: at each step the kernel sees from the track position.
    np.testing.assert_allclose(van1["lat_deg"].iloc[[0, 10, 20]], lats, atol=1e-9)
    from skyfence.coverage import GroundIndex
    from skyfence.earth import enu_basis
    from skyfence.orbits import propagate

    k = 17
    lat, lon = van1["lat_deg"].iloc[k], van1["lon_deg"].iloc[k]
    r = propagate(ctx.constellation, ctx.t_utc[k:k + 1]).r_km[:, 0, :]
    ref = GroundIndex(geodetic_to_itrs(lat, lon)[None, :],
                      enu_basis(lat, lon)[2].reshape(1, 3)).visibility(r, ctx.masks_deg)
    assert van1["n_visible"].iloc[k] == ref.n_visible[0]


def test_registration_rule_under_the_world_policy() -> None:
    terms = [{"name": "reg", "lat": 50.45, "lon": 30.52, "registered": True},
             {"name": "unreg", "lat": 50.45, "lon": 30.52},
             {"name": "late", "lat": 50.45, "lon": 30.52,
              "registered_from": "2026-02-23T00:05:00Z"}]
    tables = run(parse_scenario(_scenario(
        time={"duration": "9m"}, ground={"regions": [], "terminals": terms},
        policy={"source": "world"}, network={"enabled": False})))
    t = tables.terminals.set_index("terminal")
    assert (t.loc["reg", "status"].astype(str) == "served").all()
    assert (t.loc["unreg", "status"].astype(str) == "blocked").all()
    assert set(t.loc["unreg", "dish_code"]) == {"UNREGISTERED"}
    late = t.loc["late", "status"].astype(str).tolist()
    assert late[:5] == ["blocked"] * 5 and late[5:] == ["served"] * 5
