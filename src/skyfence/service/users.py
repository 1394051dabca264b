"""Users, roles and API tokens, kept in the policy store's SQLite file (own ``svc_`` tables).

Roles are ordered: ``viewer`` < ``requester`` < ``approver`` < ``admin``; a role may do what
every lower role may. A token is ``sf1_<id>_<secret>``: ``<id>`` (12 hex digits) is public and
names the token in logs; only ``sha256(token)`` is stored, and a presented token is checked
with `hmac.compare_digest`. Every use of a token (API call or CLI command) is attributable:
a row of ``svc_token_uses`` names the token id, its user, the time, what was called and the
answer's status.

Tables (all prefixed ``svc_``, created here in one transaction, beside the store's own
``meta, policy_versions, requests, decisions, audit`` which this module never writes):

``svc_meta``         ``(key, value)``: ``schema`` = `SCHEMA_VERSION`.
``svc_users``        ``(id, name UNIQUE, role, created_at, created_by, revoked_at, revoked_by)``;
                     only the ``revoked_*`` columns may change, once (trigger).
``svc_tokens``       ``(id, user_id, token_sha256, created_at, created_by, revoked_at,
                     revoked_by)``; same rule.
``svc_token_uses``   append-only usage log ``(id, at, token_id, user_name, client, method,
                     target, status)``; a bad token is logged with its id when it has one.
``svc_user_events``  append-only log of user administration ``(id, at, actor, action,
                     user_name, role, token_id)``.
``svc_jobs``         what-if jobs (`skyfence.service.jobs`).

Identification (the API and the CLI the same way, see `identify`): a token, from the
``Authorization: Bearer`` header, ``--token`` or ``$SKYFENCE_TOKEN``, resolves to its user in
the same file. A store with no users yet (``skyfence users add`` never run) is *open*: the CLI
keeps its ``--by NAME`` behaviour there so existing scripts work; the API needs a token always.

Threat model: tokens protect the HTTP API. Whoever can write the SQLite file can do anything
(including adding users); the CLI's token check gives attribution and role checks among
people sharing a machine, not protection against the file's owner.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import AccessError, InputError, StoreError

__all__ = [
    "ROLES",
    "SCHEMA_VERSION",
    "SVC_TABLES",
    "TOKEN_ENV",
    "Actor",
    "TokenUse",
    "User",
    "UserStore",
    "identify",
    "identify_cli",
    "now_text",
    "role_at_least",
]

ROLES = ("viewer", "requester", "approver", "admin")
"""Roles, weakest first; each may do everything the ones before it may."""
SCHEMA_VERSION = "1"
TOKEN_ENV = "SKYFENCE_TOKEN"
"""Environment variable the CLI reads a token from."""
SVC_TABLES = ("svc_meta", "svc_users", "svc_tokens", "svc_token_uses", "svc_user_events",
              "svc_jobs")
"""Every table this package creates (for the store's ``verify``: these are not the store's)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN_RE = re.compile(r"^sf1_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS svc_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS svc_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'requester', 'approver', 'admin')),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);
CREATE TABLE IF NOT EXISTS svc_tokens (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES svc_users(id),
    token_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);
CREATE INDEX IF NOT EXISTS svc_tokens_user ON svc_tokens(user_id);
CREATE TABLE IF NOT EXISTS svc_token_uses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    token_id TEXT,
    user_name TEXT,
    client TEXT NOT NULL,
    method TEXT NOT NULL,
    target TEXT NOT NULL,
    status INTEGER
);
CREATE INDEX IF NOT EXISTS svc_token_uses_token ON svc_token_uses(token_id);
CREATE TABLE IF NOT EXISTS svc_user_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    user_name TEXT NOT NULL,
    role TEXT,
    token_id TEXT
);
CREATE TABLE IF NOT EXISTS svc_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    summary TEXT
);
CREATE TRIGGER IF NOT EXISTS svc_users_guard BEFORE UPDATE ON svc_users
WHEN OLD.revoked_at IS NOT NULL OR NEW.name IS NOT OLD.name OR NEW.role IS NOT OLD.role
  OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by
BEGIN SELECT RAISE(ABORT, 'svc_users: only an unrevoked user may be revoked'); END;
CREATE TRIGGER IF NOT EXISTS svc_users_no_delete BEFORE DELETE ON svc_users
BEGIN SELECT RAISE(ABORT, 'svc_users: DELETE refused (revoke instead)'); END;
CREATE TRIGGER IF NOT EXISTS svc_tokens_guard BEFORE UPDATE ON svc_tokens
WHEN OLD.revoked_at IS NOT NULL OR NEW.user_id IS NOT OLD.user_id
  OR NEW.token_sha256 IS NOT OLD.token_sha256 OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'svc_tokens: only an unrevoked token may be revoked'); END;
CREATE TRIGGER IF NOT EXISTS svc_tokens_no_delete BEFORE DELETE ON svc_tokens
BEGIN SELECT RAISE(ABORT, 'svc_tokens: DELETE refused (revoke instead)'); END;
CREATE TRIGGER IF NOT EXISTS svc_token_uses_no_update BEFORE UPDATE ON svc_token_uses
BEGIN SELECT RAISE(ABORT, 'svc_token_uses is append-only'); END;
CREATE TRIGGER IF NOT EXISTS svc_token_uses_no_delete BEFORE DELETE ON svc_token_uses
BEGIN SELECT RAISE(ABORT, 'svc_token_uses is append-only'); END;
CREATE TRIGGER IF NOT EXISTS svc_user_events_no_update BEFORE UPDATE ON svc_user_events
BEGIN SELECT RAISE(ABORT, 'svc_user_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS svc_user_events_no_delete BEFORE DELETE ON svc_user_events
BEGIN SELECT RAISE(ABORT, 'svc_user_events is append-only'); END
"""


def now_text() -> str:
    """The current UTC time as the service tables store it (ISO 8601, microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def role_at_least(role: str, need: str) -> bool:
    """Whether ``role`` may do what ``need`` may (`ROLES` order)."""
    return ROLES.index(role) >= ROLES.index(need)


def check_user_name(name: str, where: str = "name") -> str:
    """A user name: 1-64 characters from letters, digits and ``. _ @ -``, starting with a
    letter or digit (no spaces, no control characters: it is recorded as an actor)."""
    text = str(name)
    if not _NAME_RE.fullmatch(text):
        raise InputError(f"invalid user name {text!r}: use 1-64 letters, digits, '.', '_', '@' "
                         "or '-', starting with a letter or digit", where)
    return text


def check_role(role: str, where: str = "role") -> str:
    """``role`` when it is one of `ROLES`, else `InputError`."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}", where)
    return role


def token_id_of(token: str) -> str | None:
    """The public id of a well-formed token, else None."""
    m = _TOKEN_RE.fullmatch(token or "")
    return m.group(1) if m else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    """A registered user."""

    id: int
    name: str
    role: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at,
                "created_by": self.created_by, "revoked_at": self.revoked_at,
                "revoked_by": self.revoked_by, "active": self.active}


@dataclass(frozen=True)
class Actor:
    """Who performs an operation: a token's user, or (open stores only) a ``--by`` name.

    ``token_id`` is None for the open-store path; ``role`` is None there too (no roles).
    """

    name: str
    role: str | None
    token_id: str | None

    def may(self, need: str) -> bool:
        """Whether this actor's role reaches ``need`` (open-store actors: always)."""
        return self.role is None or role_at_least(self.role, need)


@dataclass(frozen=True)
class TokenUse:
    """One row of the usage log."""

    at: str
    token_id: str | None
    user_name: str | None
    client: str
    method: str
    target: str
    status: int | None


class UserStore:
    """Users, tokens and the usage log in the SQLite file ``path``.

    The store's own schema is not touched; call `ensure_schema` (done by the constructor)
    once per file. Safe for use from one thread per instance.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0,
                 synchronous: str = "FULL", create: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not Path(self.path).is_file() and not create:
            raise StoreError(f"no store at {self.path}; give --db or create it with "
                             "skyfence users add")
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         timeout=busy_timeout_s, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self.ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite store: {exc}") from None

    # -- plumbing -----------------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _retry(fn: Callable[[], Any], attempts: int = 30) -> Any:
        delay = 0.005
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or i == attempts - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot start a write transaction: {exc}") from None
        try:
            yield self._conn
            self._retry(lambda: self._conn.execute("COMMIT"))
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def ensure_schema(self) -> None:
        """Create the ``svc_`` tables when missing (one transaction); check their version."""
        have = self._conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                  "name='svc_meta'").fetchone()
        if have:
            row = self._conn.execute("SELECT value FROM svc_meta WHERE key='schema'").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise StoreError(f"{self.path}: unknown users schema "
                                 f"{row[0] if row else '(none)'}; expected {SCHEMA_VERSION}")
            return
        with self._transaction() as c:
            for stmt in _SCHEMA.split(";\n"):
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO svc_meta (key, value) VALUES ('schema', ?)",
                      (SCHEMA_VERSION,))

    # -- users --------------------------------------------------------------------------------

    def has_users(self) -> bool:
        """Whether any user was ever registered (then tokens are required everywhere)."""
        return self._conn.execute("SELECT 1 FROM svc_users LIMIT 1").fetchone() is not None

    def users(self) -> list[User]:
        """All users, oldest first (revoked ones included)."""
        return [User(**dict(r)) for r in self._conn.execute("SELECT * FROM svc_users ORDER BY id")]

    def user(self, name: str) -> User:
        """The user ``name``; `StoreError` listing the known names when missing."""
        row = self._conn.execute("SELECT * FROM svc_users WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [u.name for u in self.users()]
            known = ", ".join(names) if names else "no users registered"
            raise StoreError(f"no user named {name!r} in {self.path} ({known})")
        return User(**dict(row))

    def _new_token(self, c: sqlite3.Connection, user_id: int, by: str, now: str) -> str:
        while True:
            tid = secrets.token_hex(6)
            if c.execute("SELECT 1 FROM svc_tokens WHERE id = ?", (tid,)).fetchone() is None:
                break
        token = f"sf1_{tid}_{secrets.token_urlsafe(32)}"
        assert _TOKEN_RE.fullmatch(token), "token format"
        c.execute("INSERT INTO svc_tokens (id, user_id, token_sha256, created_at, created_by) "
                  "VALUES (?, ?, ?, ?, ?)", (tid, user_id, _digest(token), now, by))
        return token

    def add_user(self, name: str, role: str, *, by: str) -> tuple[User, str]:
        """Register ``name`` with ``role``; returns the user and a new token (shown once).

        A name is never reused, even after revocation (the logs must stay unambiguous):
        an existing name is a `StoreError`.
        """
        check_user_name(name)
        check_role(role)
        by = str(by).strip() or "unknown"
        now = now_text()
        with self._transaction() as c:
            old = c.execute("SELECT * FROM svc_users WHERE name = ?", (name,)).fetchone()
            if old is not None:
                state = "revoked" if old["revoked_at"] else f"active, role {old['role']}"
                raise StoreError(f"user {name!r} exists ({state}); names are never reused: "
                                 f"use skyfence users token {name} for a new token")
            cur = c.execute("INSERT INTO svc_users (name, role, created_at, created_by) VALUES "
                            "(?, ?, ?, ?)", (name, role, now, by))
            uid = int(cur.lastrowid or 0)
            token = self._new_token(c, uid, by, now)
            c.execute("INSERT INTO svc_user_events (at, actor, action, user_name, role, token_id)"
                      " VALUES (?, ?, 'add', ?, ?, ?)", (now, by, name, role, token_id_of(token)))
        return self.user(name), token

    def issue_token(self, name: str, *, by: str) -> str:
        """A further token for an active user (e.g. a lost one: revoke that user's old tokens
        with `revoke_token`)."""
        now = now_text()
        with self._transaction() as c:
            row = c.execute("SELECT * FROM svc_users WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise StoreError(f"no user named {name!r} in {self.path}")
            if row["revoked_at"]:
                raise AccessError(f"user {name!r} was revoked at {row['revoked_at']}; "
                                  "no new tokens")
            token = self._new_token(c, int(row["id"]), by, now)
            c.execute("INSERT INTO svc_user_events (at, actor, action, user_name, role, token_id)"
                      " VALUES (?, ?, 'token', ?, ?, ?)",
                      (now, by, name, row["role"], token_id_of(token)))
        return token

    def revoke_user(self, name: str, *, by: str) -> User:
        """Revoke a user and all of their tokens (immediately: every later use is refused)."""
        now = now_text()
        with self._transaction() as c:
            row = c.execute("SELECT * FROM svc_users WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in c.execute("SELECT name FROM svc_users ORDER BY id")]
                raise StoreError(f"no user named {name!r} in {self.path} (known: "
                                 f"{', '.join(names) or 'none'})")
            if row["revoked_at"]:
                raise StoreError(f"user {name!r} was already revoked at {row['revoked_at']} by "
                                 f"{row['revoked_by']}")
            c.execute("UPDATE svc_users SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                      (now, by, row["id"]))
            c.execute("UPDATE svc_tokens SET revoked_at = ?, revoked_by = ? WHERE user_id = ? "
                      "AND revoked_at IS NULL", (now, by, row["id"]))
            c.execute("INSERT INTO svc_user_events (at, actor, action, user_name, role) VALUES "
                      "(?, ?, 'revoke', ?, ?)", (now, by, name, row["role"]))
        return self.user(name)

    def revoke_token(self, token_id: str, *, by: str) -> None:
        """Revoke one token by its public id."""
        now = now_text()
        with self._transaction() as c:
            row = c.execute("SELECT t.*, u.name AS user_name, u.role AS role FROM svc_tokens t "
                            "JOIN svc_users u ON u.id = t.user_id WHERE t.id = ?",
                            (token_id,)).fetchone()
            if row is None:
                raise StoreError(f"no token with id {token_id!r}")
            if row["revoked_at"]:
                raise StoreError(f"token {token_id} was already revoked at {row['revoked_at']}")
            c.execute("UPDATE svc_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?",
                      (now, by, token_id))
            c.execute("INSERT INTO svc_user_events (at, actor, action, user_name, role, token_id)"
                      " VALUES (?, ?, 'revoke-token', ?, ?, ?)",
                      (now, by, row["user_name"], row["role"], token_id))

    def tokens(self, name: str | None = None) -> list[dict[str, Any]]:
        """Token records (never the token itself): id, user, created, revoked, last use."""
        sql = ("SELECT t.id, u.name AS user_name, t.created_at, t.created_by, t.revoked_at, "
               "(SELECT MAX(at) FROM svc_token_uses WHERE token_id = t.id) AS last_used_at, "
               "(SELECT COUNT(*) FROM svc_token_uses WHERE token_id = t.id) AS uses "
               "FROM svc_tokens t JOIN svc_users u ON u.id = t.user_id")
        args: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE u.name = ?"
            args = (name,)
        return [dict(r) for r in self._conn.execute(sql + " ORDER BY t.created_at", args)]

    # -- authentication -------------------------------------------------------------------------

    def authenticate(self, token: str) -> tuple[User, str]:
        """The active user a token belongs to, and the token id.

        Raises `AccessError` for a malformed, unknown or revoked token (or a revoked user).
        The comparison of the stored hash is constant-time.
        """
        m = _TOKEN_RE.fullmatch(token or "")
        if m is None:
            raise AccessError("malformed token (expected sf1_<id>_<secret>)")
        tid = m.group(1)
        row = self._conn.execute(
            "SELECT t.token_sha256, t.revoked_at AS token_revoked, u.* FROM svc_tokens t "
            "JOIN svc_users u ON u.id = t.user_id WHERE t.id = ?", (tid,)).fetchone()
        # compare against a dummy digest when the id is unknown, so both paths cost the same
        stored = row["token_sha256"] if row is not None else "0" * 64
        ok = hmac.compare_digest(_digest(token), stored)
        if row is None or not ok:
            raise AccessError(f"unknown token {tid}")
        if row["token_revoked"] is not None:
            raise AccessError(f"token {tid} was revoked at {row['token_revoked']}")
        if row["revoked_at"] is not None:
            raise AccessError(f"user {row['name']!r} was revoked at {row['revoked_at']}")
        user = User(id=row["id"], name=row["name"], role=row["role"],
                    created_at=row["created_at"], created_by=row["created_by"])
        return user, tid

    # -- usage log ----------------------------------------------------------------------------

    def log_uses(self, uses: list[TokenUse]) -> None:
        """Append usage rows (one transaction)."""
        if not uses:
            return
        with self._transaction() as c:
            c.executemany(
                "INSERT INTO svc_token_uses (at, token_id, user_name, client, method, target, "
                "status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(u.at, u.token_id, u.user_name, u.client, u.method, u.target[:300], u.status)
                 for u in uses])

    def uses(self, token_id: str | None = None, limit: int = 100) -> list[TokenUse]:
        """The newest usage rows (of one token), newest first."""
        if token_id is None:
            rows = self._conn.execute("SELECT * FROM svc_token_uses ORDER BY id DESC LIMIT ?",
                                      (limit,))
        else:
            rows = self._conn.execute("SELECT * FROM svc_token_uses WHERE token_id = ? ORDER BY "
                                      "id DESC LIMIT ?", (token_id, limit))
        fields = TokenUse.__dataclass_fields__
        return [TokenUse(**{k: r[k] for k in fields}) for r in rows]

    def events(self) -> list[dict[str, Any]]:
        """User administration log, oldest first."""
        return [dict(r) for r in self._conn.execute("SELECT * FROM svc_user_events ORDER BY id")]


def local_actor_name() -> str:
    """The operating-system user, for administration done with file access (``users add``)."""
    return "local:" + (os.environ.get("USER") or os.environ.get("USERNAME") or "unknown")


def identify(users: UserStore, *, token: str | None, by: str | None, need: str,
             client: str, action: str) -> Actor:
    """Resolve who runs a CLI command, as the API does.

    ``token`` (``--token`` or ``$SKYFENCE_TOKEN``) wins: it must belong to an active user whose
    role reaches ``need``; ``by``, when also given, must name that same user. Without a token,
    a store with registered users refuses (`AccessError`); an open store (no users yet) takes
    ``by`` (default ``$USER``), as before users existed. The use is logged.
    """
    check_role(need, "need")
    if token:
        try:
            user, tid = users.authenticate(token.strip())
        except AccessError:
            users.log_uses([TokenUse(now_text(), token_id_of(token.strip()), None, client,
                                     "CLI", action, 401)])
            raise
        if by is not None and by != user.name:
            users.log_uses([TokenUse(now_text(), tid, user.name, client, "CLI", action, 403)])
            raise AccessError(f"--by {by!r} differs from the token's user {user.name!r}; the "
                              "token decides who acts: drop --by")
        if not role_at_least(user.role, need):
            users.log_uses([TokenUse(now_text(), tid, user.name, client, "CLI", action, 403)])
            raise AccessError(f"user {user.name!r} has role {user.role}; {action} needs "
                              f"{need} or higher")
        users.log_uses([TokenUse(now_text(), tid, user.name, client, "CLI", action, 200)])
        return Actor(user.name, user.role, tid)
    if users.has_users():
        raise AccessError(f"this store has registered users: identify with --token TOKEN or "
                          f"${TOKEN_ENV} ({action} needs role {need} or higher)")
    name = by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
    if not str(name).strip():
        raise InputError("who acts must be named", "--by")
    return Actor(str(name), None, None)


def _has_user_tables(path: Path) -> bool:
    """Whether the file holds the ``svc_users`` table (read-only check; writes nothing)."""
    import sqlite3 as _sq

    try:
        conn = _sq.connect(f"file:{path}?mode=ro", uri=True)
    except _sq.Error:
        return False
    try:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                            "name='svc_users'").fetchone() is not None
    except _sq.Error:
        return False
    finally:
        conn.close()


def identify_cli(db: str | Path, *, token: str | None, by: str | None, need: str,
                 action: str) -> Actor:
    """`identify` for a CLI command on the store file ``db``.

    A file without users (or no file yet) is an open store: no token needed, ``by`` (default
    ``$USER``) names the actor, as before users existed; giving a token there is an error
    (nothing to check it against). The file is not modified unless it has users (then the
    token use is logged).
    """
    path = Path(db)
    token = (token or "").strip() or None
    if str(path) == ":memory:" or not path.is_file() or not _has_user_tables(path):
        if token:
            raise AccessError(f"{path} has no registered users, so a token cannot be checked; "
                              "add users with skyfence users add NAME --role ROLE")
        name = by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
        if not str(name).strip():
            raise InputError("who acts must be named", "--by")
        return Actor(str(name), None, None)
    with UserStore(path, create=False) as users:
        return identify(users, token=token, by=by, need=need, client="cli", action=action)
