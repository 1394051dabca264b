"""Fuzzing every parser that reads user input: only skyfence's own errors may escape.

A fixed, derandomised budget per parser keeps CI at a few seconds each; ``bench/fuzz.py`` runs
the same strategies for 100,000+ cases. A failure prints the input that crashed.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz_strategies import TARGETS
from skyfence.errors import SkyfenceError

BUDGET = {"tle": 300, "3le": 300, "omm-json": 300, "omm-csv": 300, "geojson": 200,
          "policy-toml": 200, "scenario-toml": 200}


def _only_project_errors(target, value) -> None:
    with contextlib.suppress(SkyfenceError):
        target(value)


@pytest.mark.parametrize("parser", sorted(TARGETS))
def test_fuzz_only_project_errors_escape(parser):
    strategy, target = TARGETS[parser]

    @settings(max_examples=BUDGET[parser], derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(value=strategy())
    def run(value):
        _only_project_errors(target, value)

    run()


def test_fuzz_targets_reach_valid_inputs():
    """The strategies are not all garbage: untouched records parse (so fuzzing goes deep)."""
    from fuzz_strategies import OMM_RECORD, TLE_RECORDS

    for parser in ("tle", "3le"):
        _, target = TARGETS[parser]
        target("\n".join(TLE_RECORDS[0]) + "\n")
    import json

    TARGETS["omm-json"][1](json.dumps([OMM_RECORD]))
    TARGETS["omm-csv"][1](",".join(OMM_RECORD) + "\n" + ",".join(
        str(v) for v in OMM_RECORD.values()) + "\n")


def test_geojson_empty_geometry_collection_is_a_region_error():
    from skyfence.errors import RegionError
    from skyfence.ground import region_from_geojson

    with pytest.raises(RegionError, match="empty GeometryCollection"):
        region_from_geojson({"type": "GeometryCollection", "geometries": []})
    nested = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "GeometryCollection", "geometries": [
            {"type": "GeometryCollection", "geometries": []}]}}]}
    with pytest.raises(RegionError, match=r"features\[0\]\.geometry\.geometries\[0\]: "
                       "empty GeometryCollection"):
        region_from_geojson(nested)


def test_geojson_huge_integer_coordinate_is_a_region_error():
    from skyfence.errors import RegionError
    from skyfence.ground import region_from_geojson

    ring = [[10**400, 0], [1, 0], [1, 1], [0, 1], [10**400, 0]]
    with pytest.raises(RegionError, match=r"coordinates\[0\]: .* beyond the float range"):
        region_from_geojson({"type": "Polygon", "coordinates": [ring]})
