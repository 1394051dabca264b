"""A process-wide thread pool for compiled (numba, ``nogil``) kernels.

The coverage kernel and the router deal their work out in chunks; `run_chunks` runs chunk 0 in
the calling thread and the others in one pool of ``max_threads() - 1`` threads shared by every
kernel. (A thread pool rather than numba's ``prange``: the same parallelism, a third of the
compile time, no spinning threads between steps, and calls from several Python threads at once
are safe with any numba threading layer.) The pool is recreated in a forked child.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["max_threads", "run_chunks"]

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def max_threads() -> int:
    """Threads the kernels may use in this process (``NUMBA_NUM_THREADS``, default: every
    core)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return os.cpu_count() or 1
    return int(getattr(numba.config, "NUMBA_NUM_THREADS", os.cpu_count() or 1))


def run_chunks(fn: Callable[..., int], n_chunks: int, *args: object) -> int:
    """Run ``fn(t, n_chunks, *args)`` for ``t = 0 .. n_chunks-1`` on as many threads, and
    return the sum of the results.

    The chunk functions are compiled with ``nogil=True``, so the threads run in parallel;
    chunk 0 runs in the calling thread, the others in a process-wide pool of
    ``max_threads() - 1`` threads. (A thread pool rather than ``prange``: the same parallelism,
    a third of the compile time, no spinning threads between steps, and calls from several
    Python threads at once are safe with any numba threading layer.)
    """
    global _pool
    if n_chunks <= 1:
        return int(fn(0, 1, *args))
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, max_threads() - 1),
                                       thread_name_prefix="skyfence-kernel")
        pool = _pool
    futures = [pool.submit(fn, t, n_chunks, *args) for t in range(1, n_chunks)]
    total = int(fn(0, n_chunks, *args))
    for f in futures:
        total += int(f.result())
    return total


