"""The fast single-point path of ``GET /api/check`` answers exactly as the library's batch
evaluation (`CompiledPolicy.check_points`), at times on both sides of every rule window."""

from __future__ import annotations

import numpy as np
import pytest

from skyfence.policy import catalogue_resolver, compile_policy, load_default_policy, loads_policy
from skyfence.service.checks import CellLookup


@pytest.fixture(scope="module")
def default_policy():
    return compile_policy(load_default_policy().policy(), catalogue_resolver("deu"))


def _points(rng: np.random.Generator, policy) -> tuple[np.ndarray, np.ndarray]:
    """Random points worldwide plus points inside the cells the rules name."""
    import h3

    lat = rng.uniform(-89.9, 89.9, 300)
    lon = rng.uniform(-180, 180, 300)
    cells = policy.rule_cells()
    pick = rng.choice(cells.size, size=min(700, cells.size), replace=False)
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells[pick]])
    jitter = rng.normal(0, 0.02, centres.shape)
    return (np.concatenate([lat, np.clip(centres[:, 0] + jitter[:, 0], -90, 90)]),
            np.concatenate([lon, ((centres[:, 1] + jitter[:, 1] + 180) % 360) - 180]))


def _times(policy) -> list[np.datetime64]:
    bounds = sorted({b for r in policy.rules for b in (r.start_ns, r.end_ns) if b is not None}
                    | {b for m in policy.moving_rules for b in (m.start_ns, m.end_ns)
                       if b is not None})
    out = [np.datetime64("2026-02-23T00:00:00", "ns")]
    for b in bounds:
        out += [np.datetime64(b - 1, "ns"), np.datetime64(b, "ns")]
    return out


def _same(policy, lookup, lat, lon, t, speeds) -> None:
    ref = policy.check_points([f"p{i}" for i in range(lat.size)], lat, lon, t,
                              speed_kmh=speeds)
    got = lookup.check(lat, lon, int(np.datetime64(t, "ns").astype(np.int64)), speeds)
    for r, g in zip(ref, got, strict=True):
        assert (g.cell, g.served, g.rule, g.reason, g.code, g.reference) == (
            r.cell, r.served, r.rule, r.reason, r.code, r.reference), (r, g)


def test_lookup_equals_check_points_on_the_default_policy(default_policy) -> None:
    rng = np.random.default_rng(7)
    lat, lon = _points(rng, default_policy)
    speeds = [None if i % 3 else float(rng.uniform(0, 300)) for i in range(lat.size)]
    lookup = CellLookup(default_policy)
    times = _times(default_policy)
    assert len(times) > 3, "the default policy has timed rules"
    for t in times:
        _same(default_policy, lookup, lat, lon, t, speeds)


def test_lookup_timed_windows_and_defaults() -> None:
    text = """
name = "t"
default_action = "off"
default_reason = "not licensed"
[[rules]]
name = "moldova-on"
region = "Moldova"
action = "on"
[[rules]]
name = "cell-off"
cells = ["851e6303fffffff"]
action = "off"
start = "2026-01-01T00:00:00Z"
end = "2026-02-01T00:00:00Z"
"""
    policy = compile_policy(loads_policy(text, "toml").policy(), catalogue_resolver("deu"))
    lookup = CellLookup(policy, max_segments=1)  # forces segment tables to be rebuilt
    rng = np.random.default_rng(1)
    lat, lon = _points(rng, policy)
    for t in ("2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z",
              "2026-02-01T00:00:00Z", "2025-06-01T00:00:00Z"):
        _same(policy, lookup, lat, lon, np.datetime64(t.rstrip("Z"), "ns"), None)
    far = lookup.check([-45.0], [-120.0], 0)[0]
    assert (far.served, far.rule, far.code) == (False, "default", "BLOCKED_COUNTRY")
