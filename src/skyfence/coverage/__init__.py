"""Coverage: which satellites serve every ground point, and how well, over a time window.

``visibility``  the exact, spatially indexed kernel (`GroundIndex`), one time step at a time
``gso``         the geostationary-arc exclusion angle
``strategies``  serving-satellite strategies in 15-second slots
``metrics``     the streaming driver (`iter_coverage`, `compute_coverage`) and the per-point
                and per-region metrics
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyload import lazy_names

#: Public name -> (submodule, name): imported on first use (PEP 562).
_LAZY: dict[str, tuple[str, str]] = {
    "CoverageAccumulator": ("metrics", "CoverageAccumulator"),
    "CoverageResult": ("metrics", "CoverageResult"),
    "CoverageStep": ("metrics", "CoverageStep"),
    "CoverageSummary": ("metrics", "CoverageSummary"),
    "DEFAULT_MEMORY_BUDGET_BYTES": ("metrics", "DEFAULT_MEMORY_BUDGET_BYTES"),
    "DEFAULT_MIN_ELEVATION_DEG": ("visibility", "DEFAULT_MIN_ELEVATION_DEG"),
    "GSO_EXCLUSION_GATEWAY_DEG": ("gso", "GSO_EXCLUSION_GATEWAY_DEG"),
    "GSO_EXCLUSION_USER_DEG": ("gso", "GSO_EXCLUSION_USER_DEG"),
    "GSO_RADIUS_KM": ("gso", "GSO_RADIUS_KM"),
    "GroundIndex": ("visibility", "GroundIndex"),
    "HighestElevation": ("strategies", "HighestElevation"),
    "MovingGround": ("moving", "MovingGround"),
    "PointMetrics": ("metrics", "PointMetrics"),
    "RandomUsable": ("strategies", "RandomUsable"),
    "SLOT_S": ("strategies", "SLOT_S"),
    "ServingStrategy": ("strategies", "ServingStrategy"),
    "ServingTracker": ("strategies", "ServingTracker"),
    "StepVisibility": ("visibility", "StepVisibility"),
    "TimeSeries": ("metrics", "TimeSeries"),
    "TimeSeriesRecorder": ("metrics", "TimeSeriesRecorder"),
    "VisibilityPairs": ("visibility", "VisibilityPairs"),
    "check_time_grid": ("metrics", "check_time_grid"),
    "compute_coverage": ("metrics", "compute_coverage"),
    "elevation_masks": ("visibility", "elevation_masks"),
    "gso_arc_separation_deg": ("gso", "gso_arc_separation_deg"),
    "gso_excluded": ("gso", "gso_excluded"),
    "iter_coverage": ("metrics", "iter_coverage"),
    "region_summary": ("metrics", "region_summary"),
    "serving_slot": ("strategies", "serving_slot"),
    "timeseries_bytes": ("metrics", "timeseries_bytes"),
    "visibility_brute_force": ("visibility", "visibility_brute_force"),
    "weighted_percentile": ("metrics", "weighted_percentile"),
}

if TYPE_CHECKING:
    from .gso import (
        GSO_EXCLUSION_GATEWAY_DEG,
        GSO_EXCLUSION_USER_DEG,
        GSO_RADIUS_KM,
        gso_arc_separation_deg,
        gso_excluded,
    )
    from .metrics import (
        DEFAULT_MEMORY_BUDGET_BYTES,
        CoverageAccumulator,
        CoverageResult,
        CoverageStep,
        CoverageSummary,
        PointMetrics,
        TimeSeries,
        TimeSeriesRecorder,
        check_time_grid,
        compute_coverage,
        iter_coverage,
        region_summary,
        timeseries_bytes,
        weighted_percentile,
    )
    from .moving import MovingGround
    from .strategies import (
        SLOT_S,
        HighestElevation,
        RandomUsable,
        ServingStrategy,
        ServingTracker,
        serving_slot,
    )
    from .visibility import (
        DEFAULT_MIN_ELEVATION_DEG,
        GroundIndex,
        StepVisibility,
        VisibilityPairs,
        elevation_masks,
        visibility_brute_force,
    )


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "DEFAULT_MIN_ELEVATION_DEG",
    "GSO_EXCLUSION_GATEWAY_DEG",
    "GSO_EXCLUSION_USER_DEG",
    "GSO_RADIUS_KM",
    "SLOT_S",
    "CoverageAccumulator",
    "CoverageResult",
    "CoverageStep",
    "CoverageSummary",
    "GroundIndex",
    "HighestElevation",
    "MovingGround",
    "PointMetrics",
    "RandomUsable",
    "ServingStrategy",
    "ServingTracker",
    "StepVisibility",
    "TimeSeries",
    "TimeSeriesRecorder",
    "VisibilityPairs",
    "check_time_grid",
    "compute_coverage",
    "elevation_masks",
    "gso_arc_separation_deg",
    "gso_excluded",
    "iter_coverage",
    "region_summary",
    "serving_slot",
    "timeseries_bytes",
    "visibility_brute_force",
    "weighted_percentile",
]
