"""Benchmark: H3 service cells -- scalar h3 costs, region fill, the global land set build.

Run: ``.venv/bin/python bench/cells.py [--resolution 5]``. Prints figures and ratios against
simple baselines measured in the same run:

* region fill: `region_cells` (bounding-box candidates + shapely centre test) against H3's own
  ``h3shape_to_cells`` on the full Natural Earth polygon (same cells, tested in
  tests/test_cells_region.py);
* land set: a cold build (written to a temporary cache folder) against loading it back.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h3
import h3.api.basic_int as h3i
import numpy as np
import shapely

from skyfence.ground import (
    all_cells,
    get_catalogue,
    land_cell_set,
    region_cell_set,
    region_cells,
)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _h3_fill(geometry, res: int) -> np.ndarray:
    polys = [h3.LatLngPoly([(y, x) for x, y in p.exterior.coords[:-1]],
                           *[[(y, x) for x, y in r.coords[:-1]] for r in p.interiors])
             for p in shapely.get_parts(geometry)]
    return np.asarray(h3i.h3shape_to_cells(h3.LatLngMultiPoly(*polys), res), dtype=np.uint64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=5, help="land set resolution")
    args = parser.parse_args()

    cells = all_cells(3)
    ints = [int(c) for c in cells]
    print("h3-py", h3.versions()["python"], "(scalar per call), per-call cost over "
          f"{len(ints):,} cells:")
    for label, fn in [("cell_to_latlng", lambda: [h3i.cell_to_latlng(c) for c in ints]),
                      ("cell_area", lambda: [h3i.cell_area(c, "km^2") for c in ints])]:
        _, dt = _timed(fn)
        print(f"  {label:<16} {dt / len(ints) * 1e6:6.2f} us")
    ll = [h3i.cell_to_latlng(c) for c in ints]
    _, dt = _timed(lambda: [h3i.latlng_to_cell(a, o, 5) for a, o in ll])
    print(f"  {'latlng_to_cell':<16} {dt / len(ll) * 1e6:6.2f} us")

    _, dt = _timed(get_catalogue, "deu")
    print(f"\ncatalogue (deu) load: {dt:.2f} s (from the WKB cache when present)")
    cat = get_catalogue("deu")
    print("\nregion fill at resolution 5: region_cells vs h3shape_to_cells on the polygon")
    for name in ("Ukraine", "Taiwan", "Canada", "Russia"):
        region = cat.get(name)
        ours, t_ours = _timed(region_cells, region, 5)
        ref, t_ref = _timed(_h3_fill, region.geometry, 5)
        same = np.array_equal(np.sort(ref), ours)
        print(f"  {name:<8} {ours.size:>7,} cells  region_cells {t_ours:6.2f} s  "
              f"h3 fill {t_ref:6.2f} s  ratio {t_ref / t_ours:5.1f}x  same={same}")
    ua = cat.get("Ukraine")
    cs, dt = _timed(region_cell_set, ua, 5)
    print(f"  CellSet for Ukraine ({len(cs):,} cells: centres, ITRS, normals, areas): {dt:.2f} s")

    res = args.resolution
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["SKYFENCE_CACHE_DIR"] = tmp
        get_catalogue("deu")  # catalogue cache in tmp (not timed below)
        land, t_build = _timed(land_cell_set, res)
        again, t_load = _timed(land_cell_set, res)
        size = sum(p.stat().st_size for p in Path(tmp).glob("land-cells-*.npz"))
    assert np.array_equal(land.cells, again.cells)
    print(f"\nglobal land set, resolution {res} (Natural Earth 5.1.1 countries, deu):")
    print(f"  {len(land):,} cells of {all_cells(res).size:,}; "
          f"{land.area_km2.sum() / 1e6:.1f} million km^2")
    print(f"  one-time build {t_build:.1f} s; load from cache {t_load:.2f} s "
          f"(ratio {t_build / t_load:.0f}x); cache file {size / 2**20:.1f} MiB")
    arrays = (land.cells, land.lat_deg, land.lon_deg, land.alt_km, land.r_itrs_km, land.up,
              land.area_km2, land.region_code)
    print(f"  arrays in memory: {sum(a.nbytes for a in arrays) / 2**20:.0f} MiB")

if __name__ == "__main__":
    main()
