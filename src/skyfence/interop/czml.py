"""CZML scenes for Cesium: satellites over a window, ground sites, paths over time, cells by
status. Built and validated with ``czml3``.

A scene is plain data (`SceneData`): satellite ITRS positions ``(n_sat, n_time, 3)`` km,
fixed sites (gateways, PoPs, Hypatia ground stations), terminals over time (position and
service status per step: terminals may move along tracks), path tracks (the node sequence of
a terminal's or a station pair's path at every step) and H3 cells with a status per step.
`build_czml` turns it into a ``czml3.Document``:

- satellites: Earth-fixed (``FIXED``) Cartesian samples in metres, Lagrange interpolation;
- sites: cartographic points with labels;
- terminals: cartographic points (sampled, linear interpolation, when they move) coloured by
  their status per step, with the status (and path) per step as CZML custom ``properties``;
- paths: one polyline per distinct node sequence, its vertices *references* to the moving
  entities' positions (so links follow the satellites), shown over the intervals the sequence
  is in use (straight chords, ``arcType NONE``);
- cells: H3 polygons whose colour changes with their status (served / blocked / uncovered).

`skyfence.interop.runview` builds a scene from a run of the engine (`scene_from_scenario`);
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
    "TerminalTrack",
    "boundaries_geojson",
    "build_czml",
    "sample_index",
    "scene_from_hypatia",
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
class TerminalTrack:
    """A terminal over the scene's steps.

    ``lat_deg``, ``lon_deg`` (WGS-84 deg), ``alt_km`` (above the ellipsoid) and ``status``
    (`STATUS_NAMES` codes; -1 = unknown) have one value per step; ``path`` optionally the
    routed path per step as text (None = no path), shown in the description and properties.
    """

    id: str
    name: str
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    alt_km: np.ndarray
    status: np.ndarray
    path: tuple[str | None, ...] = ()

    @property
    def moving(self) -> bool:
        """Whether the position changes over the steps."""
        return bool(np.ptp(self.lat_deg) > 0 or np.ptp(self.lon_deg) > 0
                    or np.ptp(self.alt_km) > 0) if np.size(self.lat_deg) else False


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
    terminals : tuple of TerminalTrack
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
    terminals: tuple[TerminalTrack, ...] = ()
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
        for tm in self.terminals:
            sizes = {np.size(tm.lat_deg), np.size(tm.lon_deg), np.size(tm.alt_km),
                     np.size(tm.status)}
            if sizes != {n_t} or (tm.path and len(tm.path) != n_t):
                raise InputError(f"terminal {tm.name!r} needs one position, status (and path) "
                                 f"per step ({n_t})", "terminals")


def _iso(t: np.datetime64) -> str:
    ms = np.asarray(t, dtype="datetime64[ms]")
    return f"{np.datetime_as_string(ms, unit='ms')}Z"


def _runs(values: Sequence[object]) -> list[tuple[int, int]]:
    """``[i, j)`` index ranges of the runs of equal consecutive values."""
    out = []
    i = 0
    while i < len(values):
        j = i + 1
        while j < len(values) and values[j] == values[i]:
            j += 1
        out.append((i, j))
        i = j
    return out


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
    # Terminals: where they are at each step, coloured by their status.
    ends = [_iso(x) for x in np.append(t[1:], t[-1] + np.timedelta64(round(scene.step_s * 1e9),
                                                                      "ns"))]
    starts = [_iso(x) for x in t]
    step_dt = ((t - t[0]) / np.timedelta64(1, "ns")).astype(float) / 1e9
    for tm in scene.terminals:
        lat = np.asarray(tm.lat_deg, float)
        lon = np.asarray(tm.lon_deg, float)
        h_m = np.asarray(tm.alt_km, float) * 1000.0
        if tm.moving and t.size > 1:
            pos = Position.model_validate({
                "epoch": start, "interpolationAlgorithm": InterpolationAlgorithms.LINEAR,
                "interpolationDegree": 1,
                "cartographicDegrees": np.column_stack(
                    [step_dt, np.round(lon, 7), np.round(lat, 7), np.round(h_m, 2)]
                ).ravel().tolist()})
        else:
            pos = Position(cartographicDegrees=[float(lon[0]), float(lat[0]), float(h_m[0])])
        codes = [int(c) for c in np.asarray(tm.status, np.int64)]
        colours = []
        status_prop = []
        for i, j in _runs(codes):
            name = STATUS_NAMES.get(codes[i], "unknown")
            rgba = [*STATUS_COLORS.get(codes[i], (255, 255, 255, 255))[:3], 255]
            colours.append(IntervalValue(start=starts[i], end=ends[j - 1],
                                         value=Color(rgba=rgba)))
            status_prop.append({"interval": f"{starts[i]}/{ends[j - 1]}", "string": name})
        props: dict[str, object] = {"status": status_prop}
        if tm.path:
            props["path"] = [{"interval": f"{starts[i]}/{ends[j - 1]}",
                              "string": tm.path[i] or ""} for i, j in _runs(list(tm.path))]
        counts = ", ".join(f"{STATUS_NAMES.get(c, 'unknown')} {codes.count(c)}"
                           for c in sorted(set(codes)))
        packets.append(Packet(
            id=tm.id, name=tm.name, properties=props,
            description=f"terminal {tm.name}{' (moving)' if tm.moving else ''}: "
            f"{lat[0]:.4f}, {lon[0]:.4f}; steps {counts}",
            position=pos,
            # (A colour over time is a list of intervals, each with its own rgba: what
            # Cesium reads; an "rgba" holding intervals would read as a sampled colour.)
            point=Point(pixelSize=11, color=TimeIntervalCollection(values=colours)
                        if len(colours) > 1 else colours[0].value,
                        outlineColor=Color(rgba=list(KIND_COLORS["terminal"])), outlineWidth=2),
            label=Label(text=tm.name, font="12px sans-serif",
                        fillColor=Color(rgba=list(KIND_COLORS["terminal"])),
                        pixelOffset=Cartesian2Value(values=[12, -12]))))
    # Paths: one polyline per distinct node sequence, shown while in use.
    label_of = dict(zip(scene.sat_ids, scene.sat_names, strict=True))
    label_of.update({s.id: s.name for s in scene.sites})
    label_of.update({tm.id: tm.name for tm in scene.terminals})
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
            desc = f"{p.name}: {' - '.join(label_of.get(n, n) for n in nodes)}"
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
                                        color=TimeIntervalCollection(values=values)
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


#: Satellite position samples a scene keeps at most (n_sat x n_sample), to keep CZML small.
MAX_POSITION_SAMPLES = 1_000_000
#: Closest spacing of satellite position samples, s (Cesium's degree-5 Lagrange interpolation
#: is then metre-accurate for LEO).
MIN_SAMPLE_SPACING_S = 10.0


def sample_index(n_time: int, n_sat: int, span_s: float = 0.0) -> np.ndarray:
    """Time-step indices at which satellite positions are sampled (always the first and last):
    at most `MAX_POSITION_SAMPLES` in all and no closer than `MIN_SAMPLE_SPACING_S`."""
    keep = min(n_time, MAX_POSITION_SAMPLES // max(n_sat, 1))
    if span_s > 0:
        keep = min(keep, int(span_s // MIN_SAMPLE_SPACING_S) + 1)
    keep = max(2, keep)
    if keep >= n_time:
        return np.arange(n_time)
    return np.unique(np.round(np.linspace(0, n_time - 1, keep)).astype(np.int64))


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
    keep = sample_index(t.size, n_sat, float(t_ns[-1] - t_ns[0]) / 1e9 if t_ns.size else 0.0)
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
