"""Benchmark: which territories each H3 cell holds (skyfence.ground.territory_shares).

Run: ``.venv/bin/python bench/territory_shares.py [--resolution 5]``. Prints:

* the world build at a resolution, phase by phase (wall and CPU time), into a temporary
  cache folder, then the load of the cached table;
* the cost per cell of the vectorised land-share path against a simple baseline measured
  in the same run: for each cell, one shapely intersection with every territory whose
  bounding box it meets and a per-geometry area (the obvious loop), on the same cells;
* cell polygons: `cells_to_polygons` on all cells at once against one call per cell.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import shapely

from skyfence.ground import (
    cells_to_polygons,
    geodesic_area_km2,
    get_catalogue,
    latlng_to_cells,
    territory_shares,
)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--resolution", type=int, default=5)
    ap.add_argument("--sample", type=int, default=2000, help="cells for the per-cell baseline")
    args = ap.parse_args()
    res = args.resolution
    cat = get_catalogue("deu")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SKYFENCE_CACHE_DIR"] = tmp
        t0, c0 = _clock()
        last: list = [t0, c0, None]

        def progress(msg: str | None) -> None:
            t, c = _clock()
            if last[2] is not None:
                print(f"  {t - last[0]:6.1f} s wall, {c - last[1]:6.1f} s CPU: {last[2]}")
            last[:] = [t, c, msg]

        print(f"world build at resolution {res} (Natural Earth {cat.info.natural_earth_version}, "
              f"{len(cat)} territories):")
        shares = territory_shares(res, progress=progress)
        progress(None)
        t1, c1 = _clock()
        print(f"  total {t1 - t0:.1f} s wall, {c1 - c0:.1f} s CPU: {len(shares):,} rows, "
              f"{shares.cells.size:,} cells")
        t2, _ = _clock()
        territory_shares(res)
        print(f"  cached load: {time.perf_counter() - t2:.2f} s")
        land, _, _ = shares.totals(shares.cells)
        multi = np.bincount(np.searchsorted(shares.cells, shares.cell)) > 1
        print(f"  cells touching 2+ territories: {multi.sum():,}; sea-only cells (territorial "
              f"sea, no land): {(land == 0).sum():,}")

    # Per-cell baseline on coastal / border cells near Kharkiv, Crimea and Taiwan.
    rng = np.random.default_rng(0)
    centres = [(50.36, 36.36), (45.3, 34.0), (23.5, 120.5), (59.9, 10.6)]
    lat = np.concatenate([c[0] + rng.uniform(-1.5, 1.5, args.sample // 4) for c in centres])
    lon = np.concatenate([c[1] + rng.uniform(-1.5, 1.5, args.sample // 4) for c in centres])
    cells = np.unique(latlng_to_cells(lat, lon, res))
    territory_shares(cells=cells[:10])  # warm the indexes
    t0 = time.perf_counter()
    fast = territory_shares(cells=cells, territorial_sea_km=0.0)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    geoms = cat.geometries
    boxes = shapely.bounds(geoms)
    n_rows = 0
    for c in cells:
        poly = cells_to_polygons([c])[0]
        area = geodesic_area_km2(poly)
        x0, y0, x1, y1 = poly.bounds
        hit = np.flatnonzero((boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1)
                             & (boxes[:, 3] >= y0))
        for i in hit:
            a = geodesic_area_km2(shapely.intersection(poly, geoms[i]))
            n_rows += a / area > 1e-9
    t_base = time.perf_counter() - t0
    print(f"land shares of {cells.size:,} coastal/border cells: vectorised {t_fast:.2f} s, "
          f"per-cell loop {t_base:.2f} s: {t_base / t_fast:.1f}x "
          f"(rows {int((fast.land_share > 0).sum()):,} vs {int(n_rows):,})")

    t0 = time.perf_counter()
    cells_to_polygons(cells)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in cells:
        cells_to_polygons([c])
    t_loop = time.perf_counter() - t0
    print(f"cell polygons: vectorised {t_vec * 1e6 / cells.size:.1f} us/cell, one by one "
          f"{t_loop * 1e6 / cells.size:.1f} us/cell: {t_loop / t_vec:.1f}x")


if __name__ == "__main__":
    main()
