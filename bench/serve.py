"""Benchmark: the operator console's HTTP API on loopback (``skyfence serve`` in a subprocess).

Run: ``.venv/bin/python bench/serve.py [--seconds 3] [--concurrency 1 16 64]``. Prints, for
``GET /api/health``, ``GET /api/check`` (one random point per request) and ``POST /api/check``
(1,000 random points per request), at each concurrency, in the same run: requests/s, points/s
and p50 / p99 latency (ms), and the ratios check / health (the single check should cost
little more than health). Baseline in the same run, in process: the library's
`CompiledPolicy.check_points` for one point against the console's `CellLookup` (what
``GET /api/check`` uses).

The store holds the built-in default policy (Ukraine, Crimea, Taiwan, Russia, Belarus: ~68,000
rule cells); rate limits are off for the run. The client (httpx, asyncio) runs on the same
machine and takes CPU from the server: on 2 cores the figures are lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store(tmp: Path) -> tuple[Path, str]:
    from skyfence.policy import PolicyStore, catalogue_resolver, load_default_policy
    from skyfence.service.users import UserStore

    db = tmp / "bench.sqlite"
    with PolicyStore(db, resolver=catalogue_resolver("deu")) as st:
        st.apply_file(load_default_policy(), by="bench")
    with UserStore(db) as us:
        token = us.add_user("bench", "viewer", by="bench")[1]
    return db, token


def _start(db: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-c", "from skyfence.cli import main; main()", "serve", "--db",
           str(db), "--port", str(port), "--no-map", "--rate-limit", "0"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start: " + (proc.stderr.read().decode()
                                                  if proc.stderr else ""))


async def _load(base: str, token: str, kind: str, concurrency: int, seconds: float,
                rng: np.random.Generator) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    lat = rng.uniform(-60, 70, 200_000)
    lon = rng.uniform(-180, 180, 200_000)
    lat_s, lon_s = lat.round(5).tolist(), lon.round(5).tolist()
    batch_points = 1000
    lats = [{"lat": a, "lon": b} for a, b in zip(lat_s[:batch_points * 50],
                                                  lon_s[:batch_points * 50], strict=True)]
    lat_ms: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    counter = [0]

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            i = counter[0]
            counter[0] += 1
            t0 = time.perf_counter()
            if kind == "health":
                r = await client.get("/api/health")
            elif kind == "check":
                k = i % lat.size
                r = await client.get("/api/check", params={"lat": lat_s[k], "lon": lon_s[k],
                                                           "at": "2026-02-23T00:00:00Z"})
            else:
                k = (i % 50) * batch_points
                r = await client.post("/api/check", json={
                    "points": lats[k:k + batch_points], "at": "2026-02-23T00:00:00Z"})
            lat_ms.append((time.perf_counter() - t0) * 1000.0)
            if r.status_code != 200:
                errors += 1

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                 timeout=60.0) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    arr = np.asarray(lat_ms)
    n = arr.size
    per = batch_points if kind == "batch" else 1
    return {"n": n, "rps": n / wall, "points_s": n * per / wall,
            "p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
            "errors": errors}


def _baseline() -> tuple[float, float]:
    """Single-point checks per second in process: `check_points` vs `CellLookup`."""
    from skyfence.policy import catalogue_resolver, compile_policy, load_default_policy
    from skyfence.service.checks import CellLookup

    policy = compile_policy(load_default_policy().policy(), catalogue_resolver("deu"))
    lookup = CellLookup(policy)
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(-60, 70, 400), rng.uniform(-180, 180, 400)
    t_ns = int(np.datetime64("2026-02-23T00:00:00", "ns").astype(np.int64))
    lookup.check([0.0], [0.0], t_ns)
    t0 = time.perf_counter()
    n_slow = 40
    for i in range(n_slow):
        policy.check_points(["p"], [lat[i]], [lon[i]], "2026-02-23T00:00:00Z")
    slow = n_slow / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(lat.size):
        lookup.check([lat[i]], [lon[i]], t_ns)
    fast = lat.size / (time.perf_counter() - t0)
    return slow, fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per endpoint and level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()

    slow, fast = _baseline()
    print("in process, one point per call (default policy, 68k rule cells):")
    print(f"  CompiledPolicy.check_points  {slow:10.1f} calls/s")
    print(f"  CellLookup.check             {fast:10.1f} calls/s   ({fast / slow:.0f}x)")
    with tempfile.TemporaryDirectory() as tmp:
        db, token = _store(Path(tmp))
        port = _free_port()
        proc = _start(db, port)
        base = f"http://127.0.0.1:{port}"
        try:
            httpx.get(base + "/api/check", params={"lat": 0, "lon": 0},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)  # compile once
            rng = np.random.default_rng(0)
            rows = {}
            for conc in args.concurrency:
                for kind in ("health", "check", "batch"):
                    rows[(kind, conc)] = asyncio.run(
                        _load(base, token, kind, conc, args.seconds, rng))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    names = {"health": "GET /api/health", "check": "GET /api/check",
             "batch": "POST /api/check (1,000 pts)"}
    print(f"\nloopback, uvicorn (1 process), {args.seconds:g} s per row; client on the same "
          f"machine ({os.cpu_count()} CPUs)")
    print(f"{'endpoint':30s} {'conc':>4s} {'req/s':>9s} {'points/s':>10s} {'p50 ms':>8s} "
          f"{'p99 ms':>8s} {'n':>7s} {'errors':>6s}")
    for conc in args.concurrency:
        for kind in ("health", "check", "batch"):
            r = rows[(kind, conc)]
            print(f"{names[kind]:30s} {conc:4d} {r['rps']:9.1f} {r['points_s']:10.0f} "
                  f"{r['p50']:8.2f} {r['p99']:8.2f} {r['n']:7d} {r['errors']:6d}")
    print("\ncheck vs health (same run):")
    for conc in args.concurrency:
        h, c = rows[("health", conc)], rows[("check", conc)]
        print(f"  concurrency {conc:3d}: req/s {c['rps'] / h['rps']:.2f}x of health, "
              f"p50 {c['p50'] / h['p50']:.2f}x, p99 {c['p99'] / h['p99']:.2f}x")


if __name__ == "__main__":
    main()
