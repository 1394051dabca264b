"""The durable policy store: versioned policies, activation requests, decisions, audit log.

SQLite (stdlib), WAL journal, ``synchronous=FULL``, foreign keys on. Every change runs in one
``BEGIN IMMEDIATE`` transaction that writes the data row(s) and their audit entries together,
so a crash leaves either all of a change or none of it; concurrent writers queue on SQLite's
write lock (busy timeout plus retries).

Tables (all append-only: rows are inserted, never updated or deleted; triggers refuse UPDATE
and DELETE):

``policy_versions``
    ``(id, name, version, content, content_sha256, created_by, created_at, comment)``;
    ``content`` is the policy's canonical JSON. `PolicyStore.apply_policy` adds version n+1
    of a name, unless the content equals the latest version's (then nothing is written).
``requests``
    who asks (``requested_by``), for which ``region``, which ``action`` (on/off), the
    requested window, when (``requested_at``), why, a reference, and an optional ``key``
    (stable identifier of imported history records).
``decisions``
    ``(request_id -> requests.id, decided_by, outcome, reason, decided_at, reference,
    policy_version_id)``. Outcomes: ``approved``, ``refused``, ``deferred``. A ``deferred``
    request may be decided again; an ``approved`` or ``refused`` one is final (a second
    decision is a `StoreError`: file a new request instead). Approving with ``apply=True``
    (the default) adds a new version of the request's policy holding a rule for the request
    (priority one above the highest in the policy, so the newest approval wins) and records
    that version's id in the decision, in the same transaction.
``audit``
    ``(seq, at, actor, action, table_name, row_id, content, prev_hash, hash)``: one entry per
    inserted data row holding the row's full canonical content, chained by
    ``hash = sha256(prev_hash + canonical JSON of the entry)`` from 64 zeros.

`PolicyStore.verify` recomputes the chain and checks every data row against its audit entry:
an edited row (data or audit), a deleted row (data or audit), a row added outside the API and
a dropped append-only trigger are each reported with table and id. Deleting the newest audit
entries together with their data rows leaves a shorter, valid chain: compare the head hash
with one recorded elsewhere (``verify(expected_head=...)``) to detect that.

Times are given by the caller or come from the injected ``clock`` (UTC now by default).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputError, RegionError, StoreError
from .diff import PolicyDiff, RuleChange, diff_policies, rule_changes
from .io import PolicyFile, RequestSpec, canonical_json, dump_policy
from .rules import (
    PolicyDoc,
    RegionResolver,
    RuleSpec,
    compile_policy,
    format_utc,
    to_utc_datetime,
)

__all__ = [
    "DATA_TABLES",
    "GENESIS_HASH",
    "OUTCOMES",
    "AuditFinding",
    "AuditReport",
    "Decision",
    "ImportResult",
    "PolicyStore",
    "PolicyVersion",
    "Request",
    "utc_now",
]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit entry."""
OUTCOMES = ("approved", "refused", "deferred")
"""Valid decision outcomes; ``deferred`` is the only one that is not final."""
DATA_TABLES = ("policy_versions", "requests", "decisions")
"""Tables whose rows the audit log covers."""
_APPEND_ONLY = ("audit", *DATA_TABLES)
_SCHEMA_VERSION = "1"

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


def _triggers_sql() -> list[str]:
    parts = []
    for table in _APPEND_ONLY:
        for op in ("UPDATE", "DELETE"):
            parts.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
            )
    return parts


def utc_now() -> datetime:
    """The default clock: the current time, UTC (aware)."""
    return datetime.now(UTC)


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
    """Result of `PolicyStore.verify`: ``ok`` when there are no findings."""

    entries: int
    head: str
    findings: tuple[AuditFinding, ...]

    @property
    def ok(self) -> bool:
        """True when the chain and every audited row check out."""
        return not self.findings


@dataclass(frozen=True)
class ImportResult:
    """What `PolicyStore.import_history` added and skipped (already stored)."""

    requests_added: int
    decisions_added: int
    requests_skipped: int


# ---------------------------------------------------------------------------------------------
# the store


def _entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


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
        Create the file when missing (default). With False a missing file is a `StoreError`.
    busy_timeout_s : float
        How long a writer waits for another writer's lock before retrying.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        resolver: RegionResolver | None = None,
        create: bool = True,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not create and not Path(self.path).is_file():
            raise StoreError(f"no policy store at {self.path}; apply a policy first "
                             "(skyfence policy apply FILE) or give --db")
        self._clock = clock
        self._resolver = resolver
        self._busy_timeout_s = busy_timeout_s
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         timeout=busy_timeout_s, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            mode = self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone())
            if self.path != ":memory:" and str(mode[0]).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch the journal to WAL (got {mode[0]})")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite store: {exc}") from None

    # -- plumbing ---------------------------------------------------------------------------

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

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls everything back."""
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

    def _init_schema(self) -> None:
        have = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if have:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != _SCHEMA_VERSION:
                raise StoreError(f"{self.path}: unknown store schema "
                                 f"{row[0] if row else '(none)'}; expected {_SCHEMA_VERSION}")
            return
        with self._transaction() as c:
            for stmt in [*_SCHEMA.split(";\n"), *_triggers_sql()]:
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)",
                      (_SCHEMA_VERSION,))

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
        return {t: int(self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in (*DATA_TABLES, "audit")}

    # -- policies ---------------------------------------------------------------------------

    def _validate(self, doc: PolicyDoc, source: str) -> None:
        compile_policy(doc, self._resolver, source=source)

    def apply_policy(self, doc: PolicyDoc, *, by: str, comment: str = "",
                     validate: bool = True, source: str = "policy") -> tuple[PolicyVersion, bool]:
        """Store ``doc`` as the next version of ``doc.name``.

        The policy is compiled first (unknown regions, bad cells and rule conflicts raise
        before anything is written). Returns ``(version, created)``; ``created`` is False when
        the content equals the latest stored version, which is returned unchanged.
        """
        version, created, _ = self.apply_file(doc, by=by, comment=comment, validate=validate,
                                              source=source)
        return version, created

    def apply_file(self, policy: PolicyDoc, *, by: str, comment: str = "", validate: bool = True,
                   source: str = "policy") -> tuple[PolicyVersion, bool, ImportResult]:
        """Store a policy and, for a `PolicyFile`, its request history, in one transaction.

        Returns ``(version, created, import_result)``; see `apply_policy` and `import_history`.
        Nothing is written when anything fails.
        """
        if not by.strip():
            raise InputError("who applies the policy must be named", "by")
        history: list[RequestSpec] = list(getattr(policy, "requests", []) or [])
        doc = policy.policy() if isinstance(policy, PolicyFile) else policy
        if validate:
            self._validate(doc, source)
        self._check_history_regions(history, doc)
        content = canonical_json(doc.content())
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        now = self._now()
        with self._transaction() as c:
            last = c.execute("SELECT * FROM policy_versions WHERE name = ? ORDER BY version DESC"
                             " LIMIT 1", (doc.name,)).fetchone()
            if last is not None and last["content_sha256"] == digest:
                version, created = PolicyVersion(**dict(last)), False
            else:
                number = 1 if last is None else int(last["version"]) + 1
                row = self._insert(c, "policy_versions", {
                    "name": doc.name, "version": number, "content": content,
                    "content_sha256": digest, "created_by": by, "created_at": now,
                    "comment": comment}, by, now)
                version, created = PolicyVersion(**row), True
            result = self._import_in(c, history, doc.name, now)
        return version, created, result

    def policy_names(self) -> list[str]:
        """Names of the stored policies."""
        return [r[0] for r in self._conn.execute(
            "SELECT DISTINCT name FROM policy_versions ORDER BY name")]

    def versions(self, name: str | None = None) -> list[PolicyVersion]:
        """Stored versions (of one policy name, or all), oldest first."""
        if name is None:
            rows = self._conn.execute("SELECT * FROM policy_versions ORDER BY name, version")
        else:
            rows = self._conn.execute(
                "SELECT * FROM policy_versions WHERE name = ? ORDER BY version", (name,))
        return [PolicyVersion(**dict(r)) for r in rows]

    def get_version(self, version: int | None = None, name: str = "default") -> PolicyVersion:
        """Version ``version`` of policy ``name`` (the latest when None)."""
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
        from . import _regions

        resolver = self._resolver or _regions.catalogue_resolver()
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
            from . import _regions

            _regions.check_region_name(region)
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

        Raises `RegionError` for an unknown region (with suggestions), `InputError` for an
        unknown action, an empty ``by`` / ``why`` or a window whose end is not after its start.
        """
        spec = self._request_spec(by=by, region=region, action=action, why=why, at=at,
                                  start=start, end=end, reference=reference,
                                  key=key or "-")
        self._check_region(region, policy_name)
        now = self._now()
        with self._transaction() as c:
            row = self._insert_request(c, spec, key, policy_name, now)
        return self.request(int(row["id"]))

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
            raise InputError(f"{msg} (got {err.get('input')!r})", field) from None

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
        row = self._conn.execute("SELECT * FROM requests WHERE id = ?",
                                 (int(request_id),)).fetchone()
        if row is None:
            raise StoreError(self._missing_request(request_id))
        decs = self._conn.execute("SELECT * FROM decisions WHERE request_id = ? ORDER BY id",
                                  (int(request_id),)).fetchall()
        return Request(**dict(row), decisions=tuple(Decision(**dict(d)) for d in decs))

    def _missing_request(self, request_id: Any) -> str:
        ids = [r[0] for r in self._conn.execute("SELECT id FROM requests ORDER BY id")]
        known = (f"known ids: {ids[0]}..{ids[-1]}" if len(ids) > 10
                 else "known ids: " + ", ".join(map(str, ids)) if ids else "no requests stored")
        return f"no request with id {request_id} in {self.path} ({known})"

    def requests(self) -> list[Request]:
        """All requests with their decisions, oldest first."""
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
        with a rule for the request (see the module docstring). Raises `StoreError` when the
        request does not exist or was already approved / refused, `InputError` for an unknown
        outcome, an empty ``by`` / ``reason`` or a decision time before the request's.
        """
        if outcome not in OUTCOMES:
            raise InputError(f"unknown outcome {outcome!r}; valid: {', '.join(OUTCOMES)}",
                             "outcome")
        for fld, val in (("by", by), ("reason", reason)):
            if not str(val).strip():
                raise InputError("must not be empty", fld)
        decided_at = format_utc(to_utc_datetime(self._clock() if at is None else at, "at"))
        now = self._now()
        with self._transaction() as c:
            dec = self._decide_in(c, int(request_id), by=by, outcome=outcome, reason=reason,
                                  decided_at=decided_at, reference=reference, apply=apply,
                                  now=now)
        return dec

    def _decide_in(self, c: sqlite3.Connection, request_id: int, *, by: str, outcome: str,
                   reason: str, decided_at: str, reference: str, apply: bool,
                   now: str) -> Decision:
        req = c.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if req is None:
            raise StoreError(self._missing_request(request_id))
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
        content = canonical_json(new_doc.content())
        row = self._insert(c, "policy_versions", {
            "name": name, "version": int(last["version"]) + 1, "content": content,
            "content_sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
            "created_by": by, "created_at": now,
            "comment": f"approved request {req['id']}"}, by, now)
        return int(row["id"])

    def import_history(self, history: Sequence[RequestSpec], *,
                       policy_name: str = "default") -> ImportResult:
        """Record requests and their decisions from a policy file, all or nothing.

        A request whose ``key`` is stored already is skipped when its content matches (its
        decisions missing from the store are added) and is a `StoreError` when it differs.
        Imported approvals do not create policy versions: the file's rules already hold them.
        """
        self._check_history_regions(history, None, policy_name)
        now = self._now()
        with self._transaction() as c:
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
        return [dict(r) for r in self._conn.execute("SELECT * FROM audit ORDER BY seq")]

    def head(self) -> str:
        """Hash of the newest audit entry (64 zeros for an empty log); record it elsewhere."""
        row = self._conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return GENESIS_HASH if row is None else str(row[0])

    def verify(self, expected_head: str | None = None) -> AuditReport:
        """Recompute the audit chain and check every data row against its audit entry.

        Returns an `AuditReport` whose findings name the table and the row id (``seq`` for the
        audit table) of each edited, deleted or unaudited row.
        """
        import json

        findings: list[AuditFinding] = []
        c = self._conn
        prev, expect_seq = GENESIS_HASH, 1
        audited: dict[tuple[str, int], tuple[int, str]] = {}
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
            except json.JSONDecodeError:
                content = r["content"]
            entry = {"seq": seq, "at": r["at"], "actor": r["actor"], "action": r["action"],
                     "table": r["table_name"], "row_id": r["row_id"], "content": content}
            if _entry_hash(r["prev_hash"], entry) != r["hash"]:
                findings.append(AuditFinding("audit", seq, "hash does not match the entry "
                                             "(audit entry edited)"))
            audited[(str(r["table_name"]), int(r["row_id"]))] = (seq, str(r["content"]))
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
                elif canonical_json(dict(row)) != got[1]:
                    findings.append(AuditFinding(table, rid, f"row differs from audit entry "
                                                 f"{got[0]} (row edited)"))
            for (t, rid), (seq, _) in sorted(audited.items()):
                if t == table and rid not in seen:
                    findings.append(AuditFinding(table, rid, f"row missing; audit entry {seq} "
                                                 "records it (row deleted)"))
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        for table in _APPEND_ONLY:
            for op in ("update", "delete"):
                if f"{table}_no_{op}" not in names:
                    findings.append(AuditFinding(table, None, f"trigger {table}_no_{op} "
                                                 "missing (append-only guard dropped)"))
        head = prev
        if expected_head is not None and expected_head != head:
            findings.append(AuditFinding("audit", None, f"head {head[:16]}... differs from "
                                         f"the expected {expected_head[:16]}... (log "
                                         "truncated or rewritten)"))
        return AuditReport(entries=len(rows), head=head, findings=tuple(findings))
