"""What-if jobs: queued in SQLite (``svc_jobs``), run by `skyfence.service.runs` in worker
processes, results written as files under the jobs folder.

The HTTP server only submits and reads: the engine runs in a `ProcessPoolExecutor` (spawned
processes, so the server's threads and SQLite connections are never forked), which keeps the
server responsive while a job computes. A job's parameters are stored as JSON when it is
submitted; its state moves ``queued -> running -> done | failed``. Jobs left ``queued`` or
``running`` by a server that stopped are marked ``failed`` ("server stopped") at the next
start: nothing is silently lost or silently re-run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import secrets
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ResourceError, SkyfenceError, StoreError

__all__ = ["JOB_FILES", "JobManager", "run_job"]

JOB_FILES = ("regions.csv", "regions.json", "terminals.csv", "terminals.json", "points.csv",
             "diff.geojson", "policy-diff.csv", "policy-a.toml", "policy-b.toml")
"""Result files a job may write (the only names served from a job's folder)."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_job(kind: str, payload: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """Worker-process entry point: run one what-if job; returns its JSON summary.

    ``payload`` holds plain JSON (scenario and policies as dicts), validated again here.
    """
    from ..policy.rules import PolicyDoc
    from ..scenario import parse_scenario
    from . import runs

    scenario = parse_scenario(payload["scenario"], "job scenario")
    if kind in ("policies", "change"):
        return runs.whatif_policies(
            scenario, PolicyDoc.model_validate(payload["a"]), PolicyDoc.model_validate(
                payload["b"]), label_a=payload["label_a"], label_b=payload["label_b"],
            at=payload.get("at"), out_dir=out_dir)
    if kind == "outage":
        return runs.whatif_outage(scenario, list(payload["down"]),
                                  PolicyDoc.model_validate(payload["policy"]),
                                  label=payload["label"], out_dir=out_dir)
    raise ValueError(f"unknown job kind {kind!r}")


def _run_map(scenario: dict[str, Any]) -> Any:
    from ..scenario import parse_scenario
    from . import runs

    return runs.compute_map(parse_scenario(scenario, "map scenario"))


class JobManager:
    """Submits what-if jobs to worker processes and records them in ``svc_jobs``.

    Parameters
    ----------
    db_path : str
        The store file (the ``svc_`` tables exist: `UserStore` created them).
    jobs_dir : Path
        Where each job's folder (named by its id) is written.
    workers : int
        Worker processes.
    max_pending : int
        Jobs queued or running at most; more is a `ResourceError` (HTTP 429).
    """

    def __init__(self, db_path: str, jobs_dir: Path, *, workers: int = 1,
                 max_pending: int = 4) -> None:
        self.db_path = db_path
        self.jobs_dir = Path(jobs_dir)
        self.workers = max(1, int(workers))
        self.max_pending = max(1, int(max_pending))
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[str, Future[Any]] = {}
        self._conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 30000")
        self._conn.execute("PRAGMA synchronous = FULL")
        with self._lock:
            self._conn.execute(
                "UPDATE svc_jobs SET state = 'failed', finished_at = ?, error = 'the server "
                "stopped before the job finished; submit it again' WHERE state IN "
                "('queued', 'running')", (_now(),))

    # -- pool ---------------------------------------------------------------------------------

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def submit_call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in a worker process (a module-level function); a broken pool
        (a worker killed) is replaced once."""
        with self._lock:
            try:
                return self._executor().submit(fn, *args)
            except BrokenProcessPool:
                self._pool = None
                return self._executor().submit(fn, *args)

    def submit_map(self, scenario: dict[str, Any]) -> Future[Any]:
        """Compute the console map (`runs.compute_map`) in a worker process."""
        return self.submit_call(_run_map, scenario)

    def close(self) -> None:
        """Stop the workers (running jobs are abandoned and marked failed at next start)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._conn.close()

    # -- jobs ---------------------------------------------------------------------------------

    def submit(self, kind: str, payload: dict[str, Any], params: dict[str, Any], *,
               by: str) -> str:
        """Queue a job; returns its id. ``params`` (what the user asked) is stored as given."""
        with self._lock:
            busy = [j for j, f in self._pending.items() if not f.done()]
            if len(busy) >= self.max_pending:
                raise ResourceError(f"{len(busy)} what-if jobs are queued or running (at most "
                                    f"{self.max_pending}); try again when one has finished")
            job_id = secrets.token_hex(8)
            out_dir = self.jobs_dir / job_id
            try:
                out_dir.mkdir(parents=True, exist_ok=False)
            except OSError as exc:
                raise StoreError(f"cannot create the job folder {out_dir}: {exc}") from None
            self._conn.execute(
                "INSERT INTO svc_jobs (id, kind, params, submitted_by, submitted_at, state) "
                "VALUES (?, ?, ?, ?, ?, 'queued')",
                (job_id, kind, json.dumps(params, ensure_ascii=False, sort_keys=True), by,
                 _now()))
        try:
            fut = self.submit_call(run_job, kind, payload, str(out_dir))
        except Exception as exc:  # the pool could not start: record it, never leave 'queued'
            self._finish(job_id, None, f"could not start a worker: {exc}")
            raise StoreError(f"could not start a worker process: {exc}") from None
        with self._lock:
            self._pending[job_id] = fut
            self._conn.execute("UPDATE svc_jobs SET state = 'running', started_at = ? WHERE "
                               "id = ? AND state = 'queued'", (_now(), job_id))
        fut.add_done_callback(functools.partial(self._done, job_id))
        return job_id

    def _done(self, job_id: str, fut: Future[Any]) -> None:
        try:
            summary = fut.result()
            self._finish(job_id, summary, None)
        except SkyfenceError as exc:
            self._finish(job_id, None, str(exc))
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            self._finish(job_id, None, "the worker process died (out of memory or killed)")
        except BaseException as exc:  # a bug in a job must not take the server down
            self._finish(job_id, None, f"internal error: {type(exc).__name__}: {exc}")

    def _finish(self, job_id: str, summary: dict[str, Any] | None, error: str | None) -> None:
        with self._lock:
            self._pending.pop(job_id, None)
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed while shutting down
                self._conn.execute(
                    "UPDATE svc_jobs SET state = ?, finished_at = ?, error = ?, summary = ? "
                    "WHERE id = ?",
                    ("failed" if error else "done", _now(), error,
                     None if summary is None else json.dumps(summary, ensure_ascii=False,
                                                             allow_nan=False), job_id))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job as a dict (``params`` and ``summary`` parsed), or None."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM svc_jobs WHERE id = ?",
                                     (job_id,)).fetchone()
        return None if row is None else self._as_dict(row)

    def list(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Jobs, newest first, and the total count."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM svc_jobs ORDER BY submitted_at DESC, id "
                                      "LIMIT ? OFFSET ?", (limit, offset)).fetchall()
            total = int(self._conn.execute("SELECT COUNT(*) FROM svc_jobs").fetchone()[0])
        return [self._as_dict(r) for r in rows], total

    @staticmethod
    def _as_dict(row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        d["params"] = json.loads(d["params"])
        d["summary"] = json.loads(d["summary"]) if d["summary"] else None
        return d

    def file_path(self, job_id: str, name: str) -> Path | None:
        """The path of a result file of a finished job (only `JOB_FILES` names), or None."""
        if name not in JOB_FILES:
            return None
        job = self.get(job_id)
        if job is None or job["state"] != "done":
            return None
        files = (job["summary"] or {}).get("files", [])
        p = self.jobs_dir / job_id / name
        return p if name in files and p.is_file() else None
