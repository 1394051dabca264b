"""CZML scenes for Cesium: satellites over a window, ground sites, paths over time, cells by
status. Built and validated with ``czml3``.

A scene is plain data (`SceneData`): satellite ITRS positions ``(n_sat, n_time, 3)`` km,
sites (gateways, PoPs, terminals, Hypatia ground stations), path tracks (the node sequence of
a terminal's or a station pair's path at every step) and H3 cells with a status per step.
`build_czml` turns it into a ``czml3.Document``:

- satellites: Earth-fixed (``FIXED``) Cartesian samples in metres, Lagrange interpolation;
- sites: cartographic points with labels;
- paths: one polyline per distinct node sequence, its vertices *references* to the moving
  entities' positions (so links follow the satellites), shown over the intervals the sequence
  is in use (straight chords, ``arcType NONE``);
- cells: H3 polygons whose colour changes with their status (served / blocked / uncovered).

`scene_from_scenario` computes a scene from a skyfence scenario over a short window with the
library's public stages (propagation, sites, +Grid lasers, `Router`, policy evaluation);
`scene_from_hypatia` from a Hypatia directory and its dynamic state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..policy import BLOCKED, SERVED, UNCOVERED

__all__ = [
    "KIND_COLORS",
    "PATH_COLORS",
    "STATUS_COLORS",
    "STATUS_NAMES",
    "PathTrack",
    "SceneData",
    "Site",
    "boundaries_geojson",
    "build_czml",
    "scene_from_hypatia",
    "scene_from_scenario",
    "terminal_path_nodes",
    "validate_czml",
    "write_czml",
]

#: Status codes of `skyfence.policy.service_status` and their names.
STATUS_NAMES: dict[int, str] = {int(SERVED): "served", int(BLOCKED): "blocked",
                                int(UNCOVERED): "uncovered"}
#: RGBA per status (served green, blocked red, uncovered grey), translucent.
STATUS_COLORS: dict[int, tuple[int, int, int, int]] = {
    int(SERVED): (46, 204, 113, 150), int(BLOCKED): (231, 76, 60, 150),
    int(UNCOVERED): (127, 140, 141, 110)}
#: RGBA per site kind (gateway, PoP, terminal, Hypatia ground station), opaque.
KIND_COLORS: dict[str, tuple[int, int, int, int]] = {
    "gateway": (241, 196, 15, 255), "pop": (155, 89, 182, 255),
    "terminal": (52, 152, 219, 255), "station": (230, 126, 34, 255)}
_SAT_COLOR = (236, 240, 241, 230)
#: RGBA of the terminal paths, cycled in path order.
PATH_COLORS: tuple[tuple[int, int, int, int], ...] = (
    (0, 255, 255, 255), (255, 0, 255, 255), (255, 255, 0, 255), (0, 255, 0, 255))
#: Cells a scene may hold (each is a polygon entity in the browser).
MAX_CELLS = 20_000


@dataclass(frozen=True)
class Site:
    """A ground point: ``kind`` is "gateway", "pop", "terminal" or "station"."""

    id: str
    name: str
    kind: str
    lat_deg: float
    lon_deg: float
    alt_km: float = 0.0


@dataclass(frozen=True)
class PathTrack:
    """A path over time: ``nodes[i]`` is the entity ids along it at step i (None = no path).

    ``rtt_ms[i]`` is its round-trip time (NaN = none), shown in the description.
    """

    id: str
    name: str
    nodes: tuple[tuple[str, ...] | None, ...]
    rtt_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class SceneData:
    """Everything a CZML scene shows (see the module docstring).

    Attributes
    ----------
    title : str
    t_utc : datetime64[ns] (n_time,)
    step_s : float
        Length of the last step's interval, s.
    sat_ids, sat_names : tuple of str (n_sat,)
    r_sat_itrs_km : float64 (n_sat, n_sample, 3), ITRS km (NaN = no position)
    sat_t_utc : datetime64[ns] (n_sample,) or None
        Times of the position samples (default ``t_utc``; fewer samples keep big scenes
        small, Cesium interpolates between them).
    sites : tuple of Site
    paths : tuple of PathTrack
    cells : uint64 (n_cell,), H3 cells
    cell_status : int8 (n_time, n_cell), `STATUS_NAMES` codes
    edition : str
        Natural Earth edition of the boundaries (the geofence's).
    notes : tuple of str
        Lines for the viewer's legend.
    """

    title: str
    t_utc: np.ndarray
    step_s: float
    sat_ids: tuple[str, ...]
    sat_names: tuple[str, ...]
    r_sat_itrs_km: np.ndarray
    sites: tuple[Site, ...] = ()
    paths: tuple[PathTrack, ...] = ()
    cells: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    cell_status: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    edition: str = "deu"
    notes: tuple[str, ...] = ()
    sat_t_utc: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_t = np.asarray(self.t_utc).size
        if n_t == 0:
            raise InputError("a scene needs at least one time step", "t_utc")
        n_s = n_t if self.sat_t_utc is None else np.asarray(self.sat_t_utc).size
        r = np.asarray(self.r_sat_itrs_km)
        if r.shape != (len(self.sat_ids), n_s, 3) or len(self.sat_names) != len(self.sat_ids):
            raise InputError(f"satellite positions must be (n_sat, n_sample, 3) = "
                             f"({len(self.sat_ids)}, {n_s}, 3), got {r.shape}", "r_sat_itrs_km")
        cells = np.asarray(self.cells)
        if cells.size and np.asarray(self.cell_status).shape != (n_t, cells.size):
            raise InputError(f"cell status must be (n_time, n_cell) = ({n_t}, {cells.size})",
                             "cell_status")
        if cells.size > MAX_CELLS:
            raise InputError(f"{cells.size:,} cells are too many to draw (at most {MAX_CELLS:,});"
                             " use a coarser resolution", "cells")
        for p in self.paths:
            if len(p.nodes) != n_t:
                raise InputError(f"path {p.name!r} has {len(p.nodes)} steps, not {n_t}",
                                 "paths")


def _iso(t: np.datetime64) -> str:
    ms = np.asarray(t, dtype="datetime64[ms]")
    return f"{np.datetime_as_string(ms, unit='ms')}Z"


def _intervals(t: np.ndarray, step_s: float, mask: np.ndarray) -> list[tuple[str, str]]:
    """[start, end) intervals of the runs of True in ``mask`` (one entry per time step)."""
    ends = np.append(t[1:], t[-1] + np.timedelta64(round(step_s * 1e9), "ns"))
    out = []
    m = np.asarray(mask, bool)
    i = 0
    while i < m.size:
        if m[i]:
            j = i
            while j + 1 < m.size and m[j + 1]:
                j += 1
            out.append((_iso(t[i]), _iso(ends[j])))
            i = j + 1
        else:
            i += 1
    return out


def build_czml(scene: SceneData):
    """The scene as a ``czml3.Document`` (validated by czml3's models as it is built)."""
    from czml3 import Document, Packet
    from czml3.enums import ArcTypes, ClockRanges, ClockSteps, InterpolationAlgorithms
    from czml3.properties import (
        Clock,
        Color,
        Label,
        Material,
        Point,
        Polygon,
        Polyline,
        PolylineMaterial,
        Position,
        PositionList,
        SolidColorMaterial,
    )
    from czml3.types import Cartesian2Value, IntervalValue, TimeInterval, TimeIntervalCollection

    t = np.asarray(scene.t_utc, "datetime64[ns]")
    start = _iso(t[0])
    end = _iso(t[-1] + np.timedelta64(round(scene.step_s * 1e9), "ns"))
    span_s = (t[-1] - t[0]) / np.timedelta64(1, "s")
    packets = [Packet(
        id="document", name=scene.title, version="1.0",
        clock=Clock(interval=TimeInterval(start=start, end=end), currentTime=start,
                    multiplier=max(1.0, round(float(span_s) / 60.0, 1)),
                    range=ClockRanges.LOOP_STOP, step=ClockSteps.SYSTEM_CLOCK_MULTIPLIER))]
    whole = TimeIntervalCollection(values=[TimeInterval(start=start, end=end)])
    # Satellites.
    ts = t if scene.sat_t_utc is None else np.asarray(scene.sat_t_utc, "datetime64[ns]")
    dt = ((ts - t[0]) / np.timedelta64(1, "ns")).astype(float) / 1e9
    r_m = np.asarray(scene.r_sat_itrs_km, float) * 1000.0
    for k, sid in enumerate(scene.sat_ids):
        ok = np.isfinite(r_m[k]).all(axis=1)
        if not ok.any():
            continue
        samples = np.column_stack([dt[ok], np.round(r_m[k][ok], 1)]).ravel().tolist()
        # Sampled positions: the interpolation fields come from czml3's mixin, which its
        # typed constructor does not list, so the packet is validated from a mapping.
        pos = (Position.model_validate({
            "epoch": start, "cartesian": samples, "referenceFrame": "FIXED",
            "interpolationAlgorithm": InterpolationAlgorithms.LAGRANGE,
            "interpolationDegree": int(min(5, ok.sum() - 1))})
               if ok.sum() > 1 else Position(cartesian=samples[1:4], referenceFrame="FIXED"))
        packets.append(Packet(id=sid, name=scene.sat_names[k], availability=whole,
                              description=f"Satellite {scene.sat_names[k]}", position=pos,
                              point=Point(pixelSize=3, color=Color(rgba=list(_SAT_COLOR)))))
    # Sites.
    for s in scene.sites:
        color = list(KIND_COLORS.get(s.kind, (255, 255, 255, 255)))
        packets.append(Packet(
            id=s.id, name=s.name, description=f"{s.kind} {s.name}: {s.lat_deg:.4f}, "
            f"{s.lon_deg:.4f}",
            position=Position(cartographicDegrees=[float(s.lon_deg), float(s.lat_deg),
                                                   float(s.alt_km) * 1000.0]),
            point=Point(pixelSize=9 if s.kind != "terminal" else 11, color=Color(rgba=color),
                        outlineColor=Color(rgba=[0, 0, 0, 255]), outlineWidth=1),
            label=Label(text=s.name, font="12px sans-serif", fillColor=Color(rgba=color),
                        pixelOffset=Cartesian2Value(values=[12, -12]),
                        show=s.kind != "station" or len(scene.sites) < 40)))
    # Paths: one polyline per distinct node sequence, shown while in use.
    for j, p in enumerate(scene.paths):
        color = list(PATH_COLORS[j % len(PATH_COLORS)])
        seqs: dict[tuple[str, ...], list[int]] = {}
        for i, nodes in enumerate(p.nodes):
            if nodes and len(nodes) > 1:
                seqs.setdefault(tuple(nodes), []).append(i)
        for q, (nodes, steps) in enumerate(seqs.items()):
            mask = np.zeros(t.size, bool)
            mask[steps] = True
            ivs = _intervals(t, scene.step_s, mask)
            rtts = [p.rtt_ms[i] for i in steps if i < len(p.rtt_ms) and np.isfinite(p.rtt_ms[i])]
            desc = f"{p.name}: {' - '.join(nodes)}"
            if rtts:
                desc += f"<br>RTT {min(rtts):.2f} - {max(rtts):.2f} ms"
            packets.append(Packet(
                id=f"{p.id}-{q}", name=f"{p.name} ({len(nodes) - 1} links)", description=desc,
                availability=TimeIntervalCollection(
                    values=[TimeInterval(start=a, end=b) for a, b in ivs]),
                polyline=Polyline(positions=PositionList(references=[f"{n}#position"
                                                                     for n in nodes]),
                                  width=3, arcType=ArcTypes.NONE,
                                  material=PolylineMaterial(solidColor=SolidColorMaterial(
                                      color=Color(rgba=color))))))
    # Cells by status.
    cells = np.asarray(scene.cells, np.uint64)
    if cells.size:
        from ..ground.cells import cells_to_polygons

        status = np.asarray(scene.cell_status, np.int8)
        polys = cells_to_polygons(cells)
        for c in range(cells.size):
            values = []
            for code in np.unique(status[:, c]):
                for a, b in _intervals(t, scene.step_s, status[:, c] == code):
                    values.append(IntervalValue(start=a, end=b, value=Color(
                        rgba=list(STATUS_COLORS.get(int(code), (255, 255, 255, 100))))))
            values.sort(key=lambda v: v.start)
            geom = polys[c]
            parts = list(getattr(geom, "geoms", [geom]))
            for q, part in enumerate(parts):
                ring = np.asarray(part.exterior.coords)[:-1]
                coords = np.column_stack([ring, np.zeros(len(ring))]).ravel().tolist()
                names = ", ".join(f"{STATUS_NAMES.get(int(s), s)}: {int((status[:, c] == s).sum())}"
                                  for s in np.unique(status[:, c]))
                packets.append(Packet(
                    id=f"cell-{int(cells[c]):x}-{q}", name=f"cell {int(cells[c]):x}",
                    description=f"H3 cell {int(cells[c]):x}; steps {names}",
                    polygon=Polygon(positions=PositionList(cartographicDegrees=coords),
                                    material=Material(solidColor=SolidColorMaterial(
                                        color=Color(rgba=TimeIntervalCollection(values=values))
                                        if len(values) > 1 else values[0].value)),
                                    outline=False, height=0.0)))
    return Document(packets=packets)


def write_czml(scene: SceneData, path: str | os.PathLike[str]) -> Path:
    """Write the scene's CZML (compact JSON) and return the path."""
    doc = build_czml(scene)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(doc.dumps(), encoding="utf-8")
    os.replace(tmp, p)
    return p


def validate_czml(path: str | os.PathLike[str]):
    """Parse a CZML file back with czml3's models; raises `InputError` when it does not
    validate. Returns the ``czml3.Document``."""
    from czml3 import Document

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"not readable JSON: {exc}", str(p)) from None
    try:
        return Document.model_validate(data)
    except Exception as exc:  # czml3 raises pydantic errors rewritten for humans
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not valid CZML (czml3): {first}", str(p)) from None


# --------------------------------------------------------------------------------------------
# Boundaries for the viewer
# --------------------------------------------------------------------------------------------


def boundaries_geojson(edition: str = "deu", tolerance_deg: float = 0.05) -> dict:
    """Admin-0 borders of a Natural Earth edition as GeoJSON lines, simplified for display.

    ``edition`` is the geofence's (``"deu"`` from the PyPI package, ``"default"`` from npm
    world-atlas): the view shows the same borders the policy enforces, at display resolution.
    """
    import shapely

    from ..ground import get_catalogue

    cat = get_catalogue(edition)
    feats = []
    for c in cat.countries:
        key = c.adm0_a3 or c.name
        try:
            geom = cat.get(key).geometry
        except InputError:
            continue
        simple = shapely.simplify(geom, tolerance_deg, preserve_topology=True)
        if simple.is_empty:
            continue
        # Outlines only, densified to 0.5 deg so the viewer can draw them as straight
        # segments just above the ellipsoid (filled polygons of every country take seconds to
        # triangulate in a software renderer).
        lines = shapely.segmentize(simple.boundary, 0.5)
        gj = shapely.geometry.mapping(shapely.set_precision(lines, 1e-4))
        feats.append({"type": "Feature", "properties": {"name": c.name, "iso_a2": c.iso_a2},
                      "geometry": gj})
    return {"type": "FeatureCollection", "name": f"Natural Earth ({cat.info.description})",
            "features": feats}


# --------------------------------------------------------------------------------------------
# Scenes from skyfence and from Hypatia
# --------------------------------------------------------------------------------------------


def terminal_path_nodes(router, snap, serving_sat: int, pop: int) -> list[int] | None:
    """Node indices (`Snapshot` numbering) of the path satellite -> ... -> gateway -> PoP that
    ``router`` uses for a user served by ``serving_sat`` homed at (or falling back to) ``pop``.

    An adapter until `skyfence.network.Router` returns node sequences: it searches the
    router's own PoP graph (`Router.pop_graph`) from the PoP, as the router does.
    """
    from scipy.sparse.csgraph import dijkstra

    if serving_sat < 0 or pop < 0:
        return None
    g = router.pop_graph(snap)
    src = snap.n_sat + snap.n_gw + int(pop)
    _, pred = dijkstra(g.csr, indices=src, return_predecessors=True)
    if pred[serving_sat] < 0 and serving_sat != src:
        return None
    out = [int(serving_sat)]
    cur = int(serving_sat)
    while cur != src:
        cur = int(pred[cur])
        if cur < 0:
            return None
        out.append(cur)
    return out


def scene_from_scenario(
    scenario,
    *,
    start_utc: np.datetime64 | None = None,
    duration_s: float = 3600.0,
    step_s: float = 60.0,
    terminals: Sequence[str] | None = None,
    cell_resolution: int = 3,
    cells: bool = True,
) -> SceneData:
    """A scene of a skyfence scenario over a window (default the first hour at 60 s).

    Satellites: the scenario's constellation. Sites: its gateways and PoPs (network files or
    the defaults) and terminals. Paths: each terminal (default all, at most 8) routed per step
    as the network stage does (the lowest-RTT satellite in view with a route to its home PoP,
    +Grid lasers, gateways, fibre). Cells: the scenario's regions at ``cell_resolution``,
    status from visibility (the scenario's mask) and the policy.
    """
    from ..coverage import elevation_masks
    from ..ground import get_catalogue, latlng_to_cells, region_cells, resolve_region
    from ..network import (
        GroundUsers,
        PlusGrid,
        Router,
        TopologyConfig,
        build_snapshot,
        laser_capable_by_launch_year,
        load_sites,
    )
    from ..network.links import ElevationMask
    from ..network.routing import MinimumDelay
    from ..orbits import load_constellation, propagate
    from ..policy import (
        service_status,
        to_service_cells,
    )
    from ..timeutil import time_grid

    start = (np.datetime64(int(np.asarray(start_utc, dtype="datetime64[ns]").astype(np.int64)),
                           "ns") if start_utc is not None else scenario.time.start_utc)
    t = time_grid(start, duration_s, step_s)
    const = load_constellation(scenario.constellation.source, epoch=start,
                               skip_invalid=scenario.constellation.skip_invalid)
    r = propagate(const, t).r_km
    masks = elevation_masks(const.shell, scenario.constellation.min_elevation_deg,
                            scenario.constellation.min_elevation_by_shell or None)
    sites_obj = load_sites(scenario.network.gateways, scenario.network.pops)
    edition = scenario.ground.edition
    sites: list[Site] = [Site(f"gw-{i}", g.name, "gateway", g.lat_deg, g.lon_deg, g.alt_km)
                         for i, g in enumerate(sites_obj.gateways)]
    sites += [Site(f"pop-{i}", p.name, "pop", p.lat_deg, p.lon_deg)
              for i, p in enumerate(sites_obj.pops)]
    terms = list(scenario.ground.terminals)
    if terminals is not None:
        known = {tm.name: tm for tm in terms}
        missing = [n for n in terminals if n not in known]
        if missing:
            raise InputError(f"unknown terminal {missing[0]!r}; the scenario has "
                             f"{', '.join(known) or 'none'}", "terminal")
        terms = [known[n] for n in terminals]
    terms = terms[:8]
    sites += [Site(f"term-{i}", tm.name, "terminal", tm.lat, tm.lon, tm.altitude_m / 1000.0)
              for i, tm in enumerate(terms)]
    paths: list[PathTrack] = []
    notes = [f"{len(const):,} satellites ({const.name}); masks "
             f"{', '.join(f'{m:g}' for m in np.unique(masks))} deg",
             f"{len(sites_obj.gateways)} gateways, {len(sites_obj.pops)} PoPs"]
    policy = None
    if terms or (cells and scenario.ground.regions):
        from ..engine import load_policy

        _doc, policy = load_policy(scenario.policy.source, edition)
    if terms and scenario.network.enabled and policy is not None:
        cat = get_catalogue(edition)
        lat = np.array([tm.lat for tm in terms])
        lon = np.array([((tm.lon + 180.0) % 360.0) - 180.0 for tm in terms])
        idx = np.asarray(cat.locate_index(lat, lon))
        countries = [cat.countries[i].iso_a2 or "" if i >= 0 else "" for i in idx]
        alt = np.array([tm.altitude_m for tm in terms]) / 1000.0
        users = GroundUsers.from_points([tm.name for tm in terms], lat, lon, sites_obj,
                                        countries=countries, alt_km=alt)
        lasers = PlusGrid.from_constellation(const, t[0]) if scenario.network.lasers else None
        capable = laser_capable_by_launch_year(const) if scenario.network.lasers else None
        config = TopologyConfig(lasers=lasers, laser_capable=capable,
                                max_laser_range_km=scenario.network.laser_range_km)
        router = Router(MinimumDelay(), processing_ms_per_hop=scenario.network.per_hop_ms)
        n_sat, n_gw = len(const), len(sites_obj.gateways)
        node_id = ([f"sat-{k}" for k in range(n_sat)] + [f"gw-{i}" for i in range(n_gw)]
                   + [f"pop-{i}" for i in range(len(sites_obj.pops))])
        seq: list[list[tuple[str, ...] | None]] = [[] for _ in terms]
        rtt: list[list[float]] = [[] for _ in terms]
        # The policy decides per resolution-5 cell: no path where a terminal is not served.
        term_ev = policy.evaluate(latlng_to_cells(lat, lon, 5), t)
        for i in range(t.size):
            snap = build_snapshot(r[:, i, :], sites_obj, config)
            # The user mask per satellite: the smallest mask, then each pair's own.
            rule = ElevationMask(float(masks.min()))
            cand = rule.candidates(lat, lon, alt, r[:, i, :])
            el_ok = _elevation_ok(lat, lon, alt, r[:, i, :], cand, masks)
            cu, cs, ck = cand.point[el_ok], cand.sat[el_ok], cand.range_km[el_ok]
            serving, access = router.choose_serving(snap, len(terms), cu, cs, ck,
                                                    users.home_pop)
            up = router.to_pops(snap, serving, access, users.home_pop)
            allowed = term_ev.served_at(i)
            for u in range(len(terms)):
                nodes = terminal_path_nodes(router, snap, int(serving[u]), int(up.pop[u])) \
                    if up.served[u] and allowed[u] else None
                seq[u].append(None if nodes is None else
                              (f"term-{u}", *(node_id[n] for n in nodes)))
                rtt[u].append(float(up.rtt_ms[u]) if nodes is not None else float("nan"))
        for u, tm in enumerate(terms):
            paths.append(PathTrack(f"path-{u}", tm.name, tuple(seq[u]), tuple(rtt[u])))
    cell_ids = np.zeros(0, np.uint64)
    status = np.zeros((t.size, 0), np.int8)
    if cells and scenario.ground.regions and policy is not None:
        parts = []
        for rs in scenario.ground.regions:
            region = resolve_region(rs.file or rs.name, edition=edition)
            parts.append(region_cells(region, cell_resolution))
        cell_ids = np.unique(np.concatenate(parts)).astype(np.uint64)
        from ..ground import cells_to_latlng

        clat, clon = cells_to_latlng(cell_ids)
        ev = policy.evaluate(to_service_cells(cell_ids), t)
        status = np.zeros((t.size, cell_ids.size), np.int8)
        for i in range(t.size):
            cand = ElevationMask(float(masks.min())).candidates(clat, clon, 0.0, r[:, i, :])
            ok = _elevation_ok(clat, clon, np.zeros(clat.size), r[:, i, :], cand, masks)
            covered = np.zeros(cell_ids.size, bool)
            covered[cand.point[ok]] = True
            status[i] = service_status(covered, ev.served_at(i))
        notes.append(f"{cell_ids.size:,} H3 res-{cell_resolution} cells of "
                     f"{', '.join(rs.name for rs in scenario.ground.regions)}")
    keep = _sample_index(t.size, len(const), float(duration_s))
    return SceneData(
        title=f"skyfence: {scenario.name}", t_utc=t, step_s=step_s,
        sat_ids=tuple(f"sat-{k}" for k in range(len(const))),
        sat_names=tuple(f"{const.names[k]} ({int(const.norad_ids[k])})"
                        for k in range(len(const))),
        r_sat_itrs_km=r[:, keep], sites=tuple(sites), paths=tuple(paths), cells=cell_ids,
        cell_status=status, edition=edition, notes=tuple(notes), sat_t_utc=t[keep])


#: Satellite position samples a scene keeps at most (n_sat x n_sample), to keep CZML small.
MAX_POSITION_SAMPLES = 1_000_000
#: Closest spacing of satellite position samples, s (Cesium's degree-5 Lagrange interpolation
#: is then metre-accurate for LEO).
MIN_SAMPLE_SPACING_S = 10.0


def _sample_index(n_time: int, n_sat: int, span_s: float = 0.0) -> np.ndarray:
    """Time-step indices at which satellite positions are sampled (always the first and last):
    at most `MAX_POSITION_SAMPLES` in all and no closer than `MIN_SAMPLE_SPACING_S`."""
    keep = min(n_time, MAX_POSITION_SAMPLES // max(n_sat, 1))
    if span_s > 0:
        keep = min(keep, int(span_s // MIN_SAMPLE_SPACING_S) + 1)
    keep = max(2, keep)
    if keep >= n_time:
        return np.arange(n_time)
    return np.unique(np.round(np.linspace(0, n_time - 1, keep)).astype(np.int64))


def _elevation_ok(lat, lon, alt_km, r_sat, cand, masks: np.ndarray) -> np.ndarray:
    """Keep candidates above their satellite's own mask (masks may differ per shell)."""
    if np.unique(masks).size == 1 or len(cand) == 0:
        return np.ones(len(cand), bool)
    from ..earth import enu_basis, geodetic_to_itrs

    site = geodetic_to_itrs(np.asarray(lat)[cand.point], np.asarray(lon)[cand.point],
                            np.asarray(alt_km)[cand.point]).reshape(-1, 3)
    up = enu_basis(np.asarray(lat)[cand.point], np.asarray(lon)[cand.point])[2].reshape(-1, 3)
    d = r_sat[cand.sat] - site
    el = np.degrees(np.arcsin(np.einsum("ij,ij->i", d, up) / np.linalg.norm(d, axis=1)))
    return el >= masks[cand.sat]


def scene_from_hypatia(
    net,
    state_dir: str | os.PathLike[str] | None = None,
    pairs: Sequence[tuple[int, int]] = (),
    *,
    duration_s: float | None = None,
    step_s: float | None = None,
) -> SceneData:
    """A scene of a Hypatia directory: its satellites, ground stations and, with a dynamic
    state folder, the path between each ``(src gid, dst gid)`` pair at every fstate time.

    Without a state folder the window is ``duration_s`` at ``step_s`` from the epoch.
    """
    from ..earth import SPEED_OF_LIGHT_KM_S, geodetic_to_itrs
    from ..orbits import propagate
    from .hypatia_state import ForwardingState, read_fstate_dir

    n_sat, n_gs = net.n_sats, net.n_gs
    for a, b in pairs:
        if not (0 <= a < n_gs and 0 <= b < n_gs) or a == b:
            raise InputError(f"pair {a},{b}: ground-station ids must differ and lie in "
                             f"[0, {n_gs - 1}]", "pair")
    if state_dir is not None:
        files = read_fstate_dir(state_dir)
        t_ns = np.array([f[0] for f in files], np.int64)
        step = float(np.median(np.diff(t_ns))) / 1e9 if t_ns.size > 1 else (step_s or 1.0)
    else:
        dur = duration_s if duration_s is not None else 600.0
        step = step_s if step_s is not None else 10.0
        t_ns = np.arange(0, int(dur * 1e9), int(step * 1e9), dtype=np.int64)
        files = []
    t = net.epoch_utc + t_ns.astype("timedelta64[ns]")
    keep = _sample_index(t.size, n_sat, float(t_ns[-1] - t_ns[0]) / 1e9 if t_ns.size else 0.0)
    r_s = propagate(net.constellation, t[keep]).r_km
    gs_xyz = geodetic_to_itrs(net.gs_lat_deg, net.gs_lon_deg, net.gs_alt_km).reshape(-1, 3)
    node_id = [f"sat-{k}" for k in range(n_sat)] + [f"gs-{g}" for g in range(n_gs)]
    paths: list[PathTrack] = []
    if files and pairs:
        const = net.constellation
        fs = ForwardingState(net.n_nodes)
        seq: list[list[tuple[str, ...] | None]] = [[] for _ in pairs]
        rtt: list[list[float]] = [[] for _ in pairs]
        for c0 in range(0, len(files), 256):
            chunk = files[c0:c0 + 256]
            r = propagate(const, t[c0:c0 + len(chunk)]).r_km
            for i, (_, f) in enumerate(chunk):
                fs.apply(f)
                pos = np.concatenate([r[:, i, :], gs_xyz])
                for j, (a, b) in enumerate(pairs):
                    p = fs.path(n_sat + a, n_sat + b)
                    if p is None:
                        seq[j].append(None)
                        rtt[j].append(float("nan"))
                        continue
                    seq[j].append(tuple(node_id[n] for n in p))
                    km = float(np.linalg.norm(np.diff(pos[p], axis=0), axis=1).sum())
                    rtt[j].append(2.0 * km / SPEED_OF_LIGHT_KM_S * 1e3)
        gs_names = net.gs_names
        for j, (a, b) in enumerate(pairs):
            paths.append(PathTrack(f"path-{j}", f"{gs_names[a]} -> {gs_names[b]}",
                                   tuple(seq[j]), tuple(rtt[j])))
    sites = tuple(Site(f"gs-{g.gid}", g.name, "station", g.lat_deg, g.lon_deg,
                       g.elevation_m / 1000.0) for g in net.ground_stations)
    return SceneData(
        title=f"Hypatia: {net.name} ({Path(net.source).name or 'network'})", t_utc=t,
        step_s=step, sat_ids=tuple(node_id[:n_sat]),
        sat_names=tuple(f"{n.split()[0]} {k}" for k, (n, _, _) in enumerate(net.tles)),
        r_sat_itrs_km=r_s, sat_t_utc=t[keep], sites=sites, paths=tuple(paths), edition="deu",
        notes=(f"{n_sat:,} satellites, {n_gs} ground stations, {len(net.isls):,} ISLs",
               f"ground links: range <= {net.max_gsl_length_m / 1000:,.3f} km"))
