"""skyfence: a Starlink-like LEO constellation and the territorial service policy over it.

The public API gathers the pieces a notebook needs; each subpackage documents its own. Names are
imported on first use (PEP 562), so ``import skyfence`` and the command line start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "Constellation": "orbits",
    "ElementError": "errors",
    "Ephemeris": "orbits",
    "GroundIndex": "coverage",
    "InputError": "errors",
    "OfflineError": "errors",
    "PerformanceError": "errors",
    "PolicyError": "errors",
    "PolicyStore": "policy",
    "Region": "ground",
    "RegionError": "errors",
    "ResourceError": "errors",
    "Router": "network",
    "SPEED_OF_LIGHT_KM_S": "earth",
    "Scenario": "scenario",
    "ScenarioError": "errors",
    "SiteError": "errors",
    "Sites": "network",
    "SkyfenceError": "errors",
    "StoreError": "errors",
    "Terminal": "ground",
    "WGS84_A_KM": "earth",
    "WalkerShell": "orbits",
    "build_snapshot": "network",
    "compile_policy": "policy",
    "compute_coverage": "coverage",
    "default_scenario": "scenario",
    "default_sites": "network",
    "geodetic_to_itrs": "earth",
    "get_catalogue": "ground",
    "iter_coverage": "coverage",
    "iter_ephemeris": "orbits",
    "itrs_to_geodetic": "earth",
    "load_constellation": "orbits",
    "load_default_policy": "policy",
    "load_policy_file": "policy",
    "load_scenario": "scenario",
    "load_sites": "network",
    "look_angles": "earth",
    "parse_duration": "timeutil",
    "parse_time": "timeutil",
    "preset": "orbits",
    "propagate": "orbits",
    "region_cell_set": "ground",
    "region_cells": "ground",
    "region_summary": "coverage",
    "resolve_region": "ground",
    "service_status": "policy",
    "teme_to_itrs": "earth",
    "terminal_set": "ground",
    "time_grid": "timeutil",
    "walker_constellation": "orbits",
}

if TYPE_CHECKING:  # the names as the type checker and IDEs see them
    from .coverage import GroundIndex, compute_coverage, iter_coverage, region_summary
    from .earth import (
        SPEED_OF_LIGHT_KM_S,
        WGS84_A_KM,
        geodetic_to_itrs,
        itrs_to_geodetic,
        look_angles,
        teme_to_itrs,
    )
    from .errors import (
        ElementError,
        InputError,
        OfflineError,
        PerformanceError,
        PolicyError,
        RegionError,
        ResourceError,
        ScenarioError,
        SiteError,
        SkyfenceError,
        StoreError,
    )
    from .ground import (
        Region,
        Terminal,
        get_catalogue,
        region_cell_set,
        region_cells,
        resolve_region,
        terminal_set,
    )
    from .network import Router, Sites, build_snapshot, default_sites, load_sites
    from .orbits import (
        Constellation,
        Ephemeris,
        WalkerShell,
        iter_ephemeris,
        load_constellation,
        preset,
        walker_constellation,
    )
    from .orbits.propagate import propagate
    from .policy import (
        PolicyStore,
        compile_policy,
        load_default_policy,
        load_policy_file,
        service_status,
    )
    from .scenario import Scenario, default_scenario, load_scenario
    from .timeutil import parse_duration, parse_time, time_grid


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'skyfence' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "SPEED_OF_LIGHT_KM_S",
    "WGS84_A_KM",
    "Constellation",
    "ElementError",
    "Ephemeris",
    "GroundIndex",
    "InputError",
    "OfflineError",
    "PerformanceError",
    "PolicyError",
    "PolicyStore",
    "Region",
    "RegionError",
    "ResourceError",
    "Router",
    "Scenario",
    "ScenarioError",
    "SiteError",
    "Sites",
    "SkyfenceError",
    "StoreError",
    "Terminal",
    "WalkerShell",
    "__version__",
    "build_snapshot",
    "compile_policy",
    "compute_coverage",
    "default_scenario",
    "default_sites",
    "geodetic_to_itrs",
    "get_catalogue",
    "iter_coverage",
    "iter_ephemeris",
    "itrs_to_geodetic",
    "load_constellation",
    "load_default_policy",
    "load_policy_file",
    "load_scenario",
    "load_sites",
    "look_angles",
    "parse_duration",
    "parse_time",
    "preset",
    "propagate",
    "region_cell_set",
    "region_cells",
    "region_summary",
    "resolve_region",
    "service_status",
    "teme_to_itrs",
    "terminal_set",
    "time_grid",
    "walker_constellation",
]
