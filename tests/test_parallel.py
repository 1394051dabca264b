"""Chunked map-reduce: local and on a Dask LocalCluster give the same result."""

from __future__ import annotations

import operator

import pytest

from skyfence.errors import InputError
from skyfence.parallel import DaskRunner, LocalRunner, _sum_chunk, make_runner, split_evenly


def test_split_evenly_covers_range_once() -> None:
    parts = split_evenly(10, 3)
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    with pytest.raises(InputError, match="chunk size must be >= 1"):
        split_evenly(10, 0)


def test_local_and_dask_agree() -> None:
    chunks = [list(range(i, i + 5)) for i in range(0, 50, 5)]
    done: list[int] = []
    local = LocalRunner().map_reduce(_sum_chunk, chunks, operator.add, lambda c: done.append(1))
    assert local == sum(range(50)) and len(done) == 10
    runner = DaskRunner("local", n_workers=2, max_in_flight=3)
    assert runner.map_reduce(_sum_chunk, chunks, operator.add) == sum(range(50))
    assert isinstance(make_runner(None), LocalRunner)
    assert isinstance(make_runner("local"), DaskRunner)
