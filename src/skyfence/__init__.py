"""skyfence: a Starlink-like LEO constellation and the territorial service policy over it.

The public API gathers the pieces a notebook needs; each subpackage documents its own.
"""

from __future__ import annotations

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
from .scenario import Scenario, default_scenario, load_scenario
from .timeutil import parse_duration, parse_time, time_grid

__version__ = "0.1.0"

__all__ = [
    "SPEED_OF_LIGHT_KM_S",
    "WGS84_A_KM",
    "Constellation",
    "ElementError",
    "Ephemeris",
    "InputError",
    "OfflineError",
    "PerformanceError",
    "PolicyError",
    "RegionError",
    "ResourceError",
    "Scenario",
    "ScenarioError",
    "SiteError",
    "SkyfenceError",
    "StoreError",
    "WalkerShell",
    "__version__",
    "default_scenario",
    "geodetic_to_itrs",
    "iter_ephemeris",
    "itrs_to_geodetic",
    "load_constellation",
    "load_scenario",
    "look_angles",
    "parse_duration",
    "parse_time",
    "preset",
    "propagate",
    "teme_to_itrs",
    "time_grid",
    "walker_constellation",
]
