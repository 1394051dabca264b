"""Shared by the engine and command tests: a small scenario and a table comparison."""

from __future__ import annotations

import pandas as pd

from skyfence.results import RunTables


def _scenario(**over) -> dict:
    base = {
        "name": "test",
        "time": {"start": "2026-02-23T00:00:00Z", "duration": "20m", "step": "60s"},
        "constellation": {"source": "starlink-gen1"},
        "ground": {
            "edition": "deu",
            "regions": [{"name": "Crimea", "resolution": 4}, {"name": "Moldova", "resolution": 4}],
            "terminals": [{"name": "Kyiv", "lat": 50.45, "lon": 30.524},
                          {"name": "Taipei", "lat": 25.033, "lon": 121.565},
                          {"name": "Pole", "lat": 89.9, "lon": 0.0}],
        },
        "policy": {"source": "default"},
        "network": {"enabled": True, "rtt_every": "5m"},
        "run": {"chunk_steps": 7},
    }
    for section, values in over.items():
        base.setdefault(section, {})
        if isinstance(values, dict):
            base[section].update(values)
        else:
            base[section] = values
    return base


def assert_tables_equal(a: RunTables, b: RunTables) -> None:
    """Every table identical (floats to 1e-12 relative), metadata apart from timings."""
    ta, tb = a.tables(), b.tables()
    assert ta.keys() == tb.keys()
    for name in ta:
        pd.testing.assert_frame_equal(ta[name].reset_index(drop=True),
                                      tb[name].reset_index(drop=True), check_exact=False,
                                      rtol=1e-12, atol=1e-12, obj=name)
    ma = {k: v for k, v in a.metadata.items() if k != "timings_s"}
    mb = {k: v for k, v in b.metadata.items() if k != "timings_s"}
    assert ma == mb
