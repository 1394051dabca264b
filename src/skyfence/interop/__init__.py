"""Interoperability: Hypatia satellite-network directories and dynamic state, Cesium views.

``hypatia``        read / write Hypatia (snkas/hypatia) satellite-network directories, build
                   one from any skyfence constellation and sites
``hypatia_state``  Hypatia's dynamic state (``fstate_<t>.txt``, ``gsl_if_bandwidth_<t>.txt``)
                   for its ns-3 module, computed with vectorized shortest paths
``czml``           CZML scenes (satellites, gateways, PoPs, terminals, paths, cells by status)
                   via czml3
``runview``        scenes of engine runs (``skyfence view``, ``outputs.czml``): the run's
                   tables, satellites and streamed cell status as a `czml.SceneData`
``viewer``         a static, offline Cesium viewer (npm ``cesium``, no Ion token, no imagery)
"""

from __future__ import annotations

from .hypatia import (
    GroundStation,
    HypatiaNetwork,
    hypatia_plus_grid_isls,
    hypatia_shell_tles,
    network_from_constellation,
    read_hypatia_dir,
    write_hypatia_dir,
)
from .hypatia_state import (
    ALGORITHMS,
    DynamicStateAlgorithm,
    DynamicStateSummary,
    ForwardingState,
    FreeGsOneSatManyOnlyOverIsls,
    FreeOneOnlyGsRelays,
    FreeOneOnlyOverIsls,
    PairedManyOnlyOverIsls,
    get_algorithm,
    iter_dynamic_state,
    read_fstate_dir,
    write_dynamic_state,
)

__all__ = [
    "ALGORITHMS",
    "DynamicStateAlgorithm",
    "DynamicStateSummary",
    "ForwardingState",
    "FreeGsOneSatManyOnlyOverIsls",
    "FreeOneOnlyGsRelays",
    "FreeOneOnlyOverIsls",
    "GroundStation",
    "HypatiaNetwork",
    "PairedManyOnlyOverIsls",
    "get_algorithm",
    "hypatia_plus_grid_isls",
    "hypatia_shell_tles",
    "iter_dynamic_state",
    "network_from_constellation",
    "read_fstate_dir",
    "read_hypatia_dir",
    "write_dynamic_state",
    "write_hypatia_dir",
]
