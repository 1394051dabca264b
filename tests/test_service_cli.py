"""``skyfence users`` and the CLI's identification: tokens resolve to users of the same store
as the API; open stores (no users yet) keep ``--by`` for existing scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from _service_helpers import TEST_POLICY
from skyfence.cli import app
from skyfence.policy.store import PolicyStore
from skyfence.service.users import UserStore, token_id_of

runner = CliRunner()


def _run(args: list[str], env: dict[str, str] | None = None):
    return runner.invoke(app, args, catch_exceptions=False, env=env or {})


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    p = tmp_path / "s.sqlite"
    pol = tmp_path / "p.toml"
    pol.write_text(TEST_POLICY, encoding="utf-8")
    res = _run(["policy", "apply", str(pol), "--db", str(p), "--by", "seed"])
    assert res.exit_code == 0, res.output
    return p


def _add(db: Path, name: str, role: str) -> str:
    res = _run(["users", "add", name, "--role", role, "--db", str(db)])
    assert res.exit_code == 0, res.output
    token = res.stdout.strip().splitlines()[-1]
    assert token.startswith("sf1_") and " " not in token, "the token alone on the last line"
    return token


def test_users_add_list_revoke(db: Path) -> None:
    tok = _add(db, "ana", "approver")
    with UserStore(db) as us:
        assert us.authenticate(tok)[0].name == "ana"
    listing = _run(["users", "list", "--db", str(db), "--format", "json"])
    assert listing.exit_code == 0
    assert tok not in listing.stdout and token_id_of(tok) in listing.stdout
    bad = _run(["users", "add", "ana", "--role", "viewer", "--db", str(db)])
    assert bad.exit_code == 2 and "never reused" in bad.output
    bad = _run(["users", "add", "bo b", "--role", "viewer", "--db", str(db)])
    assert bad.exit_code == 2 and "invalid user name" in bad.output
    bad = _run(["users", "add", "bob", "--role", "root", "--db", str(db)])
    assert bad.exit_code == 2 and "unknown role" in bad.output
    rev = _run(["users", "revoke", "ana", "--db", str(db)])
    assert rev.exit_code == 0
    with UserStore(db) as us:
        ev = us.events()
    assert [(e["action"], e["user_name"]) for e in ev] == [("add", "ana"), ("revoke", "ana")]
    assert ev[0]["actor"].startswith("local:")


def test_open_store_keeps_by_then_tokens_are_required(db: Path) -> None:
    # no users yet: existing scripts work unchanged
    res = _run(["request", "file", "--by", "kyiv", "--region", "Crimea", "--action", "on",
                "--why", "open store", "--db", str(db)])
    assert res.exit_code == 0, res.output
    res = _run(["request", "decide", "1", "--by", "kyiv", "--outcome", "refused",
                "--why", "mine", "--db", str(db)])
    assert res.exit_code == 2 and "four eyes" in res.output, "four eyes by name, open store"
    res = _run(["request", "decide", "1", "--by", "berlin", "--outcome", "deferred",
                "--why", "later", "--db", str(db)])
    assert res.exit_code == 0, res.output
    rita = _add(db, "rita", "requester")
    abe = _add(db, "abe", "approver")
    admin = _add(db, "ada", "admin")
    # from now on --by alone is refused, and nothing is written
    with PolicyStore(db, create=False) as st:
        before = (st.counts(), st.head())
    res = _run(["request", "file", "--by", "kyiv", "--region", "Crimea", "--action", "on",
                "--why", "x", "--db", str(db)])
    assert res.exit_code == 2 and "SKYFENCE_TOKEN" in res.output
    res = _run(["request", "file", "--region", "Crimea", "--action", "on", "--why", "x",
                "--db", str(db)], env={"SKYFENCE_TOKEN": abe[:-2] + "xx"})
    assert res.exit_code == 2
    res = _run(["request", "decide", "1", "--outcome", "approved", "--why", "x",
                "--db", str(db)], env={"SKYFENCE_TOKEN": rita})
    assert res.exit_code == 2 and "needs approver" in res.output
    with PolicyStore(db, create=False) as st:
        assert (st.counts(), st.head()) == before
    # with tokens: the actor is the token's user
    res = _run(["request", "file", "--region", "Crimea", "--action", "on", "--why", "t",
                "--db", str(db)], env={"SKYFENCE_TOKEN": rita})
    assert res.exit_code == 0 and "rita asks" in res.output
    res = _run(["request", "decide", "2", "--outcome", "approved", "--why", "ok",
                "--db", str(db), "--token", abe])
    assert res.exit_code == 0 and "approved by abe" in res.output
    res = _run(["request", "decide", "1", "--by", "mallory", "--outcome", "approved",
                "--why", "ok", "--db", str(db), "--token", abe])
    assert res.exit_code == 2 and "differs" in res.output
    res = _run(["policy", "apply", str(db.parent / "p.toml"), "--db", str(db)],
               env={"SKYFENCE_TOKEN": abe})
    assert res.exit_code == 2 and "needs admin" in res.output
    res = _run(["policy", "apply", str(db.parent / "p.toml"), "--db", str(db),
                "--comment", "back to v1"], env={"SKYFENCE_TOKEN": admin})
    assert res.exit_code == 0, res.output
    with PolicyStore(db, create=False) as st:
        reqs = st.requests()
        assert reqs[1].requested_by == "rita" and reqs[1].decisions[0].decided_by == "abe"
        assert st.versions()[-1].created_by == "ada" and st.verify().ok
    log = _run(["users", "log", "--db", str(db)])
    assert "request decide 2" in log.stdout and token_id_of(abe) in log.stdout


def test_serve_refuses_bad_options(db: Path) -> None:
    res = _run(["serve", "--db", str(db), "--scenario", str(db.parent / "missing.toml")])
    assert res.exit_code == 2 and "scenario" in res.output
    res = _run(["serve", "--db", str(db), "--duration", "-5m"])
    assert res.exit_code == 2
    junk = db.parent / "junk.db"
    junk.write_bytes(b"not a database")
    res = _run(["serve", "--db", str(junk), "--no-map"])
    assert res.exit_code == 2 and "not a usable SQLite store" in res.output
    assert junk.read_bytes() == b"not a database"
