"""Running work over time chunks: in this process, or on a Dask cluster.

The engine splits a window into time chunks, runs the same pure function on each chunk and
merges the partial results with an associative ``merge``. `ChunkRunner` hides where that
happens: ``LocalRunner`` runs chunks one after another here; ``DaskRunner`` submits them to a
Dask distributed cluster (a ``LocalCluster`` on this machine by default, or the address of an
existing scheduler) and merges results as they complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from .errors import InputError

__all__ = ["ChunkRunner", "DaskRunner", "LocalRunner", "make_runner"]

T = TypeVar("T")
R = TypeVar("R")


class ChunkRunner(Protocol):
    """Runs ``fn`` on each chunk and folds the results with ``merge``."""

    def map_reduce(
        self,
        fn: Callable[[Any], R],
        chunks: Sequence[Any],
        merge: Callable[[R, R], R],
        on_done: Callable[[Any], None] | None = None,
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
    ) -> R | None:
        total: R | None = None
        for chunk in chunks:
            part = fn(chunk)
            total = part if total is None else merge(total, part)
            if on_done is not None:
                on_done(chunk)
        return total


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

    def _client(self) -> Any:
        from dask.distributed import Client, LocalCluster

        if self.address == "local":
            cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            return Client(cluster), cluster
        try:
            return Client(self.address, timeout="10s"), None
        except OSError as exc:
            raise InputError(f"cannot reach Dask scheduler {self.address!r}: {exc}",
                             "run.dask") from None

    def map_reduce(
        self,
        fn: Callable[[Any], R],
        chunks: Sequence[Any],
        merge: Callable[[R, R], R],
        on_done: Callable[[Any], None] | None = None,
    ) -> R | None:
        from dask.distributed import as_completed

        client, cluster = self._client()
        try:
            # Results are merged in chunk order (partials of later chunks wait in `ready`), so a
            # merge that counts transitions across chunk boundaries stays exact.
            total: R | None = None
            queue = list(enumerate(chunks))
            futures = as_completed()
            position: dict[str, int] = {}
            ready: dict[int, R] = {}
            next_i = 0

            def submit() -> None:
                i, chunk = queue.pop(0)
                fut = client.submit(fn, chunk, pure=False)
                position[fut.key] = i
                futures.add(fut)

            while queue and futures.count() < self.max_in_flight:
                submit()
            for fut in futures:
                ready[position.pop(fut.key)] = fut.result()
                fut.release()
                while next_i in ready:
                    part = ready.pop(next_i)
                    total = part if total is None else merge(total, part)
                    if on_done is not None:
                        on_done(chunks[next_i])
                    next_i += 1
                if queue:
                    submit()
            return total
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def make_runner(dask: str | None) -> LocalRunner | DaskRunner:
    """`LocalRunner` for ``None``/``""``, else a `DaskRunner` for ``"local"`` or an address."""
    if not dask:
        return LocalRunner()
    return DaskRunner(dask)


def split_evenly(n: int, size: int) -> list[slice]:
    """Consecutive slices of ``range(n)`` of length ``size`` (the last may be shorter)."""
    if size < 1:
        raise InputError(f"chunk size must be >= 1, got {size}", "run.chunk_steps")
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _identity(x: T) -> T:  # used by tests: a picklable function
    return x


def _sum_chunk(chunk: Iterable[int]) -> int:
    return sum(chunk)
