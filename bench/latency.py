"""Latency model: fit on Starlink's published per-country medians, report per-country error.

Floors come from skyfence's router on the real 2026-02-23 element set (operational satellites
only), the package ground segment (`world_sites`) and +Grid lasers, every 30 min over 12 h.
The model is fitted on the training rows except `HELD_OUT_COUNTRIES`, then printed for every
row: published p50, modelled rtt_ms p50, rtt_floor_ms p50, exit PoP, error.

Run: PYTHONPATH=src python bench/latency.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skyfence.network.latency import (
    DEFAULT_LATENCY_MODEL,
    HELD_OUT_COUNTRIES,
    fit_latency_model,
    site_floors,
)
from skyfence.network.sites import world_sites
from skyfence.orbits import load_constellation
from skyfence.orbits.operational import serving_constellation

HERE = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SKYFENCE_SHARED_DATA",
                                                    str(HERE.parent / "shared" / "data")))
    args = ap.parse_args()
    data = Path(args.data)
    t0 = time.perf_counter()
    const, rep = serving_constellation(load_constellation(data / "starlink-2026-02-23.tle"),
                                       "2026-02-23T06:00:00Z")
    print(rep.summary())
    df = pd.read_csv(data / "starlink-latency-2025-12-train.csv", keep_default_na=False)
    t = np.datetime64("2026-02-23T00:00:00") + np.arange(0, 12 * 3600, 1800).astype(
        "timedelta64[s]")
    fl = site_floors(const, world_sites(), df.site, df.lat, df.lon, df.iso_a2, t)
    floor = fl.median_floor_ms
    held = df.iso_a2.isin(HELD_OUT_COUNTRIES).to_numpy()
    fitted = fit_latency_model(floor[~held], df.p50_ms.to_numpy()[~held])
    print(f"fit on {int((~held).sum())} rows: scheduling_ms={fitted.scheduling_ms:.2f} "
          f"path_stretch={fitted.path_stretch:.3f} (module default: "
          f"{DEFAULT_LATENCY_MODEL.scheduling_ms:.2f}, {DEFAULT_LATENCY_MODEL.path_stretch:.3f})")
    model = DEFAULT_LATENCY_MODEL
    rtt = np.nanmedian(model.rtt_ms(fl.rtt_floor_ms, fl.laser_hops), axis=0)
    err = rtt - df.p50_ms.to_numpy()
    out = pd.DataFrame({
        "iso_a2": df.iso_a2, "site": df.site, "set": np.where(held, "held-out", "fit"),
        "published_p50_ms": df.p50_ms, "rtt_ms_p50": rtt.round(2),
        "rtt_floor_ms_p50": floor.round(2), "laser_hops": fl.median_laser_hops,
        "exit_pop": fl.exit_pop, "error_ms": err.round(2)})
    print(out.to_string(index=False))
    floor_err = floor - df.p50_ms.to_numpy()
    for label, m in (("fit", ~held), ("held-out", held)):
        print(f"{label:9s} rows {int(m.sum()):2d}: median |error| {np.median(np.abs(err[m])):.2f} "
              f"ms (floor alone {np.median(np.abs(floor_err[m])):.2f} ms), max "
              f"{np.max(np.abs(err[m])):.2f} ms")
    from scipy.stats import spearmanr

    print(f"rank correlation (all rows): model {spearmanr(rtt, df.p50_ms)[0]:.2f}, floor "
          f"{spearmanr(floor, df.p50_ms)[0]:.2f}")
    print(f"wall {time.perf_counter() - t0:.1f} s (under load on a shared machine)")


if __name__ == "__main__":
    main()
