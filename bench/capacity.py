"""The capacity stage's cost and its busy-hour figures, against published speeds.

Runs the built-in default scenario (Europe and East Asia: Ukraine, Crimea, Taiwan and their
neighbours; one day at 60 s; network stage on) three times in the same process: capacity off,
capacity on without the what-if, and as shipped (capacity on, Crimea and Taiwan switched on in
the what-if), after a one-step warm-up run so all start with the boundary catalogue, land cells
and constellation loaded; prints the wall time of each, the ratios and the time per phase;
then the busy-hour Mbps per subscriber, headroom and sold-out share per region next to the
published Starlink speed figures found (Ookla Speedtest medians, as reported; sources below).

Mbps per subscriber is carried traffic divided by subscribers at the busy hour: what the
average subscriber moves, not a speed test. A speed test (Ookla's medians) measures what one
saturating flow gets; the model's counterpart is the headroom (what one more saturating user
of a cell could add while everybody else keeps their rate).

    python bench/capacity.py [--quick] [--duration 1d] [--step 60s]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from skyfence.engine import run
from skyfence.results import RunTables
from skyfence.scenario import default_scenario, with_overrides

#: Published Starlink median download speeds (Ookla Speedtest Intelligence, as reported).
PUBLISHED: dict[str, tuple[float | None, str]] = {
    "Poland": (115.58, "Europe ref.: Germany Q4 2021 115.58 Mbps, 'similar results for "
                       "Poland' (Ookla via Capacity Media)"),
    "Romania": (100.0, "Europe Q2 2023: > 100 Mbps in 14 of 27 countries, > 80 in 24 (Ookla "
                       "via SatProviders)"),
    "Moldova": (100.0, "Europe Q2 2023 (as Romania)"),
    "Ukraine": (100.0, "Europe Q2 2023 (as Romania); no Ukraine figure found"),
    "Philippines": (110.78, "Q1 2023 110.78 Mbps (Ookla via Philstar, 2023-05-09)"),
    "Japan": (None, "no figure found"),
    "United States": (104.71, "Q1 2025 104.71 Mbps (Ookla via Broadband Breakfast, "
                              "2025-06-10); reference only"),
}


def _timed(sc) -> tuple[float, RunTables]:
    t0 = time.perf_counter()
    tables = run(sc)
    return time.perf_counter() - t0, tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 h from 18:00 UTC instead of a day")
    ap.add_argument("--duration", default="1d")
    ap.add_argument("--step", default="60s")
    args = ap.parse_args()
    base = default_scenario()
    window = ({"start": "2026-02-23T18:00:00Z", "duration": "2h", "step": args.step}
              if args.quick else {"duration": args.duration, "step": args.step})
    base = with_overrides(base, {"time": window, "outputs": {"maps": False}})
    # Warm-up: load the catalogue, land cells and constellation once.
    run(with_overrides(base, {"time": {"duration": "0s"}, "capacity": {"enabled": False}}))
    off = with_overrides(base, {"capacity": {"enabled": False}})
    plain = with_overrides(base, {"capacity": {"whatif_on": []}})
    t_off, tab_off = _timed(off)
    t_plain, _tab_plain = _timed(plain)
    t_on, tab_on = _timed(base)
    n_cells = len(tab_on.cells)
    print(f"default scenario: {n_cells:,} cells in {len(tab_on.regions)} regions, "
          f"{tab_on.metadata['n_steps']:,} steps of {args.step}, "
          f"{tab_on.metadata['n_satellites']:,} satellites; network stage on")
    print(f"{'capacity off':>24}: {t_off:8.1f} s")
    print(f"{'capacity on, no what-if':>24}: {t_plain:8.1f} s   (/ off = {t_plain / t_off:.2f}x)")
    print(f"{'capacity on (default)':>24}: {t_on:8.1f} s   (/ off = {t_on / t_off:.2f}x; "
          f"what-if {', '.join(base.capacity.whatif_on) or '-'} switched on)")
    phases = sorted(set(tab_off.metadata["timings_s"]) | set(tab_on.metadata["timings_s"]),
                    key=list(tab_on.metadata["timings_s"]).index)
    print("  phase            off (s)   on (s)")
    for ph in phases:
        a = tab_off.metadata["timings_s"].get(ph, 0.0)
        b = tab_on.metadata["timings_s"].get(ph, 0.0)
        print(f"  {ph:<14} {a:8.2f} {b:8.2f}")
    cap = tab_on.metadata["capacity"]
    busy = cap["busy_hours_local"]
    print(f"\nbusy hour {busy[0]:g}-{busy[1]:g} h local; offered "
          f"{cap['busy_mbps_per_subscriber']:.2f} Mbps per subscriber at the peak; rule "
          f"{cap['rule']}, assignment {cap['assignment']}")
    head = (f"{'region':<12} {'subscribers':>11} {'Mbps/sub':>9} {'headroom':>9} "
            f"{'sold out':>8} {'what-if':>8} {'published':>9}  source")
    print(head)
    print("-" * len(head))
    for _, r in tab_on.regions.iterrows():
        pub, src = PUBLISHED.get(r["region"], (None, "-"))
        wif = r.get("whatif_mbps_per_subscriber", np.nan)
        print(f"{r['region']:<12} {r['subscribers']:>11,.0f} {_f(r['mbps_per_subscriber'], 2):>9} "
              f"{_f(r['headroom_p50_mbps'], 0):>9} {_f(r['sold_out_share'] * 100, 1):>7}% "
              f"{_f(wif, 2):>8} {_f(pub, 1):>9}  {src}")
    print("\nMbps/sub: busy-hour carried traffic per subscriber (average use); headroom: "
          "subscriber-weighted median of what one more saturating user could add (the "
          "counterpart of a speed test); published: Ookla median download (a speed test); "
          "what-if: Mbps/sub with the scenario's whatif_on territories switched on.")


def _f(x: object, digits: int) -> str:
    if x is None or not np.isfinite(float(x)):  # type: ignore[arg-type]
        return "-"
    return f"{float(x):,.{digits}f}"  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
