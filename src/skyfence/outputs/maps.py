"""PNG maps of cell metrics with country borders, and time-series plots of terminals.

Matplotlib's Agg renderer through `matplotlib.figure.Figure` (no pyplot, no display, no
global backend switch). Maps are drawn in an equirectangular
frame centred on the cells' circular-mean longitude, so a region across the antimeridian
(Russia, Fiji) stays in one piece; borders are clipped to the map frame before they are
shifted, so no line runs across the whole map. Country borders come from the Natural Earth
catalogue of `skyfence.ground.regions` (`country_borders`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from shapely.geometry.base import BaseGeometry

from ..errors import InputError
from ..fsio import atomic_output
from ..ground import DEFAULT_EDITION, cells_to_latlng, cells_to_polygons, get_catalogue

__all__ = ["country_borders", "plot_cell_map", "plot_terminal_timeseries"]


def country_borders(edition: str | None = None) -> list[BaseGeometry]:
    """Every admin-0 geometry of a Natural Earth edition (default: the catalogue's default)."""
    cat = get_catalogue(edition or DEFAULT_EDITION)
    return [cat.geometry(name) for name in cat.names]


def _centre_lon(lon_deg: np.ndarray) -> float:
    a = np.radians(lon_deg)
    return float(np.degrees(np.arctan2(np.sin(a).mean(), np.cos(a).mean())))


def _shift(xy: np.ndarray, centre: float) -> np.ndarray:
    out = xy.copy()
    out[:, 0] = (out[:, 0] - centre + 180.0) % 360.0 - 180.0 + centre
    return out


def _polygon_rings(geom: BaseGeometry) -> list[np.ndarray]:
    rings = []
    for poly in shapely.get_parts(geom):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        rings.append(np.asarray(poly.exterior.coords)[:, :2])
    return rings


def _cell_patches(cells: np.ndarray, centre: float, polygons: np.ndarray | None = None
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """Cell outlines in the shifted frame and the index of the cell of each outline."""
    polys = cells_to_polygons(cells) if polygons is None else polygons
    verts, owner = [], []
    for i, geom in enumerate(polys):
        for ring in _polygon_rings(geom):
            shifted = ring.copy()
            # Shift the piece as a whole, by where its centroid falls, so it stays contiguous.
            mid = float(np.mean(ring[:-1, 0]))
            dx = ((mid - centre + 180.0) % 360.0 - 180.0 + centre) - mid
            shifted[:, 0] += dx
            verts.append(shifted)
            owner.append(i)
    return verts, np.asarray(owner, dtype=np.int64)


def _border_lines(
    borders: Sequence[BaseGeometry], extent: tuple[float, float, float, float]
) -> list[np.ndarray]:
    """Border lines clipped to the (shifted-frame) extent, in the shifted frame."""
    x0, y0, x1, y1 = extent
    lines: list[np.ndarray] = []
    for k in (-360.0, 0.0, 360.0):
        # The part of the frame that lies in [-180, 180] after undoing a shift of k degrees.
        box = shapely.box(x0 - k, y0, x1 - k, y1)
        for geom in borders:
            if geom is None or geom.is_empty:
                continue
            if not shapely.intersects(geom, box):
                continue
            clipped = shapely.intersection(shapely.boundary(geom), box)
            for part in shapely.get_parts(clipped):
                if part.geom_type in ("LineString", "LinearRing") and not part.is_empty:
                    xy = np.asarray(part.coords)[:, :2].copy()
                    xy[:, 0] += k
                    lines.append(xy)
    return lines


def plot_cell_map(
    cells: ArrayLike,
    values: ArrayLike,
    path: str | Path,
    *,
    title: str = "",
    label: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    borders: Sequence[BaseGeometry] | None = None,
    margin_deg: float = 1.0,
    dpi: int = 150,
    polygons: np.ndarray | None = None,
) -> Path:
    """Draw H3 cells coloured by ``values`` with a colour bar and country borders; save PNG.

    Parameters
    ----------
    cells : array_like of uint64
    values : array_like of float, one per cell (NaN drawn grey)
    path : str or Path
        Output ``.png``.
    title, label : str
        Figure title and colour-bar label (say the unit).
    cmap, vmin, vmax
        Colour scale (matplotlib colour map; limits default to the data range).
    borders : sequence of shapely geometries, optional
        Country polygons to outline (`country_borders`); none when omitted.
    margin_deg : float
        Frame margin around the cells, degrees.
    polygons : array of shapely geometries, optional
        The cells' outlines (`skyfence.ground.cells_to_polygons`), when already computed.
    """
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InputError(f"map file must end in .png, got {p.name!r}", str(p))
    c = np.asarray(cells, dtype=np.uint64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if c.size == 0:
        raise InputError("no cells to draw", "cells")
    if v.size != c.size:
        raise InputError(f"need one value per cell ({c.size}), got {v.size}", "values")
    lat, lon = cells_to_latlng(c)
    centre = _centre_lon(lon)
    if polygons is not None and len(polygons) != c.size:
        raise InputError(f"need one polygon per cell ({c.size}), got {len(polygons)}",
                         "polygons")
    verts, owner = _cell_patches(c, centre, polygons)
    allxy = np.concatenate(verts)
    x0, x1 = allxy[:, 0].min() - margin_deg, allxy[:, 0].max() + margin_deg
    y0 = max(allxy[:, 1].min() - margin_deg, -90.0)
    y1 = min(allxy[:, 1].max() + margin_deg, 90.0)
    fig = Figure(figsize=(9, 7))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    finite = v[np.isfinite(v)]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    colour_map = matplotlib.colormaps[cmap].with_extremes(bad="lightgrey")
    coll = PolyCollection(verts, array=np.ma.masked_invalid(v[owner]), cmap=colour_map,
                          edgecolors="face", linewidths=0.1)
    coll.set_clim(lo, hi)
    ax.add_collection(coll)
    if borders:
        lines = _border_lines(borders, (x0, y0, x1, y1))
        ax.add_collection(LineCollection(lines, colors="black", linewidths=0.6))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    mid_lat = float(np.clip(np.mean(lat), -80.0, 80.0))
    ax.set_aspect(1.0 / np.cos(np.radians(mid_lat)))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    if title:
        ax.set_title(title)
    fig.colorbar(coll, ax=ax, shrink=0.8, label=label)
    with atomic_output(p, str(p)) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return p


def plot_terminal_timeseries(
    t_utc: ArrayLike,
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: str | Path,
    *,
    title: str = "",
    min_elevation_deg: float | None = None,
    dpi: int = 150,
) -> Path:
    """Satellites in view and best elevation of each terminal over time; save PNG.

    Parameters
    ----------
    t_utc : datetime64 array (n_time,)
    series : mapping of terminal name to ``(n_visible, best_elevation_deg)`` arrays (n_time,)
    path : str or Path
        Output ``.png``.
    min_elevation_deg : float, optional
        Drawn as a dashed line on the elevation panel.
    """
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InputError(f"plot file must end in .png, got {p.name!r}", str(p))
    if not series:
        raise InputError("no terminals to plot", "series")
    t = np.asarray(t_utc, dtype="datetime64[ns]")
    fig = Figure(figsize=(10, 6))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for name, (nv, el) in series.items():
        nv_a = np.asarray(nv, dtype=np.float64)
        el_a = np.asarray(el, dtype=np.float64)
        if nv_a.shape != t.shape or el_a.shape != t.shape:
            raise InputError(f"series of {name!r} must have {t.size} values", name)
        ax1.step(t, nv_a, where="post", label=name, linewidth=1.0)
        ax2.plot(t, el_a, label=name, linewidth=1.0)
    if min_elevation_deg is not None:
        ax2.axhline(min_elevation_deg, color="grey", linestyle="--", linewidth=0.8,
                    label=f"mask {min_elevation_deg:g} deg")
    ax1.set_ylabel("usable satellites")
    ax2.set_ylabel("best elevation (deg)")
    ax2.set_xlabel("time (UTC)")
    ax2.set_ylim(0.0, 90.0)
    ax1.legend(loc="upper right", fontsize="small")
    ax2.legend(loc="lower right", fontsize="small")
    if title:
        ax1.set_title(title)
    fig.autofmt_xdate()
    with atomic_output(p, str(p)) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return p
