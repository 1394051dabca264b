"""The network stage: gateways, PoPs, bent pipe and laser routing, RTT, outages.

Per 15 s slot: serving satellite per user (coverage) -> `Snapshot` of links (`build_snapshot`)
-> `Router.to_pops` (user -> PoP) or `Router.between_sites` (site -> site) -> `NetworkMetrics`
and `WhatIfDiff`. See the module docstrings of `sites`, `topology`, `routing`, `slots`,
`metrics` and `whatif`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> (submodule, name): imported on first use (PEP 562).
_LAZY: dict[str, tuple[str, str]] = {
    "AllowedGatewayCountries": ("routing", "AllowedGatewayCountries"),
    "Candidates": ("slots", "Candidates"),
    "DEFAULT_LATENCY_MODEL": ("latency", "DEFAULT_LATENCY_MODEL"),
    "FewestHops": ("routing", "FewestHops"),
    "Gateway": ("sites", "Gateway"),
    "GivenServing": ("slots", "GivenServing"),
    "GroundUsers": ("slots", "GroundUsers"),
    "HighestElevation": ("slots", "HighestElevation"),
    "LaserTopology": ("topology", "LaserTopology"),
    "LatencyModel": ("latency", "LatencyModel"),
    "MinimumDelay": ("routing", "MinimumDelay"),
    "MinimumRtt": ("slots", "MinimumRtt"),
    "NearestNeighbourLasers": ("topology", "NearestNeighbourLasers"),
    "NetworkMetrics": ("metrics", "NetworkMetrics"),
    "NetworkStep": ("slots", "NetworkStep"),
    "Outage": ("sites", "Outage"),
    "PlusGrid": ("topology", "PlusGrid"),
    "Pop": ("sites", "Pop"),
    "Router": ("routing", "Router"),
    "RoutingStrategy": ("routing", "RoutingStrategy"),
    "SLOT_SECONDS": ("slots", "SLOT_SECONDS"),
    "STATUS_NO_ROUTE": ("routing", "STATUS_NO_ROUTE"),
    "STATUS_NO_SATELLITE": ("routing", "STATUS_NO_SATELLITE"),
    "STATUS_SERVED": ("routing", "STATUS_SERVED"),
    "ServingSelector": ("slots", "ServingSelector"),
    "SiteFloors": ("latency", "SiteFloors"),
    "SitePaths": ("routing", "SitePaths"),
    "SiteRecord": ("sites", "SiteRecord"),
    "Sites": ("sites", "Sites"),
    "Snapshot": ("topology", "Snapshot"),
    "StaticLasers": ("topology", "StaticLasers"),
    "TopologyConfig": ("topology", "TopologyConfig"),
    "UnionLasers": ("topology", "UnionLasers"),
    "UserPaths": ("routing", "UserPaths"),
    "WhatIfDiff": ("whatif", "WhatIfDiff"),
    "availability": ("sites", "availability"),
    "build_snapshot": ("topology", "build_snapshot"),
    "default_sites": ("sites", "default_sites"),
    "draw_what_if_map": ("whatif", "draw_what_if_map"),
    "feeder_links": ("topology", "feeder_links"),
    "fit_latency_model": ("latency", "fit_latency_model"),
    "great_circle_km": ("sites", "great_circle_km"),
    "histogram_percentiles": ("metrics", "histogram_percentiles"),
    "iter_network": ("slots", "iter_network"),
    "iter_network_from_coverage": ("slots", "iter_network_from_coverage"),
    "laser_capable_by_launch_year": ("topology", "laser_capable_by_launch_year"),
    "laser_links": ("topology", "laser_links"),
    "load_gateways": ("sites", "load_gateways"),
    "load_pops": ("sites", "load_pops"),
    "load_sites": ("sites", "load_sites"),
    "orbital_angles": ("topology", "orbital_angles"),
    "parse_outage": ("sites", "parse_outage"),
    "site_floors": ("latency", "site_floors"),
    "site_records": ("sites", "site_records"),
    "visible_pairs": ("topology", "visible_pairs"),
    "world_sites": ("sites", "world_sites"),
}

if TYPE_CHECKING:
    from .latency import (
        DEFAULT_LATENCY_MODEL,
        LatencyModel,
        SiteFloors,
        fit_latency_model,
        site_floors,
    )
    from .metrics import NetworkMetrics, histogram_percentiles
    from .routing import (
        STATUS_NO_ROUTE,
        STATUS_NO_SATELLITE,
        STATUS_SERVED,
        AllowedGatewayCountries,
        FewestHops,
        MinimumDelay,
        Router,
        RoutingStrategy,
        SitePaths,
        UserPaths,
    )
    from .sites import (
        Gateway,
        Outage,
        Pop,
        SiteRecord,
        Sites,
        availability,
        default_sites,
        great_circle_km,
        load_gateways,
        load_pops,
        load_sites,
        parse_outage,
        site_records,
        world_sites,
    )
    from .slots import (
        SLOT_SECONDS,
        Candidates,
        GivenServing,
        GroundUsers,
        HighestElevation,
        MinimumRtt,
        NetworkStep,
        ServingSelector,
        iter_network,
        iter_network_from_coverage,
    )
    from .topology import (
        LaserTopology,
        NearestNeighbourLasers,
        PlusGrid,
        Snapshot,
        StaticLasers,
        TopologyConfig,
        UnionLasers,
        build_snapshot,
        feeder_links,
        laser_capable_by_launch_year,
        laser_links,
        orbital_angles,
        visible_pairs,
    )
    from .whatif import WhatIfDiff, draw_what_if_map


def __getattr__(name: str) -> Any:
    entry = _LAZY.get(name)
    if entry is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{entry[0]}", __name__), entry[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_LATENCY_MODEL",
    "SLOT_SECONDS",
    "STATUS_NO_ROUTE",
    "STATUS_NO_SATELLITE",
    "STATUS_SERVED",
    "AllowedGatewayCountries",
    "Candidates",
    "FewestHops",
    "Gateway",
    "GivenServing",
    "GroundUsers",
    "HighestElevation",
    "LaserTopology",
    "LatencyModel",
    "MinimumDelay",
    "MinimumRtt",
    "NearestNeighbourLasers",
    "NetworkMetrics",
    "NetworkStep",
    "Outage",
    "PlusGrid",
    "Pop",
    "Router",
    "RoutingStrategy",
    "ServingSelector",
    "SiteFloors",
    "SitePaths",
    "SiteRecord",
    "Sites",
    "Snapshot",
    "StaticLasers",
    "TopologyConfig",
    "UnionLasers",
    "UserPaths",
    "WhatIfDiff",
    "availability",
    "build_snapshot",
    "default_sites",
    "draw_what_if_map",
    "feeder_links",
    "fit_latency_model",
    "great_circle_km",
    "histogram_percentiles",
    "iter_network",
    "iter_network_from_coverage",
    "laser_capable_by_launch_year",
    "laser_links",
    "load_gateways",
    "load_pops",
    "load_sites",
    "orbital_angles",
    "parse_outage",
    "site_floors",
    "site_records",
    "visible_pairs",
    "world_sites",
]
