"""The durable policy store: versioned policies, activation requests, decisions, audit log.

SQLite (stdlib), WAL journal, ``synchronous=FULL``, foreign keys on. Every change runs in one
``BEGIN IMMEDIATE`` transaction that writes the data row(s) and their audit entries together,
so a crash leaves either all of a change or none of it; concurrent writers queue on a lock
file and on SQLite's write lock (busy timeout plus retries).

Tables (all append-only: rows are inserted, never updated or deleted; triggers refuse UPDATE
and DELETE):

``policy_versions``
    ``(id, name, version, content, content_sha256, created_by, created_at, comment)``;
    ``content`` is the policy's canonical JSON. `PolicyStore.apply_policy` adds version n+1
    of a name, unless the content equals the latest version's (then nothing is written).
    A version that changes service everywhere (`sweeping_change`: every rule removed, or the
    default flipped) is refused unless ``allow_sweeping=True``; the error says what would
    change, and an allowed sweep is recorded in the version's comment.
``requests``
    who asks (``requested_by``), for which ``region``, which ``action`` (on/off), the
    requested window, when (``requested_at``), why, a reference, the policy it concerns
    (which must be stored) and an optional ``key`` (stable identifier of imported records).
``decisions``
    ``(request_id -> requests.id, decided_by, outcome, reason, decided_at, reference,
    policy_version_id)``. Outcomes: ``approved``, ``refused``, ``deferred``. A ``deferred``
    request may be decided again; an ``approved`` or ``refused`` one is final (a second
    decision is a `StoreError`: file a new request instead). **Four eyes**: the actor who
    filed a request can never decide it (`AccessError`; names compared after Unicode NFKC
    normalisation, case folding and whitespace collapsing, so ``"Alice"`` and ``" alice "``
    are one actor). Approving with ``apply=True`` (the default) adds a new version of the
    request's policy holding a rule for the request (priority one above the highest in the
    policy, so the newest approval wins) and records that version's id in the decision, in the
    same transaction.
``audit``
    ``(seq, at, actor, action, table_name, row_id, content, prev_hash, hash)``: one entry per
    inserted data row holding the row's full canonical content, chained by
    ``hash = sha256(prev_hash + canonical JSON of the entry)`` from 64 zeros.

Input rules (the field is named in every error): names (actors, regions, policy names, keys)
are non-blank one-line text without control characters, at most 200 characters; free texts
(why, reason, comment, reference) at most 10,000 characters, newlines allowed; request ids
are integers 1 to 2^63 - 1 (SQLite's range); every time lies in [`EARLIEST_UTC`,
`LATEST_UTC`) = [1957-01-01, 2057-01-01), the years an SGP4 element set can carry, so no
simulation can ever evaluate a rule outside them; the time a request was made or decided is
not later than the store's clock plus `MAX_CLOCK_SKEW` (1 day). Policy content is capped by
`skyfence.limits` (32 MiB canonical JSON, 4 MiB per string) before anything is stored.

Audit anchor and threat model
-----------------------------
`PolicyStore.verify` recomputes the chain and checks every data row against its audit entry
(an edited, deleted, reordered or inserted row or entry is reported with table and id), checks
the schema and the append-only triggers *by their SQL* (a missing, altered or extra trigger is
reported), and compares the chain's head with the **anchor**: a small JSON file beside the
database, ``<store>.anchor`` (`ANCHOR_SUFFIX`)::

    {"format": "skyfence-audit-anchor", "version": 1, "store_id": "<uuid in meta>",
     "seq": 42, "head": "<hash of entry 42>", "pending": null, "mac": "<optional>"}

Each write transaction, holding an exclusive lock on ``<store>.anchor.lock``:

1. ``BEGIN IMMEDIATE``; the database's head must equal the anchor's ``head`` or its
   ``pending`` head, else the write is refused (`StoreError`) so a rolled-back store is never
   "blessed" by overwriting its anchor;
2. the rows and audit entries are inserted;
3. the anchor is rewritten with ``pending`` = the new head (temp file, fsync, ``os.replace``,
   fsync of the folder);
4. ``COMMIT``;
5. the anchor is rewritten with ``head`` = the new head, ``pending`` = null.

A SIGKILL between 3 and 4 leaves the anchor's ``head`` equal to the database's (the
transaction rolled back); between 4 and 5 its ``pending`` equals the database's head (the
transaction committed). ``verify`` accepts both, with a note for the second; the next write
settles it. Anything else fails ``verify``, without ``expected_head``:

* detected: editing, deleting, reordering or inserting rows or entries; truncating the tail
  (with or without its data rows); swapping in an older copy of the database (rollback);
  re-hashing the whole chain after an edit (the anchored head no longer matches); appending
  well-formed entries outside the API; dropping or altering triggers or tables; a database
  that is not this anchor's store (``store_id``); a missing anchor once one was written.
* with a key (``anchor_key`` or the environment variable ``SKYFENCE_ANCHOR_KEY``, kept outside
  the database), the anchor carries an HMAC-SHA256: forging a matching anchor then needs the
  key as well.
* not detected: an attacker who controls both the database and the anchor file (and, when
  used, the key) can rewrite both consistently, or replay an older (database, anchor) pair;
  compare the head with one recorded elsewhere (``verify(expected_head=...)``, e.g. from a
  published checkpoint) to catch that.

A store written before anchoring (no anchor, no ``meta`` flag) gets its anchor from the next
write after a full chain check; until then ``verify`` reports the missing anchor.

Opening never writes: ``PolicyStore(path, create=False)`` opens the file read-only (SQLite URI
``mode=ro``) and switches to a writable connection only for the first write, so ``verify`` on
any file (a 0-byte file, a foreign SQLite database, a store with ``meta`` dropped) reports what
is wrong and leaves the file byte-identical. ``create=True`` initialises only a missing or
empty file and refuses to add tables to any other database.

Times are given by the caller or come from the injected ``clock`` (UTC now by default).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import limits
from ..errors import AccessError, InputError, PolicyError, RegionError, StoreError
from .diff import PolicyDiff, RuleChange, diff_policies, rule_changes
from .io import PolicyFile, RequestSpec, canonical_json, dump_policy
from .model import PolicyDoc, RegionResolver, RuleSpec, format_utc, to_utc_datetime
from .regions import catalogue_resolver, check_region_name
from .rules import compile_policy

__all__ = [
    "ANCHOR_KEY_ENV",
    "ANCHOR_SUFFIX",
    "DATA_TABLES",
    "EARLIEST_UTC",
    "GENESIS_HASH",
    "LATEST_UTC",
    "MAX_CLOCK_SKEW",
    "MAX_REQUEST_ID",
    "OUTCOMES",
    "AuditFinding",
    "AuditReport",
    "Decision",
    "ImportResult",
    "PolicyStore",
    "PolicyVersion",
    "Request",
    "SweepingChange",
    "parse_request_id",
    "same_actor",
    "sweeping_change",
    "utc_now",
    "verify_store",
]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit entry."""
OUTCOMES = ("approved", "refused", "deferred")
"""Valid decision outcomes; ``deferred`` is the only one that is not final."""
DATA_TABLES = ("policy_versions", "requests", "decisions")
"""Tables whose rows the audit log covers."""
ANCHOR_SUFFIX = ".anchor"
"""The anchor file is the database path plus this suffix (``skyfence.sqlite.anchor``)."""
ANCHOR_KEY_ENV = "SKYFENCE_ANCHOR_KEY"
"""Environment variable holding the anchor's HMAC key (text), when no ``anchor_key`` is given."""
EARLIEST_UTC = datetime(1957, 1, 1, tzinfo=UTC)
"""Earliest time the store accepts (the first year an SGP4 element set can carry)."""
LATEST_UTC = datetime(2057, 1, 1, tzinfo=UTC)
"""Times must be before this (2056 is the last year an SGP4 element set can carry)."""
MAX_CLOCK_SKEW = timedelta(days=1)
"""How far after the store's clock a request or decision time may lie."""
MAX_REQUEST_ID = 2**63 - 1
"""Largest request id (SQLite's INTEGER range)."""

_APPEND_ONLY = ("audit", *DATA_TABLES)
_SCHEMA_VERSION = "1"
_ANCHOR_FORMAT = "skyfence-audit-anchor"
_ANCHOR_VERSION = 1
_LOCK_SUFFIX = ".anchor.lock"
_MAX_ANCHOR_BYTES = 64 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    content TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE,
    requested_by TEXT NOT NULL,
    region TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('on', 'off')),
    window_start TEXT,
    window_end TEXT,
    requested_at TEXT NOT NULL,
    why TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    policy_name TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL REFERENCES requests(id),
    decided_by TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('approved', 'refused', 'deferred')),
    reason TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    reference TEXT NOT NULL DEFAULT '',
    policy_version_id INTEGER REFERENCES policy_versions(id),
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_request ON decisions(request_id);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    content TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS audit_row ON audit(table_name, row_id);
"""
_TABLES = ("meta", *DATA_TABLES, "audit")


def _triggers_sql() -> list[str]:
    parts = []
    for table in _APPEND_ONLY:
        for op in ("UPDATE", "DELETE"):
            parts.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
            )
    return parts


def _schema_statements() -> list[str]:
    return [st for st in (*_SCHEMA.split(";\n"), *_triggers_sql()) if st.strip()]


def _normal_sql(sql: str | None) -> str:
    return " ".join((sql or "").split())


@lru_cache(maxsize=1)
def _expected_master() -> dict[tuple[str, str], str]:
    """``(type, name) -> normalised SQL`` of skyfence's tables, indexes and triggers, as SQLite
    itself stores them (built once in a throw-away in-memory database)."""
    conn = sqlite3.connect(":memory:")
    try:
        for stmt in _schema_statements():
            conn.execute(stmt)
        return {(t, n): _normal_sql(sql) for t, n, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")}
    finally:
        conn.close()


def utc_now() -> datetime:
    """The default clock: the current time, UTC (aware)."""
    return datetime.now(UTC)


def same_actor(a: str, b: str) -> bool:
    """True when two actor names denote the same actor (four eyes): NFKC, case and spacing
    are ignored."""
    def norm(x: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", str(x)).casefold().split())

    return norm(a) == norm(b)


# ---------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class PolicyVersion:
    """One stored version of a policy; ``content`` is canonical JSON of the `PolicyDoc`."""

    id: int
    name: str
    version: int
    content: str
    content_sha256: str
    created_by: str
    created_at: str
    comment: str

    def doc(self) -> PolicyDoc:
        """The policy document of this version."""
        import json

        return PolicyDoc.model_validate(json.loads(self.content))

    def label(self) -> str:
        """``name v<version>``."""
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class Decision:
    """A decision on an activation request."""

    id: int
    request_id: int
    decided_by: str
    outcome: str
    reason: str
    decided_at: str
    reference: str
    policy_version_id: int | None
    recorded_at: str


@dataclass(frozen=True)
class Request:
    """An activation request with its decisions (oldest first)."""

    id: int
    key: str | None
    requested_by: str
    region: str
    action: str
    window_start: str | None
    window_end: str | None
    requested_at: str
    why: str
    reference: str
    policy_name: str
    recorded_at: str
    decisions: tuple[Decision, ...] = ()

    @property
    def status(self) -> str:
        """``pending`` with no decision, else the latest decision's outcome."""
        return self.decisions[-1].outcome if self.decisions else "pending"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict including the decisions."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "decisions"}
        d["status"] = self.status
        d["decisions"] = [dict(x.__dict__) for x in self.decisions]
        return d


@dataclass(frozen=True)
class AuditFinding:
    """One problem `PolicyStore.verify` found: which table, which row (id or seq), what."""

    table: str
    row_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.table}#{self.row_id}" if self.row_id is not None else self.table
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class AuditReport:
    """Result of `PolicyStore.verify`: ``ok`` when there are no findings.

    ``notes`` are facts that are not tampering (a writer killed between its commit and the
    anchor update; an anchor signature that cannot be checked without the key); ``anchor`` is
    the anchor file's path (None for an in-memory store) and ``anchor_state`` what became of
    it: ``"matches entry N (signed)"``, ``"... (unsigned)"``, ``"missing"``, ``"does not
    match"``, ``"unreadable"`` or ``""`` when it was not checked.
    """

    entries: int
    head: str
    findings: tuple[AuditFinding, ...]
    notes: tuple[str, ...] = ()
    anchor: str | None = None
    anchor_state: str = ""

    @property
    def ok(self) -> bool:
        """True when the chain, every audited row, the schema and the anchor check out."""
        return not self.findings


@dataclass(frozen=True)
class ImportResult:
    """What `PolicyStore.import_history` added and skipped (already stored)."""

    requests_added: int
    decisions_added: int
    requests_skipped: int




@dataclass(frozen=True)
class SweepingChange:
    """What a policy version that changes everything would change (see `sweeping_change`)."""

    name: str
    from_version: int
    removed_rules: tuple[str, ...]
    removed_moving_rules: tuple[str, ...]
    removed_regions: tuple[str, ...]
    default_before: str
    default_after: str

    def describe(self) -> str:
        """One sentence: which rules and regions disappear, how the default changes."""
        parts = []
        if self.removed_rules:
            parts.append(f"removes every rule ({_listed(self.removed_rules)})")
        if self.removed_moving_rules:
            parts.append(f"removes every moving rule ({_listed(self.removed_moving_rules)})")
        if self.removed_regions:
            parts.append(f"drops the regions {_listed(self.removed_regions)}")
        if self.default_before != self.default_after:
            parts.append(f"turns the default (everywhere no rule decides) from "
                         f"{self.default_before} to {self.default_after}")
        return (f"this version of {self.name!r} changes service everywhere: compared with "
                f"v{self.from_version} it " + "; ".join(parts))


def _listed(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def sweeping_change(old: PolicyDoc | None, new: PolicyDoc,
                    from_version: int = 0) -> SweepingChange | None:
    """Does replacing ``old`` by ``new`` change service everywhere? None when it does not.

    Sweeping: ``new`` has no rules and no moving rules while ``old`` had some (an empty file
    or one with only a default), or ``new`` flips ``default_action`` (every place no rule
    decides changes). The first version of a policy is never sweeping.
    """
    if old is None:
        return None
    old_rules = [r.name for r in old.rules]
    old_moving = [m.name for m in old.moving_rules]
    emptied = (old_rules or old_moving) and not (new.rules or new.moving_rules)
    flipped = old.default_action != new.default_action
    if not (emptied or flipped):
        return None
    new_regions = {g.name for g in new.regions}
    return SweepingChange(
        name=new.name, from_version=from_version,
        removed_rules=tuple(old_rules) if emptied else (),
        removed_moving_rules=tuple(old_moving) if emptied else (),
        removed_regions=tuple(g.name for g in old.regions if g.name not in new_regions),
        default_before=old.default_action, default_after=new.default_action)

# ---------------------------------------------------------------------------------------------
# the store


def _entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _anchor_key(key: str | bytes | None) -> bytes | None:
    if key is None:
        key = os.environ.get(ANCHOR_KEY_ENV) or None
    if key is None:
        return None
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) < 16:
        raise InputError("the anchor key must have at least 16 bytes", "anchor_key")
    return raw


def _anchor_mac(key: bytes, anchor: dict[str, Any]) -> str:
    body = {k: v for k, v in anchor.items() if k != "mac"}
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def parse_request_id(value: Any, field: str = "request_id") -> int:
    """A request id from user input (an int or its text): 1 to `MAX_REQUEST_ID`, else
    `InputError` naming ``field``."""
    if isinstance(value, bool):
        raise InputError(f"a request id is a whole number, got {value!r}", field)
    try:
        rid = int(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"a request id is a whole number, got {str(value)[:40]!r}",
                         field) from None
    if isinstance(value, float) and value != rid:
        raise InputError(f"a request id is a whole number, got {value!r}", field)
    if not 1 <= rid <= MAX_REQUEST_ID:
        shown = str(rid) if len(str(rid)) <= 40 else str(rid)[:37] + "..."
        raise InputError(f"request id {shown} is outside 1 to {MAX_REQUEST_ID} (the ids "
                         "the store can hold)", field)
    return rid


def _ro_uri(path: str, immutable: bool = False) -> str:
    quoted = urllib.parse.quote(str(Path(path).absolute()))
    return f"file:{quoted}?mode=ro" + ("&immutable=1" if immutable else "")


class PolicyStore:
    """SQLite store of policies, requests, decisions and the hash-chained audit log.

    Parameters
    ----------
    path : str or Path
        Database file (``":memory:"`` for a throw-away store).
    clock : callable, optional
        Returns the current time as an aware `datetime`; default `utc_now`. Tests inject a
        fixed clock.
    resolver : RegionResolver, optional
        Checks region names of policies and requests; default the region catalogue.
    create : bool
        Create (initialise) the file when missing or empty (default). With False a missing
        file is a `StoreError` and the file is opened read-only until the first write.
    busy_timeout_s : float
        How long a writer waits for another writer's lock before giving up.
    anchor_key : str or bytes, optional
        HMAC key of the anchor file (default ``$SKYFENCE_ANCHOR_KEY``; none: unsigned).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        resolver: RegionResolver | None = None,
        create: bool = True,
        busy_timeout_s: float = 30.0,
        anchor_key: str | bytes | None = None,
    ) -> None:
        self.path = str(path)
        self._memory = self.path == ":memory:"
        if not self._memory:
            p = Path(self.path)
            if p.is_dir():
                raise StoreError(f"{self.path} is a directory, not a policy store")
            if not create and not p.is_file():
                raise StoreError(f"no policy store at {self.path}; apply a policy first "
                                 "(skyfence policy apply FILE) or give --db")
        self._clock = clock
        self._resolver = resolver
        self._busy_timeout_s = float(busy_timeout_s)
        self._key = _anchor_key(anchor_key)
        self.anchor_path = None if self._memory else Path(self.path + ANCHOR_SUFFIX)
        self._lock_path = None if self._memory else Path(self.path + _LOCK_SUFFIX)
        self._writable = False
        self._problems: list[AuditFinding] = []
        try:
            if create or self._memory:
                self._open_writable()
                self._problems = self._inspect()
                if self._problems and self._is_empty():
                    self._init_schema()
                    self._problems = self._inspect()
                if self._problems:
                    raise StoreError(
                        f"{self.path} is not a sound skyfence policy store ("
                        + "; ".join(str(f) for f in self._problems[:3])
                        + "); nothing changed: run `skyfence policy verify` for the full list")
            else:
                self._open_readonly()
                self._problems = self._inspect()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise StoreError(f"{self.path}: not a usable SQLite store: {exc}") from None
        except BaseException:
            self._close_quietly()
            raise

    # -- connections ------------------------------------------------------------------------

    def _configure(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _open_readonly(self) -> None:
        try:
            conn = sqlite3.connect(_ro_uri(self.path), uri=True, isolation_level=None,
                                   timeout=self._busy_timeout_s, check_same_thread=False)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # a WAL store in a read-only folder without its -shm file: read the file as is
            # (no WAL file means the database file holds every commit)
            if Path(self.path + "-wal").exists():
                raise
            conn = sqlite3.connect(_ro_uri(self.path, immutable=True), uri=True,
                                   isolation_level=None, check_same_thread=False)
        self._conn = self._configure(conn)
        self._writable = False

    def _open_writable(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout_s,
                               check_same_thread=False)
        self._conn = self._configure(conn)
        self._conn.execute("PRAGMA synchronous = FULL")
        self._writable = True

    def _ensure_writable(self) -> None:
        if self._problems:
            raise StoreError(f"{self.path}: refusing to write to a damaged store ("
                             + "; ".join(str(f) for f in self._problems[:3])
                             + "); run `skyfence policy verify`")
        if self._writable:
            return
        try:
            self._conn.close()
            self._open_writable()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open for writing: {exc}") from None
        if self._memory:
            return
        mode = self._retry(lambda: self._conn.execute("PRAGMA journal_mode").fetchone())
        if str(mode[0]).lower() != "wal":
            mode = self._retry(
                lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone())
            if str(mode[0]).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch the journal to WAL "
                                 f"(got {mode[0]})")

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> PolicyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return format_utc(to_utc_datetime(self._clock(), "clock"))

    def _retry(self, fn: Callable[[], Any], attempts: int = 20) -> Any:
        delay = 0.01
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or i == attempts - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    # -- schema -----------------------------------------------------------------------------

    def _is_empty(self) -> bool:
        return self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0

    def _inspect(self) -> list[AuditFinding]:
        """What is wrong with the schema (read only): missing or altered tables, indexes and
        triggers (compared by their SQL), unexpected triggers, the ``meta`` rows."""
        rows = self._conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        if not rows:
            size = 0 if self._memory else Path(self.path).stat().st_size
            what = "an empty file (0 bytes)" if size == 0 else "an SQLite database with no tables"
            return [AuditFinding("store", None, f"{what}: not a skyfence policy store")]
        have = {(r["type"], r["name"]): _normal_sql(r["sql"]) for r in rows}
        expected = _expected_master()
        findings: list[AuditFinding] = []
        missing_tables = [n for n in _TABLES if ("table", n) not in have]
        if len(missing_tables) == len(_TABLES):
            names = sorted(n for t, n in have if t == "table")
            return [AuditFinding("store", None, "not a skyfence policy store: none of its "
                                 f"tables ({', '.join(_TABLES)}) exist; the database holds "
                                 f"{', '.join(names[:8]) or 'no tables'}")]
        for (kind, name), sql in expected.items():
            table = name if kind == "table" else next(
                (r["tbl_name"] for r in rows if r["name"] == name), name.split("_no_")[0])
            got = have.get((kind, name))
            if got is None:
                what = {"table": "table missing (dropped)", "index": "index missing",
                        "trigger": "missing (append-only guard dropped)"}[kind]
                label = f"trigger {name} " if kind == "trigger" else ""
                findings.append(AuditFinding(table if kind != "table" else name, None,
                                             f"{label}{what}"))
            elif got != sql:
                findings.append(AuditFinding(table, None, f"{kind} {name} altered: its SQL "
                                             "differs from skyfence's schema"))
        ours = set(_TABLES)
        for r in rows:
            if r["type"] == "trigger" and ("trigger", r["name"]) not in expected \
                    and r["tbl_name"] in ours:
                findings.append(AuditFinding(r["tbl_name"], None, f"unexpected trigger "
                                             f"{r['name']} on a skyfence table"))
        if ("table", "meta") in have:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("schema") != _SCHEMA_VERSION:
                findings.append(AuditFinding("meta", None, "schema version "
                                             f"{meta.get('schema', '(none)')!r}; expected "
                                             f"{_SCHEMA_VERSION!r}"))
        return findings

    def _init_schema(self) -> None:
        if not self._memory:
            mode = self._retry(
                lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone())
            if str(mode[0]).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch the journal to WAL "
                                 f"(got {mode[0]})")
        with self._transaction(init=True) as c:
            for stmt in _schema_statements():
                c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                      (_SCHEMA_VERSION,))
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)",
                      (str(uuid.uuid4()),))
            if not self._memory:
                c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('anchor', "
                          "'required')")

    def _require_sound(self) -> None:
        if self._problems:
            raise StoreError(f"{self.path} is not a sound skyfence policy store ("
                             + "; ".join(str(f) for f in self._problems[:3])
                             + "); run `skyfence policy verify`")

    # -- anchor -----------------------------------------------------------------------------

    def _meta(self, c: sqlite3.Connection) -> dict[str, str]:
        return {r[0]: r[1] for r in c.execute("SELECT key, value FROM meta")}

    @staticmethod
    def _db_head(c: sqlite3.Connection) -> tuple[int, str]:
        row = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def _read_anchor(self) -> tuple[dict[str, Any] | None, str | None]:
        """``(anchor, problem)``: the parsed anchor, or None and why (None, None: no file)."""
        assert self.anchor_path is not None
        try:
            data = limits.read_bytes_file(self.anchor_path, kind="json",
                                          max_bytes=_MAX_ANCHOR_BYTES)
        except InputError as exc:
            if not self.anchor_path.exists() and not self.anchor_path.is_symlink():
                return None, None
            return None, f"anchor file unreadable: {exc.message}"
        try:
            anchor = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, "anchor file is not valid JSON"
        ok = (isinstance(anchor, dict) and anchor.get("format") == _ANCHOR_FORMAT
              and isinstance(anchor.get("seq"), int) and isinstance(anchor.get("head"), str))
        pending = anchor.get("pending") if isinstance(anchor, dict) else None
        if ok and pending is not None:
            ok = (isinstance(pending, dict) and isinstance(pending.get("seq"), int)
                  and isinstance(pending.get("head"), str))
        if not ok:
            return None, "anchor file is not a skyfence audit anchor"
        return anchor, None

    def _anchor_problems(self, anchor: dict[str, Any], meta: dict[str, str],
                         head: tuple[int, str], hashes: dict[int, str]) -> tuple[
                             list[str], list[str]]:
        """``(findings, notes)`` comparing the database's chain with the anchor."""
        problems: list[str] = []
        notes: list[str] = []
        if "mac" in anchor:
            if self._key is None:
                notes.append("the anchor is signed but no key was given (anchor_key or "
                             f"${ANCHOR_KEY_ENV}): its signature was not checked")
            elif not hmac.compare_digest(str(anchor["mac"]), _anchor_mac(self._key, anchor)):
                problems.append("the anchor's signature does not match (anchor forged or "
                                "edited, or another key)")
        elif self._key is not None:
            problems.append("the anchor is not signed although a key is set (anchor "
                            "replaced by an unsigned one)")
        if meta.get("store_id") and anchor.get("store_id") != meta.get("store_id"):
            problems.append(f"the anchor belongs to another store (store id "
                            f"{str(anchor.get('store_id'))[:8]}..., this database "
                            f"{meta['store_id'][:8]}...): the database was swapped")
        seq, h = head
        pending = anchor.get("pending")
        if (seq, h) == (anchor["seq"], anchor["head"]):
            if pending is not None:
                notes.append(f"a write was interrupted before its commit (entry "
                             f"{pending['seq']} was never stored); the next write settles "
                             "the anchor")
            return problems, notes
        if pending is not None and (seq, h) == (pending["seq"], pending["head"]):
            notes.append(f"the last write (up to entry {seq}) committed but its writer stopped "
                         "before finalising the anchor; the next write settles it")
            return problems, notes
        a_seq, a_head = anchor["seq"], anchor["head"]
        if seq < a_seq:
            problems.append(f"the audit log ends at entry {seq} but the anchor records entry "
                            f"{a_seq}: entries were removed (tail truncated) or an older copy "
                            "of the store was put back (rollback)")
        elif hashes.get(a_seq) is not None and hashes[a_seq] != a_head:
            problems.append(f"entry {a_seq}'s hash differs from the anchored head "
                            f"{a_head[:16]}...: the chain was rewritten (re-hashed after an "
                            "edit) or the store replaced")
        elif a_seq == 0 and seq > 0 and a_head != GENESIS_HASH:
            problems.append("the anchor does not match this store's chain")
        else:
            problems.append(f"entries {a_seq + 1}..{seq} come after the anchored head (entry "
                            f"{a_seq}): they were added outside skyfence, or the anchor was "
                            "replaced by an older one")
        return problems, notes

    def _write_anchor(self, meta: dict[str, str], committed: tuple[int, str],
                      pending: tuple[int, str] | None) -> None:
        assert self.anchor_path is not None
        anchor: dict[str, Any] = {
            "format": _ANCHOR_FORMAT, "version": _ANCHOR_VERSION,
            "store_id": meta.get("store_id", ""),
            "seq": committed[0], "head": committed[1],
            "pending": None if pending is None else {"seq": pending[0], "head": pending[1]},
            "written_at": format_utc(datetime.now(UTC)),
        }
        if self._key is not None:
            anchor["mac"] = _anchor_mac(self._key, anchor)
        tmp = self.anchor_path.with_name(self.anchor_path.name + ".tmp")
        data = (json.dumps(anchor, indent=1, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.anchor_path)
        _fsync_dir(self.anchor_path.parent)

    @contextmanager
    def _anchor_lock(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the store's lock file {self._lock_path}: "
                             f"{exc.strerror or exc}") from None
        try:
            deadline = time.monotonic() + self._busy_timeout_s
            delay = 0.002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(f"{self.path}: another writer holds the store for "
                                         f"more than {self._busy_timeout_s:.0f} s") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _check_anchor_for_write(self, c: sqlite3.Connection) -> tuple[dict[str, str], bool]:
        """Before a write: the database must match its anchor. Returns ``(meta, adopt)``;
        ``adopt`` when a store written before anchoring gets its first anchor now."""
        meta = self._meta(c)
        anchor, problem = self._read_anchor()
        head = self._db_head(c)
        if problem is not None:
            raise StoreError(f"{self.path}: {problem}; nothing written: run `skyfence policy "
                             "verify`")
        if anchor is None:
            if meta.get("anchor") == "required":
                raise StoreError(
                    f"{self.path}: its audit anchor {self.anchor_path} is missing, so a "
                    "rollback or truncation could not be ruled out; nothing written. Restore "
                    "the anchor file, or check the store and call PolicyStore.reanchor()")
            return meta, True
        hashes = {} if head[0] == 0 else {
            head[0]: head[1],
            **{int(r[0]): str(r[1]) for r in c.execute(
                "SELECT seq, hash FROM audit WHERE seq = ?", (int(anchor["seq"]),))}}
        problems, _ = self._anchor_problems(anchor, meta, head, hashes)
        if problems:
            raise StoreError(f"{self.path} does not match its audit anchor: {problems[0]}; "
                             "nothing written: run `skyfence policy verify`")
        return meta, False

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, init: bool = False) -> Iterator[sqlite3.Connection]:
        """Lock, ``BEGIN IMMEDIATE``, check the anchor, yield, anchor (pending), ``COMMIT``,
        anchor (final). Any exception rolls everything back and leaves the anchor valid."""
        if not init:
            self._ensure_writable()
        with self._anchor_lock():
            try:
                self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: cannot start a write transaction: {exc}"
                                 ) from None
            anchored = self.anchor_path is not None
            meta: dict[str, str]
            try:
                if init:
                    meta, adopt, before = {}, True, (0, GENESIS_HASH)
                else:
                    meta, adopt = (self._check_anchor_for_write(self._conn) if anchored
                                   else ({}, False))
                    before = self._db_head(self._conn)
                    if anchored and adopt:
                        self._adopt(self._conn, meta)
                        meta = self._meta(self._conn)
                yield self._conn
                after = self._db_head(self._conn)
                if init:
                    meta = self._meta(self._conn)
                if anchored and (after != before or adopt):
                    try:
                        self._write_anchor(meta, before, after if after != before else None)
                    except OSError as exc:
                        raise StoreError(f"cannot write the audit anchor {self.anchor_path}: "
                                         f"{exc.strerror or exc}; nothing stored") from None
                self._retry(lambda: self._conn.execute("COMMIT"))
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            if anchored and (after != before or adopt):
                # committed; if this fails the anchor's pending head covers it (verify notes it)
                with contextlib.suppress(OSError):
                    self._write_anchor(meta, after, None)

    def _adopt(self, c: sqlite3.Connection, meta: dict[str, str]) -> None:
        """First anchor of a store written before anchoring: only over an intact chain."""
        report = self._verify_in(c, None, check_anchor=False, schema=self._inspect())
        if not report.ok:
            raise StoreError(f"{self.path}: the audit chain does not verify ("
                             + "; ".join(str(f) for f in report.findings[:3])
                             + "); refusing to anchor it; nothing written")
        if not meta.get("store_id"):
            c.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)",
                      (str(uuid.uuid4()),))
        c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('anchor', 'required')")

    def reanchor(self) -> str:
        """Write a fresh anchor for the current head after a full check of the chain.

        For a store whose anchor was lost: everything except the anchor must verify. Returns
        the anchored head. The head is only as trustworthy as that check: compare it with one
        recorded elsewhere when rollback is a concern.
        """
        if self.anchor_path is None:
            raise StoreError("an in-memory store has no anchor")
        self._ensure_writable()
        with self._anchor_lock():
            self._retry(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            try:
                report = self._verify_in(self._conn, None, check_anchor=False,
                                         schema=self._inspect())
                if not report.ok:
                    raise StoreError(f"{self.path}: the audit chain does not verify ("
                                     + "; ".join(str(f) for f in report.findings[:3])
                                     + "); refusing to anchor it")
                meta = self._meta(self._conn)
                if not meta.get("store_id"):
                    self._conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)",
                                       (str(uuid.uuid4()),))
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('anchor', 'required')")
                meta = self._meta(self._conn)
                head = self._db_head(self._conn)
                self._write_anchor(meta, head, None)
                self._retry(lambda: self._conn.execute("COMMIT"))
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        return head[1]

    # -- rows -------------------------------------------------------------------------------

    def _insert(self, c: sqlite3.Connection, table: str, values: dict[str, Any], actor: str,
                now: str) -> dict[str, Any]:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cur = c.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(values.values()))
        row = dict(c.execute(f"SELECT * FROM {table} WHERE id = ?", (cur.lastrowid,)).fetchone())
        last = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq = 1 if last is None else int(last["seq"]) + 1
        prev = GENESIS_HASH if last is None else str(last["hash"])
        entry = {"seq": seq, "at": now, "actor": actor, "action": "insert", "table": table,
                 "row_id": row["id"], "content": row}
        c.execute(
            "INSERT INTO audit (seq, at, actor, action, table_name, row_id, content, prev_hash,"
            " hash) VALUES (?, ?, ?, 'insert', ?, ?, ?, ?, ?)",
            (seq, now, actor, table, row["id"], canonical_json(row), prev,
             _entry_hash(prev, entry)),
        )
        return row

    def counts(self) -> dict[str, int]:
        """Rows per table (data tables and ``audit``)."""
        self._require_sound()
        return {t: int(self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in (*DATA_TABLES, "audit")}

    # -- input checks -----------------------------------------------------------------------

    def _time(self, value: Any, field: str, *, not_after_now: bool = False) -> datetime:
        """A UTC instant within [EARLIEST_UTC, LATEST_UTC), optionally not in the future."""
        try:
            dt = to_utc_datetime(value, field, years=(EARLIEST_UTC.year, LATEST_UTC.year - 1),
                                 why="the years the store accepts (those an SGP4 element set "
                                 "can carry)")
        except PolicyError as exc:
            raise InputError(exc.message, field) from None
        if not EARLIEST_UTC <= dt < LATEST_UTC:
            raise InputError(f"{format_utc(dt)} is outside {EARLIEST_UTC.year}-"
                             f"{LATEST_UTC.year - 1}, the years the store accepts (those an "
                             "SGP4 element set can carry)", field)
        if not_after_now:
            now = to_utc_datetime(self._clock(), "clock")
            if dt > now + MAX_CLOCK_SKEW:
                raise InputError(f"{format_utc(dt)} is in the future (now is "
                                 f"{format_utc(now)}); a request or decision cannot be made "
                                 "later than now", field)
        return dt

    @staticmethod
    def _request_id(value: Any, field: str = "request_id") -> int:
        return parse_request_id(value, field)

    def _policy_names_in(self, c: sqlite3.Connection) -> list[str]:
        return [r[0] for r in c.execute(
            "SELECT DISTINCT name FROM policy_versions ORDER BY name")]

    def _require_policy(self, c: sqlite3.Connection, name: str, field: str) -> None:
        if c.execute("SELECT 1 FROM policy_versions WHERE name = ? LIMIT 1",
                     (name,)).fetchone() is None:
            names = self._policy_names_in(c)
            stored = f"stored: {', '.join(names)}" if names else "no policy is stored yet"
            raise InputError(f"no policy named {name!r} in {self.path} ({stored}); apply it "
                             "first (skyfence policy apply FILE) or name a stored policy",
                             field)

    def _check_doc(self, doc: PolicyDoc) -> str:
        """Names in the document, caps on its size; returns its canonical JSON."""
        limits.clean_name(doc.name, "name", error=PolicyError)
        for kind in ("regions", "rules", "moving_rules"):
            for i, item in enumerate(getattr(doc, kind)):
                limits.clean_name(item.name, f"{kind}[{i}].name", error=PolicyError)
        limits.check_tree(doc.model_dump(mode="python"), "policy", error=PolicyError)
        content = canonical_json(doc.content())
        limits.check_text_size(content, "policy", kind="policy", error=PolicyError)
        return content

    # -- policies ---------------------------------------------------------------------------

    def _validate(self, doc: PolicyDoc, source: str) -> None:
        compile_policy(doc, self._resolver, source=source)

    def apply_policy(self, doc: PolicyDoc, *, by: str, comment: str = "",
                     validate: bool = True, source: str = "policy",
                     allow_sweeping: bool = False) -> tuple[PolicyVersion, bool]:
        """Store ``doc`` as the next version of ``doc.name``.

        The policy is compiled first (unknown regions, bad cells and rule conflicts raise
        before anything is written). Returns ``(version, created)``; ``created`` is False when
        the content equals the latest stored version, which is returned unchanged. A sweeping
        change (`sweeping_change`) needs ``allow_sweeping=True``.
        """
        version, created, _ = self.apply_file(doc, by=by, comment=comment, validate=validate,
                                              source=source, allow_sweeping=allow_sweeping)
        return version, created

    def sweeping_change(self, doc: PolicyDoc) -> SweepingChange | None:
        """What storing ``doc`` would sweep away compared with its latest stored version."""
        self._require_sound()
        if isinstance(doc, PolicyFile):
            doc = doc.policy()
        row = self._conn.execute("SELECT * FROM policy_versions WHERE name = ? ORDER BY "
                                 "version DESC LIMIT 1", (doc.name,)).fetchone()
        if row is None:
            return None
        last = PolicyVersion(**dict(row))
        return sweeping_change(last.doc(), doc, last.version)

    def apply_file(self, policy: PolicyDoc, *, by: str, comment: str = "", validate: bool = True,
                   source: str = "policy", allow_sweeping: bool = False
                   ) -> tuple[PolicyVersion, bool, ImportResult]:
        """Store a policy and, for a `PolicyFile`, its request history, in one transaction.

        Returns ``(version, created, import_result)``; see `apply_policy` and `import_history`.
        Nothing is written when anything fails. A version that changes service everywhere
        (every rule removed, or the default flipped; see `sweeping_change`) raises
        `PolicyError` saying what it would change, unless ``allow_sweeping=True``; an allowed
        sweep is recorded in the version's comment.
        """
        self._require_sound()
        by = limits.clean_name(by, "by")
        comment = limits.clean_text(comment, "comment", required=False)
        history: list[RequestSpec] = list(getattr(policy, "requests", []) or [])
        doc = policy.policy() if isinstance(policy, PolicyFile) else policy
        content = self._check_doc(doc)
        if validate:
            self._validate(doc, source)
        self._check_history_regions(history, doc)
        for i, spec in enumerate(history):
            self._check_spec_times(spec, f"requests[{i}]")
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        now = self._now()
        with self._transaction() as c:
            row = c.execute("SELECT * FROM policy_versions WHERE name = ? ORDER BY version DESC"
                            " LIMIT 1", (doc.name,)).fetchone()
            last = PolicyVersion(**dict(row)) if row is not None else None
            if last is not None and last.content_sha256 == digest:
                version, created = last, False
            else:
                sweep = sweeping_change(last.doc(), doc, last.version) if last else None
                if sweep is not None:
                    if not allow_sweeping:
                        raise PolicyError(
                            f"{sweep.describe()}. Nothing stored: if that is intended, apply "
                            "it with allow_sweeping=True (CLI: --allow-sweeping)", source)
                    comment = (f"{comment}; " if comment else "") + f"sweeping: {sweep.describe()}"
                number = 1 if last is None else last.version + 1
                new = self._insert(c, "policy_versions", {
                    "name": doc.name, "version": number, "content": content,
                    "content_sha256": digest, "created_by": by, "created_at": now,
                    "comment": comment}, by, now)
                version, created = PolicyVersion(**new), True
            result = self._import_in(c, history, doc.name, now)
        return version, created, result

    def policy_names(self) -> list[str]:
        """Names of the stored policies."""
        self._require_sound()
        return self._policy_names_in(self._conn)

    def versions(self, name: str | None = None) -> list[PolicyVersion]:
        """Stored versions (of one policy name, or all), oldest first."""
        self._require_sound()
        if name is None:
            rows = self._conn.execute("SELECT * FROM policy_versions ORDER BY name, version")
        else:
            rows = self._conn.execute(
                "SELECT * FROM policy_versions WHERE name = ? ORDER BY version", (name,))
        return [PolicyVersion(**dict(r)) for r in rows]

    def get_version(self, version: int | None = None, name: str = "default") -> PolicyVersion:
        """Version ``version`` of policy ``name`` (the latest when None)."""
        self._require_sound()
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                    or not 1 <= version <= MAX_REQUEST_ID):
            raise InputError(f"a version is a whole number from 1, got {version!r}", "version")
        if version is None:
            row = self._conn.execute("SELECT * FROM policy_versions WHERE name = ? ORDER BY "
                                     "version DESC LIMIT 1", (name,)).fetchone()
        else:
            row = self._conn.execute("SELECT * FROM policy_versions WHERE name = ? AND "
                                     "version = ?", (name, int(version))).fetchone()
        if row is None:
            have = [v.version for v in self.versions(name)]
            names = self.policy_names()
            if not names:
                raise StoreError(f"{self.path}: no policy stored yet; apply one with "
                                 "skyfence policy apply FILE")
            if not have:
                raise StoreError(f"no policy named {name!r} in {self.path}; stored: "
                                 f"{', '.join(names)}")
            raise StoreError(f"policy {name!r} has no version {version}; stored versions: "
                             f"{', '.join(map(str, have))}")
        return PolicyVersion(**dict(row))

    def diff_versions(self, a: int, b: int, t_utc: Any, *, name: str = "default",
                      cells: Any = None) -> tuple[list[RuleChange], PolicyDiff]:
        """Compare versions ``a`` and ``b`` of policy ``name`` at ``t_utc``.

        Returns the rule changes and the per-cell `PolicyDiff` (see `skyfence.policy.diff`);
        regions resolve through the store's resolver (the catalogue by default).
        """
        resolver = self._resolver or catalogue_resolver()
        va, vb = self.get_version(a, name), self.get_version(b, name)
        ca = compile_policy(va.doc(), resolver, source=va.label())
        cb = compile_policy(vb.doc(), resolver, source=vb.label())
        return rule_changes(va.doc(), vb.doc()), diff_policies(ca, cb, t_utc, cells)

    def export_policy(self, version: int | None = None, name: str = "default",
                      fmt: str = "toml") -> str:
        """A stored version as TOML or JSON text (re-readable by `load_policy_file`)."""
        return dump_policy(self.get_version(version, name).doc(), fmt)

    # -- requests and decisions -----------------------------------------------------------

    def _check_region(self, region: str, policy_name: str) -> None:
        """A request's region must be a catalogue name or a region of the current policy."""
        try:
            latest = self.get_version(None, policy_name)
            if region in {r.name for r in latest.doc().regions}:
                return
        except StoreError:
            pass
        if self._resolver is None:
            check_region_name(region)
            return
        check = getattr(self._resolver, "check", None)
        if callable(check):
            check(region)  # a name check that builds no cells
        else:
            self._resolver(region)

    def file_request(
        self,
        *,
        by: str,
        region: str,
        action: str,
        why: str,
        at: Any = None,
        start: Any = None,
        end: Any = None,
        reference: str = "",
        key: str | None = None,
        policy_name: str = "default",
    ) -> Request:
        """Record an activation request; ``at`` defaults to the clock's now.

        Raises `InputError` naming the field for a blank name or one with control characters,
        an unknown action, a time outside 1957-2056 or after now, a window whose end is not
        after its start, or a policy that is not stored; `RegionError` for an unknown region
        (with suggestions).
        """
        self._require_sound()
        by = limits.clean_name(by, "by")
        region = limits.clean_name(region, "region")
        why = limits.clean_text(why, "why")
        reference = limits.clean_text(reference, "reference", required=False)
        policy_name = limits.clean_name(policy_name, "policy_name")
        if key is not None:
            key = limits.clean_name(key, "key")
        spec = self._request_spec(by=by, region=region, action=action, why=why, at=at,
                                  start=start, end=end, reference=reference,
                                  key=key or "-")
        self._check_spec_times(spec, None)
        self._check_region(region, policy_name)
        now = self._now()
        with self._transaction() as c:
            self._require_policy(c, policy_name, "policy_name")
            row = self._insert_request(c, spec, key, policy_name, now)
        return self.request(int(row["id"]))

    def _check_spec_times(self, spec: RequestSpec, prefix: str | None) -> None:
        def fld(name: str) -> str:
            return f"{prefix}.{name}" if prefix else name

        self._time(spec.at, fld("at"), not_after_now=True)
        for name in ("start", "end"):
            value = getattr(spec, name)
            if value is not None:
                self._time(value, fld(name))
        for j, d in enumerate(spec.decisions):
            self._time(d.at, fld(f"decisions[{j}].at"), not_after_now=True)

    def _request_spec(self, **kw: Any) -> RequestSpec:
        from pydantic import ValidationError

        if kw.get("at") is None:
            kw["at"] = self._clock()
        kw = {k: v for k, v in kw.items() if v is not None}
        try:
            return RequestSpec.model_validate(kw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "request"
            msg = str(err["msg"]).removeprefix("Value error, ")
            got = err.get("input")
            shown = repr(got) if len(repr(got)) <= 60 else repr(got)[:57] + "..."
            raise InputError(f"{msg} (got {shown})", field) from None

    def _insert_request(self, c: sqlite3.Connection, spec: RequestSpec, key: str | None,
                        policy_name: str, now: str) -> dict[str, Any]:
        return self._insert(c, "requests", {
            "key": key, "requested_by": spec.by, "region": spec.region, "action": spec.action,
            "window_start": format_utc(spec.start) if spec.start else None,
            "window_end": format_utc(spec.end) if spec.end else None,
            "requested_at": format_utc(spec.at), "why": spec.why,
            "reference": spec.reference, "policy_name": policy_name, "recorded_at": now,
        }, spec.by, now)

    def request(self, request_id: int) -> Request:
        """One request with its decisions; `StoreError` naming the id when missing."""
        self._require_sound()
        rid = self._request_id(request_id)
        row = self._conn.execute("SELECT * FROM requests WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise StoreError(self._missing_request(rid))
        decs = self._conn.execute("SELECT * FROM decisions WHERE request_id = ? ORDER BY id",
                                  (rid,)).fetchall()
        return Request(**dict(row), decisions=tuple(Decision(**dict(d)) for d in decs))

    def _missing_request(self, request_id: Any) -> str:
        ids = [r[0] for r in self._conn.execute("SELECT id FROM requests ORDER BY id")]
        known = (f"known ids: {ids[0]}..{ids[-1]}" if len(ids) > 10
                 else "known ids: " + ", ".join(map(str, ids)) if ids else "no requests stored")
        return f"no request with id {request_id} in {self.path} ({known})"

    def requests(self) -> list[Request]:
        """All requests with their decisions, oldest first."""
        self._require_sound()
        rows = self._conn.execute("SELECT * FROM requests ORDER BY id").fetchall()
        decs: dict[int, list[Decision]] = {}
        for d in self._conn.execute("SELECT * FROM decisions ORDER BY id"):
            decs.setdefault(int(d["request_id"]), []).append(Decision(**dict(d)))
        return [Request(**dict(r), decisions=tuple(decs.get(int(r["id"]), ()))) for r in rows]

    def decide(
        self,
        request_id: int,
        *,
        by: str,
        outcome: str,
        reason: str,
        at: Any = None,
        reference: str = "",
        apply: bool = True,
    ) -> Decision:
        """Record a decision on request ``request_id``.

        ``approved`` with ``apply=True`` also stores a new version of the request's policy
        with a rule for the request (see the module docstring). Raises `AccessError` when
        ``by`` is the actor who filed the request (four eyes), `StoreError` when the request
        does not exist or was already approved / refused, `InputError` naming the field for an
        id outside SQLite's range, an unknown outcome, a blank ``by`` / ``reason`` or one with
        control characters, or a decision time before the request's or after now.
        """
        self._require_sound()
        rid = self._request_id(request_id)
        if outcome not in OUTCOMES:
            raise InputError(f"unknown outcome {str(outcome)[:40]!r}; valid: "
                             f"{', '.join(OUTCOMES)}", "outcome")
        by = limits.clean_name(by, "by")
        reason = limits.clean_text(reason, "reason")
        reference = limits.clean_text(reference, "reference", required=False)
        decided_at = format_utc(self._time(self._clock() if at is None else at, "at",
                                           not_after_now=True))
        now = self._now()
        with self._transaction() as c:
            dec = self._decide_in(c, rid, by=by, outcome=outcome, reason=reason,
                                  decided_at=decided_at, reference=reference, apply=apply,
                                  now=now)
        return dec

    def _decide_in(self, c: sqlite3.Connection, request_id: int, *, by: str, outcome: str,
                   reason: str, decided_at: str, reference: str, apply: bool,
                   now: str) -> Decision:
        req = c.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if req is None:
            raise StoreError(self._missing_request(request_id))
        if same_actor(by, req["requested_by"]):
            raise AccessError(
                f"request {request_id} was filed by {req['requested_by']!r}; {by!r} cannot "
                "decide it (four eyes: the requester never decides their own request)")
        last = c.execute("SELECT * FROM decisions WHERE request_id = ? ORDER BY id DESC "
                         "LIMIT 1", (request_id,)).fetchone()
        if last is not None and last["outcome"] != "deferred":
            raise StoreError(
                f"request {request_id} was already decided: {last['outcome']} by "
                f"{last['decided_by']} at {last['decided_at']} (decision {last['id']}); "
                "approved and refused are final: file a new request")
        if to_utc_datetime(decided_at) < to_utc_datetime(req["requested_at"]):
            raise InputError(f"decision time {decided_at} is before the request's time "
                             f"{req['requested_at']}", "at")
        version_id = None
        if outcome == "approved" and apply:
            version_id = self._apply_request(c, req, by, reason, now)
        row = self._insert(c, "decisions", {
            "request_id": request_id, "decided_by": by, "outcome": outcome, "reason": reason,
            "decided_at": decided_at, "reference": reference, "policy_version_id": version_id,
            "recorded_at": now}, by, now)
        return Decision(**row)

    def _apply_request(self, c: sqlite3.Connection, req: sqlite3.Row, by: str, reason: str,
                       now: str) -> int:
        name = req["policy_name"]
        last = c.execute("SELECT * FROM policy_versions WHERE name = ? ORDER BY version DESC "
                         "LIMIT 1", (name,)).fetchone()
        if last is None:
            raise StoreError(
                f"cannot apply approved request {req['id']}: no policy {name!r} stored; apply "
                "a policy first or record the decision without applying it (--no-apply)")
        doc = PolicyVersion(**dict(last)).doc()
        top = max((r.priority for r in doc.rules), default=0)
        rule = RuleSpec(
            name=f"request-{req['id']}", region=req["region"], action=req["action"],
            priority=top + 1, start=req["window_start"], end=req["window_end"],
            reason=f"request {req['id']} by {req['requested_by']} approved by {by}: {reason}",
            reference=req["reference"] or f"request #{req['id']}",
        )
        new_doc = doc.model_copy(update={"rules": [*doc.rules, rule]})
        new_doc = PolicyDoc.model_validate(new_doc.model_dump(mode="json", exclude_none=True))
        self._validate(new_doc, f"{name} v{int(last['version']) + 1}")
        content = self._check_doc(new_doc)
        row = self._insert(c, "policy_versions", {
            "name": name, "version": int(last["version"]) + 1, "content": content,
            "content_sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
            "created_by": by, "created_at": now,
            "comment": f"approved request {req['id']}"}, by, now)
        return int(row["id"])

    def import_history(self, history: Sequence[RequestSpec], *,
                       policy_name: str = "default") -> ImportResult:
        """Record requests and their decisions from a policy file, all or nothing.

        The policy must be stored. A request whose ``key`` is stored already is skipped when
        its content matches (its decisions missing from the store are added) and is a
        `StoreError` when it differs. Imported approvals do not create policy versions: the
        file's rules already hold them. Four eyes holds for imported decisions too.
        """
        self._require_sound()
        policy_name = limits.clean_name(policy_name, "policy_name")
        self._check_history_regions(history, None, policy_name)
        for i, spec in enumerate(history):
            self._check_spec_times(spec, f"requests[{i}]")
        now = self._now()
        with self._transaction() as c:
            self._require_policy(c, policy_name, "policy_name")
            return self._import_in(c, history, policy_name, now)

    def _check_history_regions(self, history: Sequence[RequestSpec], doc: PolicyDoc | None,
                               policy_name: str = "default") -> None:
        own = {r.name for r in doc.regions} if doc is not None else set()
        for i, spec in enumerate(history):
            if spec.region in own:
                continue
            try:
                self._check_region(spec.region, doc.name if doc is not None else policy_name)
            except RegionError as exc:
                raise RegionError(exc.message, f"requests[{i}].region ({spec.key})") from None

    def _import_in(self, c: sqlite3.Connection, history: Sequence[RequestSpec],
                   policy_name: str, now: str) -> ImportResult:
        added_r = added_d = skipped = 0
        for spec in history:
            row = c.execute("SELECT * FROM requests WHERE key = ?", (spec.key,)).fetchone()
            if row is None:
                row = self._insert_request(c, spec, spec.key, policy_name, now)
                added_r += 1
                have: list[sqlite3.Row] = []
            else:
                self._same_request(row, spec)
                skipped += 1
                have = c.execute("SELECT * FROM decisions WHERE request_id = ? ORDER BY id",
                                 (row["id"],)).fetchall()
            for j, d in enumerate(spec.decisions):
                if j < len(have):
                    h = have[j]
                    if (h["decided_by"], h["outcome"], h["decided_at"]) != (
                            d.by, d.outcome, format_utc(d.at)):
                        raise StoreError(
                            f"request {spec.key!r}: stored decision {h['id']} differs from "
                            f"decision {j} of the file ({d.outcome} by {d.by})")
                    continue
                self._decide_in(c, int(row["id"]), by=d.by, outcome=d.outcome,
                                reason=d.reason, decided_at=format_utc(d.at),
                                reference=d.reference, apply=False, now=now)
                added_d += 1
        return ImportResult(added_r, added_d, skipped)

    @staticmethod
    def _same_request(row: sqlite3.Row, spec: RequestSpec) -> None:
        want = {"requested_by": spec.by, "region": spec.region, "action": spec.action,
                "requested_at": format_utc(spec.at), "why": spec.why,
                "window_start": format_utc(spec.start) if spec.start else None,
                "window_end": format_utc(spec.end) if spec.end else None}
        diff = [k for k, v in want.items() if row[k] != v]
        if diff:
            raise StoreError(f"request {spec.key!r} is stored (id {row['id']}) with different "
                             f"{', '.join(diff)}; history records cannot be changed")

    # -- audit --------------------------------------------------------------------------------

    def audit_entries(self) -> list[dict[str, Any]]:
        """The audit log, oldest first, as dicts (``content`` as stored text)."""
        self._require_sound()
        return [dict(r) for r in self._conn.execute("SELECT * FROM audit ORDER BY seq")]

    def head(self) -> str:
        """Hash of the newest audit entry (64 zeros for an empty log); record it elsewhere."""
        self._require_sound()
        return self._db_head(self._conn)[1]

    def verify(self, expected_head: str | None = None) -> AuditReport:
        """Check the schema, the audit chain, every data row and the anchor; never writes.

        Returns an `AuditReport` whose findings name the table and the row id (``seq`` for the
        audit table) of each edited, deleted or unaudited row, each missing, altered or extra
        trigger, and any mismatch with the anchor (truncation, rollback, re-hashed chain,
        entries added outside the API). ``expected_head`` is a head recorded elsewhere.
        """
        anchor_file = None if self.anchor_path is None else str(self.anchor_path)
        for _ in range(5):
            before = self._read_anchor() if self.anchor_path is not None else (None, None)
            self._conn.execute("BEGIN")  # one read snapshot for the whole check
            try:
                schema = self._inspect()
                if any(f.table == "store" or f.problem.startswith("table missing")
                       for f in schema):
                    return AuditReport(entries=0, head=GENESIS_HASH, findings=tuple(schema),
                                       anchor=anchor_file)
                report = self._verify_in(self._conn, expected_head, schema=schema,
                                         check_anchor=self.anchor_path is not None,
                                         anchor=before)
            finally:
                self._conn.execute("ROLLBACK")
            after = self._read_anchor() if self.anchor_path is not None else (None, None)
            if after == before:
                break
        return report

    def _verify_in(self, c: sqlite3.Connection, expected_head: str | None, *,
                   check_anchor: bool, schema: Sequence[AuditFinding] = (),
                   anchor: tuple[dict[str, Any] | None, str | None] = (None, None)
                   ) -> AuditReport:
        findings: list[AuditFinding] = list(schema)
        notes: list[str] = []
        prev, expect_seq = GENESIS_HASH, 1
        audited: dict[tuple[str, int], tuple[int, str]] = {}
        hashes: dict[int, str] = {}
        rows = c.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        for r in rows:
            seq = int(r["seq"])
            if seq != expect_seq:
                gap = f"{expect_seq}" if seq == expect_seq + 1 else f"{expect_seq}..{seq - 1}"
                findings.append(AuditFinding("audit", expect_seq,
                                             f"audit entries {gap} missing (deleted)"))
            if r["prev_hash"] != prev:
                findings.append(AuditFinding("audit", seq, "prev_hash does not match the "
                                             "previous entry's hash (chain broken)"))
            try:
                content = json.loads(r["content"])
            except (json.JSONDecodeError, TypeError):
                content = r["content"]
            entry = {"seq": seq, "at": r["at"], "actor": r["actor"], "action": r["action"],
                     "table": r["table_name"], "row_id": r["row_id"], "content": content}
            try:
                good = _entry_hash(str(r["prev_hash"]), entry) == r["hash"]
            except (TypeError, ValueError):
                good = False
            if not good:
                findings.append(AuditFinding("audit", seq, "hash does not match the entry "
                                             "(audit entry edited)"))
            try:
                audited[(str(r["table_name"]), int(r["row_id"]))] = (seq, str(r["content"]))
            except (TypeError, ValueError):
                findings.append(AuditFinding("audit", seq, "row_id is not a number (edited)"))
            hashes[seq] = str(r["hash"])
            prev, expect_seq = str(r["hash"]), seq + 1
        for table in DATA_TABLES:
            seen: set[int] = set()
            for row in c.execute(f"SELECT * FROM {table} ORDER BY id"):
                rid = int(row["id"])
                seen.add(rid)
                got = audited.get((table, rid))
                if got is None:
                    findings.append(AuditFinding(table, rid, "row has no audit entry (added "
                                                 "outside the store, or its entry deleted)"))
                else:
                    try:
                        same = canonical_json(dict(row)) == got[1]
                    except ValueError:
                        same = False
                    if not same:
                        findings.append(AuditFinding(table, rid, f"row differs from audit "
                                                     f"entry {got[0]} (row edited)"))
            for (t, rid), (seq, _) in sorted(audited.items()):
                if t == table and rid not in seen:
                    findings.append(AuditFinding(table, rid, f"row missing; audit entry {seq} "
                                                 "records it (row deleted)"))
        head_seq = int(rows[-1]["seq"]) if rows else 0
        head = prev
        anchor_state = ""
        if check_anchor:
            meta = self._meta(c)
            parsed, problem = anchor
            if problem is not None:
                findings.append(AuditFinding("anchor", None, problem))
                anchor_state = "unreadable"
            elif parsed is None:
                anchor_state = "missing"
                if rows or meta.get("anchor") == "required":
                    legacy = meta.get("anchor") != "required"
                    findings.append(AuditFinding("anchor", None, (
                        f"anchor file {self.anchor_path} missing: truncation and rollback "
                        "cannot be ruled out" + (" (the store predates anchoring; its next "
                                                 "write creates the anchor)" if legacy else ""))))
                else:
                    anchor_state = "none yet (an empty store)"
            else:
                problems, more = self._anchor_problems(parsed, meta, (head_seq, head), hashes)
                findings.extend(AuditFinding("anchor", None, p) for p in problems)
                notes.extend(more)
                if problems:
                    anchor_state = "does not match"
                else:
                    signed = ("signed, signature checked" if self._key is not None
                              else "signed, signature not checked" if "mac" in parsed
                              else "unsigned")
                    anchor_state = f"matches entry {head_seq} ({signed})"
        if expected_head is not None and expected_head != head:
            findings.append(AuditFinding("audit", None, f"head {head[:16]}... differs from "
                                         f"the expected {str(expected_head)[:16]}... (log "
                                         "truncated or rewritten)"))
        return AuditReport(entries=len(rows), head=head, findings=tuple(findings),
                           notes=tuple(notes),
                           anchor=None if self.anchor_path is None else str(self.anchor_path),
                           anchor_state=anchor_state)


def verify_store(path: str | Path, *, expected_head: str | None = None,
                 anchor_key: str | bytes | None = None) -> AuditReport:
    """Verify the store at ``path`` read-only (see `PolicyStore.verify`); never writes.

    A file that is not a skyfence store (empty, another SQLite database, damaged schema) is
    reported as findings; a missing file or one that is not SQLite at all is a `StoreError`.
    """
    with PolicyStore(path, create=False, anchor_key=anchor_key) as store:
        return store.verify(expected_head=expected_head)
