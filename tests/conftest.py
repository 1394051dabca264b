"""Shared test fixtures: where the shared real data lives (../shared/data beside the checkout)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared_data() -> Path:
    """``$SKYFENCE_SHARED_DATA``, else ``../shared/data`` beside this checkout, else beside
    the local checkout this one was cloned from (a scratch clone in a temporary folder)."""
    env = os.environ.get("SKYFENCE_SHARED_DATA")
    if env:
        return Path(env)
    beside = REPO.parent / "shared" / "data"
    if beside.is_dir():
        return beside
    try:
        origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin.startswith("file://"):
        origin = origin[len("file://"):]
    if origin and "://" not in origin and ":" not in origin.split("/")[0]:
        candidate = Path(origin).resolve().parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return beside


SHARED_DATA = _find_shared_data()
TLE_2023 = SHARED_DATA / "starlink-2023-05-29.tle"
TLE_2026 = SHARED_DATA / "starlink-2026-02-23.tle"
BLOCKED_GEOJSON = SHARED_DATA / "starlink-blocked-cells.geojson"
BLOCKED_CELLS_JSON = SHARED_DATA / "starlink-blocked-cells.h3r5.json"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder; the real element sets and blocked cells live there."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder not found: {SHARED_DATA} (set SKYFENCE_SHARED_DATA)")
    return SHARED_DATA
