"""Shared test fixtures: where the shared real data lives (../shared/data beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SKYFENCE_SHARED_DATA", REPO.parent / "shared" / "data"))
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
