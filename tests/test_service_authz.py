"""Authorization matrix: every API endpoint x every role x no token / bad tokens / a revoked
token. Refused calls (401 / 403) change nothing in the store: row counts (store tables, users,
tokens, jobs) and the audit head are the same before and after."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from _service_helpers import ROLE_USERS, World, client, make_world, store_state
from skyfence.service.users import ROLES

_counter = itertools.count()


def _unique() -> str:
    return f"u{next(_counter)}"


# (method, path, body factory, weakest role allowed); {rid} = a request filed in set-up.
# Bodies are valid so that an allowed call is judged by its role only; the what-if body names
# an unknown gateway (422 once authorized) so that no worker process starts here.
ENDPOINTS: list[tuple[str, str, Callable[[], Any] | None, str]] = [
    ("GET", "/api/me", None, "viewer"),
    ("GET", "/api/check?lat=47&lon=28.9", None, "viewer"),
    ("POST", "/api/check", lambda: {"points": [{"lat": 47, "lon": 28.9}]}, "viewer"),
    ("GET", "/api/policies", None, "viewer"),
    ("GET", "/api/policies/default", None, "viewer"),
    ("GET", "/api/policies/default/versions", None, "viewer"),
    ("GET", "/api/policies/default/versions/1", None, "viewer"),
    ("POST", "/api/policies", lambda: {"toml": _POLICY}, "admin"),
    ("POST", "/api/requests", lambda: {"region": "Crimea", "action": "on", "why": "w"},
     "requester"),
    ("GET", "/api/requests", None, "viewer"),
    ("GET", "/api/requests/{rid}", None, "viewer"),
    ("POST", "/api/requests/{rid}/decision", lambda: {"outcome": "deferred", "reason": "r"},
     "approver"),
    ("GET", "/api/audit", None, "viewer"),
    ("GET", "/api/audit/verify", None, "viewer"),
    ("GET", "/api/users", None, "admin"),
    ("POST", "/api/users", lambda: {"name": _unique(), "role": "viewer"}, "admin"),
    ("DELETE", "/api/users/nobody", None, "admin"),
    ("POST", "/api/whatif", lambda: {"kind": "outage", "down": ["Nowhere"]}, "requester"),
    ("GET", "/api/jobs", None, "viewer"),
    ("GET", "/api/jobs/0123abcd", None, "viewer"),
    ("GET", "/api/jobs/0123abcd/files/regions.csv", None, "viewer"),
    ("GET", "/api/map", None, "viewer"),
    ("GET", "/api/map/cells", None, "viewer"),
    ("GET", "/api/map/borders", None, "viewer"),
    ("GET", "/api/map/sites", None, "viewer"),
    ("GET", "/api/map/status?step=0", None, "viewer"),
    ("GET", "/api/map/satellites?step=0", None, "viewer"),
    ("GET", "/api/map/point?index=0&step=0", None, "viewer"),
    ("POST", "/api/map/whatif", lambda: {"region": "Crimea", "action": "on"}, "viewer"),
]
PUBLIC = {("GET", "/api/health"), ("GET", "/openapi.json"), ("GET", "/docs"),
          ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}

_POLICY: str = ""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    global _POLICY
    from _service_helpers import TEST_POLICY

    _POLICY = TEST_POLICY
    return make_world(Path(tmp_path_factory.mktemp("authz")))


def _route_set(app: Any) -> set[tuple[str, str]]:
    out = set()
    for r in app.routes:
        for m in getattr(r, "methods", None) or ():
            if m in ("HEAD", "OPTIONS"):
                continue
            out.add((m, r.path))
    return out


def _template(path: str) -> str:
    import re

    p = path.split("?")[0].replace("{rid}", "{request_id}")
    p = re.sub(r"/api/jobs/[0-9a-f]+/files/[^/]+$", "/api/jobs/{job_id}/files/{name}", p)
    p = re.sub(r"/api/jobs/[0-9a-f]+$", "/api/jobs/{job_id}", p)
    p = re.sub(r"/api/users/[^/]+$", "/api/users/{name}", p)
    p = p.replace("/api/policies/default/versions/1", "/api/policies/{name}/versions/{version}")
    p = p.replace("/api/policies/default/versions", "/api/policies/{name}/versions")
    return p.replace("/api/policies/default", "/api/policies/{name}")


def test_every_endpoint_is_in_the_matrix(world: World) -> None:
    with client(world) as c:
        routes = _route_set(c.app)
    api = {(m, p) for m, p in routes if p.startswith("/api/")}
    covered = {(m, _template(p)) for m, p, _, _ in ENDPOINTS} | PUBLIC
    assert api - covered == set(), "endpoints missing from the authorization matrix"


def _bad_tokens(world: World) -> dict[str, str | None]:
    good = world.token("admin")
    tid = good.split("_")[1]
    return {
        "no token": None,
        "empty bearer": "",
        "malformed": "hunter2",
        "unknown id": "sf1_0123456789ab_" + "A" * 43,
        "wrong secret": f"sf1_{tid}_" + ("B" * 43 if not good.endswith("B" * 43) else "C" * 43),
        "revoked": world.tokens["rex"],
        "basic scheme": "BASIC",
    }


def _call(c: Any, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = {}
    if token == "BASIC":
        headers["Authorization"] = "Basic YWRhOnB3"
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    kw: dict[str, Any] = {"headers": headers}
    if body is not None:
        kw["json"] = body() if callable(body) else body
    return c.request(method, path, **kw)


def test_authorization_matrix(world: World) -> None:
    with client(world, with_map=True) as c:
        r = c.post("/api/requests", json={"region": "Crimea", "action": "on", "why": "setup"},
                   headers=world.auth("requester"))
        rid = r.json()["id"]
        failures = []
        for method, path, body, need in ENDPOINTS:
            url = path.replace("{rid}", str(rid))
            # refused: missing / bad / revoked tokens, and every role below `need`
            refused: list[tuple[str, str | None, int]] = [
                (label, tok, 401) for label, tok in _bad_tokens(world).items()]
            refused += [(role, world.token(role), 403) for role in ROLES
                        if ROLES.index(role) < ROLES.index(need)]
            for label, tok, want in refused:
                before = store_state(world.db)
                resp = _call(c, method, url, body, tok)
                after = store_state(world.db)
                if resp.status_code != want or "error" not in resp.json():
                    failures.append(f"{method} {url} as {label}: {resp.status_code} "
                                    f"(want {want}) {resp.text[:120]}")
                if before != after:
                    failures.append(f"{method} {url} as {label}: store changed {before} -> "
                                    f"{after}")
                if want == 401 and "WWW-Authenticate" not in resp.headers:
                    failures.append(f"{method} {url} as {label}: no WWW-Authenticate")
            # allowed: every role from `need` up gets past authorization
            for role in ROLES[ROLES.index(need):]:
                resp = _call(c, method, url, body, world.token(role))
                if resp.status_code in (401, 403) or resp.status_code >= 500:
                    failures.append(f"{method} {url} as {role} ({ROLE_USERS[role]}): "
                                    f"{resp.status_code} {resp.text[:160]}")
        assert not failures, "\n".join(failures)
        assert c.get("/api/health").status_code == 200


def test_revocation_takes_effect_immediately(world: World) -> None:
    from skyfence.service.users import UserStore

    with UserStore(world.db) as us:
        _, tok = us.add_user("temp", "approver", by="test")
    with client(world) as c:
        h = {"Authorization": f"Bearer {tok}"}
        assert c.get("/api/me", headers=h).status_code == 200
        with UserStore(world.db) as us:  # revoked from outside (the CLI), no restart
            us.revoke_user("temp", by="test")
        r = c.get("/api/me", headers=h)
        assert r.status_code == 401 and "revoked" in r.json()["error"]
