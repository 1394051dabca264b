"""The operator console: an HTTP API (FastAPI) and an offline web app over the policy store.

- `skyfence.service.app`: `create_app(ServiceConfig(db=...))`, the endpoints and their errors.
- `skyfence.service.users`: users, roles (viewer < requester < approver < admin), hashed
  tokens, the usage log, and `identify` (how the CLI names its user, as the API does).
- `skyfence.service.runs`: every engine call the service makes (map, what-if jobs).
- `skyfence.service.jobs`: what-if jobs in worker processes.
- `skyfence.service.checks`: constant-time point checks on a compiled policy.
- `skyfence.service.static`: the web console (HTML, JS, CSS; MapLibre GL JS from npm).

Run it with ``skyfence serve`` (loopback, port 8000); tokens come from ``skyfence users add``.
FastAPI is imported only by `skyfence.service.app`.
"""

from __future__ import annotations

from .users import ROLES, SVC_TABLES, TOKEN_ENV, Actor, User, UserStore, identify

__all__ = ["ROLES", "SVC_TABLES", "TOKEN_ENV", "Actor", "User", "UserStore", "identify"]
