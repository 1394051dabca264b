"""The HTTP API and web console of skyfence (FastAPI): `create_app`.

Every ``/api`` endpoint except ``GET /api/health`` needs ``Authorization: Bearer TOKEN``
(`skyfence.service.users`); the actor recorded in requests, decisions, policy versions and the
audit log is the token's user. Roles: ``viewer`` reads (policies, requests, audit, checks,
map, jobs), ``requester`` also files requests and submits what-if jobs, ``approver`` also
decides requests (never one it filed: four eyes), ``admin`` also stores policies and manages
users.

Errors are JSON ``{"error": "one line"}`` (validation errors add ``detail``): 400 unreadable
body, 401 no / bad / revoked token, 403 role too low or four-eyes, 404 unknown id or name,
409 conflicts (a request already decided, the map not ready), 413 body or batch too large,
422 invalid values, 429 rate limit or job queue full. The web console (``/``) is static files
served by the app, with MapLibre GL JS from the local npm cache (no CDN).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

import skyfence

from ..errors import AccessError, InputError, ResourceError, SkyfenceError, StoreError
from ..policy.model import PolicyDoc, RegionSpec, RuleSpec, format_utc, to_utc_datetime
from ..policy.store import PolicyStore, PolicyVersion
from . import runs
from .checks import CellLookup, check_point_values
from .jobs import JOB_FILES, JobManager
from .limits import BodyLimitMiddleware, RateLimiter, UsageLogger
from .mapview import MapNotReadyError, MapState, PolicyCache, region_change
from .schemas import (
    MAX_CHECK_POINTS,
    CheckBatchIn,
    DecisionIn,
    ErrorOut,
    MapWhatIfIn,
    PolicyIn,
    PolicyRef,
    RequestIn,
    UserIn,
    WhatIfChange,
    WhatIfIn,
    WhatIfOutage,
    WhatIfPolicies,
    clean_text,
)
from .users import ROLES, UserStore, role_at_least, token_id_of

__all__ = ["ApiError", "Principal", "ServiceConfig", "create_app", "npm_dir", "static_dir"]

log = logging.getLogger("skyfence.service")

MAX_ID = 2**62
"""Largest id accepted in a path (SQLite integers are 64-bit)."""


class ApiError(Exception):
    """An HTTP error with a one-line message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.headers = headers or {}
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, their role and the token used."""

    name: str
    role: str
    token_id: str


@dataclass
class ServiceConfig:
    """How `create_app` runs.

    ``scenario`` is the ground and window of the map and of what-if jobs (the built-in
    default scenario when None); ``map_enabled`` computes the map at startup. Rate limits are
    per token (``rate_per_s`` sustained, ``burst`` at once; 0 disables) and per client address
    for calls without a valid token (``unauth_*``).
    """

    db: Path
    scenario: Any | None = None
    map_enabled: bool = True
    workers: int = 1
    rate_per_s: float = 50.0
    burst: float = 200.0
    unauth_rate_per_s: float = 20.0
    unauth_burst: float = 200.0
    max_body_bytes: int = 4 * 2**20
    max_jobs: int = 4
    jobs_dir: Path | None = None
    usage_flush_s: float = 0.25
    map_data: Any | None = None
    """A precomputed `runs.MapData` to serve instead of computing one (tests, notebooks)."""


def static_dir() -> Path:
    """The web console's own files (HTML, JS, CSS), shipped with the package."""
    return Path(__file__).with_name("static")


def npm_dir(probe: str = "maplibre-gl/dist/maplibre-gl.js") -> Path | None:
    """Where npm front-end packages are installed (the folder holding ``probe``):
    ``$SKYFENCE_NPM_DIR`` or the user cache's ``npm/node_modules`` (``make setup`` installs
    them there, like world-atlas)."""
    import os

    from ..ground import cache_dir

    env = os.environ.get("SKYFENCE_NPM_DIR")
    candidates = [Path(env)] if env else []
    candidates += [cache_dir() / "npm" / "node_modules",
                   Path.home() / ".cache" / "skyfence" / "npm" / "node_modules"]
    for c in candidates:
        if (c / probe).is_file():
            return c
    return None


VENDOR_FILES = {"maplibre-gl.js": ("maplibre-gl/dist/maplibre-gl.js", "text/javascript"),
                "maplibre-gl.css": ("maplibre-gl/dist/maplibre-gl.css", "text/css"),
                "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js",
                                         "text/javascript"),
                "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", "text/css")}

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; worker-src 'self' blob:; child-src blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


# ---------------------------------------------------------------------------------------------
# the service object (state shared by the endpoints)


class Service:
    """Everything the endpoints share: stores, caches, limits, jobs, the map."""

    def __init__(self, config: ServiceConfig) -> None:
        from ..policy import catalogue_resolver
        from ..scenario import default_scenario

        self.config = config
        self.db = str(config.db)
        self.scenario = config.scenario if config.scenario is not None else \
            runs.scenario_with_window(default_scenario(), duration="3h", step="5m")
        self.edition = self.scenario.ground.edition
        self.resolver = catalogue_resolver(self.edition)
        # creates the store's schema (and checks it), then ours; a store that fails its checks
        # is served read-only, so `GET /api/audit/verify` can say what is wrong (writes: 409)
        self.store_sound = True
        try:
            with PolicyStore(self.db, resolver=self.resolver):
                pass
        except StoreError:
            if not Path(self.db).is_file():
                raise
            self.store_sound = False
        self.auth = UserStore(self.db)  # used on the event-loop thread only
        self.usage = UsageLogger(self.db, flush_s=config.usage_flush_s)
        self.limiter = RateLimiter(config.rate_per_s, config.burst)
        self.unauth_limiter = RateLimiter(config.unauth_rate_per_s, config.unauth_burst)
        self.policies = PolicyCache(self.edition)
        self.whatif_policies = PolicyCache(self.edition)  # map what-ifs never evict versions
        jobs_dir = config.jobs_dir or Path(self.db).with_name(Path(self.db).name + ".jobs")
        self.jobs = JobManager(self.db, jobs_dir, workers=config.workers,
                               max_pending=config.max_jobs)
        self.map = MapState(self.scenario if config.map_enabled else None, self.policies)
        self._local = threading.local()
        self._opened: list[Any] = []
        self._open_lock = threading.Lock()
        import sqlite3

        self.loop_db = sqlite3.connect(self.db, check_same_thread=False)
        self.loop_db.row_factory = sqlite3.Row
        # event-loop caches, emptied by refresh_caches() whenever the file changed
        self._data_version: int | None = None
        self._auth_cache: dict[str, tuple[Any, str]] = {}
        self._version_cache: dict[tuple[str, int | None], tuple[int, int] | None] = {}

    # thread-local connections: one PolicyStore / UserStore / reader per worker thread
    def store(self) -> PolicyStore:
        s = getattr(self._local, "store", None)
        if s is None:
            s = PolicyStore(self.db, resolver=self.resolver, create=self.store_sound)
            self._local.store = s
            with self._open_lock:
                self._opened.append(s)
        return s

    def users(self) -> UserStore:
        u = getattr(self._local, "users", None)
        if u is None:
            u = UserStore(self.db)
            self._local.users = u
            with self._open_lock:
                self._opened.append(u)
        return u

    def reader(self) -> Any:
        r = getattr(self._local, "reader", None)
        if r is None:
            import sqlite3

            r = sqlite3.connect(self.db, check_same_thread=False)
            r.row_factory = sqlite3.Row
            r.execute("PRAGMA busy_timeout = 30000")
            self._local.reader = r
            with self._open_lock:
                self._opened.append(r)
        return r

    def close(self) -> None:
        self.jobs.close()
        self.usage.close()
        self.auth.close()
        self.loop_db.close()
        with self._open_lock:
            for x in self._opened:
                with contextlib.suppress(Exception):
                    x.close()
            self._opened.clear()

    # -- authentication -----------------------------------------------------------------------

    def authorize(self, request: Request, creds: HTTPAuthorizationCredentials | None,
                  need: str) -> Principal:
        client = request.client.host if request.client else "unknown"
        state = request.scope.setdefault("state", {})
        if creds is None or not creds.credentials:
            self._unauth_limit(client)
            raise ApiError(401, "missing bearer token: send Authorization: Bearer TOKEN",
                           {"WWW-Authenticate": "Bearer"})
        token = creds.credentials
        self.refresh_caches()
        try:
            hit = self._auth_cache.get(token)
            user, tid = hit if hit is not None else self.auth.authenticate(token)
            if hit is None and len(self._auth_cache) < 10_000:
                self._auth_cache[token] = (user, tid)
        except AccessError as exc:
            state["skyfence_auth"] = (token_id_of(token), None)
            self._unauth_limit(client)
            raise ApiError(401, f"invalid token: {exc}",
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        state["skyfence_auth"] = (tid, user.name)
        wait = self.limiter.take("token:" + tid)
        if wait > 0:
            raise ApiError(429, f"rate limit of token {tid} exceeded "
                                f"({self.limiter.rate:g} requests/s, burst "
                                f"{self.limiter.burst:g}); retry in {wait:.2f} s",
                           {"Retry-After": str(max(1, int(np.ceil(wait))))})
        if not role_at_least(user.role, need):
            raise ApiError(403, f"user {user.name!r} has role {user.role}; this needs {need} "
                                "or higher")
        return Principal(user.name, user.role, tid)

    def _unauth_limit(self, client: str) -> None:
        wait = self.unauth_limiter.take("client:" + client)
        if wait > 0:
            raise ApiError(429, f"too many requests without a valid token from {client}; "
                                f"retry in {wait:.2f} s",
                           {"Retry-After": str(max(1, int(np.ceil(wait))))})

    # -- policies -----------------------------------------------------------------------------

    def refresh_caches(self) -> None:
        """Forget cached tokens and version ids when anything was committed to the file since
        (``PRAGMA data_version`` changes on every commit by another connection): a revoked
        token or a new policy version counts from the next request on."""
        dv = self.loop_db.execute("PRAGMA data_version").fetchone()[0]
        if dv != self._data_version:
            self._data_version = dv
            self._auth_cache.clear()
            self._version_cache.clear()

    def latest_version_id(self, name: str, version: int | None) -> tuple[int, int] | None:
        """(row id, version number) of a stored version, via the event-loop connection
        (cached until the next commit, see `refresh_caches`)."""
        key = (name, version)
        if key in self._version_cache:
            return self._version_cache[key]
        found = self._latest_version_id(name, version)
        if len(self._version_cache) < 1000:
            self._version_cache[key] = found
        return found

    def _latest_version_id(self, name: str, version: int | None) -> tuple[int, int] | None:
        if version is None:
            row = self.loop_db.execute("SELECT id, version FROM policy_versions WHERE name = ? "
                                       "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        else:
            row = self.loop_db.execute("SELECT id, version FROM policy_versions WHERE name = ? "
                                       "AND version = ?", (name, version)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def get_version(self, name: str, version: int | None) -> PolicyVersion:
        try:
            return self.store().get_version(version, name)
        except StoreError as exc:
            text = str(exc).replace(f" in {self.db}", "").replace(self.db, "the store")
            raise ApiError(404, text) from None

    def compiled(self, name: str, version: int | None) -> tuple[Any, CellLookup, PolicyVersion]:
        v = self.get_version(name, version)
        compiled, lookup = self.policies.for_version(v)
        return compiled, lookup, v

    def resolve_ref(self, ref: PolicyRef, where: str) -> tuple[PolicyDoc, str]:
        """A policy reference of a what-if: stored version or inline document (validated)."""
        if ref.policy is not None:
            doc = parse_policy_json(ref.policy, where).policy()
            runs.compile_doc(doc, self.edition, where)  # unknown regions: 422 now, not later
            return doc, f"{where} (inline {doc.name})"
        try:
            v = self.store().get_version(ref.version, ref.name)
        except StoreError as exc:
            raise InputError(str(exc), where) from None
        return v.doc(), v.label()


def parse_policy_json(data: dict[str, Any], where: str) -> Any:
    """A policy given as a JSON object, validated like a policy file."""
    from ..policy.io import loads_policy

    try:
        text = json.dumps(data, ensure_ascii=False)
    except (RecursionError, ValueError):
        raise InputError("policy object nested too deeply or not JSON", where) from None
    return loads_policy(text, "json", source=where)


def _t_ns(at: str | None, where: str) -> tuple[int, str]:
    """(ns since 1970 UTC, ISO text) of ``at``, or of now."""
    if at is not None:
        return _parse_at(at, where)
    t = to_utc_datetime(np.datetime64(time.time_ns(), "ns"))
    return int(np.datetime64(t.replace(tzinfo=None), "ns").astype(np.int64)), format_utc(t)


@functools.lru_cache(maxsize=4096)
def _parse_at(at: str, where: str) -> tuple[int, str]:
    t = to_utc_datetime(at, where)
    return int(np.datetime64(t.replace(tzinfo=None), "ns").astype(np.int64)), format_utc(t)


# ---------------------------------------------------------------------------------------------
# errors


def _safe(text: Any) -> str:
    s = str(text)
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(status: int, message: str, detail: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": _safe(message).replace("\n", " ")}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next((e.get("ctx") or {} for e in errors if e.get("type") == "json_invalid"), {})
        return error_response(400, f"request body is not valid JSON: {ctx.get('error', '')}")
    detail = [{"loc": [_safe(x) for x in e.get("loc", ())], "msg": _safe(e.get("msg", "")),
               "type": _safe(e.get("type", ""))} for e in errors[:50]]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(x) for x in first["loc"] if x not in ("body", "query", "path"))
    return error_response(422, f"{where or 'request'}: {first['msg']}", detail)


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors for everything; a 500 only for a bug (logged with its traceback)."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail),
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(SkyfenceError)
    async def _skyfence(request: Request, exc: SkyfenceError) -> JSONResponse:
        text = str(exc)
        svc = getattr(request.app.state, "svc", None)
        if svc is not None:  # the server's file paths are none of the client's business
            text = text.replace(f" in {svc.db}", "").replace(str(svc.db), "the store")
        if isinstance(exc, MapNotReadyError):
            return error_response(409, text)
        if isinstance(exc, AccessError):
            return error_response(403, text)
        if isinstance(exc, StoreError):
            return error_response(409, text)
        if isinstance(exc, InputError):
            return error_response(422, text)
        if isinstance(exc, ResourceError):
            return error_response(413, text)
        return error_response(422, text)

    @app.exception_handler(RecursionError)
    async def _deep(_: Request, exc: RecursionError) -> JSONResponse:
        return error_response(400, "input nested too deeply")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); this is a bug: "
                                   "please report it with the server log")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorOut} for c in codes}


AUTH_ERRORS = (401, 403, 429)


# ---------------------------------------------------------------------------------------------
# usage log middleware


class UsageMiddleware:
    """Logs every ``/api`` call made with a token (valid or not) to ``svc_token_uses``."""

    def __init__(self, app: Any, service_ref: dict[str, Service]) -> None:
        self.app = app
        self.ref = service_ref

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def logging_send(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                auth = scope.get("state", {}).get("skyfence_auth")
                svc = self.ref.get("svc")
                if auth is not None and svc is not None:
                    tid, user = auth
                    client = scope.get("client") or ("unknown", 0)
                    target = scope.get("path", "")
                    qs = scope.get("query_string", b"")
                    if qs:
                        target += "?" + qs.decode("latin-1")
                    method = scope.get("method", "")
                    record = partial(svc.usage.record, tid, user, f"api {client[0]}", method,
                                     _safe(target), int(msg["status"]))
                    if method in ("GET", "HEAD", "OPTIONS"):
                        record()
                    else:  # a change: attributable before it is acknowledged
                        await anyio.to_thread.run_sync(partial(record, wait=True))
            await send(msg)

        await self.app(scope, receive, logging_send)


# ---------------------------------------------------------------------------------------------
# dependencies and parameter types (module level: FastAPI resolves annotations here)

bearer = HTTPBearer(auto_error=False, description="API token from `skyfence users add`")


def svc_of(request: Request) -> Service:
    """The `Service` of the running app."""
    svc: Service = request.app.state.svc
    return svc


def require(need: str) -> Any:
    """A dependency authenticating the caller and checking its role reaches ``need``."""

    async def dependency(request: Request, creds: Annotated[
            HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
        return svc_of(request).authorize(request, creds, need)

    dependency.__name__ = f"require_{need}"
    return Depends(dependency)


Viewer = Annotated[Principal, require("viewer")]
Requester = Annotated[Principal, require("requester")]
Approver = Annotated[Principal, require("approver")]
Admin = Annotated[Principal, require("admin")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows to return")]
PolicyName = Annotated[str, PathParam(min_length=1, max_length=200)]
VersionNo = Annotated[int, PathParam(ge=1, le=2**31)]
RowId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
JobId = Annotated[str, PathParam(min_length=1, max_length=64, pattern="^[0-9a-f]+$")]
Step = Annotated[int, Query(ge=0, le=10**7, description="time step index")]
UserName = Annotated[str, PathParam(min_length=1, max_length=64)]
FileName = Annotated[str, PathParam(min_length=1, max_length=64)]
QPolicy = Annotated[str, Query(min_length=1, max_length=200)]


# ---------------------------------------------------------------------------------------------
# the app


def create_app(config: ServiceConfig) -> FastAPI:
    """The FastAPI application (see the module docstring); the map starts computing in a
    worker process when the app starts."""
    ref: dict[str, Service] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = Service(config)
        ref["svc"] = svc
        app.state.svc = svc
        if config.map_data is not None:
            svc.map.set_data(config.map_data)
        elif config.map_enabled:
            svc.map.start(svc.jobs.submit_map)
        try:
            yield
        finally:
            svc.close()
            ref.pop("svc", None)

    app = FastAPI(
        title="skyfence operator console API",
        version=skyfence.__version__,
        description=(__doc__ or "").split("\n\n", 1)[1] if __doc__ else "",
        lifespan=lifespan,
        docs_url=None,  # served below with local Swagger UI assets (no CDN)
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(UsageMiddleware, service_ref=ref)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    def policy_name_ok(name: str, where: str) -> str:
        try:
            return clean_text(name)
        except ValueError as exc:
            raise InputError(str(exc), where) from None

    # -- health and identity ------------------------------------------------------------------

    @app.get("/api/health", tags=["service"], summary="Liveness (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": skyfence.__version__}

    @app.get("/api/me", tags=["service"], summary="Who the token belongs to",
             responses=_errors(*AUTH_ERRORS))
    async def me(p: Viewer) -> dict[str, Any]:
        return {"name": p.name, "role": p.role, "token_id": p.token_id,
                "roles": list(ROLES[: ROLES.index(p.role) + 1])}

    # -- checks -------------------------------------------------------------------------------

    async def _lookup(request: Request, policy: str, version: int | None
                      ) -> tuple[CellLookup, str, int]:
        svc = svc_of(request)
        key = svc.latest_version_id(policy, version)
        if key is None:
            v = await anyio.to_thread.run_sync(svc.get_version, policy, version)  # 404 text
            key = (v.id, v.version)
        hit = svc.policies.peek(("version", key[0]))
        if hit is None:
            _, lookup, _v = await anyio.to_thread.run_sync(svc.compiled, policy, key[1])
        else:
            lookup = hit[1]
        return lookup, policy, key[1]

    @app.get("/api/check", tags=["policy"], summary="Is a terminal at this point served?",
             responses=_errors(404, 422, *AUTH_ERRORS))
    async def check_one(
        request: Request, p: Viewer,
        lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False,
                                    description="WGS-84 latitude, deg")],
        lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False,
                                    description="WGS-84 longitude, deg")],
        at: Annotated[str | None, Query(max_length=64, description="UTC ISO 8601; default "
                                        "now")] = None,
        terminal_id: Annotated[str | None, Query(max_length=200)] = None,
        speed_kmh: Annotated[float | None, Query(ge=0, le=1e5, allow_inf_nan=False)] = None,
        registered: Annotated[bool | None, Query(
            description="whether the terminal is registered (whitelisted); unknown counts as "
            "not registered")] = None,
        policy: Annotated[str, Query(min_length=1, max_length=200)] = "default",
        version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    ) -> Response:
        """The policy's answer for one point: the res-5 cell, served, the deciding rule, its
        reason and dish-style code. ``served`` is the policy's decision (whether a satellite is
        in view is the map's business)."""
        policy = policy_name_ok(policy, "policy")
        if terminal_id is not None:
            terminal_id = policy_name_ok(terminal_id, "terminal_id")
        if at is not None:
            at = policy_name_ok(at, "at")
        check_point_values(lat, lon, speed_kmh, "point")
        t_ns, t_text = _t_ns(at, "at")
        lookup, name, number = await _lookup(request, policy, version)
        ans = lookup.check([lat], [lon], t_ns, [speed_kmh], [registered])[0]
        body = ans.as_dict()
        body.update({"at": t_text, "lat": lat, "lon": lon, "terminal_id": terminal_id,
                     "speed_kmh": speed_kmh, "registered": registered, "policy": name,
                     "version": number})
        return JSONResponse(body)

    @app.post("/api/check", tags=["policy"], summary="Check up to 10,000 points at once",
              responses=_errors(400, 404, 413, 422, *AUTH_ERRORS))
    async def check_many(request: Request, p: Viewer, body: CheckBatchIn) -> Response:
        """Answers for each point, in order; more than 10,000 points is HTTP 413."""
        if len(body.points) > MAX_CHECK_POINTS:
            raise ApiError(413, f"{len(body.points)} points in one call; at most "
                                f"{MAX_CHECK_POINTS}")
        t_ns, t_text = _t_ns(body.at, "at")
        lookup, name, number = await _lookup(request, body.policy, body.version)
        pts = body.points
        answers = await anyio.to_thread.run_sync(
            lookup.check, [q.lat for q in pts], [q.lon for q in pts], t_ns,
            [q.speed_kmh for q in pts], [q.registered for q in pts])
        results = []
        for q, a in zip(pts, answers, strict=True):
            d = a.as_dict()
            d["terminal_id"] = q.terminal_id
            results.append(d)
        return JSONResponse({"at": t_text, "policy": name, "version": number,
                             "n": len(results), "results": results})

    # -- policies -----------------------------------------------------------------------------

    def _version_dict(v: PolicyVersion, content: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"id": v.id, "name": v.name, "version": v.version,
                             "created_by": v.created_by, "created_at": v.created_at,
                             "comment": v.comment, "content_sha256": v.content_sha256}
        if content:
            d["policy"] = json.loads(v.content)
        return d

    @app.get("/api/policies", tags=["policy"], summary="Stored policies",
             responses=_errors(*AUTH_ERRORS))
    def list_policies(request: Request, p: Viewer) -> dict[str, Any]:
        rows = svc_of(request).reader().execute(
            "SELECT name, MAX(version) AS latest, COUNT(*) AS versions FROM policy_versions "
            "GROUP BY name ORDER BY name").fetchall()
        return {"policies": [dict(r) for r in rows]}

    @app.get("/api/policies/{name}", tags=["policy"], summary="Latest version of a policy",
             responses=_errors(404, 422, *AUTH_ERRORS))
    def get_policy(request: Request, p: Viewer, name: PolicyName) -> dict[str, Any]:
        return _version_dict(svc_of(request).get_version(policy_name_ok(name, "name"), None),
                             content=True)

    @app.get("/api/policies/{name}/versions", tags=["policy"],
             summary="Versions of a policy (oldest first)",
             responses=_errors(404, 422, *AUTH_ERRORS))
    def policy_versions(request: Request, p: Viewer, name: PolicyName) -> dict[str, Any]:
        name = policy_name_ok(name, "name")
        vs = svc_of(request).store().versions(name)
        if not vs:
            raise ApiError(404, f"no policy named {name!r}")
        return {"name": name, "versions": [_version_dict(v) for v in vs]}

    @app.get("/api/policies/{name}/versions/{version}", tags=["policy"],
             summary="One stored version with its rules",
             responses=_errors(404, 422, *AUTH_ERRORS))
    def policy_version(request: Request, p: Viewer, name: PolicyName,
                       version: VersionNo) -> dict[str, Any]:
        v = svc_of(request).get_version(policy_name_ok(name, "name"), version)
        return _version_dict(v, content=True)

    @app.post("/api/policies", tags=["policy"], status_code=201,
              summary="Store a policy as a new version (admin)",
              responses=_errors(400, 409, 413, 422, *AUTH_ERRORS))
    def post_policy(request: Request, p: Admin, body: PolicyIn) -> Response:
        """Compiles the policy first (unknown regions, conflicts: 422); 201 with the new
        version, or 200 when the latest version already holds exactly this content. Request
        history inside a policy file is imported by the CLI only (it names other actors)."""
        from ..policy.io import loads_policy

        if (body.policy is None) == (body.toml is None):
            raise InputError("give exactly one of policy (JSON object) or toml (text)",
                             "policy")
        if body.toml is not None:
            try:
                text = clean_text(body.toml, multiline=True)
            except ValueError as exc:
                raise InputError(str(exc), "toml") from None
            pf = loads_policy(text, "toml", source="request body")
        else:
            pf = parse_policy_json(body.policy or {}, "policy")
        if pf.requests:
            raise InputError("a policy sent to the API may not carry request history (its "
                             "records name other actors); import history with skyfence "
                             "policy apply", "policy.requests")
        store = svc_of(request).store()
        v, created, _ = store.apply_file(pf.policy(), by=p.name, comment=body.comment,
                                         source="POST /api/policies")
        out = _version_dict(v)
        out["created"] = created
        return JSONResponse(out, status_code=201 if created else 200)

    # -- requests -----------------------------------------------------------------------------

    def _request_dicts(reader: Any, rows: list[Any]) -> list[dict[str, Any]]:
        ids = [int(r["id"]) for r in rows]
        decs: dict[int, list[dict[str, Any]]] = {}
        if ids:
            marks = ",".join("?" * len(ids))
            for d in reader.execute(f"SELECT * FROM decisions WHERE request_id IN ({marks}) "
                                    "ORDER BY id", ids):
                decs.setdefault(int(d["request_id"]), []).append(dict(d))
        out = []
        for r in rows:
            d = dict(r)
            d["decisions"] = decs.get(int(r["id"]), [])
            d["status"] = d["decisions"][-1]["outcome"] if d["decisions"] else "pending"
            out.append(d)
        return out

    @app.post("/api/requests", tags=["requests"], status_code=201,
              summary="File an activation request (requester)",
              responses=_errors(400, 413, 422, *AUTH_ERRORS))
    def post_request(request: Request, p: Requester, body: RequestIn) -> Response:
        """Service ``on`` / ``off`` over a region or a list of H3 cells for a window; the
        requester is the token's user. A cell list becomes a region of kind ``cells`` in the
        policy (a version adding the region definition only: no rule, service unchanged) so
        the approval's rule can name it."""
        svc = svc_of(request)
        store = svc.store()
        if (body.region is None) == (body.cells is None):
            raise InputError("give exactly one of region (a name) or cells (H3 cells)",
                             "region")
        try:  # a request concerns a stored policy (its approval adds a version of it)
            store.get_version(None, body.policy)
        except StoreError as exc:
            raise InputError(str(exc), "policy") from None
        region = body.region
        if body.cells is not None:
            region = _cells_region(svc, store, p, body)
        req = store.file_request(by=p.name, region=region or "", action=body.action,
                                 why=body.why, start=body.start, end=body.end,
                                 reference=body.reference, policy_name=body.policy)
        return JSONResponse(req.as_dict(), status_code=201)

    @app.get("/api/requests", tags=["requests"], summary="Requests with their decisions "
             "(newest first, paged)", responses=_errors(422, *AUTH_ERRORS))
    def list_requests(request: Request, p: Viewer, offset: Offset = 0, limit: Limit = 100,
                      status: Annotated[str | None, Query(
                          pattern="^(pending|approved|refused|deferred)$")] = None,
                      ) -> dict[str, Any]:
        reader = svc_of(request).reader()
        last = ("(SELECT outcome FROM decisions d WHERE d.request_id = r.id ORDER BY d.id DESC "
                "LIMIT 1)")
        where, args = "", []
        if status == "pending":
            where = f" WHERE {last} IS NULL"
        elif status is not None:
            where, args = f" WHERE {last} = ?", [status]
        total = int(reader.execute(f"SELECT COUNT(*) FROM requests r{where}", args)
                    .fetchone()[0])
        rows = reader.execute(f"SELECT * FROM requests r{where} ORDER BY r.id DESC LIMIT ? "
                              "OFFSET ?", [*args, limit, offset]).fetchall()
        return {"total": total, "offset": offset, "limit": limit,
                "items": _request_dicts(reader, rows)}

    @app.get("/api/requests/{request_id}", tags=["requests"], summary="One request",
             responses=_errors(404, 422, *AUTH_ERRORS))
    def get_request(request: Request, p: Viewer, request_id: RowId) -> dict[str, Any]:
        reader = svc_of(request).reader()
        rows = reader.execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchall()
        if not rows:
            raise ApiError(404, f"no request with id {request_id}")
        return _request_dicts(reader, rows)[0]

    @app.post("/api/requests/{request_id}/decision", tags=["requests"],
              summary="Decide a request (approver; never one you filed)",
              responses=_errors(400, 404, 409, 422, *AUTH_ERRORS))
    def decide(request: Request, p: Approver, request_id: RowId,
               body: DecisionIn) -> dict[str, Any]:
        """``approved`` adds a policy version with a rule for the request; ``refused`` and
        ``approved`` are final (409 for a second decision), ``deferred`` may be decided
        again. 403 when the token's user filed the request (four eyes)."""
        store = svc_of(request).store()
        try:
            req = store.request(request_id)
        except StoreError:
            raise ApiError(404, f"no request with id {request_id}") from None
        if req.requested_by == p.name:
            raise ApiError(403, f"four eyes: {p.name!r} filed request {request_id} and may "
                                "not decide it; another approver must")
        dec = store.decide(request_id, by=p.name, outcome=body.outcome, reason=body.reason,
                           reference=body.reference)
        out = dict(dec.__dict__)
        out["policy_version"] = None
        if dec.policy_version_id is not None:
            row = svc_of(request).reader().execute(
                "SELECT name, version FROM policy_versions WHERE id = ?",
                (dec.policy_version_id,)).fetchone()
            if row is not None:
                out["policy_version"] = {"name": row["name"], "version": row["version"]}
        return out

    # -- audit --------------------------------------------------------------------------------

    @app.get("/api/audit", tags=["audit"], summary="The hash-chained audit log (paged)",
             responses=_errors(422, *AUTH_ERRORS))
    def audit(request: Request, p: Viewer, offset: Offset = 0, limit: Limit = 100,
              order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc") -> dict[str, Any]:
        reader = svc_of(request).reader()
        total = int(reader.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
        rows = reader.execute(f"SELECT * FROM audit ORDER BY seq {order.upper()} LIMIT ? "
                              "OFFSET ?", (limit, offset)).fetchall()
        items = []
        for r in rows:
            d = dict(r)
            d["table"] = d.pop("table_name")
            with contextlib.suppress(TypeError, ValueError):
                d["content"] = json.loads(d["content"])
            items.append(d)
        head = reader.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return {"total": total, "offset": offset, "limit": limit,
                "head": head[0] if head else "0" * 64, "items": items}

    @app.get("/api/audit/verify", tags=["audit"], summary="Recompute the audit chain",
             responses=_errors(*AUTH_ERRORS))
    def audit_verify(request: Request, p: Viewer) -> dict[str, Any]:
        report = svc_of(request).store().verify()
        return {"ok": report.ok, "entries": report.entries, "head": report.head,
                "findings": [str(f) for f in report.findings]}

    # -- users --------------------------------------------------------------------------------

    @app.get("/api/users", tags=["users"], summary="Users and their tokens (admin)",
             responses=_errors(*AUTH_ERRORS))
    def list_users(request: Request, p: Admin) -> dict[str, Any]:
        users = svc_of(request).users()
        toks: dict[str, list[dict[str, Any]]] = {}
        for t in users.tokens():
            toks.setdefault(t["user_name"], []).append(t)
        return {"users": [{**u.as_dict(), "tokens": toks.get(u.name, [])}
                          for u in users.users()]}

    @app.post("/api/users", tags=["users"], status_code=201,
              summary="Add a user; the answer holds its token, shown once (admin)",
              responses=_errors(409, 422, *AUTH_ERRORS))
    def add_user(request: Request, p: Admin, body: UserIn) -> Response:
        from .users import check_user_name

        check_user_name(body.name, "name")
        users = svc_of(request).users()
        try:
            user, token = users.add_user(body.name, body.role, by=p.name)
        except StoreError as exc:
            raise ApiError(409, str(exc)) from None
        return JSONResponse({**user.as_dict(), "token": token}, status_code=201)

    @app.delete("/api/users/{name}", tags=["users"],
                summary="Revoke a user and all their tokens (admin)",
                responses=_errors(404, 409, 422, *AUTH_ERRORS))
    def revoke_user(request: Request, p: Admin,
                    name: UserName) -> dict[str, Any]:
        users = svc_of(request).users()
        name = policy_name_ok(name, "name")
        try:
            users.user(name)
        except StoreError:
            raise ApiError(404, f"no user named {name!r}") from None
        return users.revoke_user(name, by=p.name).as_dict()

    # -- what-if jobs -------------------------------------------------------------------------

    def _job_out(job: dict[str, Any]) -> dict[str, Any]:
        files = (job.get("summary") or {}).get("files", []) if job["state"] == "done" else []
        job = dict(job)
        job["links"] = {f: f"/api/jobs/{job['id']}/files/{f}" for f in files}
        return job

    @app.post("/api/whatif", tags=["what-if"], status_code=202,
              summary="Submit a what-if job (requester): two policies, a change, an outage",
              responses=_errors(400, 404, 413, 422, *AUTH_ERRORS))
    def post_whatif(request: Request, p: Requester,
                    body: Annotated[WhatIfIn, Body()]) -> Response:
        """Runs the engine over the server's scenario (optionally another window) in a worker
        process; poll ``GET /api/jobs/{id}``. Kinds: ``policies`` (A vs B), ``change`` (a
        region or cells switched on / off on top of a base policy), ``outage`` (gateways or
        PoPs down)."""
        svc = svc_of(request)
        sc = svc.scenario
        if body.window is not None:
            w = body.window
            sc = runs.scenario_with_window(sc, start=w.start, duration=w.duration, step=w.step)
        payload: dict[str, Any] = {"scenario": sc.model_dump()}
        if isinstance(body, WhatIfPolicies):
            a, la = svc.resolve_ref(body.a, "a")
            b, lb = svc.resolve_ref(body.b, "b")
            payload.update(a=a.content(), b=b.content(), label_a=la, label_b=lb, at=body.at)
        elif isinstance(body, WhatIfChange):
            a, la = svc.resolve_ref(body.base, "base")
            b = _change_doc(svc, a, body)
            runs.compile_doc(b, svc.edition, "what-if change")
            what = body.region or f"{len(body.cells or [])} cells"
            payload.update(a=a.content(), b=b.content(), label_a=la,
                           label_b=f"{la} + {what} {body.action}", at=body.at)
        else:
            assert isinstance(body, WhatIfOutage)
            doc, label = svc.resolve_ref(body.policy, "policy")
            runs.check_outages(sc, list(body.down))
            payload.update(down=list(body.down), policy=doc.content(), label=label)
        at = getattr(body, "at", None)
        if at is not None:
            _t_ns(at, "at")
        try:
            job_id = svc.jobs.submit(body.kind, payload, body.model_dump(mode="json"),
                                     by=p.name)
        except ResourceError as exc:
            raise ApiError(429, str(exc), {"Retry-After": "10"}) from None
        job = svc.jobs.get(job_id)
        assert job is not None
        return JSONResponse(_job_out(job), status_code=202)

    @app.get("/api/jobs", tags=["what-if"], summary="What-if jobs (newest first)",
             responses=_errors(422, *AUTH_ERRORS))
    def list_jobs(request: Request, p: Viewer, offset: Offset = 0,
                  limit: Limit = 50) -> dict[str, Any]:
        jobs, total = svc_of(request).jobs.list(limit, offset)
        return {"total": total, "offset": offset, "limit": limit,
                "items": [_job_out(j) for j in jobs]}

    @app.get("/api/jobs/{job_id}", tags=["what-if"], summary="Status and result links of a job",
             responses=_errors(404, 422, *AUTH_ERRORS))
    def get_job(request: Request, p: Viewer, job_id: JobId) -> dict[str, Any]:
        job = svc_of(request).jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id}")
        return _job_out(job)

    @app.get("/api/jobs/{job_id}/files/{name}", tags=["what-if"],
             summary="A result file of a finished job",
             responses=_errors(404, 422, *AUTH_ERRORS))
    def job_file(request: Request, p: Viewer, job_id: JobId,
                 name: FileName) -> Response:
        path = svc_of(request).jobs.file_path(job_id, name)
        if path is None:
            raise ApiError(404, f"no file {name!r} for job {job_id} (files: "
                                f"{', '.join(JOB_FILES)}, once the job is done)")
        media = {".csv": "text/csv", ".json": "application/json",
                 ".geojson": "application/geo+json", ".toml": "application/toml"}
        return FileResponse(path, media_type=media.get(path.suffix, "application/octet-stream"),
                            filename=name)

    # -- the map ------------------------------------------------------------------------------

    def _policy_for_map(svc: Service, policy: str) -> tuple[Any, Any, str]:
        compiled, _lookup, v = svc.compiled(policy_name_ok(policy, "policy"), None)
        return compiled, svc.map.status_for(("version", v.id), compiled), v.label()

    @app.get("/api/map", tags=["map"], summary="State and metadata of the console map",
             responses=_errors(*AUTH_ERRORS))
    def map_info(request: Request, p: Viewer) -> dict[str, Any]:
        svc = svc_of(request)
        m = svc.map
        out: dict[str, Any] = {"state": m.state, "error": m.error, "edition": svc.edition,
                               "scenario": svc.scenario.name}
        data = m.data
        if data is not None:
            out.update({
                "steps": [format_utc(t) for t in data.t_utc], "step_s": data.step_s,
                "n_cells": data.n_cells, "n_points": data.n_points,
                "regions": list(data.regions), "network": data.network_enabled,
                "terminals": [{"index": data.n_cells + k, "name": n,
                               "lat_deg": float(data.lat_deg[data.n_cells + k]),
                               "lon_deg": float(data.lon_deg[data.n_cells + k])}
                              for k, n in enumerate(data.terminal_names)],
                "bounds": [float(data.lon_deg.min()), float(data.lat_deg.min()),
                           float(data.lon_deg.max()), float(data.lat_deg.max())],
                "timings_s": data.timings_s,
            })
        return out

    gz_cache: dict[str, tuple[bytes, bytes]] = {}

    def _raw_json(request: Request, key: str, data: bytes,
                  media: str = "application/geo+json") -> Response:
        """Cached JSON bytes, gzip-compressed (once) when the client accepts it."""
        if "gzip" not in request.headers.get("accept-encoding", "") or len(data) < 4096:
            return Response(content=data, media_type=media)
        hit = gz_cache.get(key)
        if hit is None or hit[0] is not data:
            import gzip

            hit = (data, gzip.compress(data, compresslevel=6))
            gz_cache[key] = hit
        return Response(content=hit[1], media_type=media,
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})

    @app.get("/api/map/cells", tags=["map"], summary="Map cells and terminals (GeoJSON)",
             responses=_errors(409, *AUTH_ERRORS))
    def map_cells(request: Request, p: Viewer) -> Response:
        return _raw_json(request, "cells", svc_of(request).map.cells_geojson())

    @app.get("/api/map/borders", tags=["map"],
             summary="Borders of the geofence's boundary edition (GeoJSON)",
             responses=_errors(*AUTH_ERRORS))
    def map_borders(request: Request, p: Viewer) -> Response:
        return _raw_json(request, "borders", svc_of(request).map.borders_geojson())

    @app.get("/api/map/sites", tags=["map"], summary="Gateways and PoPs (GeoJSON)",
             responses=_errors(409, *AUTH_ERRORS))
    def map_sites(request: Request, p: Viewer) -> Response:
        return _raw_json(request, "sites", svc_of(request).map.sites_geojson())

    @app.get("/api/map/status", tags=["map"],
             summary="Served / blocked / uncovered per point at a step",
             responses=_errors(404, 409, 422, *AUTH_ERRORS))
    def map_status(request: Request, p: Viewer, step: Step = 0,
                   policy: QPolicy = "default") -> dict[str, Any]:
        """Status codes per point (cells, then terminals): 2 served, 1 blocked (covered but
        the policy says off), 0 uncovered, under the latest stored version of ``policy``."""
        svc = svc_of(request)
        svc.map.require()
        svc.map.step_index(step)
        _compiled, st, label = _policy_for_map(svc, policy)
        row = st.status[step]
        return {"step": step, "t_utc": format_utc(svc.map.require().t_utc[step]), "policy": label,
                "status": row.astype(int).tolist(),
                "counts": {"served": int((row == 2).sum()), "blocked": int((row == 1).sum()),
                           "uncovered": int((row == 0).sum())}}

    @app.get("/api/map/satellites", tags=["map"], summary="Sub-satellite points at a step",
             responses=_errors(409, 422, *AUTH_ERRORS))
    def map_satellites(request: Request, p: Viewer, step: Step = 0) -> dict[str, Any]:
        return svc_of(request).map.satellites(step)

    @app.get("/api/map/point", tags=["map"],
             summary="A cell or terminal at a step: rule, reason, satellites, RTT, path",
             responses=_errors(404, 409, 422, *AUTH_ERRORS))
    def map_point(request: Request, p: Viewer,
                  index: Annotated[int, Query(ge=0, le=10**9, description="point index")],
                  step: Step = 0, policy: QPolicy = "default") -> dict[str, Any]:
        svc = svc_of(request)
        svc.map.require()
        compiled, st, label = _policy_for_map(svc, policy)
        return svc.map.point_detail(index, step, st, compiled, label)

    @app.post("/api/map/whatif", tags=["map"],
              summary="Switch a region on / off and see which map points gain or lose service",
              responses=_errors(400, 404, 409, 422, *AUTH_ERRORS))
    def map_whatif(request: Request, p: Viewer, body: MapWhatIfIn) -> dict[str, Any]:
        """The latest version of ``policy`` plus a rule switching ``region`` (above every
        other rule), applied to the map at every step: per step the points that gain service
        (not served before, served after) and that lose it."""
        svc = svc_of(request)
        svc.map.require()
        _compiled, st_a, label = _policy_for_map(svc, body.policy)
        v = svc.get_version(body.policy, None)
        key = ("whatif", v.id, body.region, body.action)
        comp_b, _ = svc.whatif_policies.get(
            key, lambda: region_change(v.doc(), body.region, body.action, f"{body.region} "
                                       f"{body.action}"), f"{label} + {body.region} "
            f"{body.action}")
        st_b = svc.map.status_for(key, comp_b)
        a_on = st_a.status == 2
        b_on = st_b.status == 2
        steps = []
        for k in range(a_on.shape[0]):
            steps.append({"gain": np.flatnonzero(~a_on[k] & b_on[k]).tolist(),
                          "loss": np.flatnonzero(a_on[k] & ~b_on[k]).tolist()})
        return {"policy": label, "change": f"{body.region} {body.action}",
                "gain_point_steps": int((~a_on & b_on).sum()),
                "loss_point_steps": int((a_on & ~b_on).sum()), "steps": steps}

    # -- API docs (Swagger UI from the npm cache, no CDN) ---------------------------------------

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        from fastapi.openapi.docs import get_swagger_ui_html

        if npm_dir("swagger-ui-dist/swagger-ui-bundle.js") is None:
            return Response("<!doctype html><title>skyfence API</title><p>Swagger UI is not "
                            "installed (make setup installs it); the API description is at "
                            "<a href='/openapi.json'>/openapi.json</a>.</p>",
                            media_type="text/html")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="skyfence API",
                                   swagger_js_url="/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg",
                                   swagger_ui_parameters={"validatorUrl": None})

    # -- the web console (static, no token: the data endpoints need one) -----------------------

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        resp = FileResponse(static_dir() / "index.html", media_type="text/html")
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        allowed = {"app.js": "text/javascript", "app.css": "text/css",
                   "favicon.svg": "image/svg+xml"}
        if name not in allowed:
            raise ApiError(404, f"no static file {name!r}")
        resp = FileResponse(static_dir() / name, media_type=allowed[name])
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        if name not in VENDOR_FILES:
            raise ApiError(404, f"no vendor file {name!r}")
        rel, media = VENDOR_FILES[name]
        base = npm_dir(rel)
        if base is None:
            from ..ground import cache_dir

            pkg = rel.split("/")[0]
            raise ApiError(404, f"{pkg} is not installed: run make setup (or npm install "
                                f"--prefix {cache_dir() / 'npm'} {pkg})")
        resp = FileResponse(base / rel, media_type=media)
        resp.headers["Cache-Control"] = "max-age=86400"
        return resp

    return app


def _cells_region(svc: Service, store: PolicyStore, p: Principal, body: RequestIn) -> str:
    """The policy region (kind ``cells``) holding a request's cells, added when missing."""
    import hashlib

    from ..ground import cell_resolution, cells_to_str, parse_cell

    cells = []
    for i, c in enumerate(body.cells or []):
        cell = np.array([parse_cell(c, f"cells[{i}]")], dtype=np.uint64)  # the one H3 parser
        res = int(cell_resolution(cell)[0])
        if res > 5:
            raise InputError(f"cell {c} has resolution {res}; service is decided per res-5 "
                             "cell: give cells of resolution <= 5", f"cells[{i}]")
        cells.extend(cells_to_str(cell))
    cells = sorted(set(cells))
    name = "cells-" + hashlib.sha256(",".join(cells).encode()).hexdigest()[:12]
    try:
        v = store.get_version(None, body.policy)
    except StoreError as exc:
        raise InputError(str(exc), "policy") from None
    doc = v.doc()
    if any(r.name == name for r in doc.regions):
        return name
    region = RegionSpec(name=name, kind="cells", cells=cells,
                        description=f"{len(cells)} cells named by a request of {p.name}")
    data = doc.model_dump(mode="json", exclude_none=True)
    data["regions"] = [*data.get("regions", []),
                       region.model_dump(mode="json", exclude_none=True)]
    new_doc = PolicyDoc.model_validate(data)
    store.apply_policy(new_doc, by=p.name, comment=f"region {name} ({len(cells)} cells) for a "
                       f"request by {p.name}; a definition only, no rule: service unchanged",
                       source=f"POST /api/requests ({name})")
    return name


def _change_doc(svc: Service, base: PolicyDoc, body: WhatIfChange) -> PolicyDoc:
    """``base`` plus the rule of a ``change`` what-if (above every other rule)."""
    if (body.region is None) == (body.cells is None):
        raise InputError("give exactly one of region or cells", "region")
    top = max((r.priority for r in base.rules), default=0)
    names = {r.name for r in base.rules} | {m.name for m in base.moving_rules}
    name = "what-if"
    k = 1
    while name in names:
        k += 1
        name = f"what-if ({k})"
    spec: dict[str, Any] = {"name": name, "action": body.action, "priority": top + 1,
                            "reason": "what-if change", "start": body.start, "end": body.end}
    if body.region is not None:
        spec["region"] = body.region
    else:
        spec["cells"] = list(body.cells or [])
    try:
        rule = RuleSpec.model_validate({k: v for k, v in spec.items() if v is not None})
    except Exception as exc:  # pydantic: a bad window
        raise InputError(str(exc).splitlines()[-1] if str(exc) else "invalid change",
                         "change") from None
    data = base.model_dump(mode="json", exclude_none=True)
    data["rules"] = [*data.get("rules", []), rule.model_dump(mode="json", exclude_none=True)]
    return PolicyDoc.model_validate(data)
