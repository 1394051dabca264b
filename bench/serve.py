"""Benchmark: the operator console's HTTP API on loopback (``skyfence serve`` in a subprocess).

Run: ``.venv/bin/python bench/serve.py [--seconds 3] [--concurrency 1 16 64]``. Prints, for
``GET /api/health``, ``GET /api/me`` (token check only), ``GET /api/check`` (one random point
per request) and ``POST /api/check`` (1,000 random points per request), at each concurrency, in
the same run: requests/s, points/s and p50 / p99 latency (ms), and the ratios check / health
(the single check should cost little more than health). Baseline in the same run, in process:
the library's `CompiledPolicy.check_points` for one point against the console's `CellLookup`
(what ``GET /api/check`` uses).

The store holds the built-in default policy (Ukraine, Crimea, Taiwan, Russia, Belarus: ~68,000
rule cells); rate limits are off for the run. The client (a minimal asyncio HTTP/1.1 keep-alive
client, one connection per concurrent caller) runs on the same machine and takes CPU from the
server: on 2 cores the figures are lower bounds.
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
KINDS = ("health", "me", "check", "batch")


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


class _Conn:
    """A minimal HTTP/1.1 keep-alive client over one asyncio connection: the benchmark's
    client must cost less than the server (httpx's per-request overhead on this machine was
    larger than the server's, capping every figure at the client's speed)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 token: str) -> None:
        self.r, self.w = reader, writer
        self.auth = f"Authorization: Bearer {token}\r\n"

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n{self.auth}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.w.write(head.encode() + b"\r\n" + body)
        await self.w.drain()
        raw = await self.r.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(x.split(b":")[1]) for x in lines if x.lower().startswith(
            b"content-length"))
        await self.r.readexactly(length)
        return status


async def _load(port: int, token: str, kind: str, concurrency: int, seconds: float,
                rng: np.random.Generator) -> dict[str, float]:
    import json

    lat = rng.uniform(-60, 70, 100_000).round(5)
    lon = rng.uniform(-180, 180, 100_000).round(5)
    paths = [f"/api/check?lat={a}&lon={b}&at=2026-02-23T00:00:00Z" for a, b in zip(
        lat.tolist(), lon.tolist(), strict=True)]
    batch_points = 1000
    bodies = [json.dumps({"points": [{"lat": a, "lon": b} for a, b in zip(
        lat[k:k + batch_points].tolist(), lon[k:k + batch_points].tolist(), strict=True)],
        "at": "2026-02-23T00:00:00Z"}).encode() for k in range(0, 20 * batch_points,
                                                               batch_points)]
    lat_ms: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    counter = [0]

    async def one() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = _Conn(reader, writer, token)
        try:
            while time.perf_counter() < stop:
                i = counter[0]
                counter[0] += 1
                t0 = time.perf_counter()
                if kind == "health":
                    status = await conn.request("GET", "/api/health")
                elif kind == "me":
                    status = await conn.request("GET", "/api/me")
                elif kind == "check":
                    status = await conn.request("GET", paths[i % len(paths)])
                else:
                    status = await conn.request("POST", "/api/check", bodies[i % len(bodies)])
                lat_ms.append((time.perf_counter() - t0) * 1000.0)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
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
                for kind in KINDS:
                    rows[(kind, conc)] = asyncio.run(
                        _load(port, token, kind, conc, args.seconds, rng))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    names = {"health": "GET /api/health", "me": "GET /api/me (token only)",
             "check": "GET /api/check", "batch": "POST /api/check (1,000 pts)"}
    print(f"\nloopback, uvicorn (1 process), {args.seconds:g} s per row; client on the same "
          f"machine ({os.cpu_count()} CPUs)")
    print(f"{'endpoint':30s} {'conc':>4s} {'req/s':>9s} {'points/s':>10s} {'p50 ms':>8s} "
          f"{'p99 ms':>8s} {'n':>7s} {'errors':>6s}")
    for conc in args.concurrency:
        for kind in KINDS:
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
