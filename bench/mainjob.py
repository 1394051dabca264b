"""The main job (`skyfence run` on the built-in default scenario) by phase, wall time.

Prints the time of each phase (loading, ground, policy, index, stages, simulation, tables,
writing tables / NetCDF / GeoJSON / maps) and the total. With ``--baseline SRC`` (the ``src``
folder of an older checkout, e.g. from ``git worktree add /tmp/old <commit>``) it also times
that checkout's main job in a subprocess, by the phases its engine exposes, in the same run.

    python bench/mainjob.py [--duration 1d] [--baseline /tmp/old/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_OLD = r"""
import json, sys, time, tempfile
t0 = time.perf_counter()
from skyfence.engine import prepare, simulate
from skyfence.outputs.report import write_outputs
from skyfence.scenario import default_scenario, parse_scenario
sc = default_scenario()
d = sc.model_dump(); d["time"]["duration"] = sys.argv[1]
sc = parse_scenario(d)
t1 = time.perf_counter(); ctx = prepare(sc)
t2 = time.perf_counter(); res = simulate(ctx)
t3 = time.perf_counter(); write_outputs(ctx, res, tempfile.mkdtemp(), maps=True, netcdf=True)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "prepare": t2 - t1, "simulation": t3 - t2,
                  "write outputs": t4 - t3, "total": t4 - t0}))
"""


def current(duration: str, capacity: bool = True) -> dict[str, float]:
    t0 = time.perf_counter()
    from skyfence.engine import finalize, prepare, simulate
    from skyfence.outputs import write_run
    from skyfence.scenario import default_scenario, with_overrides

    t_import = time.perf_counter() - t0
    sc = with_overrides(default_scenario(), {"time": {"duration": duration},
                                             "capacity": {"enabled": capacity}})
    ctx = prepare(sc)
    tables = finalize(ctx, simulate(ctx))
    written = write_run(tables, tempfile.mkdtemp())
    out = {"import": t_import, **tables.metadata["timings_s"]}
    out.update({f"write {k}": v for k, v in written.seconds.items()})
    out["total"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", default="1d")
    ap.add_argument("--baseline", help="src folder of an older checkout to time as well")
    ap.add_argument("--no-capacity", action="store_true",
                    help="also time the main job with the capacity stage off")
    args = ap.parse_args()
    rows = {"now": current(args.duration)}
    if args.no_capacity:
        rows["now, capacity off"] = current(args.duration, capacity=False)
    if args.baseline:
        env = dict(os.environ, PYTHONPATH=args.baseline)
        res = subprocess.run([sys.executable, "-c", _OLD, args.duration], env=env,
                             capture_output=True, text=True, check=True)
        rows["baseline"] = json.loads(res.stdout.strip().splitlines()[-1])
    for name, phases in rows.items():
        print(f"-- {name} (default scenario, {args.duration})")
        for k, v in phases.items():
            print(f"  {k:>18}: {v:7.2f} s")
    if "baseline" in rows:
        print(f"total: now {rows['now']['total']:.1f} s, baseline "
              f"{rows['baseline']['total']:.1f} s, ratio "
              f"{rows['baseline']['total'] / rows['now']['total']:.2f}x")


if __name__ == "__main__":
    main()
