"""Shared set-up of the console tests (imported by tests/test_service_*.py; not a test module).

A small world keeps every test fast: a policy over Moldova, Crimea and Ukraine with a timed
rule (so the map changes over time), a scenario of Moldova (res 5) and Crimea (res 4) with one
terminal over 30 minutes at 5-minute steps, and users of every role.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

TEST_POLICY = """
name = "default"
description = "console test policy"
default_action = "on"
default_reason = "rest of the world served"

[[rules]]
name = "crimea-off"
region = "Crimea"
action = "off"
reason = "not activated (test)"

[[rules]]
name = "moldova-curfew"
region = "Moldova"
action = "off"
start = "2026-02-23T00:10:00Z"
end = "2026-02-23T00:20:00Z"
reason = "a timed outage of service (test)"

[[moving_rules]]
name = "moving-ukraine"
region = "Ukraine"
max_speed_kmh = 100.0
reason = "moving terminals off (test)"
"""

SCENARIO = """
name = "console-test"
[time]
start = "2026-02-23T00:00:00Z"
duration = "30m"
step = "5m"
[constellation]
source = "starlink-gen1"
[ground]
edition = "deu"
[[ground.regions]]
name = "Moldova"
resolution = 5
[[ground.regions]]
name = "Crimea"
resolution = 4
[[ground.terminals]]
name = "Chisinau"
lat = 47.01
lon = 28.86
[network]
enabled = true
rtt_every = "5m"
[outputs]
maps = false
netcdf = false
"""

ROLE_USERS = {"viewer": "vera", "requester": "rita", "approver": "abe", "admin": "ada"}


@dataclass
class World:
    """A store file with the test policy and users; ``tokens`` by user name."""

    db: Path
    tokens: dict[str, str]
    scenario_file: Path

    def token(self, role: str) -> str:
        return self.tokens[ROLE_USERS[role]]

    def auth(self, who: str) -> dict[str, str]:
        """Authorization header for a role name or a user name."""
        tok = self.tokens.get(who) or self.token(who)
        return {"Authorization": f"Bearer {tok}"}


def make_world(tmp: Path) -> World:
    """Store with the test policy (v1), users of every role, a second approver ``abby``, a
    revoked requester ``rex`` (token kept) and a scenario file."""
    from skyfence.policy import catalogue_resolver, loads_policy
    from skyfence.policy.store import PolicyStore
    from skyfence.service.users import UserStore

    db = tmp / "console.sqlite"
    with PolicyStore(db, resolver=catalogue_resolver("deu")) as st:
        st.apply_file(loads_policy(TEST_POLICY, "toml", source="test policy"), by="seed")
    tokens: dict[str, str] = {}
    with UserStore(db) as us:
        for role, name in ROLE_USERS.items():
            tokens[name] = us.add_user(name, role, by="test")[1]
        tokens["abby"] = us.add_user("abby", "approver", by="test")[1]
        tokens["rex"] = us.add_user("rex", "requester", by="test")[1]
        us.revoke_user("rex", by="test")
    sc = tmp / "scenario.toml"
    sc.write_text(SCENARIO, encoding="utf-8")
    return World(db, tokens, sc)


def scenario() -> Any:
    import tomllib

    from skyfence.scenario import parse_scenario

    return parse_scenario(tomllib.loads(SCENARIO), "test scenario")


@functools.cache
def map_data() -> Any:
    """The console map of the test scenario, computed once per test process."""
    from skyfence.service.runs import compute_map

    return compute_map(scenario())


@contextmanager
def client(world: World, *, with_map: bool = False, **config: Any) -> Iterator[Any]:
    """A TestClient over the app (no rate limits unless given); ``with_map`` installs the
    precomputed map."""
    from fastapi.testclient import TestClient

    from skyfence.service.app import ServiceConfig, create_app

    kw: dict[str, Any] = {"rate_per_s": 0.0, "unauth_rate_per_s": 0.0, "map_enabled": False,
                          "scenario": scenario(), "usage_flush_s": 0.05}
    kw.update(config)
    app = create_app(ServiceConfig(db=world.db, **kw))
    with TestClient(app, raise_server_exceptions=False) as c:
        if with_map:
            app.state.svc.map.set_data(map_data())
        yield c


def store_state(db: Path) -> dict[str, Any]:
    """Row counts of the store's tables and of the users / jobs tables, and the audit head
    (read with a plain read-only connection: cheap enough to take around every call)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("policy_versions", "requests", "decisions", "audit", "svc_users",
                            "svc_tokens", "svc_jobs")}
        counts["revoked_users"] = conn.execute(
            "SELECT COUNT(*) FROM svc_users WHERE revoked_at IS NOT NULL").fetchone()[0]
        counts["revoked_tokens"] = conn.execute(
            "SELECT COUNT(*) FROM svc_tokens WHERE revoked_at IS NOT NULL").fetchone()[0]
        head = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return {"counts": counts, "head": head[0] if head else "0" * 64}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(world: World, *args: str, timeout_s: float = 60.0) -> Iterator[tuple[str, Any]]:
    """A real ``skyfence serve`` subprocess on a free loopback port; yields (base URL, proc)."""
    import httpx

    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c", "from skyfence.cli import main; main()", "serve",
           "--db", str(world.db), "--port", str(port), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"server exited with {proc.returncode}: {out}")
            try:
                if httpx.get(base + "/api/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
