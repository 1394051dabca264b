"""Policy rules with a membership table of our own: shared cells, seas, terminals, statuses.

The geography here is synthetic (H3 disks), so every expectation is worked out by hand from
the membership data the test builds, independently of the compiled policy.
"""

from __future__ import annotations

import h3
import numpy as np
import pytest

from skyfence.errors import PolicyError
from skyfence.network.sites import great_circle_km
from skyfence.policy.rules import (
    CODE_BLOCKED_AREA,
    CODE_BLOCKED_COUNTRY,
    CODE_MOVING_TOO_FAST,
    CODE_UNREGISTERED,
    INTERNATIONAL_WATERS_RULE,
    STATUS_CODES,
    MappingResolver,
    PolicyDoc,
    TerritorySpec,
    compile_policy,
)

# Two neighbouring "countries" A and B share a border ring; S is a sea cell touching only
# A's territorial sea; X is far away (international waters).
CENTRE = h3.latlng_to_cell(48.0, 10.0, 5)
A_LAND = sorted(h3.grid_disk(CENTRE, 2))
EDGE = sorted(set(h3.grid_ring(CENTRE, 3)))           # shared border cells
B_CENTRE = h3.grid_ring(CENTRE, 6)[0]
B_LAND = sorted(set(h3.grid_disk(B_CENTRE, 2)) - set(A_LAND))
SEA_A = h3.grid_ring(CENTRE, 4)[5]                     # in A's 12-nm zone only
FAR = h3.latlng_to_cell(-40.0, -30.0, 5)


def _i(cells):
    return [h3.str_to_int(c) for c in cells]


def _resolver(share_a: float) -> MappingResolver:
    """A holds ``share_a`` of every border cell's land, B the rest; SEA_A is A's sea only."""
    a_cells = A_LAND + EDGE + [SEA_A]
    a_share = [1.0] * len(A_LAND) + [share_a] * len(EDGE) + [0.0]
    b_cells = B_LAND + EDGE
    b_share = [1.0] * len(B_LAND) + [1.0 - share_a] * len(EDGE)
    return MappingResolver({
        "A": (_i(a_cells), "country", a_share),
        "B": (_i(b_cells), "country", b_share),
        "Zone": (_i([EDGE[0]]), "area"),
    }, edition="test")


def _doc(**kw) -> PolicyDoc:
    base = dict(name="t", default_action="off",
                territories=[dict(region="A", history=[dict(status="on", source="s")]),
                             dict(region="B", history=[dict(status="off", source="s")])])
    base.update(kw)
    return PolicyDoc.model_validate(base)


def _rules(cp, cells, t="2024-01-01"):
    ev = cp.evaluate(np.array(_i(cells), dtype=np.uint64), [t])
    names = [*cp.rule_names, "default"]
    return [names[int(k)] for k in ev.rule_index[0]], ev.served[0].tolist()


def test_border_cell_restrictive_by_default():
    cp = compile_policy(_doc(), _resolver(0.9))
    rules, served = _rules(cp, [A_LAND[0], EDGE[1], B_LAND[0]])
    assert served == [True, False, False]          # 90 % of A's land does not save it
    assert rules[1] == "B:off@start"


@pytest.mark.parametrize("share_a,expect", [(0.9, True), (0.2, False), (0.5, False)])
def test_border_cell_majority_of_land(share_a, expect):
    cp = compile_policy(_doc(shared_cells="majority"), _resolver(share_a))
    _, served = _rules(cp, [EDGE[1]])
    assert served == [expect]                      # a tie falls back to the restrictive choice


def test_sea_cells_and_international_waters():
    cp = compile_policy(_doc(international_waters="on"), _resolver(0.9))
    rules, served = _rules(cp, [SEA_A, FAR])
    assert rules == ["A:on@start", INTERNATIONAL_WATERS_RULE]
    assert served == [True, True]
    cp_off = compile_policy(_doc(international_waters="off"), _resolver(0.9))
    out = cp_off.check_points(["ship"], *zip(h3.cell_to_latlng(FAR), strict=True),
                              "2024-01-01T00:00:00Z")
    assert not out[0].served and out[0].code == CODE_BLOCKED_AREA and out[0].territories == ()
    # without an international-waters rule the default decides
    cp_none = compile_policy(_doc(), _resolver(0.9))
    assert _rules(cp_none, [FAR])[0] == ["default"]


def test_area_rule_beats_territories_and_reports_territories():
    doc = _doc(rules=[dict(name="zone-on", region="Zone", action="on")])
    cp = compile_policy(doc, _resolver(0.9))
    rules, served = _rules(cp, [EDGE[0], EDGE[1]])
    assert rules == ["zone-on", "B:off@start"] and served == [True, False]
    lat, lon = h3.cell_to_latlng(EDGE[1])
    d = cp.check_points(["b"], [lat], [lon], "2024-01-01T00:00:00Z")[0]
    assert [n for n, _ in d.territories] == ["A", "B"]
    assert d.territories[0][1] == pytest.approx(0.9)
    assert d.code == CODE_BLOCKED_COUNTRY


def test_status_history_gives_every_date_an_answer():
    terr = TerritorySpec.model_validate(dict(region="A", history=[
        dict(status="not_launched", source="x"),
        dict(since="2022-02-26", status="on", source="y"),
        dict(since="2026-01-01", status="unknown", source="z")]))
    assert terr.status_at("2022-02-01").status == "not_launched"
    assert terr.status_at("2022-03-01").status == "on"
    doc = _doc(territories=[terr.model_dump()], unknown_action="off")
    cp = compile_policy(doc, _resolver(0.9))
    seen = [_rules(cp, [A_LAND[0]], t)[1][0] for t in ("2022-02-01", "2022-03-01", "2026-06-01")]
    assert seen == [False, True, False]
    cp_on = compile_policy(doc.model_copy(update={"unknown_action": "on"}), _resolver(0.9))
    assert _rules(cp_on, [A_LAND[0]], "2026-06-01")[1] == [True]
    # an explicit rule on a territory outranks its status history at equal priority
    over = _doc(territories=[terr.model_dump()], rules=[
        dict(name="what-if", region="A", action="off", start="2022-01-01")])
    assert _rules(compile_policy(over, _resolver(0.9)), [A_LAND[0]], "2023-01-01") == (
        ["what-if"], [False])


@pytest.mark.parametrize("bad", [
    [dict(status="on", source="")],
    [dict(since="2023-01-01", status="on", source="a"), dict(status="off", source="b")],
    [dict(since="2023-01-01", status="on", source="a"),
     dict(since="2022-01-01", status="off", source="b")],
    [dict(status="maybe", source="a")],
])
def test_bad_histories_are_refused(bad):
    with pytest.raises(ValueError):
        TerritorySpec.model_validate(dict(region="A", history=bad))


def test_equal_explicit_rules_on_one_territory_conflict():
    doc = _doc(rules=[dict(name="a-on", region="A", action="on"),
                      dict(name="a-off", region="A", action="off")])
    with pytest.raises(PolicyError, match=r"a-on.*a-off"):
        compile_policy(doc, _resolver(0.9))
    # different territories sharing a border are no conflict: the shared-cell rule decides
    ok = _doc(rules=[dict(name="a-on", region="A", action="on"),
                     dict(name="b-off", region="B", action="off")])
    compile_policy(ok, _resolver(0.9))


def _terminal_doc() -> PolicyDoc:
    return _doc(
        moving_rules=[dict(name="speed", region="A", max_speed_kmh=75.0, start="2026-01-31",
                           exempt_registered=True)],
        terminal_rules=[dict(name="registered-only", region="A", start="2026-02-01")])


def test_registered_terminals_and_speed_exemption():
    cp = compile_policy(_terminal_doc(), _resolver(0.9))
    lat, lon = h3.cell_to_latlng(A_LAND[0])
    names = ["reg-slow", "reg-fast", "unreg-slow", "unreg-fast"]
    args = (names, [lat] * 4, [lon] * 4)
    after = cp.check_points(*args, "2026-02-23T00:00:00Z", speed_kmh=[10, 120, 10, 120],
                            registered=[True, True, False, False])
    got = {d.name: (d.served, d.code) for d in after}
    assert got["reg-slow"] == (True, None)
    assert got["reg-fast"] == (True, None)                      # exempt from the speed rule
    assert got["unreg-slow"] == (False, CODE_UNREGISTERED)
    assert got["unreg-fast"] == (False, CODE_MOVING_TOO_FAST)   # the speed rule comes first
    before = cp.check_points(*args, "2026-01-15T00:00:00Z", speed_kmh=[10, 120, 10, 120],
                             registered=[True, True, False, False])
    assert all(d.served for d in before)
    between = cp.check_points(*args, "2026-01-31T12:00:00Z", speed_kmh=[10, 120, 10, 120],
                              registered=[True, True, False, False])
    assert [d.served for d in between] == [True, True, True, False]
    # outside the region the terminal rules do not apply (B is off anyway; X is default)
    blat, blon = h3.cell_to_latlng(B_LAND[0])
    d = cp.check_points(["b"], [blat], [blon], "2026-02-23T00:00:00Z", speed_kmh=[120])[0]
    assert d.code == CODE_BLOCKED_COUNTRY


def test_track_driven_terminal_changes_status_at_the_right_step():
    """A vehicle accelerating along a track: speed from the track, code per step."""
    cp = compile_policy(_terminal_doc(), _resolver(0.9))
    lat0, lon0 = h3.cell_to_latlng(CENTRE)
    t = np.datetime64("2026-02-23T00:00:00", "ns") + np.arange(8) * np.timedelta64(60, "s")
    # eastward, accelerating: 0.5 km, 0.6 km, ... per minute (30, 36, ... km/h)
    step_km = 0.5 + 0.35 * np.arange(7)
    lon = lon0 + np.concatenate([[0.0], np.cumsum(step_km)]) / (111.32 * np.cos(np.radians(lat0)))
    lat = np.full(8, lat0)
    seg_km = great_circle_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    speed = np.concatenate([[0.0], seg_km / (60.0 / 3600.0)])     # km/h over the last minute
    cells = np.array([h3.str_to_int(h3.latlng_to_cell(a, b, 5)) for a, b in zip(
        lat, lon, strict=True)], dtype=np.uint64)
    for reg, expect_code in ((True, 0), (False, None)):
        ev = cp.evaluate_terminals(cells[:, None], t, speed[:, None],
                                   np.full((8, 1), reg))
        first_fast = int(np.argmax(speed > 75.0))
        if reg:
            assert ev.served[:, 0].all()
        else:
            codes = ev.code_names()[:, 0].tolist()
            assert codes[:first_fast] == [CODE_UNREGISTERED] * first_fast
            assert codes[first_fast:] == [CODE_MOVING_TOO_FAST] * (8 - first_fast)
            assert ev.rule_names()[first_fast, 0] == "speed"
        assert expect_code in (0, None)
    assert 0 < first_fast < 7


def test_terminal_evaluation_matches_point_checks():
    """(n_time, n_point) evaluation equals one-point checks (brute force), random inputs."""
    cp = compile_policy(_terminal_doc(), _resolver(0.9))
    rng = np.random.default_rng(11)
    pool = A_LAND + EDGE + B_LAND + [SEA_A, FAR]
    t = np.array(["2026-01-30", "2026-01-31T06:00", "2026-02-02"], dtype="datetime64[ns]")
    picks = rng.choice(np.array(pool), size=(3, 25))
    cells = np.array([_i([str(c) for c in row]) for row in picks], dtype=np.uint64)
    speed = rng.uniform(0, 150, (3, 25))
    reg = rng.random((3, 25)) < 0.5
    ev = cp.evaluate_terminals(cells, t, speed, reg)
    for i in range(3):
        for j in range(25):
            lat, lon = h3.cell_to_latlng(h3.int_to_str(int(cells[i, j])))
            d = cp.check_points(["p"], [lat], [lon], t[i], speed_kmh=[speed[i, j]],
                                registered=[bool(reg[i, j])])[0]
            assert d.served == bool(ev.served[i, j])
            assert (d.code or "") == STATUS_CODES[int(ev.code[i, j])]
            assert d.rule == ev.rule_names()[i, j]


def test_terminal_array_shapes_are_checked():
    cp = compile_policy(_terminal_doc(), _resolver(0.9))
    with pytest.raises(PolicyError, match="cells must be"):
        cp.evaluate_terminals(np.zeros((2, 3), np.uint64), ["2026-01-01"])
