"""``skyfence serve``: the operator console (HTTP API + web app) on uvicorn.

Binds to loopback unless ``--host`` says otherwise. The API needs tokens from ``skyfence users
add``; OpenAPI is at ``/docs`` and ``/openapi.json``; the web console at ``/``. The map shows
the scenario's cells per time step: the built-in default scenario over its first 3 h at 5 min
steps unless ``--scenario`` / ``--duration`` / ``--step`` say otherwise.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    def serve_cmd(
        db: Annotated[Path | None, typer.Option(
            "--db", help="Store file (SQLite). Default: $SKYFENCE_DB or ./skyfence.sqlite.")]
        = None,
        host: Annotated[str, typer.Option(
            "--host", help="Address to bind; loopback by default. Anything else exposes the "
            "API to the network: put it behind TLS (tokens travel in the header).")]
        = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
        scenario: Annotated[Path | None, typer.Option(
            "--scenario", help="Scenario TOML for the map and what-if jobs (default: the "
            "built-in scenario, first 3 h at 5 min steps).")] = None,
        duration: Annotated[str | None, typer.Option(
            "--duration", help="Map / what-if window length, e.g. 2h.")] = None,
        step: Annotated[str | None, typer.Option(
            "--step", help="Map time step, e.g. 5m.")] = None,
        no_map: Annotated[bool, typer.Option(
            "--no-map", help="Do not compute the map (API only).")] = False,
        workers: Annotated[int, typer.Option(
            "--workers", min=1, max=64, help="Worker processes for what-if jobs.")] = 1,
        rate_limit: Annotated[float, typer.Option(
            "--rate-limit", min=0.0, help="Requests per second per token (0: unlimited).")]
        = 50.0,
        burst: Annotated[float, typer.Option(
            "--burst", min=1.0, help="Requests a token may make at once.")] = 200.0,
        max_body_mb: Annotated[float, typer.Option(
            "--max-body-mb", min=0.001, max=1024.0, help="Largest request body, MiB.")] = 4.0,
        max_jobs: Annotated[int, typer.Option(
            "--max-jobs", min=1, max=1000, help="What-if jobs queued or running at most.")]
        = 4,
        access_log: Annotated[bool, typer.Option(
            "--access-log/--no-access-log", help="uvicorn's access log on stderr.")] = False,
    ) -> None:
        """Run the operator console: HTTP API (OpenAPI at /docs) and the web app at /."""
        from ..scenario import default_scenario, load_scenario
        from ..service import runs
        from .policy import db_path

        path = db_path(db)
        if str(path) == ":memory:":
            raise InputError("the console needs a store file, not :memory:", "--db")
        if scenario is not None:
            sc = load_scenario(scenario)
            sc = runs.scenario_with_window(sc, duration=duration, step=step)
        else:
            sc = runs.scenario_with_window(default_scenario(), duration=duration or "3h",
                                           step=step or "5m")
        import uvicorn

        from ..policy.store import PolicyStore
        from ..service.app import ServiceConfig, create_app
        from ..service.users import UserStore

        with PolicyStore(path):  # creates the store, or refuses a foreign / damaged file
            pass
        with UserStore(path) as users:
            n_users = len([u for u in users.users() if u.active])
        config = ServiceConfig(db=path, scenario=sc, map_enabled=not no_map, workers=workers,
                               rate_per_s=rate_limit, burst=burst,
                               max_body_bytes=int(max_body_mb * 2**20), max_jobs=max_jobs)
        err = typer.get_text_stream("stderr")
        if not _is_loopback(host):
            err.write(f"warning: serving on {host}, not loopback: anyone who can reach it may "
                      "try tokens; use TLS in front (tokens are sent in clear over HTTP)\n")
        shown = f"[{host}]" if ":" in host else host
        err.write(f"skyfence console on http://{shown}:{port}/ (API docs: /docs), store "
                  f"{path}, scenario {sc.name!r} {sc.time.start} + {sc.time.duration} every "
                  f"{sc.time.step}{'' if not no_map else ' (no map)'}\n")
        if n_users == 0:
            err.write(f"no users yet: skyfence users add NAME --role admin --db {path}\n")
        err.flush()
        uvicorn.run(create_app(config), host=host, port=port, log_level="warning",
                    access_log=access_log, timeout_graceful_shutdown=5)
