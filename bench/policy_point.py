"""Single-point policy checks: calls per second, one point at a time, through the Python API.

Baseline in the same run: compiling the policy for every call (what a script that calls
``compile_policy`` then ``check_points`` per point pays). Then the compiled policy reused:
``check_points`` for one point per call. Runs on any skyfence version that has
``compile_policy``, ``load_default_policy`` and ``check_points`` (so the same script measures
the code before and after a change: ``PYTHONPATH=<tree>/src python bench/policy_point.py``);
where `skyfence.policy.compiled_policy` exists it also times the built-in world policy.
"""

from __future__ import annotations

import time

import numpy as np

from skyfence.policy import catalogue_resolver, compile_policy, load_default_policy


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def main() -> None:
    rng = np.random.default_rng(0)
    lat = rng.uniform(44.5, 52.0, 2000)
    lon = rng.uniform(22.5, 40.0, 2000)
    at = "2024-06-01T00:00:00Z"
    doc = load_default_policy().policy()
    res = catalogue_resolver("deu")
    cp = compile_policy(doc, res)   # warm the region cells
    cp.check_points(["w"], [lat[0]], [lon[0]], at)
    base = _rate(lambda i: compile_policy(doc, res).check_points(
        ["p"], [lat[i]], [lon[i]], at), 20)
    reuse = _rate(lambda i: cp.check_points(["p"], [lat[i]], [lon[i]], at), 2000)
    print(f"default policy, compile per call: {base:10.1f} calls/s")
    print(f"default policy, compiled reused:  {reuse:10.1f} calls/s ({reuse / base:.0f}x)")
    try:
        from skyfence.policy import compiled_builtin, compiled_policy, load_builtin_or_file
    except ImportError:
        return
    t0 = time.perf_counter()
    world = compiled_policy(load_builtin_or_file("world").policy(), "deu")
    world.check_points(["w"], [lat[0]], [lon[0]], at)
    print(f"world policy compile (cached cells on disk): {time.perf_counter() - t0:.1f} s")
    cached = _rate(lambda i: compiled_policy(load_builtin_or_file("world").policy(), "deu")
                   .check_points(["p"], [lat[i]], [lon[i]], at), 500)
    direct = _rate(lambda i: world.check_points(["p"], [lat[i]], [lon[i]], at), 2000)
    doc = load_builtin_or_file("world").policy()
    by_doc = _rate(lambda i: compiled_policy(doc, "deu").check_points(
        ["p"], [lat[i]], [lon[i]], at), 2000)
    builtin = _rate(lambda i: compiled_builtin("world").check_points(
        ["p"], [lat[i]], [lon[i]], at), 2000)
    print(f"world policy, new document each call (content hash): {cached:10.1f} calls/s")
    print(f"world policy, same document (identity cache):        {by_doc:10.1f} calls/s")
    print(f"world policy, compiled_builtin('world'):             {builtin:10.1f} calls/s")
    print(f"world policy, compiled reused:         {direct:10.1f} calls/s")
    print("(measured under load on a shared 2-core machine)")


if __name__ == "__main__":
    main()
