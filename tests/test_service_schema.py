"""Property-based tests of the whole API from its OpenAPI document (schemathesis): generated
valid (positive) and invalid (negative) requests to every operation never get a 5xx, and every
error is JSON ``{"error": ...}``. Bounded for CI: a fixed number of examples per operation and
mode, derandomized (the same cases every run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from _service_helpers import make_world, map_data, scenario
from skyfence.service.app import ServiceConfig, create_app
from skyfence.service.users import UserStore

EXAMPLES = 6


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    world = make_world(Path(tmp_path_factory.mktemp("schema")))
    with UserStore(world.db) as us:  # a name no generated DELETE /api/users/{name} will hit
        token = us.add_user("schemathesis-admin-7f3c", "admin", by="test")[1]
    app = create_app(ServiceConfig(
        db=world.db, scenario=scenario(), map_enabled=False, map_data=map_data(),
        rate_per_s=0.0, unauth_rate_per_s=0.0, max_jobs=1, max_body_bytes=1_000_000,
        usage_flush_s=0.05))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema, token
    from schemathesis.python import asgi

    asgi.shutdown_lifespans()


def test_no_server_errors_on_any_operation(api: Any) -> None:
    schema, token = api
    failures: list[str] = []
    calls = {"n": 0}
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 25

    def make_run(op: Any, mode: GenerationMode) -> Any:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            if case.headers and "Authorization" in case.headers:
                headers = {}  # keep the generated (usually invalid) credentials
            resp = case.call(headers=headers)
            calls["n"] += 1
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} ({mode}): "
                                f"{resp.status_code} {resp.text[:300]}")
            elif resp.status_code >= 400:
                try:
                    err = resp.json().get("error")
                except ValueError:
                    err = None
                if not (isinstance(err, str) and err):
                    failures.append(f"{case.method} {case.formatted_path}: "
                                    f"{resp.status_code} without a JSON error: "
                                    f"{resp.text[:200]}")

        return run

    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                make_run(op, mode)()
            except Unsatisfiable:
                continue  # no invalid request can be built for this operation
    assert not failures, "\n".join(failures[:20])
    assert calls["n"] > len(ops) * EXAMPLES
