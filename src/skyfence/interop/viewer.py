"""A static, offline Cesium viewer for a CZML scene.

`write_viewer` writes a folder that works without the internet: ``index.html`` (CesiumJS,
no Ion token, no imagery or terrain provider; a plain globe with Natural Earth borders of the
geofence's edition), ``scene.czml``, ``boundaries.geojson``, ``meta.json`` (title, legend)
and ``cesium/`` (the ``Build/Cesium`` files of the npm package ``cesium``, installed by
``make setup`` into the same user cache as world-atlas; never from a CDN).

Browsers refuse CesiumJS's web workers on ``file://`` pages, so serve the folder over HTTP:
`serve` (``skyfence view --serve``) binds a local server to 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from ..errors import InputError, OfflineError
from .czml import (
    KIND_COLORS,
    PATH_COLORS,
    STATUS_COLORS,
    STATUS_NAMES,
    SceneData,
    boundaries_geojson,
    validate_czml,
    write_czml,
)

__all__ = [
    "CESIUM_VERSION",
    "cesium_install_command",
    "find_cesium",
    "serve",
    "start_server",
    "write_run_view",
    "write_viewer",
]

#: The npm ``cesium`` release the viewer is tested with (``make setup`` installs it).
CESIUM_VERSION = "1.145.0"
# What the page needs from cesium/Build/Cesium (index.js / index.cjs are for bundlers).
_CESIUM_PARTS = ("Cesium.js", "Assets", "ThirdParty", "Widgets", "Workers")


def cesium_install_command() -> str:
    """The shell command that installs npm ``cesium`` into the user cache, naming world-atlas
    too: ``npm install --no-save`` removes packages of the prefix that an install does not
    name (add any other package installed there, or run ``make setup``)."""
    from ..ground import WORLD_ATLAS_VERSION, cache_dir

    return (f"npm install --prefix {cache_dir() / 'npm'} --no-save --no-audit --no-fund "
            f"world-atlas@{WORLD_ATLAS_VERSION} cesium@{CESIUM_VERSION}")


def find_cesium() -> Path:
    """The ``Build/Cesium`` folder of npm ``cesium``: ``$SKYFENCE_CESIUM_DIR`` (that folder
    or the package root), else the user cache's ``npm/node_modules/cesium``."""
    from ..ground import cache_dir

    candidates = []
    env = os.environ.get("SKYFENCE_CESIUM_DIR")
    if env:
        candidates += [Path(env).expanduser(), Path(env).expanduser() / "Build" / "Cesium"]
    for base in (cache_dir(), Path.home() / ".cache" / "skyfence"):
        candidates.append(base / "npm" / "node_modules" / "cesium" / "Build" / "Cesium")
    for c in candidates:
        if (c / "Cesium.js").is_file() and (c / "Workers").is_dir():
            return c
    raise OfflineError("the viewer needs the npm package cesium in the user cache; run "
                       f"`make setup` or `{cesium_install_command()}`")


def _legend(scene: SceneData) -> list[dict]:
    out = [{"label": "satellite", "rgba": [236, 240, 241, 230]}]
    kinds = dict.fromkeys(s.kind for s in scene.sites)
    out += [{"label": k, "rgba": list(KIND_COLORS[k])} for k in kinds if k in KIND_COLORS]
    if scene.terminals:
        out += [{"label": f"terminal {STATUS_NAMES[c]}",
                 "rgba": [*STATUS_COLORS[c][:3], 255]} for c in sorted(STATUS_NAMES)]
    out += [{"label": f"path: {p.name}", "rgba": list(PATH_COLORS[j % len(PATH_COLORS)])}
            for j, p in enumerate(scene.paths)]
    if len(scene.cells):
        out += [{"label": f"cell {STATUS_NAMES[c]}", "rgba": list(STATUS_COLORS[c])}
                for c in sorted(STATUS_NAMES)]
    return out


def _copy_cesium(src: Path, dst: Path, link: bool) -> None:
    marker = dst / ".skyfence-cesium"
    stamp = f"{src.resolve()}\n{(src / 'Cesium.js').stat().st_size}\n"
    if link:
        if dst.is_symlink() or dst.exists():
            if dst.is_symlink() and dst.resolve() == src.resolve():
                return
            shutil.rmtree(dst) if dst.is_dir() and not dst.is_symlink() else dst.unlink()
        dst.symlink_to(src.resolve(), target_is_directory=True)
        return
    if dst.is_symlink():
        dst.unlink()
    if marker.is_file() and marker.read_text() == stamp:
        return
    if dst.exists():
        shutil.rmtree(dst)
    tmp = dst.with_name(".cesium.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for part in _CESIUM_PARTS:
        p = src / part
        if p.is_dir():
            shutil.copytree(p, tmp / part)
        else:
            shutil.copy2(p, tmp / part)
    (tmp / ".skyfence-cesium").write_text(stamp)
    os.replace(tmp, dst)


def write_viewer(scene: SceneData, out_dir: str | os.PathLike[str], *, link_cesium: bool = False,
                 validate: bool = True, czml: str | os.PathLike[str] | None = None
                 ) -> list[Path]:
    """Write the offline viewer folder for ``scene`` (see the module docstring).

    ``link_cesium`` symlinks the cached Cesium build instead of copying it (~14 MB; a copy
    keeps the folder self-contained). With ``validate`` the CZML is parsed back with czml3.
    ``czml``: the scene's CZML already written there (hard-linked, else copied, as
    ``scene.czml``). Returns the files written.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", str(out))
    cesium = find_cesium()
    out.mkdir(parents=True, exist_ok=True)
    czml_path = out / "scene.czml"
    if czml is None:
        write_czml(scene, czml_path)
    else:
        tmp = out / ".scene.czml.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(czml, tmp)
        except OSError:
            shutil.copyfile(czml, tmp)
        os.replace(tmp, czml_path)
    if validate:
        validate_czml(czml_path)
    bounds = boundaries_geojson(scene.edition)
    (out / "boundaries.geojson").write_text(json.dumps(bounds, separators=(",", ":")),
                                            encoding="utf-8")
    meta = {"title": scene.title, "legend": _legend(scene), "notes": list(scene.notes),
            "boundaries": bounds["name"]}
    (out / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    html = resources.files("skyfence.interop").joinpath("static/viewer.html").read_text("utf-8")
    (out / "index.html").write_text(html, encoding="utf-8")
    _copy_cesium(cesium, out / "cesium", link_cesium)
    return [out / "index.html", czml_path, out / "boundaries.geojson", out / "meta.json",
            out / "cesium"]


def write_run_view(scene: SceneData, out_dir: str | os.PathLike[str]
                   ) -> tuple[list[Path], str | None]:
    """A run's view beside its other outputs (``outputs.czml``): ``view.czml`` (validated
    with czml3) and, when npm ``cesium`` is installed, the offline viewer ``view/``.
    Returns the files written and a note when the viewer was left out (never an error:
    the run's results are written already)."""
    out = Path(out_dir)
    czml_path = write_czml(scene, out / "view.czml")
    validate_czml(czml_path)
    try:
        find_cesium()
    except OfflineError as exc:
        return [czml_path], f"view.czml written; the viewer view/ was left out: {exc}"
    return [czml_path, *write_viewer(scene, out / "view", validate=False, czml=czml_path)], None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    _TYPES: ClassVar[dict[str, str]] = {
        ".czml": "application/json", ".geojson": "application/json",
        ".js": "text/javascript", ".wasm": "application/wasm"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before the base class handles the request (it does so inside __init__).
        self.extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                               **self._TYPES}
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_server(folder: str | os.PathLike[str], port: int = 0
                 ) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``folder`` on 127.0.0.1 in a background thread; returns ``(server, url)``
    (``port`` 0 = any free port). Stop it with ``server.shutdown()``."""
    d = Path(folder)
    if not (d / "index.html").is_file():
        raise InputError("no index.html: write the viewer first", str(d))
    handler = functools.partial(_QuietHandler, directory=str(d))
    try:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", "port") from None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/index.html"


def serve(folder: str | os.PathLike[str], port: int = 8000) -> None:
    """Serve ``folder`` on 127.0.0.1 until interrupted (Ctrl-C)."""
    srv, url = start_server(folder, port)
    print(f"serving {folder} at {url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.shutdown()
