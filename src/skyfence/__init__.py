"""skyfence: a Starlink-like LEO constellation and the territorial service policy over it.

The public API gathers the pieces a notebook needs; each subpackage documents its own. Names are
imported on first use (PEP 562), so ``import skyfence`` and the command line start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazyload import lazy_names

_LAZY: dict[str, tuple[str, str]] = {
    "Constellation": ("orbits", "Constellation"),
    "ElementError": ("errors", "ElementError"),
    "Ephemeris": ("orbits", "Ephemeris"),
    "GroundIndex": ("coverage", "GroundIndex"),
    "InputError": ("errors", "InputError"),
    "OfflineError": ("errors", "OfflineError"),
    "PerformanceError": ("errors", "PerformanceError"),
    "PolicyError": ("errors", "PolicyError"),
    "PolicyStore": ("policy", "PolicyStore"),
    "Region": ("ground", "Region"),
    "RegionError": ("errors", "RegionError"),
    "ResourceError": ("errors", "ResourceError"),
    "Router": ("network", "Router"),
    "SPEED_OF_LIGHT_KM_S": ("earth", "SPEED_OF_LIGHT_KM_S"),
    "Scenario": ("scenario", "Scenario"),
    "ScenarioError": ("errors", "ScenarioError"),
    "SiteError": ("errors", "SiteError"),
    "Sites": ("network", "Sites"),
    "SkyfenceError": ("errors", "SkyfenceError"),
    "StoreError": ("errors", "StoreError"),
    "Terminal": ("ground", "Terminal"),
    "WGS84_A_KM": ("earth", "WGS84_A_KM"),
    "WalkerShell": ("orbits", "WalkerShell"),
    "build_snapshot": ("network", "build_snapshot"),
    "compile_policy": ("policy", "compile_policy"),
    "compute_coverage": ("coverage", "compute_coverage"),
    "default_scenario": ("scenario", "default_scenario"),
    "default_sites": ("network", "default_sites"),
    "geodetic_to_itrs": ("earth", "geodetic_to_itrs"),
    "get_catalogue": ("ground", "get_catalogue"),
    "iter_coverage": ("coverage", "iter_coverage"),
    "iter_ephemeris": ("orbits", "iter_ephemeris"),
    "itrs_to_geodetic": ("earth", "itrs_to_geodetic"),
    "load_constellation": ("orbits", "load_constellation"),
    "load_default_policy": ("policy", "load_default_policy"),
    "load_policy_file": ("policy", "load_policy_file"),
    "load_scenario": ("scenario", "load_scenario"),
    "load_sites": ("network", "load_sites"),
    "look_angles": ("earth", "look_angles"),
    "parse_duration": ("timeutil", "parse_duration"),
    "parse_time": ("timeutil", "parse_time"),
    "preset": ("orbits", "preset"),
    "propagate": ("orbits", "propagate"),
    "region_cell_set": ("ground", "region_cell_set"),
    "region_cells": ("ground", "region_cells"),
    "region_summary": ("coverage", "region_summary"),
    "resolve_region": ("ground", "resolve_region"),
    "service_status": ("policy", "service_status"),
    "teme_to_itrs": ("earth", "teme_to_itrs"),
    "terminal_set": ("ground", "terminal_set"),
    "time_grid": ("timeutil", "time_grid"),
    "walker_constellation": ("orbits", "walker_constellation"),
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


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


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
