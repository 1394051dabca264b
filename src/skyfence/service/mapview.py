"""Server-side state of the console: compiled policies per stored version, and the map.

`PolicyCache` compiles each stored policy version once (regions resolved against the
scenario's boundary edition, the same one the borders layer is drawn from) and keeps its
`CellLookup` for `GET /api/check`. `MapState` holds the map computed by a worker process
(`runs.compute_map`) and derives per-version status, GeoJSON layers and point details.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from ..errors import SkyfenceError
from ..policy.rules import DEFAULT_RULE, SERVED, CompiledPolicy, PolicyDoc, RuleSpec, format_utc
from ..policy.store import PolicyVersion
from . import runs
from .checks import CellLookup

__all__ = ["MapNotReadyError", "MapState", "PolicyCache"]


class PolicyCache:
    """Compiled policies keyed by stored version id (LRU, thread-safe, one compile per key)."""

    def __init__(self, edition: str, size: int = 8) -> None:
        self.edition = edition
        self._size = size
        self._items: OrderedDict[Any, tuple[CompiledPolicy, CellLookup]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Any, threading.Lock] = {}

    def peek(self, key: Any) -> tuple[CompiledPolicy, CellLookup] | None:
        """The cached entry for ``key`` or None (never compiles: safe on the event loop)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def get(self, key: Any, doc: Callable[[], PolicyDoc], source: str
            ) -> tuple[CompiledPolicy, CellLookup]:
        """The compiled policy for ``key``, compiling ``doc()`` on a miss."""
        item = self.peek(key)
        if item is not None:
            return item
        with self._lock:
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            item = self.peek(key)
            if item is not None:
                return item
            compiled = runs.compile_doc(doc(), self.edition, source)
            item = (compiled, CellLookup(compiled))
            with self._lock:
                self._items[key] = item
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
                self._key_locks.pop(key, None)
            return item

    def for_version(self, v: PolicyVersion) -> tuple[CompiledPolicy, CellLookup]:
        """Compiled policy of a stored version."""
        return self.get(("version", v.id), v.doc, f"{v.label()} (db)")


class MapNotReadyError(SkyfenceError):
    """The map is not available (not configured, still computing, or failed)."""

    def __init__(self, state: str, message: str) -> None:
        self.state = state
        super().__init__(message)


class MapState:
    """The console map: computed once in a worker process, then served from memory."""

    def __init__(self, scenario: Any | None, policies: PolicyCache) -> None:
        self.scenario = scenario
        self.policies = policies
        self.state = "off" if scenario is None else "pending"
        self.error: str | None = None
        self.data: runs.MapData | None = None
        self._lock = threading.Lock()
        self._status: OrderedDict[Any, runs.MapStatus] = OrderedDict()
        self._cells_json: bytes | None = None
        self._borders_json: bytes | None = None
        self._sites_json: bytes | None = None
        self._sats: OrderedDict[int, dict[str, Any]] = OrderedDict()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, submit: Callable[[dict[str, Any]], Future[Any]]) -> None:
        """Submit the map computation (``submit`` runs `runs.compute_map` in a worker)."""
        if self.scenario is None:
            return
        self.state = "running"
        fut = submit(self.scenario.model_dump())
        fut.add_done_callback(self._finished)

    def _finished(self, fut: Future[Any]) -> None:
        try:
            data = fut.result()
        except BaseException as exc:
            self.error = str(exc) if isinstance(exc, SkyfenceError) else \
                f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            return
        self.set_data(data)

    def set_data(self, data: runs.MapData) -> None:
        """Install computed map data (also used by tests)."""
        with self._lock:
            self.data = data
            self._status.clear()
            self._cells_json = None
            self._sats.clear()
        self.state = "ready"

    def require(self) -> runs.MapData:
        """The map data, or `MapNotReadyError`."""
        if self.data is not None:
            return self.data
        if self.state == "off":
            raise MapNotReadyError("off", "the server runs without a map (started with --no-map)")
        if self.state == "failed":
            raise MapNotReadyError("failed", f"computing the map failed: {self.error}")
        raise MapNotReadyError(self.state, "the map is still being computed; retry in a few "
                               "seconds")

    def step_index(self, step: int) -> int:
        data = self.require()
        n = int(data.t_utc.size)
        if not 0 <= step < n:
            from ..errors import InputError

            raise InputError(f"step {step} outside 0..{n - 1}", "step")
        return step

    # -- status -------------------------------------------------------------------------------

    def status_for(self, key: Any, compiled: CompiledPolicy) -> runs.MapStatus:
        """Per-step status of every point under ``compiled`` (cached by ``key``)."""
        data = self.require()
        with self._lock:
            st = self._status.get(key)
            if st is not None:
                self._status.move_to_end(key)
                return st
        st = runs.map_status(data, compiled)
        with self._lock:
            self._status[key] = st
            while len(self._status) > 16:
                self._status.popitem(last=False)
        return st

    # -- layers -------------------------------------------------------------------------------

    def cells_geojson(self) -> bytes:
        """Cells (polygons) and terminals (points), with their point index ``i``."""
        data = self.require()
        with self._lock:
            if self._cells_json is not None:
                return self._cells_json
        n_cell = data.n_cells
        fc = runs.cells_geojson(data.cells, {
            "i": np.arange(n_cell), "region": data.cell_region,
            "kind": np.full(n_cell, "cell", dtype=object)})
        for k, name in enumerate(data.terminal_names):
            i = n_cell + k
            fc["features"].append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(data.lon_deg[i]),
                                                              float(data.lat_deg[i])]},
                "properties": {"i": i, "name": name, "kind": "terminal",
                               "h3_cell": _hex(data.service_cells[i])}})
        for f in fc["features"]:
            f["id"] = f["properties"]["i"]
        out = json.dumps(fc, separators=(",", ":"), allow_nan=False).encode()
        with self._lock:
            self._cells_json = out
        return out

    def borders_geojson(self) -> bytes:
        """Country borders of the scenario's boundary edition (the geofence's own catalogue)
        and the outlines of the scenario's regions (``kind`` = ``country`` / ``region``).

        Simplified by `BORDER_TOLERANCE_DEG` (~2 km, a quarter of a service cell's 8.5 km
        edge) on a 0.001 deg grid; the countries are cached in the user cache folder.
        """
        with self._lock:
            if self._borders_json is not None:
                return self._borders_json
        import shapely
        from shapely.geometry import mapping

        from ..ground import resolve_region

        edition = self.policies.edition
        feats, source = _country_features(edition)
        if self.scenario is not None:
            for r in self.scenario.ground.regions:
                try:
                    reg = resolve_region(r.file or r.name, edition=edition)
                except SkyfenceError:
                    continue
                geom = shapely.set_precision(shapely.simplify(
                    reg.geometry, BORDER_TOLERANCE_DEG, preserve_topology=True), 1e-3)
                feats = [*feats, {"type": "Feature", "geometry": mapping(geom),
                                  "properties": {"name": r.name, "kind": "region"}}]
        fc = {"type": "FeatureCollection", "features": feats, "edition": edition,
              "source": source}
        out = json.dumps(fc, separators=(",", ":")).encode()
        with self._lock:
            self._borders_json = out
        return out

    def sites_geojson(self) -> bytes:
        """Gateways and PoPs of the scenario's network."""
        data = self.require()
        with self._lock:
            if self._sites_json is not None:
                return self._sites_json
        feats = []
        sites = data.sites
        if sites is not None:
            for g in sites.gateways:
                feats.append({"type": "Feature", "geometry": {
                    "type": "Point", "coordinates": [float(g.lon_deg), float(g.lat_deg)]},
                    "properties": {"name": g.name, "kind": "gateway",
                                   "country": getattr(g, "country", None)}})
            for p in sites.pops:
                feats.append({"type": "Feature", "geometry": {
                    "type": "Point", "coordinates": [float(p.lon_deg), float(p.lat_deg)]},
                    "properties": {"name": p.name, "kind": "pop",
                                   "gateways": list(p.gateways)}})
        out = json.dumps({"type": "FeatureCollection", "features": feats},
                         separators=(",", ":")).encode()
        with self._lock:
            self._sites_json = out
        return out

    def satellites(self, step: int) -> dict[str, Any]:
        """Sub-satellite points at a step (rounded to 0.001 deg)."""
        data = self.require()
        self.step_index(step)
        with self._lock:
            hit = self._sats.get(step)
            if hit is not None:
                return hit
        lat, lon, alt = runs.satellite_positions(data.constellation, data.t_utc[step])
        ok = np.isfinite(lat)
        out = {"step": step, "t_utc": _iso(data.t_utc[step]),
               "norad_id": data.constellation.norad_ids[ok].astype(int).tolist(),
               "lat_deg": np.round(lat[ok], 3).tolist(), "lon_deg": np.round(lon[ok], 3).tolist(),
               "alt_km": np.round(alt[ok], 1).tolist()}
        with self._lock:
            self._sats[step] = out
            while len(self._sats) > 32:
                self._sats.popitem(last=False)
        return out

    # -- details ------------------------------------------------------------------------------

    def point_detail(self, point: int, step: int, status: runs.MapStatus,
                     compiled: CompiledPolicy, policy_label: str) -> dict[str, Any]:
        """What the map knows about one point at one step (rule, reason, satellites, path)."""
        data = self.require()
        self.step_index(step)
        if not 0 <= point < data.n_points:
            from ..errors import InputError

            raise InputError(f"point {point} outside 0..{data.n_points - 1}", "index")
        code = int(status.status[step, point])
        ri = int(status.rule_index[step, point])
        n_r, n_m = len(compiled.rules), len(compiled.moving_rules)
        extra = list(getattr(compiled, "terminal_rules", ()))
        if 0 <= ri < n_r:
            r = compiled.rules[ri]
            rule, reason, ref = r.name, r.reason, r.reference
        elif n_r <= ri < n_r + n_m:
            m = compiled.moving_rules[ri - n_r]
            rule, reason, ref = m.name, m.reason, m.reference
        elif n_r + n_m <= ri < n_r + n_m + len(extra):
            tr = extra[ri - n_r - n_m]
            rule, reason, ref = tr.name, tr.reason, tr.reference
        else:
            rule, reason, ref = DEFAULT_RULE, compiled.doc.default_reason, ""
        is_term = point >= data.n_cells
        out: dict[str, Any] = {
            "index": point, "step": step, "t_utc": _iso(data.t_utc[step]),
            "kind": "terminal" if is_term else "cell",
            "name": data.point_label(point),
            "h3_cell": _hex(data.service_cells[point]),
            "region": None if is_term else str(data.cell_region[point]),
            "lat_deg": round(float(data.lat_deg[point]), 5),
            "lon_deg": round(float(data.lon_deg[point]), 5),
            "status": runs.STATUS_NAMES[code], "policy": policy_label,
            "rule": rule, "reason": reason, "reference": ref,
            "n_visible": int(data.n_visible[step, point]),
            "best_elevation_deg": _num(data.best_elevation_deg[step, point], 2),
            "serving_norad_id": _id(data.serving_norad_id[step, point]),
            "satellites": runs.point_satellites(data, point, step),
        }
        path: dict[str, Any] | None = None
        rs = data.nearest_routed(step) if data.network_enabled else None
        if rs is not None and np.isfinite(data.rtt_ms[rs, point]):
            gw, pp = int(data.gateway[rs, point]), int(data.pop[rs, point])
            path = {
                "t_utc": _iso(data.t_utc[rs]), "rtt_ms": _num(data.rtt_ms[rs, point], 3),
                "satellite_norad_id": _id(data.path_norad_id[rs, point]),
                "gateway": data.gateway_names[gw] if gw >= 0 else None,
                "pop": data.pop_names[pp] if pp >= 0 else None,
                "n_laser_hops": int(data.n_laser_hops[rs, point]),
                "applies": bool(code == SERVED),
            }
        out["path"] = path
        out["rtt_ms"] = path["rtt_ms"] if path and code == SERVED else None
        return out


BORDER_TOLERANCE_DEG = 0.02
"""Simplification of the borders layer, degrees."""


def _country_features(edition: str) -> tuple[list[dict[str, Any]], str]:
    """GeoJSON features of every country of a catalogue edition (simplified), cached on disk
    (``cache_dir()/borders-...json.gz``; a cache that cannot be written is skipped)."""
    import gzip
    import hashlib
    import os
    import tempfile

    import shapely
    from shapely.geometry import mapping

    from ..ground import cache_dir, get_catalogue

    cat = get_catalogue(edition)
    source = cat.info.description
    tag = hashlib.sha256(f"{source}|{len(cat)}".encode()).hexdigest()[:12]
    name = f"borders-{edition}-{tag}-t{BORDER_TOLERANCE_DEG}-v1.json.gz"
    path = cache_dir() / name
    try:
        cached = json.loads(gzip.decompress(path.read_bytes()))
        return cached["features"], cached["source"]
    except (OSError, ValueError, KeyError, EOFError):
        pass
    keys, geoms = [], []
    for i, c in enumerate(cat.countries):
        key = next((k for k in (c.adm0_a3, c.iso_a3, c.name) if k and cat.index(k) == i), None)
        if key is not None:
            keys.append(c)
            geoms.append(cat.geometry(key))
    simple = shapely.set_precision(
        shapely.simplify(np.array(geoms, dtype=object), BORDER_TOLERANCE_DEG,
                         preserve_topology=True), 1e-3)
    feats = [{"type": "Feature", "geometry": mapping(g),
              "properties": {"name": c.name, "iso_a2": c.iso_a2, "kind": "country"}}
             for c, g in zip(keys, simple, strict=True) if not g.is_empty]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".borders-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(gzip.compress(json.dumps({"features": feats, "source": source},
                                              separators=(",", ":")).encode()))
        os.replace(tmp, path)
    except OSError:
        pass
    return feats, source


def region_change(doc: PolicyDoc, region: str, action: str, label: str) -> PolicyDoc:
    """``doc`` with one more rule switching ``region`` on / off above every other rule."""
    top = max((r.priority for r in doc.rules), default=0)
    names = {r.name for r in doc.rules} | {m.name for m in doc.moving_rules}
    name, k = f"what-if {region} {action}", 1
    while name in names:
        k += 1
        name = f"what-if {region} {action} ({k})"
    rule = RuleSpec.model_validate({"name": name, "region": region, "action": action,
                                    "priority": top + 1, "reason": f"what-if: {label}"})
    data = doc.model_dump(mode="json", exclude_none=True)
    data["rules"] = [*data.get("rules", []), rule.model_dump(mode="json", exclude_none=True)]
    return PolicyDoc.model_validate(data)


def _hex(cell: Any) -> str:
    import h3

    return h3.int_to_str(int(cell))


def _iso(t: Any) -> str:
    return format_utc(np.datetime64(t, "ns"))


def _num(x: Any, digits: int) -> float | None:
    v = float(x)
    return round(v, digits) if np.isfinite(v) else None


def _id(x: Any) -> int | None:
    v = int(x)
    return v if v >= 0 else None
