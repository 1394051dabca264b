"""Policy rules: the precedence table, vectorized evaluation against brute force, terminals."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from skyfence.errors import PolicyError, RegionError, SiteError
from skyfence.policy.io import loads_policy
from skyfence.policy.rules import (
    BLOCKED,
    CODE_BLOCKED_AREA,
    CODE_BLOCKED_COUNTRY,
    CODE_CELL_IS_DISABLED,
    CODE_MOVING_TOO_FAST,
    SERVED,
    UNCOVERED,
    MappingResolver,
    PolicyDoc,
    cells_from_hex,
    compile_policy,
    service_status,
    to_service_cells,
)

# Synthetic geography: H3 disks around Kyiv's res-5 cell. "Big" (k=3, 37 cells) holds
# "Small" (k=1, 7 cells); "Far" is a disk of 7 cells near Taipei.
KYIV = h3.latlng_to_cell(50.45, 30.52, 5)
TAIPEI = h3.latlng_to_cell(25.03, 121.56, 5)
BIG = sorted(h3.grid_disk(KYIV, 3))
SMALL = sorted(h3.grid_disk(KYIV, 1))
RING3 = sorted(set(BIG) - set(h3.grid_disk(KYIV, 2)))  # in Big, not in Small
FAR = sorted(h3.grid_disk(TAIPEI, 1))
OUTSIDE = h3.latlng_to_cell(0.0, 0.0, 5)


def _ints(hexes: list[str]) -> list[int]:
    return [h3.str_to_int(h) for h in hexes]


RESOLVER = MappingResolver({
    "Big": (_ints(BIG), "country"),
    "Small": (_ints(SMALL), "area"),
    "Far": (_ints(FAR), "country"),
})


def _policy(rules: list[dict], default: str = "on", moving: list[dict] | None = None) -> PolicyDoc:
    return PolicyDoc.model_validate({"name": "t", "default_action": default, "rules": rules,
                                     "moving_rules": moving or []})


def _decide(doc: PolicyDoc, cell: str, t: str) -> tuple[str, bool]:
    cp = compile_policy(doc, RESOLVER)
    ev = cp.evaluate(np.array([h3.str_to_int(cell)], dtype=np.uint64), [t])
    idx = int(ev.rule_index[0, 0])
    return ("default" if idx < 0 else cp.rules[idx].name), bool(ev.served[0, 0])


W22 = "2022-02-26T00:00:00Z"

# (case, rules, probe cell, time, expected deciding rule, expected served)
PRECEDENCE = [
    ("no rule applies: default", [dict(name="big-off", region="Big", action="off")],
     OUTSIDE, "2023-01-01", "default", True),
    ("smaller region wins at equal priority",
     [dict(name="big-off", region="Big", action="off"),
      dict(name="small-on", region="Small", action="on")], KYIV, "2023-01-01", "small-on", True),
    ("file order does not matter for specificity",
     [dict(name="small-on", region="Small", action="on"),
      dict(name="big-off", region="Big", action="off")], KYIV, "2023-01-01", "small-on", True),
    ("outside the smaller region the larger decides",
     [dict(name="big-off", region="Big", action="off"),
      dict(name="small-on", region="Small", action="on")], RING3[0], "2023-01-01", "big-off",
     False),
    ("higher priority beats specificity",
     [dict(name="big-off", region="Big", action="off", priority=1),
      dict(name="small-on", region="Small", action="on")], KYIV, "2023-01-01", "big-off", False),
    ("negative priority loses to default-priority larger rule",
     [dict(name="big-on", region="Big", action="on"),
      dict(name="small-off", region="Small", action="off", priority=-1)], KYIV, "2023-01-01",
     "big-on", True),
    ("cell list beats a region of equal area",
     [dict(name="small-on", region="Small", action="on"),
      dict(name="cells-off", cells=SMALL, action="off")], KYIV, "2023-01-01", "cells-off", False),
    ("smaller cell list beats larger",
     [dict(name="one-off", cells=[KYIV], action="off"),
      dict(name="small-on", cells=SMALL, action="on")], KYIV, "2023-01-01", "one-off", False),
    ("windowed beats untimed inside the window",
     [dict(name="ua-not-offered", region="Small", action="off"),
      dict(name="ua-on", region="Small", action="on", start=W22)], KYIV, "2022-03-01",
     "ua-on", True),
    ("untimed decides before the window",
     [dict(name="ua-not-offered", region="Small", action="off"),
      dict(name="ua-on", region="Small", action="on", start=W22)], KYIV, "2022-02-25T23:59:59",
     "ua-not-offered", False),
    ("window start is inclusive",
     [dict(name="ua-not-offered", region="Small", action="off"),
      dict(name="ua-on", region="Small", action="on", start=W22)], KYIV, W22, "ua-on", True),
    ("window end is exclusive",
     [dict(name="base-on", region="Small", action="on"),
      dict(name="outage", region="Small", action="off", start="2023-01-01",
           end="2023-01-02")], KYIV, "2023-01-02T00:00:00Z", "base-on", True),
    ("same rank and same action: the earlier rule is reported",
     [dict(name="first", region="Small", action="off"),
      dict(name="second", region="Small", action="off")], KYIV, "2023-01-01", "first", False),
    ("opposite equal-rank rules with disjoint windows do not conflict",
     [dict(name="early-off", region="Small", action="off", end="2022-01-01"),
      dict(name="late-on", region="Small", action="on", start="2022-01-01")], KYIV,
     "2021-06-01", "early-off", False),
    ("default off",
     [dict(name="small-on", region="Small", action="on")], RING3[0], "2023-01-01", "default",
     False),
]


@pytest.mark.parametrize(("case", "rules", "cell", "t", "rule", "served"), PRECEDENCE,
                         ids=[p[0] for p in PRECEDENCE])
def test_precedence_table(case, rules, cell, t, rule, served):
    default = "off" if case == "default off" else "on"
    assert _decide(_policy(rules, default), cell, t) == (rule, served)


CONFLICTS = [
    ("same region, untimed, on vs off",
     [dict(name="a-on", region="Small", action="on"),
      dict(name="b-off", region="Small", action="off")]),
    ("same cells, overlapping windows",
     [dict(name="a-on", cells=SMALL, action="on", start="2022-01-01", end="2022-06-01"),
      dict(name="b-off", cells=SMALL, action="off", start="2022-05-01")]),
    ("same priority 5, same region",
     [dict(name="a-on", region="Big", action="on", priority=5),
      dict(name="x", region="Small", action="on"),
      dict(name="b-off", region="Big", action="off", priority=5)]),
]


@pytest.mark.parametrize(("case", "rules"), CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_equal_rank_conflict_names_both_rules(case, rules):
    with pytest.raises(PolicyError) as err:
        compile_policy(_policy(rules), RESOLVER, source="p.toml")
    msg = str(err.value)
    assert "'a-on'" in msg and "'b-off'" in msg and "p.toml" in msg
    assert "conflict" in msg


def _brute(doc: PolicyDoc, cell: int, t_ns: int) -> tuple[int, bool]:
    """Scalar reference: filter the rules that apply, take the max of the precedence key."""
    best = None
    for i, r in enumerate(doc.rules):
        cells = (set(_ints(r.cells)) if r.cells is not None
                 else {int(c) for c in RESOLVER(r.region).cells})
        if cell not in cells:
            continue
        if r.start is not None and t_ns < np.datetime64(r.start.replace(tzinfo=None), "ns").astype(
                np.int64):
            continue
        if r.end is not None and t_ns >= np.datetime64(r.end.replace(tzinfo=None), "ns").astype(
                np.int64):
            continue
        area = sum(h3.cell_area(h3.int_to_str(c), "km^2") for c in cells)
        key = (r.priority, -round(area, 3), r.cells is not None, r.timed, -i)
        if best is None or key > best[0]:
            best = (key, i, r.action == "on")
    if best is None:
        return -1, doc.default_action == "on"
    return best[1], best[2]


def test_vectorized_evaluation_matches_brute_force():
    rules = [
        dict(name="big-off", region="Big", action="off"),
        dict(name="small-on", region="Small", action="on", start="2022-02-26"),
        dict(name="outage", cells=[KYIV, RING3[1]], action="off", start="2023-01-01T06:00:00Z",
             end="2023-01-01T07:00:00Z"),
        dict(name="far-off", region="Far", action="off", priority=2, end="2023-01-01T06:30:00Z"),
        dict(name="far-one-on", cells=[TAIPEI], action="on", priority=2),
    ]
    doc = _policy(rules)
    cp = compile_policy(doc, RESOLVER)
    cells = np.array(_ints(sorted(set(BIG) | set(FAR) | {OUTSIDE})), dtype=np.uint64)
    rng = np.random.default_rng(7)
    cells = cells[rng.permutation(cells.size)]
    t = np.concatenate([
        np.array(["2022-01-01", "2022-02-26", "2022-12-31T23:59:59"], dtype="datetime64[ns]"),
        np.datetime64("2023-01-01T05:00", "ns")
        + np.arange(0, 180, 7).astype("timedelta64[m]").astype("timedelta64[ns]"),
    ])
    ev = cp.evaluate(cells, t)
    assert ev.served.shape == (t.size, cells.size)
    assert ev.rule_index.shape == (t.size, cells.size)
    # a few distinct segments, not one per time step
    assert ev.rule_index_by_segment.shape[0] <= 6
    ti = t.astype(np.int64)
    for i in range(t.size):
        for j in range(cells.size):
            idx, served = _brute(doc, int(cells[j]), int(ti[i]))
            assert ev.rule_index[i, j] == idx, (i, j)
            assert ev.served[i, j] == served
        np.testing.assert_array_equal(ev.served_at(i), ev.served[i])


def test_served_mask_accepts_iso_times_and_returns_bool():
    cp = compile_policy(_policy([dict(name="big-off", region="Big", action="off")]), RESOLVER)
    m = cp.served_mask(np.array(_ints([KYIV, OUTSIDE]), dtype=np.uint64),
                       ["2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"])
    assert m.dtype == bool
    np.testing.assert_array_equal(m, [[False, True], [False, True]])


def test_dish_codes_for_terminals():
    doc = _policy([
        dict(name="country-off", region="Far", action="off"),
        dict(name="area-off", region="Small", action="off"),
        dict(name="cell-off", cells=[RING3[0]], action="off"),
    ], default="off")
    cp = compile_policy(doc, RESOLVER)
    lat, lon = zip(*[h3.cell_to_latlng(c) for c in (TAIPEI, KYIV, RING3[0], OUTSIDE)],
                   strict=True)
    out = cp.check_points(["tp", "kv", "ring", "sea"], lat, lon, "2024-01-01T00:00:00Z")
    assert [d.code for d in out] == [CODE_BLOCKED_COUNTRY, CODE_BLOCKED_AREA,
                                     CODE_CELL_IS_DISABLED, CODE_BLOCKED_COUNTRY]
    assert [d.rule for d in out] == ["country-off", "area-off", "cell-off", "default"]
    assert [d.cell for d in out] == [TAIPEI, KYIV, RING3[0], OUTSIDE]
    assert not any(d.served for d in out)
    # the same codes, vectorized from an evaluation's rule index
    ev = cp.evaluate(np.array(_ints([TAIPEI, KYIV, RING3[0], OUTSIDE]), dtype=np.uint64),
                     ["2024-01-01"])
    assert cp.rule_codes[ev.rule_index[0]].tolist() == [d.code for d in out]


def test_moving_terminal_rule():
    doc = _policy(
        [dict(name="small-on", region="Small", action="on"),
         dict(name="cell-off", cells=[RING3[0]], action="off")],
        moving=[dict(name="speed", region="Big", max_speed_kmh=75.0, start="2026-01-31",
                     reason="drones")])
    cp = compile_policy(doc, RESOLVER)
    klat, klon = h3.cell_to_latlng(KYIV)
    rlat, rlon = h3.cell_to_latlng(RING3[0])
    names = ["fast", "slow", "limit", "unknown", "fast-outside", "fast-blocked"]
    lat = [klat, klat, klat, klat, 0.0, rlat]
    lon = [klon, klon, klon, klon, 0.0, rlon]
    speed = [100.0, 50.0, 75.0, None, 300.0, 100.0]
    out = cp.check_points(names, lat, lon, "2026-02-23T00:00:00Z", speed_kmh=speed)
    got = {d.name: (d.served, d.rule, d.code) for d in out}
    assert got["fast"] == (False, "speed", CODE_MOVING_TOO_FAST)
    assert got["slow"] == (True, "small-on", None)
    assert got["limit"] == (True, "small-on", None)  # "above" the limit: 75 km/h is allowed
    assert got["unknown"] == (True, "small-on", None)
    assert got["fast-outside"] == (True, "default", None)
    assert got["fast-blocked"] == (False, "cell-off", CODE_CELL_IS_DISABLED)
    before = cp.check_points(["fast"], [klat], [klon], "2026-01-30T23:59:59Z", speed_kmh=[100.0])
    assert before[0].served and before[0].rule == "small-on"
    # the cell mask ignores speed: cells do not move
    assert cp.served_mask([h3.str_to_int(KYIV)], ["2026-02-23"]).all()


def test_point_validation():
    cp = compile_policy(_policy([]), RESOLVER)
    with pytest.raises(SiteError, match=r"point bad.*latitude 91"):
        cp.check_points(["bad"], [91.0], [0.0], "2024-01-01")
    with pytest.raises(SiteError, match=r"longitude 200"):
        cp.check_points(["bad"], [0.0], [200.0], "2024-01-01")
    with pytest.raises(SiteError, match="negative"):
        cp.check_points(["bad"], [0.0], [0.0], "2024-01-01", speed_kmh=[-1.0])


def test_bad_rules_name_the_field():
    def load(text: str) -> None:
        compile_policy(loads_policy(text, source="bad.toml").policy(), RESOLVER)

    with pytest.raises(PolicyError) as e:
        load('[[rules]]\nname="a"\nregion="Small"\naction="on"\n'
             'start=2023-01-02T00:00:00Z\nend=2023-01-01T00:00:00Z\n')
    assert "bad.toml: rules[0]" in str(e.value) and "must be after start" in str(e.value)
    with pytest.raises(PolicyError) as e:
        load('[[rules]]\nname="a"\nregion="Small"\naction="maybe"\n')
    assert "rules[0].action" in str(e.value) and "'on' or 'off'" in str(e.value)
    with pytest.raises(PolicyError) as e:
        load('[[rules]]\nname="a"\nregion="Small"\nacton="on"\n')
    msg = str(e.value)
    assert "rules[0].acton" in msg and "unknown field 'acton'" in msg and "action" in msg
    with pytest.raises(PolicyError, match="exactly one target"):
        load('[[rules]]\nname="a"\naction="on"\n')
    with pytest.raises(PolicyError, match="exactly one target"):
        load(f'[[rules]]\nname="a"\nregion="Small"\ncells=["{KYIV}"]\naction="on"\n')
    with pytest.raises(PolicyError, match=r"rules\[1\].name 'a' repeats rules\[0\].name"):
        load('[[rules]]\nname="a"\nregion="Small"\naction="on"\n'
             '[[rules]]\nname="a"\nregion="Big"\naction="on"\n')
    with pytest.raises(PolicyError, match=r"rules\[0\].cells\[1\].*not a valid H3 cell"):
        load(f'[[rules]]\nname="a"\ncells=["{KYIV}", "zzz"]\naction="on"\n')
    child = h3.cell_to_center_child(KYIV, 6)
    with pytest.raises(PolicyError, match=f"resolution 6.*parent {KYIV}"):
        load(f'[[rules]]\nname="a"\ncells=["{child}"]\naction="on"\n')
    with pytest.raises(PolicyError, match="default_action"):
        load('default_action = "maybe"\n')


def test_unknown_region_suggests_close_names():
    doc = _policy([dict(name="a", region="Smal", action="on")])
    with pytest.raises(RegionError) as e:
        compile_policy(doc, RESOLVER, source="p.toml")
    assert "did you mean Small" in str(e.value)
    assert "p.toml: rules[0].region" in str(e.value)


def test_coarse_cells_expand_to_res5_children():
    parent = h3.cell_to_parent(KYIV, 4)
    cells = cells_from_hex([parent])
    assert cells.size == 7
    assert set(cells.tolist()) == {h3.str_to_int(c) for c in h3.cell_to_children(parent, 5)}


def test_service_status_combines_coverage_and_policy():
    covered = np.array([[True, True, False, False]])
    served = np.array([[True, False, True, False]])
    np.testing.assert_array_equal(service_status(covered, served),
                                  [[SERVED, BLOCKED, UNCOVERED, UNCOVERED]])


def test_to_service_cells_maps_overviews_to_their_centre_res5_cell():
    coarse = h3.cell_to_parent(KYIV, 3)
    fine = h3.cell_to_center_child(KYIV, 7)
    got = to_service_cells(np.array(_ints([coarse, fine, KYIV, coarse]), dtype=np.uint64))
    centre = h3.latlng_to_cell(*h3.cell_to_latlng(coarse), 5)  # the res-5 cell at the centre
    assert got.tolist() == _ints([centre, KYIV, KYIV, centre])
    cp = compile_policy(_policy([dict(name="big-off", region="Big", action="off")]), RESOLVER)
    with pytest.raises(PolicyError, match=r"cells\[0\].*resolution 3.*to_service_cells"):
        cp.evaluate(np.array(_ints([coarse]), dtype=np.uint64), ["2024-01-01"])
