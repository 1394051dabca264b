"""The HTTP API end to end (in process): answers, actors, four eyes, errors and limits, the map,
and what-if jobs run in a worker process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from _service_helpers import World, client, make_world, store_state
from skyfence.policy.store import PolicyStore
from skyfence.service.users import UserStore, token_id_of


@pytest.fixture()
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def test_health_docs_and_openapi(world: World) -> None:
    with client(world) as c:
        assert c.get("/api/health").json()["status"] == "ok"
        spec = c.get("/openapi.json").json()
        assert "/api/check" in spec["paths"] and "/api/requests/{request_id}/decision" in \
            spec["paths"]
        assert "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])
        assert c.get("/docs").status_code == 200


def test_check_single_and_batch_agree_with_the_policy(world: World) -> None:
    with client(world) as c:
        h = world.auth("viewer")
        crimea = c.get("/api/check", params={"lat": 44.95, "lon": 34.10,
                                             "at": "2026-02-23T00:00:00Z",
                                             "terminal_id": "dish-1"}, headers=h).json()
        assert (crimea["served"], crimea["rule"], crimea["code"]) == (
            False, "crimea-off", "BLOCKED_AREA")
        assert crimea["terminal_id"] == "dish-1" and crimea["version"] == 1
        assert crimea["cell"] == "852d2d6bfffffff"
        before = c.get("/api/check", params={"lat": 47.01, "lon": 28.86,
                                             "at": "2026-02-23T00:09:59Z"}, headers=h).json()
        during = c.get("/api/check", params={"lat": 47.01, "lon": 28.86,
                                             "at": "2026-02-23T00:10:00Z"}, headers=h).json()
        assert (before["served"], during["served"], during["rule"]) == (
            True, False, "moldova-curfew")
        fast = c.get("/api/check", params={"lat": 50.45, "lon": 30.52, "speed_kmh": 150},
                     headers=h).json()
        assert (fast["served"], fast["code"]) == (False, "MOVING_TOO_FAST_FOR_POLICY")
        pts = [{"lat": 44.95, "lon": 34.10}, {"lat": 47.01, "lon": 28.86, "terminal_id": "c"},
               {"lat": 50.45, "lon": 30.52, "speed_kmh": 150}]
        batch = c.post("/api/check", json={"points": pts, "at": "2026-02-23T00:10:00Z"},
                       headers=h).json()
        assert [r["rule"] for r in batch["results"]] == ["crimea-off", "moldova-curfew",
                                                          "moving-ukraine"]
        assert batch["results"][1]["terminal_id"] == "c" and batch["n"] == 3


def test_bad_input_is_a_json_error_never_a_500(world: World) -> None:
    with client(world, max_body_bytes=200_000) as c:
        h = world.auth("admin")
        cases = [
            ("get", "/api/check", {"params": {"lat": 91, "lon": 0}}, 422),
            ("get", "/api/check", {"params": {"lat": "nan", "lon": 0}}, 422),
            ("get", "/api/check", {"params": {"lat": 1, "lon": 0, "at": "yesterday"}}, 422),
            ("get", "/api/check", {"params": {"lat": 1, "lon": 0, "policy": "nope"}}, 404),
            ("get", "/api/check", {"params": {"lat": 1, "lon": 0, "terminal_id": "a\x00b"}},
             422),
            ("post", "/api/check", {"content": b"{not json", "headers": {
                "Content-Type": "application/json"}}, 400),
            ("post", "/api/check", {"content": b"[" * 50_000 + b"]" * 50_000, "headers": {
                "Content-Type": "application/json"}}, 400),
            ("post", "/api/check", {"json": {"points": [{"lat": 1, "lon": 2, "x": 1}]}}, 422),
            ("post", "/api/check", {"json": {"points": [{"lat": 1, "lon": 2}] * 10_001}}, 413),
            ("post", "/api/check", {"content": b"x" * 300_000}, 413),
            ("post", "/api/requests", {"json": {"region": "Atlantis", "action": "on",
                                                "why": "x"}}, 422),
            ("post", "/api/requests", {"json": {"region": "Crimea", "action": "maybe",
                                                "why": "x"}}, 422),
            ("post", "/api/requests", {"json": {"region": "Crimea", "action": "on",
                                                "why": "   "}}, 422),
            ("post", "/api/requests", {"json": {"region": "Crimea", "action": "on", "why": "x",
                                                "start": "2026-03-01T00:00:00Z",
                                                "end": "2026-02-01T00:00:00Z"}}, 422),
            ("post", "/api/requests", {"json": {"cells": ["zz"], "action": "on", "why": "x"}},
             422),
            ("post", "/api/requests", {"json": {"region": "Crimea", "action": "on", "why": "x",
                                                "policy": "no-such-policy"}}, 422),
            ("post", "/api/requests", {"json": {"region": "Crimea", "cells": ["85283473fffffff"],
                                                "action": "on", "why": "x"}}, 422),
            ("post", "/api/requests/99999/decision", {"json": {"outcome": "approved",
                                                               "reason": "x"}}, 404),
            ("post", f"/api/requests/{2**70}/decision", {"json": {"outcome": "approved",
                                                                  "reason": "x"}}, 422),
            ("get", "/api/requests/0", {}, 422),
            ("get", "/api/requests?limit=0", {}, 422),
            ("get", "/api/requests?status=lost", {}, 422),
            ("get", "/api/policies/nope/versions", {}, 404),
            ("get", "/api/policies/default/versions/7", {}, 404),
            ("post", "/api/policies", {"json": {"toml": "name = [", "comment": ""}}, 422),
            ("post", "/api/policies", {"json": {"policy": {"name": "x", "rules": [
                {"name": "a", "region": "Atlantis", "action": "off"}]}}}, 422),
            ("post", "/api/policies", {"json": {}}, 422),
            ("post", "/api/whatif", {"json": {"kind": "teleport"}}, 422),
            ("post", "/api/whatif", {"json": {"kind": "outage", "down": ["Nowhere"]}}, 422),
            ("post", "/api/whatif", {"json": {"kind": "change", "region": "Atlantis",
                                              "action": "on"}}, 422),
            ("post", "/api/whatif", {"json": {"kind": "change", "region": "Crimea",
                                              "action": "on", "window": {"step": "0s"}}}, 422),
            ("get", "/api/jobs/ffff", {}, 404),
            ("get", "/api/jobs/ffff/files/regions.csv", {}, 404),
            ("get", "/api/map/status", {}, 409),
            ("delete", "/api/users/nobody", {}, 404),
            ("post", "/api/users", {"json": {"name": "a b", "role": "viewer"}}, 422),
            ("get", "/api/nothing-here", {}, 404),
        ]
        for method, path, kw, status in cases:
            kw = dict(kw)
            kw["headers"] = {**h, **kw.get("headers", {})}
            r = getattr(c, method)(path, **kw)
            assert r.status_code == status, (method, path, r.status_code, r.text[:300])
            body = r.json()
            assert isinstance(body["error"], str) and body["error"], body
            assert "\n" not in body["error"]
            assert str(world.db) not in r.text, "no server paths in errors"


def test_actor_is_the_token_user_and_four_eyes(world: World) -> None:
    with client(world) as c:
        r = c.post("/api/requests", json={"region": "Crimea", "action": "on",
                                          "why": "emergency", "by": "Elon Musk (SpaceX)"},
                   headers=world.auth("requester"))
        assert r.status_code == 422, "no free-text actor field"
        r = c.post("/api/requests", json={"region": "Crimea", "action": "on",
                                          "why": "emergency"}, headers=world.auth("approver"))
        assert r.status_code == 201
        rid = r.json()["id"]
        assert r.json()["requested_by"] == "abe"
        before = store_state(world.db)
        own = c.post(f"/api/requests/{rid}/decision", json={"outcome": "approved",
                                                            "reason": "mine"},
                     headers=world.auth("approver"))
        assert own.status_code == 403 and "four eyes" in own.json()["error"]
        assert store_state(world.db) == before, "a refused decision changes nothing"
        ok = c.post(f"/api/requests/{rid}/decision", json={"outcome": "approved",
                                                           "reason": "agreed"},
                    headers=world.auth("abby"))
        assert ok.status_code == 200
        d = ok.json()
        assert d["decided_by"] == "abby" and d["policy_version"] == {"name": "default",
                                                                    "version": 2}
        again = c.post(f"/api/requests/{rid}/decision", json={"outcome": "refused",
                                                              "reason": "late"},
                       headers=world.auth("admin"))
        assert again.status_code == 409
    with PolicyStore(world.db, create=False) as st:
        audit = st.audit_entries()
        assert {a["actor"] for a in audit[-3:]} == {"abe", "abby"}
        v2 = st.get_version(2)
        assert v2.created_by == "abby" and st.verify().ok
        assert st.request(rid).decisions[0].decided_by == "abby"


def test_request_over_cells_and_policy_versions(world: World) -> None:
    with client(world) as c:
        h = world.auth("requester")
        r = c.post("/api/requests", json={"cells": ["85283473fffffff", "85283477fffffff"],
                                          "action": "off", "why": "a test zone",
                                          "start": "2026-03-01T00:00:00Z"}, headers=h)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["region"].startswith("cells-") and body["window_start"].startswith("2026-03")
        versions = c.get("/api/policies/default/versions", headers=h).json()["versions"]
        assert [v["created_by"] for v in versions] == ["seed", "rita"]
        assert "no rule" in versions[-1]["comment"]
        d = c.post(f"/api/requests/{body['id']}/decision",
                   json={"outcome": "approved", "reason": "ok"}, headers=world.auth("approver"))
        assert d.status_code == 200
        check = c.get("/api/check", params={"lat": 37.3458, "lon": -121.9764,
                                            "at": "2026-03-02T00:00:00Z"}, headers=h).json()
        assert (check["served"], check["rule"], check["code"], check["version"]) == (
            False, f"request-{body['id']}", "CELL_IS_DISABLED", 3)
        before = c.get("/api/check", params={"lat": 37.3458, "lon": -121.9764,
                                             "at": "2026-02-28T00:00:00Z"}, headers=h).json()
        assert before["served"] is True
        latest = c.get("/api/policies/default", headers=h).json()
        assert latest["version"] == 3 and latest["policy"]["rules"][-1]["region"] == \
            body["region"]
        listing = c.get("/api/policies", headers=h).json()["policies"]
        assert listing == [{"name": "default", "latest": 3, "versions": 3}]


def test_admin_stores_policies_and_users(world: World) -> None:
    with client(world) as c:
        h = world.auth("admin")
        text = (Path(world.db).parent / "p.toml")
        text.write_text('name = "trial"\ndefault_action = "off"\n[[rules]]\nname = "md"\n'
                        'region = "Moldova"\naction = "on"\n', encoding="utf-8")
        r = c.post("/api/policies", json={"toml": text.read_text(), "comment": "trial"},
                   headers=h)
        assert r.status_code == 201 and r.json()["version"] == 1
        same = c.post("/api/policies", json={"toml": text.read_text()}, headers=h)
        assert same.status_code == 200 and same.json()["created"] is False
        hist = c.post("/api/policies", json={"toml": text.read_text() + (
            '[[requests]]\nkey = "k"\nby = "someone"\nregion = "Moldova"\naction = "on"\n'
            'why = "x"\nat = "2026-01-01T00:00:00Z"\n')}, headers=h)
        assert hist.status_code == 422 and "history" in hist.json()["error"]
        u = c.post("/api/users", json={"name": "nina", "role": "viewer"}, headers=h)
        assert u.status_code == 201
        tok = u.json()["token"]
        assert c.get("/api/me", headers={"Authorization": f"Bearer {tok}"}).json()["name"] == \
            "nina"
        dup = c.post("/api/users", json={"name": "nina", "role": "admin"}, headers=h)
        assert dup.status_code == 409
        assert c.delete("/api/users/nina", headers=h).status_code == 200
        assert c.get("/api/me", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
        users = c.get("/api/users", headers=h).json()["users"]
        assert {x["name"]: x["active"] for x in users}["nina"] is False
        assert all("token_sha256" not in t for x in users for t in x["tokens"])
    with PolicyStore(world.db, create=False) as st:
        assert st.get_version(1, "trial").created_by == "ada"


def test_audit_pages_and_verify(world: World) -> None:
    with client(world) as c:
        h = world.auth("viewer")
        for i in range(3):
            c.post("/api/requests", json={"region": "Crimea", "action": "on", "why": f"r{i}"},
                   headers=world.auth("requester"))
        page = c.get("/api/audit?limit=2&offset=1", headers=h).json()
        assert page["total"] == 4 and [e["seq"] for e in page["items"]] == [2, 3]
        assert page["items"][0]["content"]["requested_by"] == "rita"
        desc = c.get("/api/audit?limit=1&order=desc", headers=h).json()
        assert desc["items"][0]["hash"] == desc["head"]
        reqs = c.get("/api/requests?limit=2", headers=h).json()
        assert reqs["total"] == 3 and [r["why"] for r in reqs["items"]] == ["r2", "r1"]
        assert c.get("/api/requests?status=pending", headers=h).json()["total"] == 3
        v = c.get("/api/audit/verify", headers=h).json()
        assert v["ok"] is True and v["entries"] == 4 and v["findings"] == []
    conn = __import__("sqlite3").connect(world.db)
    conn.execute("DROP TRIGGER requests_no_update")
    conn.execute("UPDATE requests SET why = 'edited' WHERE id = 1")
    conn.commit()
    conn.close()
    with client(world) as c:
        v = c.get("/api/audit/verify", headers=world.auth("viewer")).json()
        assert v["ok"] is False and any("requests#1" in f for f in v["findings"])


def test_rate_limit_and_usage_log(world: World) -> None:
    with client(world, rate_per_s=0.5, burst=3, unauth_rate_per_s=0.5, unauth_burst=2) as c:
        h = world.auth("viewer")
        codes = [c.get("/api/me", headers=h).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.get("/api/me", headers=h)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert c.get("/api/me", headers=world.auth("admin")).status_code == 200, \
            "limits are per token"
        bad = [c.get("/api/me", headers={"Authorization": "Bearer junk"}).status_code
               for _ in range(4)]
        assert bad[:2] == [401, 401] and 429 in bad[2:]
        assert c.get("/api/health").status_code == 200
    with UserStore(world.db) as us:
        uses = us.uses(token_id_of(world.token("viewer")))
    assert [u.status for u in reversed(uses)] == [200, 200, 200, 429, 429, 429]
    assert all(u.user_name == "vera" and u.target == "/api/me" for u in uses)


def test_map_endpoints(world: World) -> None:
    with client(world, with_map=True) as c:
        h = world.auth("viewer")
        info = c.get("/api/map", headers=h).json()
        assert info["state"] == "ready" and len(info["steps"]) == 7
        n = info["n_points"]
        cells = c.get("/api/map/cells", headers=h).json()
        assert len(cells["features"]) == n and cells["features"][-1]["properties"]["kind"] == \
            "terminal"
        s0 = c.get("/api/map/status?step=0", headers=h).json()
        s2 = c.get("/api/map/status?step=2", headers=h).json()
        assert len(s0["status"]) == n
        moldova = [f["id"] for f in cells["features"] if f["properties"].get("region") ==
                   "Moldova"]
        assert all(s0["status"][i] == 2 for i in moldova)
        assert all(s2["status"][i] == 1 for i in moldova), "the curfew blocks Moldova at 00:10"
        crimea = next(f["id"] for f in cells["features"] if f["properties"].get("region") ==
                      "Crimea")
        d = c.get(f"/api/map/point?index={crimea}&step=0", headers=h).json()
        assert (d["status"], d["rule"], d["region"]) == ("blocked", "crimea-off", "Crimea")
        assert d["satellites"] and d["n_visible"] >= len(d["satellites"])
        assert d["satellites"][0]["elevation_deg"] == d["best_elevation_deg"]
        assert d["path"]["applies"] is False and d["rtt_ms"] is None
        t = c.get(f"/api/map/point?index={n - 1}&step=0", headers=h).json()
        assert t["kind"] == "terminal" and t["name"] == "Chisinau" and 2 < t["rtt_ms"] < 100
        assert t["path"]["gateway"] and t["path"]["pop"]
        sats = c.get("/api/map/satellites?step=1", headers=h).json()
        assert len(sats["lat_deg"]) == 4408 and 530 < min(sats["alt_km"]) < max(
            sats["alt_km"]) < 600
        wi = c.post("/api/map/whatif", json={"region": "Crimea", "action": "on"},
                    headers=h).json()
        assert len(wi["steps"]) == 7 and sorted(wi["steps"][0]["gain"]) == sorted(
            f["id"] for f in cells["features"] if f["properties"].get("region") == "Crimea")
        assert wi["loss_point_steps"] == 0
        off = c.post("/api/map/whatif", json={"region": "Moldova", "action": "off"},
                     headers=h).json()
        assert set(off["steps"][0]["loss"]) == set(moldova) | {n - 1}  # with Chisinau
        assert off["steps"][2]["loss"] == [], "already blocked by the curfew at 00:10"
        borders = c.get("/api/map/borders", headers=h).json()
        assert borders["edition"] == "deu" and len(borders["features"]) > 200
        assert c.get("/api/map/status?step=7", headers=h).status_code == 422
        sites = c.get("/api/map/sites", headers=h).json()
        assert {f["properties"]["kind"] for f in sites["features"]} == {"gateway", "pop"}


def test_whatif_jobs_run_in_a_worker_process(world: World) -> None:
    with client(world, workers=1) as c:
        h = world.auth("requester")
        change = c.post("/api/whatif", json={"kind": "change", "region": "Crimea",
                                             "action": "on"}, headers=h)
        assert change.status_code == 202, change.text
        outage = c.post("/api/whatif", json={"kind": "outage", "down": ["Sofia"],
                                             "window": {"duration": "10m"}}, headers=h)
        assert outage.status_code == 202, outage.text
        t0 = time.monotonic()
        assert c.get("/api/health").status_code == 200 and time.monotonic() - t0 < 1.0
        jobs = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(jobs) < 2:
            for jid in (change.json()["id"], outage.json()["id"]):
                j = c.get(f"/api/jobs/{jid}", headers=world.auth("viewer")).json()
                if j["state"] in ("done", "failed"):
                    jobs[jid] = j
            time.sleep(0.2)
        ch, ou = jobs[change.json()["id"]], jobs[outage.json()["id"]]
        assert ch["state"] == "done", ch["error"]
        regions = {r["region"]: r for r in ch["summary"]["regions"]}
        assert regions["Crimea"]["served_share_a"] == 0.0
        assert regions["Crimea"]["served_share_b"] == 1.0
        assert regions["Moldova"]["served_km2_change"] == 0.0
        geo = c.get(ch["links"]["diff.geojson"], headers=h).json()
        assert {f["properties"]["change"] for f in geo["features"]} == {"gain"}
        assert {f["properties"]["region"] for f in geo["features"]} == {"Crimea"}
        csv = c.get(ch["links"]["regions.csv"], headers=h).text
        assert csv.splitlines()[0].startswith("region,n_cells,area_km2")
        assert ou["state"] == "done", ou["error"]
        assert {r["region"] for r in ou["summary"]["regions"]} == {"Moldova", "Crimea"}
        assert ou["submitted_by"] == "rita"
        listing = c.get("/api/jobs", headers=h).json()
        assert listing["total"] == 2
        assert c.get(f"/api/jobs/{ch['id']}/files/secret.txt", headers=h).status_code == 404
