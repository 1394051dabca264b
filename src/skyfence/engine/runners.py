"""Running work over time chunks: in this process, or on a Dask cluster.

The engine splits a window into time chunks, runs the same pure function on each chunk and
merges the partial results with a pure, associative, order-free ``merge``. `LocalRunner` runs
chunks one after another here; `DaskRunner` runs them on a Dask distributed cluster (a
``LocalCluster`` on this machine, or the address of a running scheduler: ``dask scheduler`` on
one host and ``dask worker tcp://HOST:8786`` on each) and merges results as they complete.

What makes Dask pay (measured; see ``bench/parallel.py``):

- the run's context (constellation, ground, policy, visibility index) is shipped to each worker
  once (``scatter(..., broadcast=True)``) instead of with every chunk, so no worker rebuilds it;
- distributed's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` for its workers, which makes glibc
  return memory to the OS after every large free: the kernel's per-step arrays then page-fault
  again at every step (tens of millions of faults a run). Local clusters start without it, and
  every worker raises glibc's trim threshold with ``mallopt`` on its first task (this also
  covers workers started by hand with ``dask worker``);
- one thread per worker and one BLAS thread per thread, so workers do not oversubscribe cores.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import InputError

__all__ = ["ChunkRunner", "DaskRunner", "LocalRunner", "make_runner", "split_evenly"]

R = TypeVar("R")

#: glibc's mallopt parameter for the trim threshold, and the value workers use (bytes).
_M_TRIM_THRESHOLD = -1
_WORKER_TRIM_THRESHOLD = 256 * 2**20
_tuned = False


class ChunkRunner(Protocol):
    """Runs ``fn`` on each chunk and folds the results with ``merge``."""

    def map_reduce(
        self,
        fn: Callable[[Any], R],
        chunks: Sequence[Any],
        merge: Callable[[R, R], R],
        on_done: Callable[[Any], None] | None = None,
        *,
        consume: Callable[[R], R] | None = None,
    ) -> R | None:  # pragma: no cover - protocol
        ...


class LocalRunner:
    """Run chunks sequentially in this process (the default; bounded memory)."""

    def map_reduce(
        self,
        fn: Callable[[Any], R],
        chunks: Sequence[Any],
        merge: Callable[[R, R], R],
        on_done: Callable[[Any], None] | None = None,
        *,
        consume: Callable[[R], R] | None = None,
    ) -> R | None:
        total: R | None = None
        for chunk in chunks:
            part = fn(chunk)
            if consume is not None:
                part = consume(part)
            total = part if total is None else merge(total, part)
            if on_done is not None:
                on_done(chunk)
        return total


def tune_worker_process() -> bool:
    """Raise glibc's malloc trim threshold in this process (once); True when applied."""
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = bool(libc.mallopt(_M_TRIM_THRESHOLD, _WORKER_TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
    _tuned = ok
    return ok


def _run_on_worker(fn: Callable[[Any], Any], chunk: Any) -> Any:
    tune_worker_process()
    return fn(chunk)


def worker_environment() -> dict[str, str]:
    """Environment of local-cluster workers: one thread for BLAS/OpenMP, no malloc trimming."""
    return {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1"}


class DaskRunner:
    """Run chunks on a Dask distributed cluster.

    Parameters
    ----------
    address : str
        ``"local"`` starts a ``LocalCluster`` (processes, one thread each); anything else is
        the address of a running scheduler (``tcp://host:8786``).
    n_workers : int, optional
        Workers of the local cluster (default: the number of cores).
    max_in_flight : int
        At most this many chunks are submitted and not yet merged (bounds memory).
    """

    def __init__(self, address: str = "local", n_workers: int | None = None,
                 max_in_flight: int = 8) -> None:
        self.address = address
        self.n_workers = n_workers
        self.max_in_flight = max(1, max_in_flight)

    def _client(self) -> tuple[Any, Any]:
        import dask
        from dask.distributed import Client, LocalCluster

        if self.address == "local":
            n = self.n_workers or os.cpu_count() or 1
            with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(),
                                  "distributed.worker.daemon": False}):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
            return Client(cluster), cluster
        if not self.address.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise InputError(f"Dask address {self.address!r} must be 'local' or a scheduler "
                             "address such as tcp://HOST:8786", "run.dask")
        try:
            return Client(self.address, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach Dask scheduler {self.address!r}: {exc}",
                             "run.dask") from None

    def map_reduce(
        self,
        fn: Callable[[Any], R],
        chunks: Sequence[Any],
        merge: Callable[[R, R], R],
        on_done: Callable[[Any], None] | None = None,
        *,
        consume: Callable[[R], R] | None = None,
    ) -> R | None:
        from dask.distributed import as_completed

        client, cluster = self._client()
        try:
            # The function (and the run context it carries) goes to every worker once.
            fn_future = client.scatter(fn, broadcast=True, hash=False)
            total: R | None = None
            queue = list(chunks)
            futures = as_completed()
            chunk_of: dict[str, Any] = {}

            def submit() -> None:
                chunk = queue.pop(0)
                fut = client.submit(_run_on_worker, fn_future, chunk, pure=False)
                chunk_of[fut.key] = chunk
                futures.add(fut)

            while queue and futures.count() < self.max_in_flight:
                submit()
            for fut in futures:
                part = fut.result()
                chunk = chunk_of.pop(fut.key)
                fut.release()
                if consume is not None:
                    part = consume(part)
                # The merge is order-free: fold partials as they arrive.
                total = part if total is None else merge(total, part)
                if on_done is not None:
                    on_done(chunk)
                if queue:
                    submit()
            return total
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def make_runner(dask: str | None, n_workers: int | None = None) -> LocalRunner | DaskRunner:
    """`LocalRunner` for ``None``/``""``, else a `DaskRunner` for ``"local"`` or an address."""
    if not dask:
        return LocalRunner()
    return DaskRunner(dask, n_workers=n_workers)


def split_evenly(n: int, size: int) -> list[slice]:
    """Consecutive slices of ``range(n)`` of length ``size`` (the last may be shorter)."""
    if size < 1:
        raise InputError(f"chunk size must be >= 1, got {size}", "run.chunk_steps")
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
