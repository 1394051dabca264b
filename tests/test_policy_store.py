"""Policy store: versions, requests and decisions, the audit chain and tamper detection,
and bad input that must leave everything stored intact."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import numpy as np
import pytest

from conftest import BLOCKED_CELLS_JSON, BLOCKED_GEOJSON
from skyfence.errors import InputError, PolicyError, RegionError, StoreError
from skyfence.policy.io import load_policy_file, loads_policy
from skyfence.policy.rules import MappingResolver, PolicyDoc, compile_policy
from skyfence.policy.store import GENESIS_HASH, PolicyStore

KYIV = h3.latlng_to_cell(50.45, 30.52, 5)
BIG = [h3.str_to_int(c) for c in h3.grid_disk(KYIV, 3)]
SMALL = [h3.str_to_int(c) for c in h3.grid_disk(KYIV, 1)]
RESOLVER = MappingResolver({"Ukraine": (BIG, "country"), "Crimea": (SMALL, "area")})


class Clock:
    """Deterministic clock: each call advances one minute from 2024-01-01."""

    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


BASE = PolicyDoc.model_validate({
    "name": "default", "default_action": "on",
    "rules": [{"name": "ua-on", "region": "Ukraine", "action": "on"},
              {"name": "crimea-off", "region": "Crimea", "action": "off"}],
})


@pytest.fixture()
def store(tmp_path: Path):
    s = PolicyStore(tmp_path / "p.sqlite", clock=Clock(), resolver=RESOLVER)
    yield s
    s.close()


def _raw(store: PolicyStore) -> sqlite3.Connection:
    return sqlite3.connect(store.path)


def test_schema_pragmas(store):
    c = store._conn
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_versions_apply_show_and_unchanged(store):
    v1, created = store.apply_policy(BASE, by="alice", comment="first")
    assert (v1.version, created, v1.created_by, v1.comment) == (1, True, "alice", "first")
    assert v1.created_at == "2024-01-01T00:01:00Z"
    same, created = store.apply_policy(BASE, by="bob")
    assert (same.version, created) == (1, False)
    changed = BASE.model_copy(update={"default_action": "off"})
    # flipping the default changes service everywhere: refused unless asked for explicitly
    before = store.counts()
    with pytest.raises(PolicyError, match=r"turns the default .* from on to off"):
        store.apply_policy(changed, by="bob")
    assert store.counts() == before
    v2, created = store.apply_policy(changed, by="bob", allow_sweeping=True)
    assert (v2.version, created) == (2, True)
    assert "sweeping: " in v2.comment
    assert store.get_version().version == 2
    assert store.get_version(1).doc() == BASE
    assert store.get_version(2).doc().default_action == "off"
    with pytest.raises(StoreError, match="no version 7; stored versions: 1, 2"):
        store.get_version(7)
    with pytest.raises(StoreError, match="no policy named 'other'"):
        store.get_version(None, "other")
    # canonical JSON content: sorted keys, compact
    content = store.get_version(1).content
    assert content == json.dumps(json.loads(content), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False)


def test_decisions_final_deferred_and_missing(store):
    store.apply_policy(BASE, by="alice")
    r = store.file_request(by="kyiv", region="Crimea", action="on", why="drones",
                           at="2022-09-01T00:00:00Z")
    assert r.status == "pending" and r.requested_at == "2022-09-01T00:00:00Z"
    d1 = store.decide(r.id, by="spacex", outcome="deferred", reason="thinking",
                      at="2022-09-02T00:00:00Z")
    assert d1.policy_version_id is None
    d2 = store.decide(r.id, by="spacex", outcome="refused", reason="escalation",
                      at="2022-09-03T00:00:00Z")
    assert store.request(r.id).status == "refused"
    assert [d.id for d in store.request(r.id).decisions] == [d1.id, d2.id]
    before = store.counts()
    with pytest.raises(StoreError, match=r"request 1 was already decided: refused by spacex"):
        store.decide(r.id, by="x", outcome="approved", reason="changed mind")
    with pytest.raises(StoreError, match=r"no request with id 42 .*known ids: 1"):
        store.decide(42, by="x", outcome="approved", reason="r")
    with pytest.raises(InputError, match="unknown outcome 'maybe'"):
        store.decide(r.id, by="x", outcome="maybe", reason="r")
    r2 = store.file_request(by="kyiv", region="Ukraine", action="on", why="w",
                            at="2023-01-01T00:00:00Z")
    with pytest.raises(InputError, match="before the request's time"):
        store.decide(r2.id, by="x", outcome="refused", reason="r", at="2022-12-31T00:00:00Z")
    assert store.counts() == {**before, "requests": before["requests"] + 1,
                              "audit": before["audit"] + 1}
    assert store.verify().ok


def test_approval_creates_a_version_whose_rule_wins(store):
    store.apply_policy(BASE, by="alice")
    r = store.file_request(by="kyiv", region="Crimea", action="on", why="please",
                           at="2022-09-01T00:00:00Z", start="2022-09-10T00:00:00Z")
    d = store.decide(r.id, by="spacex", outcome="approved", reason="ok",
                     at="2022-09-02T00:00:00Z")
    v2 = store.get_version()
    assert d.policy_version_id == v2.id and v2.version == 2
    doc = v2.doc()
    assert doc.rules[-1].name == f"request-{r.id}" and doc.rules[-1].priority == 1
    changes, diff = store.diff_versions(1, 2, "2022-09-10T00:00:00Z")
    assert [str(c) for c in changes] == [f"added request-{r.id}"]
    assert diff.summary()["gain_cells"] == len(SMALL) and diff.summary()["loss_cells"] == 0
    cp = compile_policy(doc, RESOLVER)
    cell = np.array([h3.str_to_int(KYIV)], dtype=np.uint64)
    served = cp.served_mask(cell, ["2022-09-09T23:59:59Z", "2022-09-10T00:00:00Z"])
    assert served[:, 0].tolist() == [False, True]  # Crimea off, then on from the window start
    assert store.verify().ok


def test_import_history_is_idempotent_and_guarded(store, tmp_path):
    text = """
name = "default"
[[rules]]
name = "ua-on"
region = "Ukraine"
action = "on"
[[requests]]
key = "r1"
by = "Fedorov"
region = "Ukraine"
action = "on"
at = 2022-02-26T00:00:00Z
why = "stations"
[[requests.decisions]]
by = "Musk"
outcome = "approved"
reason = "active"
at = 2022-02-26T00:00:00Z
"""
    pf = loads_policy(text)
    v, created, res = store.apply_file(pf, by="alice")
    assert v.version == 1 and created and (res.requests_added, res.decisions_added) == (1, 1)
    _, created, res = store.apply_file(pf, by="alice")
    assert not created and (res.requests_added, res.decisions_added, res.requests_skipped) == (
        0, 0, 1)
    assert len(store.requests()) == 1 and store.requests()[0].status == "approved"
    # a changed history record is refused, and nothing of that apply is stored
    before = store.counts()
    changed = loads_policy(text.replace('why = "stations"', 'why = "other"').replace(
        'action = "on"\n[[requests]]', 'action = "off"\n[[requests]]'))
    with pytest.raises(StoreError, match=r"'r1' is stored .* different why"):
        store.apply_file(changed, by="mallory")
    assert store.counts() == before


def test_verify_detects_edited_and_deleted_rows(store):
    store.apply_policy(BASE, by="alice")
    r1 = store.file_request(by="a", region="Crimea", action="on", why="w1", at="2022-09-01")
    r2 = store.file_request(by="b", region="Ukraine", action="off", why="w2", at="2022-09-01")
    store.decide(r1.id, by="x", outcome="refused", reason="no", at="2022-09-02")
    report = store.verify()
    assert report.ok and report.entries == 4 and report.head != GENESIS_HASH

    # the API's connection refuses UPDATE and DELETE everywhere
    for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit",
                "UPDATE requests SET why = 'x'", "DELETE FROM decisions"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store._conn.execute(sql)

    raw = _raw(store)
    raw.execute("DROP TRIGGER requests_no_update")
    raw.execute("UPDATE requests SET why = 'forged' WHERE id = ?", (r2.id,))
    raw.commit()
    findings = store.verify().findings
    assert any(f.table == "requests" and f.row_id == r2.id and "edited" in f.problem
               for f in findings)
    assert any("requests_no_update missing" in f.problem for f in findings)

    raw.execute("DROP TRIGGER decisions_no_delete")
    raw.execute("DELETE FROM decisions WHERE request_id = ?", (r1.id,))
    raw.commit()
    findings = store.verify().findings
    assert any(f.table == "decisions" and f.row_id == 1 and "deleted" in f.problem
               for f in findings)
    raw.close()


def test_verify_detects_edited_and_deleted_audit_entries(store):
    store.apply_policy(BASE, by="alice")
    for i in range(3):
        store.file_request(by=f"p{i}", region="Crimea", action="on", why="w", at="2022-09-01")
    head = store.verify().head
    raw = _raw(store)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    raw.commit()
    report = store.verify()
    assert any(f.table == "audit" and f.row_id == 2 and "edited" in f.problem
               for f in report.findings)

    raw.execute("DROP TRIGGER audit_no_delete")
    raw.execute("DELETE FROM audit WHERE seq = 3")
    raw.commit()
    problems = [str(f) for f in store.verify().findings]
    assert "audit#3: audit entries 3 missing (deleted)" in problems
    assert any(p.startswith("requests#2: row has no audit entry") for p in problems)
    # truncating the tail together with its data row needs the recorded head to be seen
    raw.execute("DROP TRIGGER requests_no_delete")
    raw.execute("DELETE FROM audit WHERE seq = 4")
    raw.execute("DELETE FROM requests WHERE id = 3")
    raw.commit()
    report = store.verify(expected_head=head)
    assert any("differs from the expected" in f.problem for f in report.findings)
    raw.close()


def test_missing_store_is_an_error(tmp_path):
    with pytest.raises(StoreError, match="no policy store at"):
        PolicyStore(tmp_path / "none.sqlite", create=False)
    bad = tmp_path / "junk.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite store"):
        PolicyStore(bad)


# --- bad input: clear errors, nothing stored is lost -----------------------------------------


def _populated(store: PolicyStore) -> dict[str, int]:
    store.apply_policy(BASE, by="alice")
    r = store.file_request(by="a", region="Crimea", action="on", why="w", at="2022-09-01")
    store.decide(r.id, by="x", outcome="refused", reason="no", at="2022-09-02")
    return store.counts()


def test_unknown_region_names(store):
    before = _populated(store)
    doc = PolicyDoc.model_validate({"rules": [{"name": "x", "region": "Ukrain", "action": "on"}]})
    with pytest.raises(RegionError, match="unknown region 'Ukrain'; did you mean Ukraine"):
        store.apply_policy(doc, by="alice")
    with pytest.raises(RegionError, match="did you mean Crimea"):
        store.file_request(by="a", region="Crimee", action="on", why="w")
    assert store.counts() == before and store.verify().ok


def test_unknown_region_in_the_catalogue_suggests_names(tmp_path):
    s = PolicyStore(tmp_path / "c.sqlite", clock=Clock())  # the real region catalogue
    with pytest.raises(RegionError) as e:
        s.file_request(by="a", region="Ukrane", action="on", why="w")
    assert "Ukraine" in str(e.value)
    with pytest.raises(RegionError) as e:
        s.file_request(by="a", region="Crimeea", action="on", why="w")
    assert "Crimea" in str(e.value)
    assert s.counts()["requests"] == 0
    s.close()


def test_decision_for_missing_request_keeps_rows(store):
    before = _populated(store)
    with pytest.raises(StoreError, match="no request with id 99"):
        store.decide(99, by="x", outcome="approved", reason="r")
    assert store.counts() == before and store.verify().ok


def test_malformed_policy_file_keeps_rows(store, tmp_path):
    before = _populated(store)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "default"\n[[rules]]\nname = "a"\nregion = "Ukraine"\naction = on\n')
    with pytest.raises(PolicyError) as e:
        store.apply_file(load_policy_file(bad), by="alice")
    assert str(e.value).startswith(f"{bad}:5: not valid TOML")
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"rules": [{"name": "a", "region": "Ukraine", "acton": "on"}]}))
    with pytest.raises(PolicyError) as e:
        store.apply_file(load_policy_file(typo), by="alice")
    assert f"{typo}: rules[0].acton" in str(e.value) and "unknown field" in str(e.value)
    conflict = PolicyDoc.model_validate({"rules": [
        {"name": "a", "region": "Crimea", "action": "on"},
        {"name": "b", "region": "Crimea", "action": "off"}]})
    with pytest.raises(PolicyError, match=r"'a'.*'b'.*conflict"):
        store.apply_policy(conflict, by="alice")
    assert store.counts() == before and store.verify().ok


SELF_INTERSECTING = {"type": "Polygon", "coordinates": [
    [[33.0, 44.5], [34.0, 45.5], [34.0, 44.5], [33.0, 45.5], [33.0, 44.5]]]}
OPEN_RING = {"type": "Polygon", "coordinates": [
    [[33.0, 44.5], [34.0, 44.5], [34.0, 45.5], [33.0, 45.5]]]}


@pytest.mark.parametrize(("geometry", "expected"), [
    (SELF_INTERSECTING, "self-intersection"),
    (OPEN_RING, "open ring"),
], ids=["self-intersecting", "open"])
def test_bad_polygons_in_a_policy_region_keep_rows(tmp_path, geometry, expected):
    store = PolicyStore(tmp_path / "g.sqlite", clock=Clock())  # real catalogue and loaders
    store.apply_policy(PolicyDoc.model_validate(
        {"rules": [{"name": "ua", "region": "Ukraine", "action": "on"}]}), by="alice")
    before = store.counts()
    gj = tmp_path / "zone.geojson"
    gj.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    pol = tmp_path / "zone.toml"
    pol.write_text('[[regions]]\nname = "zone"\nfile = "zone.geojson"\n'
                   '[[rules]]\nname = "zone-off"\nregion = "zone"\naction = "off"\n')
    with pytest.raises(RegionError) as e:
        store.apply_file(load_policy_file(pol), by="alice", source=str(pol))
    msg = str(e.value)
    assert expected in msg and "regions[0] (zone)" in msg and str(pol) in msg
    assert store.counts() == before and store.verify().ok
    store.close()


def test_policy_region_from_geojson_and_expression(tmp_path):
    good = {"type": "Polygon", "coordinates": [
        [[30.0, 50.0], [31.0, 50.0], [31.0, 51.0], [30.0, 51.0], [30.0, 50.0]]]}
    doc = loads_policy(json.dumps({
        "regions": [{"name": "box", "geojson": good},
                    {"name": "ua-minus-crimea", "expression": "Ukraine - Crimea"}],
        "rules": [{"name": "box-off", "region": "box", "action": "off"},
                  {"name": "mainland-on", "region": "ua-minus-crimea", "action": "on"}]}),
        "json").policy()
    from skyfence.policy.regions import catalogue_resolver

    cp = compile_policy(doc, catalogue_resolver("deu"))
    out = cp.check_points(["Kyiv", "Lviv", "Simferopol"], [50.45, 49.84, 44.952],
                          [30.524, 24.03, 34.102], "2024-01-01T00:00:00Z")
    assert [(d.rule, d.served, d.code) for d in out] == [
        ("box-off", False, "BLOCKED_AREA"), ("mainland-on", True, None), ("default", True, None)]
    crimea = catalogue_resolver("deu")("Crimea")
    mainland = cp.regions["ua-minus-crimea"]
    # cells holding land of both lie on the Crimea line and hold part of each side there
    # (Crimea's cells also reach over its 12-nm sea onto the mainland coast)
    c_share = dict(zip(crimea.cells.tolist(), crimea.shares().tolist(), strict=True))
    shares = dict(zip(mainland.cells.tolist(), mainland.shares().tolist(), strict=True))
    both = [c for c in shares if c_share.get(c, 0.0) > 0.05]
    assert 0 < len(both) < 40
    assert all(shares[c] < 1.0 and c_share[c] < 1.0 for c in both)
    # inland Crimea is not in the mainland region
    inland = h3.str_to_int(h3.latlng_to_cell(44.952, 34.102, 5))
    assert inland in set(crimea.cells.tolist()) and inland not in shares


def test_starlink_blocked_cells_as_policy_regions(tmp_path, shared_data):
    """The real published blocked cells, as GeoJSON and as a cell list, give the same rule."""
    listed = {h3.str_to_int(c) for c in json.loads(BLOCKED_CELLS_JSON.read_text())["cells"]}
    pol = tmp_path / "blocked.toml"
    pol.write_text(
        f'[[regions]]\nname = "blocked-geojson"\nfile = "{BLOCKED_GEOJSON}"\n'
        f'[[regions]]\nname = "blocked-list"\nfile = "{BLOCKED_CELLS_JSON}"\n'
        '[[rules]]\nname = "ua-on"\nregion = "Ukraine"\naction = "on"\n'
        '[[rules]]\nname = "geo-off"\nregion = "blocked-geojson"\naction = "off"\n'
        '[[rules]]\nname = "list-off"\nregion = "blocked-list"\naction = "off"\n')
    from skyfence.policy.regions import catalogue_resolver

    cp = compile_policy(load_policy_file(pol).policy(), catalogue_resolver("deu"))
    geo, lst = cp.rules[1], cp.rules[2]
    assert set(geo.cells.tolist()) == listed and set(lst.cells.tolist()) == listed
    assert (geo.target_kind, lst.target_kind) == ("area", "cells")
    # equal area, the cell list is the more specific target: it decides, CELL_IS_DISABLED
    cell = h3.int_to_str(int(lst.cells[0]))
    lat, lon = h3.cell_to_latlng(cell)
    out = cp.check_points(["front"], [lat], [lon], "2024-01-01T00:00:00Z")[0]
    assert (out.served, out.rule, out.code) == (False, "list-off", "CELL_IS_DISABLED")
