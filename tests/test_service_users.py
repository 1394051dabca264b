"""Users, roles and tokens: hashed storage, authentication, revocation, the usage log, and the
CLI's identification (the same store, the same rules as the API)."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from pathlib import Path

import pytest

from skyfence.errors import AccessError, InputError, StoreError
from skyfence.policy.store import PolicyStore
from skyfence.service.users import (
    ROLES,
    SVC_TABLES,
    UserStore,
    identify,
    identify_cli,
    role_at_least,
    token_id_of,
)


def test_tokens_are_stored_hashed_never_in_clear(tmp_path: Path) -> None:
    db = tmp_path / "u.sqlite"
    with UserStore(db) as us:
        _, token = us.add_user("ana", "viewer", by="t")
        us.issue_token("ana", by="t")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    secret = token.rsplit("_", 1)[1]
    assert secret.encode() not in raw and token.encode() not in raw
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT token_sha256 FROM svc_tokens WHERE id = ?",
                          (token_id_of(token),)).fetchone()[0]
    conn.close()
    assert stored == hashlib.sha256(token.encode()).hexdigest()


def test_authenticate_good_bad_malformed_revoked(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest",
                        lambda a, b: calls.append((a, b)) or real(a, b))
    with UserStore(tmp_path / "u.sqlite") as us:
        _user, token = us.add_user("ana", "approver", by="t")
        got, tid = us.authenticate(token)
        assert (got.name, got.role, tid) == ("ana", "approver", token_id_of(token))
        assert calls, "the stored hash is compared with hmac.compare_digest"
        wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for bad in ("", "nope", token + "x", wrong_secret, "sf1_000000000000_" + "A" * 43):
            with pytest.raises(AccessError):
                us.authenticate(bad)
        second = us.issue_token("ana", by="t")
        us.revoke_token(token_id_of(token) or "", by="t")
        with pytest.raises(AccessError, match="revoked"):
            us.authenticate(token)
        assert us.authenticate(second)[0].name == "ana"
        us.revoke_user("ana", by="t")
        with pytest.raises(AccessError, match="revoked"):
            us.authenticate(second)
        with pytest.raises(AccessError):
            us.issue_token("ana", by="t")


def test_names_roles_and_reuse(tmp_path: Path) -> None:
    with UserStore(tmp_path / "u.sqlite") as us:
        for bad in ("", " ana", "a b", "x\n", "é" * 3, "a" * 65, "-lead"):
            with pytest.raises(InputError):
                us.add_user(bad, "viewer", by="t")
        with pytest.raises(InputError, match="unknown role"):
            us.add_user("ana", "root", by="t")
        us.add_user("ana", "viewer", by="t")
        with pytest.raises(StoreError, match="never reused"):
            us.add_user("ana", "admin", by="t")
        us.revoke_user("ana", by="t")
        with pytest.raises(StoreError, match="never reused"):
            us.add_user("ana", "viewer", by="t")
        with pytest.raises(StoreError, match="already revoked"):
            us.revoke_user("ana", by="t")
        with pytest.raises(StoreError, match="no user"):
            us.revoke_user("bob", by="t")
        assert [e["action"] for e in us.events()] == ["add", "revoke"]


def test_role_order() -> None:
    assert ROLES == ("viewer", "requester", "approver", "admin")
    assert role_at_least("admin", "viewer") and role_at_least("approver", "requester")
    assert not role_at_least("requester", "approver") and not role_at_least("viewer", "admin")


def test_tables_are_guarded_and_separate_from_the_store(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with PolicyStore(db):
        pass
    with UserStore(db) as us:
        us.add_user("ana", "viewer", by="t")
    with PolicyStore(db, create=False) as st:  # the store's own schema check still passes
        assert st.verify().ok
    conn = sqlite3.connect(db)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(SVC_TABLES) <= names
    assert all(n.startswith("svc_") for n in names - {"meta", "policy_versions", "requests",
                                                      "decisions", "audit", "sqlite_sequence"})
    for sql in ("DELETE FROM svc_users", "UPDATE svc_users SET role = 'admin'",
                "DELETE FROM svc_tokens", "UPDATE svc_tokens SET token_sha256 = 'x'",
                "DELETE FROM svc_user_events", "UPDATE svc_user_events SET actor = 'x'"):
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute(sql)
    conn.close()


def test_usage_log_attributes_every_cli_use(tmp_path: Path) -> None:
    with UserStore(tmp_path / "u.sqlite") as us:
        _, tok = us.add_user("ana", "requester", by="t")
        actor = identify(us, token=tok, by=None, need="requester", client="cli",
                         action="request file")
        assert (actor.name, actor.role, actor.token_id) == ("ana", "requester", token_id_of(tok))
        with pytest.raises(AccessError, match="needs approver"):
            identify(us, token=tok, by=None, need="approver", client="cli", action="decide")
        with pytest.raises(AccessError, match="differs"):
            identify(us, token=tok, by="bob", need="viewer", client="cli", action="x")
        with pytest.raises(AccessError):
            identify(us, token=tok + "x", by=None, need="viewer", client="cli", action="y")
        with pytest.raises(AccessError, match="registered users"):
            identify(us, token=None, by="ana", need="viewer", client="cli", action="z")
        uses = us.uses()
    assert [(u.user_name, u.target, u.status) for u in reversed(uses)] == [
        ("ana", "request file", 200), ("ana", "decide", 403), ("ana", "x", 403),
        (None, "y", 401)]


def test_identify_cli_open_store_keeps_by_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with PolicyStore(db):
        pass
    before = db.read_bytes()
    assert identify_cli(db, token=None, by="kyiv", need="approver", action="x").name == "kyiv"
    assert db.read_bytes() == before
    with pytest.raises(AccessError, match="no registered users"):
        identify_cli(db, token="sf1_000000000000_" + "A" * 43, by=None, need="viewer",
                     action="x")
    assert identify_cli(tmp_path / "missing.sqlite", token=None, by="a", need="viewer",
                        action="x").name == "a"
