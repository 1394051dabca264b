"""Tamper suite for the policy store: each attack is caught by ``verify`` without
``expected_head``, and ``verify`` itself never changes a byte.

Attacks are made with a raw ``sqlite3`` connection (and file copies), as someone with write
access to the database file would. The anchor file beside the database is what catches the
attacks a self-consistent chain cannot: truncation, rollback, re-hashing, appended entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skyfence.cli import app
from skyfence.errors import StoreError
from skyfence.policy.io import canonical_json
from skyfence.policy.rules import MappingResolver, PolicyDoc
from skyfence.policy.store import (
    ANCHOR_SUFFIX,
    GENESIS_HASH,
    PolicyStore,
    verify_store,
)

RESOLVER = MappingResolver({"Crimea": [599513355757027327], "Ukraine": [599513355757027327,
                                                                        599514567937327103]})
DOC = PolicyDoc.model_validate({"rules": [{"name": "ua-on", "region": "Ukraine",
                                           "action": "on"}]})
runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


def _store(path: Path, **kw) -> PolicyStore:
    return PolicyStore(path, clock=Clock(), resolver=RESOLVER, **kw)


def _populate(path: Path, n: int = 3) -> None:
    with _store(path) as s:
        s.apply_policy(DOC, by="lead")
        for i in range(n):
            r = s.file_request(by=f"asker{i}", region="Crimea", action="on", why=f"w{i}",
                               at="2022-09-01")
            s.decide(r.id, by="approver", outcome="refused", reason="no", at="2022-09-02")


def _digest(path: Path) -> dict[str, str]:
    """sha256 of the database and the anchor (what verify must not change)."""
    out = {}
    for p in (path, Path(str(path) + ANCHOR_SUFFIX)):
        if p.exists():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _raw(path: Path) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None)
    for t in ("audit", "policy_versions", "requests", "decisions"):
        for op in ("update", "delete"):
            c.execute(f"DROP TRIGGER IF EXISTS {t}_no_{op}")
    return c


def _restore_triggers(path: Path) -> None:
    """Put the append-only triggers back exactly (so only the attack itself remains)."""
    from skyfence.policy.store import _triggers_sql

    c = sqlite3.connect(path, isolation_level=None)
    for stmt in _triggers_sql():
        c.execute(stmt)
    c.close()


def _rehash(c: sqlite3.Connection) -> None:
    """Recompute every audit entry from the (edited) data rows: a self-consistent chain."""
    prev = GENESIS_HASH
    for r in c.execute("SELECT seq, at, actor, action, table_name, row_id FROM audit "
                       "ORDER BY seq").fetchall():
        seq, at, actor, action, table, row_id = r
        cur = c.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        cols = [d[0] for d in cur.description]
        row = dict(zip(cols, cur.fetchone(), strict=True))
        entry = {"seq": seq, "at": at, "actor": actor, "action": action, "table": table,
                 "row_id": row_id, "content": row}
        h = hashlib.sha256((prev + canonical_json(entry)).encode()).hexdigest()
        c.execute("UPDATE audit SET content = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                  (canonical_json(row), prev, h, seq))
        prev = h


def _verify(path: Path):
    before = _digest(path)
    report = verify_store(path)
    assert _digest(path) == before, "verify changed the store or its anchor"
    return report


def _problems(report) -> str:
    return " | ".join(str(f) for f in report.findings)


# ------------------------------------------------------------------------------------------


def test_clean_store_verifies_and_anchor_matches(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db)
    report = _verify(db)
    assert report.ok, _problems(report)
    anchor = json.loads(Path(str(db) + ANCHOR_SUFFIX).read_text())
    assert anchor["format"] == "skyfence-audit-anchor" and anchor["pending"] is None
    assert (anchor["seq"], anchor["head"]) == (report.entries, report.head)
    assert report.anchor == str(db) + ANCHOR_SUFFIX


def _attack_edit(db: Path) -> None:
    c = _raw(db)
    c.execute("UPDATE requests SET why = 'forged' WHERE id = 2")
    c.close()


def _attack_delete(db: Path) -> None:
    c = _raw(db)
    c.execute("DELETE FROM decisions WHERE id = 1")
    c.close()


def _attack_reorder(db: Path) -> None:
    c = _raw(db)
    c.execute("UPDATE audit SET seq = -2 WHERE seq = 2")
    c.execute("UPDATE audit SET seq = 2 WHERE seq = 3")
    c.execute("UPDATE audit SET seq = 3 WHERE seq = -2")
    c.close()


def _attack_insert(db: Path) -> None:
    # a forged request with a correctly chained audit entry appended at the tail
    c = _raw(db)
    c.execute("INSERT INTO requests (requested_by, region, action, requested_at, why, "
              "policy_name, recorded_at) VALUES ('mallory', 'Crimea', 'on', "
              "'2022-09-03T00:00:00Z', 'forged', 'default', '2024-01-01T01:00:00Z')")
    _rehash_append(c)
    c.close()


def _rehash_append(c: sqlite3.Connection) -> None:
    rid = c.execute("SELECT MAX(id) FROM requests").fetchone()[0]
    seq, prev = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    cur = c.execute("SELECT * FROM requests WHERE id = ?", (rid,))
    row = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    entry = {"seq": seq + 1, "at": "2024-01-01T01:00:00Z", "actor": "mallory",
             "action": "insert", "table": "requests", "row_id": rid, "content": row}
    h = hashlib.sha256((prev + canonical_json(entry)).encode()).hexdigest()
    c.execute("INSERT INTO audit VALUES (?, ?, 'mallory', 'insert', 'requests', ?, ?, ?, ?)",
              (seq + 1, entry["at"], rid, canonical_json(row), prev, h))


def _attack_truncate(db: Path) -> None:
    # the newest decision and its audit entry removed: the shorter chain is self-consistent
    c = _raw(db)
    seq, table, rid = c.execute("SELECT seq, table_name, row_id FROM audit ORDER BY seq DESC "
                                "LIMIT 1").fetchone()
    c.execute(f"DELETE FROM {table} WHERE id = ?", (rid,))
    c.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    c.close()


def _attack_rehash_after_edit(db: Path) -> None:
    c = _raw(db)
    c.execute("UPDATE decisions SET outcome = 'approved', reason = 'yes' WHERE id = 1")
    _rehash(c)
    c.close()


@pytest.mark.parametrize(("attack", "expected"), [
    (_attack_edit, "requests#2: row differs from audit entry"),
    (_attack_delete, "decisions#1: row missing"),
    (_attack_reorder, "chain broken"),
    (_attack_insert, "come after the anchored head"),
    (_attack_truncate, "tail truncated"),
    (_attack_rehash_after_edit, "chain was rewritten"),
], ids=["edit", "delete", "reorder", "insert", "truncate", "rehash-after-edit"])
def test_tampering_fails_verify_without_expected_head(tmp_path, attack, expected):
    db = tmp_path / "p.sqlite"
    _populate(db)
    attack(db)
    _restore_triggers(db)  # the triggers look intact: only the data betrays the attack
    report = _verify(db)
    assert not report.ok
    assert expected in _problems(report), _problems(report)
    # and a writer refuses to build on (and so bless) the tampered store
    if expected in ("come after the anchored head", "tail truncated", "chain was rewritten"):
        with _store(db) as s, pytest.raises(StoreError, match="does not match its audit "
                                                                "anchor"):
            s.file_request(by="x", region="Crimea", action="on", why="w", at="2022-09-05")
        assert _verify(db).findings == report.findings


def test_rollback_to_an_older_copy_is_caught(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    old = tmp_path / "old.sqlite"
    with _store(db) as s:  # a consistent copy (the WAL checkpointed into the file)
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(db, old)
    with _store(db) as s:
        r = s.file_request(by="late", region="Crimea", action="off", why="w", at="2022-09-03")
        s.decide(r.id, by="approver", outcome="approved", reason="ok", at="2022-09-04")
    assert _verify(db).ok
    # swap the older copy back in (with its WAL gone, as a restored backup)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(old, db)
    report = _verify(db)
    assert not report.ok and "rollback" in _problems(report), _problems(report)


def test_swapped_store_from_elsewhere_is_caught(tmp_path):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _populate(a, n=2)
    _populate(b, n=2)
    for suffix in ("-wal", "-shm"):
        Path(str(b) + suffix).unlink(missing_ok=True)
    with _store(a) as s:
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(a, b)  # b's anchor, a's database
    report = _verify(b)
    assert not report.ok and "another store" in _problems(report)


def test_missing_anchor_fails_verify_and_blocks_writes_until_reanchored(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    Path(str(db) + ANCHOR_SUFFIX).unlink()
    report = _verify(db)
    assert not report.ok and "anchor file" in _problems(report) and "missing" in \
        _problems(report)
    with _store(db) as s:
        with pytest.raises(StoreError, match=r"anchor .* is missing"):
            s.file_request(by="x", region="Crimea", action="on", why="w", at="2022-09-05")
        head = s.reanchor()
    report = _verify(db)
    assert report.ok and report.head == head


def test_signed_anchor(tmp_path, monkeypatch):
    db = tmp_path / "p.sqlite"
    key = "k" * 32
    with _store(db, anchor_key=key) as s:
        s.apply_policy(DOC, by="lead")
    anchor_path = Path(str(db) + ANCHOR_SUFFIX)
    assert "mac" in json.loads(anchor_path.read_text())
    assert verify_store(db, anchor_key=key).ok
    # without the key: a note, not a failure; with another key: a failure
    unsigned = verify_store(db)
    assert unsigned.ok and any("not checked" in n for n in unsigned.notes)
    assert "signature does not match" in _problems(verify_store(db, anchor_key="x" * 32))
    # an attacker who rewrites the anchor without the key
    forged = json.loads(anchor_path.read_text())
    del forged["mac"]
    anchor_path.write_text(json.dumps(forged))
    monkeypatch.setenv("SKYFENCE_ANCHOR_KEY", key)
    assert "not signed although a key is set" in _problems(verify_store(db))


# ------------------------------------------------------------------------------------------
# verify never writes, whatever the file


def test_verify_on_non_stores_reports_and_changes_nothing(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    report = _verify(empty)
    assert not report.ok and "empty file (0 bytes)" in _problems(report)
    assert empty.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == [
        "empty.sqlite"]

    foreign = tmp_path / "foreign.sqlite"
    c = sqlite3.connect(foreign)
    c.execute("CREATE TABLE cats (name TEXT)")
    c.execute("INSERT INTO cats VALUES ('tom')")
    c.commit()
    c.close()
    report = _verify(foreign)
    assert not report.ok and "not a skyfence policy store" in _problems(report)
    assert "cats" in _problems(report)
    # writers refuse to add tables to it
    with pytest.raises(StoreError, match="not a sound skyfence policy store"):
        PolicyStore(foreign)
    assert _verify(foreign).findings == report.findings
    assert {r[0] for r in sqlite3.connect(foreign).execute(
        "SELECT name FROM sqlite_master")} == {"cats"}

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"definitely not sqlite" * 50)
    before = junk.read_bytes()
    with pytest.raises(StoreError, match="not a usable SQLite store"):
        verify_store(junk)
    assert junk.read_bytes() == before


def test_meta_dropped_is_reported_not_repaired(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("DROP TABLE meta")
    c.close()
    report = _verify(db)
    assert not report.ok and "meta: table missing" in _problems(report)
    with pytest.raises(StoreError, match="not a sound"):
        _store(db)  # a writer does not re-create anything either
    assert "meta: table missing" in _problems(_verify(db))


@pytest.mark.parametrize("change", ["drop", "neutered", "renamed", "extra"])
def test_triggers_are_checked_by_their_sql(tmp_path, change):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    c = sqlite3.connect(db, isolation_level=None)
    if change == "drop":
        c.execute("DROP TRIGGER requests_no_delete")
        expected = "trigger requests_no_delete missing"
    elif change == "neutered":  # same name, does nothing
        c.execute("DROP TRIGGER requests_no_delete")
        c.execute("CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests "
                  "BEGIN SELECT 1; END")
        expected = "trigger requests_no_delete altered"
    elif change == "renamed":  # right SQL under another name: the expected one is missing
        c.execute("DROP TRIGGER audit_no_update")
        c.execute("CREATE TRIGGER audit_guard BEFORE UPDATE ON audit BEGIN "
                  "SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END")
        expected = "trigger audit_no_update missing"
    else:  # an extra trigger silently dropping new audit entries
        c.execute("CREATE TRIGGER audit_swallow BEFORE INSERT ON audit "
                  "BEGIN SELECT RAISE(IGNORE); END")
        expected = "unexpected trigger audit_swallow"
    c.close()
    report = _verify(db)
    assert not report.ok and expected in _problems(report), _problems(report)


def test_cli_verify_reports_and_leaves_file_identical(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    before = _digest(db)
    res = runner.invoke(app, ["policy", "verify", "--db", str(db)])
    assert res.exit_code == 0 and res.output.startswith("OK:")
    _attack_truncate(db)
    _restore_triggers(db)
    before = _digest(db)
    res = runner.invoke(app, ["policy", "verify", "--db", str(db)])
    assert res.exit_code == 2 and "truncated" in res.output
    assert _digest(db) == before
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    res = runner.invoke(app, ["policy", "verify", "--db", str(empty)])
    assert res.exit_code in (1, 2) and "empty file" in res.output
    assert empty.read_bytes() == b""


def _errors(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("Error:")]


def test_cli_verify_prints_the_anchor_state_and_notes(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    res = runner.invoke(app, ["policy", "verify", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert f"anchor: {db}{ANCHOR_SUFFIX}: matches entry 3 (unsigned)" in res.output
    # a writer killed after writing its pending anchor but before its commit: a note, not a
    # failure (the next write settles the anchor)
    anchor_path = Path(str(db) + ANCHOR_SUFFIX)
    anchor = json.loads(anchor_path.read_text())
    anchor["pending"] = {"seq": anchor["seq"] + 1, "head": "f" * 64}
    anchor_path.write_text(json.dumps(anchor))
    before = _digest(db)
    res = runner.invoke(app, ["policy", "verify", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "note: a write was interrupted before its commit (entry 4 was never stored)" in \
        res.output
    assert _digest(db) == before


def test_cli_verify_failure_is_one_error_line_and_exit_2(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=2)
    _attack_edit(db)
    _restore_triggers(db)
    before = _digest(db)
    res = runner.invoke(app, ["policy", "verify", "--db", str(db)])
    assert res.exit_code == 2
    errors = _errors(res.output)
    assert len(errors) == 1 and "does not verify: 1 finding" in errors[0], res.output
    assert "requests#2: row differs from audit entry" in errors[0]
    assert "  requests#2: row differs" in res.output  # every finding listed above it
    assert _digest(db) == before


def test_cli_reanchor_after_a_lost_anchor(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    Path(str(db) + ANCHOR_SUFFIX).unlink()
    res = runner.invoke(app, ["policy", "verify", "--db", str(db)])
    assert res.exit_code == 2 and "anchor: " in res.output and ": missing" in res.output
    assert len(_errors(res.output)) == 1 and "missing" in _errors(res.output)[0]
    res = runner.invoke(app, ["policy", "verify", "--reanchor", "--by", "ops", "--db", str(db)])
    assert res.exit_code == 0, res.output
    head = verify_store(db).head
    assert f"re-anchored by ops: head {head} (entry 3); before: anchor missing" in res.output
    assert "OK: 3 audit entries" in res.output and "matches entry 3" in res.output
    assert verify_store(db).ok
    with _store(db) as s:  # writes work again
        s.file_request(by="x", region="Crimea", action="on", why="w", at="2022-09-05")
    assert verify_store(db).ok


def test_cli_reanchor_refuses_a_damaged_store_and_a_rollback_without_the_head(tmp_path):
    db = tmp_path / "p.sqlite"
    _populate(db, n=2)
    # a row edited: never re-anchored, whatever --expect-head says
    edited = tmp_path / "edited.sqlite"
    shutil.copyfile(db, edited)
    shutil.copyfile(str(db) + ANCHOR_SUFFIX, str(edited) + ANCHOR_SUFFIX)
    _attack_edit(edited)
    _restore_triggers(edited)
    before = _digest(edited)
    head = verify_store(edited).head
    res = runner.invoke(app, ["policy", "verify", "--reanchor", "--expect-head", head,
                              "--db", str(edited)])
    assert res.exit_code == 2 and len(_errors(res.output)) == 1, res.output
    assert "refusing to re-anchor: the store itself does not verify" in res.output
    assert _digest(edited) == before
    # truncated (as a rollback to an older copy looks): the anchor disagrees; re-anchoring
    # needs the head the operator trusts
    _attack_truncate(db)
    _restore_triggers(db)
    before = _digest(db)
    res = runner.invoke(app, ["policy", "verify", "--reanchor", "--db", str(db)])
    assert res.exit_code == 2 and len(_errors(res.output)) == 1, res.output
    current = verify_store(db).head
    assert "anchor file disagrees" in res.output and f"--expect-head {current}" in res.output
    res = runner.invoke(app, ["policy", "verify", "--reanchor", "--expect-head", "0" * 64,
                              "--db", str(db)])
    assert res.exit_code == 2 and "differs from the expected" in res.output
    assert _digest(db) == before
    res = runner.invoke(app, ["policy", "verify", "--reanchor", "--expect-head", current,
                              "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "before: anchor does not match" in res.output
    assert verify_store(db).ok and verify_store(db).head == current


def test_cli_reanchor_needs_an_admin_token_once_the_store_has_users(tmp_path):
    from skyfence.service.users import UserStore

    db = tmp_path / "p.sqlite"
    _populate(db, n=1)
    with UserStore(db) as us:
        _, admin = us.add_user("ada", "admin", by="test")
        _, viewer = us.add_user("vic", "viewer", by="test")
    Path(str(db) + ANCHOR_SUFFIX).unlink()
    for token, message in ((None, "token"), (viewer, "admin")):
        args = ["policy", "verify", "--reanchor", "--db", str(db)]
        res = runner.invoke(app, args + (["--token", token] if token else []), env={
            "SKYFENCE_TOKEN": ""})
        assert res.exit_code == 2 and len(_errors(res.output)) == 1, res.output
        assert message in _errors(res.output)[0]
        assert not Path(str(db) + ANCHOR_SUFFIX).exists()
    res = runner.invoke(app, ["policy", "verify", "--reanchor", "--token", admin, "--db",
                              str(db)])
    assert res.exit_code == 0, res.output
    assert "re-anchored by ada" in res.output and verify_store(db).ok


# ------------------------------------------------------------------------------------------
# the crash window between the database commit and the anchor update

KILLER = r"""
import os, signal, sys
from skyfence.policy.rules import MappingResolver
from skyfence.policy import store as st

path, when = sys.argv[1], sys.argv[2]
real = st.PolicyStore._write_anchor
calls = []

def write_anchor(self, meta, committed, pending):
    calls.append(pending)
    if when == "before-commit" and pending is not None:
        real(self, meta, committed, pending)
        os.kill(os.getpid(), signal.SIGKILL)  # anchor says pending, COMMIT never ran
    if when == "after-commit" and pending is None and len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # committed, anchor not finalised
    real(self, meta, committed, pending)

st.PolicyStore._write_anchor = write_anchor
s = st.PolicyStore(path, resolver=MappingResolver({"Crimea": [599513355757027327]}))
s.file_request(by="killed", region="Crimea", action="on", why="w", at="2022-09-01")
"""


@pytest.mark.parametrize(("when", "stored"), [("before-commit", 0), ("after-commit", 1)])
def test_sigkill_between_commit_and_anchor(tmp_path, when, stored):
    db = tmp_path / "p.sqlite"
    with PolicyStore(db, resolver=RESOLVER) as s:
        s.apply_policy(DOC, by="lead")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(db), when], capture_output=True,
                          text=True, timeout=120, env={**os.environ})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    report = _verify(db)
    assert report.ok, _problems(report)
    assert report.notes  # verify says what happened
    with PolicyStore(db, resolver=RESOLVER) as s:
        assert len(s.requests()) == stored
        s.file_request(by="next", region="Crimea", action="on", why="w", at="2022-09-01")
    report = _verify(db)
    assert report.ok and not report.notes
    anchor = json.loads(Path(str(db) + ANCHOR_SUFFIX).read_text())
    assert anchor["pending"] is None and anchor["seq"] == report.entries
