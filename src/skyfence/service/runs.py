"""Every call the service makes into the engine and the simulation library, in one module.

The HTTP layer never imports the engine: it calls the functions here (most of them run in
worker processes, see `skyfence.service.jobs`). When the engine's API changes, this is the one
module to adapt. The public API used: `skyfence.engine.prepare` / `simulate` /
`build_ground` / `finalize`, `skyfence.outputs.geojson`, `skyfence.policy.diff` and
`skyfence.orbits.propagate` (satellites on the map); the gateway-outage what-if is an engine run
with ``[[network.outages]]``.

Map data (`compute_map`): the console's map shows the scenario's cells (and terminals) per time
step as served / blocked / uncovered under the *store's* policy, which changes while the server
runs. Coverage does not depend on the policy, so the engine runs once, with every point a
terminal and an all-on policy (so every covered point is also routed: RTT and path are known
for every point at every routed step); the policy stage is then applied per step for any
policy version (`map_status`), as the engine does: ``status = service_status(covered,
served_by_policy)`` with moving-terminal rules for terminals. (The engine will provide
per-step cell status itself, ``record_cell_status``; the call then moves here.)
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ResourceError
from ..policy.rules import (
    BLOCKED,
    SERVED,
    UNCOVERED,
    CompiledPolicy,
    PolicyDoc,
    compile_policy,
    format_utc,
    service_status,
    to_utc_datetime,
)
from ..scenario import Scenario, parse_scenario

__all__ = [
    "MAX_MAP_POINT_STEPS",
    "MapData",
    "cells_geojson",
    "check_outages",
    "compile_doc",
    "compute_map",
    "map_status",
    "point_satellites",
    "satellite_positions",
    "scenario_with_window",
    "whatif_outage",
    "whatif_policies",
]

MAX_MAP_POINT_STEPS = 3_000_000
"""Largest map (points x time steps) the server keeps in memory (~40 bytes each)."""
MAX_WHATIF_POINT_STEPS = 20_000_000
"""Largest what-if job (points x time steps)."""

STATUS_NAMES = {int(SERVED): "served", int(BLOCKED): "blocked", int(UNCOVERED): "uncovered"}


# ---------------------------------------------------------------------------------------------
# scenarios


def scenario_with_window(scenario: Scenario, *, start: str | None = None,
                         duration: str | None = None, step: str | None = None) -> Scenario:
    """``scenario`` with its time window replaced where given (validated again)."""
    data = scenario.model_dump()
    for key, value in (("start", start), ("duration", duration), ("step", step)):
        if value is not None:
            data["time"][key] = value
    return parse_scenario(data, "scenario window")


def _point_steps(scenario: Scenario, n_points: int) -> int:
    return int(scenario.time.grid().size) * int(n_points)


def compile_doc(doc: PolicyDoc, edition: str, source: str = "policy") -> CompiledPolicy:
    """Compile a policy document against the catalogue edition of the scenario."""
    from ..policy import catalogue_resolver

    return compile_policy(doc, catalogue_resolver(edition), source=source)


def _write_policy(doc: PolicyDoc, path: Path) -> Path:
    from ..policy.io import dump_policy

    path.write_text(dump_policy(doc, "toml"), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# the map


@dataclass
class MapData:
    """The console map: scenario points x time steps, computed by the engine once.

    Points are the scenario's region cells (at their resolution) first, then its terminals.
    Per-step arrays have shape (n_time, n_point); network arrays hold values at routed steps
    (``routed``) for covered points, NaN / -1 elsewhere.
    """

    scenario_name: str
    edition: str
    t_utc: np.ndarray  # (n_time,) datetime64[ns]
    step_s: float
    cells: np.ndarray  # (n_cell,) uint64 at their region's resolution
    cell_region: np.ndarray  # (n_cell,) object: first scenario region holding the cell
    regions: tuple[str, ...]
    members: dict[str, np.ndarray]
    terminal_names: tuple[str, ...]
    service_cells: np.ndarray  # (n_point,) uint64 res-5 cell deciding policy
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    term_speed_kmh: np.ndarray  # (n_time, n_terminal) km/h
    term_registered: np.ndarray  # (n_time, n_terminal) bool
    covered: np.ndarray  # (n_time, n_point) bool
    n_visible: np.ndarray  # (n_time, n_point) int16
    best_elevation_deg: np.ndarray  # (n_time, n_point) float32
    serving_norad_id: np.ndarray  # (n_time, n_point) int64, -1 = none
    routed: np.ndarray  # (n_time,) bool
    rtt_ms: np.ndarray  # (n_time, n_point) float32
    gateway: np.ndarray  # (n_time, n_point) int16 index into gateway_names, -1 = none
    pop: np.ndarray  # (n_time, n_point) int16
    n_laser_hops: np.ndarray  # (n_time, n_point) int16, -1 = none
    path_norad_id: np.ndarray  # (n_time, n_point) int64, -1 = none
    gateway_names: tuple[str, ...]
    pop_names: tuple[str, ...]
    sites: Any  # skyfence.network.Sites or None
    constellation: Any  # skyfence.orbits.Constellation
    masks_deg: np.ndarray  # (n_sat,) elevation mask per satellite
    network_enabled: bool
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return int(self.cells.size)

    @property
    def n_points(self) -> int:
        return int(self.service_cells.size)

    def point_label(self, i: int) -> str:
        """The terminal name, or the cell's hex id."""
        import h3

        if i >= self.n_cells:
            return self.terminal_names[i - self.n_cells]
        return h3.int_to_str(int(self.cells[i]))

    def nearest_routed(self, step: int) -> int | None:
        """The latest routed step at or before ``step`` (None when there is none)."""
        idx = np.flatnonzero(self.routed[: step + 1])
        return int(idx[-1]) if idx.size else None


def _all_on_policy(cell_hex: str) -> PolicyDoc:
    # An "on" rule over one cell under a default "on": serves everything, and is not an empty
    # policy (which the policy loader may refuse as changing everything).
    return PolicyDoc.model_validate({
        "name": "map-coverage",
        "description": "coverage run of the console map; the store's policy is applied per "
                       "step by the server",
        "default_action": "on",
        "default_reason": "coverage run (policy applied by the server)",
        "rules": [{"name": "map-coverage", "cells": [cell_hex], "action": "on",
                   "reason": "coverage run"}],
    })


def compute_map(scenario: Scenario, workdir: str | Path | None = None) -> MapData:
    """Run the engine over ``scenario``'s cells and terminals for the console map.

    Raises `ResourceError` above `MAX_MAP_POINT_STEPS`, `InputError` for an empty ground.
    """
    import time

    import h3

    from ..engine import build_ground, finalize, prepare, simulate

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ground = build_ground(scenario)
    timings["ground"] = time.perf_counter() - t0
    n_cell, n_term = ground.n_cells, ground.n_terminals
    n_point = n_cell + n_term
    if n_point == 0:
        raise InputError("the scenario has no regions and no terminals: nothing to map",
                         "ground")
    steps = _point_steps(scenario, n_point)
    if steps > MAX_MAP_POINT_STEPS:
        raise ResourceError(
            f"map of {n_point:,} points x {scenario.time.grid().size:,} steps = {steps:,} "
            f"point-steps exceeds {MAX_MAP_POINT_STEPS:,}: shorten --duration, lengthen --step "
            "or use fewer / coarser regions")
    names = [f"c{i}" for i in range(n_cell)] + [f"t{i}" for i in range(n_term)]
    records = ground.terminals.terminals() if n_term else []
    np.array([t.speed_kmh or 0.0 for t in records], dtype=np.float64)
    terminals = []
    for i, nm in enumerate(names):
        terminals.append({
            "name": nm, "lat": float(ground.lat_deg[i]), "lon": float(ground.lon_deg[i]),
            "altitude_m": float(ground.alt_km[i] * 1000.0)})
    # The terminals' own speed and registration per step (the policy applies them per step).
    state = ground.terminals.state_at(scenario.time.grid()) if n_term else None
    own_dir = tempfile.TemporaryDirectory(prefix="skyfence-map-") if workdir is None else None
    wdir = Path(own_dir.name if own_dir is not None else workdir)  # type: ignore[arg-type]
    try:
        policy_file = _write_policy(
            _all_on_policy(h3.int_to_str(int(ground.service_cells[0]))),
            wdir / "map-coverage-policy.toml")
        data = scenario.model_dump()
        data["ground"] = {"edition": scenario.ground.edition, "regions": [],
                          "terminals": terminals}
        data["policy"] = {"source": str(policy_file)}
        data["run"] = {**data["run"], "dask": None}
        data["outputs"] = {**data["outputs"], "maps": False, "netcdf": False}
        if data["network"]["enabled"]:
            # Every covered point routed at every step: path and RTT at any step of the map.
            data["network"] = {**data["network"], "rtt_every": data["time"]["step"],
                               "outages": []}
        map_scenario = parse_scenario(data, "map scenario")
        t1 = time.perf_counter()
        ctx = prepare(map_scenario)
        timings["prepare"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        result = simulate(ctx)
        timings["simulate"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        tables = finalize(ctx, result)
        timings["tables"] = time.perf_counter() - t3
    finally:
        if own_dir is not None:
            own_dir.cleanup()
    t_utc = np.asarray(ctx.t_utc, dtype="datetime64[ns]")
    n_time = t_utc.size
    frame = tables.terminals
    index = {nm: i for i, nm in enumerate(names)}
    col = frame["terminal"].map(index).to_numpy(dtype=np.int64)
    t_idx = np.searchsorted(t_utc, frame["t_utc"].dt.tz_convert(None).to_numpy(
        dtype="datetime64[ns]"))
    codes = {name: int(code) for code, name in STATUS_NAMES.items()}
    status = np.full((n_time, n_point), UNCOVERED, dtype=np.int8)
    status[t_idx, col] = frame["status"].astype(str).map(codes).to_numpy(np.int8)

    def grid(values: Any, dtype: Any, fill: Any) -> np.ndarray:
        out = np.full((n_time, n_point), fill, dtype=dtype)
        v = np.asarray(values)
        out[t_idx, col] = v
        return out

    n_vis = grid(frame["n_visible"].to_numpy(np.int64), np.int16, 0)
    best = grid(frame["best_elevation_deg"].to_numpy(np.float64), np.float32, np.nan)
    serving = grid(frame["serving_norad_id"].fillna(-1).to_numpy(np.int64), np.int64, -1)
    netstage = ctx.stage("network")
    net = scenario.network.enabled and netstage is not None
    gw_names: tuple[str, ...] = ()
    pop_names: tuple[str, ...] = ()
    sites = None
    routed = np.zeros(n_time, dtype=bool)
    rtt = np.full((n_time, n_point), np.nan, dtype=np.float32)
    gw = np.full((n_time, n_point), -1, dtype=np.int16)
    pp = np.full((n_time, n_point), -1, dtype=np.int16)
    hops = np.full((n_time, n_point), -1, dtype=np.int16)
    path_sat = np.full((n_time, n_point), -1, dtype=np.int64)
    if net and netstage is not None:
        sites = netstage.sites
        gw_names = tuple(sites.gateway_names)
        pop_names = tuple(sites.pop_names)
        routed = np.array([netstage.routed(i) for i in range(n_time)], dtype=bool)
        if "rtt_ms" in frame.columns:
            rtt = grid(frame["rtt_ms"].to_numpy(np.float64), np.float32, np.nan)
            gi = {n: k for k, n in enumerate(gw_names)}
            pi = {n: k for k, n in enumerate(pop_names)}
            gw = grid(frame["gateway"].map(gi).fillna(-1).to_numpy(np.int64), np.int16, -1)
            pp = grid(frame["pop"].map(pi).fillna(-1).to_numpy(np.int64), np.int16, -1)
            hops = grid(frame["n_laser_hops"].fillna(-1).to_numpy(np.int64), np.int16, -1)
            path_sat = grid(frame["path_norad_id"].fillna(-1).to_numpy(np.int64), np.int64, -1)
    return MapData(
        scenario_name=scenario.name, edition=scenario.ground.edition, t_utc=t_utc,
        step_s=float(scenario.time.step_s), cells=np.asarray(ground.cells, np.uint64),
        cell_region=np.asarray(ground.primary_region, dtype=object), regions=ground.regions,
        members={k: np.asarray(v) for k, v in ground.members.items()},
        terminal_names=tuple(ground.terminal_names),
        service_cells=np.asarray(ground.service_cells, np.uint64),
        lat_deg=np.asarray(ground.lat_deg, float), lon_deg=np.asarray(ground.lon_deg, float),
        alt_km=np.asarray(ground.alt_km, float),
        term_speed_kmh=(state.speed_kmh.T.copy() if state is not None
                        else np.zeros((0, 0))),
        term_registered=(state.registered.T.copy() if state is not None
                         else np.zeros((0, 0), bool)),
        covered=status != UNCOVERED, n_visible=n_vis, best_elevation_deg=best,
        serving_norad_id=serving, routed=routed, rtt_ms=rtt, gateway=gw, pop=pp,
        n_laser_hops=hops, path_norad_id=path_sat, gateway_names=gw_names,
        pop_names=pop_names, sites=sites, constellation=ctx.constellation,
        masks_deg=np.asarray(ctx.masks_deg, dtype=np.float64), network_enabled=bool(net),
        timings_s=timings,
    )


@dataclass(frozen=True)
class MapStatus:
    """A policy applied to the map: status and deciding rule per step and point."""

    status: np.ndarray  # (n_time, n_point) int8 SERVED / BLOCKED / UNCOVERED
    rule_index: np.ndarray  # (n_time, n_point) int32 into ``labels`` (-1 = default)
    labels: tuple[str, ...]  # cell rules, moving rules, terminal rules, "default"


def map_status(data: MapData, policy: CompiledPolicy) -> MapStatus:
    """The policy stage over the map, as the engine applies it: cells by the cell rules,
    terminals by `CompiledPolicy.evaluate_terminals` (speed and registration per step), then
    ``service_status(covered, served)``."""
    n_cell = data.n_cells
    ev = policy.evaluate(data.service_cells[:n_cell], data.t_utc)
    tev = policy.evaluate_terminals(
        data.service_cells[n_cell:], data.t_utc,
        data.term_speed_kmh if data.term_speed_kmh.size else None,
        data.term_registered if data.term_registered.size else None)
    served = np.concatenate([np.asarray(ev.served, bool), np.asarray(tev.served, bool)],
                            axis=1)
    rule = np.concatenate([np.asarray(ev.rule_index, np.int32),
                           np.asarray(tev.rule, np.int32)], axis=1)
    status = service_status(data.covered, served)
    return MapStatus(status=status, rule_index=rule, labels=tuple(tev.rule_labels))


def cells_geojson(cells: np.ndarray, properties: dict[str, Any]) -> dict[str, Any]:
    """H3 cells with per-cell properties as a GeoJSON FeatureCollection (the outputs' writer:
    antimeridian cells split, RFC 7946 winding)."""
    from ..outputs.geojson import cells_feature_collection

    return cells_feature_collection(cells, properties)


def satellite_positions(constellation: Any, t_utc: np.datetime64
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-satellite latitude, longitude (deg, WGS-84) and altitude (km) at one time."""
    from ..earth import itrs_to_geodetic
    from ..orbits.propagate import propagate

    eph = propagate(constellation, np.array([t_utc], dtype="datetime64[ns]"))
    r = eph.r_km[:, 0, :]
    ok = np.all(np.isfinite(r), axis=1)
    lat = np.full(r.shape[0], np.nan)
    lon = np.full(r.shape[0], np.nan)
    alt = np.full(r.shape[0], np.nan)
    if ok.any():
        la, lo, al = itrs_to_geodetic(r[ok])
        lat[ok], lon[ok], alt[ok] = la, lo, al
    return lat, lon, alt


def point_satellites(data: MapData, point: int, step: int, limit: int = 12
                     ) -> list[dict[str, Any]]:
    """Satellites above their elevation mask from map point ``point`` at step ``step``,
    highest first: NORAD id, name, shell, azimuth / elevation (deg), range (km)."""
    from ..earth import look_angles
    from ..orbits.propagate import propagate

    const = data.constellation
    eph = propagate(const, np.array([data.t_utc[step]], dtype="datetime64[ns]"))
    r = eph.r_km[:, 0, :]
    az, el, rng = look_angles(data.lat_deg[point], data.lon_deg[point], data.alt_km[point], r)
    el = np.where(np.isfinite(el), el, -90.0)
    vis = np.flatnonzero(el >= data.masks_deg)
    order = vis[np.argsort(-el[vis], kind="stable")][:limit]
    return [{"norad_id": int(const.norad_ids[k]), "name": str(const.names[k]),
             "shell": str(const.shell[k]) if const.shell else "",
             "azimuth_deg": round(float(az[k]), 2), "elevation_deg": round(float(el[k]), 2),
             "range_km": round(float(rng[k]), 1)} for k in order]


# ---------------------------------------------------------------------------------------------
# what-if jobs (run in worker processes; write their result files into ``out_dir``)


def _frame_records(frame: Any) -> list[dict[str, Any]]:
    out = []
    for rec in frame.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            clean[str(k)] = v
        out.append(clean)
    return out


def _write_table(frame: Any, out_dir: Path, stem: str) -> list[str]:
    frame.to_csv(out_dir / f"{stem}.csv", index=False)
    (out_dir / f"{stem}.json").write_text(
        json.dumps(_frame_records(frame), ensure_ascii=False, allow_nan=False), "utf-8")
    return [f"{stem}.csv", f"{stem}.json"]


def _write_geojson(collection: dict[str, Any], out_dir: Path, name: str) -> str:
    from ..outputs.geojson import write_geojson

    write_geojson(collection, out_dir / name)
    return name


def whatif_policies(scenario: Scenario, doc_a: PolicyDoc, doc_b: PolicyDoc, *, label_a: str,
                    label_b: str, at: str | None, out_dir: str | Path) -> dict[str, Any]:
    """Policy A vs policy B over the scenario window: the engine runs each (coverage and
    policy stages; the network stage is off: a policy does not change the RTT of a point
    served under both), then compares per region and per cell.

    Writes ``regions.csv`` / ``regions.json`` (per region: served share and km^2 under A and
    B, the change), ``diff.geojson`` (cells whose served share changes: ``served_share_a``,
    ``served_share_b``, ``change`` = gain / loss, deciding rules at the window end) and
    ``policy-diff.csv`` (`skyfence.policy.diff.diff_policies` at ``at``, every cell either
    policy names, worldwide). Returns a JSON-ready summary.
    """
    import pandas as pd

    from ..engine import finalize, prepare, simulate
    from ..ground import as_cells
    from ..outputs.geojson import cells_feature_collection
    from ..policy.diff import diff_policies, rule_changes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    edition = scenario.ground.edition
    ca = compile_doc(doc_a, edition, label_a)
    cb = compile_doc(doc_b, edition, label_b)
    fa = _write_policy(doc_a, out / "policy-a.toml")  # what was compared, as files
    fb = _write_policy(doc_b, out / "policy-b.toml")
    tables = []
    constellation = None
    for path in (fa, fb):
        data = scenario.model_dump()
        data["policy"] = {"source": str(path)}
        data["network"] = {**data["network"], "enabled": False}
        data["run"] = {**data["run"], "dask": None}
        sc = parse_scenario(data, "what-if scenario")
        ctx = prepare(sc, constellation=constellation)
        constellation = ctx.constellation
        if _point_steps(sc, ctx.ground.n_points) > MAX_WHATIF_POINT_STEPS:
            raise ResourceError(
                f"what-if over {ctx.ground.n_points:,} points x {ctx.t_utc.size:,} steps "
                f"exceeds {MAX_WHATIF_POINT_STEPS:,} point-steps; shorten the window")
        tables.append(finalize(ctx, simulate(ctx)))
    ta, tb = tables
    keep = ["region", "n_cells", "area_km2", "served_share", "served_km2",
            "blocked_share", "uncovered_share"]
    ra, rb = ta.regions[keep], tb.regions[keep]
    regions = ra.merge(rb, on=["region", "n_cells", "area_km2"], suffixes=("_a", "_b"))
    regions["served_km2_change"] = regions["served_km2_b"] - regions["served_km2_a"]
    regions = regions.drop(columns=["uncovered_share_b"]).rename(
        columns={"uncovered_share_a": "uncovered_share"})
    files = ["policy-a.toml", "policy-b.toml", *_write_table(regions, out, "regions")]
    term = ta.terminal_summary[["terminal", "h3_cell", "served_share"]].merge(
        tb.terminal_summary[["terminal", "served_share"]], on="terminal", suffixes=("_a", "_b"))
    files += _write_table(term, out, "terminals")
    ca_cells = ta.cells[["h3_cell", "region", "area_km2", "served_share", "rule_at_end"]]
    cb_cells = tb.cells[["h3_cell", "served_share", "rule_at_end"]]
    cells = ca_cells.merge(cb_cells, on="h3_cell", suffixes=("_a", "_b"))
    changed = cells[~np.isclose(cells["served_share_a"], cells["served_share_b"])]
    ids = as_cells(changed["h3_cell"].to_numpy(dtype=str))
    delta = changed["served_share_b"].to_numpy() - changed["served_share_a"].to_numpy()
    files.append(_write_geojson(cells_feature_collection(ids, {
        "region": changed["region"].to_numpy(object),
        "area_km2": changed["area_km2"].to_numpy(float),
        "served_share_a": changed["served_share_a"].to_numpy(float),
        "served_share_b": changed["served_share_b"].to_numpy(float),
        "change": np.where(delta > 0, "gain", "loss"),
        "rule_a": changed["rule_at_end_a"].to_numpy(object),
        "rule_b": changed["rule_at_end_b"].to_numpy(object),
    }, metadata={"policy_a": label_a, "policy_b": label_b}), out, "diff.geojson"))
    when = at if at is not None else format_utc(to_utc_datetime(scenario.time.start_utc))
    pdiff = diff_policies(ca, cb, when)
    pdiff.to_frame().to_csv(out / "policy-diff.csv", index=False)
    files.append("policy-diff.csv")
    return {
        "policy_a": label_a, "policy_b": label_b,
        "window": {"start": format_utc(to_utc_datetime(scenario.time.start_utc)),
                   "duration": scenario.time.duration, "step": scenario.time.step},
        "rule_changes": [str(c) for c in rule_changes(doc_a, doc_b)],
        "regions": _frame_records(regions),
        "cells_gaining": int((delta > 0).sum()), "cells_losing": int((delta < 0).sum()),
        "policy_diff_at": when, "policy_diff": pdiff.summary(),
        "files": files,
        "n_time": int(pd.Series(ta.regions_by_time["t_utc"]).nunique()),
    }


def whatif_outage(scenario: Scenario, down: list[str], doc: PolicyDoc, *, label: str,
                  out_dir: str | Path) -> dict[str, Any]:
    """Gateways or PoPs unavailable (``NAME`` or ``NAME@START/END``) over the scenario window:
    the engine runs the scenario with ``[[network.outages]]`` (it routes the outage case and
    the baseline with every site up on the same graph, counting only steps where the policy
    ``doc`` serves a point). Writes ``regions.csv`` / ``regions.json`` (the engine's
    ``whatif_regions``), ``points.csv`` (per cell and terminal: change in routed share and in
    mean RTT) and ``diff.geojson`` (cells that lose service or get a longer RTT). Returns a
    JSON-ready summary.
    """
    import pandas as pd

    from ..engine import finalize, prepare, simulate
    from ..outputs.geojson import cells_feature_collection
    from ..scenario import outage_specs

    if not down:
        raise InputError("name at least one gateway or PoP that is down", "down")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy_path = _write_policy(doc, out / "policy.toml")
    data = scenario.model_dump()
    data["policy"] = {"source": str(policy_path)}
    data["network"] = {**data["network"], "enabled": True,
                       "outages": outage_specs(list(down), "down")}
    data["run"] = {**data["run"], "dask": None}
    sc = parse_scenario(data, "what-if scenario")
    ctx = prepare(sc)
    if _point_steps(sc, ctx.ground.n_points) > MAX_WHATIF_POINT_STEPS:
        raise ResourceError(
            f"outage what-if over {ctx.ground.n_points:,} points x {ctx.n_steps:,} steps "
            f"exceeds {MAX_WHATIF_POINT_STEPS:,} point-steps; shorten the window")
    tables = finalize(ctx, simulate(ctx))
    regions = tables.extra["whatif_regions"]
    files = ["policy.toml", *_write_table(regions, out, "regions")]
    cells = tables.cells
    tsum = tables.terminal_summary
    cols = ["routed_share_change", "rtt_change_mean_ms"]
    points = pd.concat([
        cells[["h3_cell", "region", *cols]].rename(columns={"h3_cell": "point"}),
        tsum[["terminal", *cols]].rename(columns={"terminal": "point"}).assign(region="")],
        ignore_index=True)
    points.to_csv(out / "points.csv", index=False)
    files.append("points.csv")
    loss = cells["routed_share_change"].to_numpy(float) < -1e-12
    longer = ~loss & (cells["rtt_change_mean_ms"].to_numpy(float) > 1e-6)
    hit = loss | longer
    ids = np.fromiter((int(h, 16) for h in cells["h3_cell"][hit]), dtype=np.uint64)
    files.append(_write_geojson(cells_feature_collection(ids, {
        "region": cells["region"].to_numpy(object)[hit],
        "change": np.where(loss[hit], "loss", "longer_rtt"),
        "routed_share_change": cells["routed_share_change"].to_numpy(float)[hit],
        "rtt_change_mean_ms": cells["rtt_change_mean_ms"].to_numpy(float)[hit],
    }, metadata={"down": list(down), "policy": label}), out, "diff.geojson"))
    return {
        "down": list(down), "policy": label,
        "window": {"start": format_utc(to_utc_datetime(scenario.time.start_utc)),
                   "duration": scenario.time.duration, "step": scenario.time.step},
        "regions": _frame_records(regions),
        "terminals": _frame_records(tables.extra["whatif_terminals"]),
        "cells_losing_service": int(loss.sum()),
        "cells_longer_rtt": int(longer.sum()),
        "files": files,
    }


def check_outages(scenario: Scenario, down: list[str]) -> None:
    """`SiteError` unless every ``NAME`` / ``NAME@START/END`` names a gateway or PoP of the
    scenario's network (checked before a job is queued)."""
    from ..network import load_sites, parse_outage

    sites = load_sites(scenario.network.gateways, scenario.network.pops)
    for i, d in enumerate(down):
        parse_outage(d, sites, f"down[{i}]")
