"""What-if diff of two policies: gained / lost cells and areas against independent sums."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from skyfence.policy.diff import diff_policies, rule_changes
from skyfence.policy.rules import MappingResolver, PolicyDoc, compile_policy

KYIV = h3.latlng_to_cell(50.45, 30.52, 5)
BIG = sorted(h3.grid_disk(KYIV, 3))
SMALL = sorted(h3.grid_disk(KYIV, 1))
RESOLVER = MappingResolver({"Big": [h3.str_to_int(c) for c in BIG],
                            "Small": [h3.str_to_int(c) for c in SMALL]})


def _compile(rules: list[dict], default: str = "on"):
    doc = PolicyDoc.model_validate({"default_action": default, "rules": rules})
    return compile_policy(doc, RESOLVER)


A = [dict(name="big-off", region="Big", action="off")]
B = [*A, dict(name="small-on", region="Small", action="on", start="2024-01-01")]


def test_gain_and_loss_with_areas():
    a, b = _compile(A), _compile(B)
    d = diff_policies(a, b, "2024-06-01T00:00:00Z")
    assert d.cells.size == len(BIG)
    s = d.summary()
    # independent reference: the cell areas straight from h3
    expected_km2 = sum(h3.cell_area(c, "km^2") for c in SMALL)
    assert (s["gain_cells"], s["loss_cells"]) == (7, 0)
    assert s["gain_km2"] == pytest.approx(expected_km2, rel=1e-12)
    rows = d.records()
    assert sorted(r["h3_cell"] for r in rows) == SMALL
    assert {(r["status"], r["rule_a"], r["rule_b"]) for r in rows} == {
        ("gain", "big-off", "small-on")}
    back = diff_policies(b, a, "2024-06-01T00:00:00Z").summary()
    assert (back["gain_cells"], back["loss_cells"]) == (0, 7)
    assert back["loss_km2"] == pytest.approx(expected_km2, rel=1e-12)
    frame = d.to_frame(only_changed=False)
    assert list(frame.columns) == ["h3_cell", "status", "area_km2", "rule_a", "rule_b"]
    assert sorted(frame["status"].unique()) == ["gain", "off"]


def test_before_the_window_nothing_changes():
    d = diff_policies(_compile(A), _compile(B), "2023-12-31T23:59:59Z")
    assert not d.changed.any() and d.records() == []


def test_default_change_is_reported_and_explicit_cells_compared():
    a, b = _compile(A), _compile(A, default="off")
    outside = np.array([h3.str_to_int(h3.latlng_to_cell(0.0, 0.0, 5))], dtype=np.uint64)
    d = diff_policies(a, b, "2024-01-01", cells=outside)
    assert d.default_changed and (d.default_a, d.default_b) == ("on", "off")
    assert d.status.tolist() == ["loss"] and d.rule_a.tolist() == ["default"]


def test_crimea_gain_area_matches_the_polygon_area():
    from skyfence.ground import builtin_region
    from skyfence.policy.regions import catalogue_resolver

    res = catalogue_resolver("deu")
    off = PolicyDoc.model_validate({"rules": [{"name": "c", "region": "Crimea",
                                               "action": "off"}]})
    on = PolicyDoc.model_validate({"rules": [{"name": "c", "region": "Crimea", "action": "on"}]})
    d = diff_policies(compile_policy(off, res), compile_policy(on, res), "2024-01-01")
    s = d.summary()
    crimea = res("Crimea")
    # every cell touching Crimea's land or its 12-nm sea changes
    assert s["gain_cells"] == d.cells.size == crimea.cells.size
    assert s["gain_km2"] > builtin_region("Crimea").area_km2
    # the land those cells hold (cell area x land share) is the polygon's geodesic area,
    # to the share's sampling step (1/49 of a cell)
    land = sum(h3.cell_area(h3.int_to_str(int(c)), "km^2") * float(f)
               for c, f in zip(crimea.cells, crimea.shares(), strict=True))
    assert land == pytest.approx(builtin_region("Crimea").area_km2, rel=0.03)


def test_rule_changes():
    a = PolicyDoc.model_validate({"rules": [
        dict(name="x", region="Big", action="off"), dict(name="y", region="Small", action="on"),
        dict(name="z", region="Small", action="off", priority=3)]})
    b = PolicyDoc.model_validate({"default_action": "off", "rules": [
        dict(name="y", region="Small", action="on", priority=2, reason="r"),
        dict(name="x", region="Big", action="off"),
        dict(name="w", region="Big", action="on", priority=9)]})
    got = [str(c) for c in rule_changes(a, b)]
    assert got == ["changed default_action", "changed y (priority, reason)", "removed z",
                   "added w", "changed rules (order)"]
