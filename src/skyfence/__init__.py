"""skyfence: a Starlink-like LEO constellation and the territorial service policy over it.

The public API gathers the pieces a notebook needs; each subpackage documents its own.
"""

from __future__ import annotations

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
    propagate,
    walker_constellation,
)
from .policy import (
    PolicyStore,
    compile_policy,
    load_default_policy,
    load_policy_file,
    service_status,
)
from .scenario import Scenario, default_scenario, load_scenario
from .timeutil import parse_duration, parse_time, time_grid

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
