"""The engine: one pipeline behind every command (``run``, ``coverage``, ``network``).

``prepare(scenario) -> RunContext`` once; ``simulate(ctx) -> ChunkResult`` over time chunks
(locally or on Dask); ``finalize(ctx, result) -> RunTables``. `run` does all three. Stages
(coverage, policy, network) follow one protocol (`skyfence.engine.stages`): prepare once,
update per step, pure mergeable partials, finalize to tables.

>>> from skyfence.scenario import parse_scenario
>>> sc = parse_scenario({"time": {"duration": "2m"}, "network": {"enabled": False},
...                      "ground": {"terminals": [{"name": "Kyiv", "lat": 50.45, "lon": 30.52}]}})
>>> tables = run(sc)
>>> tables.terminals[["terminal", "status"]].iloc[0].tolist()
['Kyiv', 'served']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..policy import BLOCKED, SERVED, UNCOVERED
from ..results import RunTables
from ..scenario import Scenario
from .context import (
    Ground,
    PhaseClock,
    RunContext,
    build_ground,
    default_stages,
    load_policy,
    prepare,
)
from .pipeline import ChunkResult, Segment, finalize, merge_results, run_chunk, simulate
from .protocol import Stage, StepData
from .runners import DaskRunner, LocalRunner, make_runner, split_evenly

__all__ = [
    "BLOCKED",
    "SERVED",
    "UNCOVERED",
    "ChunkResult",
    "DaskRunner",
    "Ground",
    "LocalRunner",
    "PhaseClock",
    "RunContext",
    "RunTables",
    "Segment",
    "Stage",
    "StepData",
    "build_ground",
    "default_stages",
    "finalize",
    "load_policy",
    "make_runner",
    "merge_results",
    "prepare",
    "run",
    "run_chunk",
    "simulate",
    "split_evenly",
]


def run(
    scenario: Scenario,
    *,
    phase: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    sink: Callable[[Any], None] | None = None,
) -> RunTables:
    """Prepare, simulate and finalize ``scenario``; its tables (nothing is written).

    ``phase(name)`` is called as each phase starts; ``progress(done, total)`` with simulated
    steps; ``sink`` receives streamed blocks (``outputs.cell_series``; see `simulate`).
    """
    ctx = prepare(scenario, phase=phase)
    if phase is not None:
        phase("simulating")
    result = simulate(ctx, progress=progress, sink=sink)
    if phase is not None:
        phase("building tables")
    return finalize(ctx, result)
